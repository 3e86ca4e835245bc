/* merge_nn.c - git_rebasin (MergeMany weight matching), sinkhorn_rebasin (SoftUpdate, Eq. 3.1),
 * fleet_merge (Algorithm 1) and its App. F ablations, and sinkhorn_data (MergeMany with SoftUpdate
 * re-matches, App. F) for neural policies, as rank-local steps plus reducer sums. */
#include "merge/merge_nn.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "align/apply.h"
#include "align/sinkhorn.h"
#include "config/cfg.h"
#include "merge/match.h"
#include "nn/train.h"

/* Hard permutations of every local robot: perms[i][g] (n_g ints). */
typedef struct fleet_perms {
    int nlocal, ngroups;
    int *buf;
    int *(*p)[FM_NN_MAX_GROUPS]; /* [nlocal][group] */
} fleet_perms;

static fm_status perms_create(fleet_perms *fp, const fm_layout *l, int nlocal, fm_err *err)
{
    fm_status status = FM_OK;
    size_t per = 0;
    *fp = (fleet_perms){.nlocal = nlocal, .ngroups = l->ngroups};
    FM_ALLOC(fp->p, nlocal ? nlocal : 1);
    for (int g = 0; g < l->ngroups; g++)
        per += (size_t)l->group_size[g];
    FM_ALLOC(fp->buf, per * (nlocal ? nlocal : 1));
    int *q = fp->buf;
    for (int i = 0; i < nlocal; i++)
        for (int g = 0; g < l->ngroups; g++) {
            fp->p[i][g] = q;
            for (int u = 0; u < l->group_size[g]; u++)
                q[u] = u;
            q += l->group_size[g];
        }
cleanup:
    return status;
}

/* mean = 1/N sum_i P_i(theta_i) over the fleet (local sums in double, then the reducer's float32
 * mean: one model-sized payload). */
static fm_status aligned_mean(const fm_model *local, const fleet_perms *fp, const fm_reducer *red,
                              float *tmp, double *acc, float *mean, fm_err *err)
{
    const fm_layout *l = &local[0].layout;
    memset(acc, 0, sizeof(double) * l->total);
    for (int i = 0; i < red->nlocal; i++) {
        fm_layout_permute(l, (const int *const *)fp->p[i], local[i].w, tmp);
        for (size_t j = 0; j < l->total; j++)
            acc[j] += tmp[j];
    }
    return fm_reduce_mean_f32(red, acc, mean, l->total, red->nglobal, err);
}

typedef struct merge_ws {
    float *tmp, *mean, *target;
    double *acc;
} merge_ws;

static fm_status ws_create(merge_ws *w, size_t n, fm_err *err)
{
    fm_status status = FM_OK;
    *w = (merge_ws){0};
    FM_ALLOC(w->tmp, n);
    FM_ALLOC(w->mean, n);
    FM_ALLOC(w->target, n);
    FM_ALLOC(w->acc, n);
cleanup:
    return status;
}

static void ws_free(merge_ws *w) { free(w->tmp), free(w->mean), free(w->target), free(w->acc); }

/* ---------------- git_rebasin: MergeMany weight matching ---------------- */

/* Sum over the fleet of ||P_i(theta_i) - mean||^2. */
static fm_status spread(const fm_model *local, const fleet_perms *fp, const fm_reducer *red,
                        const float *mean, double *out, fm_err *err)
{
    fm_status status = FM_OK;
    double d = 0;
    for (int i = 0; i < red->nlocal; i++)
        d += fm_perm_distance(&local[0].layout, local[i].w, mean, (const int *const *)fp->p[i]);
    FM_TRY(fm_reduce_sum(red, &d, 1, err));
    *out = d;
cleanup:
    return status;
}

/* w->target = global robot 0's parameters on every process (one broadcast). */
static fm_status robot0_model(const fm_model *local, const fm_reducer *red, merge_ws *w, fm_err *err)
{
    size_t n = local[0].layout.total;
    if (red->offset == 0)
        memcpy(w->target, local[0].w, sizeof(float) * n);
    return fm_reduce_bcast_f32(red, w->target, n, 0, err);
}

/* Start of MergeMany: every robot matched to robot 0's model (an anchor). Starting all robots
 * at the identity, matching to the mean of the others stalled in a poor local optimum on
 * permuted copies of one model (tests/unit/test_merge_nn.c); pairwise matching does not. */
static fm_status anchor_match(const fm_model *local, const fm_merge_nn_opts *o, const fm_reducer *red,
                              uint64_t seed, fleet_perms *fp, merge_ws *w, fm_err *err)
{
    fm_status status = FM_OK;
    const fm_layout *l = &local[0].layout;
    FM_TRY(robot0_model(local, red, w, err));
    for (int i = 0; i < red->nlocal; i++) {
        fm_rng own;
        fm_rng_seed(&own, seed, (uint64_t)(red->offset + i), FM_STREAM_MERGE + 500);
        if (red->offset + i > 0)
            FM_TRY(fm_weight_match(l, local[i].w, w->target, &own, o->wm_passes, fp->p[i], NULL, err));
    }
cleanup:
    return status;
}

/* The change of one robot's aligned model after a re-match, as every process applies it to the
 * fleet's running sum: sparse (index, delta) pairs, or dense deltas when more than half of the
 * entries changed. Deltas are float32 (rounded once, by the robot's process), so every process
 * and the serial reducer add the same numbers. */
typedef struct mm_delta {
    uint64_t count; /* changed entries; DELTA_DENSE: every entry, in order */
} mm_delta;
#define DELTA_DENSE UINT64_MAX

/* Pack new - old of the P entries into msg (header + payload). */
static void delta_pack(const float *old, const float *new_, size_t P, unsigned char *msg)
{
    size_t changed = 0;
    for (size_t j = 0; j < P; j++)
        changed += new_[j] != old[j];
    mm_delta h = {.count = changed};
    unsigned char *q = msg + sizeof h;
    if (changed * (sizeof(uint32_t) + sizeof(float)) > P * sizeof(float)) {
        h.count = DELTA_DENSE;
        for (size_t j = 0; j < P; j++, q += sizeof(float)) {
            float d = (float)((double)new_[j] - (double)old[j]);
            memcpy(q, &d, sizeof d);
        }
    } else {
        for (size_t j = 0; j < P; j++) {
            if (new_[j] == old[j])
                continue;
            uint32_t i = (uint32_t)j;
            float d = (float)((double)new_[j] - (double)old[j]);
            memcpy(q, &i, sizeof i), q += sizeof i;
            memcpy(q, &d, sizeof d), q += sizeof d;
        }
    }
    memcpy(msg, &h, sizeof h);
}

static size_t delta_bytes(const mm_delta *h, size_t P)
{
    return h->count == DELTA_DENSE ? P * sizeof(float) : (size_t)h->count * (sizeof(uint32_t) + sizeof(float));
}

/* sum += the deltas in msg (after its header). */
static void delta_apply(const unsigned char *msg, size_t P, double *sum)
{
    mm_delta h;
    memcpy(&h, msg, sizeof h);
    const unsigned char *q = msg + sizeof h;
    if (h.count == DELTA_DENSE) {
        for (size_t j = 0; j < P; j++, q += sizeof(float)) {
            float d;
            memcpy(&d, q, sizeof d);
            sum[j] += d;
        }
        return;
    }
    for (uint64_t k = 0; k < h.count; k++) {
        uint32_t i;
        float d;
        memcpy(&i, q, sizeof i), q += sizeof i;
        memcpy(&d, q, sizeof d), q += sizeof d;
        sum[i] += d;
    }
}

/* Every process receives robot `who`'s packed delta (header, then the payload it announces). */
static fm_status delta_bcast(const fm_reducer *red, unsigned char *msg, size_t P, int who, fm_err *err)
{
    fm_status status = FM_OK;
    mm_delta h;
    FM_TRY(fm_reduce_bcast(red, msg, sizeof h, who, err));
    memcpy(&h, msg, sizeof h);
    FM_TRY(fm_reduce_bcast(red, msg + sizeof h, delta_bytes(&h, P), who, err));
cleanup:
    return status;
}

/* MergeMany: after the anchor start, each step one robot (order from the shared stream)
 * matches its model to the mean of the others' aligned models, each robot once per sweep in a
 * random order (Ainsworth et al.'s MergeMany); sweeps stop when the spread
 * around the mean stops falling. Traffic: one float32 mean per sweep; within a sweep every
 * process keeps the fleet's sum of aligned models (double) and each re-match is broadcast as the
 * change of that robot's aligned model (the entries whose unit moved), not as a new reduction. */
static fm_status merge_many(const fm_model *local, const fm_merge_nn_opts *o, const fm_reducer *red,
                            uint64_t seed, fleet_perms *fp, merge_ws *w, fm_merge_nn_log *log,
                            fm_err *err)
{
    fm_status status = FM_OK;
    const fm_layout *l = &local[0].layout;
    size_t P = l->total;
    int N = red->nglobal, sweep = 0, *order = NULL;
    fm_rng shared, own;
    unsigned char *msg = NULL;
    double *sum = NULL;
    fm_rng_seed(&shared, seed, FM_RANK_SHARED, FM_STREAM_MERGE);
    double best = INFINITY, d = 0;
    FM_CHECK(P <= UINT32_MAX, FM_EINVAL, "MergeMany: %zu parameters, at most %u", P, UINT32_MAX);
    FM_ALLOC(sum, P);
    FM_ALLOC(order, N);
    FM_ALLOC(msg, sizeof(mm_delta) + P * (sizeof(uint32_t) + sizeof(float)));
    FM_TRY(anchor_match(local, o, red, seed, fp, w, err));
    FM_TRY(aligned_mean(local, fp, red, w->tmp, w->acc, w->mean, err));
    for (sweep = 0; sweep < o->mm_sweeps && N > 1; sweep++) {
        for (size_t j = 0; j < P; j++)
            sum[j] = (double)N * w->mean[j];
        fm_rng_permutation(&shared, N, order); /* every robot once per sweep, in a shared random order */
        for (int k = 0; k < N; k++) {
            int who = order[k], li = who - red->offset;
            if (li >= 0 && li < red->nlocal) {
                fm_layout_permute(l, (const int *const *)fp->p[li], local[li].w, w->tmp);
                for (size_t j = 0; j < P; j++) /* mean of the others */
                    w->target[j] = (float)((sum[j] - w->tmp[j]) / (N - 1));
                fm_rng_seed(&own, seed, (uint64_t)who, FM_STREAM_MERGE + 1 + (uint64_t)sweep);
                FM_TRY(fm_weight_match(l, local[li].w, w->target, &own, o->wm_passes, fp->p[li], NULL, err));
                fm_layout_permute(l, (const int *const *)fp->p[li], local[li].w, w->target);
                delta_pack(w->tmp, w->target, P, msg);
            }
            FM_TRY(delta_bcast(red, msg, P, who, err));
            delta_apply(msg, P, sum);
        }
        FM_TRY(aligned_mean(local, fp, red, w->tmp, w->acc, w->mean, err));
        FM_TRY(spread(local, fp, red, w->mean, &d, err));
        if (!(d < best * (1.0 - 1e-9))) {
            sweep++;
            break;
        }
        best = d;
    }
    if (log)
        log->mm_sweeps = sweep, log->mm_distance = d;
cleanup:
    free(sum), free(msg), free(order);
    return status;
}

/* ---------------- soft-permutation update (Eq. 3.1; Algorithm 1, lines 8-12) ---------------- */

typedef struct soft_state {
    const fm_layout *l;
    double *L[FM_NN_MAX_GROUPS], *P[FM_NN_MAX_GROUPS], *dP[FM_NN_MAX_GROUPS];
    double *dL[FM_NN_MAX_GROUPS], *m[FM_NN_MAX_GROUPS], *v[FM_NN_MAX_GROUPS];
    fm_sinkhorn_ws *sk[FM_NN_MAX_GROUPS];
    float *wp, *wint, *grad;
    fm_nn_ws *ws;
    fm_nn_batch batch;
    int *order, *idx, pos;
} soft_state;

static void soft_free(soft_state *s)
{
    for (int g = 0; s->l && g < s->l->ngroups; g++) {
        free(s->L[g]), free(s->P[g]), free(s->dP[g]), free(s->dL[g]), free(s->m[g]), free(s->v[g]);
        fm_sinkhorn_ws_free(s->sk[g]);
    }
    free(s->wp), free(s->wint), free(s->grad), free(s->order), free(s->idx);
    fm_nn_ws_free(s->ws);
    fm_nn_batch_free(&s->batch);
}

static fm_status soft_create(soft_state *s, const fm_model *m, const fm_demos *d,
                             const fm_merge_nn_opts *o, fm_err *err)
{
    fm_status status = FM_OK;
    const fm_layout *l = &m->layout;
    *s = (soft_state){.l = l};
    fm_sinkhorn_opts so = {.tau = o->tau, .iters = o->sk_iters};
    for (int g = 0; g < l->ngroups; g++) {
        size_t nn = (size_t)l->group_size[g] * l->group_size[g];
        FM_ALLOC(s->L[g], nn);
        FM_ALLOC(s->P[g], nn);
        FM_ALLOC(s->dP[g], nn);
        FM_ALLOC(s->dL[g], nn);
        FM_ALLOC(s->m[g], nn);
        FM_ALLOC(s->v[g], nn);
        FM_TRY(fm_sinkhorn_ws_create(l->group_size[g], &so, &s->sk[g], err));
    }
    FM_ALLOC(s->wp, l->total);
    FM_ALLOC(s->wint, l->total);
    FM_ALLOC(s->grad, l->total);
    FM_ALLOC(s->order, d->n_traj > 0 ? d->n_traj : 1);
    FM_ALLOC(s->idx, o->batch);
    FM_TRY(fm_nn_ws_create(m, d->horizon, o->batch, &s->ws, err));
    FM_TRY(fm_nn_batch_create(&s->batch, d->horizon, o->batch, d->obs_dim, d->act_dim, err));
    s->pos = d->n_traj;
cleanup:
    return status;
}

static double mean_rowmax(int n, const double *P)
{
    double s = 0;
    for (int j = 0; j < n; j++) { /* unit j's largest weight: column j of P[dest][src] */
        double mx = 0;
        for (int i = 0; i < n; i++)
            mx = fmax(mx, P[(size_t)i * n + j]);
        s += mx;
    }
    return s / n;
}

/* P_g = Sinkhorn(L_g / tau) for every group; returns the mean largest entry per unit. */
static fm_status soft_forward(soft_state *s, double *rowmax, fm_err *err)
{
    fm_status status = FM_OK;
    double acc = 0;
    for (int g = 0; g < s->l->ngroups; g++) {
        FM_TRY(fm_sinkhorn_forward(s->sk[g], s->L[g], s->P[g], NULL, err));
        acc += mean_rowmax(s->l->group_size[g], s->P[g]);
    }
    *rowmax = acc / (s->l->ngroups ? s->l->ngroups : 1);
cleanup:
    return status;
}

/* Next minibatch of whole trajectories from the robot's own data (a fresh shuffle each pass). */
static int next_batch(soft_state *s, const fm_demos *d, int B, fm_rng *r)
{
    int nb = d->n_traj < B ? d->n_traj : B;
    for (int j = 0; j < nb; j++) {
        if (s->pos >= d->n_traj) {
            fm_rng_permutation(r, d->n_traj, s->order);
            s->pos = 0;
        }
        s->idx[j] = s->order[s->pos++];
    }
    fm_nn_batch_fill(&s->batch, d, s->idx, NULL, nb);
    return nb;
}

/* What a robot's soft permutation is trained against: a fixed reference (alpha ~ U[0, 1],
 * Eq. 3.1), or, for fleet_merge_simplex, a random point of the convex hull of the fleet's
 * aligned models (weights w ~ Dirichlet(1_N), alpha = w_self, the robot's own model replaced
 * by its soft-permuted version). */
typedef struct soft_target {
    const float *ref;   /* fixed reference, or NULL with hull */
    const float *hull;  /* [nhull][P] aligned models of every robot */
    int nhull, self;
    float *tmp;         /* [P] scratch for the hull reference */
    double *w;          /* [nhull] scratch */
} soft_target;

/* alpha and the reference of one step. */
static const float *draw_target(const soft_target *tg, size_t P, fm_rng *r, float *alpha)
{
    if (!tg->hull) {
        *alpha = (float)fm_rng_uniform(r);
        return tg->ref;
    }
    fm_rng_dirichlet(r, 1.0, tg->nhull, tg->w);
    double a = tg->w[tg->self], rest = 1.0 - a > 1e-12 ? 1.0 - a : 1e-12;
    for (size_t q = 0; q < P; q++) {
        double v = 0;
        for (int j = 0; j < tg->nhull; j++)
            if (j != tg->self)
                v += tg->w[j] * tg->hull[(size_t)j * P + q];
        tg->tmp[q] = (float)(v / rest);
    }
    *alpha = (float)a;
    return tg->tmp;
}

/* One step: loss of alpha P(theta) + (1 - alpha) ref on a batch, gradient to the logits
 * through the soft action (apply.h) and Sinkhorn (unrolled), Adam on the logits. */
static fm_status soft_step(soft_state *s, const fm_model *m, const fm_demos *d, const soft_target *tg,
                           const fm_merge_nn_opts *o, fm_rng *r, long t, double *loss, fm_err *err)
{
    fm_status status = FM_OK;
    const fm_layout *l = s->l;
    double rm = 0;
    FM_TRY(soft_forward(s, &rm, err));
    FM_TRY(fm_apply_soft(l, (const double *const *)s->P, m->w, s->wp, err));
    float a = 0.0f;
    const float *ref = draw_target(tg, l->total, r, &a);
    for (size_t j = 0; j < l->total; j++)
        s->wint[j] = a * s->wp[j] + (1.0f - a) * ref[j];
    fm_model interp = *m; /* shares normalization; parameters = the interpolation */
    interp.w = s->wint;
    int nb = next_batch(s, d, o->batch, r);
    double count = 0;
    memset(s->grad, 0, sizeof(float) * l->total);
    *loss = nb > 0 ? fm_nn_loss_grad(&interp, s->ws, s->batch.obs, s->batch.act, s->batch.mask,
                                     s->batch.T, s->batch.B, s->grad, &count) : 0.0;
    if (count <= 0)
        goto cleanup;
    *loss /= count;
    for (size_t j = 0; j < l->total; j++)
        s->grad[j] *= (float)(a / count); /* d interp / d P(theta) = alpha */
    for (int g = 0; g < l->ngroups; g++) {
        size_t nn = (size_t)l->group_size[g] * l->group_size[g];
        memset(s->dP[g], 0, sizeof(double) * nn);
        memset(s->dL[g], 0, sizeof(double) * nn);
    }
    FM_TRY(fm_apply_soft_grad(l, (const double *const *)s->P, m->w, s->grad, s->dP, err));
    for (int g = 0; g < l->ngroups; g++) {
        size_t nn = (size_t)l->group_size[g] * l->group_size[g];
        FM_TRY(fm_sinkhorn_backward(s->sk[g], s->dP[g], s->dL[g], err));
        fm_adam_step_f64(s->L[g], s->m[g], s->v[g], s->dL[g], nn, o->lr, t);
    }
cleanup:
    return status;
}

/* Scale of the one-hot start logits of an n-unit group: a matrix with e^(s / tau) on the hard
 * assignment and 1 elsewhere is doubly stochastic once its rows are normalized, with
 * e^(s / tau) / (e^(s / tau) + n - 1) = m on the assignment; s >= 0 (never below uniform). */
static double start_scale(const fm_merge_nn_opts *o, int n)
{
    double m = o->start_mass;
    if (!(m > 0 && m < 1))
        return 1.0;
    if (n < 2)
        return 0.0;
    double s = o->tau * log(m * (n - 1) / (1 - m));
    return s > 0 ? s : 0.0;
}

/* Logits that outlive one soft update (sinkhorn_data): L[g] (n_g x n_g) of one robot; started
 * = 0 until its first update has initialized them from the hard start. */
typedef struct soft_logits {
    double *L[FM_NN_MAX_GROUPS];
    int started;
} soft_logits;

/* Soft update of one robot against a fixed reference; perms (in: start, out: Proj_hard of the
 * final soft permutations). keep (may be NULL): logits carried from the robot's previous update;
 * when keep->started they replace the one-hot start, and the final logits are stored back.
 * Accumulates the log entries. */
static fm_status soft_update(const fm_model *m, const fm_demos *d, const soft_target *tg,
                             const fm_merge_nn_opts *o, fm_rng *r, int *const *perms, double **soft_out,
                             soft_logits *keep, double *log4, fm_err *err)
{
    fm_status status = FM_OK;
    soft_state s;
    int *next = NULL, maxn = 1;
    FM_TRY(soft_create(&s, m, d, o, err));
    const fm_layout *l = s.l;
    for (int g = 0; g < l->ngroups; g++) { /* logits = scale * one-hot(P_hard) + noise N(0, 1) */
        int n = l->group_size[g];
        maxn = n > maxn ? n : maxn;
        if (keep && keep->started) {
            memcpy(s.L[g], keep->L[g], sizeof(double) * (size_t)n * n);
            continue;
        }
        double scale = start_scale(o, n);
        fm_perm_matrix(n, perms[g], s.L[g]);
        for (int q = 0; q < n * n; q++)
            s.L[g][q] = scale * s.L[g][q] + o->noise * fm_rng_normal(r);
    }
    double rm0 = 0, rm1 = 0, lsum = 0, loss = 0;
    FM_TRY(soft_forward(&s, &rm0, err));
    for (long t = 1; t <= o->steps; t++) {
        FM_TRY(soft_step(&s, m, d, tg, o, r, t, &loss, err));
        lsum += loss;
    }
    FM_TRY(soft_forward(&s, &rm1, err));
    FM_ALLOC(next, maxn);
    double changed = 0;
    for (int g = 0; g < l->ngroups; g++) {
        int n = l->group_size[g];
        FM_TRY(fm_perm_project(n, s.P[g], next, err));
        if (soft_out)
            memcpy(soft_out[g], s.P[g], sizeof(double) * (size_t)n * n);
        for (int u = 0; u < n; u++)
            changed += next[u] != perms[g][u];
        memcpy(perms[g], next, sizeof(int) * n);
        if (keep)
            memcpy(keep->L[g], s.L[g], sizeof(double) * (size_t)n * n);
    }
    if (keep)
        keep->started = 1;
    log4[0] += changed, log4[1] += rm0, log4[2] += rm1, log4[3] += lsum / o->steps;
cleanup:
    soft_free(&s);
    free(next);
    return status;
}

/* ---------------- fleet_merge (Algorithm 1) and sinkhorn_rebasin ---------------- */

/* Shared choice of the robots that update in epoch e: max(1, round(frac N)) of them. */
static void choose_subset(uint64_t seed, int e, int N, double frac, int *chosen, int *scratch)
{
    int k = (int)lround(frac * N);
    k = k < 1 ? 1 : k > N ? N : k;
    fm_rng r;
    fm_rng_seed(&r, seed, FM_RANK_SHARED, FM_STREAM_MERGE + 1000 + (uint64_t)e);
    fm_rng_choose(&r, N, k, chosen, scratch);
}

static fm_status log_epoch(const fm_reducer *red, fm_merge_nn_log *log, int e, double *acc, fm_err *err)
{
    fm_status status = FM_OK;
    FM_TRY(fm_reduce_sum(red, acc, 5, err));
    if (log && e < FM_MERGE_LOG_MAX) {
        double n = acc[4] > 0 ? acc[4] : 1;
        log->changed[e] = acc[0], log->rowmax_first[e] = acc[1] / n, log->rowmax_last[e] = acc[2] / n;
        log->interp_loss[e] = acc[3] / n, log->updaters[e] = acc[4];
        log->epochs = e + 1;
    }
cleanup:
    return status;
}

enum { FM_VARIANT_HARD = 0, FM_VARIANT_SOFT, FM_VARIANT_SIMPLEX, FM_VARIANT_AVERAGE };

/* Soft matrices of every local robot (fleet_merge_soft): soft[i][g], n_g x n_g. */
typedef struct fleet_soft {
    double *buf;
    double *(*P)[FM_NN_MAX_GROUPS]; /* [nlocal][group] */
} fleet_soft;

static fm_status soft_create_all(fleet_soft *fs, const fm_layout *l, const fleet_perms *fp, fm_err *err)
{
    fm_status status = FM_OK;
    size_t per = 0;
    for (int g = 0; g < l->ngroups; g++)
        per += (size_t)l->group_size[g] * l->group_size[g];
    FM_ALLOC(fs->buf, per * (fp->nlocal ? fp->nlocal : 1));
    FM_ALLOC(fs->P, fp->nlocal ? fp->nlocal : 1);
    double *q = fs->buf;
    for (int i = 0; i < fp->nlocal; i++)
        for (int g = 0; g < l->ngroups; g++) {
            fs->P[i][g] = q;
            fm_perm_matrix(l->group_size[g], fp->p[i][g], q);
            q += (size_t)l->group_size[g] * l->group_size[g];
        }
cleanup:
    return status;
}

/* Line 5 of Algorithm 1 and its ablations: the reference the robots align to. */
static fm_status reference(int variant, const fm_model *local, const fleet_perms *fp, const fleet_soft *fs,
                           const fm_reducer *red, merge_ws *w, fm_err *err)
{
    fm_status status = FM_OK;
    const fm_layout *l = &local[0].layout;
    if (variant != FM_VARIANT_SOFT)
        return aligned_mean(local, fp, red, w->tmp, w->acc, w->mean, err);
    memset(w->acc, 0, sizeof(double) * l->total); /* fleet_merge_soft: mean of soft alignments */
    for (int i = 0; i < red->nlocal; i++) {
        FM_TRY(fm_apply_soft(l, (const double *const *)fs->P[i], local[i].w, w->tmp, err));
        for (size_t j = 0; j < l->total; j++)
            w->acc[j] += w->tmp[j];
    }
    FM_TRY(fm_reduce_mean_f32(red, w->acc, w->mean, l->total, red->nglobal, err));
cleanup:
    return status;
}

/* Every robot's hard-aligned model on every process (fleet_merge_simplex): hull[N][P], one
 * gather (the only N x P buffer of the merges: the simplex needs every vertex). */
static fm_status gather_aligned(const fm_model *local, const fleet_perms *fp, const fm_reducer *red, float *hull,
                                fm_err *err)
{
    size_t P = local[0].layout.total;
    for (int i = 0; i < red->nlocal; i++)
        fm_layout_permute(&local[0].layout, (const int *const *)fp->p[i], local[i].w,
                          hull + (size_t)(red->offset + i) * P);
    return fm_reduce_gather_f32(red, hull, P, err);
}

/* One epoch's updates by the robots of the subset (lines 6-12). */
static fm_status fleet_epoch(int variant, const fm_model *local, const fm_demos *data, const fm_merge_nn_opts *o,
                             const fm_reducer *red, uint64_t seed, int e, const int *chosen, fleet_perms *fp,
                             fleet_soft *fs, soft_target *tg, double *acc, fm_err *err)
{
    fm_status status = FM_OK;
    for (int i = 0; i < red->nlocal; i++) {
        int gi = red->offset + i;
        if (!chosen[gi])
            continue;
        fm_rng r;
        fm_rng_seed(&r, seed, (uint64_t)gi, FM_STREAM_MERGE + 2000 + (uint64_t)e);
        tg->self = gi;
        FM_TRY(soft_update(&local[i], &data[i], tg, o, &r, fp->p[i], variant == FM_VARIANT_SOFT ? fs->P[i] : NULL,
                           NULL, acc, err));
        acc[4] += 1;
    }
cleanup:
    return status;
}

/* BC loss of the reference w->mean over every robot's data (summed through the reducer). */
static fm_status reference_loss(const fm_model *local, const fm_demos *data, const fm_reducer *red,
                                const merge_ws *w, double *loss, fm_err *err)
{
    fm_status status = FM_OK;
    double acc[2] = {0, 0};
    for (int i = 0; i < red->nlocal; i++) {
        fm_model ref = local[i]; /* shares normalization; parameters = the reference */
        ref.w = w->mean;
        double l = 0;
        FM_TRY(fm_nn_eval_loss(&ref, &data[i], -1, NULL, &l, err));
        double steps = 0;
        for (int t = 0; t < data[i].n_traj; t++)
            steps += data[i].length[t];
        if (steps > 0)
            acc[0] += l * steps, acc[1] += steps;
    }
    FM_TRY(fm_reduce_sum(red, acc, 2, err));
    *loss = acc[1] > 0 ? acc[0] / acc[1] : NAN;
cleanup:
    return status;
}

static fm_status fleet_merge(int variant, const fm_model *local, const fm_demos *data, const fm_merge_nn_opts *o,
                             const fm_reducer *red, uint64_t seed, fleet_perms *fp, merge_ws *w,
                             fm_merge_nn_log *log, fm_err *err)
{
    fm_status status = FM_OK;
    int N = red->nglobal, *chosen = NULL, *scratch = NULL;
    size_t P = local[0].layout.total;
    fleet_soft fs = {0};
    fleet_perms id = {0};
    float *hull = NULL;
    double *wts = NULL;
    soft_target tg = {0};
    FM_ALLOC(chosen, N);
    FM_ALLOC(scratch, N);
    if (o->init_wm && !o->shared_start)
        FM_TRY(merge_many(local, o, red, seed, fp, w, log, err));
    if (variant == FM_VARIANT_SOFT)
        FM_TRY(soft_create_all(&fs, &local[0].layout, fp, err));
    if (variant == FM_VARIANT_SIMPLEX) {
        FM_ALLOC(hull, (size_t)N * P);
        FM_ALLOC(wts, N);
        tg = (soft_target){.hull = hull, .nhull = N, .tmp = w->target, .w = wts};
    }
    if (variant == FM_VARIANT_AVERAGE) { /* the gradient is taken at the plain (unaligned) average */
        FM_TRY(perms_create(&id, &local[0].layout, red->nlocal, err)); /* identity alignments */
        FM_TRY(aligned_mean(local, &id, red, w->tmp, w->acc, w->target, err));
    }
    for (int e = 0; e < o->epochs; e++) {
        FM_TRY(reference(variant, local, fp, &fs, red, w, err)); /* line 5 */
        if (log && e < FM_MERGE_LOG_MAX)
            FM_TRY(reference_loss(local, data, red, w, &log->ref_loss[e], err));
        if (variant == FM_VARIANT_SIMPLEX)
            FM_TRY(gather_aligned(local, fp, red, hull, err));
        else
            tg.ref = variant == FM_VARIANT_AVERAGE ? w->target : w->mean;
        choose_subset(seed, e, N, o->subset, chosen, scratch); /* line 6 */
        double acc[5] = {0};
        FM_TRY(fleet_epoch(variant, local, data, o, red, seed, e, chosen, fp, &fs, &tg, acc, err));
        FM_TRY(log_epoch(red, log, e, acc, err));
    }
    FM_TRY(reference(variant, local, fp, &fs, red, w, err)); /* line 13 */
cleanup:
    free(chosen), free(scratch), free(fs.buf), free(fs.P), free(hull), free(wts);
    free(id.buf), free(id.p);
    return status;
}

/* SoftUpdate (Pena et al. 2022; Eq. 3.1) of every robot against robot 0's policy, then the
 * average of the hard-projected alignments. With merge.fm_init = weight_matching (the default) the
 * soft update starts from each robot's weight matching to robot 0, as fleet_merge starts from
 * MergeMany; started from the identity it did not recover exact permutations of a copy. */
static fm_status sinkhorn_rebasin(const fm_model *local, const fm_demos *data, const fm_merge_nn_opts *o,
                                  const fm_reducer *red, uint64_t seed, fleet_perms *fp, merge_ws *w,
                                  fm_merge_nn_log *log, fm_err *err)
{
    fm_status status = FM_OK;
    if (o->init_wm)
        FM_TRY(anchor_match(local, o, red, seed, fp, w, err)); /* leaves robot 0's model in w->target */
    else
        FM_TRY(robot0_model(local, red, w, err));
    double acc[5] = {0};
    for (int i = 0; i < red->nlocal; i++) {
        int gi = red->offset + i;
        if (gi == 0)
            continue;
        fm_rng r;
        fm_rng_seed(&r, seed, (uint64_t)gi, FM_STREAM_MERGE + 3000);
        soft_target tg = {.ref = w->target};
        FM_TRY(soft_update(&local[i], &data[i], &tg, o, &r, fp->p[i], NULL, NULL, acc, err));
        acc[4] += 1;
    }
    FM_TRY(log_epoch(red, log, 0, acc, err));
    FM_TRY(aligned_mean(local, fp, red, w->tmp, w->acc, w->mean, err));
cleanup:
    return status;
}

/* ---------------- sinkhorn_data (App. F, item 3) ---------------- */

/* Logits of every local robot that persist across sinkhorn_data's sweeps: keep[i].L[g]. */
static fm_status logits_create(const fm_layout *l, int nlocal, soft_logits **keep, double **buf, fm_err *err)
{
    fm_status status = FM_OK;
    size_t per = 0;
    for (int g = 0; g < l->ngroups; g++)
        per += (size_t)l->group_size[g] * l->group_size[g];
    FM_ALLOC(*keep, nlocal ? nlocal : 1);
    FM_ALLOC(*buf, per * (nlocal ? nlocal : 1));
    double *q = *buf;
    for (int i = 0; i < nlocal; i++) {
        (*keep)[i] = (soft_logits){.started = 0};
        for (int g = 0; g < l->ngroups; g++) {
            (*keep)[i].L[g] = q;
            q += (size_t)l->group_size[g] * l->group_size[g];
        }
    }
cleanup:
    return status;
}

/* One re-match of robot `who` (model m and data d on this process) in sweep `sweep`: its target is
 * the mean of the OTHER robots' aligned models, read off the running sum; a soft update from its
 * kept logits, then the hard projection (perms); msg receives the change of its aligned model. */
static fm_status sd_rematch(const fm_model *m, const fm_demos *d, const fm_merge_nn_opts *o, uint64_t seed,
                            int who, int sweep, int N, const double *sum, int *const *perms, soft_logits *keep,
                            merge_ws *w, unsigned char *msg, double *acc, fm_err *err)
{
    fm_status status = FM_OK;
    const fm_layout *l = &m->layout;
    size_t P = l->total;
    fm_layout_permute(l, (const int *const *)perms, m->w, w->tmp);
    for (size_t j = 0; j < P; j++)
        w->target[j] = (float)((sum[j] - w->tmp[j]) / (N - 1)); /* mean of the others */
    fm_rng r;
    fm_rng_seed(&r, seed, (uint64_t)who, FM_STREAM_MERGE + 4001 + (uint64_t)sweep);
    soft_target tg = {.ref = w->target};
    FM_TRY(soft_update(m, d, &tg, o, &r, perms, NULL, keep, acc, err));
    acc[4] += 1;
    fm_layout_permute(l, (const int *const *)perms, m->w, w->target); /* the new aligned model */
    delta_pack(w->tmp, w->target, P, msg);
cleanup:
    return status;
}

/* sinkhorn_data, App. F item 3: "applies the alternation-based algorithm above [MergeMany], and
 * replaces the alignment step from Ainsworth et al. (2022) to sinkhorn-rebasin in Pena et al.
 * (2022) ... The difference between this alternation-based method and our FLEET-MERGE algorithm
 * (Algorithm 1) is whether we reinitialize the permutation with the hard permutation matrix at
 * each round or not." MergeMany's frame (merge_many): anchor start by weight matching
 * (merge.fm_init; skipped for a shared start, as fleet_merge skips MergeMany), then sweeps that
 * visit every robot once in a shared random order, every process keeping the running sum of the
 * aligned models and each re-match broadcast as its delta. The re-match is SoftUpdate (Eq. 3.1) on
 * the robot's OWN data (the paper aligned on a validation set; here data never leave a robot)
 * against the mean of the others, then the hard projection. Unlike fleet_merge, the robot's
 * Sinkhorn logits persist from sweep to sweep: only its first update starts from one-hot(P_hard)
 * + noise (Adam's moments restart with every update). Exactly merge.mm_sweeps sweeps: no early
 * stop, since the kept logits move on while the hard assignments stand still. Traffic: two float32
 * means (start, result) and N deltas per sweep plus a few scalars; log: one entry per sweep. */
static fm_status sinkhorn_data(const fm_model *local, const fm_demos *data, const fm_merge_nn_opts *o,
                               const fm_reducer *red, uint64_t seed, fleet_perms *fp, merge_ws *w,
                               fm_merge_nn_log *log, fm_err *err)
{
    fm_status status = FM_OK;
    size_t P = local[0].layout.total;
    int N = red->nglobal, done = 0, *order = NULL;
    unsigned char *msg = NULL;
    double *sum = NULL, *lbuf = NULL, d = 0;
    soft_logits *keep = NULL;
    fm_rng shared;
    fm_rng_seed(&shared, seed, FM_RANK_SHARED, FM_STREAM_MERGE + 4000);
    FM_CHECK(P <= UINT32_MAX, FM_EINVAL, "sinkhorn_data: %zu parameters, at most %u", P, UINT32_MAX);
    FM_ALLOC(sum, P);
    FM_ALLOC(order, N);
    FM_ALLOC(msg, sizeof(mm_delta) + P * (sizeof(uint32_t) + sizeof(float)));
    FM_TRY(logits_create(&local[0].layout, red->nlocal, &keep, &lbuf, err));
    if (o->init_wm && !o->shared_start)
        FM_TRY(anchor_match(local, o, red, seed, fp, w, err));
    FM_TRY(aligned_mean(local, fp, red, w->tmp, w->acc, w->mean, err));
    for (size_t j = 0; j < P; j++)
        sum[j] = (double)N * w->mean[j];
    for (; N > 1 && done < o->mm_sweeps; done++) {
        if (log && done < FM_MERGE_LOG_MAX) { /* BC loss of the sweep's starting mean */
            for (size_t j = 0; j < P; j++)
                w->mean[j] = (float)(sum[j] / N);
            FM_TRY(reference_loss(local, data, red, w, &log->ref_loss[done], err));
        }
        fm_rng_permutation(&shared, N, order);
        double acc[5] = {0};
        for (int k = 0; k < N; k++) {
            int who = order[k], li = who - red->offset;
            if (li >= 0 && li < red->nlocal)
                FM_TRY(sd_rematch(&local[li], &data[li], o, seed, who, done, N, sum, fp->p[li], &keep[li], w, msg,
                                  acc, err));
            FM_TRY(delta_bcast(red, msg, P, who, err));
            delta_apply(msg, P, sum);
        }
        FM_TRY(log_epoch(red, log, done, acc, err));
    }
    FM_TRY(aligned_mean(local, fp, red, w->tmp, w->acc, w->mean, err)); /* the merge */
    FM_TRY(spread(local, fp, red, w->mean, &d, err));
    if (log)
        log->mm_sweeps = done, log->mm_distance = d;
cleanup:
    free(sum), free(order), free(msg), free(lbuf), free(keep);
    return status;
}

fm_status fm_merge_nn(int method, const fm_model *local, const fm_demos *data,
                      const fm_merge_nn_opts *o, const fm_reducer *red, uint64_t seed,
                      fm_model *merged, fm_merge_nn_log *log, fm_err *err)
{
    return fm_merge_nn_aligned(method, local, data, o, red, seed, merged, NULL, log, err);
}

fm_status fm_merge_nn_aligned(int method, const fm_model *local, const fm_demos *data,
                              const fm_merge_nn_opts *o, const fm_reducer *red, uint64_t seed,
                              fm_model *merged, float *aligned, fm_merge_nn_log *log, fm_err *err)
{
    fm_status status = FM_OK;
    fleet_perms fp = {0};
    merge_ws w = {0};
    FM_CHECK(red->nlocal >= 1 && red->nglobal >= 1, FM_EINVAL, "merge: every process needs a model");
    const fm_layout *l = &local[0].layout;
    if (log)
        memset(log, 0, sizeof *log);
    FM_TRY(perms_create(&fp, l, red->nlocal, err));
    FM_TRY(ws_create(&w, l->total, err));
    switch (method) {
    case FM_MERGE_AVERAGE: FM_TRY(aligned_mean(local, &fp, red, w.tmp, w.acc, w.mean, err)); break;
    case FM_MERGE_GIT_REBASIN:
        FM_TRY(merge_many(local, o, red, seed, &fp, &w, log, err));
        FM_TRY(aligned_mean(local, &fp, red, w.tmp, w.acc, w.mean, err));
        break;
    case FM_MERGE_SINKHORN_REBASIN: FM_TRY(sinkhorn_rebasin(local, data, o, red, seed, &fp, &w, log, err)); break;
    case FM_MERGE_FLEET_MERGE:
        FM_TRY(fleet_merge(FM_VARIANT_HARD, local, data, o, red, seed, &fp, &w, log, err));
        break;
    case FM_MERGE_FLEET_MERGE_SOFT:
        FM_TRY(fleet_merge(FM_VARIANT_SOFT, local, data, o, red, seed, &fp, &w, log, err));
        break;
    case FM_MERGE_FLEET_MERGE_SIMPLEX:
        FM_TRY(fleet_merge(FM_VARIANT_SIMPLEX, local, data, o, red, seed, &fp, &w, log, err));
        break;
    case FM_MERGE_FLEET_MERGE_AVERAGE:
        FM_TRY(fleet_merge(FM_VARIANT_AVERAGE, local, data, o, red, seed, &fp, &w, log, err));
        break;
    case FM_MERGE_SINKHORN_DATA: FM_TRY(sinkhorn_data(local, data, o, red, seed, &fp, &w, log, err)); break;
    default: FM_CHECK(0, FM_EINVAL, "merge: method %d does not apply to neural policies", method);
    }
    fm_model_copy(merged, &local[0]);
    memcpy(merged->w, w.mean, sizeof(float) * l->total);
    for (int i = 0; aligned && i < red->nlocal; i++)
        fm_layout_permute(l, (const int *const *)fp.p[i], local[i].w, aligned + (size_t)i * l->total);
cleanup:
    free(fp.buf), free(fp.p);
    ws_free(&w);
    return status;
}
