/* fleet_common.c - pieces shared by the linear and the neural run flows. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fault.h"
#include "data/data.h"
#include "fleet/fleet_common.h"
#include "io/guard.h"
#include <stdlib.h>

/* The results path can be written: every existing directory part is a directory, the deepest
 * existing one is writable, and the path itself is absent or a regular file (never a device, a
 * directory or a link: --force replaces only results). Missing directories are created when the
 * file is written (fm_h5_create), so a run that fails before that leaves no empty directory. */
static fm_status check_output_path(const char *path, int force, fm_err *err)
{
    char buf[1024], deepest[1024] = ".";
    struct stat st;
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return fm_fail(err, FM_EINVAL, "output path too long: %s", path);
    const char *last = strrchr(buf, '/');
    last = last ? last + 1 : buf;
    if (!*last || !strcmp(last, ".") || !strcmp(last, ".."))
        return fm_fail(err, FM_EINVAL, "%s: not a file name (ends in '/', '.' or '..')", path);
    if (buf[0] == '/')
        snprintf(deepest, sizeof deepest, "/");
    for (char *s = buf + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (stat(buf, &st) != 0) {
            if (lstat(buf, &st) == 0) /* a link to nothing: mkdir would fail only when writing */
                return fm_fail(err, FM_EINVAL, "%s: '%s' is a broken symbolic link", path, buf);
            *s = '/';
            break;
        }
        if (!S_ISDIR(st.st_mode))
            return fm_fail(err, FM_EINVAL, "%s: '%s' is not a directory", path, buf);
        snprintf(deepest, sizeof deepest, "%s", buf);
        *s = '/';
    }
    if (access(deepest, W_OK | X_OK) != 0)
        return fm_fail(err, FM_EIO, "%s: cannot write in directory '%s': %s", path, deepest, strerror(errno));
    if (lstat(path, &st) == 0) {
        if (!S_ISREG(st.st_mode))
            return fm_fail(err, FM_EINVAL, "%s exists and is not a regular file; refusing to replace it%s", path,
                           force ? " (even with --force)" : "");
        if (!force)
            return fm_fail(err, FM_EINVAL, "%s already exists; use --force to overwrite it", path);
    }
    return FM_OK;
}

void fm_fleet_results_path(const fm_config *cfg, const fm_run_opts *opts, char *path, size_t cap)
{
    if (opts->output)
        snprintf(path, cap, "%s", opts->output);
    else if (cfg->sweep.index >= 0) /* sweep point I: <output_dir>/<name>/<I>/results.h5 */
        snprintf(path, cap, "%s/%s/%d/results.h5", cfg->experiment.output_dir, cfg->experiment.name,
                 cfg->sweep.index);
    else
        snprintf(path, cap, "%s/%s/results.h5", cfg->experiment.output_dir, cfg->experiment.name);
}

fm_status fm_fleet_prepare_path(MPI_Comm comm, const char *path, int force, fm_err *err)
{
    fm_status status = FM_OK;
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    /* Open MPI 4.1's MPI-IO layer overflows on long file names (seen: > ~230 characters);
     * refuse them here with a clear message instead of crashing in the middle of the run. */
    FM_CHECK(strlen(path) <= FM_CFG_RESULTS_PATH_MAX, FM_EINVAL,
             "results path too long (%zu characters, at most %d for MPI-IO): %s", strlen(path),
             FM_CFG_RESULTS_PATH_MAX, path);
    fm_status local = FM_OK;
    if (rank == 0)
        local = check_output_path(path, force, err);
    FM_TRY(fm_fleet_agree(comm, local, err));
cleanup:
    return status;
}

fm_status fm_fleet_output(MPI_Comm comm, const fm_config *cfg, const fm_run_opts *opts, char *path,
                          size_t cap, fm_err *err)
{
    fm_status status = FM_OK;
    int size = 1;
    MPI_Comm_size(comm, &size);
    FM_CHECK(cfg->fleet.robots == 0 || cfg->fleet.robots == size, FM_ECONFIG,
             "%s: fleet.robots: config asks for %d robots but the run has %d MPI ranks (one robot per rank)",
             cfg->source, cfg->fleet.robots, size);
    fm_fleet_results_path(cfg, opts, path, cap);
    FM_TRY(fm_fleet_prepare_path(comm, path, opts->force, err));
cleanup:
    return status;
}

fm_status fm_fleet_write_config(fm_h5 *h, const fm_config *cfg, fm_err *err)
{
    fm_status status = FM_OK;
    char *text = NULL;
    FM_TRY(fm_cfg_dump_alloc(cfg, &text, err));
    FM_TRY(fm_h5_write_text(h, "/config", text, err));
cleanup:
    free(text);
    return status;
}

void fm_fleet_fingerprint(const char *config_text, int ranks, const char *version, char out[17])
{
    uint64_t f = fm_fnv1a(FM_FNV_START, config_text, strlen(config_text) + 1);
    int64_t r = ranks;
    f = fm_fnv1a(f, &r, sizeof r);
    f = fm_fnv1a(f, version, strlen(version) + 1);
    snprintf(out, 17, "%016llx", (unsigned long long)f);
}

fm_status fm_fleet_write_header(fm_h5 *h, const fm_config *cfg, int robots, int tasks, fm_err *err)
{
    fm_status status = FM_OK;
    char *text = NULL, fp[17];
    FM_TRY(fm_cfg_dump_alloc(cfg, &text, err));
    fm_fleet_fingerprint(text, robots, fm_version(), fp);
    FM_TRY(fm_h5_attr_text(h, "/", "fingerprint", fp, err));
    FM_TRY(fm_h5_attr_text(h, "/", "binary_version", fm_version(), err));
    FM_TRY(fm_h5_attr_i64(h, "/", "format_version", FM_RESULTS_FORMAT_VERSION, err));
    FM_TRY(fm_h5_attr_text(h, "/", "kind", "fleetmerge-results", err));
    FM_TRY(fm_h5_attr_text(h, "/", "experiment", cfg->experiment.name, err));
    FM_TRY(fm_h5_attr_text(h, "/", "env", fm_cfg_enum_name("env.kind", cfg->env.kind), err));
    FM_TRY(fm_h5_attr_i64(h, "/", "num_robots", robots, err));
    FM_TRY(fm_h5_attr_i64(h, "/", "num_tasks", tasks, err));
    FM_TRY(fm_h5_write_text(h, "/config", text, err));
cleanup:
    free(text);
    return status;
}

fm_status fm_fleet_write_timing(fm_h5 *h, MPI_Comm comm, const double *phase, int nmerge,
                                const double *merge_seconds, fm_err *err)
{
    fm_status status = FM_OK;
    double t[6];
    MPI_Allreduce(phase, t, 6, MPI_DOUBLE, MPI_MAX, comm);
    FM_TRY(fm_h5_write_f64(h, "/timing/phase_seconds", 1, (int64_t[1]){6}, t, err));
    FM_TRY(fm_h5_attr_text(h, "/timing/phase_seconds", "phases",
                           "data,train,merge,baselines,eval,write (write excludes itself)", err));
    FM_TRY(fm_h5_write_f64(h, "/timing/merge_seconds", 1, (int64_t[1]){nmerge}, merge_seconds, err));
cleanup:
    return status;
}

void fm_fleet_merge_nn_opts(const fm_config *cfg, fm_merge_nn_opts *o)
{
    *o = (fm_merge_nn_opts){.wm_passes = cfg->merge.wm_passes, .mm_sweeps = cfg->merge.mm_sweeps,
                            .epochs = cfg->merge.fm_epochs, .steps = cfg->merge.fm_steps,
                            .subset = cfg->merge.fm_subset, .tau = cfg->merge.fm_tau,
                            .sk_iters = cfg->merge.fm_sinkhorn_iters, .lr = cfg->merge.fm_lr,
                            .noise = cfg->merge.fm_noise, .start_mass = cfg->merge.fm_start_mass,
                            .batch = cfg->merge.fm_batch,
                            .init_wm = cfg->merge.fm_init == 0, .shared_start = cfg->fleet.shared_init};
}

void fm_fleet_draw_tasks(const fm_config *cfg, int rank, int K, double *mixture, int *tasks)
{
    fm_rng rmix;
    fm_rng_seed(&rmix, (uint64_t)cfg->experiment.seed, (uint64_t)rank, FM_STREAM_MIXTURE);
    if (cfg->fleet.partition == FM_PARTITION_ONE_TASK) { /* robot i demonstrates task i mod K only */
        for (int h = 0; h < K; h++)
            mixture[h] = h == rank % K;
        for (int t = 0; t < cfg->fleet.demos_per_robot; t++)
            tasks[t] = rank % K;
        return;
    }
    fm_mixture_draw(&rmix, cfg->fleet.alpha, K, mixture);
    fm_mixture_tasks(&rmix, mixture, K, cfg->fleet.demos_per_robot, tasks);
}

fm_status fm_fleet_fault(const char *phase, fm_err *err)
{
    switch (fm_fault(phase)) {
    case FM_FAULT_FAIL:
        return fm_fault_fail(err, phase);
    case FM_FAULT_HANG:
        fm_guard_fail("rank %d: injected hang in %s (FLEET_FAULT)", fm_world_rank(), phase);
        for (;;)
            pause(); /* until the watchdog ends the job */
    default:
        return FM_OK;
    }
}

fm_status fm_fleet_agree_phase(MPI_Comm comm, fm_status local, fm_err *err)
{
    if (local != FM_OK)
        fm_guard_arm("%s", err->msg);
    fm_status status = fm_fleet_agree(comm, local, err);
    if (local != FM_OK)
        fm_guard_disarm();
    return status;
}

void fm_fleet_progress(int rank, int quiet, double t_start, const char *what)
{
    if (rank == 0 && !quiet)
        fm_logf(stdout, "%s (%.1f s)\n", what, fm_now() - t_start);
}
