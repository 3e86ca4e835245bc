/* lqg.h - the linear-control benchmark of the paper's Appendix G.
 *
 *   x_{t+1} = A x_t + B u_t + w_t,  y_t = C_h x_t + v_t            (Eq. G.1)
 *   stage cost x'Q_h x + u'R u,  Q_h = a_h I,  a_h = logspace(lo, hi, K)   (App. G.5)
 *
 * Tasks differ in Q_h (and optionally C_h). Experts are the optimal controllers: static
 * u = K* x for full-state observation (LQR), the dynamic LQG policy of Eq. G.7 otherwise.
 * Policies are passed as raw matrices so that env/ does not depend on nn/:
 * a dynamic policy (Ap k x k, Bp k x p, Cp m x k) runs  s_t = Ap s_{t-1} + Bp y_t, u_t = Cp s_t
 * from s_0 = 0 (Eq. G.8); a static policy u = K y is the case k = 0 with Cp = K (m x p).
 */
#ifndef FM_LQG_H
#define FM_LQG_H

#include "config/cfg.h"
#include "core/core.h"
#include "data/data.h"

typedef struct fm_lqg {
    int n, m, p, K;     /* state, input, observation dims; number of tasks */
    int full_state;     /* y = x, no observation noise (LQR) */
    int avg_cost;       /* cost = long-run average per step (noise present), else total from x_0 */
    double *A, *B;      /* n x n, n x m */
    double *C;          /* [K][p x n] observation maps (identical when shared) */
    double *q;          /* [K] Q_h = q[h] I */
    double r;           /* R = r I */
    double w_var, v_var, init_std; /* Sigma_w = w_var I, Sigma_v = v_var I, x_0 ~ N(0, init_std^2 I) */
    int horizon;
    /* experts */
    double *Kopt;       /* [K][m x n]  Eq. G.3 */
    double *Ldyn;       /* [K][n x p]  Kalman gain (Eq. G.5), full_state: unused */
    double *Adyn;       /* [K][n x n]  A_theta* of Eq. G.7 */
    double *Jopt;       /* [K] optimal cost (same convention as fm_lqg_cost) */
} fm_lqg;

/* A policy as matrices (borrowed pointers). k = 0: static u = Cp y with Cp m x p. */
typedef struct fm_lqg_policy {
    int k;
    const double *Ap, *Bp, *Cp;
} fm_lqg_policy;

/* Build the system of cfg (shared by all robots: random C from the SYSTEM stream of the
 * experiment seed) and solve the experts' Riccati equations. */
fm_status fm_lqg_build(const fm_config *cfg, fm_lqg *env, fm_err *err);
void fm_lqg_free(fm_lqg *env);
/* The expert of task h as a policy (k = 0 for LQR, k = n for LQG). */
fm_lqg_policy fm_lqg_expert(const fm_lqg *env, int h);

/* Exact closed-loop cost of policy pi on task h from a Lyapunov equation:
 * avg_cost: J = lim 1/T E sum_t c_t (Eq. G.2); else J = E sum_{t>=0} c_t from x_0.
 * *stable = 0 and *J = INFINITY when the closed loop has spectral radius >= 1. */
fm_status fm_lqg_cost(const fm_lqg *env, int h, const fm_lqg_policy *pi, double *J, int *stable,
                      fm_err *err);
/* Empirical cost: mean over `rollouts` of the horizon-T cost (divided by T when avg_cost),
 * with common random numbers: rollout j of task h uses the same noise for every policy. */
fm_status fm_lqg_rollout_cost(const fm_lqg *env, int h, const fm_lqg_policy *pi, int rollouts,
                              int horizon, uint64_t seed, double *J, fm_err *err);
/* Demonstrations of the experts: trajectory i runs task tasks[i] for env->horizon steps;
 * records (y_t, u_t), t = 1..T. `out` is allocated here. */
fm_status fm_lqg_generate(const fm_lqg *env, const int *tasks, int n_traj, fm_rng *rng,
                          fm_demos *out, fm_err *err);

#endif
