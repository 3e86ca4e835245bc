/* sinkhorn.c - log-domain Sinkhorn projection (Eq. 3.2), its unrolled and implicit backward
 * passes, and the hard projection by linear assignment.
 *
 * Eq. 3.2: maximize <M, P> + tau H(P), H(P) = -sum_ij P_ij log P_ij, over P >= 0 with P 1 = 1,
 * P' 1 = 1. With multipliers u_i, v_j for the row and column sums, stationarity reads
 * M_ij + u_i + v_j - tau (log P_ij + 1) = 0, so (absorbing the constant)
 *     P_ij = exp((M_ij + u_i + v_j) / tau),
 * the Sinkhorn form diag(e^(u/tau)) exp(M / tau) diag(e^(v/tau)). The duals u, v (units of M)
 * are found by alternately enforcing the row and the column sums (iteration t, v_0 = 0):
 *     u_t = -tau_t LSE_j((M_ij + v_{t-1,j}) / tau_t)   (rows of exp((M + u_t + v_{t-1}) / tau_t) sum to 1)
 *     v_t = -tau_t LSE_i((M_ij + u_{t,i}) / tau_t)     (columns of exp((M + u_t + v_t) / tau_t) sum to 1)
 * with LSE the log-sum-exp evaluated after subtracting the maximum: every exp() argument is <= 0,
 * so nothing overflows however small tau is. tau_t is the epsilon-scaling schedule (tau_t = tau
 * without it). u_t and v_t are recorded for the backward pass.
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

#include "lap.h"

/* |M / tau| above this is rejected: potentials reach a few times max |M| and must stay finite. */
#define SK_KMAX 1e300

struct fm_sinkhorn_ws {
    int n, cap;         /* size; recorded iterations available (iters or max_iters) */
    fm_sinkhorn_opts o; /* options (copied) */
    int iters_done;     /* T of the last successful forward, 0 if none */
    double residual;    /* row residual of the last successful forward */
    double *M;          /* [n][n] copy of the scores */
    double *taus;       /* [cap] temperature of iteration t at t - 1 */
    double *u;          /* [cap][n] u_t at (t - 1) n */
    double *v;          /* [cap + 1][n] v_t at t n; v_0 = 0 */
    double *P, *S;      /* [n][n] scratch for the implicit backward */
    double *s, *tmp, *ubar, *vbar; /* [n] scratch */
};

/* ---- options, schedule and inputs ---- */

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
    FM_CHECK(isfinite(o->tau_start) && o->tau_start >= 0.0, FM_EINVAL,
             "sinkhorn: tau_start = %g, expected 0 (no epsilon scaling) or > tau", o->tau_start);
    FM_CHECK(o->tau_start <= o->tau || (o->decay > 0.0 && o->decay < 1.0), FM_EINVAL,
             "sinkhorn: decay = %g, expected 0 < decay < 1 when tau_start > tau", o->decay);
cleanup:
    return status;
}

/* taus[t - 1] = max(tau, tau_start decay^(t - 1)); FM_EINVAL unless it reaches tau by t = cap. */
static fm_status sk_schedule(const fm_sinkhorn_opts *o, int cap, double *taus, fm_err *err)
{
    fm_status status = FM_OK;
    double t = o->tau_start > o->tau ? o->tau_start : o->tau;
    for (int k = 0; k < cap; k++) {
        taus[k] = t;
        t = fmax(o->tau, t * o->decay);
    }
    FM_CHECK(taus[cap - 1] == o->tau, FM_EINVAL,
             "sinkhorn: epsilon scaling from tau_start = %g by decay = %g does not reach tau = %g "
             "within %s = %d", o->tau_start, o->decay, o->tau, o->iters ? "iters" : "max_iters", cap);
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
    FM_TRY(sk_schedule(o, w->cap, w->taus, err));
    FM_ALLOC(w->M, (size_t)n * n);
    FM_ALLOC(w->u, (size_t)w->cap * n);
    FM_ALLOC(w->v, ((size_t)w->cap + 1) * n);
    FM_ALLOC(w->P, (size_t)n * n);
    FM_ALLOC(w->S, (size_t)n * n);
    FM_ALLOC(w->s, n);
    FM_ALLOC(w->tmp, n);
    FM_ALLOC(w->ubar, n);
    FM_ALLOC(w->vbar, n);
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
    free(ws->s), free(ws->tmp), free(ws->ubar), free(ws->vbar);
    free(ws);
}

double fm_sinkhorn_residual(const fm_sinkhorn_ws *ws)
{
    return ws && ws->iters_done > 0 ? ws->residual : NAN;
}

/* ---- forward ---- */

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

/* c_j = LSE_i((M_ij + u_i) / tau), row-major friendly; mx: n scratch. */
static void sk_col_lse(int n, const double *M, const double *u, double tau, double *c, double *mx)
{
    double inv = 1.0 / tau;
    for (int j = 0; j < n; j++)
        mx[j] = -INFINITY, c[j] = 0.0;
    for (int i = 0; i < n; i++) {
        const double *m = M + (size_t)i * n;
        for (int j = 0; j < n; j++)
            mx[j] = m[j] + u[i] > mx[j] ? m[j] + u[i] : mx[j];
    }
    for (int i = 0; i < n; i++) {
        const double *m = M + (size_t)i * n;
        for (int j = 0; j < n; j++)
            c[j] += exp((m[j] + u[i] - mx[j]) * inv);
    }
    for (int j = 0; j < n; j++)
        c[j] = mx[j] * inv + log(c[j]);
}

/* P_ij = exp((M_ij + u_i + v_j) / tau). */
static void sk_plan(int n, const double *M, const double *u, const double *v, double tau, double *P)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            P[(size_t)i * n + j] = exp((M[(size_t)i * n + j] + u[i] + v[j]) / tau);
}

/* Runs the iterations, recording u_t and v_t. On entry w->s = LSE_j(M_ij / tau_1). Row sums
 * of exp((M + u_t + v_t) / tau_t) are exp(u_t / tau_t + LSE_j((M + v_t) / tau_t)), so at a
 * constant temperature the residual costs nothing: that LSE is the next row step. */
static fm_status sk_iterate(fm_sinkhorn_ws *w, fm_err *err)
{
    fm_status status = FM_OK;
    int n = w->n, fixed = w->o.iters > 0;
    for (int t = 1;; t++) {
        double *u = w->u + (size_t)(t - 1) * n, *v = w->v + (size_t)t * n;
        double tau = w->taus[t - 1], next = t < w->cap ? w->taus[t] : tau;
        for (int i = 0; i < n; i++)
            u[i] = -tau * w->s[i];
        sk_col_lse(n, w->M, u, tau, v, w->tmp);
        for (int j = 0; j < n; j++)
            v[j] = -tau * v[j];
        sk_row_lse(n, w->M, v, next, w->s);
        double r = next == tau ? 0.0 : INFINITY; /* measured only at a constant temperature */
        for (int i = 0; i < n && next == tau; i++)
            r = fmax(r, fabs(expm1(u[i] / tau + w->s[i])));
        w->residual = r;
        if (fixed ? t == w->cap : (tau == w->o.tau && r < w->o.tol)) {
            w->iters_done = t;
            break;
        }
        FM_CHECK(t < w->cap, FM_ENUMERIC,
                 "sinkhorn: no convergence in %d iterations (residual %.3g, tol %.3g, tau %g, n %d; "
                 "epsilon scaling (tau_start) helps at small tau)", t, r, w->o.tol, w->o.tau, n);
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
    FM_TRY(sk_load(ws, M, err));
    sk_row_lse(ws->n, ws->M, ws->v, ws->taus[0], ws->s); /* v_0 = 0 (never written) */
    FM_TRY(sk_iterate(ws, err));
    size_t T = (size_t)ws->iters_done;
    sk_plan(ws->n, ws->M, ws->u + (T - 1) * ws->n, ws->v + T * ws->n, ws->o.tau, P);
    if (iters_done)
        *iters_done = ws->iters_done;
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
    int n = w->n, T = w->iters_done;
    const double *u = w->u + (size_t)(T - 1) * n, *v = w->v + (size_t)T * n;
    double inv = 1.0 / w->o.tau;
    memset(vbar, 0, sizeof(*vbar) * (size_t)n);
    for (int i = 0; i < n; i++) {
        ubar[i] = 0.0;
        for (int j = 0; j < n; j++) {
            size_t k = (size_t)i * n + j;
            double a = dP[k] * exp((w->M[k] + u[i] + v[j]) * inv) * inv;
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
    double *ubar = ws->ubar, *vbar = ws->vbar, *vnext = ws->tmp;
    sk_back_output(ws, dP, dM, ubar, vbar);
    for (int t = ws->iters_done; t >= 1; t--) {
        const double *u = ws->u + (size_t)(t - 1) * n, *v = ws->v + (size_t)t * n;
        sk_back_col(n, ws->M, u, v, ws->taus[t - 1], vbar, ubar, dM);
        sk_back_row(n, ws->M, u, v - n, ws->taus[t - 1], ubar, vnext, dM);
        double *swap = vbar;
        vbar = vnext, vnext = swap;
        memset(ubar, 0, sizeof(*ubar) * (size_t)n); /* u_{t-1} feeds only v_{t-1} */
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
            double *si = S + (size_t)i * n, x = si[j];
            for (int k = 0; k < j; k++)
                x -= si[k] * sj[k];
            si[j] = x / sj[j];
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

/* S = I - P P' + 1 1' / n (lower triangle and diagonal). P P' is doubly stochastic with the
 * eigenvector 1; for P > 0 its other eigenvalues are < 1, so S is positive definite. */
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

/* a = r - P c and c, with A = dP o P, r = A 1, c = A' 1. */
static void sk_implicit_rhs(int n, const double *P, const double *dP, double *a, double *c)
{
    memset(c, 0, sizeof(*c) * (size_t)n);
    for (int i = 0; i < n; i++) {
        a[i] = 0.0;
        for (int j = 0; j < n; j++) {
            double x = dP[(size_t)i * n + j] * P[(size_t)i * n + j];
            a[i] += x, c[j] += x;
        }
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            a[i] -= P[(size_t)i * n + j] * c[j];
}

/* Linearizing P = exp((M + u + v) / tau) under P 1 = 1, P' 1 = 1 gives (in units of 1 / tau)
 * dL/dM = (A - P o (a 1' + 1 b')) / tau with [I P; P' I] [a; b] = [r; c], solved through the
 * Schur complement (I - P P') a = r - P c (a fixed up to a constant: + 1 1' / n), b = c - P' a. */
fm_status fm_sinkhorn_backward_implicit(fm_sinkhorn_ws *ws, const double *dP, double *dM,
                                        fm_err *err)
{
    fm_status status = FM_OK;
    FM_TRY(sk_check_backward(ws, dP, dM, err));
    int n = ws->n, T = ws->iters_done;
    double *P = ws->P, *a = ws->ubar, *c = ws->vbar, *b = ws->tmp;
    sk_plan(n, ws->M, ws->u + (size_t)(T - 1) * n, ws->v + (size_t)T * n, ws->o.tau, P);
    sk_implicit_rhs(n, P, dP, a, c);
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
