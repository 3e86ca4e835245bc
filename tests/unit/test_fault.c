/* test_fault.c - the fault switch (core/fault.h: FLEET_FAULT parsing and matching, its error
 * messages) and the guard's re-armable watchdog (io/guard.h: a re-arm restarts the deadline, a
 * disarm cancels it, fm_guard_fail cannot be disarmed, a deadline that passes prints the message,
 * removes the tracked files and ends the process). The watchdog cases run in forked children
 * (no MPI here: without MPI_THREAD_MULTIPLE the watchdog ends a process by _exit(1)). */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/fault.h"
#include "io/guard.h"
#include "tap.h"

static fm_status init_with(const char *spec, int rank, fm_err *err)
{
    fm_err_clear(err);
    if (spec)
        setenv("FLEET_FAULT", spec, 1);
    else
        unsetenv("FLEET_FAULT");
    return fm_fault_init(rank, err);
}

static void test_matching(void)
{
    fm_err err;
    ok(init_with(NULL, 1, &err) == FM_OK && fm_fault("merge:average") == FM_FAULT_NONE, "unset: no fault");
    ok(init_with("merge@1,pooled@2", 1, &err) == FM_OK, "two entries parse: %s", err.msg);
    is_int(fm_fault("merge:average"), FM_FAULT_FAIL, "merge@1 matches merge:average on rank 1");
    is_int(fm_fault("merge"), FM_FAULT_FAIL, "merge@1 matches merge on rank 1");
    is_int(fm_fault("pooled"), FM_FAULT_NONE, "pooled@2 does not fire on rank 1");
    is_int(fm_fault("mergex"), FM_FAULT_NONE, "merge does not match a longer name");
    ok(init_with("merge:git_rebasin@2:hang", 2, &err) == FM_OK, "a method and :hang parse: %s", err.msg);
    is_int(fm_fault("merge:git_rebasin"), FM_FAULT_HANG, "merge:git_rebasin@2:hang hangs on rank 2");
    is_int(fm_fault("merge:average"), FM_FAULT_NONE, "only at that method");
    ok(init_with("2,3", 2, &err) == FM_OK, "the ROBOT,ROUND form parses");
    ok(fm_fault_nonfinite(3) && !fm_fault_nonfinite(2) && fm_fault("merge") == FM_FAULT_NONE,
       "ROBOT,ROUND poisons that round only, and injects no failure");
    init_with("2,3", 1, &err);
    ok(!fm_fault_nonfinite(3), "ROBOT,ROUND: not on another rank");
    init_with("pooled@1", 1, &err);
    fm_err_clear(&err);
    ok(fm_fault_fail(&err, "pooled") == FM_EIO, "an injected fault is FM_EIO");
    is_str(err.msg, "rank 1: injected fault in pooled (FLEET_FAULT)", "its message names the rank and the phase");
}

static void bad_spec(const char *spec, const char *want)
{
    fm_err err;
    fm_status st = init_with(spec, 0, &err);
    is_int(st, FM_EINVAL, "FLEET_FAULT=%s is refused", spec);
    has_str(err.msg, want, "with a message naming the problem");
    ok(fm_fault("merge") == FM_FAULT_NONE, "and injects nothing");
}

static void test_errors(void)
{
    bad_spec("bogus@1", "unknown phase 'bogus', expected one of: data, training");
    bad_spec("merge", "'merge': expected PHASE@RANK[:hang]");
    bad_spec("merge@", "RANK must be an integer >= 0");
    bad_spec("merge@-1", "RANK must be an integer >= 0");
    bad_spec("merge@1:sleep", "the only mode is 'hang'");
    bad_spec("merge:@1", "unknown phase 'merge:'");
    bad_spec("merge@0,bogus@1", "unknown phase 'bogus'");
}

static void nap(double seconds)
{
    struct timespec ts = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Run `body` in a child with FLEET_GUARD_SECONDS=1; its exit status and stderr (into buf). */
static int in_child(void (*body)(void), char *buf, size_t cap)
{
    int fd[2], status = -1;
    if (pipe(fd) != 0)
        return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], 2);
        setenv("FLEET_GUARD_SECONDS", "1", 1);
        body();
        _exit(0);
    }
    close(fd[1]);
    size_t n = 0;
    ssize_t got;
    while (n + 1 < cap && (got = read(fd[0], buf + n, cap - 1 - n)) > 0)
        n += (size_t)got;
    buf[n] = '\0';
    close(fd[0]);
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void rearm_then_disarm(void)
{
    fm_guard_arm("first");
    nap(0.6);
    fm_guard_arm("second"); /* restarts the 1 s deadline: 1.2 s in all must not fire */
    nap(0.6);
    fm_guard_disarm();
    nap(1.2);
}

static const char *TRACKED = "test_fault_tracked.tmp";

static void deadline_passes(void)
{
    fm_guard_track(TRACKED);
    fm_guard_arm("boom");
    nap(5);
}

static void fail_not_disarmed(void)
{
    fm_guard_fail("broken file");
    fm_guard_disarm();
    nap(5);
}

static void test_watchdog(void)
{
    char out[4096];
    is_int(in_child(rearm_then_disarm, out, sizeof out), 0, "re-arm restarts the deadline, disarm cancels it");
    is_str(out, "", "and nothing is printed");
    FILE *f = fopen(TRACKED, "w");
    ok(f != NULL, "create a tracked file");
    if (f)
        fclose(f);
    is_int(in_child(deadline_passes, out, sizeof out), FM_EXIT_ABORTED,
           "a deadline that passes ends the process with 4 (aborted)");
    has_str(out, "fleet: error: rank -1: boom\n", "it prints the armed message");
    has_str(out, "the other ranks did not agree within 1 s", "and how long it waited");
    struct stat st;
    ok(stat(TRACKED, &st) != 0, "it removes the tracked files");
    is_int(in_child(fail_not_disarmed, out, sizeof out), FM_EXIT_ABORTED, "fm_guard_disarm does not cancel fm_guard_fail");
    has_str(out, "fleet: error: rank -1: broken file\n", "the failure's message is printed");
    unlink(TRACKED);
}

int main(void)
{
    test_matching();
    test_errors();
    test_watchdog();
    unsetenv("FLEET_FAULT");
    return done_testing();
}
