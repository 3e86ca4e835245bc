/* train.c - behavior cloning of neural policies (Eq. 2.4). */
#include "nn/train.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"

fm_status fm_adam_create(fm_adam *a, size_t n, fm_err *err)
{
    fm_status status = FM_OK;
    *a = (fm_adam){.n = n};
    FM_ALLOC(a->m, n);
    FM_ALLOC(a->v, n);
cleanup:
    if (status != FM_OK)
        fm_adam_free(a);
    return status;
}

void fm_adam_free(fm_adam *a)
{
    free(a->m), free(a->v);
    *a = (fm_adam){0};
}

void fm_adam_reset(fm_adam *a)
{
    memset(a->m, 0, sizeof(float) * a->n);
    memset(a->v, 0, sizeof(float) * a->n);
    a->t = 0;
}

void fm_optimizer_step(const fm_nn_train_opts *o, fm_adam *a, float *w, const float *g)
{
    float lr = (float)o->lr, wd = (float)o->weight_decay;
    if (o->optimizer == FM_OPT_SGD) {
        for (size_t i = 0; i < a->n; i++)
            w[i] -= lr * (g[i] + wd * w[i]);
        return;
    }
    const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    a->t++;
    float c1 = 1.0f - powf(b1, (float)a->t), c2 = 1.0f - powf(b2, (float)a->t);
    for (size_t i = 0; i < a->n; i++) {
        a->m[i] = b1 * a->m[i] + (1.0f - b1) * g[i];
        a->v[i] = b2 * a->v[i] + (1.0f - b2) * g[i] * g[i];
        w[i] -= lr * ((a->m[i] / c1) / (sqrtf(a->v[i] / c2) + eps) + wd * w[i]);
    }
}

double fm_lr_at(int schedule, double lr, double decay, long t, long total)
{
    if (total <= 0)
        return lr;
    switch (schedule) {
    case FM_LR_COSINE: return lr * 0.5 * (1.0 + cos(3.14159265358979323846 * (double)t / (double)total));
    case FM_LR_STEP: return lr * (2 * t >= total ? decay : 1.0) * (4 * t >= 3 * total ? decay : 1.0);
    default: return lr;
    }
}

void fm_adam_step_f64(double *x, double *m, double *v, const double *g, size_t n, double lr, long t)
{
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    double c1 = 1.0 - pow(b1, (double)t), c2 = 1.0 - pow(b2, (double)t);
    for (size_t i = 0; i < n; i++) {
        m[i] = b1 * m[i] + (1.0 - b1) * g[i];
        v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
        x[i] -= lr * (m[i] / c1) / (sqrt(v[i] / c2) + eps);
    }
}

fm_status fm_nn_batch_create(fm_nn_batch *b, int T, int B, int obs_dim, int act_dim, fm_err *err)
{
    fm_status status = FM_OK;
    *b = (fm_nn_batch){.T = T, .B = B};
    FM_ALLOC(b->obs, (size_t)T * B * obs_dim);
    FM_ALLOC(b->act, (size_t)T * B * act_dim);
    FM_ALLOC(b->mask, (size_t)T * B);
cleanup:
    if (status != FM_OK)
        fm_nn_batch_free(b);
    return status;
}

void fm_nn_batch_free(fm_nn_batch *b)
{
    free(b->obs), free(b->act), free(b->mask);
    *b = (fm_nn_batch){0};
}

void fm_nn_batch_fill(fm_nn_batch *b, const fm_demos *d, const int *idx, const int *start, int n)
{
    int od = d->obs_dim, ad = d->act_dim, H = d->horizon;
    for (int t = 0; t < b->T; t++)
        for (int j = 0; j < b->B; j++) {
            size_t row = (size_t)t * b->B + j;
            int i = j < n ? idx[j] : -1, s = (j < n && start) ? start[j] + t : t;
            int valid = i >= 0 && s < d->length[i];
            b->mask[row] = valid ? 1.0f : 0.0f;
            const double *o = valid ? d->obs + ((size_t)i * H + s) * od : NULL;
            const double *u = valid ? d->act + ((size_t)i * H + s) * ad : NULL;
            for (int k = 0; k < od; k++)
                b->obs[row * od + k] = o ? (float)o[k] : 0.0f;
            for (int k = 0; k < ad; k++)
                b->act[row * ad + k] = u ? (float)u[k] : 0.0f;
        }
}

typedef struct train_state {
    fm_nn_ws *ws;
    fm_nn_batch batch;
    fm_adam own, *adam;   /* adam points to own or to the caller's state */
    float *grad;          /* [total + 2]: gradient, loss, steps (one reducer call per step) */
    double *sum;          /* the same in double for the reducer */
    int *order, *idx, *start;
    int *first;           /* unit = steps: [n_traj + 1] index of each trajectory's first step */
    int nitems;           /* units to draw from: trajectories, or recorded steps */
} train_state;

static void train_state_free(train_state *s)
{
    fm_nn_ws_free(s->ws);
    fm_nn_batch_free(&s->batch);
    fm_adam_free(&s->own);
    free(s->grad), free(s->sum), free(s->order), free(s->idx), free(s->start), free(s->first);
}

/* Recorded steps of d (the sum of the trajectories' lengths). */
static int count_steps(const fm_demos *d)
{
    long n = 0;
    for (int i = 0; i < d->n_traj; i++)
        n += d->length[i];
    return n > INT32_MAX ? INT32_MAX : (int)n;
}

static fm_status train_state_create(train_state *s, const fm_model *m, const fm_demos *d,
                                    const fm_nn_train_opts *o, fm_adam *adam, fm_err *err)
{
    fm_status status = FM_OK;
    int steps = o->unit == FM_BATCH_STEPS;
    int T = steps ? 1 : o->window > 0 && o->window < d->horizon ? o->window : d->horizon;
    size_t n = m->layout.total;
    *s = (train_state){0};
    FM_CHECK(!steps || m->spec.arch != FM_NN_RNN, FM_EINVAL,
             "training: minibatches of single steps need a feed-forward policy, mlp or cnn (an RNN needs whole "
             "sequences)");
    s->nitems = steps ? count_steps(d) : d->n_traj;
    FM_CHECK(s->nitems < INT32_MAX, FM_EINVAL, "training: %d or more recorded steps in one robot's data, more than "
             "single-step minibatches can index", INT32_MAX);
    FM_TRY(fm_nn_ws_create(m, T, o->batch, &s->ws, err));
    FM_TRY(fm_nn_batch_create(&s->batch, T, o->batch, d->obs_dim, d->act_dim, err));
    if (adam) {
        FM_CHECK(adam->n == n, FM_EINVAL, "training: optimizer state for %zu parameters, model has %zu", adam->n, n);
        s->adam = adam;
    } else {
        FM_TRY(fm_adam_create(&s->own, n, err));
        s->adam = &s->own;
    }
    FM_ALLOC(s->grad, n);
    FM_ALLOC(s->sum, n + 2);
    FM_ALLOC(s->order, s->nitems > 0 ? s->nitems : 1);
    if (steps) {
        FM_ALLOC(s->first, d->n_traj + 1);
        s->first[0] = 0;
        for (int i = 0; i < d->n_traj; i++)
            s->first[i + 1] = s->first[i] + d->length[i];
    }
    FM_ALLOC(s->idx, o->batch);
    FM_ALLOC(s->start, o->batch);
cleanup:
    return status;
}

/* One minibatch step: local loss and gradient, summed over the fleet, averaged, clipped, applied. */
static fm_status train_step(fm_model *m, const fm_demos *d, const fm_nn_train_opts *o,
                            const fm_reducer *red, train_state *s, int nb, double *loss, fm_err *err)
{
    fm_status status = FM_OK;
    size_t n = m->layout.total;
    memset(s->grad, 0, sizeof(float) * n);
    fm_nn_batch_fill(&s->batch, d, s->idx, o->window > 0 || o->unit == FM_BATCH_STEPS ? s->start : NULL, nb);
    double count = 0.0;
    double l = nb > 0 ? fm_nn_loss_grad(m, s->ws, s->batch.obs, s->batch.act, s->batch.mask,
                                        s->batch.T, s->batch.B, s->grad, &count) : 0.0;
    for (size_t i = 0; i < n; i++)
        s->sum[i] = s->grad[i];
    s->sum[n] = l, s->sum[n + 1] = count;
    if (red)
        FM_TRY(fm_reduce_sum(red, s->sum, n + 2, err));
    *loss = s->sum[n + 1] > 0 ? s->sum[n] / s->sum[n + 1] : 0.0;
    FM_CHECK(isfinite(*loss), FM_ENUMERIC, "behavior cloning diverged (loss %g)", *loss);
    if (s->sum[n + 1] <= 0.0)
        goto cleanup;
    double norm = 0.0;
    for (size_t i = 0; i < n; i++) {
        s->sum[i] /= s->sum[n + 1];
        norm += s->sum[i] * s->sum[i];
    }
    double scale = o->grad_clip > 0.0 && sqrt(norm) > o->grad_clip ? o->grad_clip / sqrt(norm) : 1.0;
    for (size_t i = 0; i < n; i++)
        s->grad[i] = (float)(s->sum[i] * scale);
    fm_optimizer_step(o, s->adam, m->w, s->grad);
cleanup:
    return status;
}

/* Steps per epoch: local minibatches, or their fleet mean (rounded up) when data-parallel. */
static fm_status steps_per_epoch(const fm_demos *d, const fm_nn_train_opts *o, const fm_reducer *red,
                                 int *steps, fm_err *err)
{
    fm_status status = FM_OK;
    int items = o->unit == FM_BATCH_STEPS ? count_steps(d) : d->n_traj;
    double nb[2] = {ceil((double)items / o->batch), 1.0};
    if (red) {
        nb[1] = 1.0;
        FM_TRY(fm_reduce_sum(red, nb, 2, err));
    }
    *steps = (int)ceil(nb[0] / nb[1]);
cleanup:
    return status;
}

fm_status fm_nn_train_steps(const fm_demos *d, const fm_nn_train_opts *o, const fm_reducer *red, long *total,
                            fm_err *err)
{
    fm_status status = FM_OK;
    int steps = 0;
    FM_TRY(steps_per_epoch(d, o, red, &steps, err));
    *total = o->steps > 0 ? o->steps : (long)o->epochs * steps;
cleanup:
    return status;
}

/* The trajectory holding recorded step k (unit = steps): the last i with first[i] <= k. */
static int traj_of_step(const int *first, int n_traj, int k)
{
    int lo = 0, hi = n_traj - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (first[mid] <= k)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

fm_status fm_nn_train(fm_model *m, const fm_demos *d, const fm_nn_train_opts *o,
                      const fm_reducer *red, fm_rng *r, double *final_loss, fm_err *err)
{
    return fm_nn_train_with(m, d, o, red, r, NULL, final_loss, err);
}

fm_status fm_nn_train_with(fm_model *m, const fm_demos *d, const fm_nn_train_opts *o,
                           const fm_reducer *red, fm_rng *r, fm_adam *adam, double *final_loss,
                           fm_err *err)
{
    fm_status status = FM_OK;
    train_state s = {0};
    FM_CHECK(o->batch > 0 && o->epochs >= 0 && o->steps >= 0 && o->lr > 0.0, FM_EINVAL,
             "training: batch %d, epochs %d, steps %ld, lr %g", o->batch, o->epochs, o->steps, o->lr);
    FM_TRY(train_state_create(&s, m, d, o, adam, err));
    long total = 0;
    FM_TRY(fm_nn_train_steps(d, o, red, &total, err));
    int pos = s.nitems, by_step = o->unit == FM_BATCH_STEPS;
    double loss = 0.0;
    fm_nn_train_opts at = *o; /* o with the scheduled learning rate of the step */
    for (long k = 0; k < total; k++) {
        at.lr = fm_lr_at(o->lr_schedule, o->lr, o->lr_decay, k, total);
        int nb = s.nitems < o->batch ? s.nitems : o->batch;
        for (int j = 0; j < nb; j++) { /* cycle through a fresh shuffle when exhausted */
            if (pos >= s.nitems)
                fm_rng_permutation(r, s.nitems, s.order), pos = 0;
            if (by_step) {
                int item = s.order[pos++];
                s.idx[j] = traj_of_step(s.first, d->n_traj, item);
                s.start[j] = item - s.first[s.idx[j]];
                continue;
            }
            s.idx[j] = s.order[pos++];
            int len = d->length[s.idx[j]], w = s.batch.T;
            s.start[j] = len > w ? (int)fm_rng_below(r, (uint64_t)(len - w + 1)) : 0;
        }
        FM_TRY(train_step(m, d, &at, red, &s, nb, &loss, err));
    }
    FM_TRY(fm_nn_eval_loss(m, d, -1, red, final_loss, err));
cleanup:
    train_state_free(&s);
    return status;
}

fm_status fm_nn_eval_loss(const fm_model *m, const fm_demos *d, int task, const fm_reducer *red,
                          double *loss, fm_err *err)
{
    fm_status status = FM_OK;
    enum { EB = 16 };
    fm_nn_ws *ws = NULL;
    fm_nn_batch b = {0};
    int idx[EB], n = 0;
    double acc[2] = {0.0, 0.0};
    FM_TRY(fm_nn_ws_create(m, d->horizon, EB, &ws, err));
    FM_TRY(fm_nn_batch_create(&b, d->horizon, EB, d->obs_dim, d->act_dim, err));
    for (int i = 0; i <= d->n_traj; i++) {
        if (i < d->n_traj && (task < 0 || d->task[i] == task))
            idx[n++] = i;
        if (n == EB || (i == d->n_traj && n > 0)) {
            fm_nn_batch_fill(&b, d, idx, NULL, n);
            acc[0] += fm_nn_loss_grad(m, ws, b.obs, b.act, b.mask, b.T, EB, NULL, &acc[1]);
            n = 0;
        }
    }
    if (red)
        FM_TRY(fm_reduce_sum(red, acc, 2, err));
    *loss = acc[1] > 0.0 ? acc[0] / acc[1] : NAN;
cleanup:
    fm_nn_ws_free(ws);
    fm_nn_batch_free(&b);
    return status;
}
