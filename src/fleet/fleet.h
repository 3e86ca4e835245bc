/* fleet.h - the MPI world of fleetmerge: one rank = one robot.
 * Owns the flow of `fleet run` and `fleet gen` (docs/DESIGN flow): config broadcast,
 * per-robot data, local training, merges as collectives, baselines, evaluation, results. */
#ifndef FM_FLEET_H
#define FM_FLEET_H

#include <mpi.h>

#include "config/cfg.h"
#include "core/core.h"

typedef struct fm_run_opts {
    int force;          /* overwrite an existing results file */
    int quiet;          /* no progress lines */
    const char *output; /* results file path override (NULL: <output_dir>/<name>/results.h5) */
    int resume;         /* require a checkpoint to continue from (merging rounds) */
    int sweep_index;    /* -1: the config itself; else run this point of its sweep section */
} fm_run_opts;

/* Agree on a status across comm at a phase boundary: every rank returns the worst status,
 * and every rank's err holds the message of the lowest failing rank. Collective. */
fm_status fm_fleet_agree(MPI_Comm comm, fm_status local, fm_err *err);
/* Rank 0 loads and validates the config; the result (or the error) reaches every rank. */
fm_status fm_fleet_load_config(MPI_Comm comm, const char *path, fm_config *cfg, fm_err *err);
/* The same for point `index` of the config's sweep section (-1: the base config). */
fm_status fm_fleet_load_point(MPI_Comm comm, const char *path, int index, fm_config *cfg, fm_err *err);
/* MPI reducer over comm (one model per rank): sum in rank order, bitwise deterministic and
 * equal to the serial sum of the same models. ctx must outlive the reducer. */
typedef struct fm_mpi_reducer_ctx {
    MPI_Comm comm;
    int rank, size;
    double bytes_sent, bytes_recv; /* payload this rank sent / received in sums so far */
} fm_mpi_reducer_ctx;
fm_reducer fm_reducer_mpi(fm_mpi_reducer_ctx *ctx, MPI_Comm comm);

/* `fleet sweep CONFIG --status` (serial): one line per point, `I: STATE[ (detail)] PATH`, STATE one of
 * done (results of this config and rank count), stale (results of another config or rank count, or
 * unreadable), running (its lock is held), interrupted (a checkpoint, no lock: a rerun resumes it),
 * missing; then a summary line. *all_done = 1 if every point is done. */
fm_status fm_fleet_sweep_status(const char *config_path, FILE *out, int *all_done, fm_err *err);

/* `fleet run`: the whole experiment. Collective over comm. */
fm_status fm_fleet_run(MPI_Comm comm, const char *config_path, const fm_run_opts *opts, fm_err *err);
/* `fleet gen`: every rank generates its robot's demonstrations and the fleet writes one
 * demonstrations HDF5 file (docs/schema.md). Collective. */
fm_status fm_fleet_gen(MPI_Comm comm, const char *config_path, const char *out_path, int force,
                       fm_err *err);

/* ---- the process-wide world, for the command line (cli/ makes no MPI calls itself) ---- */
void fm_world_init(int *argc, char ***argv); /* MPI_Init; MPI errors are returned, not fatal */
/* MPI_Finalize and exit_code; after an unrecoverable I/O failure (io/guard.h) MPI_Abort(exit_code) instead. */
int fm_world_finalize(int exit_code);
int fm_world_rank(void);
fm_status fm_world_agree(fm_status local, fm_err *err);
fm_status fm_world_run(const char *config_path, const fm_run_opts *opts, fm_err *err);
fm_status fm_world_gen(const char *config_path, const char *out_path, int force, fm_err *err);

/* `fleet merge`: merge the local models of a results file with `method` in this process
 * (serial reducer); neural methods that train on data need the robots' demonstrations `data`
 * (a demonstrations file with one shard per robot). Writes `out` (refuses an existing file
 * unless force). */
fm_status fm_fleet_merge_offline(const char *results, const char *method, const char *data,
                                 const char *out, int force, fm_err *err);

/* `fleet render`: PNG frames of one tool-use episode (docs/tooluse.md). Serial. */
typedef struct fm_render_opts {
    const char *source;  /* results file (.h5: config + saved policies) or a config file (expert only) */
    const char *policy;  /* "expert" (or NULL), "pooled", "merged/<method>", "local/<robot>" */
    const char *out_dir; /* frames go to out_dir/frame_NNNN.png (created if missing) */
    const char *camera;  /* "" = the default free camera, else a camera of the scene (front, overhead) */
    int task;            /* task index */
    long long seed;      /* scene seed (episode randomization and point noise) */
    int width, height;
    int quiet;
} fm_render_opts;
fm_status fm_fleet_render(const fm_render_opts *o, fm_err *err);

#endif
