/* cartpole.c - partially observed cart-pole benchmark (docs/cartpole.md): dynamics (RK4),
 * tasks, LQR experts on the linearized step map, episodes and expert demonstrations. */
#include "env/cartpole/cartpole.h"

#include <math.h>
#include <string.h>
#include <stdlib.h>

#include "la/la.h"

/* The expert's cost weights, also the benchmark's stage cost (docs/cartpole.md). */
static const double CP_Q[4] = {1.0, 0.1, 10.0, 0.1}; /* diag over (x, x_dot, theta, theta_dot) */
static const double CP_R = 0.01;
static const double CP_FD_EPS = 1e-6; /* central finite differences of the step map */

/* ds/dt of the frictionless cart-pole (Florian 2007, corrected equations). */
static void deriv(const fm_cartpole_task *p, const double s[4], double force, double ds[4])
{
    double l = p->half_length, mp = p->pole_mass, M = p->cart_mass + p->pole_mass;
    double st = sin(s[2]), ct = cos(s[2]), w2 = s[3] * s[3];
    double th_acc = (FM_CARTPOLE_GRAVITY * st + ct * (-force - mp * l * w2 * st) / M) /
                    (l * (4.0 / 3.0 - mp * ct * ct / M));
    ds[0] = s[1];
    ds[1] = (force + mp * l * (w2 * st - th_acc * ct)) / M;
    ds[2] = s[3];
    ds[3] = th_acc;
}

/* One control period: zero-order hold on `force` (not clipped), SUBSTEPS classical RK4 steps. */
static void step_raw(const fm_cartpole_task *p, double dt, double s[4], double force)
{
    double h = dt / FM_CARTPOLE_SUBSTEPS, k1[4], k2[4], k3[4], k4[4], y[4];
    for (int n = 0; n < FM_CARTPOLE_SUBSTEPS; n++) {
        deriv(p, s, force, k1);
        for (int i = 0; i < 4; i++)
            y[i] = s[i] + 0.5 * h * k1[i];
        deriv(p, y, force, k2);
        for (int i = 0; i < 4; i++)
            y[i] = s[i] + 0.5 * h * k2[i];
        deriv(p, y, force, k3);
        for (int i = 0; i < 4; i++)
            y[i] = s[i] + h * k3[i];
        deriv(p, y, force, k4);
        for (int i = 0; i < 4; i++)
            s[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
    }
}

static double clip_force(const fm_cartpole *env, double force)
{
    if (isnan(force))
        return 0.0;
    return fmin(fmax(force, -env->force_max), env->force_max);
}

void fm_cartpole_linearize(const fm_cartpole *env, int h, double A[16], double B[4])
{
    const fm_cartpole_task *p = &env->task[h];
    double star[4] = {p->setpoint, 0.0, 0.0, 0.0}, sp[4], sm[4];
    for (int j = 0; j < 4; j++) { /* column j of A */
        memcpy(sp, star, sizeof sp);
        memcpy(sm, star, sizeof sm);
        sp[j] += CP_FD_EPS;
        sm[j] -= CP_FD_EPS;
        step_raw(p, env->dt, sp, 0.0);
        step_raw(p, env->dt, sm, 0.0);
        for (int i = 0; i < 4; i++)
            A[i * 4 + j] = (sp[i] - sm[i]) / (2.0 * CP_FD_EPS);
    }
    memcpy(sp, star, sizeof sp);
    memcpy(sm, star, sizeof sm);
    step_raw(p, env->dt, sp, CP_FD_EPS);
    step_raw(p, env->dt, sm, -CP_FD_EPS);
    for (int i = 0; i < 4; i++)
        B[i] = (sp[i] - sm[i]) / (2.0 * CP_FD_EPS);
}

/* Expert of task h: K from the control DARE of the linearized step map. */
static fm_status solve_expert(fm_cartpole *env, int h, fm_err *err)
{
    fm_status status = FM_OK;
    double A[16], B[4], Q[16] = {0}, R[1] = {CP_R};
    for (int i = 0; i < 4; i++)
        Q[i * 5] = CP_Q[i];
    fm_cartpole_linearize(env, h, A, B);
    for (int i = 0; i < 16; i++)
        FM_CHECK(isfinite(A[i]) && (i >= 4 || isfinite(B[i])), FM_ENUMERIC,
                 "cartpole task %d: non-finite linearization", h);
    FM_TRY(la_dare_control(4, 1, A, B, Q, R, NULL, env->task[h].K, err));
cleanup:
    return status;
}

static double uniform(fm_rng *r, double lo, double hi) { return lo + (hi - lo) * fm_rng_uniform(r); }

fm_status fm_cartpole_build(const fm_config *cfg, fm_cartpole *env, fm_err *err)
{
    fm_status status = FM_OK;
    const char *kind = fm_cfg_enum_name("env.kind", cfg->env.kind);
    *env = (fm_cartpole){0};
    FM_CHECK(cfg->env.kind == FM_ENV_CARTPOLE, FM_EINVAL, "%s: env.kind: got %s, expected cartpole",
             cfg->source, kind ? kind : "an unknown kind");
    env->K = cfg->env.num_tasks;
    env->horizon = cfg->env.horizon;
    env->dt = cfg->env.cp_dt;
    env->force_max = cfg->env.cp_force_max;
    env->obs_noise = cfg->env.cp_obs_noise;
    env->action_noise = cfg->env.cp_action_noise;
    FM_ALLOC(env->task, env->K);
    fm_rng r;
    fm_rng_seed(&r, (uint64_t)cfg->experiment.seed, FM_RANK_SHARED, FM_STREAM_SYSTEM);
    for (int h = 0; h < env->K; h++) {
        fm_cartpole_task *p = &env->task[h];
        p->half_length = uniform(&r, cfg->env.cp_length_min, cfg->env.cp_length_max);
        p->pole_mass = uniform(&r, cfg->env.cp_pole_mass_min, cfg->env.cp_pole_mass_max);
        p->cart_mass = uniform(&r, cfg->env.cp_cart_mass_min, cfg->env.cp_cart_mass_max);
        p->setpoint = uniform(&r, -cfg->env.cp_setpoint_max, cfg->env.cp_setpoint_max);
        FM_TRY(solve_expert(env, h, err));
    }
cleanup:
    if (status != FM_OK)
        fm_cartpole_free(env);
    return status;
}

void fm_cartpole_free(fm_cartpole *env)
{
    free(env->task);
    *env = (fm_cartpole){0};
}

void fm_cartpole_reset(const fm_cartpole *env, fm_rng *r, double s[4])
{
    (void)env;
    s[0] = uniform(r, -0.5, 0.5);
    s[1] = uniform(r, -0.2, 0.2);
    s[2] = uniform(r, -0.15, 0.15);
    s[3] = uniform(r, -0.2, 0.2);
}

void fm_cartpole_observe(const fm_cartpole *env, int h, const double s[4], fm_rng *r, double obs[3])
{
    double n1 = fm_rng_normal(r), n2 = fm_rng_normal(r); /* drawn even without noise */
    obs[0] = s[0] + env->obs_noise * n1;
    obs[1] = s[2] + env->obs_noise * n2;
    obs[2] = env->task[h].setpoint;
}

void fm_cartpole_step(const fm_cartpole *env, int h, double s[4], double force)
{
    step_raw(&env->task[h], env->dt, s, clip_force(env, force));
}

double fm_cartpole_expert(const fm_cartpole *env, int h, const double s[4])
{
    const fm_cartpole_task *p = &env->task[h];
    double u = p->K[0] * (s[0] - p->setpoint) + p->K[1] * s[1] + p->K[2] * s[2] + p->K[3] * s[3];
    return clip_force(env, u);
}

int fm_cartpole_failed(const fm_cartpole *env, const double s[4])
{
    (void)env;
    for (int i = 0; i < 4; i++)
        if (!isfinite(s[i]))
            return 1;
    return fabs(s[2]) > FM_CARTPOLE_THETA_FAIL || fabs(s[0]) > FM_CARTPOLE_X_FAIL;
}

double fm_cartpole_stage_cost(const fm_cartpole *env, int h, const double s[4], double force)
{
    double e[4] = {s[0] - env->task[h].setpoint, s[1], s[2], s[3]}, u = clip_force(env, force);
    double c = CP_R * u * u;
    for (int i = 0; i < 4; i++)
        c += CP_Q[i] * e[i] * e[i];
    return c;
}

void fm_cartpole_episode(const fm_cartpole *env, int h, const fm_policy_fn *pi, fm_rng *r,
                         fm_episode_score *out)
{
    int T = env->horizon, tail = (T + 4) / 5, t = 0; /* tail = ceil(0.2 T) */
    double s[4], obs[3], u = 0.0, cost = 0.0, err_sum = 0.0, xs = env->task[h].setpoint;
    fm_cartpole_reset(env, r, s);
    if (pi && pi->reset)
        pi->reset(pi->ctx);
    for (t = 0; t < T; t++) {
        fm_cartpole_observe(env, h, s, r, obs);
        if (pi)
            pi->act(pi->ctx, obs, &u);
        else
            u = fm_cartpole_expert(env, h, s);
        cost += fm_cartpole_stage_cost(env, h, s, u);
        fm_cartpole_step(env, h, s, u);
        if (fm_cartpole_failed(env, s))
            break;
        if (t >= T - tail)
            err_sum += fabs(s[0] - xs);
    }
    *out = (fm_episode_score){0};
    out->balanced = t == T;
    out->steps = t < T ? t + 1 : T;
    out->cost = cost / out->steps;
    out->setpoint_err = out->balanced ? err_sum / tail : fabs(s[0] - xs);
    out->at_setpoint = out->balanced && out->setpoint_err < FM_CARTPOLE_SETPOINT_TOL;
}

/* One demonstration of task h into obs [T][3], act [T][1]; returns 1 if the noisy expert
 * balanced for all T steps. */
static int demo_episode(const fm_cartpole *env, int h, fm_rng *r, double *obs, double *act)
{
    double s[4], sd = env->action_noise * env->force_max;
    fm_cartpole_reset(env, r, s);
    for (int t = 0; t < env->horizon; t++) {
        fm_cartpole_observe(env, h, s, r, obs + (size_t)t * FM_CARTPOLE_OBS_DIM);
        act[t] = fm_cartpole_expert(env, h, s);
        fm_cartpole_step(env, h, s, act[t] + sd * fm_rng_normal(r));
        if (fm_cartpole_failed(env, s))
            return 0;
    }
    return 1;
}

fm_status fm_cartpole_generate(const fm_cartpole *env, const int *tasks, int n_traj, fm_rng *r,
                               fm_demos *out, fm_err *err)
{
    fm_status status = FM_OK;
    int T = env->horizon;
    FM_TRY(fm_demos_alloc(out, n_traj, T, FM_CARTPOLE_OBS_DIM, FM_CARTPOLE_ACT_DIM, err));
    for (int i = 0; i < n_traj; i++) {
        int h = tasks[i], tries = 0, good = 0;
        FM_CHECK(h >= 0 && h < env->K, FM_EINVAL, "cartpole: task %d out of range [0, %d)", h, env->K);
        double *obs = out->obs + (size_t)i * T * FM_CARTPOLE_OBS_DIM;
        double *act = out->act + (size_t)i * T * FM_CARTPOLE_ACT_DIM;
        while (!good && tries < FM_CARTPOLE_MAX_TRIES) {
            good = demo_episode(env, h, r, obs, act);
            tries++;
        }
        FM_CHECK(good, FM_ENUMERIC,
                 "cartpole task %d: the noisy expert failed %d episodes in a row (action_noise %g too large?)",
                 h, FM_CARTPOLE_MAX_TRIES, env->action_noise);
        out->task[i] = h;
        out->length[i] = T;
    }
cleanup:
    if (status != FM_OK)
        fm_demos_free(out);
    return status;
}
