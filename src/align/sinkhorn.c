/* sinkhorn.c - log-domain Sinkhorn projection (Eq. 3.2), its unrolled and implicit backward
 * passes, and the hard projection by linear assignment.
 *
 * Eq. 3.2: maximize <M, P> + tau H(P), H(P) = -sum_ij P_ij log P_ij, over P >= 0 with P 1 = 1,
 * P' 1 = 1. With multipliers u_i, v_j for the row and column sums, stationarity reads
 * M_ij + u_i + v_j - tau (log P_ij + 1) = 0, so (absorbing the constant)
 *     P_ij = exp((M_ij + u_i + v_j) / tau),
 * the Sinkhorn form diag(e^(u/tau)) exp(M / tau) diag(e^(v/tau)). The duals u, v (units of M)
 * are found by alternately enforcing the row and the column sums (iteration t, v_0 = 0):
 *     u_t = -tau_t LSE_j((M_ij + v_{t-1,j}) / tau_t)   (rows of exp((M + u_t + v_{t-1}) / tau_t)),
 *     v_t = -tau_t LSE_i((M_ij + u_{t,i}) / tau_t)     (columns of exp((M + u_t + v_t) / tau_t)),
 * with LSE the log-sum-exp evaluated after subtracting the maximum: every exp() argument is <= 0,
 * so nothing overflows however small tau is. tau_t is the epsilon-scaling schedule (tau_t = tau
 * without it). u_t and v_t are recorded for the backward pass.
 *
 * Newton finish: with v eliminated (v = v(u), exact column normalization), the remaining
 * equations are the row sums r(u) = P 1 = 1, with Jacobian (diag(r) - P P') / tau: the Hessian of
 * the concave dual (Sinkhorn-Newton). It is singular along u + c 1 (a gauge), fixed by adding
 * 1 1' / n; the step du solves (diag(r) - P P' + 1 1'/n) du = tau (1 - r), halved until the
 * residual decreases.
 *
 * Unrolled backward (reverse mode). The softmax weights are the derivatives of the soft-min:
 * d u_t,i / d(M_ij, v_{t-1,j}) = -R_ij with R = exp((M + u_t + v_{t-1}) / tau_t) (row-stochastic),
 * d v_t,j / d(M_ij, u_t,i) = -Q_ij with Q = exp((M + u_t + v_t) / tau_t) (column-stochastic).
 * With A = dP o P: Mbar = A / tau, ubar = A 1 / tau, vbar = A' 1 / tau for the output, then for
 * t = T..1:
 *     Mbar -= vbar_j Q_ij,  ubar_i -= sum_j vbar_j Q_ij;
 *     Mbar -= ubar_i R_ij,  vbar(t-1)_j = -sum_i ubar_i R_ij,  ubar <- 0.
 * Mbar is accumulated directly into dM.
 */
#include "sinkhorn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "la/la.h"
#include "lap.h"

#define SK_KMAX 1e300      /* largest |M / tau|: potentials reach a few times max |M| */
#define SK_DECAY 0.5       /* epsilon scaling: temperature factor per stage */
#define SK_STAGE_TOL 1e-3  /* epsilon scaling: residual that ends a stage above tau */
#define SK_STAGE_MAX 100   /* epsilon scaling: iterations that end a stage anyway */
#define SK_NEWTON_MAX 50   /* Newton steps */
#define SK_PIVOT_MIN 1e-13 /* Cholesky pivots of the (O(1)) Schur systems must exceed this */
#define SK_FAST_SPREAD 200 /* fixed-count mode with (max M - min M) / tau below this: factored exps */

struct fm_sinkhorn_ws {
    int n, cap;         /* size; recorded iterations available (iters or max_iters) */
    fm_sinkhorn_opts o; /* options (copied) */
    int iters_done;     /* T of the last successful forward, 0 if none */
    int newton_steps;   /* Newton steps of the last successful forward */
    double residual;    /* row residual of the last forward */
    double *M;          /* [n][n] copy of the scores */
    double *taus;       /* [cap] temperature of iteration t at t - 1 */
    double *u;          /* [cap][n] u_t at (t - 1) n */
    double *v;          /* [cap + 1][n] v_t at t n; v_0 = 0 */
    double *P, *S;      /* [n][n] scratch: plan and Schur system (Newton, implicit backward) */
    double *uf, *vf;    /* [n] final potentials (last iterate or Newton's) */
    double *s, *tmp, *ubar, *vbar, *r; /* [n] scratch */
    /* Factored exponentials (fixed-count mode, moderate spread of M / tau): every
     * exp((M_ij + u_i + v_j) / tau) of the iterations and of the unrolled backward is
     * E_ij a_i b_j with E = exp((M - mmax) / tau) computed once per forward, a = exp((u + mmax) /
     * tau), b = exp(v / tau): n^2 exponentials per forward instead of ~4 n^2 per iteration, and the
     * sums become matrix-vector products (BLAS). All factors stay within e^(+-210). */
    int fast;
    double mmax;
    double *E;                 /* [n][n] */
    double *ea, *eb, *z, *y;   /* [n] scratch */
};

/* ---- options and inputs ---- */

static fm_status sk_check_opts(int n, const fm_sinkhorn_opts *o, fm_err *err)
{
    fm_status status = FM_OK;
    FM_CHECK(n >= 1, FM_EINVAL, "sinkhorn: n = %d, expected n >= 1", n);
    FM_CHECK(o != NULL, FM_EINVAL, "sinkhorn: options are NULL");
    FM_CHECK(isfinite(o->tau) && o->tau > 0.0, FM_EINVAL,
             "sinkhorn: tau = %g, expected a finite tau > 0", o->tau);
    FM_CHECK(o->iters >= 0, FM_EINVAL,
             "sinkhorn: iters = %d, expected > 0 (fixed count) or 0 (until tol)", o->iters);
    if (o->iters > 0) {
        FM_CHECK(o->tau_start == 0.0 && o->newton == 0, FM_EINVAL,
                 "sinkhorn: tau_start = %g, newton = %d: both apply only when iters = 0 (got %d)",
                 o->tau_start, o->newton, o->iters);
        goto cleanup;
    }
    FM_CHECK(isfinite(o->tol) && o->tol > 0.0, FM_EINVAL,
             "sinkhorn: tol = %g, expected a finite tol > 0 when iters = 0", o->tol);
    FM_CHECK(o->max_iters >= 1, FM_EINVAL,
             "sinkhorn: max_iters = %d, expected >= 1 when iters = 0", o->max_iters);
    FM_CHECK(isfinite(o->tau_start) && o->tau_start >= 0.0, FM_EINVAL,
             "sinkhorn: tau_start = %g, expected 0 (no epsilon scaling) or > tau", o->tau_start);
    FM_CHECK(o->newton >= 0, FM_EINVAL, "sinkhorn: newton = %d, expected >= 0", o->newton);
cleanup:
    return status;
}

/* Every M[i][j] finite; `who` prefixes the message. */
static fm_status sk_check_finite(int n, const double *M, const char *who, fm_err *err)
{
    fm_status status = FM_OK;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            FM_CHECK(isfinite(M[(size_t)i * n + j]), FM_EINVAL, "%s: M[%d][%d] = %g is not finite",
                     who, i, j, M[(size_t)i * n + j]);
cleanup:
    return status;
}

/* Copy M into the workspace, rejecting entries with |M / tau| too large. */
static fm_status sk_load(fm_sinkhorn_ws *w, const double *M, fm_err *err)
{
    fm_status status = FM_OK;
    size_t n = (size_t)w->n;
    FM_TRY(sk_check_finite(w->n, M, "sinkhorn", err));
    for (size_t k = 0; k < n * n; k++) {
        double q = M[k] / w->o.tau;
        FM_CHECK(fabs(q) <= SK_KMAX, FM_EINVAL,
                 "sinkhorn: M[%zu][%zu] / tau = %g is out of range (|M / tau| <= %g)", k / n,
                 k % n, q, SK_KMAX);
    }
    memmove(w->M, M, sizeof(*M) * n * n);
    double lo = INFINITY, hi = -INFINITY;
    for (size_t k = 0; k < n * n; k++)
        lo = fmin(lo, w->M[k]), hi = fmax(hi, w->M[k]);
    w->fast = w->o.iters > 0 && (hi - lo) / w->o.tau <= SK_FAST_SPREAD;
    w->mmax = hi;
    for (size_t k = 0; w->fast && k < n * n; k++)
        w->E[k] = exp((w->M[k] - hi) / w->o.tau);
cleanup:
    return status;
}

/* ---- workspace ---- */

fm_status fm_sinkhorn_ws_create(int n, const fm_sinkhorn_opts *o, fm_sinkhorn_ws **out, fm_err *err)
{
    fm_status status = FM_OK;
    fm_sinkhorn_ws *w = NULL;
    FM_CHECK(out != NULL, FM_EINVAL, "sinkhorn: out is NULL");
    *out = NULL;
    FM_TRY(sk_check_opts(n, o, err));
    FM_ALLOC(w, 1);
    w->n = n;
    w->o = *o;
    w->cap = o->iters > 0 ? o->iters : o->max_iters;
    w->residual = NAN;
    FM_ALLOC(w->taus, w->cap);
    FM_ALLOC(w->M, (size_t)n * n);
    FM_ALLOC(w->u, (size_t)w->cap * n);
    FM_ALLOC(w->v, ((size_t)w->cap + 1) * n);
    FM_ALLOC(w->P, (size_t)n * n);
    FM_ALLOC(w->S, (size_t)n * n);
    FM_ALLOC(w->uf, n);
    FM_ALLOC(w->vf, n);
    FM_ALLOC(w->s, n);
    FM_ALLOC(w->tmp, n);
    FM_ALLOC(w->ubar, n);
    FM_ALLOC(w->vbar, n);
    FM_ALLOC(w->r, n);
    if (o->iters > 0) { /* the factored path (fixed-count mode only) */
        FM_ALLOC(w->E, (size_t)n * n);
        FM_ALLOC(w->ea, n);
        FM_ALLOC(w->eb, n);
        FM_ALLOC(w->z, n);
        FM_ALLOC(w->y, n);
    }
    *out = w;
    w = NULL;
cleanup:
    fm_sinkhorn_ws_free(w);
    return status;
}

void fm_sinkhorn_ws_free(fm_sinkhorn_ws *ws)
{
    if (!ws)
        return;
    free(ws->M), free(ws->taus), free(ws->u), free(ws->v), free(ws->P), free(ws->S);
    free(ws->uf), free(ws->vf), free(ws->s), free(ws->tmp), free(ws->ubar), free(ws->vbar);
    free(ws->r), free(ws->E), free(ws->ea), free(ws->eb), free(ws->z), free(ws->y);
    free(ws);
}

/* ---- Sinkhorn iterations ---- */

/* s_i = LSE_j((M_ij + v_j) / tau). */
static void sk_row_lse(int n, const double *M, const double *v, double tau, double *s)
{
    double inv = 1.0 / tau;
    for (int i = 0; i < n; i++) {
        const double *m = M + (size_t)i * n;
        double mx = -INFINITY, sum = 0.0;
        for (int j = 0; j < n; j++)
            mx = m[j] + v[j] > mx ? m[j] + v[j] : mx;
        for (int j = 0; j < n; j++)
            sum += exp((m[j] + v[j] - mx) * inv);
        s[i] = mx * inv + log(sum);
    }
}

/* v_j = -tau LSE_i((M_ij + u_i) / tau), row-major friendly; mx: n scratch. */
static void sk_col_normalize(int n, const double *M, const double *u, double tau, double *v,
                             double *mx)
{
    double inv = 1.0 / tau;
    for (int j = 0; j < n; j++)
        mx[j] = -INFINITY, v[j] = 0.0;
    for (int i = 0; i < n; i++) {
        const double *m = M + (size_t)i * n;
        for (int j = 0; j < n; j++)
            mx[j] = m[j] + u[i] > mx[j] ? m[j] + u[i] : mx[j];
    }
    for (int i = 0; i < n; i++) {
        const double *m = M + (size_t)i * n;
        for (int j = 0; j < n; j++)
            v[j] += exp((m[j] + u[i] - mx[j]) * inv);
    }
    for (int j = 0; j < n; j++)
        v[j] = -tau * (mx[j] * inv + log(v[j]));
}

/* P_ij = exp((M_ij + u_i + v_j) / tau). */
static void sk_plan(int n, const double *M, const double *u, const double *v, double tau, double *P)
{
    double inv = 1.0 / tau;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            P[(size_t)i * n + j] = exp((M[(size_t)i * n + j] + u[i] + v[j]) * inv);
}

/* ---- the factored path (w->fast) ---- */

/* e_i = exp((x_i + shift) / tau). */
static void sk_expv(int n, const double *x, double shift, double tau, double *e)
{
    for (int i = 0; i < n; i++)
        e[i] = exp((x[i] + shift) / tau);
}

/* y = E x (trans 0) or E' x (trans 1). */
static void sk_matvec(const fm_sinkhorn_ws *w, int trans, const double *x, double *y)
{
    la_gemv(trans, w->n, w->n, 1.0, w->E, x, 0.0, y);
}

/* s_i = LSE_j((M_ij + v_j) / tau) = mmax / tau + log (E b)_i. */
static void sk_row_lse_fast(fm_sinkhorn_ws *w, const double *v, double tau, double *s)
{
    sk_expv(w->n, v, 0.0, tau, w->eb);
    sk_matvec(w, 0, w->eb, s);
    for (int i = 0; i < w->n; i++)
        s[i] = w->mmax / tau + log(s[i]);
}

/* v_j = -tau LSE_i((M_ij + u_i) / tau) = -tau log (E' a)_j. */
static void sk_col_normalize_fast(fm_sinkhorn_ws *w, const double *u, double tau, double *v)
{
    sk_expv(w->n, u, w->mmax, tau, w->ea);
    sk_matvec(w, 1, w->ea, v);
    for (int j = 0; j < w->n; j++)
        v[j] = -tau * log(v[j]);
}

/* P_ij = E_ij a_i b_j. */
static void sk_plan_fast(fm_sinkhorn_ws *w, const double *u, const double *v, double *P)
{
    int n = w->n;
    sk_expv(n, u, w->mmax, w->o.tau, w->ea);
    sk_expv(n, v, 0.0, w->o.tau, w->eb);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            P[(size_t)i * n + j] = w->E[(size_t)i * n + j] * w->ea[i] * w->eb[j];
}

/* Iteration t at temperature tau, from w->s = LSE_j((M_ij + v_{t-1,j}) / tau); leaves
 * w->s = LSE_j((M_ij + v_t,j) / tau), the next row step. Returns the residual: row sums of
 * exp((M + u_t + v_t) / tau) are exp(u_t / tau + s). */
static double sk_step(fm_sinkhorn_ws *w, int t, double tau)
{
    int n = w->n;
    double *u = w->u + (size_t)(t - 1) * n, *v = w->v + (size_t)t * n, r = 0.0;
    w->taus[t - 1] = tau;
    for (int i = 0; i < n; i++)
        u[i] = -tau * w->s[i];
    if (w->fast) {
        sk_col_normalize_fast(w, u, tau, v);
        sk_row_lse_fast(w, v, tau, w->s);
    } else {
        sk_col_normalize(n, w->M, u, tau, v, w->tmp);
        sk_row_lse(n, w->M, v, tau, w->s);
    }
    for (int i = 0; i < n; i++)
        r = fmax(r, fabs(expm1(u[i] / tau + w->s[i])));
    return isnan(r) ? INFINITY : r;
}

/* Recorded iterations with the epsilon-scaling schedule (iters = 0) until the residual < tol at
 * tau, or until opts.newton iterations at tau (*newton = 1: Newton steps to follow). */
static fm_status sk_sinkhorn(fm_sinkhorn_ws *w, int *newton, fm_err *err)
{
    fm_status status = FM_OK;
    const fm_sinkhorn_opts *o = &w->o;
    double tau = o->iters == 0 && o->tau_start > o->tau ? o->tau_start : o->tau, r = INFINITY;
    double r_tau = tau;    /* temperature at which r was measured */
    int at_tau = 0, t = 0; /* iterations at the current temperature; done */
    *newton = 0;
    if (w->fast) /* v_0 = 0 (never written) */
        sk_row_lse_fast(w, w->v, tau, w->s);
    else
        sk_row_lse(w->n, w->M, w->v, tau, w->s);
    while (o->iters == 0 || t < o->iters) {
        FM_CHECK(t < w->cap, FM_ENUMERIC,
                 "sinkhorn: no convergence in %d iterations (residual %.3g at temperature %g, "
                 "tol %.3g, tau %g, n %d); try epsilon scaling (tau_start) or newton",
                 t, r, r_tau, o->tol, o->tau, w->n);
        r = sk_step(w, ++t, tau), r_tau = tau;
        at_tau++;
        if (o->iters > 0)
            continue;
        if (tau > o->tau && (r < SK_STAGE_TOL || at_tau >= SK_STAGE_MAX)) {
            tau = fmax(o->tau, tau * SK_DECAY), at_tau = 0;
            sk_row_lse(w->n, w->M, w->v + (size_t)t * w->n, tau, w->s);
        } else if (tau == o->tau && r < o->tol) {
            break;
        } else if (tau == o->tau && o->newton > 0 && at_tau >= o->newton) {
            *newton = 1;
            break;
        }
    }
    w->iters_done = t;
    w->residual = r;
cleanup:
    return status;
}

/* ---- Newton finish ---- */

/* In-place Cholesky S = L L' (lower triangle); 0 on success, 1 at a pivot <= SK_PIVOT_MIN
 * (the pivot is left in *pivot). */
static int sk_cholesky(int n, double *S, double *pivot)
{
    for (int j = 0; j < n; j++) {
        double *sj = S + (size_t)j * n, d = sj[j];
        for (int k = 0; k < j; k++)
            d -= sj[k] * sj[k];
        if (!(d > SK_PIVOT_MIN)) {
            *pivot = d;
            return 1;
        }
        sj[j] = sqrt(d);
        for (int i = j + 1; i < n; i++) {
            double *si = S + (size_t)i * n, x = si[j];
            for (int k = 0; k < j; k++)
                x -= si[k] * sj[k];
            si[j] = x / sj[j];
        }
    }
    return 0;
}

/* x <- (L L')^{-1} x with L from sk_cholesky. */
static void sk_chol_solve(int n, const double *L, double *x)
{
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < i; k++)
            x[i] -= L[(size_t)i * n + k] * x[k];
        x[i] /= L[(size_t)i * n + i];
    }
    for (int i = n - 1; i >= 0; i--) {
        for (int k = i + 1; k < n; k++)
            x[i] -= L[(size_t)k * n + i] * x[k];
        x[i] /= L[(size_t)i * n + i];
    }
}

/* S = diag(r + lambda) - P P' + 1 1' / n (lower triangle). With P' 1 = 1 and r = P 1,
 * (diag(r) - P P') 1 = 0; it is positive semi-definite (diagonally dominant) and for P > 0 this is
 * its only null direction, which 1 1' / n lifts: S is positive definite (in exact arithmetic). */
static void sk_build_system(int n, const double *P, const double *r, double lambda, double *S)
{
    for (int i = 0; i < n; i++)
        for (int k = 0; k <= i; k++) {
            double d = 0.0;
            for (int j = 0; j < n; j++)
                d += P[(size_t)i * n + j] * P[(size_t)k * n + j];
            S[(size_t)i * n + k] = (i == k ? r[i] + lambda : 0.0) - d + 1.0 / n;
        }
}

/* v <- exact column normalization for u at tau; w->P = exp((M + u + v) / tau); w->r = P 1.
 * Returns max_i |r_i - 1| (inf if not finite). */
static double sk_eval(fm_sinkhorn_ws *w, const double *u, double *v)
{
    int n = w->n;
    double res = 0.0;
    sk_col_normalize(n, w->M, u, w->o.tau, v, w->tmp);
    sk_plan(n, w->M, u, v, w->o.tau, w->P);
    for (int i = 0; i < n; i++) {
        w->r[i] = 0.0;
        for (int j = 0; j < n; j++)
            w->r[i] += w->P[(size_t)i * n + j];
        res = fmax(res, fabs(w->r[i] - 1.0));
    }
    return isnan(res) ? INFINITY : res;
}

/* du = (diag(r) - P P' + 1 1'/n + lambda I)^{-1} tau (1 - r) at w->P, w->r, with the smallest
 * lambda in {0, 1e-12, 1e-10, ..., 1e-2} that factors. 0 on success. */
static int sk_newton_direction(fm_sinkhorn_ws *w, double *du)
{
    double pivot = 0.0;
    for (int k = 0; k <= 6; k++) {
        sk_build_system(w->n, w->P, w->r, k ? pow(10.0, 2 * k - 14) : 0.0, w->S);
        if (sk_cholesky(w->n, w->S, &pivot) == 0) {
            for (int i = 0; i < w->n; i++)
                du[i] = w->o.tau * (1.0 - w->r[i]);
            sk_chol_solve(w->n, w->S, du);
            return 0;
        }
    }
    return 1;
}

/* Damped Newton steps on u (v eliminated) from w->uf until the residual < tol. */
static fm_status sk_newton(fm_sinkhorn_ws *w, fm_err *err)
{
    fm_status status = FM_OK;
    int n = w->n, k = 0;
    double *du = w->ubar, *u2 = w->vbar, *v2 = w->s, res = sk_eval(w, w->uf, w->vf), res2 = res;
    for (; k < SK_NEWTON_MAX && !(res < w->o.tol); k++) {
        FM_CHECK(sk_newton_direction(w, du) == 0, FM_ENUMERIC,
                 "sinkhorn: Newton system singular after %d steps (residual %.3g)", k, res);
        double a = 1.0;
        for (int ls = 0; ls < 40; ls++, a *= 0.5) {
            for (int i = 0; i < n; i++)
                u2[i] = w->uf[i] + a * du[i];
            if ((res2 = sk_eval(w, u2, v2)) < res)
                break;
        }
        FM_CHECK(res2 < res, FM_ENUMERIC,
                 "sinkhorn: no convergence: Newton step %d made no progress (residual %.3g, "
                 "tol %.3g, tau %g, n %d)", k + 1, res, w->o.tol, w->o.tau, n);
        memcpy(w->uf, u2, sizeof(*u2) * (size_t)n);
        memcpy(w->vf, v2, sizeof(*v2) * (size_t)n);
        res = res2;
    }
    w->newton_steps = k, w->residual = res;
    FM_CHECK(res < w->o.tol, FM_ENUMERIC,
             "sinkhorn: no convergence in %d iterations and %d Newton steps (residual %.3g, "
             "tol %.3g, tau %g, n %d)", w->iters_done, k, res, w->o.tol, w->o.tau, n);
cleanup:
    return status;
}

/* ---- forward ---- */

fm_status fm_sinkhorn_forward(fm_sinkhorn_ws *ws, const double *M, double *P,
                              fm_sinkhorn_info *info, fm_err *err)
{
    fm_status status = FM_OK;
    int newton = 0;
    FM_CHECK(ws && M && P, FM_EINVAL, "sinkhorn: %s is NULL", !ws ? "ws" : !M ? "M" : "P");
    ws->iters_done = 0, ws->newton_steps = 0;
    FM_TRY(sk_load(ws, M, err));
    FM_TRY(sk_sinkhorn(ws, &newton, err));
    size_t n = (size_t)ws->n, T = (size_t)ws->iters_done;
    memcpy(ws->uf, ws->u + (T - 1) * n, sizeof(double) * n);
    memcpy(ws->vf, ws->v + T * n, sizeof(double) * n);
    if (newton)
        FM_TRY(sk_newton(ws, err));
    if (ws->fast)
        sk_plan_fast(ws, ws->uf, ws->vf, P);
    else
        sk_plan(ws->n, ws->M, ws->uf, ws->vf, ws->o.tau, P);
    if (info)
        *info = (fm_sinkhorn_info){ws->iters_done, ws->newton_steps, ws->residual};
cleanup:
    if (status != FM_OK && ws)
        ws->iters_done = 0;
    return status;
}

/* ---- unrolled backward ---- */

/* Output step: A = dP o P; dM += A / tau; ubar = A 1 / tau; vbar = A' 1 / tau. */
static void sk_back_output(const fm_sinkhorn_ws *w, const double *dP, double *dM, double *ubar,
                           double *vbar)
{
    int n = w->n;
    double inv = 1.0 / w->o.tau;
    memset(vbar, 0, sizeof(*vbar) * (size_t)n);
    for (int i = 0; i < n; i++) {
        ubar[i] = 0.0;
        for (int j = 0; j < n; j++) {
            size_t k = (size_t)i * n + j;
            double a = dP[k] * exp((w->M[k] + w->uf[i] + w->vf[j]) * inv) * inv;
            dM[k] += a;
            ubar[i] += a;
            vbar[j] += a;
        }
    }
}

/* Reverse of v = -tau LSE_i((M_ij + u_i) / tau), Q = exp((M + u + v) / tau):
 * dM -= vbar_j Q_ij, ubar -= Q vbar. */
static void sk_back_col(int n, const double *M, const double *u, const double *v, double tau,
                        const double *vbar, double *ubar, double *dM)
{
    double inv = 1.0 / tau;
    for (int i = 0; i < n; i++) {
        double acc = 0.0;
        for (int j = 0; j < n; j++) {
            size_t k = (size_t)i * n + j;
            double w = vbar[j] * exp((M[k] + u[i] + v[j]) * inv);
            dM[k] -= w;
            acc += w;
        }
        ubar[i] -= acc;
    }
}

/* Reverse of u = -tau LSE_j((M_ij + vp_j) / tau), R = exp((M + u + vp) / tau):
 * dM -= ubar_i R_ij, vbar_out = -R' ubar (overwritten). */
static void sk_back_row(int n, const double *M, const double *u, const double *vp, double tau,
                        const double *ubar, double *vbar_out, double *dM)
{
    double inv = 1.0 / tau;
    memset(vbar_out, 0, sizeof(*vbar_out) * (size_t)n);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            size_t k = (size_t)i * n + j;
            double w = ubar[i] * exp((M[k] + u[i] + vp[j]) * inv);
            dM[k] -= w;
            vbar_out[j] -= w;
        }
}

/* The same three steps on the factored path. Output: A_ij = dP_ij P_ij / tau. */
static void sk_back_output_fast(fm_sinkhorn_ws *w, const double *dP, double *dM, double *ubar, double *vbar)
{
    int n = w->n;
    double inv = 1.0 / w->o.tau;
    sk_expv(n, w->uf, w->mmax, w->o.tau, w->ea);
    sk_expv(n, w->vf, 0.0, w->o.tau, w->eb);
    memset(vbar, 0, sizeof(*vbar) * (size_t)n);
    for (int i = 0; i < n; i++) {
        double acc = 0.0, ai = w->ea[i] * inv;
        const double *e = w->E + (size_t)i * n, *d = dP + (size_t)i * n;
        double *g = dM + (size_t)i * n;
        for (int j = 0; j < n; j++) {
            double a = d[j] * e[j] * ai * w->eb[j];
            g[j] += a;
            acc += a;
            vbar[j] += a;
        }
        ubar[i] = acc;
    }
}

/* Column step: Q_ij = E_ij a_i b_j; dM -= vbar_j Q_ij, ubar_i -= a_i (E (b o vbar))_i. */
static void sk_back_col_fast(fm_sinkhorn_ws *w, const double *u, const double *v, double tau, const double *vbar,
                             double *ubar, double *dM)
{
    int n = w->n;
    sk_expv(n, u, w->mmax, tau, w->ea);
    sk_expv(n, v, 0.0, tau, w->eb);
    for (int j = 0; j < n; j++)
        w->z[j] = w->eb[j] * vbar[j];
    sk_matvec(w, 0, w->z, w->y);
    for (int i = 0; i < n; i++) {
        ubar[i] -= w->ea[i] * w->y[i];
        const double *e = w->E + (size_t)i * n;
        double *g = dM + (size_t)i * n, ai = w->ea[i];
        for (int j = 0; j < n; j++)
            g[j] -= e[j] * ai * w->z[j];
    }
}

/* Row step: R_ij = E_ij a_i b'_j; dM -= ubar_i R_ij, vbar_out_j = -b'_j (E' (a o ubar))_j. */
static void sk_back_row_fast(fm_sinkhorn_ws *w, const double *u, const double *vp, double tau, const double *ubar,
                             double *vbar_out, double *dM)
{
    int n = w->n;
    sk_expv(n, u, w->mmax, tau, w->ea);
    sk_expv(n, vp, 0.0, tau, w->eb);
    for (int i = 0; i < n; i++)
        w->z[i] = w->ea[i] * ubar[i];
    sk_matvec(w, 1, w->z, w->y);
    for (int j = 0; j < n; j++)
        vbar_out[j] = -w->eb[j] * w->y[j];
    for (int i = 0; i < n; i++) {
        const double *e = w->E + (size_t)i * n;
        double *g = dM + (size_t)i * n, zi = w->z[i];
        for (int j = 0; j < n; j++)
            g[j] -= zi * e[j] * w->eb[j];
    }
}

static fm_status sk_check_backward(const fm_sinkhorn_ws *ws, const double *dP, const double *dM,
                                   fm_err *err)
{
    fm_status status = FM_OK;
    FM_CHECK(ws && dP && dM, FM_EINVAL, "sinkhorn backward: %s is NULL",
             !ws ? "ws" : !dP ? "dP" : "dM");
    FM_CHECK(ws->iters_done > 0, FM_EINVAL,
             "sinkhorn backward: no successful forward to differentiate");
cleanup:
    return status;
}

fm_status fm_sinkhorn_backward(fm_sinkhorn_ws *ws, const double *dP, double *dM, fm_err *err)
{
    fm_status status = FM_OK;
    FM_TRY(sk_check_backward(ws, dP, dM, err));
    FM_CHECK(ws->newton_steps == 0, FM_EINVAL,
             "sinkhorn backward: the last forward ended with %d Newton steps, which the unrolled "
             "backward does not differentiate; use fm_sinkhorn_backward_implicit",
             ws->newton_steps);
    int n = ws->n;
    double *ubar = ws->ubar, *vbar = ws->vbar, *vnext = ws->tmp;
    if (ws->fast)
        sk_back_output_fast(ws, dP, dM, ubar, vbar);
    else
        sk_back_output(ws, dP, dM, ubar, vbar);
    for (int t = ws->iters_done; t >= 1; t--) {
        const double *u = ws->u + (size_t)(t - 1) * n, *v = ws->v + (size_t)t * n;
        if (ws->fast) {
            sk_back_col_fast(ws, u, v, ws->taus[t - 1], vbar, ubar, dM);
            sk_back_row_fast(ws, u, v - n, ws->taus[t - 1], ubar, vnext, dM);
        } else {
            sk_back_col(n, ws->M, u, v, ws->taus[t - 1], vbar, ubar, dM);
            sk_back_row(n, ws->M, u, v - n, ws->taus[t - 1], ubar, vnext, dM);
        }
        double *swap = vbar;
        vbar = vnext, vnext = swap;
        memset(ubar, 0, sizeof(*ubar) * (size_t)n); /* u_{t-1} feeds only v_{t-1} */
    }
cleanup:
    return status;
}

/* ---- implicit backward ---- */

/* ws->r = P 1, a = rA - P cA and c = cA, with A = dP o P, rA = A 1, cA = A' 1. */
static void sk_implicit_rhs(fm_sinkhorn_ws *w, const double *dP, double *a, double *c)
{
    int n = w->n;
    const double *P = w->P;
    memset(c, 0, sizeof(*c) * (size_t)n);
    for (int i = 0; i < n; i++) {
        a[i] = 0.0, w->r[i] = 0.0;
        for (int j = 0; j < n; j++) {
            double x = dP[(size_t)i * n + j] * P[(size_t)i * n + j];
            a[i] += x, c[j] += x, w->r[i] += P[(size_t)i * n + j];
        }
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            a[i] -= P[(size_t)i * n + j] * c[j];
}

/* Linearizing P = exp((M + u 1' + 1 v') / tau) under P 1 = 1, P' 1 = 1: the adjoint of the
 * constraint Jacobian [diag(r) P; P' I] gives dL/dM = (A - P o (a 1' + 1 b')) / tau with
 * [diag(r) P; P' I] [a; b] = [rA; cA], solved through the Schur complement
 * (diag(r) - P P') a = rA - P cA (a up to a constant: + 1 1'/n fixes it), b = cA - P' a. */
fm_status fm_sinkhorn_backward_implicit(fm_sinkhorn_ws *ws, const double *dP, double *dM,
                                        fm_err *err)
{
    fm_status status = FM_OK;
    double pivot = 0.0;
    FM_TRY(sk_check_backward(ws, dP, dM, err));
    int n = ws->n;
    double *P = ws->P, *a = ws->ubar, *c = ws->vbar, *b = ws->tmp;
    sk_plan(n, ws->M, ws->uf, ws->vf, ws->o.tau, P);
    sk_implicit_rhs(ws, dP, a, c);
    sk_build_system(n, P, ws->r, 0.0, ws->S);
    FM_CHECK(sk_cholesky(n, ws->S, &pivot) == 0, FM_ENUMERIC,
             "sinkhorn implicit backward: singular system (pivot %.3g; P too close to a "
             "permutation, use the unrolled backward)", pivot);
    sk_chol_solve(n, ws->S, a);
    for (int j = 0; j < n; j++) /* b = cA - P' a */
        b[j] = c[j];
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            b[j] -= P[(size_t)i * n + j] * a[i];
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            size_t k = (size_t)i * n + j;
            dM[k] += P[k] * (dP[k] - a[i] - b[j]) / ws->o.tau;
        }
cleanup:
    return status;
}

/* ---- hard projection ---- */

fm_status fm_sinkhorn_hard(int n, const double *M, int *perm, double *Phard, fm_err *err)
{
    fm_status status = FM_OK;
    FM_CHECK(n >= 1, FM_EINVAL, "sinkhorn_hard: n = %d, expected n >= 1", n);
    FM_CHECK(M && perm, FM_EINVAL, "sinkhorn_hard: %s is NULL", !M ? "M" : "perm");
    FM_TRY(sk_check_finite(n, M, "sinkhorn_hard", err));
    FM_TRY(lap_solve(n, M, 1, perm, NULL, err));
    if (Phard) {
        memset(Phard, 0, sizeof(*Phard) * (size_t)n * n);
        for (int i = 0; i < n; i++)
            Phard[(size_t)i * n + perm[i]] = 1.0;
    }
cleanup:
    return status;
}
