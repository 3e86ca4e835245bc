/* test_merge_linear_ref.c - the linear merges of App. G.4 against independent references:
 *   - Eq. G.11 by brute force over all k! permutations (k = 3..5, non-identical models): every
 *     aligning step of linear_perm, the alternation (Eq. G.10-G.12) run step by step, and its
 *     objective;
 *   - a NumPy/SciPy reference (tests/fixtures/make_linear_merge_fixture.py, committed output
 *     tests/fixtures/linear_merge_fixture.h) for linear_perm's iterates (k = 6, LAP by SciPy) and
 *     linear_gl's alternating gradient steps on Eq. G.14 (theta-bar step, P step, normalization,
 *     anchor and identity starts) after 1, 2, 3, 5, 20 and 200 steps.
 * fm_merge_linear is run with merge.perm_iters / merge.gl_steps = t for each t, so the iterates
 * are observed through the public entry point. */
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"
#include "fixtures/linear_merge_fixture.h"
#include "merge/merge.h"
#include "nn/linpol.h"
#include "tap.h"

enum { KMAX = 6, PMAX = 5, MMAX = 2, NMAX = 4, SZMAX = KMAX * KMAX + KMAX * PMAX + MMAX * KMAX };

static double max_diff(size_t n, const double *a, const double *b)
{
    double w = 0;
    for (size_t i = 0; i < n; i++)
        w = fmax(w, fabs(a[i] - b[i]));
    return w;
}

static double max_abs(size_t n, const double *a)
{
    double w = 0;
    for (size_t i = 0; i < n; i++)
        w = fmax(w, fabs(a[i]));
    return w;
}

/* ---------------- brute-force reference of Eq. G.10 / G.11 ---------------- */

/* C = A B for small dense row-major matrices (A: r x s, B: s x c); ta: use A' (A is s x r). */
static void mm(int ta, int r, int s, int c, const double *A, const double *B, double *C)
{
    for (int i = 0; i < r; i++)
        for (int j = 0; j < c; j++) {
            double v = 0;
            for (int q = 0; q < s; q++)
                v += (ta ? A[q * r + i] : A[i * s + q]) * B[q * c + j];
            C[i * c + j] = v;
        }
}

/* The permutation matrix of perm: P[r][perm[r]] = 1. */
static void pmat(int k, const int *perm, double *P)
{
    memset(P, 0, sizeof(double) * k * k);
    for (int r = 0; r < k; r++)
        P[r * k + perm[r]] = 1.0;
}

/* out = (Pl' A Pr, Pr' B, C Pr) (Eq. G.11's aligned model; Pl = Pr in Eq. G.10). */
static void aligned(const fm_lindims *d, const double *Pl, const double *Pr, const double *th, double *out)
{
    int k = d->k, p = d->p, m = d->m;
    double t[KMAX * KMAX];
    mm(1, k, k, k, Pl, th, t);
    mm(0, k, k, k, t, Pr, out);
    mm(1, k, k, p, Pr, th + k * k, out + k * k);
    mm(0, m, k, k, th + k * k + k * p, Pr, out + k * k + k * p);
}

static double sqdist(size_t n, const double *a, const double *b)
{
    double s = 0;
    for (size_t j = 0; j < n; j++)
        s += (a[j] - b[j]) * (a[j] - b[j]);
    return s;
}

/* Eq. G.11 for one robot: ||bar - (P_prev' A P, P' B, C P)||^2. */
static double g11(const fm_lindims *d, const double *th, const double *bar, const double *Pprev, const double *P)
{
    double a[SZMAX];
    aligned(d, Pprev, P, th, a);
    return sqdist(fm_lin_size(d), a, bar);
}

/* Next permutation in lexicographic order; 0 after the last. */
static int next_perm(int k, int *s)
{
    int i = k - 2;
    while (i >= 0 && s[i] > s[i + 1])
        i--;
    if (i < 0)
        return 0;
    int j = k - 1;
    while (s[j] < s[i])
        j--;
    int t = s[i];
    s[i] = s[j], s[j] = t;
    for (int a = i + 1, b = k - 1; a < b; a++, b--)
        t = s[a], s[a] = s[b], s[b] = t;
    return 1;
}

/* argmin over all k! permutations of Eq. G.11; *gap = second best - best. */
static void g11_brute(const fm_lindims *d, const double *th, const double *bar, const int *prev, int *best,
                      double *gap)
{
    int k = d->k, s[KMAX];
    double Pp[KMAX * KMAX], P[KMAX * KMAX], b1 = INFINITY, b2 = INFINITY;
    pmat(k, prev, Pp);
    for (int r = 0; r < k; r++)
        s[r] = r;
    do {
        pmat(k, s, P);
        double v = g11(d, th, bar, Pp, P);
        if (v < b1)
            b2 = b1, b1 = v, memcpy(best, s, sizeof(int) * k);
        else if (v < b2)
            b2 = v;
    } while (next_perm(k, s));
    *gap = b2 - b1;
}

/* bar = 1/N sum_i (P_i' A_i P_i, P_i' B_i, C_i P_i): the minimizer of Eq. G.10 for fixed P_i. */
static void merge_step(const fm_lindims *d, int N, const double *th, const int *perms, double *bar)
{
    size_t n = fm_lin_size(d);
    double P[KMAX * KMAX], a[SZMAX];
    memset(bar, 0, sizeof(double) * n);
    for (int i = 0; i < N; i++) {
        pmat(d->k, perms + i * d->k, P);
        aligned(d, P, P, th + i * n, a);
        for (size_t j = 0; j < n; j++)
            bar[j] += a[j] / N;
    }
}

/* The alternation of App. G.4.1 with brute-force aligning steps, `iters` of them at most (stops
 * when none changes). Returns the alternations run; perms, bar, *obj (Eq. G.10) at the end;
 * *gap the smallest brute-force margin met (a tie would make the reference ambiguous). */
static int perm_reference(const fm_lindims *d, int N, const double *th, int iters, int *perms, double *bar,
                          double *obj, double *gap)
{
    int k = d->k, it = 0;
    size_t n = fm_lin_size(d);
    *gap = INFINITY;
    for (int i = 0; i < N; i++)
        for (int r = 0; r < k; r++)
            perms[i * k + r] = r;
    for (;;) {
        merge_step(d, N, th, perms, bar);
        if (it == iters)
            break;
        it++;
        int changed = 0, next[KMAX];
        for (int i = 0; i < N; i++) {
            double g;
            g11_brute(d, th + i * n, bar, perms + i * k, next, &g);
            *gap = fmin(*gap, g);
            changed |= memcmp(next, perms + i * k, sizeof(int) * k) != 0;
            memcpy(perms + i * k, next, sizeof(int) * k);
        }
        if (!changed)
            break;
    }
    double P[KMAX * KMAX], a[SZMAX];
    *obj = 0;
    for (int i = 0; i < N; i++) {
        pmat(k, perms + i * k, P);
        aligned(d, P, P, th + i * n, a);
        *obj += sqdist(n, a, bar);
    }
    return it;
}

/* Non-identical models: permuted copies of one policy plus noise of size `noise`. */
static void noisy_copies(const fm_lindims *d, int N, double noise, fm_rng *r, double *th)
{
    size_t n = fm_lin_size(d);
    int k = d->k, s[KMAX];
    double base[SZMAX], P[KMAX * KMAX];
    for (size_t j = 0; j < n; j++)
        base[j] = fm_rng_normal(r) * (j < (size_t)k * k ? 0.3 : 1.0);
    for (int i = 0; i < N; i++) {
        fm_rng_permutation(r, k, s);
        pmat(k, s, P);
        aligned(d, P, P, base, th + i * n);
        for (size_t j = 0; j < n; j++)
            th[i * n + j] += noise * fm_rng_normal(r);
    }
}

/* T_i (transforms of fm_merge_linear) as the permutation of Eq. G.10: T = P', so row c of T has
 * its 1 in column r = the row of P holding column c; returns 0 if T is not a permutation matrix. */
static int perm_of_T(int k, const double *T, int *perm)
{
    for (int r = 0; r < k; r++)
        perm[r] = -1;
    for (int c = 0; c < k; c++)
        for (int r = 0; r < k; r++) {
            double v = T[c * k + r];
            if (v != 0.0 && v != 1.0)
                return 0;
            if (v == 1.0) {
                if (perm[r] >= 0)
                    return 0;
                perm[r] = c;
            }
        }
    for (int r = 0; r < k; r++)
        if (perm[r] < 0)
            return 0;
    return 1;
}

/* Every alternation count t = 1 .. until convergence: the code's merged policy, permutations,
 * objective and alternation count equal the brute-force reference. */
static void test_g11_brute(fm_config *cfg, int k, uint64_t seed)
{
    enum { N = 3 };
    fm_lindims d = {.arch = FM_ARCH_DYNAMIC_LINEAR, .k = k, .p = 3, .m = 2};
    size_t n = fm_lin_size(&d);
    double th[N * SZMAX], bar[SZMAX], mrg[SZMAX], T[N * KMAX * KMAX];
    int perms[N * KMAX], got[KMAX];
    fm_rng r;
    fm_rng_seed(&r, seed, 0, 0);
    noisy_copies(&d, N, 0.6, &r, th);
    fm_reducer red = fm_reducer_serial(N);
    int converged = 0, moved = 0;
    for (int t = 1; t <= 12 && !converged; t++) {
        double obj = 0, gap = 0;
        int it = perm_reference(&d, N, th, t, perms, bar, &obj, &gap);
        converged = it < t;
        cfg->merge.perm_iters = t;
        fm_merge_info info;
        fm_err err;
        fm_err_clear(&err);
        ok(fm_merge_linear(FM_MERGE_LINEAR_PERM, &d, th, cfg, &red, mrg, T, &info, &err) == FM_OK,
           "k=%d perm_iters=%d: linear_perm runs (%s)", k, t, err.msg);
        ok(gap > 1e-9, "k=%d t=%d: the brute-force optimum of Eq. G.11 is unique (margin %.3g)", k, t, gap);
        int same = 1;
        for (int i = 0; i < N; i++) {
            same &= perm_of_T(k, T + i * k * k, got) && memcmp(got, perms + i * k, sizeof(int) * k) == 0;
            moved |= memcmp(got, (int[KMAX]){0, 1, 2, 3, 4, 5}, sizeof(int) * k) != 0;
        }
        ok(same, "k=%d t=%d: every P_i is the brute-force argmin of Eq. G.11 over all %d! permutations", k, t, k);
        is_close(max_diff(n, mrg, bar), 0.0, 1e-12 * (1 + max_abs(n, bar)), 0.0,
                 "k=%d t=%d: merged policy = mean of the aligned models (merging step)", k, t);
        is_close(info.objective, obj, 1e-12, 1e-10, "k=%d t=%d: objective = Eq. G.10 at the end", k, t);
        is_int(info.iterations, it, "k=%d t=%d: alternations", k, t);
    }
    ok(converged, "k=%d: the alternation converged within 12 steps", k);
    ok(moved, "k=%d: some permutation is not the identity (the case exercises the aligning step)", k);
}

/* ---------------- NumPy/SciPy fixture ---------------- */

static void test_perm_fixture(fm_config *cfg)
{
    fm_lindims d = {.arch = FM_ARCH_DYNAMIC_LINEAR, .k = FX_PERM_K, .p = FX_PERM_P, .m = FX_PERM_M};
    size_t n = fm_lin_size(&d), kk = (size_t)FX_PERM_K * FX_PERM_K;
    double mrg[SZMAX], T[FX_PERM_N * KMAX * KMAX];
    fm_reducer red = fm_reducer_serial(FX_PERM_N);
    for (int c = 0; c < FX_PERM_CASES; c++) {
        cfg->merge.perm_iters = fx_perm_iters[c];
        fm_merge_info info;
        fm_err err;
        fm_err_clear(&err);
        ok(fm_merge_linear(FM_MERGE_LINEAR_PERM, &d, fx_perm_theta, cfg, &red, mrg, T, &info, &err) == FM_OK,
           "fixture perm_iters=%d: linear_perm runs (%s)", fx_perm_iters[c], err.msg);
        is_close(max_diff(n, mrg, fx_perm_merged + c * n), 0.0, 1e-12, 0.0,
                 "fixture perm_iters=%d: merged policy = NumPy reference", fx_perm_iters[c]);
        is_close(max_diff(FX_PERM_N * kk, T, fx_perm_T + c * FX_PERM_N * kk), 0.0, 0.0, 0.0,
                 "fixture perm_iters=%d: permutations = SciPy's assignments", fx_perm_iters[c]);
        is_close(info.objective, fx_perm_obj[c], 0.0, 1e-12, "fixture perm_iters=%d: objective Eq. G.10",
                 fx_perm_iters[c]);
        is_int(info.iterations, fx_perm_alternations[c], "fixture perm_iters=%d: alternations", fx_perm_iters[c]);
    }
}

static void test_gl_fixture(fm_config *cfg)
{
    fm_lindims d = {.arch = FM_ARCH_DYNAMIC_LINEAR, .k = FX_GL_K, .p = FX_GL_P, .m = FX_GL_M};
    size_t n = fm_lin_size(&d), kk = (size_t)FX_GL_K * FX_GL_K;
    double mrg[SZMAX], P[FX_GL_N * KMAX * KMAX];
    fm_reducer red = fm_reducer_serial(FX_GL_N);
    for (int c = 0; c < FX_GL_CONFIGS; c++) {
        static const char *starts[] = {"anchor", "identity", "permutation"};
        static const char *norms[] = {"no normalization", "determinant", "frobenius"};
        cfg->merge.gl_start = fx_gl_start[c]; /* the fixture numbers these as fm_gl_start / fm_gl_norm */
        cfg->merge.gl_normalize = fx_gl_normalize[c];
        cfg->merge.gl_lr = fx_gl_lr[c];
        cfg->merge.perm_iters = FX_GL_PERM_ITERS;
        cfg->merge.gl_tol = 0.0, cfg->merge.gl_select = FM_GL_SELECT_NONE; /* the fixture's step counts */
        char what[64];
        snprintf(what, sizeof what, "%s, %s", starts[fx_gl_start[c]], norms[fx_gl_normalize[c]]);
        for (int s = 0; s < FX_GL_CASES; s++) {
            size_t row = (size_t)c * FX_GL_CASES + s;
            cfg->merge.gl_steps = fx_gl_steps[s];
            fm_merge_info info;
            fm_err err;
            fm_err_clear(&err);
            ok(fm_merge_linear(FM_MERGE_LINEAR_GL, &d, fx_gl_theta, cfg, &red, mrg, P, &info, &err) == FM_OK,
               "fixture gl (%s, lr %g) steps=%d runs (%s)", what, fx_gl_lr[c], fx_gl_steps[s], err.msg);
            const double *wm = fx_gl_merged + row * n, *wp = fx_gl_P + row * FX_GL_N * kk;
            is_close(max_diff(n, mrg, wm), 0.0, 1e-9 * (1 + max_abs(n, wm)), 0.0,
                     "fixture gl (%s) steps=%d: theta-bar = NumPy reference", what, fx_gl_steps[s]);
            is_close(max_diff(FX_GL_N * kk, P, wp), 0.0, 1e-9 * (1 + max_abs(FX_GL_N * kk, wp)), 0.0,
                     "fixture gl (%s) steps=%d: P_i = NumPy reference", what, fx_gl_steps[s]);
            is_close(info.objective, fx_gl_obj[row], 1e-12, 1e-8, "fixture gl (%s) steps=%d: objective Eq. G.14",
                     what, fx_gl_steps[s]);
        }
    }
}

/* The setting of the gl_tol cases: identity start, determinant scale, lr 0.3, tolerance 1e-3
 * (which stops the fixture after a few hundred steps), the last iterate. */
static void gl_tol_setting(fm_config *cfg)
{
    cfg->merge.gl_start = FM_GL_START_IDENTITY, cfg->merge.gl_normalize = FM_GL_NORM_DETERMINANT;
    cfg->merge.gl_lr = 0.3, cfg->merge.gl_steps = 100000, cfg->merge.gl_tol = 1e-3;
    cfg->merge.gl_select = FM_GL_SELECT_NONE;
}

/* merge.gl_tol: the merge stops at the first multiple I of FM_GL_TOL_WINDOW steps where the
 * objective fell by at most gl_tol (relative) over the last window. Judged from outside: runs of
 * exactly I, I - 100 and I - 200 steps without a tolerance give the objectives of the definition. */
static void test_gl_tol(fm_config *cfg)
{
    fm_lindims d = {.arch = FM_ARCH_DYNAMIC_LINEAR, .k = FX_GL_K, .p = FX_GL_P, .m = FX_GL_M};
    size_t n = fm_lin_size(&d);
    double mrg[SZMAX], ref[SZMAX], P[FX_GL_N * KMAX * KMAX];
    fm_reducer red = fm_reducer_serial(FX_GL_N);
    fm_merge_info info, at;
    fm_err err;
    fm_err_clear(&err);
    gl_tol_setting(cfg);
    ok(fm_merge_linear(FM_MERGE_LINEAR_GL, &d, fx_gl_theta, cfg, &red, mrg, P, &info, &err) == FM_OK,
       "gl_tol run (%s)", err.msg);
    int I = info.iterations;
    ok(I >= 2 * FM_GL_TOL_WINDOW && I < 100000 && I % FM_GL_TOL_WINDOW == 0,
       "gl_tol 1e-3 stops early at a window boundary (%d steps)", I);
    double obj[3];
    cfg->merge.gl_tol = 0.0;
    for (int w = 0; w < 3; w++) {
        cfg->merge.gl_steps = I - w * FM_GL_TOL_WINDOW;
        fm_merge_linear(FM_MERGE_LINEAR_GL, &d, fx_gl_theta, cfg, &red, ref, NULL, &at, &err);
        obj[w] = at.objective;
        if (w == 0)
            ok(memcmp(ref, mrg, sizeof(double) * n) == 0 && at.objective == info.objective && at.iterations == I,
               "gl_tol's result = the run of exactly %d steps", I);
    }
    ok(obj[1] - obj[0] <= 1e-3 * obj[1], "last window fell by %.3g <= 1e-3 (relative)", (obj[1] - obj[0]) / obj[1]);
    ok(obj[2] - obj[1] > 1e-3 * obj[2], "the window before fell by %.3g > 1e-3: it did not stop early",
       (obj[2] - obj[1]) / obj[2]);
    cfg->merge.gl_steps = 2000;
}

/* merge.gl_select: bc_loss returns, of the iterates at steps 0, 100, 200, ... and the last, the one
 * with the lowest mean per-step BC loss on the robots' demonstrations. Judged from outside: every
 * candidate is recomputed as a run of exactly that many steps without selection and scored with
 * fm_lin_loss_grad. The robots' data (2-7 trajectories each, labels with a little noise) are
 * labelled by the iterate of step `label_step` (0: the identity start's plain average; 300: an
 * interior one; STEPS = 650: the last, off the 100-step grid), so the best is a known choice. */
static void gl_select_case(fm_config *cfg, int label_step)
{
    enum { NT = 7, T = 15, W = FM_GL_TOL_WINDOW, STEPS = 650 };
    fm_lindims d = {.arch = FM_ARCH_DYNAMIC_LINEAR, .k = FX_GL_K, .p = FX_GL_P, .m = FX_GL_M};
    size_t n = fm_lin_size(&d);
    double label[SZMAX], mrg[SZMAX], ref[SZMAX], P[FX_GL_N * KMAX * KMAX], Pref[FX_GL_N * KMAX * KMAX];
    fm_demos demos[FX_GL_N];
    fm_reducer red = fm_reducer_serial(FX_GL_N);
    fm_merge_info info, at;
    fm_err err;
    fm_err_clear(&err);
    cfg->merge.gl_start = FM_GL_START_IDENTITY, cfg->merge.gl_normalize = FM_GL_NORM_NONE;
    cfg->merge.gl_lr = 0.5, cfg->merge.gl_tol = 0.0, cfg->merge.gl_select = FM_GL_SELECT_NONE;
    cfg->merge.gl_steps = label_step;
    fm_merge_linear(FM_MERGE_LINEAR_GL, &d, fx_gl_theta, cfg, &red, label, NULL, &at, &err);
    fm_rng r;
    fm_rng_seed(&r, 77, 0, 0);
    for (int i = 0; i < FX_GL_N; i++) {
        int nt = 2 + (i * 5) / (FX_GL_N - 1); /* unequal shares: the loss is a mean per step */
        fm_demos_alloc(&demos[i], nt, T, FX_GL_P, FX_GL_M, NULL);
        for (int t = 0; t < nt; t++) {
            demos[i].length[t] = T;
            for (int q = 0; q < T * FX_GL_P; q++)
                demos[i].obs[(size_t)t * T * FX_GL_P + q] = fm_rng_normal(&r);
            double *act = demos[i].act + (size_t)t * T * FX_GL_M;
            fm_lin_actions(&d, label, demos[i].obs + (size_t)t * T * FX_GL_P, T, act);
            for (int q = 0; q < T * FX_GL_M; q++)
                act[q] += 1e-3 * fm_rng_normal(&r);
        }
    }
    cfg->merge.gl_steps = STEPS, cfg->merge.gl_select = FM_GL_SELECT_BC_LOSS;
    ok(fm_merge_linear(FM_MERGE_LINEAR_GL, &d, fx_gl_theta, cfg, &red, mrg, P, &info, &err) == FM_EINVAL &&
           strstr(err.msg, "merge.gl_select"),
       "gl_select: bc_loss without demonstrations is refused by name (%s)", err.msg);
    fm_err_clear(&err);
    ok(fm_merge_linear_data(FM_MERGE_LINEAR_GL, &d, fx_gl_theta, demos, cfg, &red, mrg, P, &info, &err) == FM_OK,
       "gl_select: bc_loss runs (%s)", err.msg);
    cfg->merge.gl_select = FM_GL_SELECT_NONE;
    double work[4096], best = INFINITY;
    ok(fm_lin_work_size(&d, &demos[0]) <= 4096, "scoring buffer large enough");
    int best_step = -1;
    for (int s = 0; s <= STEPS; s = s + W > STEPS && s < STEPS ? STEPS : s + W) {
        cfg->merge.gl_steps = s;
        fm_merge_linear(FM_MERGE_LINEAR_GL, &d, fx_gl_theta, cfg, &red, ref, Pref, &at, &err);
        double sum = 0.0, steps = 0.0;
        for (int i = 0; i < FX_GL_N; i++)
            sum += fm_lin_loss_grad(&d, ref, &demos[i], -1, NULL, work, &steps);
        if (sum / steps < best) {
            best = sum / steps, best_step = s;
            if (s == info.selected) {
                ok(memcmp(ref, mrg, sizeof(double) * n) == 0 &&
                       memcmp(Pref, P, sizeof(double) * FX_GL_N * FX_GL_K * FX_GL_K) == 0,
                   "the selected merge and P_i = those of a run of exactly %d steps", s);
                ok(at.objective == info.objective, "the reported objective is the selected iterate's (%g)",
                   at.objective);
            }
        }
    }
    is_int(best_step, label_step, "data labelled by step %d's merge: its iterate has the lowest BC loss", label_step);
    is_int(info.selected, best_step, "gl_select returns the iterate with the lowest BC loss (step %d)", best_step);
    is_close(info.bc_loss, best, 1e-12, 1e-9, "reported BC loss = the loss recomputed from the demonstrations");
    ok(info.bc_loss > 0.0, "the labels' noise keeps the loss positive (%g)", info.bc_loss);
    ok(info.selected % W == 0 || info.selected == STEPS, "only checked iterates are returned (step %d)",
       info.selected);
    is_int(info.iterations, STEPS, "all %d steps ran", STEPS);
    for (int i = 0; i < FX_GL_N; i++)
        fm_demos_free(&demos[i]);
    cfg->merge.gl_steps = 2000;
}

/* gl_tol and gl_select together: the iterate at which the tolerance stops is a candidate too. */
static void gl_select_tol_case(fm_config *cfg)
{
    enum { NT = 4, T = 15 };
    fm_lindims d = {.arch = FM_ARCH_DYNAMIC_LINEAR, .k = FX_GL_K, .p = FX_GL_P, .m = FX_GL_M};
    double label[SZMAX], mrg[SZMAX];
    fm_demos demos[FX_GL_N];
    fm_reducer red = fm_reducer_serial(FX_GL_N);
    fm_merge_info stop, info;
    fm_err err;
    fm_err_clear(&err);
    gl_tol_setting(cfg);
    fm_merge_linear(FM_MERGE_LINEAR_GL, &d, fx_gl_theta, cfg, &red, label, NULL, &stop, &err);
    fm_rng r;
    fm_rng_seed(&r, 78, 0, 0);
    for (int i = 0; i < FX_GL_N; i++) { /* labelled by the iterate where the tolerance stops */
        fm_demos_alloc(&demos[i], NT, T, FX_GL_P, FX_GL_M, NULL);
        for (int t = 0; t < NT; t++) {
            demos[i].length[t] = T;
            for (int q = 0; q < T * FX_GL_P; q++)
                demos[i].obs[(size_t)t * T * FX_GL_P + q] = fm_rng_normal(&r);
            fm_lin_actions(&d, label, demos[i].obs + (size_t)t * T * FX_GL_P, T, demos[i].act + (size_t)t * T * FX_GL_M);
        }
    }
    cfg->merge.gl_select = FM_GL_SELECT_BC_LOSS;
    ok(fm_merge_linear_data(FM_MERGE_LINEAR_GL, &d, fx_gl_theta, demos, cfg, &red, mrg, NULL, &info, &err) == FM_OK,
       "gl_tol + gl_select runs (%s)", err.msg);
    ok(info.iterations == stop.iterations && info.selected == stop.iterations &&
           memcmp(mrg, label, sizeof(double) * fm_lin_size(&d)) == 0,
       "the iterate where gl_tol stops (step %d) is scored and kept (selected %d)", stop.iterations, info.selected);
    for (int i = 0; i < FX_GL_N; i++)
        fm_demos_free(&demos[i]);
    cfg->merge.gl_select = FM_GL_SELECT_NONE, cfg->merge.gl_tol = 0.0, cfg->merge.gl_steps = 2000;
}

static void test_gl_select(fm_config *cfg)
{
    gl_select_case(cfg, 0);
    gl_select_case(cfg, 3 * FM_GL_TOL_WINDOW);
    gl_select_case(cfg, 650);
    gl_select_tol_case(cfg);
}

int main(void)
{
    fm_config cfg;
    fm_cfg_defaults(&cfg);
    test_g11_brute(&cfg, 3, 31);
    test_g11_brute(&cfg, 4, 32);
    test_g11_brute(&cfg, 5, 38);
    test_perm_fixture(&cfg);
    test_gl_fixture(&cfg);
    test_gl_tol(&cfg);
    test_gl_select(&cfg);
    return done_testing();
}
