/* test_lqg.c - the linear-control benchmark: expert costs (closed forms and rollouts),
 * invariance of the exact cost, instability detection, demonstrations. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"
#include "env/lqg/lqg.h"
#include "la/la.h"
#include "nn/linpol.h"
#include "tap.h"

static int load(const char *yaml, fm_config *cfg)
{
    fm_err err;
    fm_err_clear(&err);
    fm_status st = fm_cfg_load_string(yaml, "test.yaml", cfg, &err);
    if (st != FM_OK)
        printf("# config error: %s\n", err.msg);
    return st == FM_OK;
}

/* LQR with process noise: the optimal average cost is w_var * tr(P) (P from Eq. G.4). */
static void test_lqr_closed_form(void)
{
    fm_config cfg;
    ok(load("experiment: {name: t}\nenv: {kind: lqg, obs: state, num_tasks: 3}\npolicy: {arch: static_linear}\n", &cfg),
       "LQR config loads");
    fm_lqg env;
    fm_err err;
    fm_err_clear(&err);
    ok(fm_lqg_build(&cfg, &env, &err) == FM_OK, "LQR env builds (%s)", err.msg);
    ok(env.full_state && env.avg_cost && env.p == 4 && env.m == 2, "LQR dims n = p = 4, m = 2");
    for (int h = 0; h < env.K; h++) {
        double Q[16] = {0}, R[4] = {0}, P[16];
        for (int i = 0; i < 4; i++)
            Q[i * 5] = env.q[h];
        R[0] = R[3] = 1.0;
        la_dare_control(4, 2, env.A, env.B, Q, R, P, NULL, &err);
        is_close(env.Jopt[h], 0.01 * (P[0] + P[5] + P[10] + P[15]), 1e-12, 1e-9,
                 "task %d: J* = w_var tr(P)", h);
    }
    /* perturbing K* can only increase the cost */
    double Kp[8];
    memcpy(Kp, env.Kopt, sizeof Kp);
    Kp[3] += 0.05;
    fm_lqg_policy pi = {.k = 0, .Cp = Kp};
    double J = 0;
    int stable = 0;
    fm_lqg_cost(&env, 0, &pi, &J, &stable, &err);
    ok(stable && J > env.Jopt[0], "a perturbed gain costs more (%.6g > %.6g)", J, env.Jopt[0]);
    double zero[8] = {0};
    pi.Cp = zero;
    fm_lqg_cost(&env, 0, &pi, &J, &stable, &err);
    ok(!stable && isinf(J), "the zero controller does not stabilize the unstable A");
    /* finite-horizon rollouts from x_0 ~ N(0, I) add the transient tr(P Sigma_0) / T */
    double roll = 0, Q1[16] = {0}, R1[4] = {1, 0, 0, 1}, P1[16];
    for (int i = 0; i < 4; i++)
        Q1[i * 5] = env.q[1];
    la_dare_control(4, 2, env.A, env.B, Q1, R1, P1, NULL, &err);
    fm_lqg_policy ex = fm_lqg_expert(&env, 1);
    fm_lqg_rollout_cost(&env, 1, &ex, 400, 400, 3, &roll, &err);
    is_close(roll, env.Jopt[1] + (P1[0] + P1[5] + P1[10] + P1[15]) / 400, 0, 0.05,
             "rollouts agree with J* + tr(P Sigma_0)/T within 5%%");
    fm_lqg_free(&env);
}

/* No noise: total cost from x_0 is tr(P Sigma_0) with Sigma_0 = init_std^2 I. */
static void test_total_cost(void)
{
    fm_config cfg;
    ok(load("experiment: {name: t}\nenv: {kind: lqg, obs: state, num_tasks: 2, process_noise: 0, init_std: 0.5}\n"
            "policy: {arch: static_linear}\n", &cfg), "noise-free config loads");
    fm_lqg env;
    fm_err err;
    fm_err_clear(&err);
    ok(fm_lqg_build(&cfg, &env, &err) == FM_OK && !env.avg_cost, "total-cost mode without noise");
    double Q[16] = {0}, R[4] = {1, 0, 0, 1}, P[16];
    for (int i = 0; i < 4; i++)
        Q[i * 5] = env.q[1];
    la_dare_control(4, 2, env.A, env.B, Q, R, P, NULL, &err);
    is_close(env.Jopt[1], 0.25 * (P[0] + P[5] + P[10] + P[15]), 1e-12, 1e-9, "J* = tr(P Sigma_0)");
    double roll = 0;
    fm_lqg_policy ex = fm_lqg_expert(&env, 1);
    fm_lqg_rollout_cost(&env, 1, &ex, 4000, 300, 1, &roll, &err);
    is_close(roll, env.Jopt[1], 0, 0.06, "rollout total cost matches within 6%%");
    fm_lqg_free(&env);
}

/* LQG: the expert is dynamic; any equivalent realization (T A T^-1, T B, C T^-1) has the
 * same exact cost; demonstrations are reproduced by the expert realization. */
static void test_lqg_dynamic(void)
{
    fm_config cfg;
    ok(load("experiment: {name: t, seed: 4}\nenv: {kind: lqg, obs: projected, obs_dim: 12, num_tasks: 3}\n"
            "policy: {arch: dynamic_linear}\n", &cfg), "LQG config loads");
    fm_lqg env;
    fm_err err;
    fm_err_clear(&err);
    ok(fm_lqg_build(&cfg, &env, &err) == FM_OK, "LQG env builds (%s)", err.msg);
    int n = env.n, p = env.p, m = env.m;
    fm_lindims d = {.arch = FM_ARCH_DYNAMIC_LINEAR, .k = n, .p = p, .m = m};
    size_t np = fm_lin_size(&d);
    double *th = calloc(np, sizeof *th);
    memcpy(th, env.Adyn + 2 * n * n, sizeof(double) * n * n);
    memcpy(th + n * n, env.Ldyn + 2 * n * p, sizeof(double) * n * p);
    memcpy(th + n * n + n * p, env.Kopt + 2 * m * n, sizeof(double) * m * n);
    double T[16];
    fm_rng r;
    fm_rng_seed(&r, 1, 0, 0);
    for (int i = 0; i < 16; i++)
        T[i] = fm_rng_normal(&r) + (i % 5 == 0 ? 1.5 : 0);
    fm_lin_transform(&d, T, th, &err);
    fm_lqg_policy pi = {.k = n, .Ap = th, .Bp = th + n * n, .Cp = th + n * n + n * p};
    double J = 0;
    int stable = 0;
    fm_lqg_cost(&env, 2, &pi, &J, &stable, &err);
    is_close(J, env.Jopt[2], 0, 1e-9, "a transformed expert has the optimal cost");
    /* the LQG expert beats the static output feedback fitted to its own data */
    int tasks[4] = {2, 2, 2, 2};
    fm_demos demos;
    fm_lqg_generate(&env, tasks, 4, &r, &demos, &err);
    ok(demos.n_traj == 4 && demos.horizon == cfg.env.horizon && demos.obs_dim == p, "demo shapes");
    double *u = calloc((size_t)demos.horizon * m, sizeof *u), worst = 0;
    fm_lin_actions(&d, th, demos.obs, demos.horizon, u);
    for (int i = 0; i < demos.horizon * m; i++)
        worst = fmax(worst, fabs(u[i] - demos.act[i]));
    ok(worst < 1e-9, "an equivalent realization reproduces the expert's actions (max diff %.2g)", worst);
    free(th), free(u);
    fm_demos_free(&demos);
    fm_lqg_free(&env);
}

static void test_odd_system(void)
{
    fm_config cfg;
    ok(load("experiment: {name: t}\nenv: {kind: lqg, system: odd_unstable, obs_dim: 10, num_tasks: 2}\n"
            "policy: {arch: dynamic_linear}\n", &cfg), "odd system config loads");
    fm_lqg env;
    fm_err err;
    fm_err_clear(&err);
    ok(fm_lqg_build(&cfg, &env, &err) == FM_OK && env.n == 3, "n = 3 system with the paper's A_unstab");
    double rho = 0;
    la_spectral_radius(3, env.A, &rho, &err);
    ok(rho > 1.0, "open loop is unstable (rho = %.3f)", rho);
    fm_lqg_free(&env);
}

int main(void)
{
    test_lqr_closed_form();
    test_total_cost();
    test_lqg_dynamic();
    test_odd_system();
    return done_testing();
}
