/* fleet_common.h - helpers shared by the run flows of fleet/ (internal to fleet/ and cli/). */
#ifndef FM_FLEET_COMMON_H
#define FM_FLEET_COMMON_H

#include "fleet/fleet.h"
#include "io/h5io.h"
#include "merge/merge_nn.h"

/* Check fleet.robots against the communicator, choose the results path (opts->output or
 * <output_dir>/<name>/results.h5), refuse an existing file unless opts->force, create the
 * parent directories. Collective; every rank gets the same status. */
fm_status fm_fleet_output(MPI_Comm comm, const fm_config *cfg, const fm_run_opts *opts, char *path,
                          size_t cap, fm_err *err);
/* The results file of a run: opts->output, <output_dir>/<name>/<I>/results.h5 for sweep point
 * I, else <output_dir>/<name>/results.h5. */
void fm_fleet_results_path(const fm_config *cfg, const fm_run_opts *opts, char *path, size_t cap);
/* Refuse a path too long for MPI-IO or an existing file (unless force), create the parent
 * directories. Collective; every rank gets the same status. */
fm_status fm_fleet_prepare_path(MPI_Comm comm, const char *path, int force, fm_err *err);
/* Collective writes shared by every results file (docs/schema.md): /config (the resolved
 * config); the root attributes and /config; the /timing datasets (max over ranks). */
fm_status fm_fleet_write_config(fm_h5 *h, const fm_config *cfg, fm_err *err);
fm_status fm_fleet_write_header(fm_h5 *h, const fm_config *cfg, int robots, int tasks, fm_err *err);
/* A run's fingerprint (16 hex digits + NUL): FNV-1a over its resolved config text, its rank count
 * and the binary's version; the results file's root attribute `fingerprint` (docs/schema.md). */
void fm_fleet_fingerprint(const char *config_text, int ranks, const char *version, char out[17]);
fm_status fm_fleet_write_timing(fm_h5 *h, MPI_Comm comm, const double *phase, int nmerge,
                                const double *merge_seconds, fm_err *err);
/* Robot `rank`'s task mixture p ~ Dirichlet(alpha 1_K) and the tasks of its
 * cfg->fleet.demos_per_robot demonstrations, from its MIXTURE stream; with fleet.partition:
 * one_task, p = e_(rank mod K) and every demonstration of task rank mod K. */
void fm_fleet_draw_tasks(const fm_config *cfg, int rank, int K, double *mixture, int *tasks);
/* The neural merges' options from cfg->merge (shared_start = fleet.shared_init; merging rounds set
 * it from round 2 on). */
void fm_fleet_merge_nn_opts(const fm_config *cfg, fm_merge_nn_opts *o);
/* FM_OK, or this rank's injected fault at `phase` (FLEET_FAULT, core/fault.h): the ordinary
 * error "rank R: injected fault in PHASE (FLEET_FAULT)", or for PHASE@RANK:hang a rank that stops
 * here for good after arming the watchdog (io/guard.h ends the job). Local. */
fm_status fm_fleet_fault(const char *phase, fm_err *err);
/* fm_fleet_agree at the end of a phase, or before a collective step that follows local ones: a
 * rank whose own `local` failed arms the watchdog while it waits, so that if another rank is still
 * inside a collective this rank left, the job ends within FLEET_GUARD_SECONDS with this rank's
 * message instead of hanging. Collective; every rank returns the lowest failing rank's status. */
fm_status fm_fleet_agree_phase(MPI_Comm comm, fm_status local, fm_err *err);
/* Every run flow (linear: fleet_run.c, neural: fleet_nn.c, online RL: fleet_rl.c) is a sequence
 * of phases. fm_fleet_progress prints rank 0's progress line "<what> (<seconds since t_start> s)"
 * unless quiet. FM_PHASE runs one phase: the progress line, the call, then every rank agreeing on
 * its status (fm_fleet_agree_phase: a rank that failed alone waits with the watchdog armed), so
 * all ranks stop together with the failing rank's message; *seconds (may be NULL for an untimed
 * step) += the phase's wall time. Needs `status`, `err` and a `cleanup` label in the caller. */
void fm_fleet_progress(int rank, int quiet, double t_start, const char *what);
#define FM_PHASE(comm, rank, quiet, t_start, name, seconds, call)      \
    do {                                                               \
        double t0_ = fm_now(), *s_ = (seconds);                        \
        fm_fleet_progress((rank), (quiet), (t_start), (name));         \
        FM_TRY(fm_fleet_agree_phase((comm), (call), err));             \
        if (s_)                                                        \
            *s_ += fm_now() - t0_;                                     \
    } while (0)
/* The neural-policy flow of `fleet run` / `fleet gen` (fleet_nn.c), after the config is loaded. */
fm_status fm_run_nn(MPI_Comm comm, const fm_config *cfg, const fm_run_opts *opts, fm_err *err);
fm_status fm_gen_nn(MPI_Comm comm, const fm_config *cfg, const char *out_path, int force, fm_err *err);
/* The online RL flow of `fleet run` with rl.enabled (fleet_rl.c, docs/rl.md): REINFORCE on every
 * robot's own cart-pole episodes, policies averaged every rl.merge_every episodes. Collective. */
fm_status fm_run_rl(MPI_Comm comm, const fm_config *cfg, const fm_run_opts *opts, fm_err *err);

#endif
