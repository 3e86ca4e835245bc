/* sinkhorn.h - soft and hard projections onto permutations (Eq. 3.2, Algorithm 1 lines 11-12).
 *
 * Soft projection (Eq. 3.2), for a score matrix M = P-tilde (n x n) and entropy weight tau > 0:
 *     Proj_tau(M) = argmax_{P in B_n} <M, P>_F + tau H(P),   H(P) = -sum_ij P_ij log P_ij,
 * B_n the Birkhoff polytope (doubly-stochastic matrices). Its solution has the Sinkhorn form
 *     P = diag(u) exp(M / tau) diag(v),  i.e.  log P_ij = M_ij / tau + f_i + g_j,
 * and the log-potentials f = log u, g = log v are found by alternating row and column
 * log-sum-exp normalizations (log domain: no overflow for tiny tau or peaky M).
 *
 * Hard projection: Proj_hard := Proj_tau at tau = 0, i.e. argmax_{P in B_n} <M, P>, a linear
 * program whose optimum is attained at a vertex of B_n, a permutation matrix: the linear
 * assignment problem (lap.h, maximize). As tau -> 0, Proj_tau(M) -> Proj_hard(M) when the
 * optimal permutation is unique. Algorithm 1 applies it to the soft result: Proj_hard(P_soft).
 *
 * All matrices are double, row-major n x n. Not thread-safe per workspace; distinct workspaces
 * may be used concurrently.
 */
#ifndef FM_SINKHORN_H
#define FM_SINKHORN_H

#include <stddef.h>

#include "core/core.h"

typedef struct fm_sinkhorn_opts {
    double tau;       /* entropy weight of Eq. 3.2, > 0 (finite) */
    int iters;        /* > 0: exactly this many iterations; 0: iterate until the residual < tol */
    double tol;       /* iters == 0 only: stop when max_i |row sum_i - 1| < tol (> 0) */
    int max_iters;    /* iters == 0 only: give up (FM_ENUMERIC) after this many iterations (>= 1) */
    double tau_start; /* epsilon scaling: 0 (off: every iteration at tau) or a start temperature;
                       * iteration t runs at tau_t = max(tau, tau_start decay^(t-1)) */
    double decay;     /* in (0, 1) when tau_start > tau, e.g. 0.7; ignored otherwise */
} fm_sinkhorn_opts;

/* Epsilon scaling. Plain Sinkhorn at a small tau needs a number of iterations growing like
 * exp(gap / tau) when rows compete for the same column (the residual then decays like 1/t),
 * so tau <~ 0.05 (spread of M) rarely converges without it. Annealing from tau_start ~ the
 * spread of M (max - min) lets the potentials follow the solution down to tau; convergence is
 * only tested once tau_t = tau, and the schedule must reach tau within iters (max_iters).
 * Both backward passes account for the schedule (it depends on the options only, not on M). */

/* Workspace: a copy of M, the dual potentials of every iteration of the last forward (what the
 * unrolled backward needs), the temperature schedule and scratch. Memory, with cap = iters
 * (fixed count) or max_iters (until tol):
 *     8 * ((2 cap + 1) n + cap + 3 n^2 + 4 n) bytes,
 * e.g. n = 256, cap = 1000: about 5.7 MB. Nothing is allocated after creation. */
typedef struct fm_sinkhorn_ws fm_sinkhorn_ws;

/* Create a workspace for n x n problems with options *o (copied). FM_EINVAL for n < 1, o NULL,
 * tau <= 0 or non-finite, iters < 0, (iters == 0) tol <= 0 / non-finite or max_iters < 1,
 * tau_start < 0 or non-finite, (tau_start > tau) decay outside (0, 1) or a schedule that does
 * not reach tau within the iteration budget.
 * On success *out owns the workspace (free with fm_sinkhorn_ws_free); on failure *out = NULL. */
fm_status fm_sinkhorn_ws_create(int n, const fm_sinkhorn_opts *o, fm_sinkhorn_ws **out, fm_err *err);
/* Free a workspace; NULL is a no-op. */
void fm_sinkhorn_ws_free(fm_sinkhorn_ws *ws);

/* Forward (Proj_tau of Eq. 3.2). P (n x n, output) <- the Sinkhorn solution for scores M
 * (n x n, not retained: the workspace keeps its own copy). With dual potentials u, v in the
 * units of M (u = tau f, v = tau g), one iteration at temperature tau_t is a row
 * normalization followed by a column normalization, starting from v_0 = 0:
 *     u_t = -tau_t LSE_j((M_ij + v_{t-1,j}) / tau_t),   v_t = -tau_t LSE_i((M_ij + u_{t,i}) / tau_t),
 *     P = exp((M + u_T 1' + 1 v_T') / tau),   tau_T = tau.
 * Columns of P therefore sum to 1 up to rounding; the residual is r = max_i |row sum_i - 1|.
 * iters_done (may be NULL) receives T. Errors: FM_EINVAL for NULL pointers or a non-finite
 * M[i][j] or M[i][j] / tau (message names the entry); FM_ENUMERIC if the residual is not
 * below tol after max_iters iterations (message gives the residual; P is left untouched).
 * After a failure, backward is refused until the next successful forward.
 * M and P may be the same array. */
fm_status fm_sinkhorn_forward(fm_sinkhorn_ws *ws, const double *M, double *P, int *iters_done,
                              fm_err *err);

/* Row residual max_i |sum_j P_ij - 1| of the last successful forward (NaN before one). */
double fm_sinkhorn_residual(const fm_sinkhorn_ws *ws);

/* Backward, unrolled: dM (n x n) += dL/dM given dP = dL/dP (n x n) at the P of the last
 * successful forward. Differentiates exactly the T recorded iterations (reverse mode through
 * every log-sum-exp), so the result is the gradient of what forward computed, converged or
 * not. Costs about one forward (2 T n^2 exp). Since a row shift of M is absorbed exactly by
 * u_1, every row of the returned increment sums to 0 (columns only at convergence).
 * dP and dM must not overlap. FM_EINVAL for NULL pointers or no successful forward yet. */
fm_status fm_sinkhorn_backward(fm_sinkhorn_ws *ws, const double *dP, double *dM, fm_err *err);

/* Backward, implicit: dM += dL/dM by differentiating the fixed-point conditions (P has unit
 * row and column sums, log P = (M + u 1' + 1 v') / tau) at the P of the last forward, as if it were
 * the exact solution of Eq. 3.2. With A = dP o P (elementwise), r = A 1, c = A' 1:
 *     (I - P P' + 1 1'/n) a = r - P c,   b = c - P' a,   dM += (A - P o (a 1' + 1 b')) / tau.
 * Independent of T (O(n^3): one Cholesky factorization); accurate to about the forward's
 * residual. Rows and columns of the increment sum to 0. The system is singular when P is a
 * permutation, so for P close to one (tau small against the gaps of M) it fails with
 * FM_ENUMERIC; use the unrolled backward there. dP and dM must not overlap. */
fm_status fm_sinkhorn_backward_implicit(fm_sinkhorn_ws *ws, const double *dP, double *dM,
                                        fm_err *err);

/* Hard projection (Proj_hard of Eq. 3.2): the permutation maximizing <M, P>_F = sum_i
 * M[i][perm[i]], by lap_solve(maximize = 1) (ties broken deterministically). perm (n ints,
 * output): perm[i] = column of row i. Phard (may be NULL): the n x n 0/1 matrix with
 * Phard[i][perm[i]] = 1. FM_EINVAL for n < 1, M or perm NULL, or a non-finite M[i][j]. */
fm_status fm_sinkhorn_hard(int n, const double *M, int *perm, double *Phard, fm_err *err);

#endif
