/* guard.h - ending the job when a rank cannot reach the next collective.
 *
 * Parallel HDF5 cannot recover from an MPI-IO failure such as a full disk: its error paths skip
 * collectives that other ranks still enter (a deadlock inside H5Fclose), and a file whose close
 * failed crashes HDF5's clean-up in MPI_Finalize. The guard makes such failures end the job within
 * seconds with the failing rank's message, removing the temporary files it tracks:
 *  - fm_guard_install() sets an MPI error handler as the default for every MPI file opened later;
 *    an I/O error on an open file marks this process broken and arms a watchdog;
 *  - when the code regains control, h5io agrees on the mark across the file's ranks, skips every
 *    further HDF5 call on the file and returns an ordinary error, and fm_guard_exit() ends the job
 *    with MPI_Abort instead of MPI_Finalize;
 *  - when a rank stays stuck inside a collective, the watchdog (FLEET_GUARD_SECONDS, default 10)
 *    prints the message, removes the tracked files and ends the job.
 * The watchdog is also armed for a while by a rank that failed on its own and waits for the others
 * to agree (fm_guard_arm / fm_guard_disarm): at the end of a phase (fleet/), or when it closes a
 * file it could not finish while the others may be inside the next collective write (fm_h5_close, io/h5write.c).
 * Ending the job: MPI_Abort from the watchdog thread when MPI provides MPI_THREAD_MULTIPLE (the main
 * thread may be inside MPI), else the message and _exit(1) (mpirun, and srun --kill-on-bad-exit=1,
 * end the job when a rank exits non-zero without finalizing).
 * Process-wide state: the HDF5 library whose state it mirrors is process-wide too. */
#ifndef FM_GUARD_H
#define FM_GUARD_H

/* Before MPI_Init: select an MPI-IO component that reports short writes (ROMIO in Open MPI). */
void fm_guard_preinit(void);
/* After MPI_Init (or MPI_Init_thread), before any file is opened; reads MPI's thread level. */
void fm_guard_install(void);
/* Mark this process broken with a message (printf format) and (re)start the watchdog, which no
 * fm_guard_disarm cancels. Thread-safe; the first message is kept. */
void fm_guard_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Mark this process broken without arming the watchdog (every rank already agreed to stop). */
void fm_guard_mark(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Start (or restart: a new deadline of FLEET_GUARD_SECONDS from now) the watchdog with a message
 * (printf format) without marking this process broken: call it before a collective that other ranks
 * may never enter, and fm_guard_disarm() once it returns. Thread-safe. No-op after fm_guard_fail
 * (the watchdog then keeps that failure's message and deadline). */
void fm_guard_arm(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Cancel fm_guard_arm's deadline. No-op after fm_guard_fail. */
void fm_guard_disarm(void);
/* Nonzero once marked; the first message (never NULL). */
int fm_guard_broken(void);
const char *fm_guard_message(void);
/* Temporary files to remove when the job is aborted (at most a few at a time; copies are kept). */
void fm_guard_track(const char *path);
void fm_guard_untrack(const char *path);
/* End of main: when broken, remove the tracked files and MPI_Abort with exit_code (1 if 0);
 * otherwise MPI_Finalize. Returns exit_code (only when not aborting). */
int fm_guard_exit(int exit_code);

#endif
