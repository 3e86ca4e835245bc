/* sinkhorn.h - soft and hard projections onto permutations (Eq. 3.2, Algorithm 1 lines 11-12).
 *
 * Soft projection (Eq. 3.2), for a score matrix M = P-tilde (n x n) and entropy weight tau > 0:
 *     Proj_tau(M) = argmax_{P in B_n} <M, P>_F + tau H(P),   H(P) = -sum_ij P_ij log P_ij,
 * B_n the Birkhoff polytope (doubly-stochastic matrices). Its solution has the Sinkhorn form
 *     P = diag(e^(u / tau)) exp(M / tau) diag(e^(v / tau)),  P_ij = exp((M_ij + u_i + v_j) / tau),
 * with dual potentials u, v (units of M) found by alternating row and column log-sum-exp
 * normalizations in the log domain (no overflow for tiny tau or peaky M).
 *
 * Hard projection: Proj_hard := Proj_tau at tau = 0, i.e. argmax_{P in B_n} <M, P>, a linear
 * program whose optimum is attained at a vertex of B_n, a permutation matrix: the linear
 * assignment problem (lap.h, maximize). As tau -> 0, Proj_tau(M) -> Proj_hard(M) when the
 * optimal permutation is unique. Algorithm 1 applies it to the soft result: Proj_hard(P_soft).
 *
 * All matrices are double, row-major n x n. A workspace is not thread-safe; distinct workspaces
 * may be used concurrently.
 */
#ifndef FM_SINKHORN_H
#define FM_SINKHORN_H

#include <stddef.h>

#include "core/core.h"

/* Two modes:
 *  - fixed count (iters > 0): exactly `iters` Sinkhorn iterations at tau, whatever the residual;
 *    the unrolled backward gives the exact gradient of this map (the usual choice inside
 *    Algorithm 1, line 10);
 *  - until tol (iters = 0): iterate until the residual max_i |row sum_i - 1| < tol, failing with
 *    FM_ENUMERIC after max_iters iterations. Two accelerations, for small tau:
 *      tau_start > tau: epsilon scaling. Plain Sinkhorn at small tau can need a number of
 *        iterations growing like exp(gap / tau) when rows compete for a column (the residual
 *        then decays like 1/t). Starting at tau_start (~ the spread max M - min M) and halving
 *        the temperature whenever the residual at the current one is < 1e-3 (or after 100
 *        iterations there) lets the potentials follow the solution down to tau.
 *      newton > 0: after `newton` iterations at tau without convergence, finish with damped
 *        Newton steps on the dual (Schur complement system, O(n^3) each, at most 50; typically
 *        2-10 from a warm start). The unrolled backward then refuses; use the implicit one.
 * Columns of P sum to 1 up to rounding after every iteration (each ends with the column step). */
typedef struct fm_sinkhorn_opts {
    double tau;       /* entropy weight of Eq. 3.2, > 0 (finite) */
    int iters;        /* > 0: fixed count; 0: until tol */
    double tol;       /* iters = 0: stop when the residual < tol (> 0) */
    int max_iters;    /* iters = 0: give up after this many iterations, all temperatures (>= 1) */
    double tau_start; /* iters = 0: 0 (off) or the start temperature of epsilon scaling */
    int newton;       /* iters = 0: 0 (off) or the iterations at tau before Newton steps */
} fm_sinkhorn_opts;

/* What a forward did. */
typedef struct fm_sinkhorn_info {
    int iters;        /* Sinkhorn iterations, all temperatures */
    int newton_steps; /* Newton steps after them (0 unless opts.newton) */
    double residual;  /* max_i |row sum_i - 1| of the returned P */
} fm_sinkhorn_info;

/* Workspace: a copy of M, the dual potentials of every iteration of the last forward (what the
 * unrolled backward needs), their temperatures and scratch. Memory, with cap = iters (fixed
 * count) or max_iters (until tol):
 *     8 * ((2 cap + 1) n + cap + 3 n^2 + 7 n) bytes,
 * e.g. n = 256, cap = 1000: about 5.7 MB. Nothing is allocated after creation. */
typedef struct fm_sinkhorn_ws fm_sinkhorn_ws;

/* Create a workspace for n x n problems with options *o (copied). FM_EINVAL for n < 1, o NULL,
 * tau <= 0 or non-finite, iters < 0; with iters = 0: tol <= 0 or non-finite, max_iters < 1,
 * tau_start < 0 or non-finite, newton < 0; with iters > 0: tau_start or newton set.
 * On success *out owns the workspace (free with fm_sinkhorn_ws_free); on failure *out = NULL. */
fm_status fm_sinkhorn_ws_create(int n, const fm_sinkhorn_opts *o, fm_sinkhorn_ws **out, fm_err *err);
/* Free a workspace; NULL is a no-op. */
void fm_sinkhorn_ws_free(fm_sinkhorn_ws *ws);

/* Forward (Proj_tau of Eq. 3.2). P (n x n, output) <- the Sinkhorn solution for scores M
 * (n x n, not retained: the workspace keeps its own copy). Iteration t at temperature tau_t
 * (tau, or the epsilon-scaling schedule), from v_0 = 0:
 *     u_t = -tau_t LSE_j((M_ij + v_{t-1,j}) / tau_t),   v_t = -tau_t LSE_i((M_ij + u_t,i) / tau_t),
 *     P = exp((M + u 1' + 1 v') / tau)   (u, v: last iterates, or Newton's).
 * info (may be NULL) receives what was done. Errors: FM_EINVAL for NULL pointers or a
 * non-finite M[i][j] or M[i][j] / tau (message names the entry); FM_ENUMERIC if the residual is
 * not below tol within max_iters iterations (and the Newton steps), message with the residual;
 * P is then left untouched. After a failure, backward is refused until the next successful
 * forward. M and P may be the same array. */
fm_status fm_sinkhorn_forward(fm_sinkhorn_ws *ws, const double *M, double *P,
                              fm_sinkhorn_info *info, fm_err *err);

/* Backward, unrolled: dM (n x n) += dL/dM given dP = dL/dP (n x n) at the P of the last
 * successful forward. Differentiates exactly the recorded iterations (reverse mode through every
 * log-sum-exp, temperatures included), so the result is the gradient of what forward computed,
 * converged or not (the epsilon-scaling stage switches are piecewise constant in M). Costs about
 * one forward (2 T n^2 exp). A row shift of M is absorbed exactly by u_1, so every row of the
 * increment sums to 0 (columns only at convergence). dP and dM must not overlap. FM_EINVAL for
 * NULL pointers, no successful forward yet, or a forward that took Newton steps. */
fm_status fm_sinkhorn_backward(fm_sinkhorn_ws *ws, const double *dP, double *dM, fm_err *err);

/* Backward, implicit: dM += dL/dM by differentiating the optimality conditions of Eq. 3.2
 * (P 1 = 1, P' 1 = 1, P = exp((M + u 1' + 1 v') / tau)) at the P of the last forward, as if it
 * were the exact solution. With A = dP o P (elementwise), r = P 1, rA = A 1, cA = A' 1:
 *     (diag(r) - P P' + 1 1'/n) a = rA - P cA,   b = cA - P' a,
 *     dM += (A - P o (a 1' + 1 b')) / tau.
 * Independent of the iterations (O(n^3): one Cholesky factorization); accurate to about the
 * forward's residual, so meant for forwards run until tol. Rows and columns of the increment sum
 * to 0. The system is singular when P is a permutation: for P close to one (tau small against
 * the gaps of M) it fails with FM_ENUMERIC. dP and dM must not overlap. */
fm_status fm_sinkhorn_backward_implicit(fm_sinkhorn_ws *ws, const double *dP, double *dM,
                                        fm_err *err);

/* Hard projection (Proj_hard of Eq. 3.2): the permutation maximizing <M, P>_F = sum_i
 * M[i][perm[i]], by lap_solve(maximize = 1) (ties broken deterministically). perm (n ints,
 * output): perm[i] = column of row i. Phard (may be NULL): the n x n 0/1 matrix with
 * Phard[i][perm[i]] = 1. FM_EINVAL for n < 1, M or perm NULL, or a non-finite M[i][j]. */
fm_status fm_sinkhorn_hard(int n, const double *M, int *perm, double *Phard, fm_err *err);

#endif
