/* fleet_nn_eval.c - scoring policies in closed loop: episodes with common random numbers, the
 * policy rows (which global policy row j is: merged, pooled, expert, fine-tuned, scratch), the
 * evaluation of every row and of every robot's own policy, and the loss / performance barriers
 * along the line between robots 0 and 1 after each method's alignment. */
#include <math.h>
#include <stdlib.h>

#include "fleet/fleet_nn_internal.h"

/* ---------------- episodes ---------------- */

static void runner_reset(void *ctx) { fm_nn_runner_reset(ctx); }
static void runner_act(void *ctx, const double *obs, double *action) { fm_nn_runner_act(ctx, obs, action); }

/* Episode e of task h, common random numbers: the same start and noise for every policy. */
void fnn_episode(const nn_ctx *c, int h, int e, fm_nn_runner *run, double *acc)
{
    fm_rng r;
    fm_rng_seed(&r, (uint64_t)c->cfg->experiment.seed, FM_RANK_SHARED,
                FM_STREAM_COUNT + (uint64_t)h * c->cfg->eval.rollouts + e);
    fm_policy_fn pi = {.reset = runner_reset, .act = runner_act, .ctx = run};
    fm_episode_score s;
    if (c->supervised)
        fm_classify_episode(&c->cls, h, e, run ? &pi : NULL, &s);
    else if (c->tooluse)
        fm_tooluse_episode(&c->tu, h, run ? &pi : NULL, &r, &s);
    else if (c->multitask)
        fm_multitask_episode(&c->mt, h, run ? &pi : NULL, &r, &s);
    else
        fm_cartpole_episode(&c->env, h, run ? &pi : NULL, &r, &s);
    acc[SCORE_BALANCE] += s.balanced;
    acc[SCORE_SETPOINT] += s.at_setpoint;
    acc[SCORE_COST] += s.cost;
}

/* ---------------- the policy rows (fleet_nn_internal.h) ---------------- */

nn_policy_row fnn_policy_row(const nn_ctx *c, int j)
{
    int m = c->nmerged;
    if (j < m)
        return (nn_policy_row){.kind = POLICY_MERGED, .index = j};
    if (j == m)
        return (nn_policy_row){.kind = POLICY_POOLED};
    if (j == m + 1)
        return (nn_policy_row){.kind = POLICY_EXPERT};
    int i = j - m - 2; /* c->ft: the fine-tuned merged policies, then scratch */
    return (nn_policy_row){.kind = i < m ? POLICY_FINETUNED : POLICY_SCRATCH, .index = i};
}

const char *fnn_method_name(const nn_ctx *c, int j)
{
    return fm_cfg_enum_name("merge.methods", c->cfg->merge.methods[j]);
}

const fm_model *fnn_policy_model(const nn_ctx *c, int j)
{
    nn_policy_row p = fnn_policy_row(c, j);
    switch (p.kind) {
    case POLICY_MERGED:
        return &c->merged[p.index];
    case POLICY_POOLED:
        return &c->pooled;
    case POLICY_FINETUNED:
    case POLICY_SCRATCH:
        return &c->ft[p.index];
    case POLICY_EXPERT:
    case POLICY_KIND_COUNT:
        break;
    }
    return NULL;
}

const char *fnn_policy_name(const nn_ctx *c, int j)
{
    nn_policy_row p = fnn_policy_row(c, j);
    switch (p.kind) {
    case POLICY_MERGED:
        return fnn_method_name(c, p.index);
    case POLICY_POOLED:
        return "pooled";
    case POLICY_FINETUNED:
    case POLICY_SCRATCH:
        return c->ft_name[p.index]; /* finetuned_<method>, scratch */
    case POLICY_EXPERT:
    case POLICY_KIND_COUNT:
        break;
    }
    return "expert";
}

double fnn_policy_loss(const nn_ctx *c, int j)
{
    nn_policy_row p = fnn_policy_row(c, j);
    switch (p.kind) {
    case POLICY_MERGED:
        return c->merged_loss[p.index];
    case POLICY_POOLED:
        return c->pooled_loss;
    case POLICY_FINETUNED:
    case POLICY_SCRATCH:
        return c->ft_loss[p.index];
    case POLICY_EXPERT:
    case POLICY_KIND_COUNT:
        break;
    }
    return NAN;
}

/* ---------------- evaluation ---------------- */

/* The score buffers and a runner per policy (*run [npol + 1]: global policies, then this robot's;
 * NULL for the expert). Local; the caller frees the runners, also after a failure. */
static fm_status eval_setup(nn_ctx *c, size_t ns, fm_nn_runner ***run, fm_err *err)
{
    fm_status status = FM_OK;
    FM_ALLOC(c->scores, ns);
    FM_ALLOC(c->local_scores, (size_t)c->K * SCORE_COUNT);
    FM_ALLOC(*run, c->npol + 1);
    for (int j = 0; j < c->npol; j++)
        if (fnn_policy_model(c, j))
            FM_TRY(fm_nn_runner_create(fnn_policy_model(c, j), &(*run)[j], err));
    FM_TRY(fm_nn_runner_create(&c->local, &(*run)[c->npol], err));
cleanup:
    return status;
}

/* Global (policy, task, episode) triples are split over ranks and summed; every robot also
 * scores its own policy on every task. Scores become rates and mean costs per task. */
fm_status fnn_evaluate(nn_ctx *c, fm_err *err)
{
    fm_status status = FM_OK;
    int K = c->K, R = c->cfg->eval.rollouts;
    fm_nn_runner **run = NULL;
    c->npol = c->nmerged + 2 + c->nft; /* the policy rows: merged..., pooled, expert, fine-tuned..., scratch */
    size_t ns = (size_t)c->npol * K * SCORE_COUNT;
    fm_status local = eval_setup(c, ns, &run, err);
    FM_TRY(fm_fleet_agree(c->comm, local == FM_OK ? fm_fleet_fault("evaluation", err) : local, err));
    size_t total = (size_t)c->npol * K * R;
    for (size_t q = (size_t)c->rank; q < total; q += (size_t)c->size) {
        int j = (int)(q / ((size_t)K * R)), h = (int)(q / R % K), e = (int)(q % R);
        fnn_episode(c, h, e, run[j], c->scores + ((size_t)j * K + h) * SCORE_COUNT);
    }
    for (int h = 0; h < K; h++)
        for (int e = 0; e < R; e++)
            fnn_episode(c, h, e, run[c->npol], c->local_scores + (size_t)h * SCORE_COUNT);
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

/* ---------------- barriers between robots 0 and 1 (Section 3) ---------------- */

/* Loss and performance along theta_l = (1 - l) theta_0 + l theta_1 for the aligned pair of
 * every method (average = plain interpolation): BC loss over the fleet's data, balance rate and
 * cost over eval.rollouts episodes per task (split over ranks, common random numbers). */
fm_status fnn_barriers(nn_ctx *c, fm_err *err)
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
                fnn_episode(c, q / R, q % R, run, acc);
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
void fnn_barrier_values(const double *rows, int npts, double *loss_b, double *bal_b)
{
    double l0 = rows[1], l1 = rows[(npts - 1) * 4 + 1], t0 = rows[2], t1 = rows[(npts - 1) * 4 + 2];
    *loss_b = -INFINITY, *bal_b = -INFINITY;
    for (int p = 0; p < npts; p++) {
        *loss_b = fmax(*loss_b, rows[p * 4 + 1] - 0.5 * (l0 + l1));
        *bal_b = fmax(*bal_b, 0.5 * (t0 + t1) - rows[p * 4 + 2]);
    }
}

/* Held-out BC loss (Eq. 2.4) of this robot's own policy and of every scored model on this robot's
 * eval.val_demos held-out demonstrations, gathered into c->heldout [N][1 + npol]: under-fitting and
 * over-fitting show per robot (the training loss alone cannot tell them apart). */
fm_status fnn_heldout(nn_ctx *c, fm_err *err)
{
    fm_status status = FM_OK;
    int cols = 1 + c->npol;
    fm_status local = fm_calloc(&c->heldout, (size_t)c->size * cols, sizeof *c->heldout, err);
    FM_TRY(fm_fleet_agree(c->comm, local, err));
    double *mine = c->heldout + (size_t)c->rank * cols;
    for (int j = -1; local == FM_OK && j < c->npol; j++) {
        const fm_model *m = j < 0 ? &c->local : fnn_policy_model(c, j);
        mine[j + 1] = NAN;
        if (m)
            local = fm_nn_eval_loss(m, &c->val, -1, NULL, &mine[j + 1], err);
    }
    FM_TRY(fm_fleet_agree(c->comm, local, err));
    FM_TRY(fm_reduce_sum(&c->red, c->heldout, c->size * cols, err)); /* other ranks' rows are 0 */
    c->local_loss_mean = c->local_loss / c->size;
    FM_TRY(fm_reduce_sum(&c->red, &c->local_loss_mean, 1, err));
cleanup:
    return status;
}
