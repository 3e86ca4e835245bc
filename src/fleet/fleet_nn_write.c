/* fleet_nn_write.c - the results file of a neural run (docs/schema.md, "Results file of neural
 * runs": /fleet, /system, /models, /merge, /eval, /barrier, /rounds, /timing; collective writes) and
 * the summary table rank 0 prints at the end. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/fleet_model.h"
#include "fleet/fleet_nn_internal.h"
#include "io/h5io.h"

static const char *ROUND_NAMES[ROUND_COUNT] = {"participants", "merged_bc_loss", "merged_balance",
                                               "merged_cost", "assignments_changed", "elapsed_seconds"};

/* ---------------- the results file ---------------- */

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
    double mine[5] = {c->demos.n_traj, (double)fm_demos_bytes(&c->demos),
                      (double)(c->local.layout.total * sizeof(float)), c->local_loss, (double)c->local_steps};
    double *all = NULL, *tasks = NULL;
    FM_ALLOC(all, 5 * N);
    FM_ALLOC(tasks, 4 * K);
    memcpy(all + 5 * c->rank, mine, sizeof mine);
    FM_TRY(fm_reduce_sum(&c->red, all, 5 * N, err));
    FM_TRY(fm_h5_write_rows_f64(h, "/fleet/mixture", 1, (int64_t[1]){K}, c->mixture, err));
    FM_TRY(fm_h5_write_f64(h, "/fleet/robot_stats", 2, (int64_t[2]){N, 5}, all, err));
    FM_TRY(fm_h5_attr_text(h, "/fleet/robot_stats", "columns",
                           "num_demos,data_bytes,model_bytes,local_bc_loss,train_steps", err));
    FM_TRY(fm_h5_attr_f64(h, "/fleet", "pooled_bc_loss", c->pooled_loss, err));
    FM_TRY(fm_h5_attr_i64(h, "/fleet", "pooled_train_steps", c->pooled_steps, err));
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
    } else if (c->multitask) { /* the task table's entries (docs/multitask.md) */
        char names[FM_MT_NTASK * 24] = "";
        for (int t = 0; t < K; t++) {
            tasks[t] = t;
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", t ? "," : "", fm_mt_task_name(t));
        }
        FM_TRY(fm_h5_write_f64(h, "/system/tasks", 2, (int64_t[2]){K, 1}, tasks, err));
        FM_TRY(fm_h5_attr_text(h, "/system/tasks", "columns", "task_index", err));
        FM_TRY(fm_h5_attr_text(h, "/system/tasks", "names", names, err));
    } else if (c->supervised && c->cls.text) { /* the groups of documents, their test windows, the vocabulary */
        for (int t = 0; t < K; t++) {
            double row[4] = {t, c->cls.start[t + 1] - c->cls.start[t], (double)c->cls.group_start[t],
                             (double)(c->cls.group_start[t + 1] - c->cls.group_start[t])};
            memcpy(tasks + 4 * t, row, sizeof row);
        }
        FM_TRY(fm_h5_write_f64(h, "/system/tasks", 2, (int64_t[2]){K, 4}, tasks, err));
        FM_TRY(fm_h5_attr_text(h, "/system/tasks", "columns", "task,test_windows,first_char,chars", err));
        FM_TRY(fm_h5_attr_text(h, "/system/tasks", "data", c->cfg->env.sv_data, err));
        char vocab[257] = "";
        for (int k = 0; k < c->cls.nout; k++)
            vocab[k] = (char)c->cls.byte_of[k];
        FM_TRY(fm_h5_attr_text(h, "/system/tasks", "vocabulary", vocab, err));
    } else if (c->supervised) { /* the classes, and the test examples of each */
        for (int t = 0; t < K; t++)
            tasks[2 * t] = t, tasks[2 * t + 1] = c->cls.start[t + 1] - c->cls.start[t];
        FM_TRY(fm_h5_write_f64(h, "/system/tasks", 2, (int64_t[2]){K, 2}, tasks, err));
        FM_TRY(fm_h5_attr_text(h, "/system/tasks", "columns", "class,test_examples", err));
        FM_TRY(fm_h5_attr_text(h, "/system/tasks", "data", c->cfg->env.sv_data, err));
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
            snprintf(path, sizeof path, "/barrier/%s/%s", fnn_method_name(c, j), cols[q]);
            FM_TRY(fm_h5_write_f64(h, path, 1, (int64_t[1]){npts}, v, err));
        }
        double lb, bb;
        fnn_barrier_values(rows, npts, &lb, &bb);
        snprintf(path, sizeof path, "/barrier/%s", fnn_method_name(c, j));
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

/* /eval/heldout_bc_loss [N, 1 + npol]: each robot's held-out BC loss of its own policy and of
 * every scored policy (eval.val_demos > 0 only). */
static fm_status write_heldout(nn_ctx *c, fm_h5 *h, fm_err *err)
{
    fm_status status = FM_OK;
    char *cols = NULL;
    if (!c->heldout)
        goto cleanup;
    size_t cap = 16;
    for (int j = 0; j < c->npol; j++)
        cap += strlen(fnn_policy_name(c, j)) + 1;
    FM_ALLOC(cols, cap);
    size_t k = (size_t)snprintf(cols, cap, "local");
    for (int j = 0; j < c->npol; j++)
        k += (size_t)snprintf(cols + k, cap - k, ",%s", fnn_policy_name(c, j));
    FM_TRY(fm_h5_write_f64(h, "/eval/heldout_bc_loss", 2, (int64_t[2]){c->size, 1 + c->npol}, c->heldout, err));
    FM_TRY(fm_h5_attr_text(h, "/eval/heldout_bc_loss", "columns", cols, err));
    FM_TRY(fm_h5_attr_i64(h, "/eval/heldout_bc_loss", "demos_per_robot", c->cfg->eval.val_demos, err));
cleanup:
    free(cols);
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
        snprintf(path, sizeof path, "/models/merged/%s", fnn_method_name(c, j));
        FM_TRY(fm_model_save(h, path, &c->merged[j], err));
        FM_TRY(fm_h5_attr_f64(h, path, "bc_loss", c->merged_loss[j], err));
        if (!c->rd) { /* rounds keep their per-round diagnostics and traffic under /rounds */
            FM_TRY(write_merge_log(h, fnn_method_name(c, j), &c->mlog[j], err));
            snprintf(path, sizeof path, "/merge/%s/bytes_sent", fnn_method_name(c, j));
            FM_TRY(fm_h5_write_f64(h, path, 1, (int64_t[1]){c->size}, c->merge_sent + (size_t)j * c->size, err));
        }
    }
    for (int j = 0; j < c->npol; j++)
        FM_TRY(write_scores(c, h, fnn_policy_name(c, j), c->scores + (size_t)j * K * SCORE_COUNT, 1, K, err));
    if (c->ts_scores)
        FM_TRY(write_scores(c, h, "task_specific", c->ts_scores, 1, K, err));
    FM_TRY(write_scores(c, h, "local", c->all_local, c->size, K, err));
    FM_TRY(write_heldout(c, h, err));
cleanup:
    return status;
}

fm_status fnn_write(nn_ctx *c, fm_err *err)
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
        fnn_ckpt_path(c, ck, sizeof ck);
        remove(ck);
    }
cleanup:
    if (h)
        fm_h5_close(h, 0, err);
    return status;
}

/* ---------------- the summary table ---------------- */

/* Fleet mean of column col of c->heldout (NaN without held-out data). */
static double heldout_mean(const nn_ctx *c, int col)
{
    if (!c->heldout)
        return NAN;
    double m = 0;
    for (int i = 0; i < c->size; i++)
        m += c->heldout[(size_t)i * (1 + c->npol) + col] / c->size;
    return m;
}

static void print_row(const char *name, const double *s, int K, int stride, double loss, double heldout)
{
    double bal = 0, worst = 1, sp = 0, cost = 0;
    for (int h = 0; h < K; h++) {
        const double *v = s + (size_t)h * stride;
        bal += v[SCORE_BALANCE] / K, sp += v[SCORE_SETPOINT] / K, cost += v[SCORE_COST] / K;
        worst = fmin(worst, v[SCORE_BALANCE]);
    }
    printf("  %-28s %8.1f%% %8.1f%% %9.1f%% %10.3g", name, 100 * bal, 100 * worst, 100 * sp, cost);
    if (isnan(loss) && isnan(heldout))
        printf("\n");
    else if (isnan(heldout))
        printf(" %10.4g\n", loss);
    else
        printf(" %10.4g %10.4g\n", loss, heldout);
}

void fnn_summary(const nn_ctx *c)
{
    if (c->rank != 0)
        return;
    int K = c->K, N = c->size, n = K * SCORE_COUNT;
    char conv[96] = ""; /* a cnn's conv part: "conv 16,32 k5 +" */
    for (int j = 0; c->spec.arch == FM_NN_CNN && j < c->spec.nconv; j++)
        snprintf(conv + strlen(conv), sizeof conv - strlen(conv), "%s%d", j ? "," : " conv ", c->spec.conv_channels[j]);
    if (c->spec.arch == FM_NN_CNN)
        snprintf(conv + strlen(conv), sizeof conv - strlen(conv), " k%d +", c->spec.conv_k);
    printf("\n%s: %d robots, %d %s tasks, %s%s %dx%d %s, alpha = %g, %d episodes per task\n",
           c->cfg->experiment.name, N, K, c->tooluse ? "tool-use" : c->multitask ? "MT-10" : c->supervised && c->cls.text ? "next-character" : c->supervised ? "classification" : "cart-pole",
           fm_cfg_enum_name("policy.arch", c->cfg->policy.arch), conv,
           c->cfg->policy.layers, c->cfg->policy.width,
           fm_cfg_enum_name("policy.activation", c->cfg->policy.activation), c->cfg->fleet.alpha,
           c->cfg->eval.rollouts);
    printf("  %-28s %9s %9s %10s %10s %10s%s\n", "policy", c->score_names[0], "worst", c->score_names[1],
           c->score_names[2], "BC loss", c->heldout ? "   held out" : "");
    for (int j = 0; j < c->npol; j++)
        print_row(fnn_policy_name(c, j), c->scores + (size_t)j * n, K, SCORE_COUNT, fnn_policy_loss(c, j),
                  heldout_mean(c, j + 1));
    if (c->ts_scores)
        print_row("task_specific", c->ts_scores, K, SCORE_COUNT, NAN, NAN);
    double *mean = calloc((size_t)n, sizeof *mean);
    for (int i = 0; mean && i < N * n; i++)
        mean[i % n] += c->all_local[i] / N;
    if (mean)
        print_row("local (mean)", mean, K, SCORE_COUNT, c->heldout ? c->local_loss_mean : NAN, heldout_mean(c, 0));
    free(mean);
    printf("  optimizer steps: %ld for robot 0's own policy, %ld for pooled (%s, batches of %d %s)\n",
           c->local_steps, c->pooled_steps, c->cfg->fleet.rounds > 0 ? "fleet.rounds x fleet.local_epochs epochs"
           : c->cfg->train.nn_steps > 0 ? "train.nn_steps" : "train.epochs",
           c->cfg->train.batch_size, fm_cfg_enum_name("train.batch_unit", c->cfg->train.batch_unit));
    if (c->tooluse)
        printf("  success = pin down 1 cm / nut turned 0.4 rad / object lifted 5 cm / halves 5 cm apart, with "
               "tool contact (docs/tooluse.md)\n");
    else if (c->supervised && c->cls.text)
        printf("  tasks = groups of documents; accuracy = the character after a test window of %d is the top logit, "
               "top2 = among the two top logits, xent = its cross-entropy, on eval.rollouts test windows per task "
               "(docs/supervised.md)\n", c->cls.window);
    else if (c->supervised)
        printf("  tasks = classes; accuracy = top logit is the class, top2 = among the two top logits, xent = "
               "cross-entropy, on eval.rollouts test examples per class (docs/supervised.md)\n");
    else if (c->multitask)
        printf("  success = the task's criterion (Meta-World's, docs/multitask.md) met at some step; at_end = met at "
               "the last step; distance = the task's measure at the end\n");
    else
        printf("  balance = pole up and cart on the track for the whole episode (docs/cartpole.md)\n");
    if (c->merge_sent && !c->rd) { /* what one merge cost each robot against the data it kept */
        double data = (double)fm_demos_bytes(&c->demos);
        printf("  bytes a robot sent per merge (mean; its demonstrations: %.3g MB):", data / 1e6);
        for (int j = 0; j < c->nmerged; j++) {
            double sent = 0;
            for (int i = 0; i < N; i++)
                sent += c->merge_sent[(size_t)j * N + i] / N;
            printf(" %s %.3g MB (%.2gx)%s", fnn_method_name(c, j), sent / 1e6, data > 0 ? sent / data : 0.0,
                   j + 1 < c->nmerged ? "," : "\n");
        }
    }
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
        int npts = c->cfg->eval.barrier_points;
        double lb, bb;
        fnn_barrier_values(c->barrier + (size_t)j * npts * 4, npts, &lb, &bb);
        printf("  barrier robots 0-1 after %-16s loss %.4g, %s %.3f\n", fnn_method_name(c, j), lb,
               c->score_names[SCORE_BALANCE], bb);
    }
    printf("results: %s\n", c->out_path);
    fflush(stdout);
}
