/* merge.h - merging policies of a fleet as rank-local steps plus sums through an fm_reducer
 * (core.h). No MPI here: under `fleet run` every rank owns one model; offline and in tests
 * one process owns all of them with fm_reducer_serial, and the same code runs. */
#ifndef FM_MERGE_H
#define FM_MERGE_H

#include "config/cfg.h"
#include "core/core.h"
#include "nn/linpol.h"

typedef struct fm_merge_info {
    double objective; /* final alignment objective (Eq. G.10 / G.14; 0 for average) */
    int iterations;   /* alternations / gradient steps performed */
} fm_merge_info;

/* Merge the fleet's linear policies with `method` (fm_merge_method):
 *   average     theta = 1/N sum_i theta_i
 *   linear_perm alternate merge / LAP with the previous permutation (Eq. G.10-G.12)
 *   linear_gl   alternating gradient descent over GL(k) on Eq. G.14 (start: cfg->merge.gl_start)
 * theta_local: red->nlocal consecutive parameter vectors of fm_lin_size(d) doubles (this
 * process's models, global indices red->offset...). merged: output, identical on every process.
 * transforms (may be NULL): red->nlocal k x k matrices: for linear_perm the permutation T_i with
 * merged ~ (T A_i T^-1, T B_i, C_i T^-1); for linear_gl the P_i of Eq. G.14 (P_i Abar ~ A_i P_i);
 * identity for average. Static policies have no hidden-state symmetry (App. G.2): every method
 * reduces to average for them. */
fm_status fm_merge_linear(int method, const fm_lindims *d, const double *theta_local,
                          const fm_config *cfg, const fm_reducer *red, double *merged,
                          double *transforms, fm_merge_info *info, fm_err *err);

#endif
