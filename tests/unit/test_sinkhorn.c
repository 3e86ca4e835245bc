/* test_sinkhorn.c - the Sinkhorn projection of Eq. 3.2: doubly-stochastic output (also for peaky
 * scores, through epsilon scaling and the Newton finish), limits tau -> 0 (the LAP permutation)
 * and tau -> inf (uniform), invariances, both backward passes against central finite
 * differences, the hard projection against brute force, and every error path with its message. */
#include "align/sinkhorn.h"
#include "tap.h"

#include <stdlib.h>

#define MAXN 128
#define BRUTE_MAXN 8

static double M_[MAXN * MAXN], P_[MAXN * MAXN], Q_[MAXN * MAXN], R_[MAXN * MAXN];

/* ---- helpers ---- */

/* Status and message of a call expected to fail. */
static void expect_status(fm_status got, fm_status want, const fm_err *err, const char *needle,
                          const char *what)
{
    is_int(got, want, "%s: status", what);
    has_str(err->msg, needle, "%s: message", what);
}

static void fill_uniform(fm_rng *r, int count, double scale, double *x)
{
    for (int i = 0; i < count; i++)
        x[i] = scale * (2.0 * fm_rng_uniform(r) - 1.0);
}

static void fill_normal(fm_rng *r, int count, double *x)
{
    for (int i = 0; i < count; i++)
        x[i] = fm_rng_normal(r);
}

static fm_sinkhorn_opts opts_fixed(double tau, int iters)
{
    return (fm_sinkhorn_opts){.tau = tau, .iters = iters};
}

/* Plain Sinkhorn until tol. */
static fm_sinkhorn_opts opts_tol(double tau, double tol, int max_iters)
{
    return (fm_sinkhorn_opts){.tau = tau, .tol = tol, .max_iters = max_iters};
}

/* Until tol with epsilon scaling from tau_start and a Newton finish after 100 iterations. */
static fm_sinkhorn_opts opts_fast(double tau, double tol, double tau_start)
{
    return (fm_sinkhorn_opts){
        .tau = tau, .tol = tol, .max_iters = 5000, .tau_start = tau_start, .newton = 100};
}

/* One forward with a fresh workspace; err receives the failure, if any; info may be NULL. */
static fm_status run(int n, fm_sinkhorn_opts o, const double *M, double *P, fm_sinkhorn_info *info,
                     fm_err *err)
{
    fm_sinkhorn_ws *ws = NULL;
    fm_err_clear(err);
    fm_status st = fm_sinkhorn_ws_create(n, &o, &ws, err);
    if (st == FM_OK)
        st = fm_sinkhorn_forward(ws, M, P, info, err);
    fm_sinkhorn_ws_free(ws);
    return st;
}

/* Largest |row sum - 1| and |column sum - 1|. */
static double sum_residual(int n, const double *P)
{
    double worst = 0.0;
    for (int i = 0; i < n; i++) {
        double rs = 0.0, cs = 0.0;
        for (int j = 0; j < n; j++)
            rs += P[i * n + j], cs += P[j * n + i];
        worst = fmax(worst, fmax(fabs(rs - 1.0), fabs(cs - 1.0)));
    }
    return isfinite(worst) ? worst : INFINITY;
}

static double max_abs_diff(int count, const double *a, const double *b)
{
    double worst = 0.0;
    for (int i = 0; i < count; i++)
        worst = fmax(worst, isfinite(a[i] - b[i]) ? fabs(a[i] - b[i]) : INFINITY);
    return worst;
}

/* 1 if every entry is finite and > 0 (strict) or >= 0. */
static int all_positive(int count, const double *x, int strict)
{
    for (int i = 0; i < count; i++)
        if (!isfinite(x[i]) || (strict ? x[i] <= 0.0 : x[i] < 0.0))
            return 0;
    return 1;
}

/* ---- doubly stochastic output ---- */

/* Random M (uniform in [-1, 1], or peaky: in [-1e3 / tau, 1e3 / tau], so |M / tau| up to
 * 1e3 / tau^2 = 1e7) at tau = 0.01 .. 10, through epsilon scaling from the spread of M and the
 * Newton finish: rows and columns sum to 1. */
static void test_sums(fm_rng *r, int peaky)
{
    static const int ns[] = {1, 2, 5, 32, 128};
    static const double taus[] = {0.01, 0.1, 1.0, 10.0};
    fm_err err;
    for (int a = 0; a < 5; a++)
        for (int b = 0; b < 4; b++) {
            int n = ns[a];
            double tau = taus[b], scale = peaky ? 1e3 / tau : 1.0;
            fm_sinkhorn_info in = {0, 0, NAN};
            fill_uniform(r, n * n, scale, M_);
            fm_status st = run(n, opts_fast(tau, 1e-9, 2.0 * scale), M_, P_, &in, &err);
            ok(st == FM_OK && in.residual < 1e-9, "%s n=%d tau=%g converges (%d iterations, %d Newton "
               "steps, residual %.2g) %s", peaky ? "peaky" : "plain", n, tau, in.iters,
               in.newton_steps, in.residual, err.msg);
            is_close(sum_residual(n, P_), 0.0, 1e-6, 0.0, "%s n=%d tau=%g rows and columns sum to 1",
                     peaky ? "peaky" : "plain", n, tau);
            ok(all_positive(n * n, P_, !peaky), "%s n=%d tau=%g P %s", peaky ? "peaky" : "plain",
               n, tau, peaky ? "finite and >= 0" : "> 0");
        }
}

/* ---- brute force over permutations: best and second-best <M, P> ---- */

typedef struct brute {
    int n;
    const double *M;
    double best, second;
    int used[BRUTE_MAXN], cur[BRUTE_MAXN], perm[BRUTE_MAXN];
} brute;

static void brute_rec(brute *b, int row, double sum)
{
    if (row == b->n) {
        if (sum > b->best) {
            b->second = b->best, b->best = sum;
            memcpy(b->perm, b->cur, sizeof b->perm);
        } else if (sum > b->second) {
            b->second = sum;
        }
        return;
    }
    for (int j = 0; j < b->n; j++) {
        if (b->used[j])
            continue;
        b->used[j] = 1, b->cur[row] = j;
        brute_rec(b, row + 1, sum + b->M[row * b->n + j]);
        b->used[j] = 0;
    }
}

static brute brute_solve(int n, const double *M)
{
    brute b = {.n = n, .M = M, .best = -INFINITY, .second = -INFINITY};
    brute_rec(&b, 0, 0.0);
    return b;
}

/* ---- limits in tau ---- */

/* tau = 1e-3, optimum unique by a margin >= 0.05: Proj_tau is within 1e-3 of Proj_hard. */
static void test_small_tau(fm_rng *r)
{
    int perm[BRUTE_MAXN];
    fm_err err;
    for (int n = 2; n <= BRUTE_MAXN; n += 2) {
        brute b;
        do {
            fill_uniform(r, n * n, 1.0, M_);
            b = brute_solve(n, M_);
        } while (b.best - b.second < 0.05);
        fm_status st = run(n, opts_fast(1e-3, 1e-10, 2.0), M_, P_, NULL, &err);
        ok(st == FM_OK, "tau=1e-3 n=%d converges %s", n, err.msg);
        fm_err_clear(&err);
        ok(fm_sinkhorn_hard(n, M_, perm, Q_, &err) == FM_OK, "hard n=%d %s", n, err.msg);
        is_close(max_abs_diff(n * n, P_, Q_), 0.0, 1e-3, 0.0,
                 "tau=1e-3 n=%d: max |P - Phard| < 1e-3 (gap %.3f)", n, b.best - b.second);
    }
}

/* Both rows prefer column 0 at tau = 0.01: plain Sinkhorn's residual decays like 1/t (it would
 * need ~1e16 iterations here), epsilon scaling converges in a few dozen. */
static void test_competing_rows(void)
{
    const double M[4] = {0.952, -0.291, 0.527, 0.001};
    double P[4];
    fm_sinkhorn_info in = {0, 0, NAN};
    fm_err err;
    expect_status(run(2, opts_tol(0.01, 1e-9, 2000), M, P, NULL, &err), FM_ENUMERIC, &err,
                  "no convergence in 2000 iterations", "plain Sinkhorn, competing rows, tau 0.01");
    has_str(err.msg, "try epsilon scaling (tau_start)", "non-convergence message suggests scaling");
    fm_sinkhorn_opts o = {.tau = 0.01, .tol = 1e-12, .max_iters = 2000, .tau_start = 2.0};
    fm_status st = run(2, o, M, P, &in, &err);
    ok(st == FM_OK && in.iters < 100 && in.newton_steps == 0,
       "epsilon scaling converges in %d iterations %s", in.iters, err.msg);
    /* exact: p = 1 / (1 + exp(-(M00 + M11 - M01 - M10) / (2 tau))) on the diagonal */
    double p = 1.0 / (1.0 + exp(-(M[0] + M[3] - M[1] - M[2]) / 0.02));
    is_close(P[0], p, 1e-12, 0.0, "P[0][0] = closed form");
    is_close(P[1], 1.0 - p, 1e-12, 1e-9, "P[0][1] = closed form");
}

/* Large tau: P -> 1/n, with a deviation shrinking like 1/tau. */
static void test_large_tau(fm_rng *r)
{
    const int n = 5;
    double uniform[n * n], dev[4];
    fm_err err;
    for (int i = 0; i < n * n; i++)
        uniform[i] = 1.0 / n;
    fill_uniform(r, n * n, 1.0, M_);
    for (int k = 0; k < 4; k++) {
        double tau = 10.0 * pow(10.0, k);
        ok(run(n, opts_tol(tau, 1e-12, 1000), M_, P_, NULL, &err) == FM_OK, "tau=%g runs %s", tau,
           err.msg);
        dev[k] = max_abs_diff(n * n, P_, uniform);
    }
    is_close(dev[3], 0.0, 1e-4 / n, 0.0, "tau=1e4: max |P - 1/n| < 1e-4 / n");
    for (int k = 1; k < 4; k++)
        is_close(dev[k] / dev[k - 1], 0.1, 0.02, 0.0, "deviation from 1/n scales as 1/tau (%g -> %g)",
                 dev[k - 1], dev[k]);
}

/* ---- invariances ---- */

/* Adding constants to a row and a column of M leaves P unchanged (converged); a row shift alone
 * is absorbed exactly even after a fixed small number of iterations. */
static void test_shift_invariance(fm_rng *r)
{
    const int n = 7;
    fm_err err;
    for (int k = 0; k < 2; k++) {
        double tau = k ? 1.0 : 0.1;
        fill_uniform(r, n * n, 1.0, M_);
        memcpy(R_, M_, sizeof(double) * n * n);
        for (int j = 0; j < n; j++)
            R_[2 * n + j] += 3.7;
        for (int i = 0; i < n; i++)
            R_[i * n + 4] -= 12.5;
        ok(run(n, opts_fast(tau, 1e-13, 2.0), M_, P_, NULL, &err) == FM_OK, "base %s", err.msg);
        ok(run(n, opts_fast(tau, 1e-13, 2.0), R_, Q_, NULL, &err) == FM_OK, "shifted %s", err.msg);
        is_close(max_abs_diff(n * n, P_, Q_), 0.0, 1e-10, 0.0,
                 "tau=%g: row + column shift of M leaves P unchanged", tau);
        memcpy(R_, M_, sizeof(double) * n * n);
        for (int j = 0; j < n; j++)
            R_[5 * n + j] -= 40.0;
        ok(run(n, opts_fixed(tau, 3), M_, P_, NULL, &err) == FM_OK, "base 3 iterations %s", err.msg);
        ok(run(n, opts_fixed(tau, 3), R_, Q_, NULL, &err) == FM_OK, "row-shifted %s", err.msg);
        is_close(max_abs_diff(n * n, P_, Q_), 0.0, 1e-13, 0.0,
                 "tau=%g: row shift is exact after 3 iterations", tau);
    }
}

/* Uniform random permutation of 0..n-1. */
static void random_perm(fm_rng *r, int n, int *p)
{
    for (int i = 0; i < n; i++)
        p[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)fm_rng_below(r, (uint64_t)i + 1), t = p[i];
        p[i] = p[j], p[j] = t;
    }
}

/* M'[i][j] = M[s(i)][p(j)] gives P'[i][j] = P[s(i)][p(j)], converged or after 4 iterations. */
static void test_permutation_equivariance(fm_rng *r)
{
    const int n = 9;
    int s[n], p[n];
    fm_err err;
    fill_uniform(r, n * n, 1.0, M_);
    random_perm(r, n, s);
    random_perm(r, n, p);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            R_[i * n + j] = M_[s[i] * n + p[j]];
    for (int k = 0; k < 2; k++) {
        fm_sinkhorn_opts o = k ? opts_fixed(0.2, 4) : opts_fast(0.2, 1e-13, 2.0);
        ok(run(n, o, M_, P_, NULL, &err) == FM_OK, "base %s", err.msg);
        ok(run(n, o, R_, Q_, NULL, &err) == FM_OK, "permuted %s", err.msg);
        double worst = 0.0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                worst = fmax(worst, fabs(Q_[i * n + j] - P_[s[i] * n + p[j]]));
        is_close(worst, 0.0, 1e-12, 0.0, "%s: permuting rows/columns of M permutes P",
                 k ? "4 iterations" : "converged");
    }
}

/* ---- gradients ---- */

/* L = <G, P(M)> with a fresh workspace (NAN on failure). */
static double loss(int n, fm_sinkhorn_opts o, const double *M, const double *G)
{
    fm_err err;
    if (run(n, o, M, R_, NULL, &err) != FM_OK)
        return NAN;
    double l = 0.0;
    for (int i = 0; i < n * n; i++)
        l += G[i] * R_[i];
    return l;
}

/* dM = dL/dM by the unrolled (implicit = 0) or implicit backward, starting from dM = init. */
static fm_status grad(int n, fm_sinkhorn_opts o, const double *M, const double *G, int implicit,
                      double init, double *dM, fm_err *err)
{
    fm_sinkhorn_ws *ws = NULL;
    fm_err_clear(err);
    for (int i = 0; i < n * n; i++)
        dM[i] = init;
    fm_status st = fm_sinkhorn_ws_create(n, &o, &ws, err);
    if (st == FM_OK)
        st = fm_sinkhorn_forward(ws, M, P_, NULL, err);
    if (st == FM_OK)
        st = implicit ? fm_sinkhorn_backward_implicit(ws, G, dM, err)
                      : fm_sinkhorn_backward(ws, G, dM, err);
    fm_sinkhorn_ws_free(ws);
    return st;
}

/* Worst |num - ana| / (atol + rtol max(|num|, |ana|)) over all entries, central differences. */
static double fd_worst(int n, fm_sinkhorn_opts o, const double *G, const double *ana, double atol,
                       double rtol)
{
    const double h = 1e-6;
    double worst = 0.0, Mh[36];
    memcpy(Mh, M_, sizeof(double) * n * n);
    for (int k = 0; k < n * n; k++) {
        Mh[k] = M_[k] + h;
        double lp = loss(n, o, Mh, G);
        Mh[k] = M_[k] - h;
        double lm = loss(n, o, Mh, G);
        Mh[k] = M_[k];
        double num = (lp - lm) / (2.0 * h);
        double e = fabs(num - ana[k]) / (atol + rtol * fmax(fabs(num), fabs(ana[k])));
        worst = fmax(worst, isfinite(e) ? e : INFINITY);
    }
    return worst;
}

/* Largest |row sum| (cols = 0) or |column sum| (cols = 1) of an n x n matrix. */
static double max_line_sum(int n, const double *A, int cols)
{
    double worst = 0.0;
    for (int i = 0; i < n; i++) {
        double s = 0.0;
        for (int j = 0; j < n; j++)
            s += cols ? A[j * n + i] : A[i * n + j];
        worst = fmax(worst, fabs(s));
    }
    return worst;
}

static void test_grad_unrolled(fm_rng *r)
{
    static const int ns[] = {3, 6}, iters[] = {1, 4, 25};
    static const double taus[] = {0.3, 2.0};
    double G[36], dM[36];
    fm_err err;
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++)
            for (int c = 0; c < 3; c++) {
                int n = ns[a];
                fm_sinkhorn_opts o = opts_fixed(taus[b], iters[c]);
                fill_uniform(r, n * n, 1.0, M_);
                fill_normal(r, n * n, G);
                ok(grad(n, o, M_, G, 0, 0.0, dM, &err) == FM_OK, "unrolled backward %s", err.msg);
                double w = fd_worst(n, o, G, dM, 1e-9, 1e-7);
                ok(w <= 1.0, "unrolled gradient = finite differences, n=%d tau=%g iters=%d "
                   "(worst err / tol %.3g)", n, taus[b], iters[c], w);
                is_close(max_line_sum(n, dM, 0), 0.0, 1e-12, 0.0,
                         "unrolled gradient rows sum to 0, n=%d tau=%g iters=%d", n, taus[b], iters[c]);
            }
}

/* Fixed-count forward against a naive log-sum-exp iteration written here, on both sides of the
 * factored path's switch ((max M - min M) / tau <= 200 factored, above it log domain), and the
 * unrolled gradient against finite differences on the log-domain side too. */
static void test_fixed_paths(fm_rng *r)
{
    static const double spreads[] = {50.0, 190.0, 260.0}; /* max (max M - min M) / tau */
    const int n = 5, T = 7;
    const double tau = 0.3;
    double P[25], Q[25], u[5], v[5], G[25], dM[25];
    fm_err err;
    for (int k = 0; k < 3; k++) {
        fill_uniform(r, n * n, spreads[k] * tau / 2, M_);
        double lo = INFINITY, hi = -INFINITY;
        for (int q = 0; q < n * n; q++)
            lo = fmin(lo, M_[q]), hi = fmax(hi, M_[q]);
        for (int j = 0; j < n; j++)
            v[j] = 0.0;
        for (int t = 0; t < T; t++) {
            for (int i = 0; i < n; i++) {
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < n; j++)
                    mx = fmax(mx, (M_[i * n + j] + v[j]) / tau);
                for (int j = 0; j < n; j++)
                    sum += exp((M_[i * n + j] + v[j]) / tau - mx);
                u[i] = -tau * (mx + log(sum));
            }
            for (int j = 0; j < n; j++) {
                double mx = -INFINITY, sum = 0;
                for (int i = 0; i < n; i++)
                    mx = fmax(mx, (M_[i * n + j] + u[i]) / tau);
                for (int i = 0; i < n; i++)
                    sum += exp((M_[i * n + j] + u[i]) / tau - mx);
                v[j] = -tau * (mx + log(sum));
            }
        }
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                Q[i * n + j] = exp((M_[i * n + j] + u[i] + v[j]) / tau);
        ok(run(n, opts_fixed(tau, T), M_, P, NULL, &err) == FM_OK, "fixed-count forward, spread / tau %g %s",
           spreads[k], err.msg);
        is_close(max_abs_diff(n * n, P, Q), 0.0, 1e-12, 0.0,
                 "fixed-count plan = a naive log-sum-exp iteration, spread / tau = %.0f (%s path)", (hi - lo) / tau,
                 (hi - lo) / tau <= 200 ? "factored" : "log-domain");
        fill_normal(r, n * n, G);
        ok(grad(n, opts_fixed(tau, T), M_, G, 0, 0.0, dM, &err) == FM_OK, "unrolled backward %s", err.msg);
        double w = fd_worst(n, opts_fixed(tau, T), G, dM, 1e-7, 1e-5);
        ok(w <= 1.0, "unrolled gradient = finite differences, spread / tau = %g (worst err / tol %.3g)", spreads[k], w);
    }
}

static void test_grad_implicit(fm_rng *r)
{
    static const int ns[] = {3, 6};
    static const double taus[] = {0.3, 2.0};
    double G[36], dM[36], dU[36];
    fm_err err;
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) {
            int n = ns[a];
            fm_sinkhorn_opts o = opts_tol(taus[b], 1e-14, 10000);
            fill_uniform(r, n * n, 1.0, M_);
            fill_normal(r, n * n, G);
            ok(grad(n, o, M_, G, 1, 0.0, dM, &err) == FM_OK, "implicit backward %s", err.msg);
            double w = fd_worst(n, o, G, dM, 1e-7, 1e-6);
            ok(w <= 1.0, "implicit gradient = finite differences of the converged map, n=%d tau=%g "
               "(worst err / tol %.3g)", n, taus[b], w);
            ok(grad(n, o, M_, G, 0, 0.0, dU, &err) == FM_OK, "unrolled backward %s", err.msg);
            is_close(max_abs_diff(n * n, dM, dU), 0.0, 1e-9, 0.0,
                     "implicit = unrolled gradient at convergence, n=%d tau=%g", n, taus[b]);
            is_close(fmax(max_line_sum(n, dM, 0), max_line_sum(n, dM, 1)), 0.0, 1e-12, 0.0,
                     "implicit gradient rows and columns sum to 0, n=%d tau=%g", n, taus[b]);
        }
}

/* Until tol with epsilon scaling (no Newton): the unrolled gradient differentiates the recorded
 * iterations at every temperature; finite differences of the same map agree (a perturbation of
 * 1e-6 does not move the stage switches or the stop). */
static void test_grad_scaled(fm_rng *r)
{
    double G[36], dM[36];
    fm_err err;
    for (int n = 3; n <= 6; n += 3) {
        fm_sinkhorn_opts o = {.tau = 0.05, .tol = 1e-8, .max_iters = 5000, .tau_start = 2.0};
        fm_sinkhorn_info in = {0, 0, NAN};
        fill_uniform(r, n * n, 1.0, M_);
        fill_normal(r, n * n, G);
        fm_status st = run(n, o, M_, P_, &in, &err);
        ok(st == FM_OK && in.iters > 6, "scaled forward: %d iterations %s", in.iters, err.msg);
        ok(grad(n, o, M_, G, 0, 0.0, dM, &err) == FM_OK, "unrolled backward %s", err.msg);
        double w = fd_worst(n, o, G, dM, 1e-8, 1e-7);
        ok(w <= 1.0, "unrolled gradient through epsilon scaling = finite differences, n=%d "
           "(worst err / tol %.3g)", n, w);
    }
}

/* A forward finished by Newton steps: the unrolled backward refuses, the implicit one matches
 * finite differences. */
static void test_grad_newton(fm_rng *r)
{
    const int n = 5;
    fm_sinkhorn_opts o = {.tau = 0.2, .tol = 1e-13, .max_iters = 100, .newton = 1};
    fm_sinkhorn_info in = {0, 0, NAN};
    double G[25], dM[25];
    fm_err err;
    fill_uniform(r, n * n, 1.0, M_);
    fill_normal(r, n * n, G);
    fm_status st = run(n, o, M_, P_, &in, &err);
    ok(st == FM_OK && in.newton_steps > 0 && in.residual < 1e-13,
       "Newton finish: %d iterations, %d Newton steps, residual %.2g %s", in.iters, in.newton_steps,
       in.residual, err.msg);
    is_close(sum_residual(n, P_), 0.0, 1e-12, 0.0, "Newton finish: rows and columns sum to 1");
    expect_status(grad(n, o, M_, G, 0, 0.0, dM, &err), FM_EINVAL, &err,
                  "ended with", "unrolled backward after Newton steps");
    has_str(err.msg, "use fm_sinkhorn_backward_implicit", "message points to the implicit backward");
    ok(grad(n, o, M_, G, 1, 0.0, dM, &err) == FM_OK, "implicit backward after Newton %s", err.msg);
    double w = fd_worst(n, o, G, dM, 1e-6, 1e-6);
    ok(w <= 1.0, "implicit gradient after Newton = finite differences (worst err / tol %.3g)", w);
}

/* Both backward passes add to dM instead of overwriting it. */
static void test_accumulate(fm_rng *r)
{
    const int n = 4;
    double G[16], d0[16], d1[16];
    fm_err err;
    fill_uniform(r, n * n, 1.0, M_);
    fill_normal(r, n * n, G);
    for (int implicit = 0; implicit < 2; implicit++) {
        fm_sinkhorn_opts o = opts_tol(0.5, 1e-12, 10000);
        ok(grad(n, o, M_, G, implicit, 0.0, d0, &err) == FM_OK, "from 0 %s", err.msg);
        ok(grad(n, o, M_, G, implicit, 1.5, d1, &err) == FM_OK, "from 1.5 %s", err.msg);
        for (int i = 0; i < n * n; i++)
            d1[i] -= 1.5;
        is_close(max_abs_diff(n * n, d0, d1), 0.0, 1e-14, 0.0, "%s backward accumulates (+=)",
                 implicit ? "implicit" : "unrolled");
    }
}

/* ---- hard projection ---- */

static void test_hard(fm_rng *r)
{
    int perm[BRUTE_MAXN];
    double Ph[BRUTE_MAXN * BRUTE_MAXN];
    fm_err err;
    for (int n = 1; n <= 7; n++) {
        int good = 1;
        for (int t = 0; t < 40; t++) {
            fill_uniform(r, n * n, t % 2 ? 1e3 : 1.0, M_);
            fm_err_clear(&err);
            good &= fm_sinkhorn_hard(n, M_, perm, Ph, &err) == FM_OK;
            brute b = brute_solve(n, M_);
            double sum = 0.0, ones = 0.0;
            for (int i = 0; i < n; i++)
                sum += M_[i * n + perm[i]], ones += Ph[i * n + perm[i]];
            double total = 0.0;
            for (int i = 0; i < n * n; i++)
                total += Ph[i];
            good &= fabs(sum - b.best) <= 1e-12 * fmax(1.0, fabs(b.best)) && ones == n && total == n;
        }
        ok(good, "hard projection = brute force optimum, 0/1 matrix matches perm, n=%d", n);
    }
    ok(fm_sinkhorn_hard(3, M_, perm, NULL, &err) == FM_OK, "Phard may be NULL");
}

/* ---- errors ---- */

static void test_create_errors(void)
{
    static char sentinel;
    fm_sinkhorn_ws *ws = NULL;
    fm_sinkhorn_opts o;
    fm_err err;
    struct {
        int n;
        fm_sinkhorn_opts o;
        const char *needle;
    } cases[] = {
        {0, opts_fixed(1.0, 5), "n = 0, expected n >= 1"},
        {3, opts_fixed(0.0, 5), "tau = 0, expected a finite tau > 0"},
        {3, opts_fixed(-1.0, 5), "tau = -1"},
        {3, opts_fixed(NAN, 5), "expected a finite tau > 0"},
        {3, opts_fixed(1.0, -2), "iters = -2"},
        {3, opts_tol(1.0, 0.0, 10), "tol = 0, expected a finite tol > 0"},
        {3, opts_tol(1.0, 1e-9, 0), "max_iters = 0"},
        {3, {.tau = 1.0, .iters = 5, .tau_start = 2.0}, "both apply only when iters = 0"},
        {3, {.tau = 1.0, .iters = 5, .newton = 3}, "both apply only when iters = 0"},
        {3, {.tau = 1.0, .tol = 1e-9, .max_iters = 9, .tau_start = -1.0}, "tau_start = -1"},
        {3, {.tau = 1.0, .tol = 1e-9, .max_iters = 9, .newton = -1}, "newton = -1, expected >= 0"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        fm_err_clear(&err);
        o = cases[k].o;
        ws = (fm_sinkhorn_ws *)(void *)&sentinel; /* must be reset to NULL */
        expect_status(fm_sinkhorn_ws_create(cases[k].n, &o, &ws, &err), FM_EINVAL, &err, cases[k].needle,
               cases[k].needle);
        ok(ws == NULL, "failed create leaves *out NULL");
    }
    fm_err_clear(&err);
    expect_status(fm_sinkhorn_ws_create(3, NULL, &ws, &err), FM_EINVAL, &err, "options are NULL",
           "NULL options");
    fm_sinkhorn_ws_free(NULL);
}

static void test_forward_errors(fm_rng *r)
{
    const int n = 5;
    fm_sinkhorn_opts o = opts_tol(0.1, 1e-12, 1);
    fm_sinkhorn_ws *ws = NULL;
    double dM[25] = {0};
    fm_err err;
    fm_err_clear(&err);
    ok(fm_sinkhorn_ws_create(n, &o, &ws, &err) == FM_OK, "create %s", err.msg);
    expect_status(fm_sinkhorn_backward(ws, M_, dM, &err), FM_EINVAL, &err, "no successful forward",
           "backward before forward");
    fill_uniform(r, n * n, 1.0, M_);
    fm_err_clear(&err);
    expect_status(fm_sinkhorn_forward(ws, M_, P_, NULL, &err), FM_ENUMERIC, &err,
           "no convergence in 1 iterations (residual", "max_iters 1, tol 1e-12");
    has_str(err.msg, "tol 1e-12, tau 0.1, n 5", "non-convergence message gives tol, tau, n");
    fm_err_clear(&err);
    expect_status(fm_sinkhorn_backward(ws, M_, dM, &err), FM_EINVAL, &err, "no successful forward",
           "backward after a failed forward");
    M_[1 * n + 2] = NAN;
    fm_err_clear(&err);
    expect_status(fm_sinkhorn_forward(ws, M_, P_, NULL, &err), FM_EINVAL, &err, "sinkhorn: M[1][2] = ",
           "NaN entry");
    has_str(err.msg, "is not finite", "NaN entry: says not finite");
    M_[1 * n + 2] = 0.5, M_[4 * n + 0] = -INFINITY;
    fm_err_clear(&err);
    expect_status(fm_sinkhorn_forward(ws, M_, P_, NULL, &err), FM_EINVAL, &err, "M[4][0] = -inf",
           "-inf entry");
    fm_err_clear(&err);
    expect_status(fm_sinkhorn_forward(ws, NULL, P_, NULL, &err), FM_EINVAL, &err, "M is NULL", "NULL M");
    fm_sinkhorn_ws_free(ws);
}

static void test_other_errors(fm_rng *r)
{
    const int n = 3;
    fm_sinkhorn_opts o = opts_fixed(1e-10, 2);
    double M[9] = {0, 1, 2, 3, 1e300, 5, 6, 7, 8}, P[9], dM[9] = {0};
    int perm[3];
    fm_sinkhorn_ws *ws = NULL;
    fm_err err;
    fm_err_clear(&err);
    ok(fm_sinkhorn_ws_create(n, &o, &ws, &err) == FM_OK, "create %s", err.msg);
    expect_status(fm_sinkhorn_forward(ws, M, P, NULL, &err), FM_EINVAL, &err,
           "M[1][1] / tau = inf is out of range", "M / tau overflows");
    fm_sinkhorn_ws_free(ws);
    /* tau tiny against the gaps: P is a permutation to rounding, the implicit system singular */
    double Mi[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1}, G[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    o = opts_tol(1e-3, 1e-10, 100);
    fm_err_clear(&err);
    ok(fm_sinkhorn_ws_create(n, &o, &ws, &err) == FM_OK, "create %s", err.msg);
    ok(fm_sinkhorn_forward(ws, Mi, P, NULL, &err) == FM_OK, "forward %s", err.msg);
    expect_status(fm_sinkhorn_backward_implicit(ws, G, dM, &err), FM_ENUMERIC, &err, "singular system",
           "implicit backward at a permutation");
    fm_sinkhorn_ws_free(ws);
    /* a tolerance below rounding: Newton stops making progress */
    fill_uniform(r, 32 * 32, 1.0, M_);
    o = (fm_sinkhorn_opts){.tau = 0.5, .tol = 1e-30, .max_iters = 10, .newton = 2};
    expect_status(run(32, o, M_, P_, NULL, &err), FM_ENUMERIC, &err, "sinkhorn: no convergence",
                  "Newton below rounding");
    has_str(err.msg, "tol 1e-30", "Newton failure message gives tol");
    fm_err_clear(&err);
    expect_status(fm_sinkhorn_hard(0, M, perm, NULL, &err), FM_EINVAL, &err,
           "sinkhorn_hard: n = 0, expected n >= 1", "hard n = 0");
    M[0 * n + 1] = NAN;
    fm_err_clear(&err);
    expect_status(fm_sinkhorn_hard(n, M, perm, NULL, &err), FM_EINVAL, &err, "sinkhorn_hard: M[0][1] = ",
           "hard NaN entry");
    fm_err_clear(&err);
    expect_status(fm_sinkhorn_hard(n, Mi, NULL, NULL, &err), FM_EINVAL, &err, "perm is NULL",
           "hard NULL perm");
}

int main(void)
{
    fm_rng r;
    fm_rng_seed(&r, 11, 0, FM_STREAM_MERGE);
    test_sums(&r, 0);
    test_sums(&r, 1);
    test_small_tau(&r);
    test_competing_rows();
    test_large_tau(&r);
    test_shift_invariance(&r);
    test_permutation_equivariance(&r);
    test_grad_unrolled(&r);
    test_grad_implicit(&r);
    test_grad_scaled(&r);
    test_grad_newton(&r);
    test_accumulate(&r);
    test_hard(&r);
    test_create_errors();
    test_forward_errors(&r);
    test_other_errors(&r);
    test_fixed_paths(&r); /* last: the tests above keep their random draws */
    return done_testing();
}
