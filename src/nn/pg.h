/* pg.h - policy gradients for discrete-action policies: REINFORCE (Williams 1992) with a baseline
 * (docs/rl.md). Rank-local: no MPI, no environment (the rollouts live in fleet/fleet_rl.c).
 *
 * A policy is an fm_model (MLP, spec.loss FM_NN_LOSS_XENT, identity normalization) whose out_dim
 * outputs are the logits f(s) of a softmax over the actions: pi(a | s) = softmax(f(s))_a.
 * fm_nn_loss_grad's per-step mask multiplies each step's cross-entropy and its gradient, and the
 * cross-entropy against the one-hot target e_a is -log pi(a | s), so with weights w_t
 *   d/dw sum_t w_t xent(f(s_t), e_{a_t}) = - sum_t w_t grad log pi(a_t | s_t).
 * With w_t = A_t (the advantages) that is minus the REINFORCE estimate sum_t A_t grad log pi: a
 * descent direction, what the optimizer (Adam, nn/train.h) minimizes.
 *
 * Advantages: returns-to-go G_t = sum_{k >= t} gamma^(k - t) r_k, minus a baseline (fm_rl_baseline,
 * config/cfg.h). For gamma = 1 and a baseline that does not depend on the episode's own actions
 * (none, running) the expectation of the estimate is exactly the gradient of the expected return
 * E[sum_t r_t] (tests/unit/test_pg.c checks it by enumerating every trajectory of a small MDP);
 * gamma < 1 is the usual discounted-credit variant (no gamma^t factor), biased toward short-term
 * credit, with lower variance. */
#ifndef FM_NN_PG_H
#define FM_NN_PG_H

#include "config/cfg.h"
#include "core/core.h"
#include "nn/nn.h"

/* One episode of at most cap steps: step t saw obs[t], took act[t] and earned rew[t]. */
typedef struct fm_pg_episode {
    int cap, len, obs_dim, nact;
    float *obs;    /* [cap][obs_dim], raw units */
    int *act;      /* [cap], in [0, nact) */
    double *rew;   /* [cap] */
    double *ret;   /* [cap] returns-to-go (fm_pg_returns) */
    double *adv;   /* [cap] advantages (fm_pg_advantages) */
    float *target; /* [cap][nact] scratch: one-hot actions */
    float *weight; /* [cap] scratch: per-step loss weights */
} fm_pg_episode;

/* Buffers for episodes of at most cap steps (len = 0). On failure *e is left empty. */
fm_status fm_pg_episode_create(fm_pg_episode *e, int cap, int obs_dim, int nact, fm_err *err);
/* Safe on a zeroed or already freed episode. */
void fm_pg_episode_free(fm_pg_episode *e);

/* Softmax of n logits into p[n] (max subtracted first). */
void fm_pg_softmax(const double *logits, int n, double *p);
/* An action drawn from softmax(logits) with exactly one uniform draw from r. */
int fm_pg_sample(const double *logits, int n, fm_rng *r);
/* The most likely action (the lowest index among ties). */
int fm_pg_greedy(const double *logits, int n);
/* ret[t] = rew[t] + gamma ret[t + 1], ret[T - 1] = rew[T - 1]; ret may alias nothing else. */
void fm_pg_returns(const double *rew, int T, double gamma, double *ret);

/* The baseline of one robot: FM_RL_BASELINE_RUNNING keeps b[t] for t < cap. */
typedef struct fm_pg_baseline {
    int kind;   /* fm_rl_baseline */
    int cap;
    double rate;
    double *b;  /* [cap] running mean of G_t (0 until an episode reaches step t) */
} fm_pg_baseline;

fm_status fm_pg_baseline_create(fm_pg_baseline *b, int kind, int cap, double rate, fm_err *err);
void fm_pg_baseline_free(fm_pg_baseline *b);
/* e->ret from e->rew (gamma), then e->adv: none: G_t; running: G_t - b[t], after which b[t] +=
 * rate (G_t - b[t]) (an episode's own returns never enter its baseline); episode: (G_t - mean) /
 * (std + 1e-8) over the episode's steps (all 0 for one step). */
void fm_pg_advantages(fm_pg_baseline *b, double gamma, fm_pg_episode *e);

/* grad[P] += -scale sum_t adv_t grad log pi(a_t | s_t) over the e->len steps of e. ws: a
 * workspace of m with T >= e->len rows and B = 1 (fm_nn_ws_create(m, cap, 1, ..)). Returns the
 * surrogate loss -scale sum_t adv_t log pi(a_t | s_t). e->len = 0 adds nothing. */
double fm_pg_grad(const fm_model *m, fm_nn_ws *ws, fm_pg_episode *e, double scale, float *grad);

#endif
