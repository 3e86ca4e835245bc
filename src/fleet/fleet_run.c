/* fleet_run.c - `fleet run` and `fleet gen`: the flow of one linear-control experiment.
 *   1. rank 0 parses the config, broadcasts it      4. merges (collectives)
 *   2. each robot builds or reads its own data      5. baselines: pooled, task-specific
 *   3. each robot trains its own policy             6. evaluation, results file, summary */
#define _POSIX_C_SOURCE 200809L
#include "fleet/fleet_run.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/file.h>
#include <time.h>
#include <errno.h>

#include "fleet/fleet_common.h"
#include "fleet/fleet_pooled.h"
#include "io/h5io.h"

static void progress(const run_ctx *c, const char *what)
{
    fm_fleet_progress(c->rank, c->opts.quiet, c->t_start, what);
}

static fm_status setup(run_ctx *c, fm_err *err)
{
    fm_status status = FM_OK;
    const fm_config *cfg = &c->cfg;
    FM_TRY(fm_fleet_output(c->comm, cfg, &c->opts, c->out_path, sizeof c->out_path, err));
    FM_TRY(fm_fleet_agree(c->comm, fm_lqg_build(cfg, &c->env, err), err));
    c->dims = (fm_lindims){.arch = cfg->policy.arch, .p = c->env.p, .m = c->env.m,
                           .k = cfg->policy.hidden_dim > 0 ? cfg->policy.hidden_dim : c->env.n};
    if (c->dims.arch == FM_ARCH_STATIC_LINEAR)
        c->dims.k = 0;
    c->npar = fm_lin_size(&c->dims);
    c->red = fm_reducer_mpi(&c->rctx, c->comm);
cleanup:
    return status;
}

/* Robot data: Dirichlet mixture + expert demos on this rank, or this rank's shard of a file. */
static fm_status build_data(run_ctx *c, fm_err *err)
{
    fm_status status = FM_OK;
    const fm_config *cfg = &c->cfg;
    int K = c->env.K;
    int *tasks = NULL;
    fm_status local = FM_OK;
    if (cfg->fleet.data[0]) {
        fm_demos_meta meta = {0};
        FM_TRY(fm_h5_read_demos(c->comm, cfg->fleet.data, &meta, &c->demos, &c->mixture, err));
        if (c->demos.n_traj == 0) /* training on nothing would "succeed" with an untrained policy */
            local = fm_fail(err, FM_EDATA, "%s: robot %d has no demonstrations (an empty shard in /demos/robot_offsets)",
                            cfg->fleet.data, c->rank);
        else if (meta.num_tasks != K || c->demos.obs_dim != c->env.p || c->demos.act_dim != c->env.m)
            local = fm_fail(err, FM_EDATA,
                            "%s: demonstrations have %d tasks, obs dim %d, action dim %d but the "
                            "config's environment has %d tasks, obs dim %d, action dim %d",
                            cfg->fleet.data, meta.num_tasks, c->demos.obs_dim, c->demos.act_dim, K,
                            c->env.p, c->env.m);
        if (local == FM_OK)
            local = fm_fleet_fault("data", err);
        FM_TRY(fm_fleet_agree(c->comm, local, err));
        goto cleanup;
    }
    FM_ALLOC(c->mixture, K);
    FM_ALLOC(tasks, cfg->fleet.demos_per_robot);
    fm_rng rdata;
    fm_rng_seed(&rdata, (uint64_t)cfg->experiment.seed, (uint64_t)c->rank, FM_STREAM_DATA);
    fm_fleet_draw_tasks(cfg, c->rank, K, c->mixture, tasks);
    local = fm_fleet_fault("data", err);
    if (local == FM_OK)
        local = fm_lqg_generate(&c->env, tasks, cfg->fleet.demos_per_robot, &rdata, &c->demos, err);
    FM_TRY(fm_fleet_agree(c->comm, local, err));
cleanup:
    free(tasks);
    return status;
}

/* Initial parameters: from this robot's own stream, or one shared stream (shared_init). */
static void init_params(const run_ctx *c, int shared, double *theta)
{
    fm_rng r;
    uint64_t who = shared ? FM_RANK_SHARED : (uint64_t)c->rank;
    fm_rng_seed(&r, (uint64_t)c->cfg.experiment.seed, who, FM_STREAM_INIT);
    fm_lin_init(&c->dims, c->cfg.policy.init_scale, &r, theta);
}

/* Train a policy on the selected data (task < 0: all); red NULL = this robot only. */
static fm_status fit(run_ctx *c, double *theta, int task, const fm_reducer *red, double *loss,
                     fm_err *err)
{
    if (c->dims.arch == FM_ARCH_STATIC_LINEAR && red && c->cfg.train.pooled_ls == FM_POOLED_SCALAPACK)
        return fm_pooled_static_scalapack(c->comm, c->dims.p, c->dims.m, &c->demos, task,
                                          c->cfg.train.ridge, theta, loss, err);
    if (c->dims.arch == FM_ARCH_STATIC_LINEAR)
        return fm_lin_fit_static(&c->dims, theta, &c->demos, task, c->cfg.train.ridge, red, loss, err);
    return fm_lin_train(&c->dims, theta, &c->demos, task, &c->cfg, red, loss, err);
}

/* Robots chosen for the disconnected-components study store their policy as (A, -B, -C),
 * i.e. T = -I of Eq. G.9 (App. G.6.2): robot i iff floor((i+1) f) > floor(i f). */
static int is_flipped(const run_ctx *c)
{
    double f = c->cfg.fleet.sign_flip_fraction;
    return c->dims.arch == FM_ARCH_DYNAMIC_LINEAR && floor((c->rank + 1) * f) > floor(c->rank * f);
}

/* fleet.local_policy: expert (an oracle row): the robot's local policy is the exact expert
 * controller of the task most of its demonstrations show (its only task with fleet.partition:
 * one_task), in the policy class's own layout: (A, B, C) = ((I - L C)(A + B K), L, K) for LQG
 * (Eq. G.7), K for LQR. */
static fm_status expert_local(run_ctx *c, fm_err *err)
{
    fm_status status = FM_OK;
    int K = c->env.K, best = 0, *count = NULL;
    const fm_lindims *d = &c->dims;
    FM_ALLOC(count, K);
    for (int i = 0; i < c->demos.n_traj; i++)
        count[c->demos.task[i]]++;
    for (int h = 1; h < K; h++)
        best = count[h] > count[best] ? h : best;
    fm_lqg_policy pi = fm_lqg_expert(&c->env, best);
    FM_CHECK(pi.k == d->k && (d->arch == FM_ARCH_STATIC_LINEAR) == (pi.k == 0), FM_ECONFIG,
             "fleet.local_policy: expert: the experts of this system are %s (state dimension %d) but "
             "policy.arch is %s with hidden dimension %d; use %s",
             pi.k ? "dynamic (LQG)" : "static (LQR)", pi.k, fm_cfg_enum_name("policy.arch", d->arch), d->k,
             pi.k ? "policy.arch: dynamic_linear with policy.hidden_dim: 0" : "policy.arch: static_linear");
    if (pi.k) {
        memcpy(c->theta_local, pi.Ap, sizeof(double) * d->k * d->k);
        memcpy(fm_lin_B(d, c->theta_local), pi.Bp, sizeof(double) * d->k * d->p);
        memcpy(fm_lin_B(d, c->theta_local) + d->k * d->p, pi.Cp, sizeof(double) * d->m * d->k);
    } else {
        memcpy(c->theta_local, pi.Cp, sizeof(double) * d->m * d->p);
    }
    double *work = NULL, steps = 0.0;
    FM_ALLOC(work, fm_lin_work_size(d, &c->demos));
    double sum = fm_lin_loss_grad(d, c->theta_local, &c->demos, -1, NULL, work, &steps);
    free(work);
    c->local_loss = steps > 0.0 ? sum / steps : NAN; /* BC loss of the expert on its own labels */
cleanup:
    free(count);
    return status;
}

static fm_status train_local(run_ctx *c, fm_err *err)
{
    fm_status status = FM_OK;
    fm_status local = fm_calloc(&c->theta_local, c->npar, sizeof *c->theta_local, err);
    if (local == FM_OK)
        local = fm_fleet_fault("training", err);
    if (local == FM_OK && c->cfg.fleet.local_policy == FM_LOCAL_EXPERT) {
        local = expert_local(c, err);
    } else if (local == FM_OK) {
        init_params(c, c->cfg.fleet.shared_init, c->theta_local);
        local = fit(c, c->theta_local, -1, NULL, &c->local_loss, err);
    }
    FM_TRY(fm_fleet_agree(c->comm, local, err));
    c->flipped = is_flipped(c);
    if (c->flipped) {
        int k = c->dims.k;
        double *B = fm_lin_B(&c->dims, c->theta_local);
        for (size_t j = 0; j < (size_t)k * c->dims.p + (size_t)c->dims.m * k; j++)
            B[j] = -B[j]; /* B and C are contiguous after A */
    }
cleanup:
    return status;
}

/* The merges' output buffers. Local. */
static fm_status merge_alloc(run_ctx *c, fm_err *err)
{
    fm_status status = FM_OK;
    int nm = c->cfg.merge.num_methods, kk = c->dims.k * c->dims.k;
    FM_ALLOC(c->merged, (size_t)nm * c->npar);
    FM_ALLOC(c->transforms, (size_t)nm * (kk ? kk : 1));
    FM_ALLOC(c->minfo, nm);
    FM_ALLOC(c->t_merge, nm);
cleanup:
    return status;
}

/* Every merge method in turn. A rank that cannot start a merge says so before its collectives
 * begin; a merge that fails on some ranks ends on all of them (fm_fleet_agree_phase). */
static fm_status merge_all(run_ctx *c, fm_err *err)
{
    fm_status status = FM_OK;
    int nm = c->cfg.merge.num_methods, kk = c->dims.k * c->dims.k;
    FM_TRY(fm_fleet_agree(c->comm, merge_alloc(c, err), err));
    for (int j = 0; j < nm; j++) {
        double t0 = fm_now();
        int method = c->cfg.merge.methods[j];
        char phase[96];
        snprintf(phase, sizeof phase, "merge %s", fm_cfg_enum_name("merge.methods", method));
        progress(c, phase);
        phase[5] = ':'; /* the fault-injection point: "merge:<method>" */
        FM_TRY(fm_fleet_agree(c->comm, fm_fleet_fault(phase, err), err));
        fm_status local = fm_merge_linear_data(method, &c->dims, c->theta_local, &c->demos, &c->cfg, &c->red,
                                          c->merged + (size_t)j * c->npar,
                                          kk ? c->transforms + (size_t)j * kk : NULL, &c->minfo[j], err);
        FM_TRY(fm_fleet_agree_phase(c->comm, local, err));
        c->t_merge[j] = fm_now() - t0;
    }
cleanup:
    return status;
}

/* Pooled training over all robots' data (normal equations or gradients summed across ranks:
 * no data moves) and task-specific policies (pooled over the trajectories of one task). */
/* The baselines' buffers. Local. */
static fm_status baselines_alloc(run_ctx *c, fm_err *err)
{
    fm_status status = FM_OK;
    int K = c->env.K;
    FM_ALLOC(c->pooled, c->npar);
    FM_ALLOC(c->task_spec, (size_t)K * c->npar);
    FM_ALLOC(c->task_ok, K);
    FM_ALLOC(c->task_count, K);
cleanup:
    return status;
}

static fm_status baselines(run_ctx *c, fm_err *err)
{
    fm_status status = FM_OK;
    int K = c->env.K;
    fm_status local = baselines_alloc(c, err);
    if (local == FM_OK)
        local = fm_fleet_fault("pooled", err);
    FM_TRY(fm_fleet_agree(c->comm, local, err));
    init_params(c, 1, c->pooled);
    progress(c, "pooled training");
    FM_TRY(fm_fleet_agree_phase(c->comm, fit(c, c->pooled, -1, &c->red, &c->pooled_loss, err), err));
    for (int i = 0; i < c->demos.n_traj; i++)
        c->task_count[c->demos.task[i]] += 1.0;
    FM_TRY(fm_reduce_sum(&c->red, c->task_count, K, err));
    progress(c, "task-specific training");
    FM_TRY(fm_fleet_agree(c->comm, fm_fleet_fault("task_specific", err), err));
    for (int h = 0; h < K; h++) {
        double loss = 0.0, *th = c->task_spec + (size_t)h * c->npar;
        init_params(c, 1, th);
        c->task_ok[h] = c->task_count[h] > 0.0; /* the same on every rank (a sum over the fleet) */
        if (c->task_ok[h])
            FM_TRY(fm_fleet_agree_phase(c->comm, fit(c, th, h, &c->red, &loss, err), err));
        else
            for (size_t j = 0; j < c->npar; j++)
                th[j] = NAN; /* no robot has data of this task */
    }
cleanup:
    return status;
}

/* Parameters of global policy j: merged methods, pooled, task-specific. */
static const double *global_policy(const run_ctx *c, int j)
{
    int nm = c->cfg.merge.num_methods;
    if (j < nm)
        return c->merged + (size_t)j * c->npar;
    if (j == nm)
        return c->pooled;
    return c->task_spec + (size_t)(j - nm - 1) * c->npar;
}

static fm_lqg_policy as_env_policy(const fm_lindims *d, const double *th)
{
    if (d->arch == FM_ARCH_STATIC_LINEAR)
        return (fm_lqg_policy){.k = 0, .Cp = th};
    return (fm_lqg_policy){.k = d->k, .Ap = th, .Bp = th + d->k * d->k,
                           .Cp = th + d->k * d->k + d->k * d->p};
}

static fm_status eval_one(const run_ctx *c, const double *th, int h, double *exact, double *roll,
                          fm_err *err)
{
    fm_status status = FM_OK;
    fm_lqg_policy pi = as_env_policy(&c->dims, th);
    int stable = 0, T = c->cfg.eval.horizon > 0 ? c->cfg.eval.horizon : c->env.horizon;
    FM_TRY(fm_lqg_cost(&c->env, h, &pi, exact, &stable, err));
    FM_TRY(fm_lqg_rollout_cost(&c->env, h, &pi, c->cfg.eval.rollouts, T,
                               (uint64_t)c->cfg.experiment.seed, roll, err));
cleanup:
    return status;
}

/* The evaluation's buffers: *buf [2 ne + K] for the sums. Local. */
static fm_status eval_alloc(run_ctx *c, size_t ne, double **buf, fm_err *err)
{
    fm_status status = FM_OK;
    int K = c->env.K;
    FM_ALLOC(*buf, 2 * ne + K);
    FM_ALLOC(c->ev_exact, ne);
    FM_ALLOC(c->ev_roll, ne);
    FM_ALLOC(c->opt_roll, K);
    FM_ALLOC(c->loc_exact, K);
    FM_ALLOC(c->loc_roll, K);
cleanup:
    return status;
}

/* Global (policy, task) pairs are split round-robin over ranks and summed; every robot
 * evaluates its own local policy on every task. Task-specific policy h is scored on task h. */
static fm_status evaluate(run_ctx *c, fm_err *err)
{
    fm_status status = FM_OK;
    int K = c->env.K, nm = c->cfg.merge.num_methods;
    c->npol = nm + 1 + K;
    size_t ne = (size_t)c->npol * K;
    double *buf = NULL;
    fm_status local = eval_alloc(c, ne, &buf, err);
    if (local == FM_OK)
        local = fm_fleet_fault("evaluation", err);
    for (size_t e = 0; e < ne + K && local == FM_OK; e++) {
        int j = (int)(e / K), h = (int)(e % K);
        if ((int)(e % c->size) != c->rank)
            continue;
        if (e >= ne) { /* expert rollouts (same noise as every policy) */
            fm_lqg_policy pi = fm_lqg_expert(&c->env, h);
            int T = c->cfg.eval.horizon > 0 ? c->cfg.eval.horizon : c->env.horizon;
            local = fm_lqg_rollout_cost(&c->env, h, &pi, c->cfg.eval.rollouts, T,
                                        (uint64_t)c->cfg.experiment.seed, &buf[2 * ne + h], err);
        } else if (j > nm && (j - nm - 1 != h || !c->task_ok[h])) {
            buf[e] = buf[ne + e] = NAN; /* task-specific policies are scored on their task */
        } else {
            local = eval_one(c, global_policy(c, j), h, &buf[e], &buf[ne + e], err);
        }
    }
    for (int h = 0; h < K && local == FM_OK; h++)
        local = eval_one(c, c->theta_local, h, &c->loc_exact[h], &c->loc_roll[h], err);
    FM_TRY(fm_fleet_agree(c->comm, local, err));
    FM_TRY(fm_reduce_sum(&c->red, buf, 2 * (size_t)ne + (size_t)K, err));
    memcpy(c->ev_exact, buf, sizeof(double) * ne);
    memcpy(c->ev_roll, buf + ne, sizeof(double) * ne);
    memcpy(c->opt_roll, buf + 2 * ne, sizeof(double) * K);
cleanup:
    free(buf);
    return status;
}

static void run_free(run_ctx *c)
{
    fm_lqg_free(&c->env);
    fm_demos_free(&c->demos);
    free(c->mixture), free(c->theta_local), free(c->merged), free(c->transforms);
    free(c->minfo), free(c->t_merge), free(c->pooled), free(c->task_spec), free(c->task_ok);
    free(c->task_count), free(c->ev_exact), free(c->ev_roll), free(c->opt_roll);
    free(c->loc_exact), free(c->loc_roll), free(c->all_loc_exact), free(c->all_loc_roll);
}

/* One phase of the flow (fleet_common.h FM_PHASE). */
#define PHASE(idx, name, call) FM_PHASE(c->comm, c->rank, c->opts.quiet, c->t_start, name, &c->t_phase[idx], call)

static fm_status run_linear(MPI_Comm comm, const fm_config *cfg, const fm_run_opts *opts, fm_err *err)
{
    fm_status status = FM_OK;
    run_ctx ctx = {.comm = comm, .opts = *opts, .cfg = *cfg, .t_start = fm_now()}, *c = &ctx;
    MPI_Comm_rank(comm, &c->rank);
    MPI_Comm_size(comm, &c->size);
    FM_TRY(setup(c, err));
    PHASE(0, "robot data", build_data(c, err));
    PHASE(1, "local training", train_local(c, err));
    PHASE(2, "merging", merge_all(c, err));
    PHASE(3, "baselines", baselines(c, err));
    PHASE(4, "evaluation", evaluate(c, err));
    PHASE(5, "writing results", fm_run_write_results(c, err));
    fm_run_print_summary(c);
cleanup:
    run_free(c);
    return status;
}

static fm_status gen_linear(MPI_Comm comm, const fm_config *cfg, const char *out_path, int force,
                            fm_err *err)
{
    fm_status status = FM_OK;
    run_ctx ctx = {.comm = comm, .opts = {.force = force, .quiet = 1, .output = out_path},
                   .cfg = *cfg, .t_start = fm_now()}, *c = &ctx;
    MPI_Comm_rank(comm, &c->rank);
    MPI_Comm_size(comm, &c->size);
    FM_TRY(setup(c, err));
    FM_TRY(build_data(c, err));
    fm_demos_meta meta = {.num_robots = c->size, .num_tasks = c->env.K};
    snprintf(meta.env, sizeof meta.env, "%s", fm_cfg_enum_name("env.kind", c->cfg.env.kind));
    FM_TRY(fm_h5_write_demos(comm, out_path, &meta, &c->demos, c->mixture, err));
    if (c->rank == 0)
        fm_logf(stdout, "wrote %s (%d robots x %d trajectories)\n", out_path, c->size,
                c->demos.n_traj);
cleanup:
    run_free(c);
    return status;
}

/* A sweep point whose results file exists is done if the file's fingerprint (resolved config, rank
 * count, binary version) is this run's: say so (rank 0) and skip it. Results of the same config and
 * rank count by another build are kept with a warning naming both versions. Results of another config
 * or rank count are stale: an error naming what differs, unless --force (which reruns the point). */
static fm_status sweep_point_done(MPI_Comm comm, const fm_config *cfg, const fm_run_opts *opts, int *done,
                                  fm_err *err)
{
    fm_status status = FM_OK, local = FM_OK;
    char path[1024], *text = NULL, *old_text = NULL, *old_fp = NULL, *old_version = NULL, fp[17];
    int rank = 0, size = 1;
    *done = 0;
    if (cfg->sweep.index < 0 || opts->force)
        return FM_OK;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    fm_fleet_results_path(cfg, opts, path, sizeof path);
    if (rank == 0 && access(path, F_OK) == 0) {
        double robots = 0;
        local = fm_cfg_dump_alloc(cfg, &text, err);
        if (local == FM_OK)
            fm_fleet_fingerprint(text, size, fm_version(), fp);
        fm_err lerr;
        fm_err_clear(&lerr);
        int readable = local == FM_OK && fm_h5_read_text(path, "/config", &old_text, &lerr) == FM_OK &&
                       fm_h5_read_attr_f64(path, "/", "num_robots", &robots, &lerr) == FM_OK;
        int has_fp = readable && fm_h5_read_attr_text(path, "/", "fingerprint", &old_fp, &lerr) == FM_OK &&
                     fm_h5_read_attr_text(path, "/", "binary_version", &old_version, &lerr) == FM_OK;
        if (local != FM_OK) {
        } else if (has_fp && strcmp(old_fp, fp) == 0) {
            *done = 1;
        } else if (readable && strcmp(old_text, text) == 0 && (int)robots == size) {
            /* the same config on as many ranks, by another build: kept, and said */
            *done = 1;
            fm_logf(stderr, "warning: sweep point %d: %s was written by fleet %s, this is fleet %s; keeping it "
                    "(use --force to rerun the point with this build)\n", cfg->sweep.index, path,
                    has_fp ? old_version : "(no version recorded)", fm_version());
        } else if (!readable) {
            local = fm_fail(err, FM_EDATA, "sweep point %d: %s exists but is not a readable results file (%s); "
                            "use --force to rerun the point", cfg->sweep.index, path, lerr.msg);
        } else {
            const char *why = strcmp(old_text, text) != 0 ? "another config (the sweep's config changed)"
                                                          : "another number of ranks";
            char detail[160] = "";
            if ((int)robots != size)
                snprintf(detail, sizeof detail, ": %d ranks, this run has %d", (int)robots, size);
            local = fm_fail(err, FM_EINVAL, "sweep point %d (%s): %s holds results of %s%s; use --force to rerun "
                            "the point", cfg->sweep.index, cfg->sweep.overrides, path, why, detail);
        }
    }
    FM_TRY(fm_fleet_agree(comm, local, err));
    MPI_Bcast(done, 1, MPI_INT, 0, comm);
    if (*done && rank == 0)
        fm_logf(stdout, "sweep point %d (%s) is already complete: %s (use --force to rerun)\n",
                cfg->sweep.index, cfg->sweep.overrides, path);
cleanup:
    free(text), free(old_text), free(old_fp), free(old_version);
    return status;
}

/* Who and when, for the notes a sweep point leaves (its lock, its .failed): the current UTC time
 * into when[32], and the Slurm job ("-" outside Slurm). */
static const char *run_stamp(char when[32])
{
    time_t now = time(NULL);
    strftime(when, 32, "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
    return getenv("SLURM_JOB_ID") ? getenv("SLURM_JOB_ID") : "-";
}

/* A sweep point runs once at a time: rank 0 holds an exclusive flock on <point dir>/results.h5.lock
 * for the whole run (the kernel releases it when the process ends, however it ends, so a killed job
 * leaves no stale lock); a second run of the same point (two submissions, a requeue racing the
 * original) fails at once naming the holder. The file stays (it holds the last holder's host, pid
 * and time). *fd gets the descriptor to close at the end (-1 on other ranks and outside sweeps). */
static fm_status lock_point(MPI_Comm comm, const fm_config *cfg, const fm_run_opts *opts, int *fd, fm_err *err)
{
    fm_status status = FM_OK, local = FM_OK;
    char path[1100], held[256] = "";
    int rank = 0;
    *fd = -1;
    if (cfg->sweep.index < 0)
        return FM_OK;
    MPI_Comm_rank(comm, &rank);
    if (rank == 0) {
        fm_fleet_results_path(cfg, opts, path, 1024);
        strcat(path, ".lock");
        local = fm_mkdir_parents(path, err);
        if (local == FM_OK) {
            *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
            if (*fd < 0)
                local = fm_fail(err, FM_EIO, "%s: cannot open the point's lock file: %s", path, strerror(errno));
        }
        if (local == FM_OK && flock(*fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            ssize_t n = e == EWOULDBLOCK ? pread(*fd, held, sizeof held - 1, 0) : -1;
            held[n > 0 ? n : 0] = '\0';
            held[strcspn(held, "\n")] = '\0';
            local = e == EWOULDBLOCK
                        ? fm_fail(err, FM_EINVAL, "sweep point %d is being run by another fleet (%s; lock %s)",
                                  cfg->sweep.index, held[0] ? held : "holder unknown", path)
                        : fm_fail(err, FM_EIO, "%s: cannot lock: %s", path, strerror(e));
        } else if (local == FM_OK) {
            char host[128] = "?", line[256], when[32];
            gethostname(host, sizeof host - 1);
            const char *job = run_stamp(when);
            int len = snprintf(line, sizeof line, "host %s, pid %ld, job %s, since %s\n", host, (long)getpid(), job,
                               when);
            if (ftruncate(*fd, 0) != 0 || pwrite(*fd, line, (size_t)len, 0) != len) {
                /* the lock holds without its note */
            }
        }
    }
    FM_TRY(fm_fleet_agree(comm, local, err));
cleanup:
    if (status != FM_OK && *fd >= 0) {
        close(*fd);
        *fd = -1;
    }
    return status;
}

/* Rank 0, sweep points only: <results>.failed records why the point's last run failed (exit code,
 * time, job, the error's first line) for `fleet sweep --status`; a run that ends well removes it.
 * Best effort: a run killed from outside (signal, node failure) leaves none (its state then says
 * interrupted or missing). */
static void note_outcome(const fm_config *cfg, const fm_run_opts *opts, fm_status status, const fm_err *err)
{
    char path[1100];
    fm_fleet_results_path(cfg, opts, path, 1024);
    strcat(path, ".failed");
    if (status == FM_OK) {
        remove(path);
        return;
    }
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    char when[32];
    const char *job = run_stamp(when);
    fprintf(f, "exit %d, %s, job %s: %.*s\n", fm_exit_code(status), when, job, (int)strcspn(err->msg, "\n"),
            err->msg);
    fclose(f);
}

fm_status fm_fleet_run(MPI_Comm comm, const char *config_path, const fm_run_opts *opts, fm_err *err)
{
    fm_status status = FM_OK;
    fm_config *cfg = NULL;
    int lock_fd = -1;
    FM_ALLOC(cfg, 1);
    FM_TRY(fm_fleet_load_point(comm, config_path, opts->sweep_index, cfg, err));
    int done = 0;
    FM_TRY(lock_point(comm, cfg, opts, &lock_fd, err));
    FM_TRY(sweep_point_done(comm, cfg, opts, &done, err));
    if (done)
        goto cleanup; /* re-running a finished sweep point is a no-op */
    FM_CHECK(!opts->resume || cfg->env.kind != FM_ENV_LQG, FM_EINVAL,
             "--resume: %s has no merging rounds to resume", config_path);
    if (cfg->rl.enabled)
        FM_TRY(fm_run_rl(comm, cfg, opts, err));
    else if (cfg->env.kind == FM_ENV_LQG)
        FM_TRY(run_linear(comm, cfg, opts, err));
    else
        FM_TRY(fm_run_nn(comm, cfg, opts, err));
cleanup:
    if (lock_fd >= 0) { /* this run held the point (rank 0): record how it ended, then release it */
        note_outcome(cfg, opts, status, err);
        close(lock_fd);
    }
    free(cfg);
    return status;
}

fm_status fm_fleet_gen(MPI_Comm comm, const char *config_path, const char *out_path, int force,
                       fm_err *err)
{
    fm_status status = FM_OK;
    fm_config *cfg = NULL;
    FM_ALLOC(cfg, 1);
    FM_TRY(fm_fleet_load_config(comm, config_path, cfg, err));
    FM_CHECK(cfg->fleet.data[0] == '\0', FM_ECONFIG,
             "%s: fleet.data: `fleet gen` generates demonstrations; remove fleet.data", config_path);
    FM_CHECK(!cfg->rl.enabled, FM_ECONFIG,
             "%s: rl.enabled: an online RL run collects its own episodes; `fleet gen` has no demonstrations to write",
             config_path);
    if (cfg->env.kind == FM_ENV_LQG)
        FM_TRY(gen_linear(comm, cfg, out_path, force, err));
    else
        FM_TRY(fm_gen_nn(comm, cfg, out_path, force, err));
cleanup:
    free(cfg);
    return status;
}
