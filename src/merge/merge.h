/* merge.h - merging policies of a fleet as rank-local steps plus sums through an fm_reducer
 * (core.h). No MPI here: under `fleet run` every rank owns one model; offline and in tests
 * one process owns all of them with fm_reducer_serial, and the same code runs. */
#ifndef FM_MERGE_H
#define FM_MERGE_H

#include "config/cfg.h"
#include "core/core.h"
#include "nn/linpol.h"

/* linear_gl with merge.gl_tol > 0 stops at the first multiple of this many steps where the
 * objective fell by at most gl_tol (relative) since the previous multiple. */
#define FM_GL_TOL_WINDOW 100

typedef struct fm_merge_info {
    double objective; /* alignment objective of the returned merge (Eq. G.10 / G.14; 0 for average) */
    int iterations;   /* alternations / gradient steps performed */
    int selected;     /* linear_gl: the step whose merge is returned (= iterations without gl_select) */
    double bc_loss;   /* linear_gl with gl_select: bc_loss: the returned merge's mean per-step BC loss
                       * over the fleet's demonstrations; NaN otherwise */
} fm_merge_info;

/* Merge the fleet's linear policies with `method` (fm_merge_method):
 *   average     theta = 1/N sum_i theta_i
 *   linear_perm alternate merge / LAP with the previous permutation (Eq. G.10-G.12)
 *   linear_gl   alternating gradient descent over GL(k) on Eq. G.14 (start: cfg->merge.gl_start,
 *               scale: cfg->merge.gl_normalize, stop: gl_steps or gl_tol)
 * theta_local: red->nlocal consecutive parameter vectors of fm_lin_size(d) doubles (this
 * process's models, global indices red->offset...). merged: output, identical on every process.
 * transforms (may be NULL): red->nlocal k x k matrices: for linear_perm the permutation T_i with
 * merged ~ (T A_i T^-1, T B_i, C_i T^-1); for linear_gl the P_i of Eq. G.14 (P_i Abar ~ A_i P_i);
 * identity for average. Static policies have no hidden-state symmetry (App. G.2): every method
 * reduces to average for them. */
fm_status fm_merge_linear(int method, const fm_lindims *d, const double *theta_local,
                          const fm_config *cfg, const fm_reducer *red, double *merged,
                          double *transforms, fm_merge_info *info, fm_err *err);
/* The same with the local robots' demonstrations data[0..red->nlocal) (NULL: none), which
 * linear_gl needs with merge.gl_select: bc_loss: at step 0, every FM_GL_TOL_WINDOW steps and at
 * the last step it scores theta-bar by its mean per-step BC loss over the fleet's data (one sum)
 * and returns the best-scoring iterate (early stopping on the robots' own data: Eq. G.14 measures
 * parameters, not behavior, and can move away from a good merge). fm_merge_linear with
 * gl_select: bc_loss and linear_gl is an FM_EINVAL error naming the key. */
fm_status fm_merge_linear_data(int method, const fm_lindims *d, const double *theta_local,
                               const fm_demos *data, const fm_config *cfg, const fm_reducer *red,
                               double *merged, double *transforms, fm_merge_info *info, fm_err *err);

#endif
