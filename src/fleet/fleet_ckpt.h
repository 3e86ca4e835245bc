/* fleet_ckpt.h - checkpoints of merging rounds (docs/schema.md "Checkpoints").
 * After local training, after every round and after each later baseline, <results>.ckpt (written
 * to .tmp, renamed) holds the resolved config, the number of ranks, the rounds done, every robot's
 * parameters and Adam state, the merged model, the per-round metrics and the baselines finished so
 * far (every robot's own policy; the pooled policy; the task-specific scores); a rerun of the same
 * command on the same number of ranks continues after the last finished phase and redoes none.
 * The reader trusts nothing in the file: every attribute and dataset is shape-, range- and
 * finiteness-checked before it reaches the caller, with the file and the object named. */
#ifndef FM_FLEET_CKPT_H
#define FM_FLEET_CKPT_H

#include <mpi.h>
#include <stddef.h>

#include "core/core.h"

#define FM_CKPT_KIND "fleetmerge-checkpoint"
#define FM_CKPT_FORMAT_VERSION 2

/* What the run expects of its checkpoint (shapes and the config it must match). */
typedef struct fm_ckpt_shape {
    const char *config;   /* the resolved config text (fm_cfg_dump_alloc); the file's /config must equal it */
    int nranks;           /* ranks of the run: the file's rows and its `ranks` attribute must equal it */
    int rank;             /* whose row to read (0 <= rank < nranks) */
    int rounds;           /* R: fleet.rounds */
    int round_cols;       /* columns of the per-round metrics /rounds [R * round_cols] */
    unsigned nan_ok_cols; /* bit j set: column j of a done round may be NaN (e.g. scores not measured) */
    int max_count_col;    /* column holding a count in [0, nranks] (participants), or -1 */
    size_t nparams;       /* P: parameters of one model */
    int nts;              /* values of the task-specific scores (tasks x scores; NaN allowed), >= 1 */
    const char *version;  /* the build that must have written it (fm_version()); NULL: any (fuzzing) */
} fm_ckpt_shape;

/* The state of one rank; every buffer is owned by the caller and sized by the shape. */
typedef struct fm_ckpt_state {
    int done;      /* rounds complete, 0..R (0: local training only) */
    long adam_t;   /* Adam step count of this robot */
    float *params; /* [P] this robot's parameters */
    float *adam_m; /* [P] */
    float *adam_v; /* [P], >= 0 */
    double *comm;  /* [3 R] this robot's bytes sent, received, left-out flag per round, >= 0 */
    float *merged; /* [P] the merged model after round `done` (the same on every rank) */
    double *rounds;/* [R * round_cols] metrics; rows >= done are not read (left untouched) */
    float *local;        /* [P] this robot's own policy (the local baseline) */
    double local_fit[2]; /* its final training loss and optimizer steps */
    int have_pooled;     /* 1: pooled and pooled_fit hold the pooled baseline (rank 0's on write) */
    float *pooled;       /* [P] */
    double pooled_fit[2];
    int have_ts;         /* 1: ts holds the task-specific scores (rank 0's on write) */
    double *ts;          /* [nts] */
} fm_ckpt_state;

/* Collective over comm: write `path` (to "<path>.tmp", renamed when complete). Every rank passes
 * its own state; merged, rounds, done and the pooled / task-specific parts are rank 0's. */
fm_status fm_ckpt_write(MPI_Comm comm, const char *path, const fm_ckpt_shape *shape,
                        const fm_ckpt_state *st, fm_err *err);

/* Serial (any process, no collectives): read rank shape->rank's state from `path` into st (every
 * buffer sized by the shape; pooled and ts are filled only when the file holds them: have_pooled,
 * have_ts). Returns FM_EDATA for a damaged or foreign file (wrong kind, shapes, non-finite or
 * out-of-range numbers, rounds_done outside 0..R), FM_EINVAL when the file is a checkpoint of
 * another run (different config, number of ranks or build), FM_EIO when it cannot be read. On
 * failure st's buffers may hold partial data and st->done is -1. */
fm_status fm_ckpt_read(const char *path, const fm_ckpt_shape *shape, fm_ckpt_state *st, fm_err *err);

#endif
