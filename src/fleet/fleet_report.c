/* fleet_report.c - the results file of `fleet run` (docs/schema.md) and the summary table. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/fleet_common.h"
#include "fleet/fleet_run.h"
#include "io/h5io.h"

static const char *policy_name(const run_ctx *c, int j)
{
    int nm = c->cfg.merge.num_methods;
    if (j < nm)
        return fm_cfg_enum_name("merge.methods", c->cfg.merge.methods[j]);
    return j == nm ? "pooled" : "task_specific";
}

/* Every robot's value at index rank of an N-vector (zeros elsewhere), summed over ranks. */
static fm_status gather_rows(const run_ctx *c, const double *mine, int len, double *all, fm_err *err)
{
    memset(all, 0, sizeof(double) * (size_t)len * c->size);
    memcpy(all + (size_t)c->rank * len, mine, sizeof(double) * len);
    return fm_reduce_sum(&c->red, all, len * c->size, err);
}

static fm_status write_eval(run_ctx *c, fm_h5 *h, fm_err *err)
{
    fm_status status = FM_OK;
    int K = c->env.K, nm = c->cfg.merge.num_methods;
    int64_t dk[1] = {K};
    char path[256];
    double *rel = NULL;
    FM_ALLOC(rel, 2 * K);
    FM_TRY(fm_h5_write_f64(h, "/eval/optimal/cost_exact", 1, dk, c->env.Jopt, err));
    FM_TRY(fm_h5_write_f64(h, "/eval/optimal/cost_rollout", 1, dk, c->opt_roll, err));
    for (int j = 0; j <= nm + 1; j++) { /* task_specific: diagonal of the last K policies */
        for (int h2 = 0; h2 < K; h2++) {
            int jj = j <= nm ? j : nm + 1 + h2;
            rel[h2] = c->ev_exact[(size_t)jj * K + h2];
            rel[K + h2] = c->ev_roll[(size_t)jj * K + h2];
        }
        const char *nm_ = policy_name(c, j);
        snprintf(path, sizeof path, "/eval/%s/cost_exact", nm_);
        FM_TRY(fm_h5_write_f64(h, path, 1, dk, rel, err));
        snprintf(path, sizeof path, "/eval/%s/cost_rollout", nm_);
        FM_TRY(fm_h5_write_f64(h, path, 1, dk, rel + K, err));
        for (int h2 = 0; h2 < K; h2++) {
            rel[h2] /= c->env.Jopt[h2];
            rel[K + h2] /= c->opt_roll[h2];
        }
        snprintf(path, sizeof path, "/eval/%s/rel_exact", nm_);
        FM_TRY(fm_h5_write_f64(h, path, 1, dk, rel, err));
        snprintf(path, sizeof path, "/eval/%s/rel_rollout", nm_);
        FM_TRY(fm_h5_write_f64(h, path, 1, dk, rel + K, err));
    }
    int64_t dnk[2] = {c->size, K};
    FM_TRY(fm_h5_write_f64(h, "/eval/local/cost_exact", 2, dnk, c->all_loc_exact, err));
    FM_TRY(fm_h5_write_f64(h, "/eval/local/cost_rollout", 2, dnk, c->all_loc_roll, err));
    for (int r = 0; r < 2; r++) {
        double *src = r ? c->all_loc_roll : c->all_loc_exact, *ref = r ? c->opt_roll : c->env.Jopt;
        double *tmp = malloc(sizeof(double) * (size_t)c->size * K);
        FM_CHECK(tmp, FM_ENOMEM, "out of memory");
        for (int i = 0; i < c->size * K; i++)
            tmp[i] = src[i] / ref[i % K];
        fm_status st = fm_h5_write_f64(h, r ? "/eval/local/rel_rollout" : "/eval/local/rel_exact",
                                       2, dnk, tmp, err);
        free(tmp);
        FM_TRY(st);
    }
cleanup:
    free(rel);
    return status;
}

static fm_status write_models(run_ctx *c, fm_h5 *h, fm_err *err)
{
    fm_status status = FM_OK;
    int K = c->env.K, nm = c->cfg.merge.num_methods, k = c->dims.k;
    int64_t dp[1] = {(int64_t)c->npar}, dkp[2] = {K, (int64_t)c->npar}, dkk[2] = {k, k};
    char path[256];
    FM_TRY(fm_h5_write_rows_f64(h, "/models/local", 1, dp, c->theta_local, err));
    FM_TRY(fm_h5_write_f64(h, "/models/pooled", 1, dp, c->pooled, err));
    FM_TRY(fm_h5_write_f64(h, "/models/task_specific", 2, dkp, c->task_spec, err));
    FM_TRY(fm_h5_attr_text(h, "/models", "arch", fm_cfg_enum_name("policy.arch", c->dims.arch), err));
    FM_TRY(fm_h5_attr_i64(h, "/models", "hidden_dim", k, err));
    FM_TRY(fm_h5_attr_i64(h, "/models", "obs_dim", c->dims.p, err));
    FM_TRY(fm_h5_attr_i64(h, "/models", "act_dim", c->dims.m, err));
    for (int j = 0; j < nm; j++) {
        const char *name = policy_name(c, j);
        snprintf(path, sizeof path, "/models/merged/%s", name);
        FM_TRY(fm_h5_write_f64(h, path, 1, dp, c->merged + (size_t)j * c->npar, err));
        snprintf(path, sizeof path, "/merge/%s", name);
        if (k > 0) {
            char tp[300];
            snprintf(tp, sizeof tp, "%s/transforms", path);
            FM_TRY(fm_h5_write_rows_f64(h, tp, 2, dkk, c->transforms + (size_t)j * k * k, err));
        } else {
            char tp[300];
            snprintf(tp, sizeof tp, "%s/objective", path);
            FM_TRY(fm_h5_write_f64(h, tp, 1, (int64_t[1]){1}, &c->minfo[j].objective, err));
        }
        FM_TRY(fm_h5_attr_f64(h, path, "objective", c->minfo[j].objective, err));
        FM_TRY(fm_h5_attr_i64(h, path, "iterations", c->minfo[j].iterations, err));
        if (c->cfg.merge.methods[j] == FM_MERGE_LINEAR_GL && k > 0) {
            FM_TRY(fm_h5_attr_i64(h, path, "selected_step", c->minfo[j].selected, err));
            FM_TRY(fm_h5_attr_f64(h, path, "bc_loss", c->minfo[j].bc_loss, err));
        }
    }
cleanup:
    return status;
}

static fm_status write_fleet(run_ctx *c, fm_h5 *h, fm_err *err)
{
    fm_status status = FM_OK;
    int N = c->size, K = c->env.K, n = c->env.n, m = c->env.m, p = c->env.p;
    double mine[5] = {c->demos.n_traj, (double)fm_demos_bytes(&c->demos),
                      (double)(c->npar * sizeof(double)), c->local_loss, c->flipped};
    double *all = NULL;
    FM_ALLOC(all, 5 * N);
    FM_TRY(gather_rows(c, mine, 5, all, err));
    FM_TRY(fm_h5_write_rows_f64(h, "/fleet/mixture", 1, (int64_t[1]){K}, c->mixture, err));
    FM_TRY(fm_h5_write_f64(h, "/fleet/robot_stats", 2, (int64_t[2]){N, 5}, all, err));
    FM_TRY(fm_h5_attr_text(h, "/fleet/robot_stats", "columns",
                           "num_demos,data_bytes,model_bytes,local_bc_loss,sign_flipped", err));
    FM_TRY(fm_h5_write_f64(h, "/fleet/task_count", 1, (int64_t[1]){K}, c->task_count, err));
    FM_TRY(fm_h5_attr_f64(h, "/fleet", "pooled_bc_loss", c->pooled_loss, err));
    FM_TRY(fm_h5_write_f64(h, "/system/A", 2, (int64_t[2]){n, n}, c->env.A, err));
    FM_TRY(fm_h5_write_f64(h, "/system/B", 2, (int64_t[2]){n, m}, c->env.B, err));
    FM_TRY(fm_h5_write_f64(h, "/system/C", 3, (int64_t[3]){K, p, n}, c->env.C, err));
    FM_TRY(fm_h5_write_f64(h, "/system/q", 1, (int64_t[1]){K}, c->env.q, err));
    FM_TRY(fm_h5_write_f64(h, "/system/K_opt", 3, (int64_t[3]){K, m, n}, c->env.Kopt, err));
cleanup:
    free(all);
    return status;
}

/* The local costs of every robot. Local. */
static fm_status results_alloc(run_ctx *c, fm_err *err)
{
    fm_status status = FM_OK;
    FM_ALLOC(c->all_loc_exact, (size_t)c->size * c->env.K);
    FM_ALLOC(c->all_loc_roll, (size_t)c->size * c->env.K);
cleanup:
    return status;
}

/* Local steps agree before the file is created; a rank that fails between two collective writes
 * gives the file up (fm_h5_close with commit 0), which ends the job (io/h5io.h). */
fm_status fm_run_write_results(run_ctx *c, fm_err *err)
{
    fm_status status = FM_OK;
    fm_h5 *h = NULL;
    int K = c->env.K;
    fm_status local = results_alloc(c, err);
    if (local == FM_OK)
        local = fm_fleet_fault("results", err);
    FM_TRY(fm_fleet_agree(c->comm, local, err));
    FM_TRY(gather_rows(c, c->loc_exact, K, c->all_loc_exact, err));
    FM_TRY(gather_rows(c, c->loc_roll, K, c->all_loc_roll, err));
    FM_TRY(fm_h5_create(c->comm, c->out_path, &h, err));
    FM_TRY(fm_fleet_write_header(h, &c->cfg, c->size, K, err));
    FM_TRY(fm_fleet_fault("collective_write", err)); /* tests: one rank leaves between two writes */
    FM_TRY(write_fleet(c, h, err));
    FM_TRY(write_models(c, h, err));
    FM_TRY(write_eval(c, h, err));
    FM_TRY(fm_fleet_write_timing(h, c->comm, c->t_phase, c->cfg.merge.num_methods, c->t_merge, err));
    fm_status st = fm_h5_close(h, 1, err);
    h = NULL;
    FM_TRY(st);
cleanup:
    if (h)
        fm_h5_close(h, 0, err);
    return status;
}

/* Mean over tasks of cost / optimal; INFINITY if any task is unstable. */
static double mean_rel(const double *cost, const double *ref, int K, int stride, int *unstable,
                       double *worst)
{
    double s = 0.0;
    int used = 0;
    *worst = 0.0;
    for (int h = 0; h < K; h++) {
        double v = cost[(size_t)h * stride];
        if (isnan(v))
            continue;
        v /= ref[h];
        if (!isfinite(v))
            (*unstable)++;
        s += v, used++;
        *worst = fmax(*worst, v);
    }
    return used ? s / used : NAN;
}

static void print_row(const char *name, double exact, double worst, int unstable, int total,
                      double roll)
{
    char ex[32], wo[32];
    if (isfinite(exact))
        snprintf(ex, sizeof ex, "%10.4f", exact);
    else
        snprintf(ex, sizeof ex, "%10s", isnan(exact) ? "n/a" : "unstable");
    if (isfinite(worst))
        snprintf(wo, sizeof wo, "%10.4f", worst);
    else
        snprintf(wo, sizeof wo, "%10s", "inf");
    printf("  %-16s %s %s %6d/%-4d %12.4g\n", name, ex, wo, unstable, total, roll);
}

void fm_run_print_summary(const run_ctx *c)
{
    if (c->rank != 0)
        return;
    int K = c->env.K, nm = c->cfg.merge.num_methods, N = c->size;
    printf("\n%s: %d robots, %d tasks, %s policies, alpha = %g, %s\n", c->cfg.experiment.name, N, K,
           fm_cfg_enum_name("policy.arch", c->dims.arch), c->cfg.fleet.alpha,
           c->env.full_state ? "LQR (y = x)" : "LQG (y = C x + v)");
    printf("  closed-loop cost / optimal cost (1 = optimal; exact from Lyapunov, mean over tasks)\n");
    printf("  %-16s %10s %10s %11s %12s\n", "policy", "mean", "worst", "unstable", "rollout");
    for (int j = 0; j <= nm + 1; j++) {
        int un = 0, unr = 0;
        double worst = 0.0, wr = 0.0, ex, ro;
        if (j <= nm) {
            ex = mean_rel(c->ev_exact + (size_t)j * K, c->env.Jopt, K, 1, &un, &worst);
            ro = mean_rel(c->ev_roll + (size_t)j * K, c->opt_roll, K, 1, &unr, &wr);
        } else { /* task-specific: diagonal */
            ex = mean_rel(c->ev_exact + (size_t)(nm + 1) * K, c->env.Jopt, K, K + 1, &un, &worst);
            ro = mean_rel(c->ev_roll + (size_t)(nm + 1) * K, c->opt_roll, K, K + 1, &unr, &wr);
        }
        print_row(policy_name(c, j), ex, worst, un, K, ro);
    }
    double se = 0.0, sr = 0.0, worst = 0.0;
    int un = 0;
    for (int i = 0; i < N; i++) {
        int u = 0, ur = 0;
        double w = 0.0, wr = 0.0;
        se += mean_rel(c->all_loc_exact + (size_t)i * K, c->env.Jopt, K, 1, &u, &w) / N;
        sr += mean_rel(c->all_loc_roll + (size_t)i * K, c->opt_roll, K, 1, &ur, &wr) / N;
        un += u;
        worst = fmax(worst, w);
    }
    print_row("local (mean)", se, worst, un, N * K, sr);
    double data = (double)fm_demos_bytes(&c->demos), model = (double)(c->npar * sizeof(double));
    printf("  robot 0 holds %.0f bytes of demonstrations; a policy is %.0f bytes\n", data, model);
    printf("results: %s\n", c->out_path);
    fflush(stdout);
}
