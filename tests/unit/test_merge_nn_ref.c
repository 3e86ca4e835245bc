/* test_merge_nn_ref.c - the neural merges (git_rebasin, sinkhorn_rebasin, fleet_merge and its
 * App. F ablations) judged from outside, against references that do not use merge_nn.c:
 *   - the gradient of one soft-permutation step (Eq. 3.1 / Algorithm 1 line 10: BC loss of
 *     alpha P(theta) + (1 - alpha) ref, P = Sinkhorn(L / tau)) w.r.t. the logits L, composed from
 *     the public pieces as soft_step composes them, against central differences;
 *   - the soft update must do the work: sinkhorn_rebasin from the identity recovers a permuted
 *     copy exactly; fleet_merge repairs a weight-matching start that a misleading weight (on an
 *     input that is always 0 in the data) got wrong;
 *   - the reference each variant trains against (line 5 / 10 and the ablations): with a no-op
 *     soft update (lr ~ 0, no noise) the logged interpolated loss is a Monte Carlo estimate of
 *     int_0^1 L(alpha Q(aligned) + (1 - alpha) ref) d alpha, computed here by quadrature with
 *     Q = Sinkhorn of a one-hot matrix in closed form (fleet_merge_simplex with N = 3: a 2-D
 *     integral over the hull); fleet_merge_soft's result is exactly Q(mean), fleet_merge's the
 *     mean of the aligned models; fleet_merge_soft mixes units doubly-stochastically;
 *   - line 6: max(1, round(f N)) robots update per epoch, a fresh subset each epoch;
 *   - MergeMany: several sweeps reach the brute-force minimum of the spread sum_i |P_i(theta_i) -
 *     mean|^2 over all permutations (N = 3, 5 hidden units) where one sweep does not.
 *   - sinkhorn_data (App. F): each re-match trains against the mean of the OTHER robots (Monte
 *     Carlo of the same integral, N = 3, against the full mean and robot 0's model); a case
 *     (identity start, 2 robots) it solves and fleet_merge with the same budget does not; its
 *     logits persist across sweeps (starting sharpness continues, fleet_merge restarts); it
 *     repairs a misleading weight-matching start that git_rebasin keeps.
 * Everything runs through the public fm_merge_nn / fm_merge_nn_aligned (soft_step is static). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "align/apply.h"
#include "align/sinkhorn.h"
#include "config/cfg.h"
#include "merge/merge_nn.h"
#include "nn/train.h"
#include "tap.h"

enum { T = 12, NTRAJ = 24, IN = 3 };

/* Demonstrations of a teacher with memory; the third observation is always 0. */
static void teacher_demos(fm_demos *d, fm_rng *r)
{
    fm_demos_alloc(d, NTRAJ, T, IN, 1, NULL);
    for (int i = 0; i < NTRAJ; i++) {
        d->length[i] = T;
        double prev = 0;
        for (int t = 0; t < T; t++) {
            double *y = d->obs + ((size_t)i * T + t) * IN;
            y[0] = fm_rng_normal(r), y[1] = fm_rng_normal(r), y[2] = 0.0;
            d->act[(size_t)i * T + t] = tanh(y[0] - 0.5 * y[1]) + 0.4 * prev;
            prev = y[0];
        }
    }
}

static fm_nn_spec spec_of(int arch, int h0, int h1)
{
    fm_nn_spec s = {.arch = arch, .act = FM_NN_TANH, .in_dim = IN, .out_dim = 1, .nhidden = h1 ? 2 : 1,
                    .hidden = {h0, h1}};
    return s;
}

/* A model of spec s, normalized for d, initialized from r and trained `epochs` epochs on d. */
static void make_model(fm_model *m, const fm_nn_spec *s, const fm_demos *d, fm_rng *r, int epochs)
{
    fm_model_create(m, s, NULL);
    fm_model_init(m, r);
    double sums[2 * (IN + 1) + 1] = {0};
    fm_nn_norm_sums(s, d, sums);
    fm_nn_norm_set(m, sums);
    fm_nn_train_opts to = {.epochs = epochs, .batch = 8, .optimizer = FM_OPT_ADAM, .lr = 0.01, .grad_clip = 1};
    double loss = 0;
    if (epochs > 0)
        fm_nn_train(m, d, &to, NULL, r, &loss, NULL);
}

/* Every trajectory of d as one batch. */
typedef struct full_batch {
    fm_nn_batch b;
    fm_nn_ws *ws;
    float *u;
} full_batch;

static void fb_create(full_batch *fb, const fm_model *m, const fm_demos *d)
{
    int idx[NTRAJ];
    for (int i = 0; i < NTRAJ; i++)
        idx[i] = i;
    fm_nn_batch_create(&fb->b, T, NTRAJ, IN, 1, NULL);
    fm_nn_batch_fill(&fb->b, d, idx, NULL, NTRAJ);
    fm_nn_ws_create(m, T, NTRAJ, &fb->ws, NULL);
    fb->u = malloc(sizeof(float) * T * NTRAJ * 2);
}

static void fb_free(full_batch *fb)
{
    fm_nn_batch_free(&fb->b);
    fm_nn_ws_free(fb->ws);
    free(fb->u);
}

/* Mean per-step BC loss (Eq. 2.4) of parameters w with m's normalization; grad (may be NULL)
 * += its gradient (of the mean). */
static double mean_loss(const fm_model *m, const float *w, full_batch *fb, float *grad)
{
    fm_model x = *m;
    x.w = (float *)w;
    double count = 0;
    double l = fm_nn_loss_grad(&x, fb->ws, fb->b.obs, fb->b.act, fb->b.mask, T, NTRAJ, grad, &count);
    if (grad)
        for (size_t j = 0; j < m->layout.total; j++)
            grad[j] /= (float)count;
    return l / count;
}

/* max |actions(a) - actions(b)| over the demonstrations. */
static double action_gap(const fm_model *a, const fm_model *b, full_batch *fb)
{
    float *ua = fb->u, *ub = fb->u + T * NTRAJ;
    fm_nn_forward(a, fb->ws, fb->b.obs, T, NTRAJ, ua);
    fm_nn_forward(b, fb->ws, fb->b.obs, T, NTRAJ, ub);
    double gap = 0;
    for (int i = 0; i < T * NTRAJ; i++)
        gap = fmax(gap, fabs(ua[i] - ub[i]));
    return gap;
}

/* copy = P(base) with a random permutation of every group; perms (may be NULL) receives them. */
static void permuted_copy(const fm_model *base, fm_rng *r, fm_model *copy, int perms[][16])
{
    const fm_layout *l = &base->layout;
    int p[FM_NN_MAX_GROUPS][16];
    const int *pp[FM_NN_MAX_GROUPS];
    for (int g = 0; g < l->ngroups; g++) {
        fm_rng_permutation(r, l->group_size[g], p[g]);
        pp[g] = p[g];
        if (perms)
            memcpy(perms[g], p[g], sizeof(int) * l->group_size[g]);
    }
    fm_model_create(copy, &base->spec, NULL);
    fm_model_copy(copy, base);
    fm_layout_permute(l, pp, base->w, copy->w);
}

static fm_merge_nn_opts default_opts(void)
{
    fm_merge_nn_opts o = {.wm_passes = 50, .mm_sweeps = 10, .epochs = 2, .steps = 100, .subset = 1.0, .tau = 1.0,
                          .sk_iters = 20, .lr = 0.1, .noise = 0.1, .batch = NTRAJ, .init_wm = 1};
    return o;
}

/* dst = a new copy of src. */
static void model_dup(fm_model *dst, const fm_model *src)
{
    fm_model_create(dst, &src->spec, NULL);
    fm_model_copy(dst, src);
}

/* m's parameters = a random permutation of them. */
static void permute_in_place(fm_model *m, fm_rng *r)
{
    fm_model tmp;
    permuted_copy(m, r, &tmp, NULL);
    memcpy(m->w, tmp.w, sizeof(float) * m->layout.total);
    fm_model_free(&tmp);
}

/* n robots on the same demonstrations: their models m[0..n) (made by the test), the merged model,
 * a serial reducer, the default options and the last merge's error and log; optionally a base
 * model the robots derive from and a full batch of the demonstrations. */
enum { MAXN = 6 };
typedef struct copy_fleet {
    int n, has_base, has_fb;
    fm_model base, m[MAXN], merged;
    full_batch fb;
    fm_demos data[MAXN];
    fm_reducer red;
    fm_merge_nn_opts o;
    fm_err err;
    fm_merge_nn_log log;
} copy_fleet;

/* Everything but the base and the batch; draws nothing from a random stream. */
static void cf_init(copy_fleet *f, const fm_demos *d, const fm_nn_spec *s, int n)
{
    f->n = n, f->has_base = 0, f->has_fb = 0;
    for (int i = 0; i < n; i++)
        f->data[i] = *d;
    f->red = fm_reducer_serial(n);
    f->o = default_opts();
    fm_model_create(&f->merged, s, NULL);
}

/* cf_init and a base model of spec s trained `epochs` epochs from r (make_model); with_fb: a full
 * batch of d. */
static void cf_create(copy_fleet *f, const fm_demos *d, fm_rng *r, const fm_nn_spec *s, int n, int epochs,
                      int with_fb)
{
    cf_init(f, d, s, n);
    make_model(&f->base, s, d, r, epochs);
    f->has_base = 1;
    if (with_fb) {
        fb_create(&f->fb, &f->base, d);
        f->has_fb = 1;
    }
}

/* Frees everything (all n robot models must exist). */
static void cf_free(copy_fleet *f)
{
    if (f->has_fb)
        fb_free(&f->fb);
    for (int i = 0; i < f->n; i++)
        fm_model_free(&f->m[i]);
    if (f->has_base)
        fm_model_free(&f->base);
    fm_model_free(&f->merged);
}

/* Robot i = a random permutation of the base, i = 0..n-1 in turn. */
static void cf_permuted_copies(copy_fleet *f, fm_rng *r)
{
    for (int i = 0; i < f->n; i++)
        permuted_copy(&f->base, r, &f->m[i], NULL);
}

/* Two robots: a copy of the base and a random permutation of `other`. */
static void cf_pair(copy_fleet *f, fm_rng *r, const fm_model *other)
{
    model_dup(&f->m[0], &f->base);
    permuted_copy(other, r, &f->m[1], NULL);
}

/* The misleading start: the base's weights ff on the always-zero third input of its H units made
 * large; the robots are permuted copies, the last one's junk weights permuted by a different
 * permutation (unit u's goes to the place of unit u ^ 1: units 0 <-> 1, 2 <-> 3). */
static void cf_misleading(copy_fleet *f, fm_rng *r, const fm_tensor *ff, int H)
{
    for (int u = 0; u < H; u++)
        f->base.w[ff->offset + u * IN + 2] = 5.0f * (u + 1);
    for (int i = 0; i < f->n; i++) {
        int perms[FM_NN_MAX_GROUPS][16];
        permuted_copy(&f->base, r, &f->m[i], perms);
        for (int u = 0; i == f->n - 1 && u < H; u++) /* unit u went to perms[0][u] */
            f->m[i].w[ff->offset + perms[0][u ^ 1] * IN + 2] = 5.0f * (u + 1);
    }
}

/* One merge of the robots with `method` and merge seed `seed` (fm_merge_nn_aligned into al unless
 * al is NULL); 1 on success, f->err cleared first. */
static int cf_merge(copy_fleet *f, int method, uint64_t seed, float *al)
{
    fm_err_clear(&f->err);
    fm_status st = al ? fm_merge_nn_aligned(method, f->m, f->data, &f->o, &f->red, seed, &f->merged, al, &f->log,
                                            &f->err)
                      : fm_merge_nn(method, f->m, f->data, &f->o, &f->red, seed, &f->merged, &f->log, &f->err);
    return st == FM_OK;
}

/* max |actions(merged) - actions(base)| over the demonstrations. */
static double cf_gap(copy_fleet *f)
{
    return action_gap(&f->merged, &f->base, &f->fb);
}

/* ---------------- 1. gradient of one soft-permutation step vs central differences ---------------- */

typedef struct soft_problem {
    const fm_model *m;
    const float *ref;
    float alpha;
    double tau;
    int iters;
    full_batch *fb;
    fm_sinkhorn_ws *sk[2];
    double *L[2], *P[2];
    float *wp, *wint, *grad;
} soft_problem;

/* f(L) = mean BC loss of alpha P(theta) + (1 - alpha) ref, P_g = Sinkhorn(L_g / tau). */
static double soft_loss(soft_problem *s, int with_grad)
{
    const fm_layout *l = &s->m->layout;
    for (int g = 0; g < l->ngroups; g++)
        fm_sinkhorn_forward(s->sk[g], s->L[g], s->P[g], NULL, NULL);
    fm_apply_soft(l, (const double *const *)s->P, s->m->w, s->wp, NULL);
    for (size_t j = 0; j < l->total; j++)
        s->wint[j] = s->alpha * s->wp[j] + (1.0f - s->alpha) * s->ref[j];
    if (with_grad)
        memset(s->grad, 0, sizeof(float) * l->total);
    return mean_loss(s->m, s->wint, s->fb, with_grad ? s->grad : NULL);
}

static void test_soft_step_grad(const fm_demos *d, uint64_t seed)
{
    fm_rng rng, *r = &rng;
    fm_rng_seed(r, seed, 0, 0);
    fm_nn_spec s = spec_of(FM_NN_RNN, 4, 3);
    fm_model m, other;
    make_model(&m, &s, d, r, 0);
    make_model(&other, &s, d, r, 0);
    const fm_layout *l = &m.layout;
    full_batch fb;
    fb_create(&fb, &m, d);
    soft_problem sp = {.m = &m, .ref = other.w, .alpha = 0.6f, .tau = 0.7, .iters = 10, .fb = &fb};
    fm_sinkhorn_opts so = {.tau = sp.tau, .iters = sp.iters};
    double *dP[2], *dL[2];
    for (int g = 0; g < l->ngroups; g++) {
        int n = l->group_size[g];
        fm_sinkhorn_ws_create(n, &so, &sp.sk[g], NULL);
        sp.L[g] = malloc(sizeof(double) * n * n), sp.P[g] = malloc(sizeof(double) * n * n);
        dP[g] = calloc((size_t)n * n, sizeof(double)), dL[g] = calloc((size_t)n * n, sizeof(double));
        for (int q = 0; q < n * n; q++)
            sp.L[g][q] = fm_rng_normal(r);
    }
    sp.wp = malloc(sizeof(float) * l->total), sp.wint = malloc(sizeof(float) * l->total);
    sp.grad = malloc(sizeof(float) * l->total);
    /* analytic: dL/d interp -> * alpha -> through the soft action -> through Sinkhorn (unrolled) */
    soft_loss(&sp, 1);
    for (size_t j = 0; j < l->total; j++)
        sp.grad[j] *= sp.alpha;
    fm_err err;
    fm_err_clear(&err);
    int st = fm_apply_soft_grad(l, (const double *const *)sp.P, m.w, sp.grad, dP, &err) == FM_OK;
    for (int g = 0; g < l->ngroups; g++)
        st &= fm_sinkhorn_backward(sp.sk[g], dP[g], dL[g], &err) == FM_OK;
    ok(st, "soft step: analytic chain runs (%s)", err.msg);
    double worst = 0, scale = 0, h = 1e-2;
    for (int g = 0; g < l->ngroups; g++)
        for (int q = 0; q < l->group_size[g] * l->group_size[g]; q++)
            scale = fmax(scale, fabs(dL[g][q]));
    for (int g = 0; g < l->ngroups; g++)
        for (int q = 0; q < l->group_size[g] * l->group_size[g]; q++) {
            double keep = sp.L[g][q];
            sp.L[g][q] = keep + h;
            double fp = soft_loss(&sp, 0);
            sp.L[g][q] = keep - h;
            double fmn = soft_loss(&sp, 0);
            sp.L[g][q] = keep;
            double num = (fp - fmn) / (2 * h), ana = dL[g][q];
            double tol = 2e-3 * scale + 2e-2 * fmax(fabs(num), fabs(ana));
            worst = fmax(worst, fabs(num - ana) / tol);
        }
    ok(scale > 1e-4, "soft step: the gradient is not trivially 0 (max |dL| %.3g)", scale);
    ok(worst <= 1.0, "soft step: d loss(alpha Sinkhorn(L/tau)(theta) + (1-alpha) ref) / dL = central differences "
       "(worst err / tol %.3g, %d + %d logits)", worst, l->group_size[0] * l->group_size[0],
       l->group_size[1] * l->group_size[1]);
    for (int g = 0; g < l->ngroups; g++) {
        fm_sinkhorn_ws_free(sp.sk[g]);
        free(sp.L[g]), free(sp.P[g]), free(dP[g]), free(dL[g]);
    }
    free(sp.wp), free(sp.wint), free(sp.grad);
    fb_free(&fb);
    fm_model_free(&m), fm_model_free(&other);
}

/* ---------------- 2. the soft update must do the work ---------------- */

/* sinkhorn_rebasin from the identity (no weight matching): the soft update alone must find the
 * permutation of a copy exactly. */
static void test_soft_update_recovers(const fm_demos *d, uint64_t seed)
{
    fm_rng rng, *r = &rng;
    fm_rng_seed(r, seed, 0, 0);
    fm_nn_spec s = spec_of(FM_NN_RNN, 4, 0);
    copy_fleet f;
    cf_create(&f, d, r, &s, 2, 40, 1);
    cf_pair(&f, r, &f.base);
    f.o.init_wm = 0, f.o.steps = 300, f.o.lr = 0.2, f.o.tau = 2.0;
    ok(cf_merge(&f, FM_MERGE_AVERAGE, 9, NULL), "average runs");
    double avg_gap = cf_gap(&f);
    ok(avg_gap > 0.3, "the copy is permuted: plain averaging changes the policy (gap %.3f)", avg_gap);
    for (uint64_t seed = 9; seed <= 11; seed++) {
        ok(cf_merge(&f, FM_MERGE_SINKHORN_REBASIN, seed, NULL), "sinkhorn_rebasin from the identity runs (%s)",
           f.err.msg);
        double gap = cf_gap(&f);
        ok(gap < 1e-4 && f.log.changed[0] > 0,
           "seed %d: the soft update alone recovers the permuted copy (gap %.2g, %g assignments changed)", (int)seed,
           gap, f.log.changed[0]);
    }
    cf_free(&f);
}

/* Permuted copies whose weights on the always-zero third input are large and, for the last
 * robot, permuted by a different permutation: weight matching follows those weights and gets the
 * last robot wrong; the data do not see them, so fleet_merge's soft update (started from weight
 * matching) must repair it. */
static void test_misleading_wm(const fm_demos *d, uint64_t seed)
{
    fm_rng rng, *r = &rng;
    fm_rng_seed(r, seed, 0, 0);
    enum { N = 6, H = 4 };
    fm_nn_spec s = spec_of(FM_NN_RNN, H, 0);
    copy_fleet f;
    cf_create(&f, d, r, &s, N, 40, 1);
    const fm_tensor *ff = fm_layout_find(&f.base.layout, "head0.w");
    ok(ff && ff->shape[0] == H && ff->shape[1] == IN, "input weights found");
    if (!ff)
        return;
    cf_misleading(&f, r, ff, H);
    ok(cf_merge(&f, FM_MERGE_GIT_REBASIN, 1, NULL), "git_rebasin runs");
    double wm_gap = cf_gap(&f);
    ok(wm_gap > 0.2, "weight matching is misled by the unseen input's weights (gap %.3f)", wm_gap);
    /* the soft update is stochastic (logit noise, alpha, batches): most merge seeds must repair it */
    int exact = 0, runs = 6;
    size_t n = f.base.layout.total;
    float *al = malloc(sizeof(float) * N * n);
    double worst13 = 0;
    for (uint64_t mseed = 1; mseed <= (uint64_t)runs; mseed++) {
        ok(cf_merge(&f, FM_MERGE_FLEET_MERGE, mseed, al), "fleet_merge seed %d runs (%s)", (int)mseed, f.err.msg);
        double gap = cf_gap(&f);
        printf("# merge seed %d: gap %.3g, %g assignments changed in epoch 1\n", (int)mseed, gap, f.log.changed[0]);
        exact += gap < 1e-4;
        for (size_t j = 0; j < n; j++) { /* line 13: the mean of the final hard alignments */
            double m = 0;
            for (int i = 0; i < N; i++)
                m += al[i * n + j];
            worst13 = fmax(worst13, fabs(f.merged.w[j] - m / N) / (1 + fabs(m / N)));
        }
    }
    ok(exact >= runs / 2, "fleet_merge's soft update repairs the weight-matching start: %d of %d seeds recover the "
       "original policy exactly", exact, runs);
    ok(worst13 < 1e-6, "line 13: the result is the mean of the final hard-aligned models (max rel diff %.2g)", worst13);
    free(al);
    cf_free(&f);
}

/* ---------------- 3. the reference of line 10, per variant ----------------
 * Robot 0: A = base + delta, robot 1: a permuted copy of B = base - delta (delta random), so the
 * mean of the aligned models, the other robot's model and the plain average are three different
 * references. lr = 1e-12 and no logit noise make the soft update a no-op: every step's soft
 * matrix is Q = Sinkhorn(one-hot(P_hard) / tau) = (a - b) P_hard + b J, and alpha ~ U[0, 1] on a
 * full batch, so the logged mean interpolated loss estimates int_0^1 L(alpha Q(al_i) + (1 - alpha)
 * ref_i) d alpha, averaged over the robots (Monte Carlo, 300 steps per robot: 6% tolerance). */

/* Q(w) for Q = (a - b) I + b J on every group: Sinkhorn(one-hot(I) / tau) in closed form, with
 * a = e^(1/tau) / (e^(1/tau) + n - 1), b = 1 / (e^(1/tau) + n - 1) (rows and columns of the
 * exponentiated matrix have equal sums, so one normalization is exact). */
static void q_apply(const fm_layout *l, double tau, const float *in, float *out)
{
    double *Q[FM_NN_MAX_GROUPS];
    for (int g = 0; g < l->ngroups; g++) {
        int n = l->group_size[g];
        double e = exp(1.0 / tau), a = e / (e + n - 1), b = 1.0 / (e + n - 1);
        Q[g] = malloc(sizeof(double) * n * n);
        for (int i = 0; i < n * n; i++)
            Q[g][i] = i % (n + 1) == 0 ? a : b;
    }
    fm_apply_soft(l, (const double *const *)Q, in, out, NULL);
    for (int g = 0; g < l->ngroups; g++)
        free(Q[g]);
}

/* int_0^1 f(alpha) d alpha, f = mean loss of alpha x + (1 - alpha) ref (composite Simpson). */
static double interp_integral(const fm_model *m, const float *x, const float *ref, full_batch *fb, float *tmp)
{
    enum { K = 40 };
    double s = 0;
    for (int k = 0; k <= K; k++) {
        float a = (float)k / K;
        for (size_t j = 0; j < m->layout.total; j++)
            tmp[j] = a * x[j] + (1.0f - a) * ref[j];
        s += (k == 0 || k == K ? 1 : k % 2 ? 4 : 2) * mean_loss(m, tmp, fb, NULL);
    }
    return s / (3.0 * K);
}

static void test_variant_references(const fm_demos *d, uint64_t seed)
{
    fm_rng rng, *r = &rng;
    fm_rng_seed(r, seed, 0, 0);
    enum { N = 2 };
    fm_nn_spec s = spec_of(FM_NN_RNN, 5, 0);
    copy_fleet f;
    cf_create(&f, d, r, &s, N, 40, 1);
    fm_model *A = &f.base, B, Bp;
    model_dup(&B, A);
    const fm_layout *l = &A->layout;
    size_t n = l->total;
    for (size_t j = 0; j < n; j++) { /* A = base + delta, B = base - delta: the mean is better than either */
        float delta = (float)(0.2 * fm_rng_normal(r));
        A->w[j] += delta, B.w[j] -= delta;
    }
    cf_pair(&f, r, &B);
    model_dup(&Bp, &B);
    f.o.lr = 1e-12, f.o.noise = 0.0, f.o.steps = 300, f.o.epochs = 2, f.o.tau = 0.5; /* a no-op soft update */
    float *al = malloc(sizeof(float) * N * n), *tmp = malloc(sizeof(float) * n);
    float *mean = malloc(sizeof(float) * n), *plain = malloc(sizeof(float) * n);
    float *qa = malloc(sizeof(float) * n), *qb = malloc(sizeof(float) * n), *qm = malloc(sizeof(float) * n);
    /* weight matching's alignment of robot 1 (robot 0 is the anchor): B' = P(B copy) */
    ok(cf_merge(&f, FM_MERGE_FLEET_MERGE, 3, al), "fleet_merge with a no-op soft update runs (%s)", f.err.msg);
    ok(memcmp(al, A->w, sizeof(float) * n) == 0, "robot 0 (the anchor) is not permuted");
    memcpy(Bp.w, al + n, sizeof(float) * n);
    for (size_t j = 0; j < n; j++) {
        mean[j] = (float)(((double)A->w[j] + Bp.w[j]) / 2);
        plain[j] = (float)(((double)f.m[0].w[j] + f.m[1].w[j]) / 2);
    }
    q_apply(l, f.o.tau, A->w, qa);
    q_apply(l, f.o.tau, Bp.w, qb);
    q_apply(l, f.o.tau, mean, qm);
    double dmax = 0;
    for (size_t j = 0; j < n; j++)
        dmax = fmax(dmax, fabs(f.merged.w[j] - mean[j]));
    ok(dmax < 1e-6, "fleet_merge: merged = mean of the hard-aligned models (max diff %.2g)", dmax);
    /* expected logged interpolated loss of each epoch: mean over the two robots of
     * int L(alpha Q(aligned_i) + (1 - alpha) ref_i) */
    full_batch *fb = &f.fb;
    double hard = 0.5 * (interp_integral(A, qa, mean, fb, tmp) + interp_integral(A, qb, mean, fb, tmp));
    double avg = 0.5 * (interp_integral(A, qa, plain, fb, tmp) + interp_integral(A, qb, plain, fb, tmp));
    double simplex = 0.5 * (interp_integral(A, qa, Bp.w, fb, tmp) + interp_integral(A, qb, A->w, fb, tmp));
    double soft2 = 0.5 * (interp_integral(A, qa, qm, fb, tmp) + interp_integral(A, qb, qm, fb, tmp));
    const double rtol = 0.06;
    double sep = fmin(fmin(fabs(avg - hard), fabs(simplex - hard)), fabs(soft2 - hard)) / hard;
    ok(sep > 3 * rtol, "the case separates the references (hard %.4f, average %.4f, simplex %.4f, soft epoch 2 %.4f)",
       hard, avg, simplex, soft2);
    is_close(f.log.interp_loss[0], hard, 0, rtol, "fleet_merge epoch 1 trains against the mean of the aligned models");
    is_close(f.log.interp_loss[1], hard, 0, rtol, "fleet_merge epoch 2 trains against the mean of the aligned models");
    ok(cf_merge(&f, FM_MERGE_FLEET_MERGE_AVERAGE, 3, NULL), "fleet_merge_average runs (%s)", f.err.msg);
    is_close(f.log.interp_loss[0], avg, 0, rtol, "fleet_merge_average epoch 1 trains against the plain average");
    is_close(f.log.interp_loss[1], avg, 0, rtol, "fleet_merge_average epoch 2 trains against the plain average");
    ok(cf_merge(&f, FM_MERGE_FLEET_MERGE_SIMPLEX, 3, NULL), "fleet_merge_simplex runs (%s)", f.err.msg);
    is_close(f.log.interp_loss[0], simplex, 0, rtol,
             "fleet_merge_simplex (N = 2) trains against the other robot's aligned model, alpha = w_self ~ U[0, 1]");
    ok(cf_merge(&f, FM_MERGE_FLEET_MERGE_SOFT, 3, NULL), "fleet_merge_soft runs (%s)", f.err.msg);
    is_close(f.log.interp_loss[0], hard, 0, rtol, "fleet_merge_soft epoch 1: soft matrices start one-hot");
    is_close(f.log.interp_loss[1], soft2, 0, rtol, "fleet_merge_soft epoch 2 trains against the mean of soft alignments");
    dmax = 0;
    double moved = 0;
    for (size_t j = 0; j < n; j++)
        dmax = fmax(dmax, fabs(f.merged.w[j] - qm[j])), moved = fmax(moved, fabs(qm[j] - mean[j]));
    ok(dmax < 1e-5 && moved > 0.05,
       "fleet_merge_soft returns the mean of the soft alignments Q(mean), no hard projection (max diff %.2g; "
       "Q(mean) - mean %.3f)", dmax, moved);
    free(al), free(tmp), free(mean), free(plain), free(qa), free(qb), free(qm);
    fm_model_free(&B), fm_model_free(&Bp);
    cf_free(&f);
}

/* int_0^1 int_0^1 wt(alpha) L(alpha x + (1 - alpha) (t y + (1 - t) z)) d alpha dt (composite
 * Simpson in both), wt(alpha) = 2 (1 - alpha) (beta = 1: the density of Beta(1, 2)) or 1 (beta = 0). */
static double square_integral(const fm_model *m, const float *x, const float *y, const float *z, int beta,
                              full_batch *fb, float *tmp)
{
    enum { K = 16 };
    double s = 0;
    for (int ia = 0; ia <= K; ia++)
        for (int it = 0; it <= K; it++) {
            double a = (double)ia / K, t = (double)it / K;
            double wa = ia == 0 || ia == K ? 1 : ia % 2 ? 4 : 2, wt = it == 0 || it == K ? 1 : it % 2 ? 4 : 2;
            for (size_t j = 0; j < m->layout.total; j++)
                tmp[j] = (float)(a * x[j] + (1 - a) * (t * y[j] + (1 - t) * z[j]));
            s += wa * wt * (beta ? 2 * (1 - a) : 1.0) * mean_loss(m, tmp, fb, NULL);
        }
    return s / (9.0 * K * K);
}

/* fleet_merge_simplex with N = 3 (App. F): each step's point is w_self Q(al_self) + sum_j w_j al_j,
 * a uniform point of the hull (w ~ Dirichlet(1_3)) with the robot's own model soft-permuted. So
 * alpha = w_self ~ Beta(1, 2) and the others' share t = w_a / (w_a + w_b) ~ U[0, 1] independent
 * of it; drawing alpha ~ U[0, 1] instead (as the other variants do) gives another expectation. */
static void test_simplex_hull(const fm_demos *d, uint64_t seed)
{
    fm_rng rng, *r = &rng;
    fm_rng_seed(r, seed, 0, 0);
    enum { N = 3 };
    fm_nn_spec s = spec_of(FM_NN_RNN, 5, 0);
    copy_fleet f;
    cf_create(&f, d, r, &s, N, 40, 1);
    const fm_layout *l = &f.base.layout;
    size_t n = l->total;
    for (int i = 0; i < N; i++) { /* base + delta_i, robots 1 and 2 permuted */
        model_dup(&f.m[i], &f.base);
        for (size_t j = 0; j < n; j++)
            f.m[i].w[j] += (float)(0.3 * fm_rng_normal(r));
        if (i > 0)
            permute_in_place(&f.m[i], r);
    }
    f.o.lr = 1e-12, f.o.noise = 0.0, f.o.steps = 300, f.o.epochs = 1, f.o.tau = 2.0; /* a no-op soft update */
    float *al = malloc(sizeof(float) * N * n), *q = malloc(sizeof(float) * N * n), *tmp = malloc(sizeof(float) * n);
    ok(cf_merge(&f, FM_MERGE_FLEET_MERGE_SIMPLEX, 5, al), "fleet_merge_simplex (N = 3) runs (%s)", f.err.msg);
    for (int i = 0; i < N; i++)
        q_apply(l, f.o.tau, al + i * n, q + i * n);
    double simplex = 0, uniform = 0;
    for (int i = 0; i < N; i++) {
        int a = (i + 1) % N, b = (i + 2) % N;
        simplex += square_integral(&f.base, q + i * n, al + a * n, al + b * n, 1, &f.fb, tmp) / N;
        uniform += square_integral(&f.base, q + i * n, al + a * n, al + b * n, 0, &f.fb, tmp) / N;
    }
    const double rtol = 0.06;
    ok(fabs(simplex - uniform) > 3 * rtol * simplex, "the case separates alpha = w_self from alpha ~ U[0, 1] "
       "(%.4f vs %.4f)", simplex, uniform);
    is_close(f.log.interp_loss[0], simplex, 0, rtol,
             "fleet_merge_simplex trains at uniform points of the hull of the aligned models, its own model soft-permuted");
    free(al), free(q), free(tmp);
    cf_free(&f);
}

/* fleet_merge_soft's result mixes hidden units with doubly-stochastic matrices (Sinkhorn,
 * Eq. 3.2): copies whose hidden biases all equal c keep them equal to c (rows of P sum to 1), and
 * the readout's sum over hidden units is preserved (columns sum to 1), while the weights change. */
static void test_soft_doubly_stochastic(const fm_demos *d, uint64_t seed)
{
    fm_rng rng, *r = &rng;
    fm_rng_seed(r, seed, 0, 0);
    enum { N = 3, H = 6 };
    fm_nn_spec s = spec_of(FM_NN_RNN, H, 0);
    copy_fleet f;
    cf_create(&f, d, r, &s, N, 10, 0);
    fm_model *base = &f.base;
    const fm_tensor *b0 = fm_layout_find(&base->layout, "head0.b"), *w1 = fm_layout_find(&base->layout, "head1.w");
    ok(b0 && w1 && b0->size == H && w1->shape[1] == H, "hidden bias and readout found");
    if (!b0 || !w1)
        return;
    const float c = 0.37f;
    for (int u = 0; u < H; u++)
        base->w[b0->offset + u] = c;
    double rsum = 0;
    for (int u = 0; u < H; u++)
        rsum += base->w[w1->offset + u];
    cf_permuted_copies(&f, r);
    f.o.init_wm = 0, f.o.lr = 0.05, f.o.noise = 1.0, f.o.steps = 30, f.o.epochs = 1, f.o.tau = 1.0, f.o.sk_iters = 20;
    ok(cf_merge(&f, FM_MERGE_FLEET_MERGE_SOFT, 6, NULL), "fleet_merge_soft runs (%s)", f.err.msg);
    double dev = 0, msum = 0, moved = 0;
    for (int u = 0; u < H; u++)
        dev = fmax(dev, fabs(f.merged.w[b0->offset + u] - c));
    for (int u = 0; u < H; u++)
        msum += f.merged.w[w1->offset + u];
    for (size_t j = 0; j < base->layout.total; j++)
        moved = fmax(moved, fabs(f.merged.w[j] - base->w[j]));
    ok(moved > 0.05, "the soft merge mixes the hidden units (max change %.3f)", moved);
    /* 20 Sinkhorn iterations leave the rows within ~1e-4 of 1 here; a single one, 4e-2 */
    is_close(dev, 0.0, 1e-3, 0.0, "equal hidden biases stay equal: rows of the soft permutations sum to 1");
    is_close(msum, rsum, 1e-5, 1e-5, "the readout's sum over hidden units is kept: columns sum to 1");
    cf_free(&f);
}

/* ---------------- 4. line 6: the participating subset ---------------- */

static void test_subset(const fm_demos *d, uint64_t seed)
{
    fm_rng rng, *r = &rng;
    fm_rng_seed(r, seed, 0, 0);
    enum { N = 5, H = 4, E = 8 };
    fm_nn_spec s = spec_of(FM_NN_RNN, H, 0);
    copy_fleet f;
    cf_create(&f, d, r, &s, N, 40, 0);
    cf_permuted_copies(&f, r);
    f.o.init_wm = 0, f.o.steps = 20, f.o.epochs = E, f.o.lr = 0.3, f.o.noise = 1.0;
    size_t n = f.base.layout.total;
    float *al = malloc(sizeof(float) * N * n);
    const double fr[4] = {0.05, 0.2, 0.5, 1.0};
    for (int c = 0; c < 4; c++) {
        f.o.subset = fr[c];
        int want = (int)lround(fr[c] * N);
        want = want < 1 ? 1 : want;
        ok(cf_merge(&f, FM_MERGE_FLEET_MERGE, 4, al), "fleet_merge subset %g runs (%s)", fr[c], f.err.msg);
        int good = f.log.epochs == E;
        for (int e = 0; e < E; e++)
            good &= f.log.updaters[e] == want;
        ok(good, "subset %g: max(1, round(%g * %d)) = %d robots update in each of the %d epochs (epoch 1: %g)", fr[c],
           fr[c], N, want, E, f.log.updaters[0]);
        if (want == 1) { /* robots whose permutation moved were chosen in some epoch */
            int moved = 0;
            for (int i = 0; i < N; i++)
                moved += memcmp(al + i * n, f.m[i].w, sizeof(float) * n) != 0;
            ok(moved >= 2 && moved <= E, "subset %g: a fresh subset each epoch (%d robots moved their permutation)",
               fr[c], moved);
        }
    }
    free(al);
    cf_free(&f);
}

/* ---------------- 5. MergeMany sweeps vs brute force ---------------- */

/* spread = sum_i |al_i - mean|^2 of aligned buffers */
static double spread_of(size_t n, int N, const float *al)
{
    double s = 0;
    for (size_t j = 0; j < n; j++) {
        double m = 0;
        for (int i = 0; i < N; i++)
            m += al[i * n + j];
        m /= N;
        for (int i = 0; i < N; i++)
            s += (al[i * n + j] - m) * (al[i * n + j] - m);
    }
    return s;
}

/* Next permutation in lexicographic order; 0 after the last. */
static int next_perm(int k, int *p)
{
    int i = k - 2;
    while (i >= 0 && p[i] > p[i + 1])
        i--;
    if (i < 0)
        return 0;
    int j = k - 1;
    while (p[j] < p[i])
        j--;
    int t = p[i];
    p[i] = p[j], p[j] = t;
    for (int a = i + 1, b = k - 1; a < b; a++, b--)
        t = p[a], p[a] = p[b], p[b] = t;
    return 1;
}

/* N = 3 independent one-hidden-layer models (5 units): the minimum of the spread over all
 * 120 x 120 permutations of robots 1 and 2 (robot 0 fixed: the spread is invariant to a common
 * permutation) against git_rebasin after one and after several MergeMany sweeps. */
static void test_merge_many(const fm_demos *d, uint64_t seed)
{
    fm_rng rng, *r = &rng;
    fm_rng_seed(r, seed, 0, 0);
    enum { N = 3, H = 5, NP = 120 };
    fm_nn_spec s = spec_of(FM_NN_MLP, H, 0);
    copy_fleet f;
    cf_init(&f, d, &s, N);
    fm_model *m = f.m;
    for (int i = 0; i < N; i++)
        make_model(&m[i], &s, d, r, 0);
    const fm_layout *l = &m[0].layout;
    size_t n = l->total;
    float *al = malloc(sizeof(float) * N * n), *pb = malloc(sizeof(float) * 2 * NP * n);
    float *cur = malloc(sizeof(float) * N * n);
    int p[H] = {0, 1, 2, 3, 4}, k = 0;
    do { /* every permutation of robots 1 and 2 */
        const int *pp[1] = {p};
        fm_layout_permute(l, pp, m[1].w, pb + (size_t)k * n);
        fm_layout_permute(l, pp, m[2].w, pb + (size_t)(NP + k) * n);
        k++;
    } while (next_perm(H, p));
    double best = INFINITY, second = INFINITY;
    memcpy(cur, m[0].w, sizeof(float) * n);
    for (int a = 0; a < NP; a++)
        for (int b = 0; b < NP; b++) {
            memcpy(cur + n, pb + (size_t)a * n, sizeof(float) * n);
            memcpy(cur + 2 * n, pb + (size_t)(NP + b) * n, sizeof(float) * n);
            double v = spread_of(n, N, cur);
            if (v < best * (1 - 1e-12))
                second = best, best = v;
            else if (v > best * (1 + 1e-12) && v < second)
                second = v;
        }
    ok(second > best * 1.001, "MergeMany case: a unique brute-force minimum of the spread (%.5f, next %.5f)", best,
       second);
    const int sweeps[3] = {0, 1, 20};
    double got[3] = {0};
    int ran[3] = {0};
    for (int c = 0; c < 3; c++) {
        f.o.mm_sweeps = sweeps[c];
        ok(cf_merge(&f, FM_MERGE_GIT_REBASIN, 2, al), "git_rebasin with %d sweeps runs (%s)", sweeps[c], f.err.msg);
        got[c] = spread_of(n, N, al), ran[c] = f.log.mm_sweeps;
    }
    ok(got[0] > best * 1.001 && got[1] > best * 1.001,
       "the anchor start (%.5f) and one sweep (%.5f) do not reach the minimum %.5f: the case needs several sweeps",
       got[0], got[1], best);
    is_close(got[2], best, 0, 1e-9, "MergeMany's sweeps reach the brute-force minimum of the spread (%d sweeps)",
             ran[2]);
    ok(ran[2] > 1, "MergeMany ran more than one sweep (%d)", ran[2]);
    free(al), free(pb), free(cur);
    cf_free(&f);
}

/* ---------------- 6. sinkhorn_data (App. F): MergeMany with soft re-matches ---------------- */

/* Permuted copies of a converged model (BC loss ~4e-4): sinkhorn_data started from weight matching
 * keeps the exact alignment through every sweep (no assignment changes). On copies of an
 * under-trained model (tests/unit/test_merge_nn.c) its kept logits drift instead: the soft
 * interpolation fits the data better than the model itself, and after a few sweeps the hard
 * projection moves a few units (fleet_merge, restarting each epoch from the hard start, does not). */
static void test_sd_copies(const fm_demos *d, uint64_t seed)
{
    fm_rng rng, *r = &rng;
    fm_rng_seed(r, seed, 0, 0);
    enum { N = 4 };
    fm_nn_spec s = spec_of(FM_NN_RNN, 8, 8);
    copy_fleet f;
    cf_create(&f, d, r, &s, N, 150, 1);
    cf_permuted_copies(&f, r);
    f.o.mm_sweeps = 6, f.o.steps = 60, f.o.tau = 0.3, f.o.batch = 8;
    ok(cf_merge(&f, FM_MERGE_SINKHORN_DATA, 9, NULL), "sinkhorn_data on permuted copies runs (%s)", f.err.msg);
    double gap = cf_gap(&f), changed = 0;
    for (int e = 0; e < f.log.epochs; e++)
        changed += f.log.changed[e];
    ok(gap < 1e-4 && f.log.epochs == f.o.mm_sweeps && changed == 0,
       "sinkhorn_data recovers the original policy from permuted copies (gap %.2g; %d sweeps, %g changes)", gap,
       f.log.epochs, changed);
    cf_free(&f);
}

/* Two robots from the identity (no weight matching), the second a permuted copy of the first:
 * sinkhorn_data's re-match trains each robot against the OTHER robot's model and recovers the
 * copy exactly; fleet_merge with the same budget (E = sweeps, the same T) trains both robots at
 * once against the mean of both unaligned models and stays in a poor optimum; so does a re-match
 * against the full mean (the robot's own model included). */
static void test_sd_pairwise(const fm_demos *d, uint64_t seed)
{
    fm_rng rng, *r = &rng;
    fm_rng_seed(r, seed, 0, 0);
    fm_nn_spec s = spec_of(FM_NN_RNN, 4, 0);
    copy_fleet f;
    cf_create(&f, d, r, &s, 2, 40, 1);
    cf_pair(&f, r, &f.base);
    f.o.init_wm = 0, f.o.steps = 300, f.o.lr = 0.2, f.o.tau = 2.0, f.o.mm_sweeps = 4, f.o.epochs = 4;
    int exact = 0, fm_far = 0;
    for (uint64_t mseed = 1; mseed <= 3; mseed++) {
        ok(cf_merge(&f, FM_MERGE_SINKHORN_DATA, mseed, NULL), "sinkhorn_data from the identity runs (%s)", f.err.msg);
        double gap = cf_gap(&f);
        exact += gap < 1e-4;
        ok(cf_merge(&f, FM_MERGE_FLEET_MERGE, mseed, NULL), "fleet_merge from the identity runs (%s)", f.err.msg);
        double fgap = cf_gap(&f);
        fm_far += fgap > 0.3;
        printf("# merge seed %d: sinkhorn_data gap %.3g, fleet_merge gap %.3g\n", (int)mseed, gap, fgap);
    }
    ok(exact == 3, "sinkhorn_data (each robot re-matched to the other's model) recovers the permuted copy from the "
       "identity in %d of 3 seeds", exact);
    ok(fm_far == 3, "the case separates it from fleet_merge with the same budget (far from the original in %d of 3 "
       "seeds)", fm_far);
    cf_free(&f);
}

/* N = 3 robots base + delta_i (robots 1 and 2 permuted) and a no-op soft update (lr ~ 0, no noise):
 * every re-match's logged interpolated loss estimates int_0^1 L(alpha Q(al_i) + (1 - alpha) o_i),
 * o_i = the mean of the OTHER robots' aligned models (Q as in section 3). The full mean (the robot
 * itself included) and robot 0's model give other values. Also: the BC loss logged per sweep is
 * that of the mean of the aligned models, the result is that mean, every sweep re-matches every
 * robot once, and exactly merge.mm_sweeps sweeps run. */
static void test_sd_references(const fm_demos *d, uint64_t seed)
{
    fm_rng rng, *r = &rng;
    fm_rng_seed(r, seed, 0, 0);
    enum { N = 3, S = 2 };
    fm_nn_spec s = spec_of(FM_NN_RNN, 5, 0);
    copy_fleet f;
    cf_create(&f, d, r, &s, N, 40, 1);
    fm_model *models = f.m;
    const fm_layout *l = &f.base.layout;
    size_t n = l->total;
    for (int i = 0; i < N; i++) /* base + delta_i, sum_i delta_i = 0: the full mean is the base */
        model_dup(&models[i], &f.base);
    for (size_t j = 0; j < n; j++) {
        float d0 = (float)(0.25 * fm_rng_normal(r)), d1 = (float)(0.25 * fm_rng_normal(r));
        models[0].w[j] += d0, models[1].w[j] += d1, models[2].w[j] -= d0 + d1;
    }
    for (int i = 1; i < N; i++)
        permute_in_place(&models[i], r);
    f.o.lr = 1e-12, f.o.noise = 0.0, f.o.steps = 300, f.o.mm_sweeps = S, f.o.tau = 0.15; /* a no-op soft update */
    float *al = malloc(sizeof(float) * N * n), *q = malloc(sizeof(float) * N * n), *tmp = malloc(sizeof(float) * n);
    float *mean = malloc(sizeof(float) * n), *others = malloc(sizeof(float) * n);
    ok(cf_merge(&f, FM_MERGE_SINKHORN_DATA, 3, al), "sinkhorn_data with a no-op soft update runs (%s)", f.err.msg);
    double dmax = 0;
    for (size_t j = 0; j < n; j++) {
        double m = 0;
        for (int i = 0; i < N; i++)
            m += al[i * n + j];
        mean[j] = (float)(m / N);
        dmax = fmax(dmax, fabs(f.merged.w[j] - mean[j]));
    }
    ok(dmax < 1e-6, "sinkhorn_data: merged = mean of the final hard-aligned models (max diff %.2g)", dmax);
    for (int i = 0; i < N; i++)
        q_apply(l, f.o.tau, al + i * n, q + i * n);
    double want = 0, full = 0, anchor = 0;
    for (int i = 0; i < N; i++) {
        for (size_t j = 0; j < n; j++) {
            double sum = 0;
            for (int k = 0; k < N; k++)
                sum += k == i ? 0.0 : al[k * n + j];
            others[j] = (float)(sum / (N - 1));
        }
        want += interp_integral(&f.base, q + i * n, others, &f.fb, tmp) / N;
        full += interp_integral(&f.base, q + i * n, mean, &f.fb, tmp) / N;
        anchor += interp_integral(&f.base, q + i * n, al, &f.fb, tmp) / N;
    }
    const double rtol = 0.05;
    ok(fabs(full - want) > 3 * rtol * want && fabs(anchor - want) > 3 * rtol * want,
       "the case separates the mean of the others (%.4f) from the full mean (%.4f) and robot 0's model (%.4f)", want,
       full, anchor);
    is_int(f.log.epochs, S, "sinkhorn_data logs one entry per sweep");
    is_int(f.log.mm_sweeps, S, "sinkhorn_data runs exactly merge.mm_sweeps sweeps (no early stop)");
    double ml = mean_loss(&f.base, mean, &f.fb, NULL), interp = 0;
    for (int e = 0; e < S && e < f.log.epochs; e++) {
        is_int(f.log.updaters[e], N, "sweep %d re-matches every robot once", e + 1);
        is_int(f.log.changed[e], 0, "sweep %d: the no-op soft update changes no assignment", e + 1);
        is_close(f.log.ref_loss[e], ml, 0, 1e-4, "sweep %d logs the BC loss of the mean of the aligned models", e + 1);
        interp += f.log.interp_loss[e] / S;
    }
    is_close(interp, want, 0, rtol, "each re-match trains against the mean of the OTHER robots' aligned models");
    free(al), free(q), free(tmp), free(mean), free(others);
    cf_free(&f);
}

/* The logits persist across sweeps (App. F: what separates sinkhorn_data from FLEET-MERGE, which
 * restarts each epoch from one-hot(P_hard)). Without noise, the first re-match starts at
 * Sinkhorn(one-hot / tau) whose largest entry per unit is m = merge.fm_start_mass exactly; every
 * later sweep starts where the robot's previous update ended (the mean over robots of the
 * starting row maxima = that of the previous sweep's final ones), so the start sharpens over the
 * sweeps, while fleet_merge starts every epoch at m. */
static void test_sd_persistence(const fm_demos *d, uint64_t seed)
{
    fm_rng rng, *r = &rng;
    fm_rng_seed(r, seed, 0, 0);
    enum { N = 4, S = 4 };
    fm_nn_spec s = spec_of(FM_NN_RNN, 6, 4);
    copy_fleet f;
    cf_create(&f, d, r, &s, N, 20, 0);
    size_t n = f.base.layout.total;
    for (int i = 0; i < N; i++) {
        fm_model tmp;
        model_dup(&tmp, &f.base);
        for (size_t j = 0; j < n; j++)
            tmp.w[j] += (float)(0.2 * fm_rng_normal(r));
        permuted_copy(&tmp, r, &f.m[i], NULL);
        fm_model_free(&tmp);
    }
    fm_merge_nn_opts *o = &f.o;
    o->noise = 0.0, o->start_mass = 0.4, o->steps = 40, o->lr = 0.05, o->tau = 0.5, o->mm_sweeps = S, o->epochs = S;
    fm_merge_nn_log *log = &f.log;
    ok(cf_merge(&f, FM_MERGE_SINKHORN_DATA, 2, NULL), "sinkhorn_data runs (%s)", f.err.msg);
    is_int(log->epochs, S, "%d sweeps logged", S);
    is_close(log->rowmax_first[0], o->start_mass, 1e-9, 1e-9, "sweep 1 starts from the hard start at mass %g",
             o->start_mass);
    for (int e = 1; e < S && e < log->epochs; e++)
        is_close(log->rowmax_first[e], log->rowmax_last[e - 1], 1e-12, 1e-9,
                 "sweep %d starts from the logits that sweep %d ended with", e + 1, e);
    ok(log->rowmax_last[0] > log->rowmax_first[0] + 0.1 && log->rowmax_first[S - 1] > o->start_mass + 0.1,
       "the soft permutations sharpen and later sweeps start sharper (%.3f -> %.3f; sweep %d starts at %.3f)",
       log->rowmax_first[0], log->rowmax_last[0], S, log->rowmax_first[S - 1]);
    ok(cf_merge(&f, FM_MERGE_FLEET_MERGE, 2, NULL), "fleet_merge runs (%s)", f.err.msg);
    double worst = 0;
    for (int e = 0; e < log->epochs; e++)
        worst = fmax(worst, fabs(log->rowmax_first[e] - o->start_mass));
    ok(log->epochs == S && worst < 1e-9, "fleet_merge restarts every epoch at mass %g (max deviation %.2g)",
       o->start_mass, worst);
    cf_free(&f);
}

/* The misleading weight-matching start of section 2: git_rebasin stays misled; sinkhorn_data's soft
 * re-matches (started from the same anchor) repair it in part of the merge seeds. */
static void test_sd_repairs(const fm_demos *d, uint64_t seed)
{
    fm_rng rng, *r = &rng;
    fm_rng_seed(r, seed, 0, 0);
    enum { N = 6, H = 4, RUNS = 8 };
    fm_nn_spec s = spec_of(FM_NN_RNN, H, 0);
    copy_fleet f;
    cf_create(&f, d, r, &s, N, 40, 1);
    cf_misleading(&f, r, fm_layout_find(&f.base.layout, "head0.w"), H);
    f.o.mm_sweeps = 3;
    ok(cf_merge(&f, FM_MERGE_GIT_REBASIN, 1, NULL), "git_rebasin runs");
    double wm_gap = cf_gap(&f);
    int exact = 0;
    for (uint64_t mseed = 1; mseed <= RUNS; mseed++) {
        ok(cf_merge(&f, FM_MERGE_SINKHORN_DATA, mseed, NULL), "sinkhorn_data seed %d runs (%s)", (int)mseed,
           f.err.msg);
        double gap = cf_gap(&f);
        printf("# merge seed %d: gap %.3g, changed %g / %g / %g\n", (int)mseed, gap, f.log.changed[0],
               f.log.changed[1], f.log.changed[2]);
        exact += gap < 1e-4;
    }
    ok(wm_gap > 0.2 && exact >= 3, "sinkhorn_data repairs the misleading weight-matching start in %d of %d seeds "
       "(git_rebasin: gap %.3f)", exact, RUNS, wm_gap);
    cf_free(&f);
}

int main(void)
{
    fm_rng r;
    fm_rng_seed(&r, 17, 0, 0);
    fm_demos d;
    teacher_demos(&d, &r);
    test_soft_step_grad(&d, 1);
    test_soft_update_recovers(&d, 2);
    test_misleading_wm(&d, 4);
    test_variant_references(&d, 7);
    test_simplex_hull(&d, 8);
    test_soft_doubly_stochastic(&d, 9);
    test_subset(&d, 5);
    test_merge_many(&d, 12);
    test_sd_copies(&d, 3);
    test_sd_pairwise(&d, 2);
    test_sd_references(&d, 7);
    test_sd_persistence(&d, 13);
    test_sd_repairs(&d, 4);
    fm_demos_free(&d);
    return done_testing();
}
