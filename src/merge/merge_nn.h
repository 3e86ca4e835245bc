/* merge_nn.h - merging neural policies that may differ by hidden-unit permutations:
 * git_rebasin (weight matching, MergeMany), sinkhorn_rebasin (SoftUpdate, Eq. 3.1),
 * fleet_merge (Algorithm 1) with its App. F ablations, and sinkhorn_data (App. F: MergeMany whose
 * re-match is a SoftUpdate with logits kept across sweeps). Rank-local steps plus sums through an fm_reducer (core.h): under
 * MPI every rank owns one robot's model and data; with fm_reducer_serial one process owns all. */
#ifndef FM_MERGE_NN_H
#define FM_MERGE_NN_H

#include "core/core.h"
#include "data/data.h"
#include "nn/nn.h"

typedef struct fm_merge_nn_opts {
    int wm_passes;       /* weight matching: coordinate-descent passes over the groups */
    int mm_sweeps;       /* MergeMany: sweeps over the robots (git_rebasin: at most; sinkhorn_data: exactly) */
    int epochs;          /* fleet_merge: E */
    int steps;           /* soft-permutation Adam steps per update (T) */
    double subset;       /* fleet_merge: fraction of robots updated per epoch (at least one) */
    double tau;          /* Sinkhorn entropy weight */
    int sk_iters;        /* Sinkhorn iterations (fixed count) */
    double lr;           /* Adam step on the logits */
    double noise;        /* logits start at s * one-hot(P_hard) + noise * N(0, 1) */
    double start_mass;   /* s = tau ln(m (n - 1) / (1 - m)) for a group of n units, so that
                          * Sinkhorn(L / tau) puts m of every row's mass on the hard assignment
                          * whatever the width (without noise); 0: s = 1 (the width-dependent
                          * start of earlier versions: 0.31 at n = 64, 0.05 at n = 512, tau 0.3) */
    int batch;           /* trajectories per step from the robot's own data */
    int init_wm;         /* fleet_merge: start from MergeMany weight matching (else identity) */
    int shared_start;    /* the robots' models descend from one shared model (merging rounds after
                          * the first, or a shared initialization): fleet_merge starts from the
                          * identity alignment instead of running MergeMany (no permutation to find
                          * between fine-tunings of one model; saves S x N model-sized reductions) */
} fm_merge_nn_opts;

/* Per fleet_merge epoch (per sinkhorn_data sweep, or the single update of sinkhorn_rebasin),
 * summed over the robots that updated: assignments changed (0 = the soft update was a no-op), mean largest entry per
 * row of P_soft at the first and last step, mean interpolated BC loss over the steps. */
enum { FM_MERGE_LOG_MAX = 64 };
typedef struct fm_merge_nn_log {
    int epochs;
    double changed[FM_MERGE_LOG_MAX];
    double rowmax_first[FM_MERGE_LOG_MAX], rowmax_last[FM_MERGE_LOG_MAX];
    double interp_loss[FM_MERGE_LOG_MAX];
    double updaters[FM_MERGE_LOG_MAX];
    double ref_loss[FM_MERGE_LOG_MAX]; /* BC loss of the epoch's reference (line 5; sinkhorn_data: the mean
                                        * at the start of the sweep) on the fleet's data */
    int mm_sweeps;       /* MergeMany sweeps run (sinkhorn_data: its sweeps) */
    double mm_distance;  /* final sum_i ||P_i(theta_i) - mean||^2 */
} fm_merge_nn_log;

/* Merge the fleet's models with `method` (FM_MERGE_AVERAGE, FM_MERGE_GIT_REBASIN,
 * FM_MERGE_SINKHORN_REBASIN, FM_MERGE_FLEET_MERGE*, FM_MERGE_SINKHORN_DATA of cfg.h). local[0..red->nlocal) are this
 * process's models (same layout and normalization) and data[...] their robots' demonstrations.
 * merged (created by the caller with the same spec) receives the merged parameters and the
 * normalization of local[0]; identical on every process. seed drives the shared choices (robot
 * order, subsets) and, with the robot's global index, its own sampling. log may be NULL. */
fm_status fm_merge_nn(int method, const fm_model *local, const fm_demos *data,
                      const fm_merge_nn_opts *o, const fm_reducer *red, uint64_t seed,
                      fm_model *merged, fm_merge_nn_log *log, fm_err *err);
/* The same, also writing every local robot's aligned parameters P_i(theta_i) to
 * aligned[i * total ...] (aligned may be NULL). */
fm_status fm_merge_nn_aligned(int method, const fm_model *local, const fm_demos *data,
                              const fm_merge_nn_opts *o, const fm_reducer *red, uint64_t seed,
                              fm_model *merged, float *aligned, fm_merge_nn_log *log, fm_err *err);

#endif
