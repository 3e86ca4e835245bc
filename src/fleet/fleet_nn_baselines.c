/* fleet_nn_baselines.c - the reference policies the merges are compared with: pooled training
 * (data-parallel on every robot's data, what centralizing the data would give, no data moved),
 * the warm start (every merged policy and a scratch policy fine-tuned on a small held-out set) and
 * the task-specific references (one policy per task, data-parallel on that task's trajectories). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/fleet_nn_internal.h"

/* ---------------- pooled training ---------------- */

/* c->pooled from the shared initialization, trained with a gradient allreduce every step over
 * every robot's data; c->pooled_loss its BC loss over the fleet's data. */
fm_status fnn_pooled(nn_ctx *c, fm_err *err)
{
    fm_status status = FM_OK;
    fm_nn_train_opts o;
    fm_rng r;
    if (c->done_pooled) /* restored from the checkpoint */
        goto cleanup;
    fnn_train_opts(c->cfg, &o);
    FM_TRY(fm_fleet_agree(c->comm, fm_fleet_fault("pooled", err), err));
    FM_TRY(fnn_new_model(c, &c->pooled, 1, err));
    fm_rng_seed(&r, (uint64_t)c->cfg->experiment.seed, (uint64_t)c->rank, FM_STREAM_TRAIN + 100);
    FM_TRY(fm_fleet_agree_phase(c->comm, fm_nn_train(&c->pooled, &c->demos, &o, &c->red, &r, &c->pooled_loss, err),
                                err));
    FM_TRY(fm_nn_train_steps(&c->demos, &o, &c->red, &c->pooled_steps, err));
    c->done_pooled = 1;
    if (c->rs) /* a rounds run: a restart does not train it again */
        FM_TRY(fnn_ckpt_save(c, "pooled", err));
cleanup:
    return status;
}

/* ---------------- warm start (Figure 3 c analog) ---------------- */

/* Every merged policy, and a policy from the shared initialization ("scratch"), trained for
 * eval.finetune_epochs epochs on the same small held-out set of eval.finetune_demos expert
 * trajectories (tasks in turn, a stream no robot uses). Every rank computes the same models. */
fm_status fnn_finetune(nn_ctx *c, fm_err *err)
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
        local = fnn_env_generate(c, tasks, n, &r, &held, NULL, err);
    FM_TRY(fm_fleet_agree(c->comm, local, err)); /* before fnn_new_model's collective */
    fnn_train_opts(c->cfg, &o);
    o.epochs = c->cfg->eval.finetune_epochs;
    o.steps = 0;
    c->nft = c->nmerged + 1;
    FM_ALLOC(c->ft, c->nft);
    FM_ALLOC(c->ft_loss, c->nft);
    FM_ALLOC(c->ft_name, c->nft);
    for (int j = 0; j < c->nft; j++) {
        if (j < c->nmerged) {
            FM_TRY(fm_model_create(&c->ft[j], &c->spec, err));
            fm_model_copy(&c->ft[j], &c->merged[j]);
            snprintf(c->ft_name[j], sizeof c->ft_name[j], "finetuned_%s", fnn_method_name(c, j));
        } else {
            FM_TRY(fnn_new_model(c, &c->ft[j], 1, err));
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
fm_status fnn_task_specific(nn_ctx *c, fm_err *err)
{
    fm_status status = FM_OK;
    int K = c->K, R = c->cfg->eval.rollouts;
    fm_demos sub = {0};
    fm_model m = {0};
    fm_nn_runner *run = NULL;
    fm_nn_train_opts o;
    if (c->done_ts) /* restored from the checkpoint */
        goto cleanup;
    fnn_train_opts(c->cfg, &o);
    fm_status local = fm_calloc(&c->ts_scores, (size_t)K * SCORE_COUNT, sizeof *c->ts_scores, err);
    FM_TRY(fm_fleet_agree(c->comm, local == FM_OK ? fm_fleet_fault("task_specific", err) : local, err));
    for (int h = 0; h < K; h++) {
        double cnt = 0, loss = 0, acc[SCORE_COUNT] = {0};
        FM_TRY(fm_fleet_agree(c->comm, task_subset(&c->demos, h, &sub, err), err));
        cnt = sub.n_traj;
        FM_TRY(fm_reduce_sum(&c->red, &cnt, 1, err));
        if (cnt > 0) {
            fm_rng r;
            FM_TRY(fnn_new_model(c, &m, 1, err));
            fm_rng_seed(&r, (uint64_t)c->cfg->experiment.seed, (uint64_t)c->rank, FM_STREAM_TRAIN + 300 + (uint64_t)h);
            FM_TRY(fm_fleet_agree_phase(c->comm, fm_nn_train(&m, &sub, &o, &c->red, &r, &loss, err), err));
            FM_TRY(fm_fleet_agree(c->comm, fm_nn_runner_create(&m, &run, err), err));
            for (int e = c->rank; e < R; e += c->size)
                fnn_episode(c, h, e, run, acc);
            fm_nn_runner_free(run);
            run = NULL;
            fm_model_free(&m);
        }
        FM_TRY(fm_reduce_sum(&c->red, acc, SCORE_COUNT, err));
        for (int q = 0; q < SCORE_COUNT; q++)
            c->ts_scores[(size_t)h * SCORE_COUNT + q] = cnt > 0 ? acc[q] / R : NAN;
        fm_demos_free(&sub);
    }
    c->done_ts = 1;
    if (c->rs) /* a rounds run: a restart does not compute them again */
        FM_TRY(fnn_ckpt_save(c, "task_specific", err));
cleanup:
    fm_nn_runner_free(run);
    fm_model_free(&m);
    fm_demos_free(&sub);
    return status;
}
