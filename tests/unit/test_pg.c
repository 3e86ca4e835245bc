/* test_pg.c - REINFORCE (nn/pg.h) against exact answers on a small MDP.
 *
 * The MDP: 2 actions, at most 3 steps; the observation at step t is a fixed function of t and of
 * the actions taken so far, the reward a fixed function of the history and the action, and the
 * episode ends after step 1 when both actions were 0 (so lengths differ). The policy is a
 * 3-4-2 tanh MLP. Its expected return J = sum over the 7 possible trajectories of
 * p(trajectory) R(trajectory) is computed exactly in double precision by a reference forward
 * pass written here (not nn/'s), and differentiated by central finite differences.
 *
 * Checks: returns-to-go and baselines by hand; sampling frequencies; one trajectory's gradient
 * against finite differences of sum_t A_t log pi (catches a wrong return-to-go or discount);
 * the exact expected gradient (every trajectory's fm_pg_grad weighted by its probability) against
 * finite differences of J, without and with a fixed baseline (catches a wrong sign, rewards in
 * place of returns-to-go, a biased baseline); the Monte-Carlo mean of sampled episodes against it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/pg.h"
#include "tap.h"

enum { OBS = 3, HID = 4, NACT = 2, TMAX = 3, NTRAJ_MAX = 8 };

/* ---- the MDP ---- */

static void mdp_obs(int t, const int *hist, double *o)
{
    int ones = 0;
    for (int k = 0; k < t; k++)
        ones += hist[k];
    o[0] = 0.6 * t - 0.5;
    o[1] = t == 0 ? 0.0 : (hist[t - 1] ? 0.8 : -0.8);
    o[2] = 0.3 * ones - 0.2;
}

static double mdp_reward(int t, const int *hist, int a)
{
    int code = 1;
    for (int k = 0; k < t; k++)
        code = 2 * code + hist[k];
    return sin(1.3 * code + 0.7 * t) + 0.5 * a;
}

static int mdp_done(int t, const int *hist) { return t == 2 || (t == 1 && hist[0] == 0 && hist[1] == 0); }

/* Every trajectory: actions and length (the step after which it ended). */
typedef struct traj {
    int a[TMAX], len;
} traj;

static int mdp_enumerate(traj *out)
{
    int n = 0;
    for (int code = 0; code < 8; code++) {
        traj tr = {{code & 1, (code >> 1) & 1, (code >> 2) & 1}, 0};
        for (int t = 0; t < TMAX; t++)
            if (mdp_done(t, tr.a)) {
                tr.len = t + 1;
                break;
            }
        int dup = 0; /* length-2 trajectories appear twice (a_2 unused) */
        for (int j = 0; j < n; j++)
            dup |= out[j].len == tr.len && !memcmp(out[j].a, tr.a, sizeof(int) * (size_t)tr.len);
        if (!dup)
            out[n++] = tr;
    }
    return n;
}

/* ---- reference policy in double: logits = W1 tanh(W0 o + b0) + b1 ---- */

typedef struct ref {
    size_t w0, b0, w1, b1; /* offsets in the flat buffer */
} ref;

static void ref_logp(const ref *r, const double *w, const double *o, double *logp)
{
    double h[HID], y[NACT];
    for (int i = 0; i < HID; i++) {
        double z = w[r->b0 + i];
        for (int j = 0; j < OBS; j++)
            z += w[r->w0 + (size_t)i * OBS + j] * o[j];
        h[i] = tanh(z);
    }
    for (int a = 0; a < NACT; a++) {
        y[a] = w[r->b1 + a];
        for (int i = 0; i < HID; i++)
            y[a] += w[r->w1 + (size_t)a * HID + i] * h[i];
    }
    double mx = fmax(y[0], y[1]), lse = mx + log(exp(y[0] - mx) + exp(y[1] - mx));
    for (int a = 0; a < NACT; a++)
        logp[a] = y[a] - lse;
}

/* log p(trajectory) and its undiscounted return. */
static double ref_traj_logp(const ref *r, const double *w, const traj *tr, double *ret)
{
    double lp = 0.0, o[OBS], logp[NACT];
    *ret = 0.0;
    for (int t = 0; t < tr->len; t++) {
        mdp_obs(t, tr->a, o);
        ref_logp(r, w, o, logp);
        lp += logp[tr->a[t]];
        *ret += mdp_reward(t, tr->a, tr->a[t]);
    }
    return lp;
}

static double ref_J(const ref *r, const double *w, const traj *all, int n)
{
    double J = 0.0, R;
    for (int k = 0; k < n; k++) {
        double lp = ref_traj_logp(r, w, &all[k], &R);
        J += exp(lp) * R;
    }
    return J;
}

/* ---- fixtures ---- */

static fm_model model;
static ref R;
static fm_nn_ws *ws;
static fm_pg_episode ep;

static void setup(void)
{
    fm_err err;
    fm_nn_spec s = {.arch = FM_NN_MLP, .act = FM_NN_TANH, .in_dim = OBS, .out_dim = NACT, .nhidden = 1,
                    .hidden = {HID}, .loss = FM_NN_LOSS_XENT};
    fm_rng rng;
    fm_rng_seed(&rng, 7, 0, FM_STREAM_INIT);
    int okay = fm_model_create(&model, &s, &err) == FM_OK;
    if (okay) {
        fm_model_init(&model, &rng);
        for (size_t i = 0; i < model.layout.total; i++) /* larger weights: less uniform policies */
            model.w[i] *= 2.0f;
        okay = fm_nn_ws_create(&model, TMAX, 1, &ws, &err) == FM_OK &&
               fm_pg_episode_create(&ep, TMAX, OBS, NACT, &err) == FM_OK;
    }
    const fm_tensor *t[4] = {fm_layout_find(&model.layout, "head0.w"), fm_layout_find(&model.layout, "head0.b"),
                             fm_layout_find(&model.layout, "head1.w"), fm_layout_find(&model.layout, "head1.b")};
    okay = okay && t[0] && t[1] && t[2] && t[3] && model.layout.total == (size_t)(HID * OBS + HID + NACT * HID + NACT);
    ok(okay, "setup: a 3-4-2 tanh MLP with tensors head0.w, head0.b, head1.w, head1.b");
    if (okay)
        R = (ref){t[0]->offset, t[1]->offset, t[2]->offset, t[3]->offset};
}

/* Load trajectory tr's observations, actions and rewards into ep. */
static void fill_episode(const traj *tr)
{
    double o[OBS];
    ep.len = tr->len;
    for (int t = 0; t < tr->len; t++) {
        mdp_obs(t, tr->a, o);
        for (int j = 0; j < OBS; j++)
            ep.obs[t * OBS + j] = (float)o[j];
        ep.act[t] = tr->a[t];
        ep.rew[t] = mdp_reward(t, tr->a, tr->a[t]);
    }
}

static void params_double(double *w)
{
    for (size_t i = 0; i < model.layout.total; i++)
        w[i] = model.w[i];
}

/* The largest |got - want| / (atol + rtol max(|got|, |want|)) over n entries; *at its index. */
static double worst_ratio(const double *got, const double *want, size_t n, double atol, double rtol, size_t *at)
{
    double worst = 0.0;
    *at = 0;
    for (size_t i = 0; i < n; i++) {
        double r = fabs(got[i] - want[i]) / (atol + rtol * fmax(fabs(got[i]), fabs(want[i])));
        if (!(r <= worst)) /* NaN counts as the worst */
            worst = r, *at = i;
    }
    return worst;
}

static void check_vectors(const double *got, const double *want, size_t n, double atol, double rtol,
                          const char *what)
{
    size_t at;
    double r = worst_ratio(got, want, n, atol, rtol, &at);
    if (!ok(r <= 1.0, "%s (%zu entries, worst error %.3g of the tolerance)", what, n, r))
        printf("#   entry %zu: got %.10g, want %.10g (atol %g, rtol %g)\n", at, got[at], want[at], atol, rtol);
}

/* ---- the checks ---- */

static void test_returns_baselines(void)
{
    double rew[4] = {1, 2, 0, 3}, ret[4];
    fm_pg_returns(rew, 4, 0.5, ret);
    double want[4] = {1 + 0.5 * (2 + 0.5 * (0 + 0.5 * 3)), 2 + 0.5 * (0 + 0.5 * 3), 0 + 0.5 * 3, 3};
    check_vectors(ret, want, 4, 1e-15, 0, "returns-to-go with gamma 0.5 by hand");

    fm_err err;
    fm_pg_baseline b;
    fm_pg_episode e;
    int made = fm_pg_baseline_create(&b, FM_RL_BASELINE_RUNNING, 4, 0.25, &err) == FM_OK &&
               fm_pg_episode_create(&e, 4, 1, 2, &err) == FM_OK;
    ok(made, "baseline and episode buffers");
    if (!made)
        return;
    e.len = 2, e.rew[0] = 1, e.rew[1] = 1;
    fm_pg_advantages(&b, 1.0, &e); /* b = 0: A = G = (2, 1); then b = (0.5, 0.25) */
    double a1[2] = {e.adv[0], e.adv[1]}, w1[2] = {2, 1};
    check_vectors(a1, w1, 2, 1e-15, 0, "running baseline: the first episode sees b = 0");
    e.len = 3, e.rew[2] = 1;
    fm_pg_advantages(&b, 1.0, &e); /* G = (3, 2, 1), b = (0.5, 0.25, 0) */
    double a2[3] = {e.adv[0], e.adv[1], e.adv[2]}, w2[3] = {2.5, 1.75, 1};
    check_vectors(a2, w2, 3, 1e-15, 0, "running baseline: b_t moved by rate (G_t - b_t), unseen steps 0");
    double bw[3] = {0.5 + 0.25 * 2.5, 0.25 + 0.25 * 1.75, 0.25};
    check_vectors(b.b, bw, 3, 1e-15, 0, "running baseline after two episodes");
    b.kind = FM_RL_BASELINE_EPISODE;
    fm_pg_advantages(&b, 1.0, &e);
    double mean = (e.adv[0] + e.adv[1] + e.adv[2]) / 3, sq = (e.adv[0] * e.adv[0] + e.adv[1] * e.adv[1] +
                                                              e.adv[2] * e.adv[2]) / 3;
    ok(fabs(mean) < 1e-12 && fabs(sq - 1) < 1e-6 && e.adv[0] > e.adv[2],
       "episode baseline: standardized returns-to-go (mean %g, mean square %g)", mean, sq);
    b.kind = FM_RL_BASELINE_NONE;
    fm_pg_advantages(&b, 0.5, &e);
    double a3[3] = {e.adv[0], e.adv[1], e.adv[2]}, w3[3] = {1.75, 1.5, 1};
    check_vectors(a3, w3, 3, 1e-15, 0, "no baseline: A_t = G_t (gamma 0.5)");
    fm_pg_baseline_free(&b);
    fm_pg_episode_free(&e);
}

static void test_sampling(void)
{
    double logits[3] = {0.3, -1.2, 0.9}, p[3];
    fm_pg_softmax(logits, 3, p);
    fm_rng r;
    fm_rng_seed(&r, 1, 0, FM_STREAM_TRAIN);
    int n = 200000, count[3] = {0};
    for (int i = 0; i < n; i++)
        count[fm_pg_sample(logits, 3, &r)]++;
    double worst = 0;
    for (int j = 0; j < 3; j++) {
        double se = sqrt(p[j] * (1 - p[j]) / n);
        worst = fmax(worst, fabs(count[j] / (double)n - p[j]) / se);
    }
    ok(worst < 4.5, "sampled action frequencies match softmax(logits) (worst %.2f standard errors)", worst);
    is_int(fm_pg_greedy(logits, 3), 2, "greedy action is the largest logit");
    fm_rng a, b;
    fm_rng_seed(&a, 3, 1, FM_STREAM_TRAIN), fm_rng_seed(&b, 3, 1, FM_STREAM_TRAIN);
    fm_pg_sample(logits, 3, &a);
    fm_rng_uniform(&b);
    ok(fm_rng_u64(&a) == fm_rng_u64(&b), "a sample takes exactly one uniform draw");
}

/* One trajectory: fm_pg_grad = d/dw [-sum_t A_t log pi(a_t | s_t)], A_t = sum_k gamma^(k-t) r_k. */
static void test_episode_gradient(void)
{
    size_t P = model.layout.total;
    double *w = calloc(P, sizeof *w), *num = calloc(P, sizeof *num), *ana = calloc(P, sizeof *ana);
    float *g = calloc(P, sizeof *g);
    fm_pg_baseline none = {.kind = FM_RL_BASELINE_NONE};
    const double gamma = 0.9, eps = 1e-6;
    traj tr = {{1, 0, 1}, 3};
    fill_episode(&tr);
    fm_pg_advantages(&none, gamma, &ep);
    double A[TMAX];
    for (int t = 0; t < tr.len; t++) { /* independently of fm_pg_returns */
        A[t] = 0;
        for (int k = t; k < tr.len; k++)
            A[t] += pow(gamma, k - t) * mdp_reward(k, tr.a, tr.a[k]);
    }
    check_vectors(ep.adv, A, (size_t)tr.len, 1e-12, 1e-12, "advantages: discounted returns-to-go");
    memset(g, 0, sizeof(float) * P);
    g[0] = 0.25f; /* fm_pg_grad accumulates */
    fm_pg_grad(&model, ws, &ep, 1.0, g);
    g[0] -= 0.25f;
    params_double(w);
    for (size_t i = 0; i < P; i++) {
        double s[2], o[OBS], lp[NACT], keep = w[i];
        for (int side = 0; side < 2; side++) {
            w[i] = keep + (side ? -eps : eps);
            s[side] = 0;
            for (int t = 0; t < tr.len; t++) {
                mdp_obs(t, tr.a, o);
                ref_logp(&R, w, o, lp);
                s[side] -= A[t] * lp[tr.a[t]];
            }
        }
        w[i] = keep;
        num[i] = (s[0] - s[1]) / (2 * eps);
        ana[i] = g[i];
    }
    check_vectors(ana, num, P, 1e-5, 1e-4, "one trajectory: gradient of -sum_t A_t log pi = finite differences");
    free(w), free(num), free(ana), free(g);
}

/* E[fm_pg_grad] by enumeration = -dJ/dw by finite differences of the exact J (gamma = 1). */
static void exact_gradient(const traj *all, int n, const double *fixed_b, double *out)
{
    size_t P = model.layout.total;
    double *w = calloc(P, sizeof *w), Rt;
    float *g = calloc(P, sizeof *g);
    fm_pg_baseline b = {.kind = fixed_b ? FM_RL_BASELINE_RUNNING : FM_RL_BASELINE_NONE, .cap = TMAX, .rate = 0};
    double bb[TMAX] = {0};
    if (fixed_b)
        memcpy(bb, fixed_b, sizeof bb);
    b.b = bb; /* rate 0: the baseline stays fixed */
    params_double(w);
    for (int k = 0; k < n; k++) {
        double p = exp(ref_traj_logp(&R, w, &all[k], &Rt));
        fill_episode(&all[k]);
        fm_pg_advantages(&b, 1.0, &ep);
        fm_pg_grad(&model, ws, &ep, p, g);
    }
    for (size_t i = 0; i < P; i++)
        out[i] = g[i];
    free(w), free(g);
}

static void test_exact_gradient(void)
{
    traj all[NTRAJ_MAX];
    int n = mdp_enumerate(all);
    size_t P = model.layout.total;
    double *w = calloc(P, sizeof *w), *num = calloc(P, sizeof *num), *ana = calloc(P, sizeof *ana);
    double *ana_b = calloc(P, sizeof *ana_b), eps = 1e-6, Rt, total = 0;
    params_double(w);
    for (int k = 0; k < n; k++)
        total += exp(ref_traj_logp(&R, w, &all[k], &Rt));
    is_int(n, 7, "the MDP has 7 trajectories (one ends after 2 steps)");
    is_close(total, 1.0, 1e-12, 0, "their probabilities sum to 1");
    for (size_t i = 0; i < P; i++) {
        double keep = w[i];
        w[i] = keep + eps;
        double jp = ref_J(&R, w, all, n);
        w[i] = keep - eps;
        double jm = ref_J(&R, w, all, n);
        w[i] = keep;
        num[i] = -(jp - jm) / (2 * eps); /* fm_pg_grad is a descent direction: minus dJ */
    }
    double nmax = 0;
    for (size_t i = 0; i < P; i++)
        nmax = fmax(nmax, fabs(num[i]));
    ok(nmax > 0.05, "the expected return depends on the parameters (largest |dJ/dw| %.3g)", nmax);
    exact_gradient(all, n, NULL, ana);
    check_vectors(ana, num, P, 1e-5, 1e-4, "sum over trajectories of p(traj) fm_pg_grad = -dJ/dw (no baseline)");
    double fixed[TMAX] = {0.7, -0.3, 1.1};
    exact_gradient(all, n, fixed, ana_b);
    check_vectors(ana_b, num, P, 1e-5, 1e-4, "the same with a fixed baseline b_t (unbiased)");
    free(w), free(num), free(ana), free(ana_b);
}

/* Sampled episodes (actions from fm_pg_sample on the model's logits, running baseline): the mean
 * of fm_pg_grad approaches the exact gradient within a few standard errors. */
static void test_monte_carlo(void)
{
    traj all[NTRAJ_MAX];
    int n = mdp_enumerate(all);
    size_t P = model.layout.total;
    double *exact = calloc(P, sizeof *exact), *mean = calloc(P, sizeof *mean), *m2 = calloc(P, sizeof *m2);
    float *g = calloc(P, sizeof *g);
    fm_err err;
    fm_nn_runner *run = NULL;
    fm_pg_baseline b;
    int made = fm_nn_runner_create(&model, &run, &err) == FM_OK &&
               fm_pg_baseline_create(&b, FM_RL_BASELINE_RUNNING, TMAX, 0.1, &err) == FM_OK;
    ok(made, "runner and baseline");
    if (!made)
        goto done;
    exact_gradient(all, n, NULL, exact);
    fm_rng r;
    fm_rng_seed(&r, 11, 0, FM_STREAM_TRAIN);
    const int M = 40000;
    for (int m = 1; m <= M; m++) {
        traj tr = {{0, 0, 0}, 0};
        double o[OBS], logits[NACT];
        for (int t = 0; t < TMAX; t++) {
            mdp_obs(t, tr.a, o);
            fm_nn_runner_act(run, o, logits);
            tr.a[t] = fm_pg_sample(logits, NACT, &r);
            if (mdp_done(t, tr.a)) {
                tr.len = t + 1;
                break;
            }
        }
        fill_episode(&tr);
        fm_pg_advantages(&b, 1.0, &ep);
        memset(g, 0, sizeof(float) * P);
        fm_pg_grad(&model, ws, &ep, 1.0, g);
        for (size_t i = 0; i < P; i++) { /* Welford */
            double d = g[i] - mean[i];
            mean[i] += d / m;
            m2[i] += d * (g[i] - mean[i]);
        }
    }
    double worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < P; i++) {
        double se = sqrt(m2[i] / (M - 1) / M), z = fabs(mean[i] - exact[i]) / (se + 1e-6);
        if (z > worst)
            worst = z, at = i;
    }
    if (!ok(worst < 4.5, "Monte-Carlo mean of %d sampled episodes' gradients = the exact gradient (worst %.2f "
            "standard errors)", M, worst))
        printf("#   entry %zu: mean %.6g, exact %.6g\n", at, mean[at], exact[at]);
    fm_pg_baseline_free(&b);
done:
    fm_nn_runner_free(run);
    free(exact), free(mean), free(m2), free(g);
}

static void test_errors(void)
{
    fm_err err;
    fm_pg_episode e;
    fm_err_clear(&err);
    ok(fm_pg_episode_create(&e, 0, 3, 2, &err) == FM_EINVAL, "an episode of capacity 0 is refused");
    has_str(err.msg, "fm_pg_episode_create: got cap 0", "the message names the function and the value");
    fm_pg_baseline b;
    fm_err_clear(&err);
    ok(fm_pg_baseline_create(&b, FM_RL_BASELINE_COUNT, 3, 0.1, &err) == FM_EINVAL, "an unknown baseline kind is refused");
}

int main(void)
{
    setup();
    test_returns_baselines();
    test_sampling();
    test_episode_gradient();
    test_exact_gradient();
    test_monte_carlo();
    test_errors();
    fm_pg_episode_free(&ep);
    fm_nn_ws_free(ws);
    fm_model_free(&model);
    return done_testing();
}
