/* fleet_common.h - helpers shared by the run flows of fleet/ (internal to fleet/ and cli/). */
#ifndef FM_FLEET_COMMON_H
#define FM_FLEET_COMMON_H

#include "fleet/fleet.h"

/* Check fleet.robots against the communicator, choose the results path (opts->output or
 * <output_dir>/<name>/results.h5), refuse an existing file unless opts->force, create the
 * parent directories. Collective; every rank gets the same status. */
fm_status fm_fleet_output(MPI_Comm comm, const fm_config *cfg, const fm_run_opts *opts, char *path,
                          size_t cap, fm_err *err);
/* Robot `rank`'s task mixture p ~ Dirichlet(alpha 1_K) and the tasks of its
 * cfg->fleet.demos_per_robot demonstrations, from its MIXTURE stream. */
void fm_fleet_draw_tasks(const fm_config *cfg, int rank, int K, double *mixture, int *tasks);
/* The neural-policy flow of `fleet run` / `fleet gen` (fleet_nn.c), after the config is loaded. */
fm_status fm_run_nn(MPI_Comm comm, const fm_config *cfg, const fm_run_opts *opts, fm_err *err);
fm_status fm_gen_nn(MPI_Comm comm, const fm_config *cfg, const char *out_path, int force, fm_err *err);

#endif
