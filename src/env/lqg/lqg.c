/* lqg.c - linear-control benchmark (paper Appendix G): systems, experts, exact and
 * empirical closed-loop costs, expert demonstrations. */
#include "env/lqg/lqg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "la/la.h"

/* Built-in systems (docs/linear.md). B is the paper's 4 x 2 input matrix (App. G.5);
 * odd_unstable uses the paper's A_unstab with the first three rows of B. */
static const double B4[8] = {0.01, 0.99, -3.44, 1.66, -0.83, 0.44, -0.47, 0.25};
static const double A_MILD[16] = {1.05, 0.03, -0.02, 0.0, 0.01, 0.47, 4.7, 0.0,
                                  0.02, -0.06, 0.40, 0.0, 0.0, 0.1, 0.0, 0.8};
static const double A_STABLE[16] = {0.9, 0.03, -0.02, 0.0, 0.01, 0.47, 4.7, 0.0,
                                    0.02, -0.06, 0.40, 0.0, 0.0, 0.1, 0.0, 0.8};
static const double A_ODD[9] = {1.1, 0.03, -0.02, 0.01, 0.47, 4.7, 0.02, -0.06, 0.40};

static fm_status set_system(const fm_config *cfg, fm_lqg *env, fm_err *err)
{
    fm_status status = FM_OK;
    const double *A = NULL, *B = B4;
    switch (cfg->env.system) {
    case FM_SYS_MILD_UNSTABLE: env->n = 4, A = A_MILD; break;
    case FM_SYS_STABLE: env->n = 4, A = A_STABLE; break;
    case FM_SYS_ODD_UNSTABLE: env->n = 3, A = A_ODD; break;
    default:
        FM_CHECK(cfg->env.A.rows > 0 && cfg->env.B.rows == cfg->env.A.rows, FM_ECONFIG,
                 "%s: env: system custom needs env.A (n x n) and env.B (n x m)", cfg->source);
        env->n = cfg->env.A.rows;
        A = cfg->env.A.v;
        B = cfg->env.B.v;
    }
    env->m = cfg->env.system == FM_SYS_CUSTOM ? cfg->env.B.cols : 2;
    FM_ALLOC(env->A, env->n * env->n);
    FM_ALLOC(env->B, env->n * env->m);
    memcpy(env->A, A, sizeof(double) * env->n * env->n);
    memcpy(env->B, B, sizeof(double) * env->n * env->m);
cleanup:
    return status;
}

static fm_status set_observation(const fm_config *cfg, fm_lqg *env, fm_err *err)
{
    fm_status status = FM_OK;
    int n = env->n, K = env->K;
    env->full_state = cfg->env.obs == FM_OBS_STATE;
    env->p = env->full_state ? n : (cfg->env.C.rows > 0 ? cfg->env.C.rows : cfg->env.obs_dim);
    env->v_var = env->full_state ? 0.0 : cfg->env.obs_noise;
    int p = env->p;
    FM_ALLOC(env->C, (size_t)K * p * n);
    fm_rng rng;
    fm_rng_seed(&rng, (uint64_t)cfg->experiment.seed, FM_RANK_SHARED, FM_STREAM_SYSTEM);
    for (int h = 0; h < K; h++) {
        double *C = env->C + (size_t)h * p * n;
        if (env->full_state) {
            for (int i = 0; i < n; i++)
                C[i * n + i] = 1.0;
        } else if (cfg->env.C.rows > 0) {
            memcpy(C, cfg->env.C.v, sizeof(double) * p * n);
        } else if (h == 0 || cfg->env.obs_per_task) {
            for (int i = 0; i < p * n; i++)
                C[i] = fm_rng_normal(&rng); /* unit Gaussian entries (App. G.5) */
        } else {
            memcpy(C, env->C, sizeof(double) * p * n);
        }
    }
cleanup:
    return status;
}

/* Expert of task h: K* from the control DARE (G.3-G.4); for LQG also the Kalman gain
 * (G.5) and A_theta* = (I - L C)(A + B K) of Eq. G.7. */
static fm_status solve_expert(fm_lqg *env, int h, fm_err *err)
{
    fm_status status = FM_OK;
    int n = env->n, m = env->m, p = env->p;
    double *Q = NULL, *R = NULL, *Sw = NULL, *Sv = NULL, *S = NULL, *ABK = NULL, *LC = NULL;
    FM_ALLOC(Q, n * n);
    FM_ALLOC(R, m * m);
    for (int i = 0; i < n; i++)
        Q[i * n + i] = env->q[h];
    for (int i = 0; i < m; i++)
        R[i * m + i] = env->r;
    double *K = env->Kopt + (size_t)h * m * n;
    FM_TRY(la_dare_control(n, m, env->A, env->B, Q, R, NULL, K, err));
    if (!env->full_state) {
        FM_ALLOC(Sw, n * n);
        FM_ALLOC(Sv, p * p);
        FM_ALLOC(S, n * n);
        FM_ALLOC(ABK, n * n);
        FM_ALLOC(LC, n * n);
        for (int i = 0; i < n; i++)
            Sw[i * n + i] = env->w_var;
        for (int i = 0; i < p; i++)
            Sv[i * p + i] = env->v_var;
        double *L = env->Ldyn + (size_t)h * n * p, *C = env->C + (size_t)h * p * n;
        FM_TRY(la_dare_filter(n, p, env->A, C, Sw, Sv, S, L, err));
        memcpy(ABK, env->A, sizeof(double) * n * n);
        la_gemm(0, 0, n, n, m, 1.0, env->B, K, 1.0, ABK); /* A + B K */
        la_gemm(0, 0, n, n, p, -1.0, L, C, 0.0, LC);       /* -L C */
        for (int i = 0; i < n; i++)
            LC[i * n + i] += 1.0;                          /* I - L C */
        la_gemm(0, 0, n, n, n, 1.0, LC, ABK, 0.0, env->Adyn + (size_t)h * n * n);
    }
cleanup:
    free(Q), free(R), free(Sw), free(Sv), free(S), free(ABK), free(LC);
    return status;
}

fm_status fm_lqg_build(const fm_config *cfg, fm_lqg *env, fm_err *err)
{
    fm_status status = FM_OK;
    *env = (fm_lqg){0};
    env->K = cfg->env.num_tasks;
    env->r = cfg->env.r_scale;
    env->w_var = cfg->env.process_noise;
    env->init_std = cfg->env.init_std;
    env->horizon = cfg->env.horizon;
    FM_TRY(set_system(cfg, env, err));
    FM_TRY(set_observation(cfg, env, err));
    env->avg_cost = env->w_var > 0.0 || env->v_var > 0.0;
    int K = env->K, n = env->n, m = env->m, p = env->p;
    FM_ALLOC(env->q, K);
    for (int h = 0; h < K; h++) {
        double f = K > 1 ? (double)h / (K - 1) : 0.0; /* logspace(lo, hi, K) */
        env->q[h] = pow(10.0, cfg->env.q_log_min + f * (cfg->env.q_log_max - cfg->env.q_log_min));
    }
    FM_CHECK(env->full_state || env->v_var > 0.0, FM_ECONFIG,
             "%s: env.obs_noise: must be > 0 for projected observations (Kalman filter)",
             cfg->source);
    FM_ALLOC(env->Kopt, (size_t)K * m * n);
    FM_ALLOC(env->Ldyn, (size_t)K * n * p);
    FM_ALLOC(env->Adyn, (size_t)K * n * n);
    FM_ALLOC(env->Jopt, K);
    for (int h = 0; h < K; h++) {
        FM_TRY(solve_expert(env, h, err));
        fm_lqg_policy pi = fm_lqg_expert(env, h);
        int stable = 0;
        FM_TRY(fm_lqg_cost(env, h, &pi, &env->Jopt[h], &stable, err));
        FM_CHECK(stable, FM_ENUMERIC, "task %d: the optimal controller is not stabilizing", h);
    }
cleanup:
    if (status != FM_OK)
        fm_lqg_free(env);
    return status;
}

void fm_lqg_free(fm_lqg *env)
{
    free(env->A), free(env->B), free(env->C), free(env->q);
    free(env->Kopt), free(env->Ldyn), free(env->Adyn), free(env->Jopt);
    *env = (fm_lqg){0};
}

fm_lqg_policy fm_lqg_expert(const fm_lqg *env, int h)
{
    int n = env->n, m = env->m, p = env->p;
    if (env->full_state)
        return (fm_lqg_policy){.k = 0, .Cp = env->Kopt + (size_t)h * m * n};
    return (fm_lqg_policy){.k = n, .Ap = env->Adyn + (size_t)h * n * n,
                           .Bp = env->Ldyn + (size_t)h * n * p, .Cp = env->Kopt + (size_t)h * m * n};
}

/* Closed loop of a policy on task h in z = [x_t; s_{t-1}] (dimension n + k):
 * F = [[A + B D C, B Cp Ap], [Bp C, Ap]], u_t = H z_t + D v_t with D = Cp Bp, H = [D C, Cp Ap].
 * A static policy (k = 0) is D = K. See docs/linear.md for the derivation. */
typedef struct closed_loop {
    int nz;
    double *F, *H, *D; /* nz x nz, m x nz, m x p */
} closed_loop;

static fm_status closed_loop_build(const fm_lqg *env, int h, const fm_lqg_policy *pi,
                                   closed_loop *cl, fm_err *err)
{
    fm_status status = FM_OK;
    int n = env->n, m = env->m, p = env->p, k = pi->k, nz = n + k;
    const double *C = env->C + (size_t)h * p * n;
    double *DC = NULL, *CA = NULL, *BCA = NULL;
    cl->nz = nz;
    FM_ALLOC(cl->F, nz * nz);
    FM_ALLOC(cl->H, m * nz);
    FM_ALLOC(cl->D, m * p);
    FM_ALLOC(DC, m * n);
    FM_ALLOC(CA, m * (k ? k : 1));
    FM_ALLOC(BCA, n * (k ? k : 1));
    if (k == 0)
        memcpy(cl->D, pi->Cp, sizeof(double) * m * p);
    else
        la_gemm(0, 0, m, p, k, 1.0, pi->Cp, pi->Bp, 0.0, cl->D);
    la_gemm(0, 0, m, n, p, 1.0, cl->D, C, 0.0, DC);
    double *BDC = NULL;
    FM_ALLOC(BDC, n * n);
    la_gemm(0, 0, n, n, m, 1.0, env->B, DC, 0.0, BDC);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            cl->F[i * nz + j] = env->A[i * n + j] + BDC[i * n + j];
    free(BDC);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
            cl->H[i * nz + j] = DC[i * n + j];
    if (k > 0) {
        double *BpC = NULL;
        la_gemm(0, 0, m, k, k, 1.0, pi->Cp, pi->Ap, 0.0, CA);
        la_gemm(0, 0, n, k, m, 1.0, env->B, CA, 0.0, BCA);
        FM_ALLOC(BpC, k * n);
        la_gemm(0, 0, k, n, p, 1.0, pi->Bp, C, 0.0, BpC);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < k; j++)
                cl->F[i * nz + n + j] = BCA[i * k + j];
        for (int i = 0; i < k; i++) {
            for (int j = 0; j < n; j++)
                cl->F[(n + i) * nz + j] = BpC[i * n + j];
            for (int j = 0; j < k; j++)
                cl->F[(n + i) * nz + n + j] = pi->Ap[i * k + j];
        }
        for (int i = 0; i < m; i++)
            for (int j = 0; j < k; j++)
                cl->H[i * nz + n + j] = CA[i * k + j];
        free(BpC);
    }
cleanup:
    free(DC), free(CA), free(BCA);
    return status;
}

static void closed_loop_free(closed_loop *cl)
{
    free(cl->F), free(cl->H), free(cl->D);
    *cl = (closed_loop){0};
}

/* Noise covariance of z: the x row gets w + B D v, the s row gets Bp v (average-cost mode),
 * or the initial covariance blkdiag(init_std^2 I, 0) (total-cost mode). */
static fm_status noise_cov(const fm_lqg *env, const fm_lqg_policy *pi, const closed_loop *cl,
                           double *W, fm_err *err)
{
    fm_status status = FM_OK;
    int n = env->n, m = env->m, p = env->p, k = pi->k, nz = cl->nz;
    double *G = NULL; /* nz x p: z noise loading of v */
    if (!env->avg_cost) {
        for (int i = 0; i < n; i++)
            W[i * nz + i] = env->init_std * env->init_std;
        return FM_OK;
    }
    for (int i = 0; i < n; i++)
        W[i * nz + i] = env->w_var;
    if (env->v_var > 0.0) {
        FM_ALLOC(G, nz * p);
        la_gemm(0, 0, n, p, m, 1.0, env->B, cl->D, 0.0, G);
        for (int i = 0; i < k; i++)
            memcpy(G + (n + i) * p, pi->Bp + i * p, sizeof(double) * p);
        la_gemm(0, 1, nz, nz, p, env->v_var, G, G, 1.0, W);
    }
cleanup:
    free(G);
    return status;
}

fm_status fm_lqg_cost(const fm_lqg *env, int h, const fm_lqg_policy *pi, double *J, int *stable,
                      fm_err *err)
{
    fm_status status = FM_OK;
    closed_loop cl = {0};
    double *W = NULL, *X = NULL, *Qz = NULL;
    int n = env->n, m = env->m, p = env->p;
    *J = INFINITY;
    *stable = 0;
    FM_TRY(closed_loop_build(env, h, pi, &cl, err));
    int nz = cl.nz;
    double rho = 0.0;
    FM_TRY(la_spectral_radius(nz, cl.F, &rho, err));
    if (!(rho < 1.0 - 1e-12))
        goto cleanup; /* not stabilizing: infinite cost */
    FM_ALLOC(W, nz * nz);
    FM_ALLOC(X, nz * nz);
    FM_ALLOC(Qz, nz * nz);
    FM_TRY(noise_cov(env, pi, &cl, W, err));
    FM_TRY(la_dlyap(nz, cl.F, W, X, err));
    la_gemm(1, 0, nz, nz, m, env->r, cl.H, cl.H, 0.0, Qz); /* H' R H */
    for (int i = 0; i < n; i++)
        Qz[i * nz + i] += env->q[h];
    double cost = 0.0;
    for (int i = 0; i < nz * nz; i++)
        cost += Qz[i] * X[i]; /* tr(Qz X), both symmetric */
    if (env->avg_cost && env->v_var > 0.0) {
        double dd = 0.0; /* tr(R D Sv D') */
        for (int i = 0; i < m * p; i++)
            dd += cl.D[i] * cl.D[i];
        cost += env->r * env->v_var * dd;
    }
    *J = cost;
    *stable = 1;
cleanup:
    closed_loop_free(&cl);
    free(W), free(X), free(Qz);
    return status;
}

/* One step of a policy: s <- Ap s + Bp y, u = Cp s (k > 0) or u = Cp y (k = 0). */
static void policy_step(const fm_lqg *env, const fm_lqg_policy *pi, double *s, double *tmp,
                        const double *y, double *u)
{
    int m = env->m, p = env->p, k = pi->k;
    if (k == 0) {
        la_gemm(0, 0, m, 1, p, 1.0, pi->Cp, y, 0.0, u);
        return;
    }
    la_gemm(0, 0, k, 1, k, 1.0, pi->Ap, s, 0.0, tmp);
    la_gemm(0, 0, k, 1, p, 1.0, pi->Bp, y, 1.0, tmp);
    memcpy(s, tmp, sizeof(double) * k);
    la_gemm(0, 0, m, 1, k, 1.0, pi->Cp, s, 0.0, u);
}

/* Run one episode of task h; records (y, u) into obs/act if non-NULL; returns the cost. */
static double episode(const fm_lqg *env, int h, const fm_lqg_policy *pi, int T, fm_rng *rng,
                      double *work, double *obs, double *act)
{
    int n = env->n, m = env->m, p = env->p, k = pi->k;
    double *x = work, *xn = x + n, *y = xn + n, *u = y + p, *s = u + m, *tmp = s + k + 1;
    const double *C = env->C + (size_t)h * p * n;
    double sw = sqrt(env->w_var), sv = sqrt(env->v_var), cost = 0.0;
    memset(s, 0, sizeof(double) * (k + 1));
    for (int i = 0; i < n; i++)
        x[i] = env->init_std * fm_rng_normal(rng);
    for (int t = 0; t < T; t++) {
        la_gemm(0, 0, p, 1, n, 1.0, C, x, 0.0, y);
        for (int i = 0; i < p && sv > 0.0; i++)
            y[i] += sv * fm_rng_normal(rng);
        policy_step(env, pi, s, tmp, y, u);
        for (int i = 0; i < n; i++)
            cost += env->q[h] * x[i] * x[i];
        for (int i = 0; i < m; i++)
            cost += env->r * u[i] * u[i];
        if (obs)
            memcpy(obs + (size_t)t * p, y, sizeof(double) * p);
        if (act)
            memcpy(act + (size_t)t * m, u, sizeof(double) * m);
        memcpy(xn, x, sizeof(double) * n);
        la_gemm(0, 0, n, 1, n, 1.0, env->A, xn, 0.0, x);
        la_gemm(0, 0, n, 1, m, 1.0, env->B, u, 1.0, x);
        for (int i = 0; i < n && sw > 0.0; i++)
            x[i] += sw * fm_rng_normal(rng);
    }
    return env->avg_cost ? cost / T : cost;
}

static size_t work_size(const fm_lqg *env, int k) { return 2 * env->n + env->p + env->m + 2 * (k + 1); }

fm_status fm_lqg_rollout_cost(const fm_lqg *env, int h, const fm_lqg_policy *pi, int rollouts,
                              int horizon, uint64_t seed, double *J, fm_err *err)
{
    fm_status status = FM_OK;
    double *work = NULL;
    FM_ALLOC(work, work_size(env, pi->k));
    double sum = 0.0;
    for (int j = 0; j < rollouts; j++) {
        fm_rng rng; /* common random numbers: the stream depends on (task, rollout) only */
        fm_rng_seed(&rng, seed, FM_RANK_SHARED, FM_STREAM_COUNT + (uint64_t)h * rollouts + j);
        sum += episode(env, h, pi, horizon, &rng, work, NULL, NULL);
    }
    *J = sum / rollouts;
cleanup:
    free(work);
    return status;
}

fm_status fm_lqg_generate(const fm_lqg *env, const int *tasks, int n_traj, fm_rng *rng,
                          fm_demos *out, fm_err *err)
{
    fm_status status = FM_OK;
    double *work = NULL;
    int T = env->horizon;
    FM_TRY(fm_demos_alloc(out, n_traj, T, env->p, env->m, err));
    FM_ALLOC(work, work_size(env, env->n));
    for (int i = 0; i < n_traj; i++) {
        FM_CHECK(tasks[i] >= 0 && tasks[i] < env->K, FM_EINVAL, "task %d out of range", tasks[i]);
        fm_lqg_policy pi = fm_lqg_expert(env, tasks[i]);
        episode(env, tasks[i], &pi, T, rng, work, out->obs + (size_t)i * T * env->p,
                out->act + (size_t)i * T * env->m);
        out->task[i] = tasks[i];
        out->length[i] = T;
    }
cleanup:
    free(work);
    if (status != FM_OK)
        fm_demos_free(out);
    return status;
}
