/* fleet_run.h - internal state of one `fleet run` (shared by fleet_run.c, fleet_report.c). */
#ifndef FM_FLEET_RUN_H
#define FM_FLEET_RUN_H

#include "data/data.h"
#include "env/lqg/lqg.h"
#include "fleet/fleet.h"
#include "merge/merge.h"
#include "nn/linpol.h"

typedef struct run_ctx {
    MPI_Comm comm;
    int rank, size;
    fm_run_opts opts;
    fm_config cfg;
    fm_lqg env;
    fm_lindims dims;
    size_t npar;
    fm_mpi_reducer_ctx rctx;
    fm_reducer red;
    char out_path[1024];
    double t_start;
    /* data and local policy (this robot) */
    fm_demos demos;
    double *mixture;          /* [K] */
    double *theta_local;      /* [npar] */
    double local_loss;
    int flipped;
    /* merges */
    double *merged;           /* [num_methods][npar] */
    double *transforms;       /* [num_methods][k * k] (this robot's) */
    fm_merge_info *minfo;     /* [num_methods] */
    double *t_merge;          /* [num_methods] seconds */
    /* baselines */
    double *pooled, pooled_loss;
    double *task_spec;        /* [K][npar] */
    int *task_ok;             /* [K] task had data somewhere in the fleet */
    double *task_count;       /* [K] trajectories of each task in the fleet */
    /* evaluation: global policies are merged methods, then pooled, then task-specific */
    int npol;
    double *ev_exact, *ev_roll; /* [npol][K] */
    double *opt_roll;           /* [K] expert rollout cost */
    double *loc_exact, *loc_roll; /* [K] this robot's local policy */
    double *all_loc_exact, *all_loc_roll; /* [N][K] every robot's, filled by write_results */
    double t_phase[6];          /* data, train, merge, baselines, eval, write */
} run_ctx;

fm_status fm_run_write_results(run_ctx *c, fm_err *err);
void fm_run_print_summary(const run_ctx *c);

#endif
