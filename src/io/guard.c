/* guard.c - see guard.h. */
#define _POSIX_C_SOURCE 200809L
#include "core/core.h"
#include "io/guard.h"

#include <errno.h>
#include <mpi.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

enum { GUARD_TRACK = 8, GUARD_PATH = 1100, GUARD_MSG = 512, GUARD_DEFAULT_SECONDS = 10 };

/* The watchdog is one thread, started by the first arm; every arm and disarm bumps `gen`, so a
 * waiting watchdog restarts with the new deadline (or goes back to sleep). */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int broken, thread_started, rank, provided;
    int armed;                 /* a deadline is running */
    int pinned;                /* armed by fm_guard_fail: fm_guard_disarm leaves it running */
    unsigned long gen;         /* bumped by every arm and disarm */
    struct timespec deadline;  /* CLOCK_REALTIME, for pthread_cond_timedwait */
    int secs;                  /* length of the running deadline */
    char msg[GUARD_MSG];       /* the first failure (fm_guard_fail / fm_guard_mark) */
    char armed_msg[GUARD_MSG]; /* what the watchdog prints when the deadline passes */
    char track[GUARD_TRACK][GUARD_PATH];
} guard = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .rank = -1,
           .provided = MPI_THREAD_SINGLE};

/* Remove every tracked file: the paths are copied under the lock, unlinked outside it. */
static void remove_tracked(void)
{
    char copy[GUARD_TRACK][GUARD_PATH];
    pthread_mutex_lock(&guard.mu);
    memcpy(copy, guard.track, sizeof copy);
    pthread_mutex_unlock(&guard.mu);
    for (int i = 0; i < GUARD_TRACK; i++)
        if (copy[i][0])
            unlink(copy[i]);
}

/* FLEET_GUARD_SECONDS, a whole number of seconds > 0 (default 10). */
static int guard_seconds(void)
{
    const char *s = getenv("FLEET_GUARD_SECONDS");
    int secs = s ? atoi(s) : 0;
    return secs > 0 ? secs : GUARD_DEFAULT_SECONDS;
}

/* The deadline passed: print, remove the tracked files, end the job (guard.h). Never returns. */
static void fire(const char *msg, int secs)
{
    int rank = guard.rank;
    if (!strncmp(msg, "rank ", 5)) /* injected faults name their rank already */
        fprintf(stderr, "fleet: error: %s\n", msg);
    else
        fprintf(stderr, "fleet: error: rank %d: %s\n", rank, msg);
    fprintf(stderr, "fleet: error: rank %d: the other ranks did not agree within %d s of this failure (a rank is "
            "stuck, or inside a collective this rank left); aborting the job\n", rank, secs);
    fflush(stderr);
    remove_tracked();
    if (guard.provided == MPI_THREAD_MULTIPLE)
        MPI_Abort(MPI_COMM_WORLD, FM_EXIT_ABORTED);
    _exit(FM_EXIT_ABORTED); /* the main thread may be inside MPI: mpirun / srun end the job on this exit */
}

static void *watchdog(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&guard.mu);
    for (;;) {
        while (!guard.armed)
            pthread_cond_wait(&guard.cv, &guard.mu);
        unsigned long gen = guard.gen;
        struct timespec until = guard.deadline;
        int rc = 0;
        while (guard.armed && guard.gen == gen && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&guard.cv, &guard.mu, &until);
        if (guard.armed && guard.gen == gen)
            break; /* the deadline passed and nobody re-armed or disarmed */
    }
    char msg[GUARD_MSG];
    memcpy(msg, guard.armed_msg, sizeof msg);
    int secs = guard.secs;
    pthread_mutex_unlock(&guard.mu);
    fire(msg, secs);
    return NULL;
}

/* With guard.mu held: a new deadline of FLEET_GUARD_SECONDS from now with message msg. */
static void arm_locked(const char *msg)
{
    guard.secs = guard_seconds();
    clock_gettime(CLOCK_REALTIME, &guard.deadline);
    guard.deadline.tv_sec += guard.secs;
    snprintf(guard.armed_msg, sizeof guard.armed_msg, "%s", msg);
    guard.armed = 1;
    guard.gen++;
    if (!guard.thread_started) {
        pthread_t t;
        if (pthread_create(&t, NULL, watchdog, NULL) == 0) {
            pthread_detach(t);
            guard.thread_started = 1;
        }
    }
    pthread_cond_broadcast(&guard.cv);
}

static void vmark(int arm, const char *fmt, va_list ap)
{
    pthread_mutex_lock(&guard.mu);
    if (!guard.broken)
        vsnprintf(guard.msg, sizeof guard.msg, fmt, ap);
    guard.broken = 1;
    if (arm) {
        guard.pinned = 1;
        arm_locked(guard.msg);
    }
    pthread_mutex_unlock(&guard.mu);
}

void fm_guard_arm(const char *fmt, ...)
{
    char msg[GUARD_MSG];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&guard.mu);
    if (!guard.pinned)
        arm_locked(msg);
    pthread_mutex_unlock(&guard.mu);
}

void fm_guard_disarm(void)
{
    pthread_mutex_lock(&guard.mu);
    if (!guard.pinned && guard.armed) {
        guard.armed = 0;
        guard.gen++;
        pthread_cond_broadcast(&guard.cv);
    }
    pthread_mutex_unlock(&guard.mu);
}

void fm_guard_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmark(1, fmt, ap);
    va_end(ap);
}

void fm_guard_mark(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmark(0, fmt, ap);
    va_end(ap);
}

int fm_guard_broken(void)
{
    pthread_mutex_lock(&guard.mu);
    int b = guard.broken;
    pthread_mutex_unlock(&guard.mu);
    return b;
}

const char *fm_guard_message(void) { return guard.msg; }

void fm_guard_track(const char *path)
{
    pthread_mutex_lock(&guard.mu);
    for (int i = 0; i < GUARD_TRACK; i++)
        if (!guard.track[i][0]) {
            snprintf(guard.track[i], GUARD_PATH, "%s", path);
            break;
        }
    pthread_mutex_unlock(&guard.mu);
}

void fm_guard_untrack(const char *path)
{
    pthread_mutex_lock(&guard.mu);
    for (int i = 0; i < GUARD_TRACK; i++)
        if (!strcmp(guard.track[i], path)) {
            guard.track[i][0] = '\0';
            break;
        }
    pthread_mutex_unlock(&guard.mu);
}

/* The default error handler of MPI files: an I/O error on an open file breaks HDF5's collective
 * discipline (see guard.h). A failed open (file == MPI_FILE_NULL) is an ordinary error. */
static void file_errhandler(MPI_File *file, int *code, ...)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (!file || *file == MPI_FILE_NULL)
        return;
    if (MPI_Error_string(*code, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "MPI error code %d", *code);
    /* MPI-IO does not say which file or why: name the file being written and its free space */
    char where[GUARD_PATH + 96] = "a file", path[GUARD_PATH] = "";
    pthread_mutex_lock(&guard.mu);
    for (int i = 0; i < GUARD_TRACK && !path[0]; i++)
        if (guard.track[i][0])
            snprintf(path, sizeof path, "%s", guard.track[i]);
    pthread_mutex_unlock(&guard.mu);
    if (path[0]) {
        char dir[GUARD_PATH];
        struct statvfs fs;
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash)
            *(slash == dir ? slash + 1 : slash) = '\0';
        else
            snprintf(dir, sizeof dir, ".");
        if (statvfs(dir, &fs) == 0)
            snprintf(where, sizeof where, "%s (%llu bytes free on its file system)", path,
                     (unsigned long long)fs.f_bavail * fs.f_frsize);
        else
            snprintf(where, sizeof where, "%s", path);
    }
    fm_guard_fail("MPI-IO failure on %s: %s", where, text);
}

void fm_guard_preinit(void)
{
    /* Open MPI 4.1's default MPI-IO component (OMPIO) ignores a short write on a full disk: the
     * ranks of a parallel HDF5 file then diverge inside H5Fclose with no error raised anywhere
     * (measured). ROMIO retries short writes and raises MPI_ERR_IO, which the guard catches.
     * OMPIO is excluded rather than ROMIO named (romio321 in 4.1, romio341 in 5.x); other MPI
     * libraries are left alone; a user's own OMPI_MCA_io setting wins. */
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    if (MPI_Get_library_version(version, &len) == MPI_SUCCESS && strstr(version, "Open MPI"))
        setenv("OMPI_MCA_io", "^ompio", 0); /* whatever ROMIO component this Open MPI has */
}

void fm_guard_install(void)
{
    MPI_Comm_rank(MPI_COMM_WORLD, &guard.rank);
    if (MPI_Query_thread(&guard.provided) != MPI_SUCCESS)
        guard.provided = MPI_THREAD_SINGLE;
    MPI_Errhandler eh;
    if (MPI_File_create_errhandler(file_errhandler, &eh) == MPI_SUCCESS) {
        MPI_File_set_errhandler(MPI_FILE_NULL, eh);
        MPI_Errhandler_free(&eh);
    }
}

int fm_guard_exit(int exit_code)
{
    if (!fm_guard_broken()) {
        MPI_Finalize();
        return exit_code;
    }
    /* Rank 0 prints the agreed error before it gets here: wait for it (the watchdog, armed now if
     * it was not, ends a wait on a rank that never comes), then abort ourselves. */
    fflush(stdout);
    fflush(stderr);
    fm_guard_fail("%s", guard.msg);
    pthread_mutex_lock(&guard.mu);
    int watched = guard.thread_started;
    pthread_mutex_unlock(&guard.mu);
    if (watched) /* without a watchdog a missing rank would make this wait forever */
        MPI_Barrier(MPI_COMM_WORLD);
    pthread_mutex_lock(&guard.mu);
    guard.armed = 0; /* this thread aborts now: the watchdog must not race it */
    guard.gen++;
    pthread_cond_broadcast(&guard.cv);
    pthread_mutex_unlock(&guard.mu);
    fflush(stdout);
    fflush(stderr);
    remove_tracked();
    MPI_Abort(MPI_COMM_WORLD, exit_code ? exit_code : 1);
    _exit(exit_code ? exit_code : 1);
}
