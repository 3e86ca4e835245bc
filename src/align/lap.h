/* lap.h - dense linear assignment problem (Jonker-Volgenant / shortest augmenting path).
 * Shared by the linear-control merge (Eq. G.12) and weight-matching merges. */
#ifndef FM_LAP_H
#define FM_LAP_H

#include "core/core.h"

/* Find a permutation perm (perm[i] = column assigned to row i) minimizing (maximize = 0) or
 * maximizing (maximize != 0) sum_i cost[i * n + perm[i]] over an n x n row-major matrix.
 * O(n^3). total (may be NULL) receives the optimal sum. FM_EINVAL for n < 1 or a
 * non-finite entry (message names the entry). Ties are broken deterministically. */
fm_status lap_solve(int n, const double *cost, int maximize, int *perm, double *total, fm_err *err);

#endif
