/* la.c - dense linear algebra for fleetmerge: cblas/LAPACKE wrappers (row-major doubles) and
 * the Riccati and Lyapunov solvers of the linear-control benchmark (paper Appendix G).
 *
 * Riccati equations are solved by the structured doubling algorithm (SDA), polished by at most
 * LA_POLISH_STEPS Newton (Hewer) steps and accepted only when the relative residual is at most
 * LA_DARE_RTOL and the closed loop is stable. The filter DARE is solved as the dual control DARE.
 *
 * Note on Eq. G.4: the paper prints the middle term with a "+"; the Riccati equation of the LQR
 * problem (and la.h) has "-": P = A'PA - A'PB (B'PB + R)^-1 B'PA + Q. This file solves the latter.
 */
#include "la.h"

#include <cblas.h>
#include <float.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LA_SYM_RTOL 1e-10    /* asymmetry tolerated in symmetric inputs, relative to max |entry| */
#define LA_LSTSQ_RCOND 1e-10 /* ridge-free normal equations are rejected below this rcond(X'X) */
#define LA_SDA_RTOL 1e-14    /* SDA stops when ||H_{k+1} - H_k||_F <= tol ||H_{k+1}||_F */
#define LA_SDA_MAXIT 100
#define LA_POLISH_STEPS 2
#define LA_DARE_RTOL 1e-9
#define LA_DLYAP_RTOL 1e-15
#define LA_DLYAP_MAXIT 200

/* ---- small helpers ---- */

static size_t sq(int n) { return (size_t)n * (size_t)n; }

static double frob(size_t count, const double *x)
{
    double s = 0.0;
    for (size_t i = 0; i < count; i++)
        s += x[i] * x[i];
    return sqrt(s);
}

static int all_finite(size_t count, const double *x)
{
    for (size_t i = 0; i < count; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

/* FM_EINVAL unless the rows x cols matrix x is non-NULL with finite entries; `fn` and `name`
 * (function and argument) prefix the message. */
static fm_status check_matrix(const char *fn, const char *name, int rows, int cols, const double *x,
                              fm_err *err)
{
    if (!x)
        return fm_fail(err, FM_EINVAL, "%s: %s is NULL", fn, name);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
            if (!isfinite(x[(size_t)i * cols + j]))
                return fm_fail(err, FM_ENUMERIC, "%s: %s[%d][%d] is not finite", fn, name, i, j);
    return FM_OK;
}

/* FM_EINVAL unless the n x n matrix x is symmetric up to LA_SYM_RTOL * max |x|. */
static fm_status check_symmetric(const char *fn, const char *name, int n, const double *x, fm_err *err)
{
    double scale = 0.0;
    for (size_t i = 0; i < sq(n); i++)
        scale = fmax(scale, fabs(x[i]));
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++) {
            double a = x[(size_t)i * n + j], b = x[(size_t)j * n + i];
            if (fabs(a - b) > LA_SYM_RTOL * scale)
                return fm_fail(err, FM_EINVAL, "%s: %s is not symmetric (%s[%d][%d] = %g, %s[%d][%d] = %g)",
                               fn, name, name, i, j, a, name, j, i, b);
        }
    return FM_OK;
}

/* FM_EINVAL unless the symmetric n x n matrix x is positive definite (Cholesky of a copy). */
static fm_status check_pd(const char *fn, const char *name, const char *hint, int n, const double *x,
                          fm_err *err)
{
    fm_status status = FM_OK;
    double *c = NULL;
    FM_ALLOC(c, sq(n));
    memcpy(c, x, sq(n) * sizeof *c);
    lapack_int info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'U', n, c, n);
    FM_CHECK(info == 0, FM_EINVAL, "%s: %s must be positive definite (Cholesky fails at pivot %d)%s", fn,
             name, (int)info, hint);
cleanup:
    free(c);
    return status;
}

static void symmetrize(int n, double *x)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++) {
            double s = 0.5 * (x[(size_t)i * n + j] + x[(size_t)j * n + i]);
            x[(size_t)i * n + j] = s;
            x[(size_t)j * n + i] = s;
        }
}

/* out[cols x rows] = in[rows x cols]' */
static void transpose(int rows, int cols, const double *in, double *out)
{
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
            out[(size_t)j * rows + i] = in[(size_t)i * cols + j];
}

static void add_identity(int n, double alpha, double *x)
{
    for (int i = 0; i < n; i++)
        x[(size_t)i * n + i] += alpha;
}

/* ---- BLAS / LAPACK wrappers ---- */

/* No-op when m or n is not positive, k is negative, or a needed pointer is NULL (no status to
 * report: callers pass dimensions they own). k = 0 scales C by beta. */
void la_gemm(int ta, int tb, int m, int n, int k, double alpha, const double *A, const double *B,
             double beta, double *C)
{
    if (m <= 0 || n <= 0 || k < 0 || !C || (k > 0 && (!A || !B)))
        return;
    int lda = ta ? m : k, ldb = tb ? k : n;
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k,
                alpha, A, lda > 1 ? lda : 1, B, ldb > 1 ? ldb : 1, beta, C, n);
}

void la_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *A, const float *B,
              float beta, float *C)
{
    if (m <= 0 || n <= 0 || k < 0 || !C || (k > 0 && (!A || !B)))
        return;
    int lda = ta ? m : k, ldb = tb ? k : n;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k,
                alpha, A, lda > 1 ? lda : 1, B, ldb > 1 ? ldb : 1, beta, C, n);
}

void la_gemv(int ta, int m, int n, double alpha, const double *A, const double *x, double beta,
             double *y)
{
    if (m <= 0 || n <= 0 || !A || !x || !y)
        return;
    cblas_dgemv(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, m, n, alpha, A, n, x, 1, beta, y, 1);
}

/* OpenBLAS's thread count, when linked against OpenBLAS (weak: absent otherwise). */
void openblas_set_num_threads(int n) __attribute__((weak));

void la_blas_threads_default(void)
{
    if (!getenv("OPENBLAS_NUM_THREADS") && !getenv("OMP_NUM_THREADS") && openblas_set_num_threads)
        openblas_set_num_threads(1);
}

double la_nrm2(int n, const double *x) { return n > 0 && x ? cblas_dnrm2(n, x, 1) : 0.0; }

void la_scal(int n, double a, double *x)
{
    if (n > 0 && x)
        cblas_dscal(n, a, x, 1);
}

fm_status la_solve(int n, int nrhs, double *A, double *B, fm_err *err)
{
    fm_status status = FM_OK;
    lapack_int *ipiv = NULL;
    FM_CHECK(n > 0 && nrhs > 0, FM_EINVAL, "la_solve: n = %d, nrhs = %d, expected both >= 1", n, nrhs);
    FM_TRY(check_matrix("la_solve", "A", n, n, A, err));
    FM_TRY(check_matrix("la_solve", "B", n, nrhs, B, err));
    FM_ALLOC(ipiv, n);
    lapack_int info = LAPACKE_dgesv(LAPACK_ROW_MAJOR, n, nrhs, A, n, ipiv, B, nrhs);
    FM_CHECK(info >= 0, FM_EINVAL, "la_solve: dgesv rejected argument %d", (int)-info);
    FM_CHECK(info == 0, FM_ENUMERIC, "la_solve: matrix is singular (zero pivot U[%d][%d])", (int)info - 1,
             (int)info - 1);
    FM_CHECK(all_finite((size_t)n * nrhs, B), FM_ENUMERIC, "la_solve: solution is not finite (matrix nearly singular)");
cleanup:
    free(ipiv);
    return status;
}

fm_status la_inv(int n, double *A, fm_err *err)
{
    fm_status status = FM_OK;
    lapack_int *ipiv = NULL;
    FM_CHECK(n > 0, FM_EINVAL, "la_inv: n = %d, expected n >= 1", n);
    FM_TRY(check_matrix("la_inv", "A", n, n, A, err));
    FM_ALLOC(ipiv, n);
    lapack_int info = LAPACKE_dgetrf(LAPACK_ROW_MAJOR, n, n, A, n, ipiv);
    FM_CHECK(info >= 0, FM_EINVAL, "la_inv: dgetrf rejected argument %d", (int)-info);
    FM_CHECK(info == 0, FM_ENUMERIC, "la_inv: matrix is singular (zero pivot U[%d][%d])", (int)info - 1,
             (int)info - 1);
    info = LAPACKE_dgetri(LAPACK_ROW_MAJOR, n, A, n, ipiv);
    FM_CHECK(info == 0, FM_ENUMERIC, "la_inv: dgetri failed (info %d)", (int)info);
    FM_CHECK(all_finite(sq(n), A), FM_ENUMERIC, "la_inv: inverse is not finite (matrix nearly singular)");
cleanup:
    free(ipiv);
    return status;
}

/* Eigenvalues without vectors (dgeev); the input is copied. */
fm_status la_spectral_radius(int n, const double *A, double *rho, fm_err *err)
{
    fm_status status = FM_OK;
    double *a = NULL, *wr = NULL, *wi = NULL;
    FM_CHECK(n > 0 && rho, FM_EINVAL, "la_spectral_radius: n = %d (expected >= 1) or rho is NULL", n);
    FM_TRY(check_matrix("la_spectral_radius", "A", n, n, A, err));
    FM_ALLOC(a, sq(n));
    FM_ALLOC(wr, n);
    FM_ALLOC(wi, n);
    memcpy(a, A, sq(n) * sizeof *a);
    lapack_int info = LAPACKE_dgeev(LAPACK_ROW_MAJOR, 'N', 'N', n, a, n, wr, wi, NULL, 1, NULL, 1);
    FM_CHECK(info == 0, FM_ENUMERIC, "la_spectral_radius: dgeev failed (info %d)", (int)info);
    double r = 0.0;
    for (int i = 0; i < n; i++)
        r = fmax(r, hypot(wr[i], wi[i]));
    *rho = r;
cleanup:
    free(a);
    free(wr);
    free(wi);
    return status;
}

/* LU with partial pivoting; a singular matrix has determinant 0 (not an error). */
fm_status la_det(int n, const double *A, double *det, fm_err *err)
{
    fm_status status = FM_OK;
    double *a = NULL;
    lapack_int *ipiv = NULL;
    FM_CHECK(n > 0 && det, FM_EINVAL, "la_det: n = %d (expected >= 1) or det is NULL", n);
    FM_TRY(check_matrix("la_det", "A", n, n, A, err));
    FM_ALLOC(a, sq(n));
    FM_ALLOC(ipiv, n);
    memcpy(a, A, sq(n) * sizeof *a);
    lapack_int info = LAPACKE_dgetrf(LAPACK_ROW_MAJOR, n, n, a, n, ipiv);
    FM_CHECK(info >= 0, FM_EINVAL, "la_det: dgetrf rejected argument %d", (int)-info);
    double d = 1.0;
    for (int i = 0; i < n; i++)
        d *= (ipiv[i] != i + 1 ? -1.0 : 1.0) * a[(size_t)i * n + i]; /* ipiv is 1-based */
    *det = info > 0 ? 0.0 : d;
cleanup:
    free(a);
    free(ipiv);
    return status;
}

/* ---- least squares ---- */

/* W = (X'X + ridge I)^-1 X'Y by Cholesky. *fallback = 1 (status FM_OK, W unusable) when the
 * matrix is not positive definite, or, for ridge 0, when rcond(X'X) < LA_LSTSQ_RCOND. */
static fm_status lstsq_normal(int rows, int cols, int nrhs, const double *X, const double *Y, double ridge,
                              double *W, int *fallback, fm_err *err)
{
    fm_status status = FM_OK;
    double *G = NULL;
    FM_ALLOC(G, sq(cols));
    la_gemm(1, 0, cols, cols, rows, 1.0, X, X, 0.0, G); /* X'X */
    add_identity(cols, ridge, G);
    la_gemm(1, 0, cols, nrhs, rows, 1.0, X, Y, 0.0, W); /* X'Y */
    double anorm = LAPACKE_dlange(LAPACK_ROW_MAJOR, '1', cols, cols, G, cols), rcond = 0.0;
    lapack_int info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'U', cols, G, cols);
    FM_CHECK(info >= 0, FM_EINVAL, "la_lstsq: dpotrf rejected argument %d", (int)-info);
    *fallback = info > 0;
    if (!*fallback && ridge == 0.0) {
        info = LAPACKE_dpocon(LAPACK_ROW_MAJOR, 'U', cols, G, cols, anorm, &rcond);
        *fallback = info != 0 || rcond < LA_LSTSQ_RCOND;
    }
    if (*fallback)
        goto cleanup;
    info = LAPACKE_dpotrs(LAPACK_ROW_MAJOR, 'U', cols, nrhs, G, cols, W, nrhs);
    FM_CHECK(info == 0, FM_ENUMERIC, "la_lstsq: dpotrs failed (info %d)", (int)info);
cleanup:
    free(G);
    return status;
}

/* Minimum-norm least squares by SVD (dgelsd), for rank-deficient X. */
static fm_status lstsq_svd(int rows, int cols, int nrhs, const double *X, const double *Y, double *W,
                           fm_err *err)
{
    fm_status status = FM_OK;
    double *a = NULL, *b = NULL, *s = NULL;
    int ld = rows > cols ? rows : cols;
    lapack_int rank = 0;
    FM_ALLOC(a, (size_t)rows * cols);
    FM_ALLOC(b, (size_t)ld * nrhs);
    FM_ALLOC(s, ld);
    memcpy(a, X, (size_t)rows * cols * sizeof *a);
    memcpy(b, Y, (size_t)rows * nrhs * sizeof *b);
    lapack_int info = LAPACKE_dgelsd(LAPACK_ROW_MAJOR, rows, cols, nrhs, a, cols, b, nrhs, s,
                                     DBL_EPSILON * ld, &rank);
    FM_CHECK(info == 0, FM_ENUMERIC, "la_lstsq: SVD did not converge (dgelsd info %d)", (int)info);
    memcpy(W, b, (size_t)cols * nrhs * sizeof *W);
cleanup:
    free(a);
    free(b);
    free(s);
    return status;
}

fm_status la_lstsq(int rows, int cols, int nrhs, const double *X, const double *Y, double ridge,
                   double *W, fm_err *err)
{
    fm_status status = FM_OK;
    int fallback = 0;
    FM_CHECK(rows > 0 && cols > 0 && nrhs > 0, FM_EINVAL,
             "la_lstsq: rows = %d, cols = %d, nrhs = %d, expected all >= 1", rows, cols, nrhs);
    FM_CHECK(isfinite(ridge) && ridge >= 0.0, FM_EINVAL, "la_lstsq: ridge = %g, expected >= 0", ridge);
    FM_CHECK(W, FM_EINVAL, "la_lstsq: W is NULL");
    FM_TRY(check_matrix("la_lstsq", "X", rows, cols, X, err));
    FM_TRY(check_matrix("la_lstsq", "Y", rows, nrhs, Y, err));
    FM_TRY(lstsq_normal(rows, cols, nrhs, X, Y, ridge, W, &fallback, err));
    if (fallback) {
        FM_CHECK(ridge == 0.0, FM_ENUMERIC, "la_lstsq: X'X + %g I is not positive definite", ridge);
        FM_TRY(lstsq_svd(rows, cols, nrhs, X, Y, W, err));
    }
cleanup:
    return status;
}

/* ---- discrete Lyapunov equation ---- */

/* Smith doubling: X_0 = W, F_0 = F; X_{k+1} = X_k + F_k X_k F_k', F_{k+1} = F_k^2, so that
 * X_k = sum_{t < 2^k} F^t W F'^t. Stops when the update is below LA_DLYAP_RTOL relative. */
static fm_status smith_doubling(int n, const double *F, const double *W, double *X, fm_err *err)
{
    fm_status status = FM_OK;
    double *buf = NULL;
    FM_ALLOC(buf, 3 * sq(n));
    double *Fk = buf, *T = buf + sq(n), *U = buf + 2 * sq(n);
    memcpy(Fk, F, sq(n) * sizeof *Fk);
    memmove(X, W, sq(n) * sizeof *X);
    for (int k = 0;; k++) {
        FM_CHECK(k < LA_DLYAP_MAXIT, FM_ENUMERIC, "la_dlyap: doubling did not converge in %d iterations",
                 LA_DLYAP_MAXIT);
        la_gemm(0, 0, n, n, n, 1.0, Fk, X, 0.0, T);
        la_gemm(0, 1, n, n, n, 1.0, T, Fk, 0.0, U); /* U = F_k X_k F_k' */
        for (size_t i = 0; i < sq(n); i++)
            X[i] += U[i];
        double du = frob(sq(n), U), dx = frob(sq(n), X);
        FM_CHECK(isfinite(dx), FM_ENUMERIC, "la_dlyap: doubling diverged at iteration %d", k + 1);
        if (du <= LA_DLYAP_RTOL * dx)
            break;
        la_gemm(0, 0, n, n, n, 1.0, Fk, Fk, 0.0, T);
        memcpy(Fk, T, sq(n) * sizeof *Fk);
    }
    symmetrize(n, X);
cleanup:
    free(buf);
    return status;
}

/* X must not alias F (it may alias W). */
fm_status la_dlyap(int n, const double *F, const double *W, double *X, fm_err *err)
{
    fm_status status = FM_OK;
    double rho = 0.0;
    FM_CHECK(n > 0 && X, FM_EINVAL, "la_dlyap: n = %d (expected >= 1) or X is NULL", n);
    FM_TRY(check_matrix("la_dlyap", "F", n, n, F, err));
    FM_TRY(check_matrix("la_dlyap", "W", n, n, W, err));
    FM_TRY(check_symmetric("la_dlyap", "W", n, W, err));
    FM_TRY(la_spectral_radius(n, F, &rho, err));
    FM_CHECK(rho < 1.0, FM_ENUMERIC, "la_dlyap: not stable: spectral radius %g", rho);
    FM_TRY(smith_doubling(n, F, W, X, err));
cleanup:
    return status;
}

/* ---- Riccati equations ---- */

/* A control DARE in standard form (Eq. G.4): A n x n, B n x m, Q n x n, R m x m. */
typedef struct dare_sys {
    int n, m;
    const double *A, *B, *Q, *R;
} dare_sys;

/* Riccati map at a symmetric P: rhs = A'PA - A'PB (B'PB + R)^-1 B'PA + Q (Eq. G.4) and the gain
 * K = -(B'PB + R)^-1 B'PA (Eq. G.3). rhs (n x n) and K (m x n) may be NULL. */
static fm_status dare_eval(const dare_sys *s, const double *P, double *rhs, double *K, fm_err *err)
{
    fm_status status = FM_OK;
    int n = s->n, m = s->m;
    double *PA = NULL, *PB = NULL, *S = NULL, *X = NULL;
    FM_ALLOC(PA, sq(n));
    FM_ALLOC(PB, (size_t)n * m);
    FM_ALLOC(S, sq(m));
    FM_ALLOC(X, (size_t)m * n);
    la_gemm(0, 0, n, n, n, 1.0, P, s->A, 0.0, PA);
    la_gemm(0, 0, n, m, n, 1.0, P, s->B, 0.0, PB);
    memcpy(S, s->R, sq(m) * sizeof *S);
    la_gemm(1, 0, m, m, n, 1.0, s->B, PB, 1.0, S); /* B'PB + R */
    la_gemm(1, 0, m, n, n, 1.0, s->B, PA, 0.0, X); /* B'PA */
    FM_TRY(la_solve(m, n, S, X, err));             /* X = (B'PB + R)^-1 B'PA */
    if (K)
        for (size_t i = 0; i < (size_t)m * n; i++)
            K[i] = -X[i];
    if (rhs) {
        la_gemm(0, 0, n, n, m, -1.0, PB, X, 1.0, PA); /* PA - PB X */
        memcpy(rhs, s->Q, sq(n) * sizeof *rhs);
        la_gemm(1, 0, n, n, n, 1.0, s->A, PA, 1.0, rhs);
    }
cleanup:
    free(PA);
    free(PB);
    free(S);
    free(X);
    return status;
}

/* *res = ||rhs(P) - P||_F / max(1, ||P||_F). */
static fm_status dare_residual(const dare_sys *s, const double *P, double *res, fm_err *err)
{
    fm_status status = FM_OK;
    double *rhs = NULL;
    int n = s->n;
    FM_ALLOC(rhs, sq(n));
    FM_TRY(dare_eval(s, P, rhs, NULL, err));
    for (size_t i = 0; i < sq(n); i++)
        rhs[i] -= P[i];
    *res = frob(sq(n), rhs) / fmax(1.0, frob(sq(n), P));
cleanup:
    free(rhs);
    return status;
}

/* Returns NAN for invalid arguments (bad dimensions, NULL, non-finite entries, singular
 * B'PB + R) or when out of memory. */
double la_dare_control_residual(int n, int m, const double *A, const double *B, const double *Q,
                                const double *R, const double *P)
{
    fm_err err;
    double res = NAN;
    dare_sys s = {n, m, A, B, Q, R};
    fm_err_clear(&err);
    if (n < 1 || m < 1 || !A || !B || !Q || !R || !P)
        return NAN;
    if (!all_finite(sq(n), A) || !all_finite((size_t)n * m, B) || !all_finite(sq(n), Q) ||
        !all_finite(sq(m), R) || !all_finite(sq(n), P))
        return NAN;
    if (dare_residual(&s, P, &res, &err) != FM_OK)
        return NAN;
    return res;
}

/* G_0 = B R^-1 B' (n x n), R symmetric positive definite. */
static fm_status sda_g0(const dare_sys *s, const char *fn, double *G, fm_err *err)
{
    fm_status status = FM_OK;
    int n = s->n, m = s->m;
    double *Rc = NULL, *X = NULL;
    FM_ALLOC(Rc, sq(m));
    FM_ALLOC(X, (size_t)m * n);
    memcpy(Rc, s->R, sq(m) * sizeof *Rc);
    transpose(n, m, s->B, X);
    lapack_int info = LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', m, n, Rc, m, X, n); /* X = R^-1 B' */
    FM_CHECK(info == 0, FM_ENUMERIC, "%s: weight is not positive definite (dposv info %d)", fn, (int)info);
    la_gemm(0, 0, n, n, m, 1.0, s->B, X, 0.0, G);
    symmetrize(n, G);
cleanup:
    free(Rc);
    free(X);
    return status;
}

/* SDA iterates A_k, G_k, H_k and temporaries, all n x n, carved from one buffer. */
typedef struct sda_ws {
    int n;
    double *A, *G, *H, *W, *Z, *X1, *X2, *T, *Hn; /* Z is n x 2n */
} sda_ws;

/* One doubling step; *change = ||H_{k+1} - H_k||_F / ||H_{k+1}||_F. */
static fm_status sda_step(sda_ws *w, double *change, fm_err *err)
{
    fm_status status = FM_OK;
    int n = w->n;
    size_t row = (size_t)n * sizeof(double);
    la_gemm(0, 0, n, n, n, 1.0, w->G, w->H, 0.0, w->W);
    add_identity(n, 1.0, w->W); /* W = I + G_k H_k */
    for (int i = 0; i < n; i++) {
        memcpy(w->Z + (size_t)i * 2 * n, w->A + (size_t)i * n, row);
        memcpy(w->Z + (size_t)i * 2 * n + n, w->G + (size_t)i * n, row);
    }
    FM_TRY(la_solve(n, 2 * n, w->W, w->Z, err)); /* [X1 X2] = W^-1 [A_k G_k] */
    for (int i = 0; i < n; i++) {
        memcpy(w->X1 + (size_t)i * n, w->Z + (size_t)i * 2 * n, row);
        memcpy(w->X2 + (size_t)i * n, w->Z + (size_t)i * 2 * n + n, row);
    }
    la_gemm(0, 0, n, n, n, 1.0, w->H, w->X1, 0.0, w->T);
    memcpy(w->Hn, w->H, sq(n) * sizeof(double));
    la_gemm(1, 0, n, n, n, 1.0, w->A, w->T, 1.0, w->Hn); /* H_{k+1} = H_k + A_k' H_k X1 */
    la_gemm(0, 0, n, n, n, 1.0, w->A, w->X2, 0.0, w->T);
    la_gemm(0, 1, n, n, n, 1.0, w->T, w->A, 1.0, w->G); /* G_{k+1} = G_k + A_k X2 A_k' */
    la_gemm(0, 0, n, n, n, 1.0, w->A, w->X1, 0.0, w->T);
    memcpy(w->A, w->T, sq(n) * sizeof(double)); /* A_{k+1} = A_k X1 */
    symmetrize(n, w->G);
    symmetrize(n, w->Hn);
    double hn = frob(sq(n), w->Hn);
    for (size_t i = 0; i < sq(n); i++)
        w->H[i] = w->Hn[i] - w->H[i];
    *change = hn > 0.0 ? frob(sq(n), w->H) / hn : frob(sq(n), w->H);
    memcpy(w->H, w->Hn, sq(n) * sizeof(double));
cleanup:
    return status;
}

/* SDA from (A_0, G_0, H_0) = (A, G0, Q); P = lim H_k. *iters receives the step count. */
static fm_status sda_run(const char *fn, int n, const double *A, const double *G0, const double *Q, double *P,
                         int *iters, fm_err *err)
{
    fm_status status = FM_OK;
    double *buf = NULL;
    FM_ALLOC(buf, 10 * sq(n));
    sda_ws w = {n, buf, buf + sq(n), buf + 2 * sq(n), buf + 3 * sq(n), buf + 4 * sq(n),
                buf + 6 * sq(n), buf + 7 * sq(n), buf + 8 * sq(n), buf + 9 * sq(n)};
    memcpy(w.A, A, sq(n) * sizeof(double));
    memcpy(w.G, G0, sq(n) * sizeof(double));
    memcpy(w.H, Q, sq(n) * sizeof(double));
    symmetrize(n, w.H);
    int k = 0;
    for (double change = INFINITY; k < LA_SDA_MAXIT && !(change <= LA_SDA_RTOL); k++) {
        FM_TRY(sda_step(&w, &change, err));
        FM_CHECK(all_finite(sq(n), w.A) && all_finite(sq(n), w.G) && all_finite(sq(n), w.H), FM_ENUMERIC,
                 "%s: doubling diverged at iteration %d (is the system stabilizable and detectable?)", fn,
                 k + 1);
    }
    memcpy(P, w.H, sq(n) * sizeof(double));
    *iters = k;
cleanup:
    free(buf);
    return status;
}

/* One Newton (Hewer) step: K = gain at P, then Pn solves the Lyapunov equation
 * Pn = (A + BK)' Pn (A + BK) + Q + K'RK. */
static fm_status dare_newton_step(const dare_sys *s, const double *P, double *Pn, fm_err *err)
{
    fm_status status = FM_OK;
    int n = s->n, m = s->m;
    double *K = NULL, *Ac = NULL, *F = NULL, *RK = NULL, *W = NULL;
    FM_ALLOC(K, (size_t)m * n);
    FM_ALLOC(Ac, sq(n));
    FM_ALLOC(F, sq(n));
    FM_ALLOC(RK, (size_t)m * n);
    FM_ALLOC(W, sq(n));
    FM_TRY(dare_eval(s, P, NULL, K, err));
    memcpy(Ac, s->A, sq(n) * sizeof *Ac);
    la_gemm(0, 0, n, n, m, 1.0, s->B, K, 1.0, Ac); /* A + B K */
    transpose(n, n, Ac, F);
    la_gemm(0, 0, m, n, m, 1.0, s->R, K, 0.0, RK);
    memcpy(W, s->Q, sq(n) * sizeof *W);
    la_gemm(1, 0, n, n, m, 1.0, K, RK, 1.0, W); /* Q + K'RK */
    symmetrize(n, W);
    FM_TRY(la_dlyap(n, F, W, Pn, err));
cleanup:
    free(K);
    free(Ac);
    free(F);
    free(RK);
    free(W);
    return status;
}

/* Up to LA_POLISH_STEPS Newton steps on P, each kept only if it lowers the residual (a failed
 * step is not an error: the SDA result stands). *res receives the final residual. */
static fm_status dare_polish(const dare_sys *s, double *P, double *res, fm_err *err)
{
    fm_status status = FM_OK;
    double *Pn = NULL, res_new = 0.0;
    fm_err local;
    FM_ALLOC(Pn, sq(s->n));
    FM_TRY(dare_residual(s, P, res, err));
    for (int it = 0; it < LA_POLISH_STEPS && *res > 0.0; it++) {
        fm_err_clear(&local);
        if (dare_newton_step(s, P, Pn, &local) != FM_OK || dare_residual(s, Pn, &res_new, &local) != FM_OK ||
            !(res_new < *res))
            break;
        memcpy(P, Pn, sq(s->n) * sizeof *P);
        *res = res_new;
    }
cleanup:
    free(Pn);
    return status;
}

/* FM_ENUMERIC unless A + B K is stable (the DARE solution must be the stabilizing one). */
static fm_status check_closed_loop(const dare_sys *s, const char *fn, const double *K, fm_err *err)
{
    fm_status status = FM_OK;
    double *Ac = NULL, rho = 0.0;
    FM_ALLOC(Ac, sq(s->n));
    memcpy(Ac, s->A, sq(s->n) * sizeof *Ac);
    la_gemm(0, 0, s->n, s->n, s->m, 1.0, s->B, K, 1.0, Ac);
    FM_TRY(la_spectral_radius(s->n, Ac, &rho, err));
    FM_CHECK(rho < 1.0, FM_ENUMERIC, "%s: closed loop not stable: spectral radius %g", fn, rho);
cleanup:
    free(Ac);
    return status;
}

/* Solve a validated control DARE: SDA, symmetrize, polish, verify. P (n x n) and K (m x n)
 * are required outputs here. */
static fm_status dare_solve(const dare_sys *s, const char *fn, double *P, double *K, fm_err *err)
{
    fm_status status = FM_OK;
    double *G = NULL, res = INFINITY;
    int iters = 0;
    FM_ALLOC(G, sq(s->n));
    FM_TRY(sda_g0(s, fn, G, err));
    FM_TRY(sda_run(fn, s->n, s->A, G, s->Q, P, &iters, err));
    symmetrize(s->n, P);
    FM_TRY(dare_polish(s, P, &res, err));
    FM_CHECK(res <= LA_DARE_RTOL, FM_ENUMERIC, "%s: relative residual %.3g exceeds %.0e after %d doubling steps",
             fn, res, LA_DARE_RTOL, iters);
    FM_TRY(dare_eval(s, P, NULL, K, err));
    FM_TRY(check_closed_loop(s, fn, K, err));
cleanup:
    free(G);
    return status;
}

/* Validate the dimensions, Q (n x n, symmetric) and R (m x m, symmetric positive definite). */
static fm_status dare_check_weights(const char *fn, const char *qname, const char *rname, const char *hint,
                                    int n, int m, const double *Q, const double *R, fm_err *err)
{
    fm_status status = FM_OK;
    FM_TRY(check_matrix(fn, qname, n, n, Q, err));
    FM_TRY(check_matrix(fn, rname, m, m, R, err));
    FM_TRY(check_symmetric(fn, qname, n, Q, err));
    FM_TRY(check_symmetric(fn, rname, m, R, err));
    FM_TRY(check_pd(fn, rname, hint, m, R, err));
cleanup:
    return status;
}

fm_status la_dare_control(int n, int m, const double *A, const double *B, const double *Q,
                          const double *R, double *P, double *K, fm_err *err)
{
    fm_status status = FM_OK;
    double *Pw = NULL, *Kw = NULL;
    dare_sys s = {n, m, A, B, Q, R};
    FM_CHECK(n > 0 && m > 0, FM_EINVAL, "la_dare_control: n = %d, m = %d, expected both >= 1", n, m);
    FM_TRY(check_matrix("la_dare_control", "A", n, n, A, err));
    FM_TRY(check_matrix("la_dare_control", "B", n, m, B, err));
    FM_TRY(dare_check_weights("la_dare_control", "Q", "R", "", n, m, Q, R, err));
    FM_ALLOC(Pw, sq(n));
    FM_ALLOC(Kw, (size_t)m * n);
    FM_TRY(dare_solve(&s, "la_dare_control", Pw, Kw, err));
    if (P)
        memcpy(P, Pw, sq(n) * sizeof *P);
    if (K)
        memcpy(K, Kw, (size_t)m * n * sizeof *K);
cleanup:
    free(Pw);
    free(Kw);
    return status;
}

/* Kalman gain L = S C'(C S C' + Sv)^-1 (Eq. G.5), computed as L' = (C S C' + Sv)^-1 C S. */
static fm_status filter_gain(int n, int p, const double *C, const double *Sv, const double *S, double *L,
                             fm_err *err)
{
    fm_status status = FM_OK;
    double *CS = NULL, *M = NULL;
    FM_ALLOC(CS, (size_t)p * n);
    FM_ALLOC(M, sq(p));
    la_gemm(0, 0, p, n, n, 1.0, C, S, 0.0, CS);
    memcpy(M, Sv, sq(p) * sizeof *M);
    la_gemm(0, 1, p, p, n, 1.0, CS, C, 1.0, M); /* C S C' + Sv */
    symmetrize(p, M);
    FM_TRY(la_solve(p, n, M, CS, err));
    transpose(p, n, CS, L);
cleanup:
    free(CS);
    free(M);
    return status;
}

/* Solved as the dual control DARE (A', C', Sw, Sv), whose solution is S. Sv must be symmetric
 * positive definite (FM_EINVAL otherwise): with full-state observation (C = I, Sv = 0) the
 * filter is trivial and callers skip it. S and L may be NULL. */
fm_status la_dare_filter(int n, int p, const double *A, const double *C, const double *Sw,
                         const double *Sv, double *S, double *L, fm_err *err)
{
    fm_status status = FM_OK;
    double *buf = NULL;
    const char *fn = "la_dare_filter";
    FM_CHECK(n > 0 && p > 0, FM_EINVAL, "la_dare_filter: n = %d, p = %d, expected both >= 1", n, p);
    FM_TRY(check_matrix(fn, "A", n, n, A, err));
    FM_TRY(check_matrix(fn, "C", p, n, C, err));
    FM_TRY(dare_check_weights(fn, "Sw", "Sv", " (for full-state observation with Sv = 0 skip the filter)", n,
                              p, Sw, Sv, err));
    FM_ALLOC(buf, 2 * sq(n) + 2 * (size_t)n * p);
    double *At = buf, *Ct = buf + sq(n), *Sb = Ct + (size_t)n * p, *Kd = Sb + sq(n);
    transpose(n, n, A, At);
    transpose(p, n, C, Ct);
    dare_sys dual = {n, p, At, Ct, Sw, Sv};
    FM_TRY(dare_solve(&dual, fn, Sb, Kd, err)); /* Eq. G.5, second line */
    if (L)
        FM_TRY(filter_gain(n, p, C, Sv, Sb, L, err));
    if (S)
        memcpy(S, Sb, sq(n) * sizeof *S);
cleanup:
    free(buf);
    return status;
}
