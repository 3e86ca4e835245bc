/* fleet_pooled.h - pooled static least squares over the fleet with ScaLAPACK (distributed QR).
 * The alternative to summing normal equations (fm_lin_fit_static with a reducer), selected by
 * train.pooled_ls = scalapack: no data leaves its rank except inside pdgels' Householder steps. */
#ifndef FM_FLEET_POOLED_H
#define FM_FLEET_POOLED_H

#include <mpi.h>

#include "core/core.h"
#include "data/data.h"

/* Pooled static least squares K = argmin sum_all_robots ||u - K y||^2 + ridge ||K||_F^2 over the
 * selected trajectories (task >= 0: only that task) of every rank, solved with ScaLAPACK pdgels
 * on a 1-D process grid (nprocs x 1): rank r's valid (y, u) rows form its block (padded with zero
 * rows to the common block size, which does not change the solution); ridge > 0 appends
 * sqrt(ridge) I rows on rank 0. theta (m x p) is identical on every rank on return; *loss is the
 * mean per-step squared error over the selected data of all ranks. Collective over comm.
 * FM_EDATA if no rank has data for the selection.
 *
 * Shapes: demos->obs_dim == p, demos->act_dim == m (FM_EINVAL otherwise); only the first
 * length[i] steps of trajectory i are read. p, m, task and whether ridge > 0 must be the same on
 * every rank (checked, FM_EINVAL); the ridge value used is process row 0's. ridge >= 0.
 * demos, theta, loss must not be NULL; a rank may hold no selected trajectories (even
 * n_traj == 0). theta and *loss are written only on success. Every rank returns the same status
 * and err->msg holds the lowest failing rank's message. FM_ENUMERIC if the selected rows do
 * not determine K (fewer than p steps or numerically rank-deficient, without ridge), if
 * pdgels reports an error, or if the solution is not finite. */
fm_status fm_pooled_static_scalapack(MPI_Comm comm, int p, int m, const fm_demos *demos, int task,
                                     double ridge, double *theta, double *loss, fm_err *err);

#endif
