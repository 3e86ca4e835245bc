/* env.h - types shared by the nonlinear benchmarks (cart-pole, later tool use):
 * a caller-supplied policy for rollouts and the score of one episode.
 * env/ does not depend on nn/: fleet/ wraps neural networks into an fm_policy_fn.
 */
#ifndef FM_ENV_H
#define FM_ENV_H

/* A policy for rollouts, supplied by the caller.
 * reset(ctx) is called once before each episode (may be NULL for a memoryless policy);
 * act(ctx, obs, action) maps one observation (obs_dim doubles) to one action (act_dim
 * doubles, written by act). Both are borrowed; ctx is passed through untouched. The
 * environment clips actions, so act() may return any value; a non-finite action is
 * treated as documented by the environment. */
typedef struct fm_policy_fn {
    void (*reset)(void *ctx);
    void (*act)(void *ctx, const double *obs, double *action);
    void *ctx;
} fm_policy_fn;

/* The score of one episode (the environment documents its thresholds). */
typedef struct fm_episode_score {
    int balanced;        /* 1: survived every step without failing */
    int at_setpoint;     /* 1: balanced and within the set-point tolerance at the end */
    int steps;           /* steps actually run, 1..horizon (< horizon only if failed) */
    double cost;         /* stage cost averaged over the steps run */
    double setpoint_err; /* distance to the set-point (environment-defined average) */
} fm_episode_score;

#endif
