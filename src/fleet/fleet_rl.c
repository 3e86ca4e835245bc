/* fleet_rl.c - `fleet run` with rl.enabled: an online RL fleet (Appendix E analog, docs/rl.md).
 *
 * Every rank is one robot that runs REINFORCE with a baseline (nn/pg.h) on its own episodes of a
 * gym-like cart-pole task: the project's dynamics (env/cartpole/cartpole.h, task rank mod K), two actions
 * (push with -rl.force or +rl.force N), reward 1 per step until the pole falls or rl.horizon steps.
 * All robots start from rank 0's initialization; after every rl.merge_every local episodes the
 * policies are averaged with one allreduce (FedAvg) and every robot continues from the average.
 * No episode, observation or gradient crosses ranks: only the parameters, at merges.
 * Phases: setup, training, evaluation (each robot's final policy and the final average, on the
 * robot's task), results file, summary. Same config + seed + rank count = the same bytes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env/cartpole/cartpole.h"
#include "fleet/fleet_common.h"
#include "fleet/fleet_model.h"
#include "io/h5io.h"
#include "nn/pg.h"
#include "nn/train.h"

enum { RL_NACT = 2, RL_EVAL_COLS = 2 }; /* actions; evaluation columns: sampled, greedy */
enum { RL_PHASE_SETUP = 0, RL_PHASE_TRAIN, RL_PHASE_MERGE, RL_PHASE_UNUSED, RL_PHASE_EVAL, RL_PHASE_WRITE };

typedef struct rl_ctx {
    MPI_Comm comm;
    int rank, size;
    fm_run_opts opts;
    const fm_config *cfg;
    char out_path[1024];
    double t_start, t_phase[6];  /* seconds per phase (fm_fleet_write_timing's six) */
    fm_mpi_reducer_ctx rctx;
    fm_reducer red;
    fm_cartpole env;
    int task, obs_dim;
    fm_nn_spec spec;
    fm_model pol, merged;        /* this robot's policy; the fleet's final average */
    fm_adam adam;
    fm_nn_ws *ws;                /* episode-long workspace for the gradient */
    fm_nn_runner *run;           /* step runner of pol */
    fm_pg_episode ep;
    fm_pg_baseline base;
    float *grad;                 /* [P] */
    double *partial;             /* [P] the parameters as doubles for the average */
    double *returns;             /* [rl.episodes] undiscounted return of each training episode */
    int merges;                  /* averages taken during training */
    double eval_local[RL_EVAL_COLS], eval_merged[RL_EVAL_COLS];
} rl_ctx;

static void rl_free(rl_ctx *c)
{
    fm_cartpole_free(&c->env);
    fm_model_free(&c->pol);
    fm_model_free(&c->merged);
    fm_adam_free(&c->adam);
    fm_nn_ws_free(c->ws);
    fm_nn_runner_free(c->run);
    fm_pg_episode_free(&c->ep);
    fm_pg_baseline_free(&c->base);
    free(c->grad), free(c->partial), free(c->returns);
}

/* ---------------- setup ---------------- */

/* Local: the environment, the policy (rank 0's initialization, broadcast), buffers. */
static fm_status rl_setup_local(rl_ctx *c, fm_err *err)
{
    fm_status status = FM_OK;
    const fm_config *cfg = c->cfg;
    FM_TRY(fm_cartpole_build(cfg, &c->env, err));
    c->task = c->rank % c->env.K;
    c->obs_dim = cfg->rl.observation == FM_RL_OBS_STATE ? 4 : FM_CARTPOLE_OBS_DIM;
    c->spec = (fm_nn_spec){.arch = FM_NN_MLP, .act = cfg->policy.activation, .in_dim = c->obs_dim,
                           .out_dim = RL_NACT, .nhidden = cfg->policy.layers, .loss = FM_NN_LOSS_XENT};
    for (int i = 0; i < c->spec.nhidden; i++)
        c->spec.hidden[i] = cfg->policy.width;
    FM_TRY(fm_model_create(&c->pol, &c->spec, err));
    FM_TRY(fm_model_create(&c->merged, &c->spec, err));
    fm_rng r;
    fm_rng_seed(&r, (uint64_t)cfg->experiment.seed, 0, FM_STREAM_INIT); /* robot 0's stream on every rank */
    fm_model_init(&c->pol, &r);
    size_t P = c->pol.layout.total;
    FM_TRY(fm_adam_create(&c->adam, P, err));
    FM_TRY(fm_nn_ws_create(&c->pol, cfg->rl.horizon, 1, &c->ws, err));
    FM_TRY(fm_nn_runner_create(&c->pol, &c->run, err));
    FM_TRY(fm_pg_episode_create(&c->ep, cfg->rl.horizon, c->obs_dim, RL_NACT, err));
    FM_TRY(fm_pg_baseline_create(&c->base, cfg->rl.baseline, cfg->rl.horizon, cfg->rl.baseline_rate, err));
    FM_ALLOC(c->grad, P);
    FM_ALLOC(c->partial, P);
    FM_ALLOC(c->returns, cfg->rl.episodes);
cleanup:
    return status;
}

static fm_status rl_setup(rl_ctx *c, fm_err *err)
{
    fm_status status = FM_OK;
    FM_TRY(fm_fleet_output(c->comm, c->cfg, &c->opts, c->out_path, sizeof c->out_path, err));
    c->red = fm_reducer_mpi(&c->rctx, c->comm);
    FM_TRY(fm_fleet_agree_phase(c->comm, rl_setup_local(c, err), err));
    /* every rank drew the same initialization; the broadcast makes the shared start explicit */
    FM_TRY(fm_reduce_bcast_f32(&c->red, c->pol.w, c->pol.layout.total, 0, err));
cleanup:
    return status;
}

/* ---------------- episodes ---------------- */

/* One episode of policy `run` on this robot's task, from stream r: reset (4 uniforms), then per
 * step the observation (pomdp: 2 normals), the action (sampled: 1 uniform; greedy: none), the
 * step. Records it in e when e != NULL. Returns the undiscounted return (steps balanced). */
static double rl_episode(const rl_ctx *c, fm_nn_runner *run, int greedy, fm_rng *r, fm_pg_episode *e)
{
    const fm_config *cfg = c->cfg;
    double s[4], obs[4], logits[RL_NACT];
    int T = cfg->rl.horizon, t = 0;
    fm_cartpole_reset(&c->env, r, s);
    fm_nn_runner_reset(run);
    while (t < T) {
        if (cfg->rl.observation == FM_RL_OBS_STATE)
            memcpy(obs, s, sizeof s);
        else
            fm_cartpole_observe(&c->env, c->task, s, r, obs);
        fm_nn_runner_act(run, obs, logits);
        int a = greedy ? fm_pg_greedy(logits, RL_NACT) : fm_pg_sample(logits, RL_NACT, r);
        if (e) {
            for (int j = 0; j < c->obs_dim; j++)
                e->obs[(size_t)t * c->obs_dim + j] = (float)obs[j];
            e->act[t] = a, e->rew[t] = 1.0;
        }
        fm_cartpole_step(&c->env, c->task, s, a ? cfg->rl.force : -cfg->rl.force);
        t++;
        if (fm_cartpole_failed(&c->env, s))
            break;
    }
    if (e)
        e->len = t;
    return t;
}

/* ---------------- training ---------------- */

/* Collective: every robot's policy becomes the fleet average (float32 partials, summed in rank
 * order in double: bitwise the same on every rank). */
static fm_status rl_average(rl_ctx *c, const fm_model *in, fm_model *out, fm_err *err)
{
    size_t P = in->layout.total;
    for (size_t i = 0; i < P; i++)
        c->partial[i] = in->w[i];
    return fm_reduce_mean_f32(&c->red, c->partial, out->w, P, c->size, err);
}

static fm_status rl_check_finite(const rl_ctx *c, int episode, fm_err *err)
{
    for (size_t i = 0; i < c->pol.layout.total; i++)
        if (!isfinite(c->pol.w[i]))
            return fm_fail(err, FM_ENUMERIC, "robot %d: the policy's parameters became non-finite by episode %d "
                           "(lower rl.lr)", c->rank, episode + 1);
    return FM_OK;
}

/* Collective (log_every > 0 and not --quiet): rank 0 prints the fleet's mean return of the
 * episodes [from, to). */
static fm_status rl_progress(rl_ctx *c, int from, int to, fm_err *err)
{
    fm_status status = FM_OK;
    double s[2] = {0.0, (double)(to - from)}; /* summed over the fleet below */
    for (int e = from; e < to; e++)
        s[0] += c->returns[e];
    FM_TRY(fm_reduce_sum(&c->red, s, 2, err));
    if (c->rank == 0)
        fm_logf(stdout, "rl: episodes %d-%d of %d: mean return %.2f (%d robots, %d merges)\n", from + 1, to,
                c->cfg->rl.episodes, s[0] / s[1], c->size, c->merges);
cleanup:
    return status;
}

static fm_status rl_train(rl_ctx *c, fm_err *err)
{
    fm_status status = FM_OK;
    const fm_config *cfg = c->cfg;
    fm_nn_train_opts o = {.optimizer = FM_OPT_ADAM, .lr = cfg->rl.lr};
    int E = cfg->rl.episodes, k = cfg->rl.merge_every, B = cfg->rl.batch, every = cfg->rl.log_every, last = 0;
    size_t P = c->pol.layout.total;
    fm_rng r;
    fm_rng_seed(&r, (uint64_t)cfg->experiment.seed, (uint64_t)c->rank, FM_STREAM_TRAIN);
    memset(c->grad, 0, sizeof(float) * P);
    for (int e = 0; e < E; e++) {
        c->returns[e] = rl_episode(c, c->run, 0, &r, &c->ep);
        fm_pg_advantages(&c->base, cfg->rl.gamma, &c->ep);
        fm_pg_grad(&c->pol, c->ws, &c->ep, 1.0 / B, c->grad);
        if ((e + 1) % B == 0) {
            fm_optimizer_step(&o, &c->adam, c->pol.w, c->grad);
            memset(c->grad, 0, sizeof(float) * P);
        }
        if (k > 0 && (e + 1) % k == 0) {
            double t0 = fm_now();
            FM_TRY(fm_fleet_agree_phase(c->comm, rl_check_finite(c, e, err), err));
            FM_TRY(rl_average(c, &c->pol, &c->pol, err));
            c->merges++;
            c->t_phase[RL_PHASE_MERGE] += fm_now() - t0;
        }
        if (every > 0 && !c->opts.quiet && ((e + 1) % every == 0 || e + 1 == E)) {
            FM_TRY(rl_progress(c, last, e + 1, err));
            last = e + 1;
        }
    }
    FM_TRY(fm_fleet_agree_phase(c->comm, rl_check_finite(c, E - 1, err), err));
cleanup:
    return status;
}

/* ---------------- evaluation ---------------- */

/* Mean return of m over rl.eval_episodes on this robot's task, sampled and greedy actions, each
 * from the robot's EVAL stream restarted (the same starts for every policy). Local. */
static fm_status rl_score(const rl_ctx *c, const fm_model *m, double *out, fm_err *err)
{
    fm_status status = FM_OK;
    fm_nn_runner *run = NULL;
    FM_TRY(fm_nn_runner_create(m, &run, err));
    for (int greedy = 0; greedy < RL_EVAL_COLS; greedy++) {
        fm_rng r;
        fm_rng_seed(&r, (uint64_t)c->cfg->experiment.seed, (uint64_t)c->rank, FM_STREAM_EVAL);
        double sum = 0.0;
        for (int e = 0; e < c->cfg->rl.eval_episodes; e++)
            sum += rl_episode(c, run, greedy, &r, NULL);
        out[greedy] = sum / c->cfg->rl.eval_episodes;
    }
cleanup:
    fm_nn_runner_free(run);
    return status;
}

static fm_status rl_evaluate(rl_ctx *c, fm_err *err)
{
    fm_status status = FM_OK;
    FM_TRY(rl_average(c, &c->pol, &c->merged, err));
    fm_status local = rl_score(c, &c->pol, c->eval_local, err);
    if (local == FM_OK)
        local = rl_score(c, &c->merged, c->eval_merged, err);
    FM_TRY(fm_fleet_agree_phase(c->comm, local, err));
cleanup:
    return status;
}

/* ---------------- results ---------------- */

/* Fleet means of the evaluation columns: [0..2) local policies, [2..4) the final average. */
static fm_status rl_eval_means(rl_ctx *c, double *means, fm_err *err)
{
    for (int j = 0; j < RL_EVAL_COLS; j++)
        means[j] = c->eval_local[j] / c->size, means[RL_EVAL_COLS + j] = c->eval_merged[j] / c->size;
    return fm_reduce_sum(&c->red, means, 2 * RL_EVAL_COLS, err);
}

static fm_status rl_write_data(rl_ctx *c, fm_h5 *h, const double *means, fm_err *err)
{
    fm_status status = FM_OK;
    const fm_config *cfg = c->cfg;
    int32_t *tasks = NULL;
    FM_ALLOC(tasks, c->size);
    for (int i = 0; i < c->size; i++)
        tasks[i] = i % c->env.K;
    FM_TRY(fm_h5_write_rows_f64(h, "/rl/returns", 1, (int64_t[1]){cfg->rl.episodes}, c->returns, err));
    FM_TRY(fm_h5_attr_text(h, "/rl/returns", "meaning", "undiscounted return (steps balanced) of every training "
                           "episode, [robot, episode]", err));
    FM_TRY(fm_h5_write_i32(h, "/rl/task", 1, (int64_t[1]){c->size}, tasks, err));
    FM_TRY(fm_h5_write_rows_f64(h, "/rl/eval_local", 1, (int64_t[1]){RL_EVAL_COLS}, c->eval_local, err));
    FM_TRY(fm_h5_attr_text(h, "/rl/eval_local", "columns", "sampled,greedy", err));
    FM_TRY(fm_h5_write_rows_f64(h, "/rl/eval_merged", 1, (int64_t[1]){RL_EVAL_COLS}, c->eval_merged, err));
    FM_TRY(fm_h5_attr_text(h, "/rl/eval_merged", "columns", "sampled,greedy", err));
    FM_TRY(fm_h5_write_f64(h, "/rl/eval_return", 1, (int64_t[1]){RL_EVAL_COLS}, means + RL_EVAL_COLS, err));
    FM_TRY(fm_h5_attr_text(h, "/rl/eval_return", "columns", "sampled,greedy", err));
    FM_TRY(fm_h5_write_f64(h, "/rl/eval_return_local", 1, (int64_t[1]){RL_EVAL_COLS}, means, err));
    FM_TRY(fm_h5_attr_text(h, "/rl/eval_return_local", "columns", "sampled,greedy", err));
    FM_TRY(fm_h5_attr_i64(h, "/rl", "merges", c->merges, err));
    FM_TRY(fm_h5_attr_i64(h, "/rl", "episodes", cfg->rl.episodes, err));
    FM_TRY(fm_h5_attr_i64(h, "/rl", "merge_every", cfg->rl.merge_every, err));
    FM_TRY(fm_model_save_rows(h, "/models/local", &c->pol, err));
    FM_TRY(fm_model_save(h, "/models/merged/average", &c->merged, err));
cleanup:
    free(tasks);
    return status;
}

static fm_status rl_write(rl_ctx *c, double *means, fm_err *err)
{
    fm_status status = FM_OK;
    fm_h5 *h = NULL;
    FM_TRY(fm_fleet_agree(c->comm, fm_fleet_fault("results", err), err));
    FM_TRY(rl_eval_means(c, means, err));
    /* from here a rank that fails alone gives the file up: fm_h5_close ends the job (io/h5io.h) */
    FM_TRY(fm_h5_create(c->comm, c->out_path, &h, err));
    FM_TRY(fm_fleet_write_header(h, c->cfg, c->size, c->env.K, err));
    FM_TRY(rl_write_data(c, h, means, err));
    double merge_s = c->t_phase[RL_PHASE_MERGE];
    FM_TRY(fm_fleet_write_timing(h, c->comm, c->t_phase, 1, &merge_s, err));
    fm_status st = fm_h5_close(h, 1, err);
    h = NULL;
    FM_TRY(st);
cleanup:
    if (h)
        fm_h5_close(h, 0, err);
    return status;
}

/* Rank 0: the summary (no timings, so the bytes are deterministic). */
static void rl_summary(const rl_ctx *c, const double *means)
{
    if (c->rank != 0)
        return;
    const fm_config *cfg = c->cfg;
    printf("online RL: %d robots x %d episodes, REINFORCE (baseline %s), averaged every %d episodes (%d merges)\n",
           c->size, cfg->rl.episodes, fm_cfg_enum_name("rl.baseline", cfg->rl.baseline), cfg->rl.merge_every,
           c->merges);
    printf("%-28s %10s %10s\n", "policy (mean over robots)", "sampled", "greedy");
    printf("%-28s %10.2f %10.2f\n", "each robot's own", means[0], means[1]);
    printf("%-28s %10.2f %10.2f\n", "average of the fleet", means[2], means[3]);
    printf("(return = steps balanced, at most %d; %d evaluation episodes per robot)\n", cfg->rl.horizon,
           cfg->rl.eval_episodes);
    printf("results: %s\n", c->out_path);
    fflush(stdout);
}

/* One phase of the flow (fleet_common.h FM_PHASE). */
#define RL_PHASE(idx, name, call) \
    FM_PHASE(c->comm, c->rank, c->opts.quiet, c->t_start, name, &c->t_phase[idx], call)

fm_status fm_run_rl(MPI_Comm comm, const fm_config *cfg, const fm_run_opts *opts, fm_err *err)
{
    fm_status status = FM_OK;
    rl_ctx ctx = {.comm = comm, .opts = *opts, .cfg = cfg, .t_start = fm_now()}, *c = &ctx;
    double means[2 * RL_EVAL_COLS] = {0};
    MPI_Comm_rank(comm, &c->rank);
    MPI_Comm_size(comm, &c->size);
    FM_CHECK(!opts->resume, FM_EINVAL, "--resume: %s is an online RL run (rl.enabled), which keeps no checkpoint",
             cfg->source);
    RL_PHASE(RL_PHASE_SETUP, "rl: setup", rl_setup(c, err));
    RL_PHASE(RL_PHASE_TRAIN, "rl: training", rl_train(c, err));
    c->t_phase[RL_PHASE_TRAIN] -= c->t_phase[RL_PHASE_MERGE];
    RL_PHASE(RL_PHASE_EVAL, "rl: evaluation", rl_evaluate(c, err));
    RL_PHASE(RL_PHASE_WRITE, "rl: writing results", rl_write(c, means, err));
    rl_summary(c, means);
cleanup:
    rl_free(c);
    return status;
}
