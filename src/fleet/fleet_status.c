/* fleet_status.c - `fleet sweep CONFIG --status`: the state of every point of a sweep, read from
 * its directory (serial, no MPI): done, stale (results of another config or rank count), running
 * (its lock is held; with merging rounds, how many are done), interrupted (a checkpoint and no
 * lock: a rerun resumes it), missing, or failed (<results>.failed: the last run's exit code and error). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "fleet/fleet.h"
#include "fleet/fleet_common.h"
#include "io/h5io.h"

/* 1 if another process holds the point's lock (results.h5.lock), else 0. */
static int lock_held(const char *results)
{
    char path[1100];
    snprintf(path, sizeof path, "%s.lock", results);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    int held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd); /* releases a shared lock taken here */
    return held;
}

/* The first line of <results>.failed (why the point's last run failed), or "" without one. */
static void failed_note(const char *results, char *buf, size_t cap)
{
    char path[1100];
    snprintf(path, sizeof path, "%s.failed", results);
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    if (!fgets(buf, (int)cap, f))
        buf[0] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    fclose(f);
}

/* Rounds done in the point's checkpoint (<results>.ckpt), or -1 without one. */
static int ckpt_rounds(const char *results)
{
    char path[1100];
    double done = -1;
    fm_err e;
    fm_err_clear(&e);
    snprintf(path, sizeof path, "%s.ckpt", results);
    if (access(path, F_OK) != 0 || fm_h5_read_attr_f64(path, "/", "rounds_done", &done, &e) != FM_OK)
        return -1;
    return (int)done;
}

fm_status fm_fleet_sweep_status(const char *config_path, FILE *out, int *all_done, fm_err *err)
{
    fm_status status = FM_OK;
    fm_config *cfg = NULL;
    char *text = NULL, *old = NULL;
    int count[6] = {0}; /* done, stale, running, interrupted, missing, failed */
    static const char *NAME[6] = {"done", "stale", "running", "interrupted", "missing", "failed"};
    FM_ALLOC(cfg, 1);
    FM_TRY(fm_cfg_load_file(config_path, cfg, err));
    FM_CHECK(cfg->sweep.count >= 1 && cfg->sweep.index < 0, FM_EINVAL, "%s: no sweep", config_path);
    int n = cfg->sweep.count;
    for (int i = 0; i < n; i++) {
        FM_TRY(fm_cfg_load_point(config_path, i, cfg, err));
        char path[1024], detail[512] = "";
        fm_run_opts opts = {0};
        fm_fleet_results_path(cfg, &opts, path, sizeof path);
        int state, rounds = ckpt_rounds(path), R = cfg->fleet.rounds;
        if (lock_held(path)) {
            state = 2;
            if (rounds >= 0)
                snprintf(detail, sizeof detail, " (round %d of %d done)", rounds, R);
        } else if (access(path, F_OK) == 0) {
            double robots = 0;
            fm_err e;
            fm_err_clear(&e);
            free(text), free(old);
            text = old = NULL;
            FM_TRY(fm_cfg_dump_alloc(cfg, &text, err));
            if (fm_h5_read_text(path, "/config", &old, &e) != FM_OK ||
                fm_h5_read_attr_f64(path, "/", "num_robots", &robots, &e) != FM_OK) {
                state = 1;
                snprintf(detail, sizeof detail, " (unreadable: %.400s)", e.msg);
            } else if (strcmp(old, text) != 0) {
                state = 1;
                snprintf(detail, sizeof detail, " (results of another config)");
            } else if (cfg->fleet.robots > 0 && (int)robots != cfg->fleet.robots) {
                state = 1;
                snprintf(detail, sizeof detail, " (results of %d ranks, the config asks for %d)", (int)robots,
                         cfg->fleet.robots);
            } else {
                state = 0;
                snprintf(detail, sizeof detail, " (%d robots)", (int)robots);
            }
        } else {
            char why[300];
            failed_note(path, why, sizeof why);
            state = why[0] ? 5 : rounds >= 0 ? 3 : 4;
            if (rounds >= 0)
                snprintf(detail, sizeof detail, " (round %d of %d done; a rerun resumes it%s%s)", rounds, R,
                         why[0] ? "; " : "", why);
            else if (why[0])
                snprintf(detail, sizeof detail, " (%s)", why);
        }
        count[state]++;
        fprintf(out, "%d: %s%s %s\n", i, NAME[state], detail, path);
    }
    fprintf(out, "%d points: %d done, %d stale, %d running, %d interrupted, %d missing, %d failed\n", n, count[0],
            count[1], count[2], count[3], count[4], count[5]);
    *all_done = count[0] == n;
cleanup:
    free(cfg), free(text), free(old);
    return status;
}
