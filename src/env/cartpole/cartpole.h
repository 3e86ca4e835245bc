/* cartpole.h - the partially observed cart-pole benchmark (issue 3, docs/cartpole.md).
 *
 * State s = (x, x_dot, theta, theta_dot): cart position (m) and velocity (m/s), pole angle
 * (rad, 0 = upright) and angular velocity (rad/s). Frictionless cart-pole with the corrected
 * equations of Florian (2007), pole = uniform rod of half length l, M = m_c + m_p, g = 9.81:
 *
 *   theta_acc = (g sin th + cos th (-F - m_p l th_dot^2 sin th) / M) / (l (4/3 - m_p cos^2 th / M))
 *   x_acc     = (F + m_p l (th_dot^2 sin th - theta_acc cos th)) / M
 *
 * One control period dt: zero-order hold on F, 4 classical RK4 substeps of dt / 4.
 * Task h: (l, m_p, m_c) and a cart set-point x*_h; the policy observes (x + n, theta + n, x*_h)
 * (positions only, n ~ N(0, obs_noise^2)) and outputs the force F (N), clipped to +-force_max.
 * Expert of task h: discrete LQR on the linearized one-period map around s* = (x*_h, 0, 0, 0),
 * Q = diag(1, 0.1, 10, 0.1), R = 0.01, u = K (s - s*) clipped; it sees the true state.
 * An episode fails when |theta| > 0.5 rad or |x| > 2.4 m (or the state is not finite).
 *
 * Random draws, in order (so callers can reproduce an episode from a seed):
 *   reset: 4 uniforms (x, x_dot, theta, theta_dot); observe: 2 normals (x, theta noise), drawn
 *   even when obs_noise = 0; generate: per step observe, then 1 normal for the action noise.
 */
#ifndef FM_CARTPOLE_H
#define FM_CARTPOLE_H

#include "config/cfg.h"
#include "core/core.h"
#include "data/data.h"
#include "env/env.h"

#define FM_CARTPOLE_OBS_DIM 3
#define FM_CARTPOLE_ACT_DIM 1
#define FM_CARTPOLE_GRAVITY 9.81      /* m/s^2 */
#define FM_CARTPOLE_SUBSTEPS 4        /* RK4 substeps per control period */
#define FM_CARTPOLE_THETA_FAIL 0.5    /* rad: |theta| beyond this fails the episode */
#define FM_CARTPOLE_X_FAIL 2.4        /* m: |x| beyond this fails the episode */
#define FM_CARTPOLE_SETPOINT_TOL 0.1  /* m: mean |x - x*| over the last 20% of the steps */
#define FM_CARTPOLE_MAX_TRIES 20      /* demonstration re-draws when the noisy expert fails */

typedef struct fm_cartpole_task {
    double half_length, pole_mass, cart_mass, setpoint; /* l (m), m_p (kg), m_c (kg), x* (m) */
    double K[4]; /* expert gain: u = K (s - s*) before clipping */
} fm_cartpole_task;

typedef struct fm_cartpole {
    int K, horizon;     /* number of tasks; steps per episode and demonstration */
    double dt, force_max, obs_noise, action_noise; /* s, N, std (m and rad), fraction of force_max */
    fm_cartpole_task *task; /* [K], owned */
} fm_cartpole;

/* Build the K tasks of cfg (env.kind must be cartpole, else FM_EINVAL) from the shared stream
 * fm_rng_seed(seed, FM_RANK_SHARED, FM_STREAM_SYSTEM), so every rank builds the same tasks:
 * per task, in order, l, m_p, m_c, x* uniform in their configured ranges. Then solve each
 * expert's DARE (FM_ENUMERIC if it fails). On failure *env is left empty. */
fm_status fm_cartpole_build(const fm_config *cfg, fm_cartpole *env, fm_err *err);
/* Free the tasks and zero *env; safe on a zeroed or already freed env. */
void fm_cartpole_free(fm_cartpole *env);

/* Initial state: x ~ U[-0.5, 0.5] m (absolute, not relative to the set-point),
 * x_dot ~ U[-0.2, 0.2] m/s, theta ~ U[-0.15, 0.15] rad, theta_dot ~ U[-0.2, 0.2] rad/s. */
void fm_cartpole_reset(const fm_cartpole *env, fm_rng *r, double s[4]);
/* Observation of task h: obs = (x + n1, theta + n2, x*_h), n ~ N(0, obs_noise^2). */
void fm_cartpole_observe(const fm_cartpole *env, int h, const double s[4], fm_rng *r, double obs[3]);
/* Advance s by one control period under force F (N): F is clipped to +-force_max, a NaN force
 * counts as 0. No failure check (see fm_cartpole_failed). */
void fm_cartpole_step(const fm_cartpole *env, int h, double s[4], double force);
/* The expert's force for task h at true state s: K (s - s*), clipped to +-force_max. */
double fm_cartpole_expert(const fm_cartpole *env, int h, const double s[4]);
/* 1 if |theta| > 0.5 rad, |x| > 2.4 m or a component of s is not finite; else 0. */
int fm_cartpole_failed(const fm_cartpole *env, const double s[4]);
/* (s - s*)' Q (s - s*) + R F^2 with the expert's Q, R and F clipped as in fm_cartpole_step. */
double fm_cartpole_stage_cost(const fm_cartpole *env, int h, const double s[4], double force);
/* The expert's linear model of task h: s' - s* ~ A (s - s*) + B F, from central finite
 * differences (eps 1e-6) of the one-period map at s* with F = 0. A is 4 x 4 row-major, B 4 x 1. */
void fm_cartpole_linearize(const fm_cartpole *env, int h, double A[16], double B[4]);

/* One episode of task h, horizon steps, with policy pi (NULL = the expert, which reads the
 * true state; observations are drawn all the same, so pi and the expert see the same initial
 * state and noise for the same r). Step t: observe, act, add the stage cost, step, stop if
 * failed. out: balanced = no failure in horizon steps; steps run; cost = mean stage cost over
 * the steps run; setpoint_err = mean |x - x*| over the states after the last ceil(20%) of the
 * steps (for a failed episode: |x - x*| at the failure); at_setpoint = balanced and
 * setpoint_err < 0.1 m. */
void fm_cartpole_episode(const fm_cartpole *env, int h, const fm_policy_fn *pi, fm_rng *r,
                         fm_episode_score *out);

/* Demonstrations: trajectory i runs task tasks[i] (in [0, K), else FM_EINVAL) for horizon
 * steps with the expert; the executed force is expert + N(0, (action_noise force_max)^2)
 * (then clipped), the recorded label is the clean expert force, obs as observed. An episode
 * whose noisy expert fails is re-drawn from the continuing stream, up to 20 tries, then
 * FM_ENUMERIC. length = horizon. out (obs_dim 3, act_dim 1) is allocated here and left empty
 * on failure. */
fm_status fm_cartpole_generate(const fm_cartpole *env, const int *tasks, int n_traj, fm_rng *r,
                               fm_demos *out, fm_err *err);

#endif
