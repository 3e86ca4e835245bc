/* merge_linear.c - average, permutation alternation (App. G.4.1) and GL(n) gradient
 * alignment (App. G.4.2) for linear policies. */
#include "merge/merge.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "align/lap.h"
#include "la/la.h"

/* Entries of x[0..n) that are NaN or infinite. */
static size_t count_nonfinite(size_t n, const double *x)
{
    size_t bad = 0;
    for (size_t j = 0; j < n; j++)
        bad += !isfinite(x[j]);
    return bad;
}

/* merged = 1/N sum of the local models (after reduction). */
static fm_status average(size_t n, const double *local, const fm_reducer *red, double *merged,
                         fm_err *err)
{
    fm_status status = FM_OK;
    memset(merged, 0, sizeof(double) * n);
    for (int i = 0; i < red->nlocal; i++)
        for (size_t j = 0; j < n; j++)
            merged[j] += local[(size_t)i * n + j];
    FM_TRY(fm_reduce_sum(red, merged, n, err));
    for (size_t j = 0; j < n; j++)
        merged[j] /= red->nglobal;
cleanup:
    return status;
}

/* ---------------- permutation alternation (Eq. G.10-G.12) ---------------- */

/* out = (P' A P, P' B, C P) with P[r][perm[r]] = 1, i.e. hidden unit perm[r] <- r. */
static void perm_apply(const fm_lindims *d, const int *perm, const double *th, double *out)
{
    int k = d->k, p = d->p, m = d->m;
    const double *A = th, *B = th + k * k, *C = B + k * p;
    double *oA = out, *oB = out + k * k, *oC = oB + k * p;
    for (int r = 0; r < k; r++) {
        for (int c = 0; c < k; c++)
            oA[perm[r] * k + perm[c]] = A[r * k + c];
        memcpy(oB + perm[r] * p, B + r * p, sizeof(double) * p);
        for (int i = 0; i < m; i++)
            oC[i * k + perm[r]] = C[i * k + r];
    }
}

/* Aligning step (Eq. G.12): M = A_i' P_prev Abar + B_i Bbar' + C_i' Cbar; perm = LAP max of M. */
static fm_status perm_align(const fm_lindims *d, const double *th, const double *bar, int *perm,
                            double *M, double *tmp, fm_err *err)
{
    fm_status status = FM_OK;
    int k = d->k, p = d->p, m = d->m;
    const double *A = th, *B = th + k * k, *C = B + k * p;
    const double *Ab = bar, *Bb = bar + k * k, *Cb = Bb + k * p;
    for (int r = 0; r < k; r++) /* tmp = P_prev Abar: row r is Abar row perm[r] */
        memcpy(tmp + r * k, Ab + perm[r] * k, sizeof(double) * k);
    la_gemm(1, 0, k, k, k, 1.0, A, tmp, 0.0, M);
    la_gemm(0, 1, k, k, p, 1.0, B, Bb, 1.0, M);
    la_gemm(1, 0, k, k, m, 1.0, C, Cb, 1.0, M);
    FM_TRY(lap_solve(k, M, 1, perm, NULL, err));
cleanup:
    return status;
}

static double sqdist(size_t n, const double *a, const double *b)
{
    double s = 0.0;
    for (size_t j = 0; j < n; j++)
        s += (a[j] - b[j]) * (a[j] - b[j]);
    return s;
}

static double norm2(size_t n, const double *a)
{
    double s = 0.0;
    for (size_t j = 0; j < n; j++)
        s += a[j] * a[j];
    return s;
}

static fm_status merge_perm(const fm_lindims *d, const double *local, const fm_config *cfg,
                            const fm_reducer *red, double *merged, double *transforms,
                            fm_merge_info *info, fm_err *err)
{
    fm_status status = FM_OK;
    int k = d->k, nl = red->nlocal;
    size_t n = fm_lin_size(d);
    int *perm = NULL, *prev = NULL;
    double *aligned = NULL, *M = NULL, *tmp = NULL;
    FM_ALLOC(perm, (size_t)nl * k);
    FM_ALLOC(prev, k);
    FM_ALLOC(aligned, (size_t)nl * n);
    FM_ALLOC(M, k * k);
    FM_ALLOC(tmp, k * k);
    for (int i = 0; i < nl; i++)
        for (int r = 0; r < k; r++)
            perm[i * k + r] = r;
    int it = 0;
    for (;;) {
        for (int i = 0; i < nl; i++) /* merging step: mean of aligned models */
            perm_apply(d, perm + i * k, local + i * n, aligned + i * n);
        FM_TRY(average(n, aligned, red, merged, err));
        /* the same on every rank: a non-finite mean would feed NaN into the assignment problem */
        FM_CHECK(count_nonfinite(n, merged) == 0, FM_ENUMERIC,
                 "linear_perm: the merged policy is not finite at alternation %d of %d", it, cfg->merge.perm_iters);
        if (it == cfg->merge.perm_iters)
            break;
        it++;
        double changed = 0.0;
        for (int i = 0; i < nl; i++) { /* aligning step, rank-local */
            memcpy(prev, perm + i * k, sizeof(int) * k);
            FM_TRY(perm_align(d, local + i * n, merged, perm + i * k, M, tmp, err));
            changed += memcmp(prev, perm + i * k, sizeof(int) * k) != 0;
        }
        FM_TRY(fm_reduce_sum(red, &changed, 1, err));
        if (changed == 0.0)
            break;
    }
    double obj = 0.0;
    for (int i = 0; i < nl; i++)
        obj += sqdist(n, aligned + i * n, merged);
    FM_TRY(fm_reduce_sum(red, &obj, 1, err));
    info->objective = obj;
    info->iterations = it;
    for (int i = 0; transforms && i < nl; i++) { /* T = P': T[perm[r]][r] = 1 */
        double *T = transforms + (size_t)i * k * k;
        memset(T, 0, sizeof(double) * k * k);
        for (int r = 0; r < k; r++)
            T[perm[i * k + r] * k + r] = 1.0;
    }
cleanup:
    free(perm), free(prev), free(aligned), free(M), free(tmp);
    return status;
}

/* ---------------- GL(k) gradient alignment (Eq. G.14) ---------------- */

typedef struct gl_ws {
    double *E1, *E2, *E3, *gP, *tmp; /* residuals and gradients for one robot */
} gl_ws;

/* Residuals of Eq. G.14 for robot i: E1 = P Abar - A P, E2 = P Bbar - B, E3 = Cbar - C P.
 * Returns ||E1||^2 + ||E2||^2 + ||E3||^2. */
static double gl_residuals(const fm_lindims *d, const double *th, const double *bar,
                           const double *P, gl_ws *w)
{
    int k = d->k, p = d->p, m = d->m;
    const double *A = th, *B = th + k * k, *C = B + k * p;
    const double *Ab = bar, *Bb = bar + k * k, *Cb = Bb + k * p;
    la_gemm(0, 0, k, k, k, 1.0, P, Ab, 0.0, w->E1);
    la_gemm(0, 0, k, k, k, -1.0, A, P, 1.0, w->E1);
    memcpy(w->E2, B, sizeof(double) * k * p);
    la_gemm(0, 0, k, p, k, 1.0, P, Bb, -1.0, w->E2);
    memcpy(w->E3, Cb, sizeof(double) * m * k);
    la_gemm(0, 0, m, k, k, -1.0, C, P, 1.0, w->E3);
    return norm2((size_t)k * k, w->E1) + norm2((size_t)k * p, w->E2) + norm2((size_t)m * k, w->E3);
}

/* Gradient step on P_i with step lr / L_P, L_P = 2[(|Abar| + |A|)^2 + |Bbar|^2 + |C|^2]
 * (Frobenius bounds on the Lipschitz constant of the block gradient):
 * dg/dP = 2 (E1 Abar' - A' E1 + E2 Bbar' - C' E3). */
static void gl_step_P(const fm_lindims *d, const double *th, const double *bar, double lr,
                      double *P, gl_ws *w)
{
    int k = d->k, p = d->p, m = d->m;
    const double *A = th, *C = th + k * k + k * p;
    const double *Ab = bar, *Bb = bar + k * k;
    gl_residuals(d, th, bar, P, w);
    la_gemm(0, 1, k, k, k, 2.0, w->E1, Ab, 0.0, w->gP);
    la_gemm(1, 0, k, k, k, -2.0, A, w->E1, 1.0, w->gP);
    la_gemm(0, 1, k, k, p, 2.0, w->E2, Bb, 1.0, w->gP);
    la_gemm(1, 0, k, k, m, -2.0, C, w->E3, 1.0, w->gP);
    double a = sqrt(norm2((size_t)k * k, Ab)) + sqrt(norm2((size_t)k * k, A));
    double L = 2.0 * (a * a + norm2((size_t)k * p, Bb) + norm2((size_t)m * k, C)) + 1e-12;
    for (int j = 0; j < k * k; j++)
        P[j] -= lr / L * w->gP[j];
}

/* Gradient of Eq. G.14 in theta-bar from robot i (accumulated into g, layout of theta):
 * dAbar += 2 P' E1, dBbar += 2 P' E2, dCbar += 2 E3. Returns robot i's objective term. */
static double gl_grad_bar(const fm_lindims *d, const double *th, const double *bar, const double *P,
                          double *g, gl_ws *w)
{
    int k = d->k, p = d->p, m = d->m;
    double f = gl_residuals(d, th, bar, P, w);
    la_gemm(1, 0, k, k, k, 2.0, P, w->E1, 1.0, g);
    la_gemm(1, 0, k, p, k, 2.0, P, w->E2, 1.0, g + k * k);
    for (int j = 0; j < m * k; j++)
        g[k * k + k * p + j] += 2.0 * w->E3[j];
    return f;
}

/* Exact minimizer of Eq. G.14 over P for a fixed theta-bar (a linear least-squares problem
 * in the k^2 entries of P), used to start from an anchor robot's policy. */
static fm_status gl_solve_P(const fm_lindims *d, const double *th, const double *bar, double *P,
                            gl_ws *w, fm_err *err)
{
    fm_status status = FM_OK;
    int k = d->k, p = d->p, m = d->m, kk = k * k;
    size_t nr = (size_t)k * k + (size_t)k * p + (size_t)m * k; /* residual entries */
    double *Lmap = NULL, *c = NULL, *x = NULL, *E = NULL;
    FM_ALLOC(Lmap, nr * kk);
    FM_ALLOC(c, nr);
    FM_ALLOC(x, kk);
    FM_ALLOC(E, kk);
    memset(E, 0, sizeof(double) * kk);
    gl_residuals(d, th, bar, E, w); /* offsets at P = 0 */
    memcpy(c, w->E1, sizeof(double) * kk);
    memcpy(c + kk, w->E2, sizeof(double) * k * p);
    memcpy(c + kk + k * p, w->E3, sizeof(double) * m * k);
    for (int j = 0; j < kk; j++) { /* column j of the linear map: residual(E_j) - offset */
        memset(E, 0, sizeof(double) * kk);
        E[j] = 1.0;
        gl_residuals(d, th, bar, E, w);
        const double *parts[3] = {w->E1, w->E2, w->E3};
        size_t lens[3] = {(size_t)kk, (size_t)k * p, (size_t)m * k}, off = 0;
        for (int q = 0; q < 3; q++)
            for (size_t r = 0; r < lens[q]; r++, off++)
                Lmap[off * kk + j] = parts[q][r] - c[off];
    }
    for (size_t r = 0; r < nr; r++)
        c[r] = -c[r];
    FM_TRY(la_lstsq((int)nr, kk, 1, Lmap, c, 0.0, x, err));
    memcpy(P, x, sizeof(double) * kk);
cleanup:
    free(Lmap), free(c), free(x), free(E);
    return status;
}

/* Eq. G.14 is invariant to P_i -> P_i / s, Bbar -> s Bbar, Cbar -> Cbar / s only in its B term
 * (the A and C terms scale by 1 / s^2), so plain descent lets the scale of the P_i drift toward 0.
 * merge.gl_normalize fixes the scale after every P step, applying that transform (the s I of
 * Eq. G.9, which keeps the merged policy equivalent) with
 *   determinant: s = geometric mean over the fleet of |det P_i|^(1/k)
 *   frobenius:   s = sqrt(mean over the fleet of ||P_i||_F^2 / k)
 * so that the chosen mean is 1 (both are 1 for permutations). */
static fm_status gl_normalize(const fm_lindims *d, int how, double *P, double *bar, const fm_reducer *red,
                              fm_err *err)
{
    fm_status status = FM_OK;
    int k = d->k, p = d->p, m = d->m;
    double acc[2] = {0.0, 0.0};
    for (int i = 0; i < red->nlocal; i++) {
        double det = 0.0;
        const double *Pi = P + (size_t)i * k * k;
        if (count_nonfinite((size_t)k * k, Pi) > 0)
            continue; /* diverged: merge_gl stops after the reduction, on every rank alike */
        if (how == FM_GL_NORM_FROBENIUS) {
            acc[0] += norm2((size_t)k * k, Pi) / k, acc[1] += 1.0;
            continue;
        }
        FM_TRY(la_det(k, Pi, &det, err));
        if (det != 0.0 && isfinite(det))
            acc[0] += log(fabs(det)) / k, acc[1] += 1.0;
    }
    FM_TRY(fm_reduce_sum(red, acc, 2, err));
    if (acc[1] == 0.0 || (how == FM_GL_NORM_FROBENIUS && !(acc[0] > 0.0)))
        goto cleanup;
    double s = how == FM_GL_NORM_FROBENIUS ? sqrt(acc[0] / acc[1]) : exp(acc[0] / acc[1]);
    for (int i = 0; i < red->nlocal * k * k; i++)
        P[i] /= s;
    for (int j = 0; j < k * p; j++)
        bar[k * k + j] *= s;
    for (int j = 0; j < m * k; j++)
        bar[k * k + k * p + j] /= s;
cleanup:
    return status;
}

static fm_status merge_perm(const fm_lindims *d, const double *local, const fm_config *cfg,
                            const fm_reducer *red, double *merged, double *transforms,
                            fm_merge_info *info, fm_err *err);

/* Start (merge.gl_start): anchor = robot 0's policy with each P_i solved exactly against it;
 * identity = P_i = I with theta-bar the plain average; permutation = linear_perm's merge with
 * P_i = T_i' (its permutation T_i maps robot i onto the merge, T A_i T' ~ Abar, so A_i P_i ~ P_i Abar:
 * Eq. G.14's residuals vanish where the permutation alignment is exact). */
#define GL_ANCHOR_KMAX 32
static fm_status gl_start(const fm_lindims *d, const double *local, const fm_config *cfg,
                          const fm_reducer *red, double *bar, double *P, gl_ws *w, fm_err *err)
{
    fm_status status = FM_OK;
    int k = d->k;
    size_t n = fm_lin_size(d);
    /* the anchor start solves a least-squares problem in the k^2 entries of each P_i: O(k^6) */
    FM_CHECK(cfg->merge.gl_start != FM_GL_START_ANCHOR || k <= GL_ANCHOR_KMAX, FM_EINVAL,
             "merge.gl_start: anchor solves a %d^2-unknown least-squares problem per robot; it is limited to "
             "hidden dimension k <= %d (got k = %d): use merge.gl_start: permutation or identity",
             k, GL_ANCHOR_KMAX, k);
    if (cfg->merge.gl_start == FM_GL_START_PERMUTATION) {
        fm_merge_info pinfo;
        FM_TRY(merge_perm(d, local, cfg, red, bar, P, &pinfo, err)); /* P_i <- T_i, then transposed */
        for (int i = 0; i < red->nlocal; i++)
            for (int r = 0; r < k; r++)
                for (int c = r + 1; c < k; c++) {
                    double *Pi = P + (size_t)i * k * k, t = Pi[r * k + c];
                    Pi[r * k + c] = Pi[c * k + r], Pi[c * k + r] = t;
                }
        goto cleanup;
    }
    if (cfg->merge.gl_start == FM_GL_START_IDENTITY) {
        FM_TRY(average(n, local, red, bar, err));
        for (int i = 0; i < red->nlocal; i++)
            for (int r = 0; r < k; r++)
                P[(size_t)i * k * k + r * k + r] = 1.0;
        goto cleanup;
    }
    memset(bar, 0, sizeof(double) * n);
    if (red->offset == 0)
        memcpy(bar, local, sizeof(double) * n); /* global robot 0 is the anchor */
    FM_TRY(fm_reduce_sum(red, bar, n, err));
    for (int i = 0; i < red->nlocal; i++)
        FM_TRY(gl_solve_P(d, local + i * n, bar, P + (size_t)i * k * k, w, err));
cleanup:
    return status;
}

/* Objective growth beyond which linear_gl counts as diverged, relative to the objective at step 0
 * plus sum_i |theta_i|^2 (the scale of the residuals): a step size that descends (merge.gl_lr <= 1)
 * never gets near it. */
#define GL_BLOWUP 1e8

/* Every rank calls this with the same reduced values, so all of them fail at the same step. */
static fm_status gl_check(int it, const fm_config *cfg, double obj, double obj0, double scale, double bad,
                          fm_err *err)
{
    fm_status status = FM_OK;
    int steps = cfg->merge.gl_steps;
    double lr = cfg->merge.gl_lr;
    FM_CHECK(isfinite(obj) && bad == 0.0 && obj <= GL_BLOWUP * (obj0 + scale), FM_ENUMERIC,
             "linear_gl: diverged at step %d of %d (objective %.3g, %.3g at step 0%s): merge.gl_lr = %g is too "
             "large for these policies; lower merge.gl_lr (values <= 1 guarantee descent of each block)",
             it, steps, obj, obj0, bad > 0.0 ? "; some P_i are not finite" : "", lr);
cleanup:
    return status;
}

/* Mean per-step BC loss (Eq. 2.4) of policy bar over the fleet's demonstrations (one sum). */
static fm_status gl_bc_loss(const fm_lindims *d, const double *bar, const fm_demos *data, const fm_reducer *red,
                            double *work, double *loss, fm_err *err)
{
    fm_status status = FM_OK;
    double acc[2] = {0.0, 0.0};
    for (int i = 0; i < red->nlocal; i++)
        acc[0] += fm_lin_loss_grad(d, bar, &data[i], -1, NULL, work, &acc[1]);
    FM_TRY(fm_reduce_sum(red, acc, 2, err));
    FM_CHECK(acc[1] > 0.0, FM_EDATA, "linear_gl: merge.gl_select: bc_loss: the fleet has no demonstration steps");
    *loss = acc[0] / acc[1];
cleanup:
    return status;
}

/* The iterate merge.gl_select: bc_loss keeps: theta-bar, the P_i, its step, objective and loss. */
typedef struct gl_best {
    double *bar, *P, *work;
    double loss, objective;
    int step;
} gl_best;

static fm_status gl_consider(const fm_lindims *d, const double *bar, const double *P, size_t nP, int it, double obj,
                             const fm_demos *data, const fm_reducer *red, gl_best *b, fm_err *err)
{
    fm_status status = FM_OK;
    double loss = 0.0;
    FM_TRY(gl_bc_loss(d, bar, data, red, b->work, &loss, err));
    if (b->step < 0 || loss < b->loss) { /* the same reduced value on every rank: the same choice */
        b->loss = loss, b->objective = obj, b->step = it;
        memcpy(b->bar, bar, sizeof(double) * fm_lin_size(d));
        memcpy(b->P, P, sizeof(double) * nP);
    }
cleanup:
    return status;
}

static fm_status merge_gl(const fm_lindims *d, const double *local, const fm_demos *data, const fm_config *cfg,
                          const fm_reducer *red, double *merged, double *transforms,
                          fm_merge_info *info, fm_err *err)
{
    fm_status status = FM_OK;
    int k = d->k, p = d->p, m = d->m, nl = red->nlocal;
    size_t n = fm_lin_size(d), kk = (size_t)k * k;
    double *P = NULL, *g = NULL;
    gl_ws w = {0};
    int select = cfg->merge.gl_select == FM_GL_SELECT_BC_LOSS;
    gl_best best = {.loss = INFINITY, .step = -1};
    FM_CHECK(!select || data, FM_EINVAL, /* on every process alike, whatever its number of robots */
             "linear_gl: merge.gl_select: bc_loss scores the merge on the robots' demonstrations, which this "
             "merge was not given (offline: fleet merge --data FILE; or merge.gl_select: none)");
    if (select) {
        size_t ws = 1;
        for (int i = 0; i < nl; i++) {
            FM_CHECK(data[i].obs_dim == p && data[i].act_dim == m, FM_EINVAL,
                     "linear_gl: robot %d's demonstrations have %d observation and %d action values, the policies "
                     "take %d and give %d", red->offset + i, data[i].obs_dim, data[i].act_dim, p, m);
            ws = fm_lin_work_size(d, &data[i]) > ws ? fm_lin_work_size(d, &data[i]) : ws;
        }
        FM_ALLOC(best.bar, n);
        FM_ALLOC(best.P, nl * kk + 1);
        FM_ALLOC(best.work, ws);
    }
    FM_ALLOC(P, nl * kk);
    FM_ALLOC(g, n + 4);
    FM_ALLOC(w.E1, kk);
    FM_ALLOC(w.E2, (size_t)k * p);
    FM_ALLOC(w.E3, (size_t)m * k);
    FM_ALLOC(w.gP, kk);
    FM_TRY(gl_start(d, local, cfg, red, merged, P, &w, err));
    double lr = cfg->merge.gl_lr, obj = 0.0, obj0 = 0.0, scale = 0.0, obj_window = 0.0;
    int it = 0;
    for (it = 0; it <= cfg->merge.gl_steps; it++) {
        if (it > 0) {
            for (int i = 0; i < nl; i++) /* P step: rank-local */
                gl_step_P(d, local + i * n, merged, lr, P + i * kk, &w);
            if (cfg->merge.gl_normalize != FM_GL_NORM_NONE)
                FM_TRY(gl_normalize(d, cfg->merge.gl_normalize, P, merged, red, err));
        }
        /* theta-bar step: summed over the fleet, with the objective, sum |P_i|^2, the count of
         * non-finite P_i entries and (step 0) sum |theta_i|^2 */
        memset(g, 0, sizeof(double) * (n + 4));
        for (int i = 0; i < nl; i++) {
            g[n] += gl_grad_bar(d, local + i * n, merged, P + i * kk, g, &w);
            g[n + 1] += norm2(kk, P + i * kk);
            g[n + 2] += (double)count_nonfinite(kk, P + i * kk);
            if (it == 0)
                g[n + 3] += norm2(n, local + i * n);
        }
        FM_TRY(fm_reduce_sum(red, g, n + 4, err));
        obj = g[n];
        if (it == 0)
            obj0 = obj, scale = g[n + 3];
        FM_TRY(gl_check(it, cfg, obj, obj0, scale, g[n + 2], err));
        int last = it == cfg->merge.gl_steps, converged = 0;
        if (!last && it % FM_GL_TOL_WINDOW == 0) { /* merge.gl_tol: the last window gained too little */
            converged = it > 0 && cfg->merge.gl_tol > 0.0 && obj_window - obj <= cfg->merge.gl_tol * obj_window;
            obj_window = obj;
        }
        if (select && (it % FM_GL_TOL_WINDOW == 0 || last))
            FM_TRY(gl_consider(d, merged, P, nl * kk, it, obj, data, red, &best, err));
        if (last || converged)
            break;
        double LA = 2.0 * g[n + 1] + 1e-12, LC = 2.0 * red->nglobal;
        for (size_t j = 0; j < kk + (size_t)k * p; j++)
            merged[j] -= lr / LA * g[j];
        for (size_t j = kk + (size_t)k * p; j < n; j++)
            merged[j] -= lr / LC * g[j];
    }
    info->objective = obj;
    info->iterations = it;
    info->selected = it;
    info->bc_loss = NAN;
    if (select) {
        /* the first checked iterate is always kept, so best holds a real iterate; a loss that was
         * never finite means no iterate can be trusted (the same on every rank) */
        FM_CHECK(isfinite(best.loss), FM_ENUMERIC,
                 "linear_gl: merge.gl_select: bc_loss: the BC loss of every checked merge is not finite "
                 "(step 0: %g); check the demonstrations or use merge.gl_select: none", best.loss);
        memcpy(merged, best.bar, sizeof(double) * n);
        memcpy(P, best.P, sizeof(double) * nl * kk);
        info->objective = best.objective, info->selected = best.step, info->bc_loss = best.loss;
    }
    if (transforms)
        memcpy(transforms, P, sizeof(double) * nl * kk);
cleanup:
    free(P), free(g), free(w.E1), free(w.E2), free(w.E3), free(w.gP);
    free(best.bar), free(best.P), free(best.work);
    return status;
}

fm_status fm_merge_linear(int method, const fm_lindims *d, const double *theta_local,
                          const fm_config *cfg, const fm_reducer *red, double *merged,
                          double *transforms, fm_merge_info *info, fm_err *err)
{
    return fm_merge_linear_data(method, d, theta_local, NULL, cfg, red, merged, transforms, info, err);
}

fm_status fm_merge_linear_data(int method, const fm_lindims *d, const double *theta_local,
                               const fm_demos *data, const fm_config *cfg, const fm_reducer *red,
                               double *merged, double *transforms, fm_merge_info *info, fm_err *err)
{
    fm_status status = FM_OK;
    size_t n = fm_lin_size(d);
    *info = (fm_merge_info){.bc_loss = NAN};
    FM_CHECK(method >= 0 && method < FM_MERGE_COUNT, FM_EINVAL, "unknown merge method %d", method);
    FM_CHECK(red->nglobal > 0 && red->nlocal >= 0, FM_EINVAL, "merge: empty fleet");
    const char *name = d->arch == FM_ARCH_STATIC_LINEAR ? "average" : fm_cfg_enum_name("merge.methods", method);
    double bad = 0.0; /* local policies with a non-finite entry, over the fleet */
    for (int i = 0; i < red->nlocal; i++)
        bad += count_nonfinite(n, theta_local + (size_t)i * n) > 0;
    FM_TRY(fm_reduce_sum(red, &bad, 1, err));
    FM_CHECK(bad == 0.0, FM_ENUMERIC,
             "%s: %.0f of %d local policies are not finite (did local training diverge? lower train.lr)", name, bad,
             red->nglobal);
    if (d->arch == FM_ARCH_STATIC_LINEAR || method == FM_MERGE_AVERAGE) {
        FM_TRY(average(n, theta_local, red, merged, err));
        for (int i = 0; transforms && d->arch == FM_ARCH_DYNAMIC_LINEAR && i < red->nlocal; i++) {
            double *T = transforms + (size_t)i * d->k * d->k;
            memset(T, 0, sizeof(double) * d->k * d->k);
            for (int r = 0; r < d->k; r++)
                T[r * d->k + r] = 1.0;
        }
    } else if (method == FM_MERGE_LINEAR_PERM) {
        FM_TRY(merge_perm(d, theta_local, cfg, red, merged, transforms, info, err));
    } else {
        FM_TRY(merge_gl(d, theta_local, data, cfg, red, merged, transforms, info, err));
    }
    /* merged is the same on every rank, so is this check */
    FM_CHECK(count_nonfinite(n, merged) == 0, FM_ENUMERIC, "%s: the merged policy is not finite", name);
cleanup:
    return status;
}
