/* sinkhorn.c - log-domain Sinkhorn projection (Eq. 3.2), its unrolled and implicit backward
 * passes, and the hard projection by linear assignment.
 *
 * Notation (see sinkhorn.h): K = M / tau, log P_ij = K_ij + f_i + g_j. Maximizing
 * <M, P> + tau H(P) over B_n with multipliers for the row and column sums gives
 * M_ij - tau (log P_ij + 1) + a_i + b_j = 0, which is this form; the potentials are fixed by
 * P 1 = 1 and P' 1 = 1. Iteration t (g_0 = 0):
 *     f_t = -LSE_j(K_ij + g_{t-1,j})   (rows of exp(K + f_t + g_{t-1}) sum to 1)
 *     g_t = -LSE_i(K_ij + f_{t,i})     (columns of exp(K + f_t + g_t) sum to 1)
 * with LSE the log-sum-exp, evaluated after subtracting the maximum, so every exp() argument
 * is <= 0 and no value overflows whatever tau. f_t and g_t are recorded for the backward pass.
 *
 * Unrolled backward (reverse mode), with A = dP o P: Kbar = A, fbar = A 1, gbar = A' 1 for the
 * output; then for t = T..1, with Q = exp(K + f_t + g_t) (column-stochastic) and
 * R = exp(K + f_t + g_{t-1}) (row-stochastic), d g_t,j / d(K_ij, f_t,i) = -Q_ij and
 * d f_t,i / d(K_ij, g_{t-1,j}) = -R_ij:
 *     Kbar -= gbar_j Q_ij,  fbar_i -= sum_j gbar_j Q_ij;   Kbar -= fbar_i R_ij,
 *     gbar(t-1)_j = -sum_i fbar_i R_ij,   fbar <- 0.
 * dM += Kbar / tau, accumulated in place.
 */
#include "sinkhorn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lap.h"

/* |M / tau| above this is rejected: potentials reach a few times max |K| and must stay finite. */
#define SK_KMAX 1e300

struct fm_sinkhorn_ws {
    int n, cap;         /* size; recorded iterations available (iters or max_iters) */
    fm_sinkhorn_opts o; /* options (copied) */
    int iters_done;     /* T of the last successful forward, 0 if none */
    double residual;    /* row residual of the last successful forward */
    double *K;          /* [n][n] M / tau */
    double *f;          /* [cap][n] f_t at (t - 1) n */
    double *g;          /* [cap + 1][n] g_t at t n; g_0 = 0 */
    double *P, *S;      /* [n][n] scratch for the implicit backward */
    double *s, *tmp, *fbar, *gbar; /* [n] scratch */
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
    if (o->iters == 0) {
        FM_CHECK(isfinite(o->tol) && o->tol > 0.0, FM_EINVAL,
                 "sinkhorn: tol = %g, expected a finite tol > 0 when iters = 0", o->tol);
        FM_CHECK(o->max_iters >= 1, FM_EINVAL,
                 "sinkhorn: max_iters = %d, expected >= 1 when iters = 0", o->max_iters);
    }
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

/* K = M / tau, rejecting entries whose quotient is too large. */
static fm_status sk_scale(fm_sinkhorn_ws *w, const double *M, fm_err *err)
{
    fm_status status = FM_OK;
    int n = w->n;
    FM_TRY(sk_check_finite(n, M, "sinkhorn", err));
    for (size_t k = 0; k < (size_t)n * n; k++) {
        w->K[k] = M[k] / w->o.tau;
        FM_CHECK(fabs(w->K[k]) <= SK_KMAX, FM_EINVAL,
                 "sinkhorn: M[%zu][%zu] / tau = %g is out of range (|M / tau| <= %g)",
                 k / (size_t)n, k % (size_t)n, w->K[k], SK_KMAX);
    }
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
    FM_ALLOC(w->K, (size_t)n * n);
    FM_ALLOC(w->f, (size_t)w->cap * n);
    FM_ALLOC(w->g, ((size_t)w->cap + 1) * n);
    FM_ALLOC(w->P, (size_t)n * n);
    FM_ALLOC(w->S, (size_t)n * n);
    FM_ALLOC(w->s, n);
    FM_ALLOC(w->tmp, n);
    FM_ALLOC(w->fbar, n);
    FM_ALLOC(w->gbar, n);
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
    free(ws->K), free(ws->f), free(ws->g), free(ws->P), free(ws->S);
    free(ws->s), free(ws->tmp), free(ws->fbar), free(ws->gbar);
    free(ws);
}

double fm_sinkhorn_residual(const fm_sinkhorn_ws *ws)
{
    return ws && ws->iters_done > 0 ? ws->residual : NAN;
}

/* ---- forward ---- */

/* s_i = LSE_j(K_ij + g_j). */
static void sk_row_lse(int n, const double *K, const double *g, double *s)
{
    for (int i = 0; i < n; i++) {
        const double *k = K + (size_t)i * n;
        double m = -INFINITY, sum = 0.0;
        for (int j = 0; j < n; j++)
            m = k[j] + g[j] > m ? k[j] + g[j] : m;
        for (int j = 0; j < n; j++)
            sum += exp(k[j] + g[j] - m);
        s[i] = m + log(sum);
    }
}

/* c_j = LSE_i(K_ij + f_i), row-major friendly; mx: n scratch. */
static void sk_col_lse(int n, const double *K, const double *f, double *c, double *mx)
{
    for (int j = 0; j < n; j++)
        mx[j] = -INFINITY, c[j] = 0.0;
    for (int i = 0; i < n; i++) {
        const double *k = K + (size_t)i * n;
        for (int j = 0; j < n; j++)
            mx[j] = k[j] + f[i] > mx[j] ? k[j] + f[i] : mx[j];
    }
    for (int i = 0; i < n; i++) {
        const double *k = K + (size_t)i * n;
        for (int j = 0; j < n; j++)
            c[j] += exp(k[j] + f[i] - mx[j]);
    }
    for (int j = 0; j < n; j++)
        c[j] = mx[j] + log(c[j]);
}

/* P_ij = exp(K_ij + f_i + g_j). */
static void sk_plan(int n, const double *K, const double *f, const double *g, double *P)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            P[(size_t)i * n + j] = exp(K[(size_t)i * n + j] + f[i] + g[j]);
}

/* Runs the iterations, recording f_t and g_t. On entry w->s = LSE_j(K_ij + g_0). Row sums of
 * exp(K + f_t + g_t) are exp(f_t + LSE_j(K + g_t)), so the residual costs nothing extra: the
 * LSE is the next iteration's row step. */
static fm_status sk_iterate(fm_sinkhorn_ws *w, fm_err *err)
{
    fm_status status = FM_OK;
    int n = w->n, fixed = w->o.iters > 0;
    for (int t = 1;; t++) {
        double *f = w->f + (size_t)(t - 1) * n, *g = w->g + (size_t)t * n;
        for (int i = 0; i < n; i++)
            f[i] = -w->s[i];
        sk_col_lse(n, w->K, f, g, w->tmp);
        for (int j = 0; j < n; j++)
            g[j] = -g[j];
        sk_row_lse(n, w->K, g, w->s);
        double r = 0.0;
        for (int i = 0; i < n; i++)
            r = fmax(r, fabs(expm1(f[i] + w->s[i])));
        w->residual = r;
        if (fixed ? t == w->cap : r < w->o.tol) {
            w->iters_done = t;
            break;
        }
        FM_CHECK(t < w->cap, FM_ENUMERIC,
                 "sinkhorn: no convergence in %d iterations (residual %.3g, tol %.3g, tau %g, n %d)",
                 t, r, w->o.tol, w->o.tau, n);
    }
cleanup:
    return status;
}

fm_status fm_sinkhorn_forward(fm_sinkhorn_ws *ws, const double *M, double *P, int *iters_done,
                              fm_err *err)
{
    fm_status status = FM_OK;
    FM_CHECK(ws && M && P, FM_EINVAL, "sinkhorn: %s is NULL", !ws ? "ws" : !M ? "M" : "P");
    ws->iters_done = 0;
    FM_TRY(sk_scale(ws, M, err));
    sk_row_lse(ws->n, ws->K, ws->g, ws->s); /* g_0 = 0 (never written) */
    FM_TRY(sk_iterate(ws, err));
    size_t last = (size_t)ws->iters_done;
    sk_plan(ws->n, ws->K, ws->f + (last - 1) * ws->n, ws->g + last * ws->n, P);
    if (iters_done)
        *iters_done = ws->iters_done;
cleanup:
    if (status != FM_OK && ws)
        ws->iters_done = 0;
    return status;
}

/* ---- unrolled backward ---- */

/* Output step: A = dP o P; dM += A / tau; fbar = A 1; gbar = A' 1. */
static void sk_back_output(const fm_sinkhorn_ws *w, const double *dP, double *dM, double *fbar,
                           double *gbar)
{
    int n = w->n, T = w->iters_done;
    const double *f = w->f + (size_t)(T - 1) * n, *g = w->g + (size_t)T * n;
    double inv = 1.0 / w->o.tau;
    memset(gbar, 0, sizeof(*gbar) * (size_t)n);
    for (int i = 0; i < n; i++) {
        fbar[i] = 0.0;
        for (int j = 0; j < n; j++) {
            size_t k = (size_t)i * n + j;
            double a = dP[k] * exp(w->K[k] + f[i] + g[j]);
            dM[k] += a * inv;
            fbar[i] += a;
            gbar[j] += a;
        }
    }
}

/* Reverse of g = -LSE_i(K_ij + f_i) (Q = exp(K + f + g)): dM -= gbar_j Q / tau, fbar -= Q gbar. */
static void sk_back_col(int n, const double *K, const double *f, const double *g, double inv,
                        const double *gbar, double *fbar, double *dM)
{
    for (int i = 0; i < n; i++) {
        double acc = 0.0;
        for (int j = 0; j < n; j++) {
            size_t k = (size_t)i * n + j;
            double w = gbar[j] * exp(K[k] + f[i] + g[j]);
            dM[k] -= w * inv;
            acc += w;
        }
        fbar[i] -= acc;
    }
}

/* Reverse of f = -LSE_j(K_ij + gp_j) (R = exp(K + f + gp)): dM -= fbar_i R / tau,
 * gbar_out = -R' fbar (overwritten). */
static void sk_back_row(int n, const double *K, const double *f, const double *gp, double inv,
                        const double *fbar, double *gbar_out, double *dM)
{
    memset(gbar_out, 0, sizeof(*gbar_out) * (size_t)n);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            size_t k = (size_t)i * n + j;
            double w = fbar[i] * exp(K[k] + f[i] + gp[j]);
            dM[k] -= w * inv;
            gbar_out[j] -= w;
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
    int n = ws->n;
    double inv = 1.0 / ws->o.tau, *fbar = ws->fbar, *gbar = ws->gbar, *gnext = ws->tmp;
    sk_back_output(ws, dP, dM, fbar, gbar);
    for (int t = ws->iters_done; t >= 1; t--) {
        const double *f = ws->f + (size_t)(t - 1) * n, *g = ws->g + (size_t)t * n;
        sk_back_col(n, ws->K, f, g, inv, gbar, fbar, dM);
        sk_back_row(n, ws->K, f, g - n, inv, fbar, gnext, dM);
        double *swap = gbar;
        gbar = gnext, gnext = swap;
        memset(fbar, 0, sizeof(*fbar) * (size_t)n); /* f_{t-1} feeds only g_{t-1} */
    }
cleanup:
    return status;
}

/* ---- implicit backward ---- */

/* In-place Cholesky S = L L' (lower triangle); FM_ENUMERIC if a pivot is not clearly positive. */
static fm_status sk_cholesky(int n, double *S, fm_err *err)
{
    fm_status status = FM_OK;
    for (int j = 0; j < n; j++) {
        double *sj = S + (size_t)j * n, d = sj[j];
        for (int k = 0; k < j; k++)
            d -= sj[k] * sj[k];
        FM_CHECK(d > 1e-13, FM_ENUMERIC,
                 "sinkhorn implicit backward: singular system (pivot %d = %.3g; P too close to "
                 "a permutation, use the unrolled backward)", j, d);
        sj[j] = sqrt(d);
        for (int i = j + 1; i < n; i++) {
            double *si = S + (size_t)i * n, v = si[j];
            for (int k = 0; k < j; k++)
                v -= si[k] * sj[k];
            si[j] = v / sj[j];
        }
    }
cleanup:
    return status;
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

/* S = I - P P' + 1 1' / n (lower triangle and diagonal; symmetric positive definite when P is
 * doubly stochastic with a single ergodic class, true for P > 0). */
static void sk_build_system(int n, const double *P, double *S)
{
    for (int i = 0; i < n; i++)
        for (int k = 0; k <= i; k++) {
            double d = 0.0;
            for (int j = 0; j < n; j++)
                d += P[(size_t)i * n + j] * P[(size_t)k * n + j];
            S[(size_t)i * n + k] = (i == k) - d + 1.0 / n;
        }
}

fm_status fm_sinkhorn_backward_implicit(fm_sinkhorn_ws *ws, const double *dP, double *dM,
                                        fm_err *err)
{
    fm_status status = FM_OK;
    FM_TRY(sk_check_backward(ws, dP, dM, err));
    int n = ws->n, T = ws->iters_done;
    double *P = ws->P, *a = ws->fbar, *c = ws->gbar, *b = ws->tmp;
    sk_plan(n, ws->K, ws->f + (size_t)(T - 1) * n, ws->g + (size_t)T * n, P);
    memset(c, 0, sizeof(*c) * (size_t)n);
    for (int i = 0; i < n; i++) { /* a <- r = A 1, c = A' 1, with A = dP o P */
        a[i] = 0.0;
        for (int j = 0; j < n; j++) {
            double v = dP[(size_t)i * n + j] * P[(size_t)i * n + j];
            a[i] += v, c[j] += v;
        }
    }
    for (int i = 0; i < n; i++) /* a <- r - P c */
        for (int j = 0; j < n; j++)
            a[i] -= P[(size_t)i * n + j] * c[j];
    sk_build_system(n, P, ws->S);
    FM_TRY(sk_cholesky(n, ws->S, err));
    sk_chol_solve(n, ws->S, a);
    for (int j = 0; j < n; j++) /* b = c - P' a */
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
