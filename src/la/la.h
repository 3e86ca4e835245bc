/* la.h - dense linear algebra for fleetmerge (double precision, ROW-MAJOR everywhere):
 * thin BLAS/LAPACKE wrappers, Riccati and Lyapunov solvers for the linear-control
 * benchmark (paper Appendix G, Eq. G.3-G.5). */
#ifndef FM_LA_H
#define FM_LA_H

#include "core/core.h"

/* C[m x n] = alpha * op(A) * op(B) + beta * C, op(X) = X or X^T (ta/tb nonzero = transpose).
 * op(A) is m x k, op(B) is k x n; leading dimensions are the natural row-major ones. */
void la_gemm(int ta, int tb, int m, int n, int k, double alpha, const double *A, const double *B,
             double beta, double *C);
/* The same in float32 (neural networks). */
void la_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *A, const float *B,
              float beta, float *C);
/* y[m or n] = alpha op(A) x + beta y, A m x n row-major, op(A) = A^T when ta. */
void la_gemv(int ta, int m, int n, double alpha, const double *A, const double *x, double beta,
             double *y);
/* One BLAS thread per process unless OPENBLAS_NUM_THREADS or OMP_NUM_THREADS chose: every MPI rank
 * is a robot with its own core, and OpenBLAS's default (a thread per core in every rank)
 * oversubscribes the node; its idle threads spin in sched_yield. Measured on a one-shot
 * fleet_merge of 5 cart-pole RNNs in one process: 24 s with 1 thread, 39 s with 2 (2 cores). */
void la_blas_threads_default(void);
/* Euclidean norm of x[n]; x *= a. */
double la_nrm2(int n, const double *x);
void la_scal(int n, double a, double *x);
/* Solve A X = B for X (A n x n, B n x nrhs); A and B are overwritten (B holds X). */
fm_status la_solve(int n, int nrhs, double *A, double *B, fm_err *err);
/* In-place inverse of an n x n matrix. FM_ENUMERIC if singular. */
fm_status la_inv(int n, double *A, fm_err *err);
/* Spectral radius (largest eigenvalue modulus) of an n x n matrix. */
fm_status la_spectral_radius(int n, const double *A, double *rho, fm_err *err);
/* Determinant of an n x n matrix. */
fm_status la_det(int n, const double *A, double *det, fm_err *err);
/* Least squares: W[cols x nrhs] = argmin ||X W - Y||_F^2 + ridge ||W||_F^2,
 * X rows x cols, Y rows x nrhs (inputs not modified). */
fm_status la_lstsq(int rows, int cols, int nrhs, const double *X, const double *Y, double ridge,
                   double *W, fm_err *err);

/* Control DARE (Eq. G.4): P = A'PA - A'PB (B'PB + R)^-1 B'PA + Q, and the optimal gain
 * K = -(B'PB + R)^-1 B'PA (Eq. G.3), so u = K x. A n x n, B n x m, Q n x n, R m x m.
 * P (n x n) and K (m x n) are outputs; either may be NULL. FM_ENUMERIC if the solver does
 * not converge or the relative residual exceeds 1e-9 (or A + B K is not stable). FM_EINVAL
 * unless Q is symmetric and R symmetric positive definite. */
fm_status la_dare_control(int n, int m, const double *A, const double *B, const double *Q,
                          const double *R, double *P, double *K, fm_err *err);
/* Filter DARE (Eq. G.5): S = A S A' - A S C'(C S C' + Sv)^-1 C S A' + Sw and the Kalman gain
 * L = S C'(C S C' + Sv)^-1. A n x n, C p x n, Sw n x n, Sv p x p. S (n x n), L (n x p) outputs,
 * either may be NULL. Sv must be symmetric positive definite (FM_EINVAL otherwise): with
 * full-state observation (C = I, Sv = 0) there is nothing to filter and callers skip this. */
fm_status la_dare_filter(int n, int p, const double *A, const double *C, const double *Sw,
                         const double *Sv, double *S, double *L, fm_err *err);
/* Relative residual ||rhs - P||_F / max(1, ||P||_F) of the control DARE at a symmetric P;
 * NaN for invalid arguments (dimensions, NULL, non-finite entries) or on allocation failure. */
double la_dare_control_residual(int n, int m, const double *A, const double *B, const double *Q,
                                const double *R, const double *P);
/* Discrete Lyapunov equation X = F X F' + W (F n x n with spectral radius < 1, W symmetric).
 * FM_ENUMERIC if F is not stable. */
fm_status la_dlyap(int n, const double *F, const double *W, double *X, fm_err *err);

#endif
