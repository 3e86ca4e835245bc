/* fleet_nn.c - `fleet run` / `fleet gen` for neural policies (cart-pole, tool use, MT-10): the flow
 * (fm_run_nn: a list of phases), setup, per-robot data, fleet-wide normalization statistics,
 * local behavior cloning, and the training / merge settings every phase reads from the config.
 * The other phases are in fleet_nn_*.c (map in fleet_nn_internal.h). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>

#include "fleet/fleet_nn_internal.h"
#include "io/h5io.h"

/* Score names per benchmark (the SCORE_* columns). */
static const char *SCORE_NAMES_CP[SCORE_COUNT] = {"balance", "setpoint", "cost"};
static const char *SCORE_NAMES_TU[SCORE_COUNT] = {"success", "touched", "shortfall"};
static const char *SCORE_NAMES_MT[SCORE_COUNT] = {"success", "at_end", "distance"};
static const char *SCORE_NAMES_SV[SCORE_COUNT] = {"accuracy", "top2", "xent"};

/* ---------------- settings from the config ---------------- */

/* Training settings; with merging rounds the baselines train as many epochs as the rounds do
 * (train.nn_steps then does not apply: rounds count epochs). */
void fnn_train_opts(const fm_config *cfg, fm_nn_train_opts *o)
{
    int rounds = cfg->fleet.rounds > 0;
    *o = (fm_nn_train_opts){.epochs = rounds ? cfg->fleet.rounds * cfg->fleet.local_epochs : cfg->train.epochs,
                            .steps = rounds ? 0 : cfg->train.nn_steps, .unit = cfg->train.batch_unit,
                            .batch = cfg->train.batch_size,
                            .window = cfg->train.window, .optimizer = cfg->train.optimizer,
                            .lr = cfg->train.lr, .lr_schedule = cfg->train.lr_schedule,
                            .lr_decay = cfg->train.lr_decay, .weight_decay = cfg->train.weight_decay,
                            .grad_clip = cfg->train.grad_clip};
}

/* ---------------- setup ---------------- */

static void spec_from_config(const fm_config *cfg, fm_nn_spec *s)
{
    *s = (fm_nn_spec){.arch = cfg->policy.arch == FM_ARCH_RNN ? FM_NN_RNN
                              : cfg->policy.arch == FM_ARCH_CNN ? FM_NN_CNN : FM_NN_MLP,
                      .act = cfg->policy.activation, .in_dim = FM_CARTPOLE_OBS_DIM,
                      .out_dim = FM_CARTPOLE_ACT_DIM, .nhidden = cfg->policy.layers};
    for (int i = 0; i < s->nhidden; i++)
        s->hidden[i] = cfg->policy.width;
    if (cfg->env.kind == FM_ENV_TOOLUSE && cfg->env.tu_obs == FM_TU_OBS_KEYPOINTS) { /* flat state, no encoder */
        s->in_dim = FM_TU_KP_DIM + (cfg->env.tu_proprio ? FM_TU_PROPRIO_DIM : 0);
        s->out_dim = FM_TU_ACT_DIM;
    } else if (cfg->env.kind == FM_ENV_SUPERVISED) { /* pixels in, K logits out, cross-entropy */
        s->in_dim = 0; /* set from the data (nn_setup), as is a cnn's image size */
        s->out_dim = cfg->env.num_tasks;
        s->loss = FM_NN_LOSS_XENT;
        s->nconv = s->arch == FM_NN_CNN ? cfg->policy.conv_nlayers : 0;
        for (int j = 0; j < s->nconv; j++)
            s->conv_channels[j] = cfg->policy.conv_channels[j];
        s->conv_k = s->arch == FM_NN_CNN ? cfg->policy.conv_kernel : 0;
    } else if (cfg->env.kind == FM_ENV_MULTITASK) { /* Meta-World's 39 values (+ task id), 4 actions */
        s->in_dim = FM_MT_OBS_DIM + (cfg->env.mt_task_id ? cfg->env.num_tasks : 0);
        s->out_dim = FM_MT_ACT_DIM;
    } else if (cfg->env.kind == FM_ENV_TOOLUSE) { /* point-cloud encoder + head (docs/tooluse.md) */
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
    c->multitask = c->cfg->env.kind == FM_ENV_MULTITASK;
    c->supervised = c->cfg->env.kind == FM_ENV_SUPERVISED;
    c->score_names = c->tooluse ? SCORE_NAMES_TU : c->multitask ? SCORE_NAMES_MT
                     : c->supervised ? SCORE_NAMES_SV : SCORE_NAMES_CP;
    if (c->supervised) {
        FM_TRY(fm_fleet_agree(c->comm, fm_classify_build(c->cfg, &c->cls, err), err));
        c->K = c->cls.K;
    } else if (c->multitask) {
        FM_TRY(fm_fleet_agree(c->comm, fm_multitask_build(c->cfg, &c->mt, err), err));
        c->K = c->mt.K;
    } else if (c->tooluse) {
        FM_TRY(fm_fleet_agree(c->comm, fm_tooluse_build(c->cfg, &c->tu, err), err));
        c->K = c->tu.K;
    } else {
        FM_TRY(fm_fleet_agree(c->comm, fm_cartpole_build(c->cfg, &c->env, err), err));
        c->K = c->env.K;
    }
    spec_from_config(c->cfg, &c->spec);
    if (c->supervised) { /* images: pixels in, K logits out; text: one-hot characters in, next-character logits */
        c->spec.in_dim = c->cls.dim, c->spec.out_dim = c->cls.nout;
        if (c->spec.arch == FM_NN_CNN) /* one grey channel of rows x cols pixels */
            c->spec.img_c = 1, c->spec.img_h = c->cls.rows, c->spec.img_w = c->cls.cols;
    }
    c->red = fm_reducer_mpi(&c->rctx, c->comm);
cleanup:
    return status;
}

/* ---------------- robot data ---------------- */

fm_status fnn_env_generate(const nn_ctx *c, const int *tasks, int n, fm_rng *r, fm_demos *out, int *attempts,
                           fm_err *err)
{
    if (c->tooluse)
        return fm_tooluse_generate(&c->tu, tasks, n, r, out, attempts, err);
    if (c->multitask)
        return fm_multitask_generate(&c->mt, tasks, n, r, out, attempts, err);
    if (c->supervised) /* the data are a split of a fixed set, not generated (config: no val/finetune demos) */
        return fm_fail(err, FM_EINVAL, "env.kind supervised: no demonstrations are generated");
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
    if (c->supervised) { /* this client's shard of the labelled set (the mixture: its class shares) */
        local = fm_fleet_fault("data", err);
        if (local == FM_OK)
            local = fm_classify_shard(cfg, &c->cls, cfg->fleet.shared_data ? 0 : c->rank, c->size, &c->demos,
                                      c->mixture, err);
        FM_TRY(fm_fleet_agree(c->comm, local, err));
        double n = c->demos.n_traj;
        FM_TRY(fm_reduce_sum(&c->red, &n, 1, err));
        if (c->rank == 0 && !c->opts.quiet)
            fm_logf(stdout, "data: %.0f %s of %s split by %s, Dirichlet(%g) shares; robot 0 holds %d\n", n,
                    c->cls.text ? "training windows" : "labelled examples", cfg->env.sv_data,
                    c->cls.text ? "task (group of documents)" : "class", cfg->fleet.alpha, c->demos.n_traj);
        goto cleanup;
    }
    FM_ALLOC(tasks, cfg->fleet.demos_per_robot);
    int who = cfg->fleet.shared_data ? 0 : c->rank; /* shared_data: everyone draws robot 0's data */
    fm_fleet_draw_tasks(cfg, who, K, c->mixture, tasks);
    fm_rng rdata;
    fm_rng_seed(&rdata, (uint64_t)cfg->experiment.seed, (uint64_t)who, FM_STREAM_DATA);
    double t0 = fm_now();
    int attempts = 0;
    local = fm_fleet_fault("data", err);
    if (local == FM_OK)
        local = fnn_env_generate(c, tasks, cfg->fleet.demos_per_robot, &rdata, &c->demos, &attempts, err);
    double t_gen = fm_now() - t0; /* the throughput line counts the training demonstrations only */
    if (local == FM_OK && cfg->eval.val_demos > 0 && !c->gen_only) { /* held out: the same mixture, the stream continued */
        int nv = cfg->eval.val_demos;
        free(tasks);
        tasks = NULL;
        local = fm_calloc(&tasks, (size_t)nv, sizeof *tasks, err);
        if (local == FM_OK) {
            fm_mixture_tasks(&rdata, c->mixture, K, nv, tasks);
            local = fnn_env_generate(c, tasks, nv, &rdata, &c->val, NULL, err);
        }
    }
    FM_TRY(fm_fleet_agree(c->comm, local, err));
    if (c->tooluse || c->multitask) { /* expert throughput and success over the fleet */
        double st[3] = {0, attempts, t_gen};
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

/* ---------------- fleet normalization and local training ---------------- */

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
fm_status fnn_new_model(nn_ctx *c, fm_model *m, int shared, fm_err *err)
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
    if (c->done_local) /* restored from the checkpoint */
        goto cleanup;
    fnn_train_opts(c->cfg, &o);
    FM_TRY(fnn_new_model(c, &c->local, c->cfg->fleet.shared_init, err));
    fm_rng_seed(&r, (uint64_t)c->cfg->experiment.seed, (uint64_t)c->rank, FM_STREAM_TRAIN);
    fm_status local = fm_fleet_fault("training", err);
    if (local == FM_OK)
        local = fm_nn_train(&c->local, &c->demos, &o, NULL, &r, &c->local_loss, err);
    if (local == FM_OK)
        local = fm_nn_train_steps(&c->demos, &o, NULL, &c->local_steps, err);
    FM_TRY(fm_fleet_agree(c->comm, local, err));
    c->done_local = 1;
cleanup:
    return status;
}

/* ---------------- teardown and the flow ---------------- */

static void nn_free(nn_ctx *c)
{
    fnn_rounds_free(c);
    fm_cartpole_free(&c->env);
    fm_tooluse_free(&c->tu);
    fm_multitask_free(&c->mt);
    fm_classify_free(&c->cls);
    fm_demos_free(&c->demos);
    fm_demos_free(&c->val);
    free(c->heldout);
    fm_model_free(&c->local);
    fm_model_free(&c->pooled);
    for (int j = 0; c->merged && j < c->nmerged; j++)
        fm_model_free(&c->merged[j]);
    free(c->merged), free(c->merged_loss), free(c->merge_seconds), free(c->merge_sent), free(c->mlog), free(c->mixture), free(c->scores);
    free(c->pair), free(c->barrier);
    for (int j = 0; c->ft && j < c->nft; j++)
        fm_model_free(&c->ft[j]);
    free(c->ft), free(c->ft_loss), free(c->ft_name), free(c->ts_scores), free(c->rd), free(c->rd_bytes);
    free(c->local_scores), free(c->all_local);
}

/* One phase of the flow, or an untimed step (fleet_common.h FM_PHASE). */
#define PHASE(idx, name, call) FM_PHASE(c->comm, c->rank, c->opts.quiet, c->t_start, name, &c->t_phase[idx], call)
#define STEP(name, call) FM_PHASE(c->comm, c->rank, c->opts.quiet, c->t_start, name, NULL, call)

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
    if (c->cfg->fleet.rounds > 0) /* the rounds' state; a checkpoint restores the phases it holds */
        FM_TRY(fm_fleet_agree_phase(c->comm, fnn_rounds_begin(c, err), err));
    PHASE(1, "local training", nn_train_local(c, err));
    if (c->cfg->fleet.rounds > 0)
        PHASE(2, "merging rounds", fnn_rounds(c, err));
    else
        PHASE(2, "merging", fnn_merge(c, err));
    PHASE(3, "pooled training", fnn_pooled(c, err));
    if (c->cfg->eval.finetune_demos > 0)
        STEP("warm start: fine-tuning", fnn_finetune(c, err));
    PHASE(4, "evaluation", fnn_evaluate(c, err));
    if (c->cfg->eval.task_specific)
        STEP("task-specific references", fnn_task_specific(c, err));
    if (c->cfg->eval.val_demos > 0)
        STEP("held-out BC loss", fnn_heldout(c, err));
    if (c->cfg->eval.barrier_points > 0)
        STEP("barriers", fnn_barriers(c, err));
    PHASE(5, "writing results", fnn_write(c, err));
    fnn_summary(c);
cleanup:
    nn_free(c);
    return status;
}

fm_status fm_gen_nn(MPI_Comm comm, const fm_config *cfg, const char *out_path, int force, fm_err *err)
{
    fm_status status = FM_OK;
    nn_ctx ctx = {.comm = comm, .opts = {.force = force, .quiet = 1, .output = out_path}, .cfg = cfg,
                  .gen_only = 1}, *c = &ctx;
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
