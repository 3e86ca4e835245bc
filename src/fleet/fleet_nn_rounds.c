/* fleet_nn_rounds.c - merging rounds (iterative merging, Section 2; FedAvg with `average`):
 * R rounds in which every robot trains M local epochs on its own data, the round's participants
 * are merged with merge.methods[0] and every robot restarts from the merged model; and the
 * checkpoint written after every round, from which a rerun of the same command resumes. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fault.h"
#include "fleet/fleet_ckpt.h"
#include "fleet/fleet_nn_internal.h"

/* This robot's side of the rounds: what it trains, what the checkpoint keeps, the round's scratch.
 * Lives from fnn_rounds_begin (before local training) to the end of the run (c->rs), so that the
 * baselines after the rounds can be checkpointed with it. */
struct fnn_rounds_state {
    fm_model robot;              /* this robot's policy */
    fm_adam adam;                /* its optimizer, carried across rounds (fleet.reset_optimizer) */
    double *mine;                /* [R][3] this robot's bytes sent, received, left out (0/1) */
    fm_nn_train_opts train;      /* train.*, fleet.local_epochs epochs per round */
    fm_merge_nn_opts merge;
    double bytes[2];             /* this robot's payload so far: sent, received */
    int *part, *fin, *scratch;   /* [N] participant flags, finite flags, scratch of the draw */
    int done;                    /* rounds complete (restored from the checkpoint, then run) */
    double t0;                   /* start of the rounds (seconds) */
};
typedef struct fnn_rounds_state round_state;

/* ---------------- checkpoints ---------------- */

/* After local training, after every round and after each baseline that follows the rounds,
 * <results>.ckpt (written to .tmp, renamed) holds the config, the rounds done, every robot's
 * parameters and Adam state, the merged model, the metrics so far and the finished baselines; a
 * rerun of the same command continues after the last finished phase (fleet_ckpt.h). */
void fnn_ckpt_path(const nn_ctx *c, char *buf, size_t cap) { snprintf(buf, cap, "%s.ckpt", c->out_path); }

/* The checkpoint's shape for this run (fleet_ckpt.h); config is the caller's resolved config text. */
static fm_ckpt_shape ckpt_shape(const nn_ctx *c, const round_state *st, const char *config)
{
    return (fm_ckpt_shape){.config = config, .nranks = c->size, .rank = c->rank, .rounds = c->cfg->fleet.rounds,
                           .round_cols = ROUND_COUNT, .max_count_col = ROUND_PARTICIPANTS,
                           /* scores are NaN when eval.round_rollouts is 0 */
                           .nan_ok_cols = 1u << ROUND_BALANCE | 1u << ROUND_COST,
                           .nparams = st->robot.layout.total, .nts = c->K * SCORE_COUNT,
                           .version = fm_version()};
}

/* Tests only: FLEET_STOP_AFTER=ROUND (a number: after that round, 0 = after local training) or
 * FLEET_STOP_AFTER=PHASE (pooled, task_specific) ends the run with an error right after that
 * checkpoint, leaving it as a crash would. Unset in normal use. */
static int stop_requested(const char *after)
{
    const char *f = getenv("FLEET_STOP_AFTER");
    char round[32];
    if (!f)
        return 0;
    snprintf(round, sizeof round, "round %s", f);
    return strcmp(after, f) == 0 || strcmp(after, round) == 0;
}

/* Collective: write the checkpoint of everything finished so far (st->done rounds, the baselines
 * whose c->done_* flag is set); `after` names the phase just finished ("round 3", "pooled"). */
fm_status fnn_ckpt_save(nn_ctx *c, const char *after, fm_err *err)
{
    fm_status status = FM_OK;
    const round_state *st = c->rs;
    char path[1100], *config = NULL;
    fnn_ckpt_path(c, path, sizeof path);
    fm_status local = fm_cfg_dump_alloc(c->cfg, &config, err);
    FM_TRY(fm_fleet_agree(c->comm, local == FM_OK ? fm_fleet_fault("checkpoint", err) : local, err));
    fm_ckpt_shape shape = ckpt_shape(c, st, config);
    fm_ckpt_state cs = {.done = st->done, .adam_t = st->adam.t, .params = st->robot.w, .adam_m = st->adam.m,
                        .adam_v = st->adam.v, .comm = st->mine, .merged = c->merged[0].w, .rounds = c->rd,
                        .local = c->local.w, .local_fit = {c->local_loss, (double)c->local_steps},
                        .have_pooled = c->done_pooled, .pooled = c->pooled.w,
                        .pooled_fit = {c->pooled_loss, (double)c->pooled_steps},
                        .have_ts = c->done_ts, .ts = c->ts_scores};
    FM_TRY(fm_ckpt_write(c->comm, path, &shape, &cs, err));
    FM_CHECK(!stop_requested(after), FM_EIO, "stopped after %s (FLEET_STOP_AFTER, a test hook)", after);
cleanup:
    free(config);
    return status;
}

/* Read the checkpoint (local: the caller agrees): cs's buffers are the caller's, sized by the shape. */
static fm_status ckpt_read(nn_ctx *c, round_state *st, fm_ckpt_state *cs, int *found, fm_err *err)
{
    fm_status status = FM_OK;
    char path[1100], *config = NULL;
    *found = 0;
    fnn_ckpt_path(c, path, sizeof path);
    if (access(path, F_OK) != 0)
        goto cleanup;
    *found = 1;
    FM_TRY(fm_fleet_fault("resume", err));
    FM_TRY(fm_cfg_dump_alloc(c->cfg, &config, err));
    fm_ckpt_shape shape = ckpt_shape(c, st, config);
    FM_TRY(fm_ckpt_read(path, &shape, cs, err));
    st->adam.t = cs->adam_t;
cleanup:
    free(config);
    return status;
}

/* ---------------- one round's steps ---------------- */

/* Participants of round r: max(1, round(f N)) robots from a stream shared by every rank. */
static void round_participants(const nn_ctx *c, int r, int *chosen, int *scratch)
{
    int N = c->size, k = (int)lround(c->cfg->fleet.participation * N);
    k = k < 1 ? 1 : k > N ? N : k;
    fm_rng rng;
    fm_rng_seed(&rng, (uint64_t)c->cfg->experiment.seed, FM_RANK_SHARED, FM_STREAM_MERGE + 5000 + (uint64_t)r);
    fm_rng_choose(&rng, N, k, chosen, scratch);
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
        fnn_episode(c, q / R, q % R, run, acc);
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

/* Step 1 of round r: M local epochs on this robot's data, continuing its Adam state. A robot that
 * diverges (FM_ENUMERIC) is not fatal: *loss becomes NaN and round_select leaves it out. The
 * merge's fault switch (merge_phase) is checked here: a failure must be known before the round's
 * collectives. */
static fm_status round_train(nn_ctx *c, round_state *st, int r, const char *merge_phase, double *loss, fm_err *err)
{
    fm_status status = FM_OK;
    fm_rng rng;
    fm_rng_seed(&rng, (uint64_t)c->cfg->experiment.seed, (uint64_t)c->rank, FM_STREAM_TRAIN + 1000 + (uint64_t)r);
    fm_status ts = fm_fleet_fault("training", err);
    if (ts == FM_OK)
        ts = fm_nn_train_with(&st->robot, &c->demos, &st->train, NULL, &rng, &st->adam, loss, err);
    if (ts == FM_ENUMERIC) { /* this robot diverged: it is left out of the merge, not fatal */
        fm_err_clear(err);
        ts = FM_OK, *loss = NAN;
    }
    if (ts == FM_OK)
        ts = fm_fleet_fault(merge_phase, err);
    FM_TRY(fm_fleet_agree(c->comm, ts, err));
    if (fm_fault_nonfinite(r + 1)) /* tests only: FLEET_FAULT="robot,round" poisons that robot */
        st->robot.w[0] = NAN;
cleanup:
    return status;
}

/* Step 2: the round's participants (st->part) are the drawn robots whose parameters and loss are
 * finite; returns how many. Collective (every rank learns every robot's finiteness). */
static int round_select(nn_ctx *c, round_state *st, int r, double loss)
{
    int N = c->size, np = 0, ok_here = model_finite(&st->robot, loss);
    MPI_Allgather(&ok_here, 1, MPI_INT, st->fin, 1, MPI_INT, c->comm);
    round_participants(c, r, st->part, st->scratch);
    for (int i = 0; i < N; i++) {
        if (!st->fin[i] && c->rank == 0)
            fm_logf(stderr, "warning: robot %d left out of round %d: non-finite parameters or loss\n", i, r + 1);
        st->part[i] = st->part[i] && st->fin[i];
        np += st->part[i];
    }
    st->mine[(size_t)r * 3 + 2] = !ok_here;
    return np;
}

/* Round r: train, select, merge, every robot restarts from the merged model, score it (row r of
 * c->rd), checkpoint. */
static fm_status round_run(nn_ctx *c, round_state *st, int r, const char *merge_phase, fm_err *err)
{
    fm_status status = FM_OK;
    double loss = 0, *row = c->rd + (size_t)r * ROUND_COUNT;
    FM_TRY(round_train(c, st, r, merge_phase, &loss, err));
    int np = round_select(c, st, r, loss);
    double before[2] = {st->bytes[0], st->bytes[1]};
    row[ROUND_CHANGED] = 0;
    /* every robot starts round r > 0 from the merged model */
    st->merge.shared_start = c->cfg->fleet.shared_init || r > 0;
    if (np > 0) /* else the merged model stays the previous one: it is never non-finite */
        FM_TRY(round_merge(c, &st->robot, st->part, &st->merge,
                           (uint64_t)c->cfg->experiment.seed + 7919u * (uint64_t)(r + 1), st->bytes,
                           &row[ROUND_CHANGED], err));
    st->mine[(size_t)r * 3] = st->bytes[0] - before[0], st->mine[(size_t)r * 3 + 1] = st->bytes[1] - before[1];
    fm_model_copy(&st->robot, &c->merged[0]);
    if (c->cfg->fleet.reset_optimizer)
        fm_adam_reset(&st->adam);
    row[ROUND_PARTICIPANTS] = np;
    FM_TRY(fm_nn_eval_loss(&c->merged[0], &c->demos, -1, &c->red, &row[ROUND_LOSS], err));
    FM_TRY(round_score(c, &row[ROUND_BALANCE], &row[ROUND_COST], err));
    row[ROUND_SECONDS] = fm_now() - st->t0;
    round_progress(c, r, row);
    st->done = r + 1;
    char after[32];
    snprintf(after, sizeof after, "round %d", r + 1);
    FM_TRY(fnn_ckpt_save(c, after, err));
cleanup:
    return status;
}

/* ---------------- the rounds ---------------- */

/* A model of c->spec holding the parameters w (the fleet's normalization, like every new model). */
static fm_status restore_model(nn_ctx *c, fm_model *m, int shared, const float *w, fm_err *err)
{
    fm_status status = FM_OK;
    FM_TRY(fnn_new_model(c, m, shared, err));
    memcpy(m->w, w, sizeof(float) * m->layout.total);
cleanup:
    return status;
}

/* Collective: the phases every rank restored must be the same (ranks that see different files,
 * node-local or stale caches, must not diverge). */
static fm_status resume_agree(nn_ctx *c, int found, const fm_ckpt_state *cs, fm_err *err)
{
    int mine[4] = {found, found ? cs->done : -1, found && cs->have_pooled, found && cs->have_ts}, lo[4], hi[4];
    MPI_Allreduce(mine, lo, 4, MPI_INT, MPI_MIN, c->comm);
    MPI_Allreduce(mine, hi, 4, MPI_INT, MPI_MAX, c->comm);
    if (memcmp(lo, hi, sizeof lo) != 0)
        return fm_fail(err, FM_EDATA, "%s.ckpt: the ranks see different checkpoints (rounds done from %d to %d): "
                       "is the results directory shared by every node?", c->out_path, lo[1], hi[1]);
    return FM_OK;
}

/* Before local training: the rounds' state, and what <results>.ckpt restores when it exists
 * (--force removes it first): every robot's own policy, the rounds done, the pooled policy and the
 * task-specific scores; the phases restored set c->done_* and are not run again. */
fm_status fnn_rounds_begin(nn_ctx *c, fm_err *err)
{
    fm_status status = FM_OK;
    int R = c->cfg->fleet.rounds, N = c->size, found = 0;
    float *lw = NULL, *pw = NULL;
    double *ts = NULL;
    round_state *st = NULL;
    FM_ALLOC(c->rs, 1);
    st = c->rs;
    fnn_train_opts(c->cfg, &st->train);
    st->train.epochs = c->cfg->fleet.local_epochs;
    fm_fleet_merge_nn_opts(c->cfg, &st->merge);
    c->nmerged = 1;
    FM_ALLOC(c->merged, 1);
    FM_ALLOC(c->merged_loss, 1);
    FM_ALLOC(c->merge_seconds, 1);
    FM_ALLOC(c->mlog, 1);
    FM_ALLOC(st->part, N);
    FM_ALLOC(st->fin, N);
    FM_ALLOC(st->scratch, N);
    FM_ALLOC(c->rd, (size_t)R * ROUND_COUNT);
    FM_ALLOC(st->mine, (size_t)R * 3);
    FM_TRY(fnn_new_model(c, &st->robot, c->cfg->fleet.shared_init, err));
    FM_TRY(fm_model_create(&c->merged[0], &c->spec, err));
    fm_model_copy(&c->merged[0], &st->robot);
    FM_TRY(fm_adam_create(&st->adam, st->robot.layout.total, err));
    size_t P = st->robot.layout.total;
    FM_ALLOC(lw, P);
    FM_ALLOC(pw, P);
    FM_ALLOC(ts, (size_t)c->K * SCORE_COUNT);
    if (c->opts.force && c->rank == 0) { /* --force starts over */
        char ck[1100];
        fnn_ckpt_path(c, ck, sizeof ck);
        remove(ck);
    }
    MPI_Barrier(c->comm);
    fm_ckpt_state cs = {.params = st->robot.w, .adam_m = st->adam.m, .adam_v = st->adam.v, .comm = st->mine,
                        .merged = c->merged[0].w, .rounds = c->rd, .local = lw, .pooled = pw, .ts = ts};
    FM_TRY(fm_fleet_agree(c->comm, ckpt_read(c, st, &cs, &found, err), err));
    FM_TRY(fm_fleet_agree(c->comm, resume_agree(c, found, &cs, err), err));
    FM_CHECK(!c->opts.resume || found, FM_EINVAL, "--resume: no checkpoint %s.ckpt to continue from", c->out_path);
    if (!found)
        goto cleanup;
    st->done = cs.done;
    FM_TRY(restore_model(c, &c->local, c->cfg->fleet.shared_init, lw, err));
    c->local_loss = cs.local_fit[0], c->local_steps = (long)cs.local_fit[1], c->done_local = 1;
    if (cs.have_pooled) {
        FM_TRY(restore_model(c, &c->pooled, 1, pw, err));
        c->pooled_loss = cs.pooled_fit[0], c->pooled_steps = (long)cs.pooled_fit[1], c->done_pooled = 1;
    }
    if (cs.have_ts) {
        c->ts_scores = ts, ts = NULL;
        c->done_ts = 1;
    }
    if (c->rank == 0 && !c->opts.quiet)
        fm_logf(stdout, "resuming after round %d/%d from the checkpoint (restored: the robots' own policies%s%s)\n",
                st->done, R, c->done_pooled ? ", the pooled policy" : "",
                c->done_ts ? ", the task-specific scores" : "");
cleanup:
    free(lw), free(pw), free(ts);
    return status;
}

void fnn_rounds_free(nn_ctx *c)
{
    round_state *st = c->rs;
    if (!st)
        return;
    fm_model_free(&st->robot);
    fm_adam_free(&st->adam);
    free(st->part), free(st->fin), free(st->scratch), free(st->mine);
    free(st);
    c->rs = NULL;
}

/* R rounds (after fnn_rounds_begin and local training): every robot trains M local epochs on its
 * own data, the round's participants are merged with merge.methods[0], every robot restarts from
 * the merged model. A robot whose parameters or loss are not finite is left out of that round's
 * merge (recorded, warned). Leaves c->merged[0] (its BC loss, the rounds' wall time), c->rd and
 * c->rd_bytes. */
fm_status fnn_rounds(nn_ctx *c, fm_err *err)
{
    fm_status status = FM_OK;
    int R = c->cfg->fleet.rounds, N = c->size;
    round_state *st = c->rs;
    st->t0 = fm_now();
    if (st->done == 0) /* the local baselines are finished: a restart begins at round 1 */
        FM_TRY(fnn_ckpt_save(c, "round 0", err));
    char merge_phase[96];
    snprintf(merge_phase, sizeof merge_phase, "merge:%s", fnn_method_name(c, 0));
    for (int r = st->done; r < R; r++)
        FM_TRY(round_run(c, st, r, merge_phase, err));
    c->merged_loss[0] = c->rd[(size_t)(R - 1) * ROUND_COUNT + ROUND_LOSS];
    c->merge_seconds[0] = fm_now() - st->t0;
    FM_ALLOC(c->rd_bytes, (size_t)N * R * 3); /* every robot's [bytes sent, received, excluded] */
    memcpy(c->rd_bytes + (size_t)c->rank * R * 3, st->mine, sizeof(double) * R * 3);
    FM_TRY(fm_reduce_sum(&c->red, c->rd_bytes, N * R * 3, err));
cleanup:
    return status;
}
