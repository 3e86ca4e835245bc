/* fleet_nn.c - `fleet run` / `fleet gen` for neural policies on the nonlinear benchmarks
 * (cart-pole): per-robot data, fleet-wide normalization statistics, local behavior cloning,
 * merging, pooled (data-parallel) training, episode evaluation, results and summary. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fault.h"
#include "env/cartpole.h"
#include "env/tooluse.h"
#include "fleet/fleet_ckpt.h"
#include "fleet/fleet_common.h"
#include "fleet/fleet_model.h"
#include "io/h5io.h"
#include "merge/merge_nn.h"
#include "nn/train.h"

enum { SCORE_BALANCE = 0, SCORE_SETPOINT, SCORE_COST, SCORE_COUNT };
enum { ROUND_PARTICIPANTS = 0, ROUND_LOSS, ROUND_BALANCE, ROUND_COST, ROUND_CHANGED, ROUND_SECONDS, ROUND_COUNT };
static const char *ROUND_NAMES[ROUND_COUNT] = {"participants", "merged_bc_loss", "merged_balance",
                                               "merged_cost", "assignments_changed", "elapsed_seconds"};
/* Score names per benchmark: cart-pole (balance, at set-point, mean stage cost) and tool use
 * (success, tool touched the object, shortfall = 1 - min(progress / threshold, 1)). */
static const char *SCORE_NAMES_CP[SCORE_COUNT] = {"balance", "setpoint", "cost"};
static const char *SCORE_NAMES_TU[SCORE_COUNT] = {"success", "touched", "shortfall"};

typedef struct nn_ctx {
    MPI_Comm comm;
    int rank, size;
    fm_run_opts opts;
    const fm_config *cfg;
    char out_path[1024];
    double t_start, t_phase[6];
    fm_mpi_reducer_ctx rctx;
    fm_reducer red;
    int tooluse;                       /* 1: env.kind tooluse, else cart-pole */
    int K;                             /* tasks */
    fm_cartpole env;
    fm_tooluse tu;
    const char **score_names;          /* SCORE_NAMES_CP or SCORE_NAMES_TU */
    fm_nn_spec spec;
    fm_demos demos;
    double *mixture;
    fm_model local, pooled, *merged; /* merged[num_methods] */
    int nmerged;
    double local_loss, pooled_loss, *merged_loss, *merge_seconds;
    fm_merge_nn_log *mlog;             /* [num_methods] */
    float *pair;                       /* [num_methods][2][P]: robots 0 and 1 after each alignment */
    int nft;                           /* warm start: merged methods + scratch, fine-tuned */
    fm_model *ft;                      /* [nft] */
    double *ft_loss;                   /* [nft] BC loss on the held-out set after fine-tuning */
    char (*ft_name)[64];
    /* merging rounds: per round */
    double *rd;                        /* [rounds][ROUND_COUNT] */
    double *rd_bytes;                  /* [N][rounds][3]: bytes sent, received, left out (0/1) */
    double *ts_scores;                 /* [K][SCORE_COUNT] task-specific policy h on task h (NaN: no data) */
    double *barrier;                   /* [num_methods][points][4]: lambda, loss, balance, cost */
    /* scores [policy][task][SCORE_COUNT]: policies = merged..., pooled, expert */
    int npol;
    double *scores;
    double *local_scores;            /* [K][SCORE_COUNT] this robot's own policy */
    double *all_local;               /* [N][K][SCORE_COUNT] */
} nn_ctx;

static const char *policy_name(const nn_ctx *c, int j);
static void episode(const struct nn_ctx *c, int h, int e, fm_nn_runner *run, double *acc);

static void progress(const nn_ctx *c, const char *what)
{
    if (c->rank == 0 && !c->opts.quiet)
        fm_logf(stdout, "%s (%.1f s)\n", what, fm_now() - c->t_start);
}

static void spec_from_config(const fm_config *cfg, fm_nn_spec *s)
{
    *s = (fm_nn_spec){.arch = cfg->policy.arch == FM_ARCH_RNN ? FM_NN_RNN : FM_NN_MLP,
                      .act = cfg->policy.activation, .in_dim = FM_CARTPOLE_OBS_DIM,
                      .out_dim = FM_CARTPOLE_ACT_DIM, .nhidden = cfg->policy.layers};
    for (int i = 0; i < s->nhidden; i++)
        s->hidden[i] = cfg->policy.width;
    if (cfg->env.kind == FM_ENV_TOOLUSE) { /* point-cloud encoder + head (docs/tooluse.md) */
        s->in_dim = cfg->env.tu_proprio ? FM_TU_PROPRIO_DIM : 0;
        s->out_dim = FM_TU_ACT_DIM;
        s->npoints = cfg->env.tu_points;
        s->pc_channels = FM_TU_CHANNELS;
        s->enc_nlayers = cfg->policy.enc_layers;
        for (int i = 0; i < s->enc_nlayers; i++)
            s->enc_hidden[i] = cfg->policy.enc_width;
    }
}

static fm_status nn_setup(nn_ctx *c, fm_err *err)
{
    fm_status status = FM_OK;
    FM_TRY(fm_fleet_output(c->comm, c->cfg, &c->opts, c->out_path, sizeof c->out_path, err));
    c->tooluse = c->cfg->env.kind == FM_ENV_TOOLUSE;
    c->score_names = c->tooluse ? SCORE_NAMES_TU : SCORE_NAMES_CP;
    if (c->tooluse) {
        FM_TRY(fm_fleet_agree(c->comm, fm_tooluse_build(c->cfg, &c->tu, err), err));
        c->K = c->tu.K;
    } else {
        FM_TRY(fm_fleet_agree(c->comm, fm_cartpole_build(c->cfg, &c->env, err), err));
        c->K = c->env.K;
    }
    spec_from_config(c->cfg, &c->spec);
    c->red = fm_reducer_mpi(&c->rctx, c->comm);
cleanup:
    return status;
}

/* Demonstrations of the configured benchmark (attempts: expert scenes tried, tool use only). */
static fm_status env_generate(const nn_ctx *c, const int *tasks, int n, fm_rng *r, fm_demos *out, int *attempts,
                              fm_err *err)
{
    if (c->tooluse)
        return fm_tooluse_generate(&c->tu, tasks, n, r, out, attempts, err);
    if (attempts)
        *attempts = n;
    return fm_cartpole_generate(&c->env, tasks, n, r, out, err);
}

static fm_status nn_data(nn_ctx *c, fm_err *err)
{
    fm_status status = FM_OK;
    const fm_config *cfg = c->cfg;
    int K = c->K, *tasks = NULL;
    fm_status local = FM_OK;
    if (cfg->fleet.data[0]) {
        fm_demos_meta meta = {0};
        FM_TRY(fm_h5_read_demos(c->comm, cfg->fleet.data, &meta, &c->demos, &c->mixture, err));
        int od = fm_nn_obs_dim(&c->spec), ad = c->spec.out_dim;
        if (c->demos.n_traj == 0) /* training on nothing would "succeed" with an untrained policy */
            local = fm_fail(err, FM_EDATA, "%s: robot %d has no demonstrations (an empty shard in /demos/robot_offsets)",
                            cfg->fleet.data, c->rank);
        else if (meta.num_tasks != K || c->demos.obs_dim != od || c->demos.act_dim != ad)
            local = fm_fail(err, FM_EDATA, "%s: demonstrations have %d tasks, obs dim %d, action dim %d "
                            "but %s has %d tasks, obs dim %d, action dim %d", cfg->fleet.data,
                            meta.num_tasks, c->demos.obs_dim, c->demos.act_dim,
                            fm_cfg_enum_name("env.kind", cfg->env.kind), K, od, ad);
        if (local == FM_OK)
            local = fm_fleet_fault("data", err);
        FM_TRY(fm_fleet_agree(c->comm, local, err));
        goto cleanup;
    }
    FM_ALLOC(c->mixture, K);
    FM_ALLOC(tasks, cfg->fleet.demos_per_robot);
    int who = cfg->fleet.shared_data ? 0 : c->rank; /* shared_data: everyone draws robot 0's data */
    fm_fleet_draw_tasks(cfg, who, K, c->mixture, tasks);
    fm_rng rdata;
    fm_rng_seed(&rdata, (uint64_t)cfg->experiment.seed, (uint64_t)who, FM_STREAM_DATA);
    double t0 = fm_now();
    int attempts = 0;
    local = fm_fleet_fault("data", err);
    if (local == FM_OK)
        local = env_generate(c, tasks, cfg->fleet.demos_per_robot, &rdata, &c->demos, &attempts, err);
    FM_TRY(fm_fleet_agree(c->comm, local, err));
    if (c->tooluse) { /* expert throughput and success over the fleet */
        double st[3] = {0, attempts, fm_now() - t0};
        for (int i = 0; i < c->demos.n_traj; i++)
            st[0] += c->demos.length[i];
        FM_TRY(fm_reduce_sum(&c->red, st, 2, err));
        if (c->rank == 0 && !c->opts.quiet)
            fm_logf(stdout, "demonstrations: %d per robot, %.0f action steps in %.1f s on rank 0 (%.0f steps/s "
                    "per rank), expert succeeded in %d of %.0f scenes\n", cfg->fleet.demos_per_robot, st[0],
                    st[2], st[0] / c->size / st[2], cfg->fleet.demos_per_robot * c->size, st[1]);
    }
cleanup:
    free(tasks);
    return status;
}

/* Training settings; with merging rounds the baselines train as many epochs as the rounds do. */
static void train_opts(const fm_config *cfg, fm_nn_train_opts *o)
{
    *o = (fm_nn_train_opts){.epochs = cfg->fleet.rounds > 0 ? cfg->fleet.rounds * cfg->fleet.local_epochs
                                                             : cfg->train.epochs, .batch = cfg->train.batch_size,
                            .window = cfg->train.window, .optimizer = cfg->train.optimizer,
                            .lr = cfg->train.lr, .weight_decay = cfg->train.weight_decay,
                            .grad_clip = cfg->train.grad_clip};
}

/* One normalization for the whole fleet (first and second moments summed over robots), so
 * that every robot's network sees inputs in the same units and averaging weights is meaningful. */
static fm_status nn_normalization(nn_ctx *c, fm_model *m, fm_err *err)
{
    fm_status status = FM_OK;
    int n = 2 * (fm_nn_obs_dim(&c->spec) + c->spec.out_dim) + 1;
    double *sums = NULL;
    FM_ALLOC(sums, n);
    fm_nn_norm_sums(&c->spec, &c->demos, sums);
    FM_TRY(fm_reduce_sum(&c->red, sums, n, err));
    fm_nn_norm_set(m, sums);
cleanup:
    free(sums);
    return status;
}

/* Initialize from this robot's INIT stream, or the shared one (shared_init, pooled). */
static fm_status nn_new_model(nn_ctx *c, fm_model *m, int shared, fm_err *err)
{
    fm_status status = FM_OK;
    fm_rng r;
    FM_TRY(fm_fleet_agree(c->comm, fm_model_create(m, &c->spec, err), err)); /* before a collective */
    fm_rng_seed(&r, (uint64_t)c->cfg->experiment.seed, shared ? FM_RANK_SHARED : (uint64_t)c->rank,
                FM_STREAM_INIT);
    fm_model_init(m, &r);
    FM_TRY(nn_normalization(c, m, err));
cleanup:
    return status;
}

static fm_status nn_train_local(nn_ctx *c, fm_err *err)
{
    fm_status status = FM_OK;
    fm_nn_train_opts o;
    fm_rng r;
    train_opts(c->cfg, &o);
    FM_TRY(nn_new_model(c, &c->local, c->cfg->fleet.shared_init, err));
    fm_rng_seed(&r, (uint64_t)c->cfg->experiment.seed, (uint64_t)c->rank, FM_STREAM_TRAIN);
    fm_status local = fm_fleet_fault("training", err);
    if (local == FM_OK)
        local = fm_nn_train(&c->local, &c->demos, &o, NULL, &r, &c->local_loss, err);
    FM_TRY(fm_fleet_agree(c->comm, local, err));
cleanup:
    return status;
}

static void merge_opts(const fm_config *cfg, fm_merge_nn_opts *o)
{
    *o = (fm_merge_nn_opts){.wm_passes = cfg->merge.wm_passes, .mm_sweeps = cfg->merge.mm_sweeps,
                            .epochs = cfg->merge.fm_epochs, .steps = cfg->merge.fm_steps,
                            .subset = cfg->merge.fm_subset, .tau = cfg->merge.fm_tau,
                            .sk_iters = cfg->merge.fm_sinkhorn_iters, .lr = cfg->merge.fm_lr,
                            .noise = cfg->merge.fm_noise, .start_mass = cfg->merge.fm_start_mass,
                            .batch = cfg->merge.fm_batch,
                            .init_wm = cfg->merge.fm_init == 0, .shared_start = cfg->fleet.shared_init};
}

static fm_status nn_merge(nn_ctx *c, fm_err *err)
{
    fm_status status = FM_OK;
    fm_merge_nn_opts o;
    merge_opts(c->cfg, &o);
    c->nmerged = c->cfg->merge.num_methods;
    FM_ALLOC(c->merged, c->nmerged);
    FM_ALLOC(c->merged_loss, c->nmerged);
    FM_ALLOC(c->merge_seconds, c->nmerged);
    FM_ALLOC(c->mlog, c->nmerged);
    size_t P = c->local.layout.total;
    float *mine = NULL;
    FM_ALLOC(mine, P);
    FM_ALLOC(c->pair, (size_t)c->nmerged * 2 * P);
    for (int j = 0; j < c->nmerged; j++) {
        int method = c->cfg->merge.methods[j];
        double t0 = fm_now();
        if (c->rank == 0 && !c->opts.quiet)
            fm_logf(stdout, "merge %s (%.1f s)\n", fm_cfg_enum_name("merge.methods", method),
                    fm_now() - c->t_start);
        char phase[96]; /* a rank that cannot start the merge says so before its collectives begin */
        snprintf(phase, sizeof phase, "merge:%s", fm_cfg_enum_name("merge.methods", method));
        fm_status local = fm_model_create(&c->merged[j], &c->spec, err);
        FM_TRY(fm_fleet_agree(c->comm, local == FM_OK ? fm_fleet_fault(phase, err) : local, err));
        local = fm_merge_nn_aligned(method, &c->local, &c->demos, &o, &c->red, (uint64_t)c->cfg->experiment.seed,
                                    &c->merged[j], mine, &c->mlog[j], err);
        FM_TRY(fm_fleet_agree_phase(c->comm, local, err));
        c->merge_seconds[j] = fm_now() - t0;
        for (int i = 0; i < 2 && i < c->size; i++) { /* robots 0 and 1 after this alignment, on every rank */
            float *dst = c->pair + ((size_t)j * 2 + (size_t)i) * P;
            if (c->rank == i)
                memcpy(dst, mine, sizeof(float) * P);
            FM_TRY(fm_reduce_bcast_f32(&c->red, dst, P, i, err));
        }
        FM_TRY(fm_nn_eval_loss(&c->merged[j], &c->demos, -1, &c->red, &c->merged_loss[j], err));
    }
cleanup:
    free(mine);
    return status;
}

static fm_status nn_pooled(nn_ctx *c, fm_err *err)
{
    fm_status status = FM_OK;
    fm_nn_train_opts o;
    fm_rng r;
    train_opts(c->cfg, &o);
    FM_TRY(fm_fleet_agree(c->comm, fm_fleet_fault("pooled", err), err));
    FM_TRY(nn_new_model(c, &c->pooled, 1, err));
    fm_rng_seed(&r, (uint64_t)c->cfg->experiment.seed, (uint64_t)c->rank, FM_STREAM_TRAIN + 100);
    FM_TRY(fm_fleet_agree_phase(c->comm, fm_nn_train(&c->pooled, &c->demos, &o, &c->red, &r, &c->pooled_loss, err),
                                err));
cleanup:
    return status;
}

/* ---------------- merging rounds (iterative merging, Section 2; FedAvg with average) ---------------- */

/* Participants of round r: max(1, round(f N)) robots from a stream shared by every rank. */
static void round_participants(const nn_ctx *c, int r, int *chosen, int *scratch)
{
    int N = c->size, k = (int)lround(c->cfg->fleet.participation * N);
    k = k < 1 ? 1 : k > N ? N : k;
    fm_rng rng;
    fm_rng_seed(&rng, (uint64_t)c->cfg->experiment.seed, FM_RANK_SHARED, FM_STREAM_MERGE + 5000 + (uint64_t)r);
    fm_rng_choose(&rng, N, k, chosen, scratch);
}

/* Tests only: FLEET_STOP_AFTER="ROUND" (1-based) ends the run with an error right after that
 * round's checkpoint, leaving the checkpoint as a crash would. Unset in normal use. */
static int stop_requested(int r)
{
    const char *f = getenv("FLEET_STOP_AFTER");
    int round = -1;
    return f && sscanf(f, "%d", &round) == 1 && round == r + 1;
}

static int model_finite(const fm_model *m, double loss)
{
    if (!isfinite(loss))
        return 0;
    for (size_t i = 0; i < m->layout.total; i++)
        if (!isfinite(m->w[i]))
            return 0;
    return 1;
}

/* Merge among the round's participants (their own sub-communicator), then every robot gets the
 * merged model from the lowest participant. *bytes accumulates this robot's payload. */
static fm_status round_merge(nn_ctx *c, fm_model *robot, const int *part, const fm_merge_nn_opts *mo,
                             uint64_t seed, double *bytes, double *changed, fm_err *err)
{
    fm_status status = FM_OK;
    MPI_Comm sub = MPI_COMM_NULL;
    int first = -1;
    for (int i = 0; i < c->size && first < 0; i++)
        first = part[i] ? i : -1;
    FM_CHECK(MPI_Comm_split(c->comm, part[c->rank] ? 0 : MPI_UNDEFINED, c->rank, &sub) == MPI_SUCCESS,
             FM_EMPI, "round merge: MPI_Comm_split failed");
    fm_status local = FM_OK;
    if (part[c->rank]) {
        fm_mpi_reducer_ctx rc;
        fm_reducer red = fm_reducer_mpi(&rc, sub);
        fm_merge_nn_log log;
        local = fm_merge_nn(c->cfg->merge.methods[0], robot, &c->demos, mo, &red, seed, &c->merged[0], &log, err);
        bytes[0] += rc.bytes_sent, bytes[1] += rc.bytes_recv;
        for (int e = 0; e < log.epochs; e++)
            *changed += log.changed[e]; /* summed over the participants already (reducer) */
    }
    FM_TRY(fm_fleet_agree(c->comm, local, err));
    MPI_Bcast(changed, 1, MPI_DOUBLE, first, c->comm);
    int everyone = 1;
    for (int i = 0; i < c->size; i++)
        everyone &= part[i] != 0;
    if (!everyone) { /* the participants hold the merged model already; the others get it */
        size_t n = c->merged[0].layout.total;
        FM_CHECK(MPI_Bcast(c->merged[0].w, (int)n, MPI_FLOAT, first, c->comm) == MPI_SUCCESS, FM_EMPI,
                 "round merge: MPI_Bcast of the merged model failed");
        if (c->rank == first)
            bytes[0] += (double)n * sizeof(float) * (c->size - 1);
        else
            bytes[1] += (double)n * sizeof(float);
    }
cleanup:
    if (sub != MPI_COMM_NULL)
        MPI_Comm_free(&sub);
    return status;
}

/* Quick score of the merged model: eval.round_rollouts episodes per task, split over ranks. */
static fm_status round_score(nn_ctx *c, double *balance, double *cost, fm_err *err)
{
    fm_status status = FM_OK;
    int K = c->K, R = c->cfg->eval.round_rollouts;
    fm_nn_runner *run = NULL;
    double acc[SCORE_COUNT] = {0};
    *balance = *cost = NAN;
    if (R <= 0)
        goto cleanup;
    FM_TRY(fm_nn_runner_create(&c->merged[0], &run, err));
    for (int q = c->rank; q < K * R; q += c->size)
        episode(c, q / R, q % R, run, acc);
    FM_TRY(fm_reduce_sum(&c->red, acc, SCORE_COUNT, err));
    *balance = acc[SCORE_BALANCE] / (K * R), *cost = acc[SCORE_COST] / (K * R);
cleanup:
    fm_nn_runner_free(run);
    return status;
}

static void round_progress(const nn_ctx *c, int r, const double *row)
{
    int R = c->cfg->fleet.rounds;
    if (c->rank != 0 || c->opts.quiet)
        return;
    double el = row[ROUND_SECONDS], eta = el / (r + 1) * (R - r - 1);
    fm_logf(stdout, "round %d/%d: %d robots merged, merged BC loss %.4f, %s %.1f%%, %.0f s elapsed, ETA %.0f s\n",
            r + 1, R, (int)row[ROUND_PARTICIPANTS], row[ROUND_LOSS], c->score_names[SCORE_BALANCE],
            100 * row[ROUND_BALANCE], el, eta);
}

/* ---- checkpoints: after every round, <results>.ckpt (written to .tmp, renamed) holds the
 * config, the rounds done, every robot's parameters and Adam state, the merged model and the
 * metrics so far; a rerun of the same command continues after the last complete round. ---- */

typedef struct round_state {
    fm_model *robot;
    fm_adam *adam;
    double *mine; /* [R][3] this robot's bytes sent, received, left out */
} round_state;

static void ckpt_path(const nn_ctx *c, char *buf, size_t cap) { snprintf(buf, cap, "%s.ckpt", c->out_path); }

/* The checkpoint's shape for this run (fleet_ckpt.h); config is the caller's resolved config text. */
static fm_ckpt_shape ckpt_shape(const nn_ctx *c, const round_state *st, const char *config)
{
    return (fm_ckpt_shape){.config = config, .nranks = c->size, .rank = c->rank, .rounds = c->cfg->fleet.rounds,
                           .round_cols = ROUND_COUNT, .max_count_col = ROUND_PARTICIPANTS,
                           /* scores are NaN when eval.round_rollouts is 0 */
                           .nan_ok_cols = 1u << ROUND_BALANCE | 1u << ROUND_COST,
                           .nparams = st->robot->layout.total};
}

static fm_status ckpt_write(nn_ctx *c, const round_state *st, int done, fm_err *err)
{
    fm_status status = FM_OK;
    char path[1100], *config = NULL;
    ckpt_path(c, path, sizeof path);
    fm_status local = fm_cfg_dump_alloc(c->cfg, &config, err);
    FM_TRY(fm_fleet_agree(c->comm, local == FM_OK ? fm_fleet_fault("checkpoint", err) : local, err));
    fm_ckpt_shape shape = ckpt_shape(c, st, config);
    fm_ckpt_state cs = {.done = done, .adam_t = st->adam->t, .params = st->robot->w, .adam_m = st->adam->m,
                        .adam_v = st->adam->v, .comm = st->mine, .merged = c->merged[0].w, .rounds = c->rd};
    FM_TRY(fm_ckpt_write(c->comm, path, &shape, &cs, err));
cleanup:
    free(config);
    return status;
}

/* Resume from a checkpoint of the same config and rank count: *done = rounds already complete (0 = none). */
static fm_status ckpt_read(nn_ctx *c, round_state *st, int *done, fm_err *err)
{
    fm_status status = FM_OK;
    char path[1100], *config = NULL;
    *done = 0;
    ckpt_path(c, path, sizeof path);
    if (access(path, F_OK) != 0)
        goto cleanup;
    FM_TRY(fm_fleet_fault("resume", err)); /* ckpt_read is local: the caller agrees */
    FM_TRY(fm_cfg_dump_alloc(c->cfg, &config, err));
    fm_ckpt_shape shape = ckpt_shape(c, st, config);
    fm_ckpt_state cs = {.params = st->robot->w, .adam_m = st->adam->m, .adam_v = st->adam->v, .comm = st->mine,
                        .merged = c->merged[0].w, .rounds = c->rd};
    FM_TRY(fm_ckpt_read(path, &shape, &cs, err));
    st->adam->t = cs.adam_t;
    *done = cs.done;
cleanup:
    free(config);
    return status;
}

/* R rounds: every robot trains M local epochs on its own data, the round's participants are
 * merged with merge.methods[0], every robot restarts from the merged model. A robot whose
 * parameters or loss are not finite is left out of that round's merge (recorded, warned). */
static fm_status nn_rounds(nn_ctx *c, fm_err *err)
{
    fm_status status = FM_OK;
    int R = c->cfg->fleet.rounds, N = c->size, *part = NULL, *fin = NULL, *scratch = NULL;
    fm_model robot = {0};
    fm_adam adam = {0};
    fm_nn_train_opts o;
    fm_merge_nn_opts mo;
    double bytes[2] = {0, 0}, *mine = NULL;
    train_opts(c->cfg, &o);
    o.epochs = c->cfg->fleet.local_epochs;
    merge_opts(c->cfg, &mo);
    c->nmerged = 1;
    FM_ALLOC(c->merged, 1);
    FM_ALLOC(c->merged_loss, 1);
    FM_ALLOC(c->merge_seconds, 1);
    FM_ALLOC(c->mlog, 1);
    FM_ALLOC(part, N);
    FM_ALLOC(fin, N);
    FM_ALLOC(scratch, N);
    FM_ALLOC(c->rd, (size_t)R * ROUND_COUNT);
    FM_ALLOC(mine, (size_t)R * 3);
    FM_TRY(nn_new_model(c, &robot, c->cfg->fleet.shared_init, err));
    FM_TRY(fm_model_create(&c->merged[0], &c->spec, err));
    fm_model_copy(&c->merged[0], &robot);
    FM_TRY(fm_adam_create(&adam, robot.layout.total, err));
    double t0 = fm_now();
    round_state st = {.robot = &robot, .adam = &adam, .mine = mine};
    int done = 0;
    if (c->opts.force && c->rank == 0) { /* --force starts over */
        char ck[1100];
        ckpt_path(c, ck, sizeof ck);
        remove(ck);
    }
    MPI_Barrier(c->comm);
    FM_TRY(fm_fleet_agree(c->comm, ckpt_read(c, &st, &done, err), err));
    int lo = done, hi = done; /* ranks that see different files (node-local or stale caches) must not diverge */
    MPI_Allreduce(&done, &lo, 1, MPI_INT, MPI_MIN, c->comm);
    MPI_Allreduce(&done, &hi, 1, MPI_INT, MPI_MAX, c->comm);
    FM_CHECK(lo == hi, FM_EDATA, "%s.ckpt: the ranks see different checkpoints (rounds done from %d to %d): "
             "is the results directory shared by every node?", c->out_path, lo, hi);
    FM_CHECK(!c->opts.resume || done > 0, FM_EINVAL, "--resume: no checkpoint %s.ckpt to continue from", c->out_path);
    if (done > 0 && c->rank == 0 && !c->opts.quiet)
        fm_logf(stdout, "resuming after round %d/%d from the checkpoint\n", done, R);
    char round_phase[96];
    snprintf(round_phase, sizeof round_phase, "merge:%s", fm_cfg_enum_name("merge.methods", c->cfg->merge.methods[0]));
    for (int r = done; r < R; r++) {
        fm_rng rng;
        double loss = 0, *row = c->rd + (size_t)r * ROUND_COUNT;
        fm_rng_seed(&rng, (uint64_t)c->cfg->experiment.seed, (uint64_t)c->rank, FM_STREAM_TRAIN + 1000 + (uint64_t)r);
        fm_status ts = fm_fleet_fault("training", err);
        if (ts == FM_OK)
            ts = fm_nn_train_with(&robot, &c->demos, &o, NULL, &rng, &adam, &loss, err);
        if (ts == FM_ENUMERIC) { /* this robot diverged: it is left out of the merge, not fatal */
            fm_err_clear(err);
            ts = FM_OK, loss = NAN;
        }
        if (ts == FM_OK) /* the merge's call site: a failure must be known before the round's collectives */
            ts = fm_fleet_fault(round_phase, err);
        FM_TRY(fm_fleet_agree(c->comm, ts, err));
        if (fm_fault_nonfinite(r + 1)) /* tests only: FLEET_FAULT="robot,round" poisons that robot */
            robot.w[0] = NAN;
        int ok_here = model_finite(&robot, loss);
        MPI_Allgather(&ok_here, 1, MPI_INT, fin, 1, MPI_INT, c->comm);
        round_participants(c, r, part, scratch);
        int np = 0;
        for (int i = 0; i < N; i++) {
            if (!fin[i] && c->rank == 0)
                fm_logf(stderr, "warning: robot %d left out of round %d: non-finite parameters or loss\n", i, r + 1);
            part[i] = part[i] && fin[i];
            np += part[i];
        }
        mine[(size_t)r * 3 + 2] = !ok_here;
        double before[2] = {bytes[0], bytes[1]};
        row[ROUND_CHANGED] = 0;
        mo.shared_start = c->cfg->fleet.shared_init || r > 0; /* every robot starts round r > 0 from the merged model */
        if (np > 0) /* else the merged model stays the previous one: it is never non-finite */
            FM_TRY(round_merge(c, &robot, part, &mo, (uint64_t)c->cfg->experiment.seed + 7919u * (uint64_t)(r + 1),
                               bytes, &row[ROUND_CHANGED], err));
        mine[(size_t)r * 3] = bytes[0] - before[0], mine[(size_t)r * 3 + 1] = bytes[1] - before[1];
        fm_model_copy(&robot, &c->merged[0]);
        if (c->cfg->fleet.reset_optimizer)
            fm_adam_reset(&adam);
        row[ROUND_PARTICIPANTS] = np;
        FM_TRY(fm_nn_eval_loss(&c->merged[0], &c->demos, -1, &c->red, &row[ROUND_LOSS], err));
        FM_TRY(round_score(c, &row[ROUND_BALANCE], &row[ROUND_COST], err));
        row[ROUND_SECONDS] = fm_now() - t0;
        round_progress(c, r, row);
        FM_TRY(ckpt_write(c, &st, r + 1, err));
        FM_CHECK(!stop_requested(r), FM_EIO, "stopped after round %d (FLEET_STOP_AFTER, a test hook)", r + 1);
    }
    c->merged_loss[0] = c->rd[(size_t)(R - 1) * ROUND_COUNT + ROUND_LOSS];
    c->merge_seconds[0] = fm_now() - t0;
    FM_ALLOC(c->rd_bytes, (size_t)N * R * 3); /* every robot's [bytes sent, received, excluded] */
    memcpy(c->rd_bytes + (size_t)c->rank * R * 3, mine, sizeof(double) * R * 3);
    FM_TRY(fm_reduce_sum(&c->red, c->rd_bytes, N * R * 3, err));
cleanup:
    fm_model_free(&robot);
    fm_adam_free(&adam);
    free(part), free(fin), free(scratch), free(mine);
    return status;
}

/* ---------------- evaluation ---------------- */

static void runner_reset(void *ctx) { fm_nn_runner_reset(ctx); }
static void runner_act(void *ctx, const double *obs, double *action) { fm_nn_runner_act(ctx, obs, action); }

/* Episode e of task h, common random numbers: the same start and noise for every policy. */
static void episode(const struct nn_ctx *c, int h, int e, fm_nn_runner *run, double *acc)
{
    fm_rng r;
    fm_rng_seed(&r, (uint64_t)c->cfg->experiment.seed, FM_RANK_SHARED,
                FM_STREAM_COUNT + (uint64_t)h * c->cfg->eval.rollouts + e);
    fm_policy_fn pi = {.reset = runner_reset, .act = runner_act, .ctx = run};
    fm_episode_score s;
    if (c->tooluse)
        fm_tooluse_episode(&c->tu, h, run ? &pi : NULL, &r, &s);
    else
        fm_cartpole_episode(&c->env, h, run ? &pi : NULL, &r, &s);
    acc[SCORE_BALANCE] += s.balanced;
    acc[SCORE_SETPOINT] += s.at_setpoint;
    acc[SCORE_COST] += s.cost;
}

/* Global policies: merged..., pooled, expert (NULL), fine-tuned merges..., scratch. */
static const fm_model *global_model(const nn_ctx *c, int j)
{
    if (j > c->nmerged + 1)
        return &c->ft[j - c->nmerged - 2];
    return j < c->nmerged ? &c->merged[j] : j == c->nmerged ? &c->pooled : NULL; /* NULL: expert */
}

/* ---------------- warm start (Figure 3 c analog) ---------------- */

/* Every merged policy, and a policy from the shared initialization ("scratch"), trained for
 * eval.finetune_epochs epochs on the same small held-out set of eval.finetune_demos expert
 * trajectories (tasks in turn, a stream no robot uses). Every rank computes the same models. */
static fm_status nn_finetune(nn_ctx *c, fm_err *err)
{
    fm_status status = FM_OK;
    int n = c->cfg->eval.finetune_demos, K = c->K, *tasks = NULL;
    fm_demos held = {0};
    fm_nn_train_opts o;
    if (n <= 0)
        goto cleanup;
    FM_ALLOC(tasks, n);
    for (int i = 0; i < n; i++)
        tasks[i] = i % K;
    fm_rng r;
    fm_rng_seed(&r, (uint64_t)c->cfg->experiment.seed, FM_RANK_SHARED, FM_STREAM_DATA + 100);
    fm_status local = fm_fleet_fault("finetune", err);
    if (local == FM_OK)
        local = env_generate(c, tasks, n, &r, &held, NULL, err);
    FM_TRY(fm_fleet_agree(c->comm, local, err)); /* before nn_new_model's collective */
    train_opts(c->cfg, &o);
    o.epochs = c->cfg->eval.finetune_epochs;
    c->nft = c->nmerged + 1;
    FM_ALLOC(c->ft, c->nft);
    FM_ALLOC(c->ft_loss, c->nft);
    FM_ALLOC(c->ft_name, c->nft);
    for (int j = 0; j < c->nft; j++) {
        if (j < c->nmerged) {
            FM_TRY(fm_model_create(&c->ft[j], &c->spec, err));
            fm_model_copy(&c->ft[j], &c->merged[j]);
            snprintf(c->ft_name[j], sizeof c->ft_name[j], "finetuned_%s", policy_name(c, j));
        } else {
            FM_TRY(nn_new_model(c, &c->ft[j], 1, err));
            snprintf(c->ft_name[j], sizeof c->ft_name[j], "scratch");
        }
        fm_rng_seed(&r, (uint64_t)c->cfg->experiment.seed, FM_RANK_SHARED, FM_STREAM_TRAIN + 200);
        FM_TRY(fm_nn_train(&c->ft[j], &held, &o, NULL, &r, &c->ft_loss[j], err));
    }
cleanup:
    free(tasks);
    fm_demos_free(&held);
    return status;
}

/* The score buffers and a runner per policy (*run [npol + 1]: global policies, then this robot's;
 * NULL for the expert). Local; the caller frees the runners, also after a failure. */
static fm_status eval_setup(nn_ctx *c, size_t ns, fm_nn_runner ***run, fm_err *err)
{
    fm_status status = FM_OK;
    FM_ALLOC(c->scores, ns);
    FM_ALLOC(c->local_scores, (size_t)c->K * SCORE_COUNT);
    FM_ALLOC(*run, c->npol + 1);
    for (int j = 0; j < c->npol; j++)
        if (global_model(c, j))
            FM_TRY(fm_nn_runner_create(global_model(c, j), &(*run)[j], err));
    FM_TRY(fm_nn_runner_create(&c->local, &(*run)[c->npol], err));
cleanup:
    return status;
}

/* Global (policy, task, episode) triples are split over ranks and summed; every robot also
 * scores its own policy on every task. Scores become rates and mean costs per task. */
static fm_status nn_evaluate(nn_ctx *c, fm_err *err)
{
    fm_status status = FM_OK;
    int K = c->K, R = c->cfg->eval.rollouts;
    fm_nn_runner **run = NULL;
    c->npol = c->nmerged + 2 + c->nft; /* merged..., pooled, expert, fine-tuned..., scratch */
    size_t ns = (size_t)c->npol * K * SCORE_COUNT;
    fm_status local = eval_setup(c, ns, &run, err);
    FM_TRY(fm_fleet_agree(c->comm, local == FM_OK ? fm_fleet_fault("evaluation", err) : local, err));
    size_t total = (size_t)c->npol * K * R;
    for (size_t q = (size_t)c->rank; q < total; q += (size_t)c->size) {
        int j = (int)(q / ((size_t)K * R)), h = (int)(q / R % K), e = (int)(q % R);
        episode(c, h, e, run[j], c->scores + ((size_t)j * K + h) * SCORE_COUNT);
    }
    for (int h = 0; h < K; h++)
        for (int e = 0; e < R; e++)
            episode(c, h, e, run[c->npol], c->local_scores + (size_t)h * SCORE_COUNT);
    FM_TRY(fm_reduce_sum(&c->red, c->scores, ns, err));
    for (size_t i = 0; i < ns; i++)
        c->scores[i] /= R;
    for (int i = 0; i < K * SCORE_COUNT; i++)
        c->local_scores[i] /= R;
cleanup:
    for (int j = 0; run && j <= c->npol; j++)
        fm_nn_runner_free(run[j]);
    free(run);
    return status;
}

/* ---------------- task-specific references ---------------- */

/* This robot's trajectories of task h as a demos set of their own (copies). */
static fm_status task_subset(const fm_demos *d, int h, fm_demos *out, fm_err *err)
{
    fm_status status = FM_OK;
    int n = 0, T = d->horizon, p = d->obs_dim, m = d->act_dim;
    for (int i = 0; i < d->n_traj; i++)
        n += d->task[i] == h;
    FM_TRY(fm_demos_alloc(out, n, T, p, m, err));
    for (int i = 0, k = 0; i < d->n_traj; i++) {
        if (d->task[i] != h)
            continue;
        memcpy(out->obs + (size_t)k * T * p, d->obs + (size_t)i * T * p, sizeof(double) * T * p);
        memcpy(out->act + (size_t)k * T * m, d->act + (size_t)i * T * m, sizeof(double) * T * m);
        out->task[k] = h, out->length[k] = d->length[i];
        k++;
    }
cleanup:
    return status;
}

/* With eval.task_specific: for every task, a policy trained data-parallel on every robot's
 * trajectories of that task (no data moved) and scored on that task. */
static fm_status nn_task_specific(nn_ctx *c, fm_err *err)
{
    fm_status status = FM_OK;
    int K = c->K, R = c->cfg->eval.rollouts;
    fm_demos sub = {0};
    fm_model m = {0};
    fm_nn_runner *run = NULL;
    fm_nn_train_opts o;
    train_opts(c->cfg, &o);
    fm_status local = fm_calloc(&c->ts_scores, (size_t)K * SCORE_COUNT, sizeof *c->ts_scores, err);
    FM_TRY(fm_fleet_agree(c->comm, local == FM_OK ? fm_fleet_fault("task_specific", err) : local, err));
    for (int h = 0; h < K; h++) {
        double cnt = 0, loss = 0, acc[SCORE_COUNT] = {0};
        FM_TRY(fm_fleet_agree(c->comm, task_subset(&c->demos, h, &sub, err), err));
        cnt = sub.n_traj;
        FM_TRY(fm_reduce_sum(&c->red, &cnt, 1, err));
        if (cnt > 0) {
            fm_rng r;
            FM_TRY(nn_new_model(c, &m, 1, err));
            fm_rng_seed(&r, (uint64_t)c->cfg->experiment.seed, (uint64_t)c->rank, FM_STREAM_TRAIN + 300 + (uint64_t)h);
            FM_TRY(fm_fleet_agree_phase(c->comm, fm_nn_train(&m, &sub, &o, &c->red, &r, &loss, err), err));
            FM_TRY(fm_fleet_agree(c->comm, fm_nn_runner_create(&m, &run, err), err));
            for (int e = c->rank; e < R; e += c->size)
                episode(c, h, e, run, acc);
            fm_nn_runner_free(run);
            run = NULL;
            fm_model_free(&m);
        }
        FM_TRY(fm_reduce_sum(&c->red, acc, SCORE_COUNT, err));
        for (int q = 0; q < SCORE_COUNT; q++)
            c->ts_scores[(size_t)h * SCORE_COUNT + q] = cnt > 0 ? acc[q] / R : NAN;
        fm_demos_free(&sub);
    }
cleanup:
    fm_nn_runner_free(run);
    fm_model_free(&m);
    fm_demos_free(&sub);
    return status;
}

/* ---------------- barriers between robots 0 and 1 (Section 3) ---------------- */

/* Loss and performance along theta_l = (1 - l) theta_0 + l theta_1 for the aligned pair of
 * every method (average = plain interpolation): BC loss over the fleet's data, balance rate and
 * cost over eval.rollouts episodes per task (split over ranks, common random numbers). */
static fm_status nn_barriers(nn_ctx *c, fm_err *err)
{
    fm_status status = FM_OK;
    int npts = c->cfg->eval.barrier_points, K = c->K, R = c->cfg->eval.rollouts;
    size_t P = c->local.layout.total;
    fm_model m = {0};
    fm_nn_runner *run = NULL;
    if (npts < 1 || c->size < 2 || !c->pair)
        goto cleanup;
    fm_status local = fm_fleet_fault("barriers", err);
    if (local == FM_OK)
        local = fm_model_create(&m, &c->spec, err);
    if (local == FM_OK)
        local = fm_calloc(&c->barrier, (size_t)c->nmerged * npts * 4, sizeof *c->barrier, err);
    FM_TRY(fm_fleet_agree(c->comm, local, err));
    fm_model_copy(&m, &c->local);
    for (int j = 0; j < c->nmerged; j++)
        for (int p = 0; p < npts; p++) {
            double lam = npts > 1 ? (double)p / (npts - 1) : 0.0, *row = c->barrier + ((size_t)j * npts + p) * 4;
            const float *a = c->pair + (size_t)j * 2 * P, *b = a + P;
            for (size_t q = 0; q < P; q++)
                m.w[q] = (float)((1.0 - lam) * a[q] + lam * b[q]);
            FM_TRY(fm_nn_eval_loss(&m, &c->demos, -1, &c->red, &row[1], err));
            FM_TRY(fm_fleet_agree(c->comm, fm_nn_runner_create(&m, &run, err), err));
            double acc[SCORE_COUNT] = {0};
            for (int q = c->rank; q < K * R; q += c->size)
                episode(c, q / R, q % R, run, acc);
            fm_nn_runner_free(run);
            run = NULL;
            FM_TRY(fm_reduce_sum(&c->red, acc, SCORE_COUNT, err));
            row[0] = lam, row[2] = acc[SCORE_BALANCE] / (K * R), row[3] = acc[SCORE_COST] / (K * R);
        }
cleanup:
    fm_nn_runner_free(run);
    fm_model_free(&m);
    return status;
}

/* max_l L(theta_l) - (L_0 + L_1) / 2 and max_l (T_0 + T_1) / 2 - T(theta_l) for T = balance. */
static void barrier_values(const double *rows, int npts, double *loss_b, double *bal_b)
{
    double l0 = rows[1], l1 = rows[(npts - 1) * 4 + 1], t0 = rows[2], t1 = rows[(npts - 1) * 4 + 2];
    *loss_b = -INFINITY, *bal_b = -INFINITY;
    for (int p = 0; p < npts; p++) {
        *loss_b = fmax(*loss_b, rows[p * 4 + 1] - 0.5 * (l0 + l1));
        *bal_b = fmax(*bal_b, 0.5 * (t0 + t1) - rows[p * 4 + 2]);
    }
}

/* ---------------- results ---------------- */

static const char *policy_name(const nn_ctx *c, int j)
{
    if (j > c->nmerged + 1)
        return c->ft_name[j - c->nmerged - 2];
    if (j < c->nmerged)
        return fm_cfg_enum_name("merge.methods", c->cfg->merge.methods[j]);
    return j == c->nmerged ? "pooled" : "expert";
}

/* Scores of one policy as three [K] datasets (or [N, K] for all robots' local policies). */
static fm_status write_scores(const nn_ctx *c, fm_h5 *h, const char *name, const double *s, int rows, int K,
                              fm_err *err)
{
    fm_status status = FM_OK;
    double *v = NULL;
    char path[256];
    FM_ALLOC(v, (size_t)rows * K);
    for (int q = 0; q < SCORE_COUNT; q++) {
        for (int i = 0; i < rows * K; i++)
            v[i] = s[(size_t)i * SCORE_COUNT + q];
        snprintf(path, sizeof path, "/eval/%s/%s", name, c->score_names[q]);
        int64_t dims[2] = {rows, K};
        FM_TRY(fm_h5_write_f64(h, path, rows > 1 ? 2 : 1, rows > 1 ? dims : dims + 1, v, err));
    }
cleanup:
    free(v);
    return status;
}

static fm_status write_fleet(nn_ctx *c, fm_h5 *h, fm_err *err)
{
    fm_status status = FM_OK;
    int K = c->K, N = c->size;
    double mine[4] = {c->demos.n_traj, (double)fm_demos_bytes(&c->demos),
                      (double)(c->local.layout.total * sizeof(float)), c->local_loss};
    double *all = NULL, *tasks = NULL;
    FM_ALLOC(all, 4 * N);
    FM_ALLOC(tasks, 4 * K);
    memcpy(all + 4 * c->rank, mine, sizeof mine);
    FM_TRY(fm_reduce_sum(&c->red, all, 4 * N, err));
    FM_TRY(fm_h5_write_rows_f64(h, "/fleet/mixture", 1, (int64_t[1]){K}, c->mixture, err));
    FM_TRY(fm_h5_write_f64(h, "/fleet/robot_stats", 2, (int64_t[2]){N, 4}, all, err));
    FM_TRY(fm_h5_attr_text(h, "/fleet/robot_stats", "columns",
                           "num_demos,data_bytes,model_bytes,local_bc_loss", err));
    FM_TRY(fm_h5_attr_f64(h, "/fleet", "pooled_bc_loss", c->pooled_loss, err));
    if (c->tooluse) { /* tool definitions: family, handle, head and object sizes (docs/tooluse.md) */
        free(tasks);
        FM_ALLOC(tasks, 9 * K);
        for (int t = 0; t < K; t++) {
            const fm_tu_tool *tl = fm_tooluse_tool(&c->tu, t);
            double row[9] = {tl->family, tl->handle_len, tl->handle_rad, tl->head[0], tl->head[1], tl->head[2],
                             tl->obj[0], tl->obj[1], tl->obj[2]};
            memcpy(tasks + 9 * t, row, sizeof row);
        }
        FM_TRY(fm_h5_write_f64(h, "/system/tasks", 2, (int64_t[2]){K, 9}, tasks, err));
        FM_TRY(fm_h5_attr_text(h, "/system/tasks", "columns",
                               "family,handle_len,handle_rad,head0,head1,head2,obj0,obj1,obj2", err));
    } else {
        for (int t = 0; t < K; t++) {
            const fm_cartpole_task *tk = &c->env.task[t];
            double row[4] = {tk->half_length, tk->pole_mass, tk->cart_mass, tk->setpoint};
            memcpy(tasks + 4 * t, row, sizeof row);
        }
        FM_TRY(fm_h5_write_f64(h, "/system/tasks", 2, (int64_t[2]){K, 4}, tasks, err));
        FM_TRY(fm_h5_attr_text(h, "/system/tasks", "columns", "half_length,pole_mass,cart_mass,setpoint", err));
    }
cleanup:
    free(all), free(tasks);
    return status;
}

/* Per-epoch diagnostics of a merge (docs/schema.md): zero changed assignments = a no-op. */
static fm_status write_merge_log(fm_h5 *h, const char *name, const fm_merge_nn_log *g, fm_err *err)
{
    fm_status status = FM_OK;
    char path[256];
    const double *arr[6] = {g->changed, g->rowmax_first, g->rowmax_last, g->interp_loss, g->updaters, g->ref_loss};
    const char *names[6] = {"changed", "rowmax_first", "rowmax_last", "interp_loss", "updaters", "reference_bc_loss"};
    for (int q = 0; q < 6 && g->epochs > 0; q++) {
        snprintf(path, sizeof path, "/merge/%s/%s", name, names[q]);
        FM_TRY(fm_h5_write_f64(h, path, 1, (int64_t[1]){g->epochs}, arr[q], err));
    }
    snprintf(path, sizeof path, "/merge/%s/mm_distance", name);
    FM_TRY(fm_h5_write_f64(h, path, 1, (int64_t[1]){1}, &g->mm_distance, err));
    snprintf(path, sizeof path, "/merge/%s", name);
    FM_TRY(fm_h5_attr_i64(h, path, "mm_sweeps", g->mm_sweeps, err));
cleanup:
    return status;
}

static fm_status write_barriers(nn_ctx *c, fm_h5 *h, fm_err *err)
{
    fm_status status = FM_OK;
    int npts = c->cfg->eval.barrier_points;
    char path[256];
    double *v = NULL;
    if (!c->barrier)
        goto cleanup;
    FM_ALLOC(v, npts);
    const char *cols[4] = {"lambda", "loss", c->score_names[SCORE_BALANCE], c->score_names[SCORE_COST]};
    for (int j = 0; j < c->nmerged; j++) {
        const double *rows = c->barrier + (size_t)j * npts * 4;
        for (int q = 0; q < 4; q++) {
            for (int p = 0; p < npts; p++)
                v[p] = rows[p * 4 + q];
            snprintf(path, sizeof path, "/barrier/%s/%s", policy_name(c, j), cols[q]);
            FM_TRY(fm_h5_write_f64(h, path, 1, (int64_t[1]){npts}, v, err));
        }
        double lb, bb;
        barrier_values(rows, npts, &lb, &bb);
        snprintf(path, sizeof path, "/barrier/%s", policy_name(c, j));
        FM_TRY(fm_h5_attr_f64(h, path, "loss_barrier", lb, err));
        FM_TRY(fm_h5_attr_f64(h, path, "balance_barrier", bb, err));
    }
cleanup:
    free(v);
    return status;
}

/* Per-round metrics and communication (docs/schema.md "Merging rounds"). */
static fm_status write_rounds(nn_ctx *c, fm_h5 *h, fm_err *err)
{
    fm_status status = FM_OK;
    int R = c->cfg->fleet.rounds, N = c->size;
    double *v = NULL;
    char path[128];
    if (!c->rd)
        goto cleanup;
    FM_ALLOC(v, (size_t)N * R);
    for (int q = 0; q < ROUND_COUNT; q++) {
        for (int r = 0; r < R; r++)
            v[r] = c->rd[(size_t)r * ROUND_COUNT + q];
        /* wall time is not part of the result: it goes under /timing */
        char name[64]; /* merged_balance / merged_cost are merged_success / merged_shortfall for tool use */
        snprintf(name, sizeof name, "%s", ROUND_NAMES[q]);
        if (q == ROUND_BALANCE || q == ROUND_COST)
            snprintf(name, sizeof name, "merged_%s", c->score_names[q == ROUND_BALANCE ? SCORE_BALANCE : SCORE_COST]);
        snprintf(path, sizeof path, q == ROUND_SECONDS ? "/timing/%s" : "/rounds/%s", name);
        FM_TRY(fm_h5_write_f64(h, path, 1, (int64_t[1]){R}, v, err));
    }
    const char *names[3] = {"bytes_sent", "bytes_received", "left_out"};
    for (int q = 0; q < 3; q++) {
        for (int i = 0; i < N * R; i++)
            v[i] = c->rd_bytes[(size_t)i * 3 + q];
        snprintf(path, sizeof path, "/rounds/%s", names[q]);
        FM_TRY(fm_h5_write_f64(h, path, 2, (int64_t[2]){N, R}, v, err));
    }
cleanup:
    free(v);
    return status;
}

static fm_status write_models_scores(nn_ctx *c, fm_h5 *h, fm_err *err)
{
    fm_status status = FM_OK;
    int K = c->K;
    char path[256];
    FM_TRY(fm_model_save_rows(h, "/models/local", &c->local, err));
    FM_TRY(fm_model_save(h, "/models/pooled", &c->pooled, err));
    for (int j = 0; j < c->nmerged; j++) {
        snprintf(path, sizeof path, "/models/merged/%s", policy_name(c, j));
        FM_TRY(fm_model_save(h, path, &c->merged[j], err));
        FM_TRY(fm_h5_attr_f64(h, path, "bc_loss", c->merged_loss[j], err));
        if (!c->rd) /* rounds keep their per-round diagnostics under /rounds */
            FM_TRY(write_merge_log(h, policy_name(c, j), &c->mlog[j], err));
    }
    for (int j = 0; j < c->npol; j++)
        FM_TRY(write_scores(c, h, policy_name(c, j), c->scores + (size_t)j * K * SCORE_COUNT, 1, K, err));
    if (c->ts_scores)
        FM_TRY(write_scores(c, h, "task_specific", c->ts_scores, 1, K, err));
    FM_TRY(write_scores(c, h, "local", c->all_local, c->size, K, err));
cleanup:
    return status;
}

static fm_status nn_write(nn_ctx *c, fm_err *err)
{
    fm_status status = FM_OK;
    fm_h5 *h = NULL;
    int K = c->K, n = K * SCORE_COUNT;
    fm_status local = fm_calloc(&c->all_local, (size_t)c->size * n, sizeof *c->all_local, err);
    FM_TRY(fm_fleet_agree(c->comm, local == FM_OK ? fm_fleet_fault("results", err) : local, err));
    memcpy(c->all_local + (size_t)c->rank * n, c->local_scores, sizeof(double) * n);
    FM_TRY(fm_reduce_sum(&c->red, c->all_local, c->size * n, err));
    /* from here a rank that fails alone gives the file up: fm_h5_close ends the job (io/h5io.h) */
    FM_TRY(fm_h5_create(c->comm, c->out_path, &h, err));
    FM_TRY(fm_fleet_write_header(h, c->cfg, c->size, K, err));
    FM_TRY(fm_fleet_fault("collective_write", err)); /* tests: one rank leaves between two writes */
    FM_TRY(write_fleet(c, h, err));
    FM_TRY(write_models_scores(c, h, err));
    FM_TRY(write_barriers(c, h, err));
    FM_TRY(write_rounds(c, h, err));
    FM_TRY(fm_fleet_write_timing(h, c->comm, c->t_phase, c->nmerged, c->merge_seconds, err));
    fm_status st = fm_h5_close(h, 1, err);
    h = NULL;
    FM_TRY(st);
    if (c->rank == 0 && c->cfg->fleet.rounds > 0) { /* the run is complete: its checkpoint goes */
        char ck[1100];
        ckpt_path(c, ck, sizeof ck);
        remove(ck);
    }
cleanup:
    if (h)
        fm_h5_close(h, 0, err);
    return status;
}

static void print_row(const char *name, const double *s, int K, int stride, double loss)
{
    double bal = 0, worst = 1, sp = 0, cost = 0;
    for (int h = 0; h < K; h++) {
        const double *v = s + (size_t)h * stride;
        bal += v[SCORE_BALANCE] / K, sp += v[SCORE_SETPOINT] / K, cost += v[SCORE_COST] / K;
        worst = fmin(worst, v[SCORE_BALANCE]);
    }
    printf("  %-28s %8.1f%% %8.1f%% %9.1f%% %10.3g", name, 100 * bal, 100 * worst, 100 * sp, cost);
    if (isnan(loss))
        printf("\n");
    else
        printf(" %10.4g\n", loss);
}

static void nn_summary(const nn_ctx *c)
{
    if (c->rank != 0)
        return;
    int K = c->K, N = c->size, n = K * SCORE_COUNT;
    printf("\n%s: %d robots, %d %s tasks, %s %dx%d %s, alpha = %g, %d episodes per task\n",
           c->cfg->experiment.name, N, K, c->tooluse ? "tool-use" : "cart-pole",
           fm_cfg_enum_name("policy.arch", c->cfg->policy.arch),
           c->cfg->policy.layers, c->cfg->policy.width,
           fm_cfg_enum_name("policy.activation", c->cfg->policy.activation), c->cfg->fleet.alpha,
           c->cfg->eval.rollouts);
    printf("  %-28s %9s %9s %10s %10s %10s\n", "policy", c->score_names[0], "worst", c->score_names[1],
           c->score_names[2], "BC loss");
    for (int j = 0; j < c->npol; j++)
        print_row(policy_name(c, j), c->scores + (size_t)j * n, K, SCORE_COUNT,
                  j < c->nmerged ? c->merged_loss[j] : j == c->nmerged ? c->pooled_loss
                  : j > c->nmerged + 1 ? c->ft_loss[j - c->nmerged - 2] : NAN);
    if (c->ts_scores)
        print_row("task_specific", c->ts_scores, K, SCORE_COUNT, NAN);
    double *mean = calloc((size_t)n, sizeof *mean);
    for (int i = 0; mean && i < N * n; i++)
        mean[i % n] += c->all_local[i] / N;
    if (mean)
        print_row("local (mean)", mean, K, SCORE_COUNT, NAN);
    free(mean);
    if (c->tooluse)
        printf("  success = pin down 1 cm / nut turned 0.4 rad / object lifted 5 cm / halves 5 cm apart, with "
               "tool contact (docs/tooluse.md)\n");
    else
        printf("  balance = pole up and cart on the track for the whole episode (docs/cartpole.md)\n");
    if (c->rd) { /* communication of the rounds against the data the robots kept */
        int R = c->cfg->fleet.rounds;
        double sent = 0, data = (double)fm_demos_bytes(&c->demos); /* every robot holds as many demos */
        for (int i = 0; i < N * R; i++)
            sent += c->rd_bytes[(size_t)i * 3] / N;
        printf("  %d rounds of %d local epochs, participation %g: a robot sent %.3g MB of weights on average "
               "(sent / its demonstrations = %.2gx; the data stay on the robot)\n", R, c->cfg->fleet.local_epochs,
               c->cfg->fleet.participation, sent / 1e6, data > 0 ? sent / data : 0.0);
    }
    for (int j = 0; c->barrier && j < c->nmerged; j++) {
        double lb, bb;
        barrier_values(c->barrier + (size_t)j * c->cfg->eval.barrier_points * 4, c->cfg->eval.barrier_points, &lb, &bb);
        printf("  barrier robots 0-1 after %-16s loss %.4g, %s %.3f\n", policy_name(c, j), lb,
               c->score_names[SCORE_BALANCE], bb);
    }
    printf("results: %s\n", c->out_path);
    fflush(stdout);
}

static void nn_free(nn_ctx *c)
{
    fm_cartpole_free(&c->env);
    fm_tooluse_free(&c->tu);
    fm_demos_free(&c->demos);
    fm_model_free(&c->local);
    fm_model_free(&c->pooled);
    for (int j = 0; c->merged && j < c->nmerged; j++)
        fm_model_free(&c->merged[j]);
    free(c->merged), free(c->merged_loss), free(c->merge_seconds), free(c->mlog), free(c->mixture), free(c->scores);
    free(c->pair), free(c->barrier);
    for (int j = 0; c->ft && j < c->nft; j++)
        fm_model_free(&c->ft[j]);
    free(c->ft), free(c->ft_loss), free(c->ft_name), free(c->ts_scores), free(c->rd), free(c->rd_bytes);
    free(c->local_scores), free(c->all_local);
}

/* A phase (or an untimed step: STEP) ends with every rank agreeing on its status
 * (fm_fleet_agree_phase: a rank that failed alone waits with the watchdog armed), so all ranks
 * stop together with the failing rank's message. */
#define PHASE(idx, name, call)                                  \
    do {                                                        \
        double t0_ = fm_now();                                  \
        progress(c, name);                                      \
        FM_TRY(fm_fleet_agree_phase(c->comm, (call), err));     \
        c->t_phase[idx] = fm_now() - t0_;                       \
    } while (0)
#define STEP(name, call)                                        \
    do {                                                        \
        progress(c, name);                                      \
        FM_TRY(fm_fleet_agree_phase(c->comm, (call), err));     \
    } while (0)

fm_status fm_run_nn(MPI_Comm comm, const fm_config *cfg, const fm_run_opts *opts, fm_err *err)
{
    fm_status status = FM_OK;
    nn_ctx ctx = {.comm = comm, .opts = *opts, .cfg = cfg, .t_start = fm_now()}, *c = &ctx;
    MPI_Comm_rank(comm, &c->rank);
    MPI_Comm_size(comm, &c->size);
    FM_CHECK(!opts->resume || cfg->fleet.rounds > 0, FM_EINVAL,
             "--resume: %s has no merging rounds (fleet.rounds) to resume", cfg->source);
    FM_TRY(nn_setup(c, err));
    PHASE(0, "robot data", nn_data(c, err));
    PHASE(1, "local training", nn_train_local(c, err));
    if (c->cfg->fleet.rounds > 0)
        PHASE(2, "merging rounds", nn_rounds(c, err));
    else
        PHASE(2, "merging", nn_merge(c, err));
    PHASE(3, "pooled training", nn_pooled(c, err));
    if (c->cfg->eval.finetune_demos > 0)
        STEP("warm start: fine-tuning", nn_finetune(c, err));
    PHASE(4, "evaluation", nn_evaluate(c, err));
    if (c->cfg->eval.task_specific)
        STEP("task-specific references", nn_task_specific(c, err));
    if (c->cfg->eval.barrier_points > 0)
        STEP("barriers", nn_barriers(c, err));
    PHASE(5, "writing results", nn_write(c, err));
    nn_summary(c);
cleanup:
    nn_free(c);
    return status;
}

fm_status fm_gen_nn(MPI_Comm comm, const fm_config *cfg, const char *out_path, int force, fm_err *err)
{
    fm_status status = FM_OK;
    nn_ctx ctx = {.comm = comm, .opts = {.force = force, .quiet = 1, .output = out_path}, .cfg = cfg},
           *c = &ctx;
    MPI_Comm_rank(comm, &c->rank);
    MPI_Comm_size(comm, &c->size);
    FM_TRY(nn_setup(c, err));
    FM_TRY(nn_data(c, err));
    fm_demos_meta meta = {.num_robots = c->size, .num_tasks = c->K};
    snprintf(meta.env, sizeof meta.env, "%s", fm_cfg_enum_name("env.kind", cfg->env.kind));
    FM_TRY(fm_h5_write_demos(comm, out_path, &meta, &c->demos, c->mixture, err));
    if (c->rank == 0)
        fm_logf(stdout, "wrote %s (%d robots x %d trajectories)\n", out_path, c->size, c->demos.n_traj);
cleanup:
    nn_free(c);
    return status;
}
