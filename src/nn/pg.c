/* pg.c - REINFORCE with a baseline on the nn/ models (pg.h). */
#include "nn/pg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

fm_status fm_pg_episode_create(fm_pg_episode *e, int cap, int obs_dim, int nact, fm_err *err)
{
    fm_status status = FM_OK;
    *e = (fm_pg_episode){0};
    FM_CHECK(cap > 0 && obs_dim > 0 && nact > 1, FM_EINVAL,
             "fm_pg_episode_create: got cap %d, obs_dim %d, %d actions, expected positive sizes and >= 2 actions",
             cap, obs_dim, nact);
    e->cap = cap, e->obs_dim = obs_dim, e->nact = nact;
    FM_ALLOC(e->obs, (size_t)cap * obs_dim);
    FM_ALLOC(e->act, cap);
    FM_ALLOC(e->rew, cap);
    FM_ALLOC(e->ret, cap);
    FM_ALLOC(e->adv, cap);
    FM_ALLOC(e->target, (size_t)cap * nact);
    FM_ALLOC(e->weight, cap);
cleanup:
    if (status != FM_OK)
        fm_pg_episode_free(e);
    return status;
}

void fm_pg_episode_free(fm_pg_episode *e)
{
    free(e->obs), free(e->act), free(e->rew), free(e->ret), free(e->adv), free(e->target), free(e->weight);
    *e = (fm_pg_episode){0};
}

void fm_pg_softmax(const double *logits, int n, double *p)
{
    double mx = logits[0], z = 0.0;
    for (int j = 1; j < n; j++)
        mx = logits[j] > mx ? logits[j] : mx;
    for (int j = 0; j < n; j++)
        z += p[j] = exp(logits[j] - mx);
    for (int j = 0; j < n; j++)
        p[j] /= z;
}

int fm_pg_sample(const double *logits, int n, fm_rng *r)
{
    double p[64], u = fm_rng_uniform(r), acc = 0.0;
    if (n > 64) /* never with the cart-pole's two actions; keep the draw count fixed all the same */
        n = 64;
    fm_pg_softmax(logits, n, p);
    for (int j = 0; j < n - 1; j++) {
        acc += p[j];
        if (u < acc)
            return j;
    }
    return n - 1;
}

int fm_pg_greedy(const double *logits, int n)
{
    int best = 0;
    for (int j = 1; j < n; j++)
        if (logits[j] > logits[best])
            best = j;
    return best;
}

void fm_pg_returns(const double *rew, int T, double gamma, double *ret)
{
    double g = 0.0;
    for (int t = T - 1; t >= 0; t--)
        ret[t] = g = rew[t] + gamma * g;
}

fm_status fm_pg_baseline_create(fm_pg_baseline *b, int kind, int cap, double rate, fm_err *err)
{
    fm_status status = FM_OK;
    *b = (fm_pg_baseline){.kind = kind, .cap = cap, .rate = rate};
    FM_CHECK(kind >= 0 && kind < FM_RL_BASELINE_COUNT && cap > 0, FM_EINVAL,
             "fm_pg_baseline_create: got kind %d, cap %d, expected a fm_rl_baseline and cap > 0", kind, cap);
    FM_ALLOC(b->b, cap);
cleanup:
    return status;
}

void fm_pg_baseline_free(fm_pg_baseline *b)
{
    free(b->b);
    *b = (fm_pg_baseline){0};
}

void fm_pg_advantages(fm_pg_baseline *b, double gamma, fm_pg_episode *e)
{
    int T = e->len;
    fm_pg_returns(e->rew, T, gamma, e->ret);
    if (b->kind == FM_RL_BASELINE_RUNNING) {
        for (int t = 0; t < T; t++) {
            e->adv[t] = e->ret[t] - b->b[t];
            b->b[t] += b->rate * (e->ret[t] - b->b[t]);
        }
    } else if (b->kind == FM_RL_BASELINE_EPISODE) {
        double mean = 0.0, var = 0.0;
        for (int t = 0; t < T; t++)
            mean += e->ret[t] / T;
        for (int t = 0; t < T; t++)
            var += (e->ret[t] - mean) * (e->ret[t] - mean) / T;
        for (int t = 0; t < T; t++)
            e->adv[t] = (e->ret[t] - mean) / (sqrt(var) + 1e-8);
    } else {
        memcpy(e->adv, e->ret, sizeof(double) * (size_t)T);
    }
}

double fm_pg_grad(const fm_model *m, fm_nn_ws *ws, fm_pg_episode *e, double scale, float *grad)
{
    int T = e->len, na = e->nact;
    if (T == 0)
        return 0.0;
    memset(e->target, 0, sizeof(float) * (size_t)T * na);
    for (int t = 0; t < T; t++) {
        e->target[(size_t)t * na + e->act[t]] = 1.0f;
        e->weight[t] = (float)(scale * e->adv[t]);
    }
    double count = 0.0; /* the sum of the weights: not needed */
    return fm_nn_loss_grad(m, ws, e->obs, e->target, e->weight, T, 1, grad, &count);
}
