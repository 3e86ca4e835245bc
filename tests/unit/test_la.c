/* test_la.c - la/ wrappers and the Riccati / Lyapunov solvers against naive references and
 * closed forms (paper Appendix G, Eq. G.3-G.5). */
#include "la/la.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

#define MAXN 64

/* ---- naive references (independent of BLAS/LAPACK) ---- */

static double at(const double *X, int rows, int cols, int t, int i, int j)
{
    (void)rows;
    return t ? X[j * rows + i] : X[i * cols + j];
}

/* C = alpha op(A) op(B) + beta C; op(A) m x k, op(B) k x n. */
static void naive_gemm(int ta, int tb, int m, int n, int k, double alpha, const double *A, const double *B,
                       double beta, double *C)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0.0;
            for (int l = 0; l < k; l++)
                s += at(A, m, k, ta, i, l) * at(B, k, n, tb, l, j);
            C[i * n + j] = alpha * s + (beta == 0.0 ? 0.0 : beta * C[i * n + j]); /* BLAS: beta 0 ignores C */
        }
}

static void naive_mul(int m, int n, int k, const double *A, const double *B, double *C)
{
    naive_gemm(0, 0, m, n, k, 1.0, A, B, 0.0, C);
}

/* X = A^-1 B by Gauss-Jordan with partial pivoting; returns the determinant of A. */
static double naive_solve(int n, int nrhs, const double *A, const double *B, double *X)
{
    double a[MAXN * MAXN], det = 1.0;
    memcpy(a, A, sizeof(double) * n * n);
    if (X)
        memcpy(X, B, sizeof(double) * n * nrhs);
    for (int c = 0; c < n; c++) {
        int piv = c;
        for (int r = c + 1; r < n; r++)
            if (fabs(a[r * n + c]) > fabs(a[piv * n + c]))
                piv = r;
        if (piv != c) {
            det = -det;
            for (int j = 0; j < n; j++) {
                double t = a[c * n + j]; a[c * n + j] = a[piv * n + j]; a[piv * n + j] = t;
            }
            for (int j = 0; X && j < nrhs; j++) {
                double t = X[c * nrhs + j]; X[c * nrhs + j] = X[piv * nrhs + j]; X[piv * nrhs + j] = t;
            }
        }
        double p = a[c * n + c];
        det *= p;
        if (p == 0.0)
            return 0.0;
        for (int r = 0; r < n; r++) {
            if (r == c)
                continue;
            double f = a[r * n + c] / p;
            for (int j = 0; j < n; j++)
                a[r * n + j] -= f * a[c * n + j];
            for (int j = 0; X && j < nrhs; j++)
                X[r * nrhs + j] -= f * X[c * nrhs + j];
        }
    }
    for (int r = 0; X && r < n; r++)
        for (int j = 0; j < nrhs; j++)
            X[r * nrhs + j] /= a[r * n + r];
    return det;
}

/* Maxima that propagate NaN (fmax would drop it and hide a failure). */
static double max_abs_diff(int count, const double *a, const double *b)
{
    double d = 0.0;
    for (int i = 0; i < count; i++) {
        double x = fabs(a[i] - b[i]);
        if (!(x <= d))
            d = x;
    }
    return d;
}

static double max_abs(int count, const double *a)
{
    double d = 0.0;
    for (int i = 0; i < count; i++)
        if (!(fabs(a[i]) <= d))
            d = fabs(a[i]);
    return d;
}

static double asymmetry(int n, const double *X)
{
    double d = 0.0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double x = fabs(X[i * n + j] - X[j * n + i]);
            if (!(x <= d))
                d = x;
        }
    return d;
}

static void fill_normal(fm_rng *r, int count, double *x)
{
    for (int i = 0; i < count; i++)
        x[i] = fm_rng_normal(r);
}

static void eye(int n, double a, double *X)
{
    memset(X, 0, sizeof(double) * n * n);
    for (int i = 0; i < n; i++)
        X[i * n + i] = a;
}

static double spectral_radius(int n, const double *A)
{
    fm_err err;
    double rho = NAN;
    fm_err_clear(&err);
    if (la_spectral_radius(n, A, &rho, &err) != FM_OK)
        return NAN;
    return rho;
}

/* The Appendix G benchmark system (n = 4, m = 2). */
static const double SYS_A[16] = {1.05, 0.03, -0.02, 0, 0.01, 0.47, 4.7, 0, 0.02, -0.06, 0.40, 0, 0, 0.1, 0, 0.8};
static const double SYS_B[8] = {0.01, 0.99, -3.44, 1.66, -0.83, 0.44, -0.47, 0.25};

/* ---- BLAS / LAPACK wrappers ---- */

static void test_gemm(fm_rng *r)
{
    enum { M = 5, N = 4, K = 3 };
    double A[M * K], B[K * N], C0[M * N], C1[M * N], C2[M * N];
    fill_normal(r, M * K, A);
    fill_normal(r, K * N, B);
    fill_normal(r, M * N, C0);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            memcpy(C1, C0, sizeof C0);
            memcpy(C2, C0, sizeof C0);
            la_gemm(ta, tb, M, N, K, 1.3, A, B, -0.7, C1);
            naive_gemm(ta, tb, M, N, K, 1.3, A, B, -0.7, C2);
            is_close(max_abs_diff(M * N, C1, C2), 0.0, 1e-13, 0.0, "gemm ta=%d tb=%d equals the naive loop", ta, tb);
        }
    memcpy(C1, C0, sizeof C0);
    la_gemm(0, 0, M, N, 0, 1.0, NULL, NULL, 2.0, C1);
    for (int i = 0; i < M * N; i++)
        C2[i] = 2.0 * C0[i];
    is_close(max_abs_diff(M * N, C1, C2), 0.0, 0.0, 0.0, "gemm with k = 0 scales C by beta");
}

static void test_solve_inv_det(fm_rng *r)
{
    enum { N = 7, NRHS = 3 };
    double A[N * N], B[N * NRHS], Ac[N * N], X[N * NRHS], AX[N * NRHS], I[N * N], AI[N * N];
    fm_err err;
    fill_normal(r, N * N, A);
    fill_normal(r, N * NRHS, B);
    memcpy(Ac, A, sizeof A);
    memcpy(X, B, sizeof B);
    fm_err_clear(&err);
    is_int(la_solve(N, NRHS, Ac, X, &err), FM_OK, "solve: status");
    naive_mul(N, NRHS, N, A, X, AX);
    is_close(max_abs_diff(N * NRHS, AX, B), 0.0, 1e-12, 0.0, "solve: A X = B");

    memcpy(Ac, A, sizeof A);
    is_int(la_inv(N, Ac, &err), FM_OK, "inv: status");
    naive_mul(N, N, N, A, Ac, AI);
    eye(N, 1.0, I);
    is_close(max_abs_diff(N * N, AI, I), 0.0, 1e-12, 0.0, "inv: A inv(A) = I");

    double det = 0.0, detB = 0.0, detAB = 0.0, Bm[N * N], AB[N * N];
    is_int(la_det(N, A, &det, &err), FM_OK, "det: status");
    is_close(det, naive_solve(N, 0, A, NULL, NULL), 0.0, 1e-12, "det equals Gaussian elimination");
    fill_normal(r, N * N, Bm);
    naive_mul(N, N, N, A, Bm, AB);
    la_det(N, Bm, &detB, &err);
    la_det(N, AB, &detAB, &err);
    is_close(detAB, det * detB, 0.0, 1e-11, "det(A B) = det(A) det(B)");
    double D[9] = {0, 2, 0, 3, 0, 0, 0, 0, 4};
    la_det(3, D, &det, &err);
    is_close(det, -24.0, 0.0, 1e-15, "det of a row-swapped diagonal matrix");
}

static void test_singular_and_args(void)
{
    double S[9] = {1, 2, 3, 2, 4, 6, 1, 0, 1}, b[3] = {1, 2, 3}, det = 1.0, rho = 0.0;
    fm_err err;
    fm_err_clear(&err);
    is_int(la_solve(3, 1, S, b, &err), FM_ENUMERIC, "solve: singular matrix -> FM_ENUMERIC");
    has_str(err.msg, "singular", "solve: message says singular");
    double S2[9] = {1, 2, 3, 2, 4, 6, 1, 0, 1};
    fm_err_clear(&err);
    is_int(la_inv(3, S2, &err), FM_ENUMERIC, "inv: singular matrix -> FM_ENUMERIC");
    double S3[9] = {1, 2, 3, 2, 4, 6, 1, 0, 1};
    fm_err_clear(&err);
    is_int(la_det(3, S3, &det, &err), FM_OK, "det: singular matrix is not an error");
    is_close(det, 0.0, 0.0, 0.0, "det: singular matrix has determinant 0");
    fm_err_clear(&err);
    is_int(la_solve(0, 1, S, b, &err), FM_EINVAL, "solve: n = 0 -> FM_EINVAL");
    has_str(err.msg, "n = 0", "solve: message names n");
    fm_err_clear(&err);
    is_int(la_inv(3, NULL, &err), FM_EINVAL, "inv: NULL -> FM_EINVAL");
    double N3[9] = {1, 0, 0, 0, 1, NAN, 0, 0, 1};
    fm_err_clear(&err);
    is_int(la_spectral_radius(3, N3, &rho, &err), FM_ENUMERIC, "spectral radius: NaN -> FM_ENUMERIC (a numerical failure, exit 1)");
    has_str(err.msg, "la_spectral_radius: A[1][2] is not finite", "spectral radius: message names the entry");
    fm_err_clear(&err);
    is_int(la_det(-1, N3, &det, &err), FM_EINVAL, "det: n = -1 -> FM_EINVAL");
}

static void test_spectral_radius(void)
{
    double c = cos(0.7), s = sin(0.7);
    double rot[4] = {0.5 * c, -0.5 * s, 0.5 * s, 0.5 * c};
    double dg[9] = {0.3, 0, 0, 0, -0.9, 0, 0, 0, 0.5};
    double jordan[4] = {0.5, 1.0, 0.0, 0.5};
    double one[1] = {-3.0};
    is_close(spectral_radius(2, rot), 0.5, 0.0, 1e-14, "spectral radius of 0.5 * rotation");
    is_close(spectral_radius(3, dg), 0.9, 0.0, 1e-14, "spectral radius of diag(0.3, -0.9, 0.5)");
    is_close(spectral_radius(2, jordan), 0.5, 0.0, 1e-7, "spectral radius of a Jordan block");
    is_close(spectral_radius(1, one), 3.0, 0.0, 0.0, "spectral radius of a 1 x 1 matrix");
}

/* ---- least squares ---- */

static void test_lstsq(fm_rng *r)
{
    enum { R = 30, C = 5, K = 2 };
    double X[R * C], Wt[C * K], Y[R * K], W[C * K], G[C * C], XtY[C * K], GW[C * K];
    fm_err err;
    fill_normal(r, R * C, X);
    fill_normal(r, C * K, Wt);
    naive_mul(R, K, C, X, Wt, Y);
    fm_err_clear(&err);
    is_int(la_lstsq(R, C, K, X, Y, 0.0, W, &err), FM_OK, "lstsq: status");
    is_close(max_abs_diff(C * K, W, Wt), 0.0, 1e-12, 0.0, "lstsq: exact solution of a consistent system");

    for (int i = 0; i < R * K; i++)
        Y[i] += 0.1 * fm_rng_normal(r);
    is_int(la_lstsq(R, C, K, X, Y, 0.5, W, &err), FM_OK, "lstsq ridge: status");
    naive_gemm(1, 0, C, C, R, 1.0, X, X, 0.0, G);
    for (int i = 0; i < C; i++)
        G[i * C + i] += 0.5;
    naive_gemm(1, 0, C, K, R, 1.0, X, Y, 0.0, XtY);
    naive_mul(C, K, C, G, W, GW);
    is_close(max_abs_diff(C * K, GW, XtY), 0.0, 1e-11, 0.0, "lstsq ridge: (X'X + 0.5 I) W = X'Y");

    /* rank deficient: column 4 duplicates column 1, so the minimum-norm solution splits evenly */
    double Wd[C * K], XW[R * K];
    for (int i = 0; i < R; i++)
        X[i * C + 4] = X[i * C + 1];
    naive_mul(R, K, C, X, Wt, Y);
    fm_err_clear(&err);
    is_int(la_lstsq(R, C, K, X, Y, 0.0, Wd, &err), FM_OK, "lstsq rank deficient: status (SVD fallback)");
    naive_mul(R, K, C, X, Wd, XW);
    is_close(max_abs_diff(R * K, XW, Y), 0.0, 1e-11, 0.0, "lstsq rank deficient: X W = Y");
    is_close(Wd[1 * K] - Wd[4 * K], 0.0, 1e-11, 0.0, "lstsq rank deficient: minimum-norm solution");
}

static void test_lstsq_underdetermined(fm_rng *r)
{
    enum { R = 3, C = 6 };
    double X[R * C], Y[R], W[C], XXt[R * R], z[R], Wmin[C];
    fm_err err;
    fill_normal(r, R * C, X);
    fill_normal(r, R, Y);
    fm_err_clear(&err);
    is_int(la_lstsq(R, C, 1, X, Y, 0.0, W, &err), FM_OK, "lstsq underdetermined: status");
    naive_gemm(0, 1, R, R, C, 1.0, X, X, 0.0, XXt);
    naive_solve(R, 1, XXt, Y, z);
    naive_gemm(1, 0, C, 1, R, 1.0, X, z, 0.0, Wmin); /* X'(XX')^-1 Y */
    is_close(max_abs_diff(C, W, Wmin), 0.0, 1e-12, 0.0, "lstsq underdetermined: minimum-norm solution");
    fm_err_clear(&err);
    is_int(la_lstsq(R, C, 1, X, Y, -1.0, W, &err), FM_EINVAL, "lstsq: negative ridge -> FM_EINVAL");
    has_str(err.msg, "ridge", "lstsq: message names ridge");
    fm_err_clear(&err);
    is_int(la_lstsq(0, C, 1, X, Y, 0.0, W, &err), FM_EINVAL, "lstsq: rows = 0 -> FM_EINVAL");
}

/* ---- Riccati ---- */

/* Positive root of b^2 p^2 + (r - a^2 r - q b^2) p - q r = 0, the scalar form of Eq. G.4. */
static double scalar_dare(double a, double b, double q, double r)
{
    double h = r - a * a * r - q * b * b;
    return (-h + sqrt(h * h + 4.0 * b * b * q * r)) / (2.0 * b * b);
}

static void test_dare_scalar(void)
{
    const double cases[4][4] = {{1.2, 0.5, 1.0, 2.0}, {0.5, 1.0, 1.0, 1.0}, {-3.0, 0.1, 0.01, 100.0},
                                {0.99, 2.0, 1e3, 1e-3}};
    fm_err err;
    for (int c = 0; c < 4; c++) {
        double a = cases[c][0], b = cases[c][1], q = cases[c][2], r = cases[c][3], P = 0.0, K = 0.0;
        double p = scalar_dare(a, b, q, r);
        fm_err_clear(&err);
        is_int(la_dare_control(1, 1, &a, &b, &q, &r, &P, &K, &err), FM_OK, "scalar DARE %d: status", c);
        is_close(P, p, 0.0, 1e-12, "scalar DARE %d: P equals the closed form", c);
        is_close(K, -b * p * a / (b * b * p + r), 1e-15, 1e-11, "scalar DARE %d: K (Eq. G.3)", c);
    }
}

/* Riccati value iteration P <- rhs(P) from P = Q, a slow but independent reference. */
static void value_iteration(int n, int m, const double *A, const double *B, const double *Q, const double *R,
                            double *P)
{
    double PA[16], PB[8], S[4], T[8], X[8], N[16], rhs[16];
    memcpy(P, Q, sizeof(double) * n * n);
    for (int it = 0; it < 200000; it++) {
        naive_mul(n, n, n, P, A, PA);
        naive_mul(n, m, n, P, B, PB);
        memcpy(S, R, sizeof(double) * m * m);
        naive_gemm(1, 0, m, m, n, 1.0, B, PB, 1.0, S);
        naive_gemm(1, 0, m, n, n, 1.0, B, PA, 0.0, T);
        naive_solve(m, n, S, T, X);
        memcpy(N, PA, sizeof N);
        naive_gemm(0, 0, n, n, m, -1.0, PB, X, 1.0, N);
        memcpy(rhs, Q, sizeof(double) * n * n);
        naive_gemm(1, 0, n, n, n, 1.0, A, N, 1.0, rhs);
        double d = max_abs_diff(n * n, rhs, P), s = max_abs(n * n, rhs);
        memcpy(P, rhs, sizeof(double) * n * n);
        if (d <= 1e-15 * s)
            break;
    }
}

static void test_dare_system(void)
{
    const double scales[3] = {1e-2, 1.0, 1e2};
    double Q[16], R[4], P[16], K[8], Pref[16], K2[8], Acl[16];
    fm_err err;
    eye(2, 1.0, R);
    for (int s = 0; s < 3; s++) {
        eye(4, scales[s], Q);
        fm_err_clear(&err);
        is_int(la_dare_control(4, 2, SYS_A, SYS_B, Q, R, P, K, &err), FM_OK, "DARE a=%g: status", scales[s]);
        if (err.code)
            printf("# %s (%s)\n", err.msg, err.trace);
        double res = la_dare_control_residual(4, 2, SYS_A, SYS_B, Q, R, P);
        ok(res <= 1e-9, "DARE a=%g: relative residual %.2e <= 1e-9", scales[s], res);
        is_close(asymmetry(4, P), 0.0, 0.0, 0.0, "DARE a=%g: P is symmetric", scales[s]);
        memcpy(Acl, SYS_A, sizeof Acl);
        naive_gemm(0, 0, 4, 4, 2, 1.0, SYS_B, K, 1.0, Acl);
        double rho = spectral_radius(4, Acl);
        ok(rho < 1.0, "DARE a=%g: closed loop A + B K is stable (rho = %.4f)", scales[s], rho);
        value_iteration(4, 2, SYS_A, SYS_B, Q, R, Pref);
        is_close(max_abs_diff(16, P, Pref) / max_abs(16, Pref), 0.0, 1e-9, 0.0,
                 "DARE a=%g: P equals Riccati value iteration", scales[s]);
        is_int(la_dare_control(4, 2, SYS_A, SYS_B, Q, R, NULL, K2, &err), FM_OK, "DARE a=%g: P may be NULL", scales[s]);
        is_close(max_abs_diff(8, K, K2), 0.0, 0.0, 0.0, "DARE a=%g: K is reproducible", scales[s]);
    }
}

static void test_dare_errors(void)
{
    double A[4] = {2, 0, 0, 2}, B[2] = {1, 0}, Q[4] = {1, 0, 0, 1}, R[1] = {1}, P[4], K[2];
    double Rneg[1] = {-1}, Qasym[4] = {1, 0.5, 0, 1};
    fm_err err;
    fm_err_clear(&err);
    is_int(la_dare_control(2, 1, A, B, Q, R, P, K, &err), FM_ENUMERIC, "DARE: unstabilizable -> FM_ENUMERIC");
    has_str(err.msg, "la_dare_control: ", "DARE: unstabilizable message names the function");
    double a2 = 2.0, b1 = 1.0, q0 = 0.0, r1 = 1.0, p1 = 0.0, k1 = 0.0;
    fm_err_clear(&err);
    is_int(la_dare_control(1, 1, &a2, &b1, &q0, &r1, &p1, &k1, &err), FM_ENUMERIC,
           "DARE: Q = 0 with unstable A (P = 0 is not stabilizing) -> FM_ENUMERIC");
    has_str(err.msg, "closed loop not stable: spectral radius 2", "DARE: message gives the closed-loop radius");
    fm_err_clear(&err);
    is_int(la_dare_control(2, 1, A, B, Q, Rneg, P, K, &err), FM_EINVAL, "DARE: R < 0 -> FM_EINVAL");
    has_str(err.msg, "R must be positive definite", "DARE: message says R must be positive definite");
    fm_err_clear(&err);
    is_int(la_dare_control(2, 1, A, B, Qasym, R, P, K, &err), FM_EINVAL, "DARE: asymmetric Q -> FM_EINVAL");
    has_str(err.msg, "Q is not symmetric", "DARE: message says Q is not symmetric");
    fm_err_clear(&err);
    is_int(la_dare_control(0, 1, A, B, Q, R, P, K, &err), FM_EINVAL, "DARE: n = 0 -> FM_EINVAL");
    fm_err_clear(&err);
    is_int(la_dare_control(2, 1, A, NULL, Q, R, P, K, &err), FM_EINVAL, "DARE: NULL B -> FM_EINVAL");
    has_str(err.msg, "B is NULL", "DARE: message names B");
    ok(isnan(la_dare_control_residual(0, 1, A, B, Q, R, P)), "DARE residual: invalid arguments give NaN");
}

/* ||A S A' - A S C'(C S C' + Sv)^-1 C S A' + Sw - S||_F / max(1, ||S||_F), naive (Eq. G.5). */
static double filter_residual(int n, int p, const double *A, const double *C, const double *Sw,
                              const double *Sv, const double *S)
{
    double CS[50 * 4], M[50 * 50], X[50 * 4], AS[16], T[16], rhs[16];
    naive_mul(p, n, n, C, S, CS);
    memcpy(M, Sv, sizeof(double) * p * p);
    naive_gemm(0, 1, p, p, n, 1.0, CS, C, 1.0, M);
    naive_solve(p, n, M, CS, X);                   /* (CSC' + Sv)^-1 C S */
    naive_gemm(1, 0, n, n, p, 1.0, CS, X, 0.0, T); /* S C' (.)^-1 C S */
    for (int i = 0; i < n * n; i++)
        T[i] = S[i] - T[i];
    naive_mul(n, n, n, A, T, AS);
    memcpy(rhs, Sw, sizeof(double) * n * n);
    naive_gemm(0, 1, n, n, n, 1.0, AS, A, 1.0, rhs);
    double num = 0.0, den = 0.0;
    for (int i = 0; i < n * n; i++) {
        num += (rhs[i] - S[i]) * (rhs[i] - S[i]);
        den += S[i] * S[i];
    }
    return sqrt(num) / fmax(1.0, sqrt(den));
}

static void test_dare_filter(fm_rng *r)
{
    enum { N = 4, P = 50 };
    static double C[P * N], Sv[P * P], L[N * P], M[P * P], LM[N * P], SCt[N * P];
    double Sw[N * N], S[N * N], LC[N * N], F[N * N];
    fm_err err;
    fill_normal(r, P * N, C);
    eye(N, 0.01, Sw);
    eye(P, 0.01, Sv);
    fm_err_clear(&err);
    is_int(la_dare_filter(N, P, SYS_A, C, Sw, Sv, S, L, &err), FM_OK, "filter DARE: status");
    if (err.code)
        printf("# %s (%s)\n", err.msg, err.trace);
    double res = filter_residual(N, P, SYS_A, C, Sw, Sv, S);
    ok(res <= 1e-9, "filter DARE: relative residual %.2e <= 1e-9 (Eq. G.5)", res);
    memcpy(M, Sv, sizeof M);
    double CS[P * N];
    naive_mul(P, N, N, C, S, CS);
    naive_gemm(0, 1, P, P, N, 1.0, CS, C, 1.0, M);
    naive_mul(N, P, P, L, M, LM);
    naive_gemm(0, 1, N, P, N, 1.0, S, C, 0.0, SCt);
    is_close(max_abs_diff(N * P, LM, SCt) / max_abs(N * P, SCt), 0.0, 1e-12, 0.0,
             "filter DARE: L (C S C' + Sv) = S C'");
    naive_mul(N, N, P, L, C, LC);
    for (int i = 0; i < N * N; i++)
        LC[i] = (i % (N + 1) == 0) - LC[i]; /* I - L C */
    naive_mul(N, N, N, SYS_A, LC, F);
    double rho = spectral_radius(N, F);
    ok(rho < 1.0, "filter DARE: A (I - L C) is stable (rho = %.4f)", rho);

    double Svz[P * P] = {0};
    fm_err_clear(&err);
    is_int(la_dare_filter(N, P, SYS_A, C, Sw, Svz, S, L, &err), FM_EINVAL, "filter DARE: Sv = 0 -> FM_EINVAL");
    has_str(err.msg, "Sv must be positive definite", "filter DARE: message says Sv must be positive definite");
}

static void test_dare_filter_scalar(void)
{
    double a = 1.1, c = 0.7, sw = 0.3, sv = 0.2, S = 0.0, L = 0.0;
    double s = scalar_dare(a, c, sw, sv);
    fm_err err;
    fm_err_clear(&err);
    is_int(la_dare_filter(1, 1, &a, &c, &sw, &sv, &S, &L, &err), FM_OK, "scalar filter DARE: status");
    is_close(S, s, 0.0, 1e-12, "scalar filter DARE: S equals the closed form");
    is_close(L, s * c / (c * c * s + sv), 0.0, 1e-12, "scalar filter DARE: L (Eq. G.5)");
}

/* ---- Lyapunov ---- */

static void test_dlyap(fm_rng *r)
{
    enum { N = 6 };
    double F[N * N], M[N * N], W[N * N], X[N * N], T[N * N], R[N * N];
    fm_err err;
    fill_normal(r, N * N, F);
    double rho = spectral_radius(N, F);
    for (int i = 0; i < N * N; i++)
        F[i] *= 0.95 / rho;
    fill_normal(r, N * N, M);
    naive_gemm(0, 1, N, N, N, 1.0, M, M, 0.0, W);
    for (int i = 0; i < N; i++)
        W[i * N + i] += 1.0;
    fm_err_clear(&err);
    is_int(la_dlyap(N, F, W, X, &err), FM_OK, "dlyap: status");
    naive_mul(N, N, N, F, X, T);
    memcpy(R, W, sizeof R);
    naive_gemm(0, 1, N, N, N, 1.0, T, F, 1.0, R); /* F X F' + W */
    is_close(max_abs_diff(N * N, X, R) / max_abs(N * N, X), 0.0, 1e-13, 0.0, "dlyap: X = F X F' + W");
    is_close(asymmetry(N, X), 0.0, 0.0, 0.0, "dlyap: X is symmetric");

    double f = -0.9, w = 2.0, x = 0.0;
    la_dlyap(1, &f, &w, &x, &err);
    is_close(x, w / (1.0 - f * f), 0.0, 1e-14, "dlyap: scalar closed form w / (1 - f^2)");

    for (int i = 0; i < N * N; i++)
        F[i] *= 1.1 / 0.95;
    fm_err_clear(&err);
    is_int(la_dlyap(N, F, W, X, &err), FM_ENUMERIC, "dlyap: unstable F -> FM_ENUMERIC");
    has_str(err.msg, "not stable: spectral radius 1.1", "dlyap: message gives the spectral radius");
    W[1] += 1.0;
    fm_err_clear(&err);
    is_int(la_dlyap(N, F, W, X, &err), FM_EINVAL, "dlyap: asymmetric W -> FM_EINVAL");
    fm_err_clear(&err);
    is_int(la_dlyap(N, F, NULL, X, &err), FM_EINVAL, "dlyap: NULL W -> FM_EINVAL");
}

int main(void)
{
    fm_rng r;
    fm_rng_seed(&r, 20240611, 0, FM_STREAM_SYSTEM);
    test_gemm(&r);
    test_solve_inv_det(&r);
    test_singular_and_args();
    test_spectral_radius();
    test_lstsq(&r);
    test_lstsq_underdetermined(&r);
    test_dare_scalar();
    test_dare_system();
    test_dare_errors();
    test_dare_filter(&r);
    test_dare_filter_scalar();
    test_dlyap(&r);
    return done_testing();
}
