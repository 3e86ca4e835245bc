/* test_cartpole.c - the cart-pole benchmark: config, conservation laws of the RK4 dynamics,
 * linearization and experts, free fall, expert balance and set-point rates, episode scores,
 * demonstrations (shapes, labels, determinism) and their error paths. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"
#include "env/cartpole/cartpole.h"
#include "la/la.h"
#include "tap.h"

#define HEAD "experiment:\n  name: t\n  seed: 5\npolicy:\n  arch: rnn\nenv:\n  kind: cartpole\n"

static fm_config cfg_a;

static int load(const char *yaml, fm_config *cfg, fm_err *err)
{
    fm_err_clear(err);
    fm_status st = fm_cfg_load_string(yaml, "cfg.yaml", cfg, err);
    if (st != FM_OK)
        printf("# config error: %s\n", err->msg);
    return st == FM_OK;
}

static int build(const char *yaml, fm_cartpole *env)
{
    fm_err err;
    if (!load(yaml, &cfg_a, &err))
        return 0;
    fm_status st = fm_cartpole_build(&cfg_a, env, &err);
    if (st != FM_OK)
        printf("# build error: %s\n", err.msg);
    return st == FM_OK;
}

static void test_config(void)
{
    fm_err err;
    fm_config *c = &cfg_a;
    ok(load(HEAD, c, &err), "cartpole config loads with defaults");
    is_int(c->env.kind, FM_ENV_CARTPOLE, "env.kind cartpole");
    ok(c->env.cp_dt == 0.02 && c->env.cp_force_max == 20.0, "cp_dt 0.02 s, cp_force_max 20 N");
    ok(c->env.cp_length_min == 0.3 && c->env.cp_length_max == 0.8, "half length in [0.3, 0.8] m");
    ok(c->env.cp_pole_mass_min == 0.05 && c->env.cp_pole_mass_max == 0.3, "pole mass in [0.05, 0.3] kg");
    ok(c->env.cp_cart_mass_min == 0.5 && c->env.cp_cart_mass_max == 2.0, "cart mass in [0.5, 2] kg");
    ok(c->env.cp_setpoint_max == 1.0 && c->env.cp_obs_noise == 0.01 && c->env.cp_action_noise == 0.1,
       "set-point 1 m, obs noise 0.01, action noise 0.1");
    is_int(c->env.horizon, 100, "horizon shared with lqg");
    is_int(c->env.num_tasks, 10, "num_tasks shared with lqg");
    fm_err_clear(&err);
    is_int(fm_cfg_load_string(HEAD "  cp_length_min: 0.9\n", "cfg.yaml", c, &err), FM_ECONFIG,
           "cp_length_min > cp_length_max is a config error");
    is_str(err.msg, "cfg.yaml:8:3: env.cp_length_min: got 0.9, expected a value <= env.cp_length_max (0.8)",
           "cp_length_min > cp_length_max message");
    /* an lqg config cannot build a cart-pole */
    fm_cartpole env;
    ok(load("experiment: {name: t}\nenv: {kind: lqg}\npolicy: {arch: static_linear}\n", c, &err), "lqg config");
    fm_err_clear(&err);
    is_int(fm_cartpole_build(c, &env, &err), FM_EINVAL, "build from an lqg config: FM_EINVAL");
    is_str(err.msg, "cfg.yaml: env.kind: got lqg, expected cartpole", "build from an lqg config: message");
    ok(env.task == NULL && env.K == 0, "failed build leaves the env empty");
}

/* Mechanical energy and horizontal momentum of the frictionless cart-pole (pole: uniform rod
 * of half length l, inertia m_p l^2 / 3 about its centre). */
static double energy(const fm_cartpole_task *p, const double s[4])
{
    double M = p->cart_mass + p->pole_mass, l = p->half_length, mp = p->pole_mass;
    return 0.5 * M * s[1] * s[1] + mp * l * cos(s[2]) * s[1] * s[3] + 2.0 / 3.0 * mp * l * l * s[3] * s[3] +
           mp * FM_CARTPOLE_GRAVITY * l * cos(s[2]);
}

static double momentum(const fm_cartpole_task *p, const double s[4])
{
    return (p->cart_mass + p->pole_mass) * s[1] + p->pole_mass * p->half_length * cos(s[2]) * s[3];
}

static void test_conservation(void)
{
    fm_cartpole_task task = {.half_length = 0.5, .pole_mass = 0.2, .cart_mass = 1.0};
    fm_cartpole env = {.K = 1, .horizon = 200, .dt = 0.01, .force_max = 20.0, .task = &task};
    /* a mild swing around the hanging position, then a full turn through the top */
    static const double starts[2][4] = {{0.0, 0.3, 3.14159265358979323846 - 0.4, 0.5}, {0.0, 0.0, 0.3, 0.0}};
    for (int k = 0; k < 2; k++) {
        double s[4], worst_e = 0.0, worst_p = 0.0;
        memcpy(s, starts[k], sizeof s);
        double e0 = energy(&task, s), p0 = momentum(&task, s), scale = fmax(fabs(e0), 1e-3);
        for (int t = 0; t < 200; t++) {
            fm_cartpole_step(&env, 0, s, 0.0);
            worst_e = fmax(worst_e, fabs(energy(&task, s) - e0) / scale);
            worst_p = fmax(worst_p, fabs(momentum(&task, s) - p0));
        }
        ok(worst_e <= 1e-4, "%s: energy conserved over 200 periods (max rel. drift %.2g)",
           k ? "through the top" : "mild swing", worst_e);
        ok(worst_p <= 1e-8, "%s: horizontal momentum conserved (max drift %.2g)", k ? "through the top" : "mild swing",
           worst_p);
    }
}

/* exp(Ac dt) and int_0^dt exp(Ac t) dt Bc by their Taylor series (40 terms). */
static void discretize(const double Ac[16], const double Bc[4], double dt, double Ad[16], double Bd[4])
{
    double term[16], next[16], integ[16];
    memset(Ad, 0, sizeof(double) * 16);
    for (int i = 0; i < 4; i++)
        Ad[i * 5] = 1.0;
    memcpy(term, Ad, sizeof term);
    for (int i = 0; i < 16; i++)
        integ[i] = dt * term[i]; /* sum_k Ac^k dt^(k+1) / (k+1)! */
    for (int k = 1; k < 40; k++) {
        la_gemm(0, 0, 4, 4, 4, dt / k, Ac, term, 0.0, next);
        memcpy(term, next, sizeof term);
        for (int i = 0; i < 16; i++)
            Ad[i] += term[i], integ[i] += term[i] * dt / (k + 1);
    }
    la_gemm(0, 0, 4, 1, 4, 1.0, integ, Bc, 0.0, Bd);
}

/* Continuous linearization at the upright equilibrium: D = l (4/3 - m_p / M),
 * theta_acc = (g theta - F / M) / D, x_acc = (F - m_p l theta_acc) / M. */
static void analytic(const fm_cartpole_task *p, double Ac[16], double Bc[4])
{
    double M = p->cart_mass + p->pole_mass, l = p->half_length, mp = p->pole_mass, g = FM_CARTPOLE_GRAVITY;
    double D = l * (4.0 / 3.0 - mp / M);
    memset(Ac, 0, sizeof(double) * 16);
    Ac[1] = 1.0, Ac[11] = 1.0;
    Ac[6] = -mp * l * g / (M * D);
    Ac[14] = g / D;
    Bc[0] = 0.0, Bc[2] = 0.0;
    Bc[1] = 1.0 / M + mp * l / (M * M * D);
    Bc[3] = -1.0 / (M * D);
}

static void test_linearization(void)
{
    fm_cartpole env;
    ok(build(HEAD, &env), "default cart-pole builds");
    fm_err err;
    fm_err_clear(&err);
    int bad_fit = 0, bad_open = 0, bad_closed = 0;
    double worst = 0.0, rho_min = INFINITY, cl_max = 0.0;
    for (int h = 0; h < env.K; h++) {
        double A[16], B[4], Ac[16], Bc[4], Ad[16], Bd[4], F[16], rho = 0.0, rc = 0.0;
        fm_cartpole_linearize(&env, h, A, B);
        analytic(&env.task[h], Ac, Bc);
        discretize(Ac, Bc, env.dt, Ad, Bd);
        for (int i = 0; i < 16; i++) {
            double d = fabs(A[i] - Ad[i]) / (1.0 + fabs(Ad[i]));
            double e = i < 4 ? fabs(B[i] - Bd[i]) / (1.0 + fabs(Bd[i])) : 0.0;
            worst = fmax(worst, fmax(d, e));
        }
        bad_fit += worst > 1e-7;
        for (int i = 0; i < 16; i++)
            F[i] = A[i] + B[i / 4] * env.task[h].K[i % 4]; /* A + B K */
        la_spectral_radius(4, A, &rho, &err);
        la_spectral_radius(4, F, &rc, &err);
        bad_open += !(rho > 1.0);
        bad_closed += !(rc < 1.0);
        rho_min = fmin(rho_min, rho);
        cl_max = fmax(cl_max, rc);
    }
    is_int(err.code, FM_OK, "spectral radii computed");
    is_int(bad_fit, 0, "finite-difference A_d, B_d match exp(A_c dt) for every task (max rel. diff %.2g)", worst);
    is_int(bad_open, 0, "every task's upright is unstable (smallest rho(A_d) = %.4f)", rho_min);
    is_int(bad_closed, 0, "every expert stabilizes its task (largest rho(A_d + B_d K) = %.4f)", cl_max);
    fm_cartpole_free(&env);
}

static void zero_act(void *ctx, const double *obs, double *action)
{
    (void)obs;
    ++*(int *)ctx;
    action[0] = 0.0;
}

static void count_reset(void *ctx) { *(int *)ctx += 1000; }

static void test_free_fall(void)
{
    fm_cartpole env;
    ok(build(HEAD, &env), "cart-pole builds");
    double s[4] = {0.0, 0.0, 0.1, 0.0}, prev = 0.1;
    int t = 0, grows = 1;
    for (t = 0; t < env.horizon && !fm_cartpole_failed(&env, s); t++) {
        fm_cartpole_step(&env, 0, s, 0.0);
        grows &= fabs(s[2]) > prev;
        prev = fabs(s[2]);
    }
    ok(grows, "with zero force |theta| grows every period");
    ok(t < env.horizon && s[2] > FM_CARTPOLE_THETA_FAIL, "the pole falls past 0.5 rad (after %d periods)", t);
    /* episodes of a zero policy fail; reset() once per episode, act() once per step run */
    int calls = 0, failed = 0, steps = 0;
    fm_policy_fn zero = {.reset = count_reset, .act = zero_act, .ctx = &calls};
    fm_rng r;
    fm_rng_seed(&r, 3, 0, FM_STREAM_EVAL);
    for (int i = 0; i < 20; i++) {
        fm_episode_score sc;
        fm_cartpole_episode(&env, i % env.K, &zero, &r, &sc);
        failed += !sc.balanced && !sc.at_setpoint && sc.steps < env.horizon;
        steps += sc.steps;
    }
    is_int(failed, 20, "the zero policy fails every episode");
    is_int(calls, 20 * 1000 + steps, "reset once per episode, act once per step run");
    fm_cartpole_free(&env);
}

/* One noisy-expert episode as fm_cartpole_generate runs it; 1 if it balanced. */
static int noisy_expert(const fm_cartpole *env, int h, fm_rng *r)
{
    double s[4], obs[3], sd = env->action_noise * env->force_max;
    fm_cartpole_reset(env, r, s);
    for (int t = 0; t < env->horizon; t++) {
        fm_cartpole_observe(env, h, s, r, obs);
        fm_cartpole_step(env, h, s, fm_cartpole_expert(env, h, s) + sd * fm_rng_normal(r));
        if (fm_cartpole_failed(env, s))
            return 0;
    }
    return 1;
}

static void test_expert_balance(void)
{
    fm_cartpole env;
    ok(build(HEAD, &env), "cart-pole builds");
    int total = 0, balanced = 0, worst_task = 200, noisy = 0, at_set = 0;
    for (int h = 0; h < env.K; h++) {
        fm_rng r;
        fm_rng_seed(&r, 11, 0, FM_STREAM_EVAL + (uint64_t)h);
        int b = 0;
        for (int i = 0; i < 200; i++) {
            fm_episode_score sc;
            fm_cartpole_episode(&env, h, NULL, &r, &sc);
            b += sc.balanced;
            at_set += sc.at_setpoint;
            noisy += noisy_expert(&env, h, &r);
        }
        balanced += b;
        total += 200;
        worst_task = b < worst_task ? b : worst_task;
    }
    is_int(balanced, total, "noise-free expert balances every episode (%d tasks x 200, worst task %d/200)", env.K,
           worst_task);
    ok(noisy >= 0.95 * total, "expert with action noise 0.1 balances >= 95%% (%d/%d = %.1f%%)", noisy, total,
       100.0 * noisy / total);
    printf("# default horizon %d: expert at set-point in %d/%d episodes (%.1f%%)\n", env.horizon, at_set, total,
           100.0 * at_set / total);
    fm_cartpole_free(&env);
}

/* The set-point test uses 150 steps (3 s): the expert's slowest closed-loop mode (rho ~ 0.973
 * per period) needs about that long to bring a 1.5 m error under 0.1 m (docs/cartpole.md). */
static void test_expert_setpoint(void)
{
    fm_cartpole env;
    ok(build(HEAD "  horizon: 150\n", &env), "cart-pole with horizon 150 builds");
    int total = 0, at_set = 0;
    double err_sum = 0.0;
    for (int h = 0; h < env.K; h++) {
        fm_rng r;
        fm_rng_seed(&r, 12, 0, FM_STREAM_EVAL + (uint64_t)h);
        for (int i = 0; i < 200; i++, total++) {
            fm_episode_score sc;
            fm_cartpole_episode(&env, h, NULL, &r, &sc);
            at_set += sc.at_setpoint;
            err_sum += sc.setpoint_err;
        }
    }
    ok(at_set >= 0.9 * total, "expert reaches the set-point in >= 90%% of episodes (%d/%d = %.1f%%, mean err %.4f m)",
       at_set, total, 100.0 * at_set / total, err_sum / total);
    fm_cartpole_free(&env);
}

/* The score's documented definitions, recomputed step by step for the expert. */
static void test_episode_score(void)
{
    fm_cartpole env;
    ok(build(HEAD, &env), "cart-pole builds");
    fm_rng r1, r2;
    fm_rng_seed(&r1, 9, 0, FM_STREAM_EVAL);
    fm_rng_seed(&r2, 9, 0, FM_STREAM_EVAL);
    fm_episode_score sc;
    fm_cartpole_episode(&env, 2, NULL, &r1, &sc);
    double s[4], obs[3], cost = 0.0, err = 0.0;
    int T = env.horizon, tail = (T + 4) / 5;
    fm_cartpole_reset(&env, &r2, s);
    for (int t = 0; t < T; t++) {
        fm_cartpole_observe(&env, 2, s, &r2, obs);
        double u = fm_cartpole_expert(&env, 2, s);
        cost += fm_cartpole_stage_cost(&env, 2, s, u);
        fm_cartpole_step(&env, 2, s, u);
        if (t >= T - tail)
            err += fabs(s[0] - env.task[2].setpoint);
    }
    ok(sc.balanced && sc.steps == T, "expert episode balanced for %d steps", T);
    is_close(sc.cost, cost / T, 0, 1e-14, "cost = mean stage cost");
    is_close(sc.setpoint_err, err / tail, 0, 1e-14, "setpoint_err = mean |x - x*| over the last 20%%");
    is_int(sc.at_setpoint, sc.setpoint_err < FM_CARTPOLE_SETPOINT_TOL, "at_setpoint follows the tolerance");
    ok(fm_rng_u64(&r1) == fm_rng_u64(&r2), "the episode consumed the documented draws");

    /* stage cost, clipping, NaN handling */
    double star[4] = {env.task[2].setpoint, 0, 0, 0}, off[4] = {env.task[2].setpoint + 1, 0, 0, 0};
    is_close(fm_cartpole_stage_cost(&env, 2, star, 0.0), 0.0, 1e-15, 0, "zero cost at the set-point");
    is_close(fm_cartpole_stage_cost(&env, 2, off, 1.0), 1.01, 0, 1e-14, "Q_x = 1, R = 0.01");
    is_close(fm_cartpole_stage_cost(&env, 2, star, 100.0), 0.01 * 400.0, 0, 1e-14, "the cost uses the clipped force");
    double far[4] = {-2.0, 0, 0, 0};
    is_close(fabs(fm_cartpole_expert(&env, 2, far)), env.force_max, 0, 0, "expert force clipped to force_max");
    double a[4] = {0.1, 0.2, 0.05, -0.1}, b[4];
    memcpy(b, a, sizeof b);
    fm_cartpole_step(&env, 2, a, NAN);
    fm_cartpole_step(&env, 2, b, 0.0);
    ok(memcmp(a, b, sizeof a) == 0, "a NaN force acts as 0");
    double nan_state[4] = {0, 0, NAN, 0};
    ok(fm_cartpole_failed(&env, nan_state), "a non-finite state has failed");
    fm_cartpole_free(&env);
}

/* Re-run trajectory 0 of fm_cartpole_generate (with its re-draws) and compare. */
static int resimulate(const fm_cartpole *env, int h, uint64_t seed, const fm_demos *d, double *worst)
{
    fm_rng r;
    fm_rng_seed(&r, seed, 0, FM_STREAM_DATA);
    double s[4], obs[3], sd = env->action_noise * env->force_max;
    int good = 0, tries = 0;
    for (; !good && tries < FM_CARTPOLE_MAX_TRIES; tries++) {
        fm_cartpole_reset(env, &r, s);
        *worst = 0.0;
        good = 1;
        for (int t = 0; t < env->horizon && good; t++) {
            fm_cartpole_observe(env, h, s, &r, obs);
            double u = fm_cartpole_expert(env, h, s);
            for (int i = 0; i < 3; i++)
                *worst = fmax(*worst, fabs(obs[i] - d->obs[t * 3 + i]));
            *worst = fmax(*worst, fabs(u - d->act[t]));
            fm_cartpole_step(env, h, s, u + sd * fm_rng_normal(&r));
            good = !fm_cartpole_failed(env, s);
        }
    }
    return tries;
}

static void test_demos(void)
{
    fm_cartpole env, env2;
    ok(build(HEAD, &env) && build(HEAD, &env2), "two builds");
    ok(env.K == env2.K && memcmp(env.task, env2.task, sizeof *env.task * env.K) == 0,
       "tasks and experts built identically");
    int distinct = 0;
    for (int h = 1; h < env.K; h++)
        distinct += env.task[h].half_length != env.task[0].half_length && env.task[h].setpoint != env.task[0].setpoint;
    is_int(distinct, env.K - 1, "tasks differ");
    int tasks[5] = {3, 0, 9, 3, 5};
    fm_demos d1, d2;
    fm_rng r;
    fm_err err;
    fm_err_clear(&err);
    fm_rng_seed(&r, 21, 0, FM_STREAM_DATA);
    is_int(fm_cartpole_generate(&env, tasks, 5, &r, &d1, &err), FM_OK, "generate");
    ok(d1.n_traj == 5 && d1.horizon == env.horizon && d1.obs_dim == 3 && d1.act_dim == 1, "shapes 5 x %d x (3, 1)",
       env.horizon);
    int good = 1;
    for (int i = 0; i < 5; i++)
        good &= d1.task[i] == tasks[i] && d1.length[i] == env.horizon;
    ok(good, "task labels and full lengths");
    good = 1;
    for (int i = 0; i < 5 * env.horizon; i++)
        good &= d1.obs[i * 3 + 2] == env.task[d1.task[i / env.horizon]].setpoint && fabs(d1.act[i]) <= env.force_max;
    ok(good, "observations carry the set-point, labels within +-force_max");
    double worst = -1.0;
    int tries = resimulate(&env, 3, 21, &d1, &worst);
    ok(worst == 0.0, "trajectory 0 re-simulated: obs and clean expert labels equal (%d tries, max diff %g)", tries,
       worst);
    fm_rng_seed(&r, 21, 0, FM_STREAM_DATA);
    is_int(fm_cartpole_generate(&env2, tasks, 5, &r, &d2, &err), FM_OK, "generate again");
    ok(memcmp(d1.obs, d2.obs, sizeof(double) * 5 * env.horizon * 3) == 0 &&
           memcmp(d1.act, d2.act, sizeof(double) * 5 * env.horizon) == 0,
       "same seed, same bytes");
    fm_demos_free(&d1), fm_demos_free(&d2);
    fm_cartpole_free(&env2);
    fm_cartpole_free(&env);
}

/* Re-draws when the noisy expert fails, and the error paths of fm_cartpole_generate. */
static void test_demos_redraw(void)
{
    fm_cartpole env;
    ok(build(HEAD, &env), "cart-pole builds");
    int tasks[1] = {3}, tries = 0;
    double worst = -1.0;
    fm_demos d1;
    fm_rng r;
    fm_err err;
    fm_err_clear(&err);
    /* with action noise 1.5 about half the noisy episodes fail: a trajectory that needed
     * re-draws is reproduced from the continuing stream too */
    env.action_noise = 1.5;
    int redrawn = 0;
    for (uint64_t seed = 30; seed < 60 && !redrawn; seed++) {
        fm_rng_seed(&r, seed, 0, FM_STREAM_DATA);
        if (fm_cartpole_generate(&env, tasks, 1, &r, &d1, &err) != FM_OK)
            continue;
        tries = resimulate(&env, 3, seed, &d1, &worst);
        if (tries > 1) {
            redrawn = 1;
            ok(worst == 0.0, "re-drawn trajectory re-simulated (%d tries, seed %d, max diff %g)", tries, (int)seed,
               worst);
        }
        fm_demos_free(&d1);
    }
    ok(redrawn, "a trajectory needed re-draws");

    int bad[2] = {0, 10};
    fm_err_clear(&err);
    is_int(fm_cartpole_generate(&env, bad, 2, &r, &d1, &err), FM_EINVAL, "task out of range: FM_EINVAL");
    is_str(err.msg, "cartpole: task 10 out of range [0, 10)", "task out of range: message");
    ok(d1.obs == NULL && d1.n_traj == 0, "failed generate leaves out empty");
    env.action_noise = 10.0; /* +-200 N of noise: the expert cannot balance */
    fm_err_clear(&err);
    is_int(fm_cartpole_generate(&env, tasks, 1, &r, &d1, &err), FM_ENUMERIC, "hopeless action noise: FM_ENUMERIC");
    is_str(err.msg, "cartpole task 3: the noisy expert failed 20 episodes in a row (action_noise 10 too large?)",
           "hopeless action noise: message");
    fm_cartpole_free(&env);
}

int main(void)
{
    test_config();
    test_conservation();
    test_linearization();
    test_free_fall();
    test_expert_balance();
    test_expert_setpoint();
    test_episode_score();
    test_demos();
    test_demos_redraw();
    return done_testing();
}
