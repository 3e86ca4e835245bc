/* h5io.h - HDF5 files of fleetmerge: demonstrations (input) and results (output).
 * Parallel HDF5 (MPI-IO): every call taking an fm_h5 handle is COLLECTIVE over the
 * handle's communicator (all ranks call it with the same path and shape).
 * Files are written to "<path>.tmp" and renamed to <path> only by fm_h5_close(.., commit=1),
 * so a crash never leaves a half-written file under the final name.
 * Schemas: docs/schema.md. */
#ifndef FM_H5IO_H
#define FM_H5IO_H

#include <mpi.h>
#include <stdint.h>

#include "core/core.h"
#include "data/data.h"

#define FM_DEMOS_FORMAT_VERSION 1
#define FM_RESULTS_FORMAT_VERSION 1

typedef struct fm_h5 fm_h5; /* opaque writer handle */

/* mkdir -p for the directory part of path (serial; FM_EIO naming the directory that failed). */
fm_status fm_mkdir_parents(const char *path, fm_err *err);

/* Create "<path>.tmp" for writing (truncating), collectively over comm; missing parent
 * directories of path are created first (by rank 0). */
fm_status fm_h5_create(MPI_Comm comm, const char *path, fm_h5 **out, fm_err *err);
/* Close; commit != 0 renames "<path>.tmp" to path (rank 0, after all ranks closed),
 * commit == 0 deletes the temporary file. Safe on NULL. Collective. One rank passing commit == 0
 * is enough for nobody to commit: when other ranks passed 1, every rank returns an error (the
 * message of a giving-up rank's err when it holds one). A rank that passes 0 on its own failure
 * while the others are already inside the next collective write ends the job by the guard's
 * watchdog (io/guard.h). */
fm_status fm_h5_close(fm_h5 *h, int commit, fm_err *err);

/* Dataset of doubles with `ndims` dims, written from rank 0's buffer (other ranks may pass NULL).
 * Parent groups are created as needed ("/a/b/c" creates /a and /a/b). */
fm_status fm_h5_write_f64(fm_h5 *h, const char *dset, int ndims, const int64_t *dims,
                          const double *data, fm_err *err);
fm_status fm_h5_write_i32(fm_h5 *h, const char *dset, int ndims, const int64_t *dims,
                          const int32_t *data, fm_err *err);
/* float32 variants (neural network parameters). */
fm_status fm_h5_write_f32(fm_h5 *h, const char *dset, int ndims, const int64_t *dims,
                          const float *data, fm_err *err);
fm_status fm_h5_write_rows_f32(fm_h5 *h, const char *dset, int row_ndims, const int64_t *row_dims,
                               const float *row, fm_err *err);
/* Dataset of shape [nranks, row_dims...]: every rank writes its own row (index = rank). */
fm_status fm_h5_write_rows_f64(fm_h5 *h, const char *dset, int row_ndims, const int64_t *row_dims,
                               const double *row, fm_err *err);
/* Scalar fixed-length string dataset holding `text` (rank 0's). */
fm_status fm_h5_write_text(fm_h5 *h, const char *dset, const char *text, fm_err *err);
/* Attributes on an existing object ("/" for the file). Value from rank 0. */
fm_status fm_h5_attr_i64(fm_h5 *h, const char *obj, const char *name, int64_t value, fm_err *err);
fm_status fm_h5_attr_f64(fm_h5 *h, const char *obj, const char *name, double value, fm_err *err);
fm_status fm_h5_attr_text(fm_h5 *h, const char *obj, const char *name, const char *value, fm_err *err);

/* ---- demonstrations file (docs/schema.md "Demonstrations") ----
 * /demos/obs      float64 [N_traj, T, p]
 * /demos/actions  float64 [N_traj, T, m]
 * /demos/task     int32   [N_traj]
 * /demos/length   int32   [N_traj]
 * /demos/robot_offsets int64 [R + 1]: robot r owns trajectories [off[r], off[r+1])
 * /demos/mixture  float64 [R, K]   each robot's task mixture weights
 * root attributes: format_version (int, = 1), kind = "fleetmerge-demos", env (string),
 * num_robots (int), num_tasks (int).
 */
typedef struct fm_demos_meta {
    char env[64];
    int num_robots;
    int num_tasks;
} fm_demos_meta;

/* Collective write: each rank contributes its own demos (same T, p, m on all ranks) and its
 * mixture weights [num_tasks]; rows are laid out in rank order. The file is committed
 * (renamed) on success. */
fm_status fm_h5_write_demos(MPI_Comm comm, const char *path, const fm_demos_meta *meta,
                            const fm_demos *mine, const double *mixture, fm_err *err);
/* Collective read: rank r of comm reads only robot r's rows (hyperslab) into `mine`
 * (allocated here) and its mixture weights into mixture[num_tasks] (allocated here).
 * Validates everything: format_version, presence, dtype class and rank of every dataset,
 * consistent dims, offsets monotone and within N_traj, lengths in [1, T], tasks in [0, K),
 * num_robots equal to the communicator size. Errors are FM_EDATA naming the file and the
 * dataset, e.g. "demos.h5: /demos/obs: expected 3 dimensions, got 2". */
fm_status fm_h5_read_demos(MPI_Comm comm, const char *path, fm_demos_meta *meta, fm_demos *mine,
                           double **mixture, fm_err *err);
/* Serial (one process, offline tools): robot `robot`'s shard of a file holding any number of
 * robots, with the same validation. */
fm_status fm_h5_read_demos_robot(const char *path, int robot, fm_demos_meta *meta, fm_demos *mine,
                                 double **mixture, fm_err *err);

/* ---- serial readers for tools and tests (one process, no MPI collectives) ----
 * `path` is an HDF5 file (any writer: fleetmerge, h5py, ...). Errors: FM_EIO when the file
 * cannot be opened, FM_EDATA when it is not HDF5 or the object is missing or of the wrong kind;
 * messages name the file and the object. Outputs are untouched-or-NULL on failure. */
#define FM_H5_MAX_DIMS 8
/* Numeric dataset (any integer or float type, <= FM_H5_MAX_DIMS dims) converted to double.
 * *data is malloc'ed here (free() it; at least one element even when empty), row-major with
 * shape dims[0..*ndims). A scalar dataset has *ndims == 0 and one value. */
fm_status fm_h5_read_f64(const char *path, const char *dset, double **data, int *ndims,
                         int64_t dims[FM_H5_MAX_DIMS], fm_err *err);
/* Numeric dataset of exactly the shape dims[ndims] (else FM_EDATA naming both shapes), converted
 * into the caller's buffer (prod(dims) elements). Nothing is allocated from the file's declarations. */
fm_status fm_h5_read_f64_into(const char *path, const char *dset, int ndims, const int64_t *dims, double *out,
                              fm_err *err);
fm_status fm_h5_read_f32_into(const char *path, const char *dset, int ndims, const int64_t *dims, float *out,
                              fm_err *err);
/* Scalar string dataset (fixed or variable length) into *text (malloc'ed, NUL-terminated). */
fm_status fm_h5_read_text(const char *path, const char *dset, char **text, fm_err *err);
/* Single-valued numeric attribute `name` of object `obj` ("/" for the file) as a double. */
fm_status fm_h5_read_attr_f64(const char *path, const char *obj, const char *name, double *value,
                              fm_err *err);
/* String attribute into *value (malloc'ed, NUL-terminated). */
fm_status fm_h5_read_attr_text(const char *path, const char *obj, const char *name, char **value,
                               fm_err *err);
/* Serial: FM_OK when every piece of `path`'s metadata is checksummed (superblock >= v2, every
 * object header v2: the HDF5 1.8 format fleetmerge writes), so that HDF5 refuses a damaged byte
 * before decoding it; FM_EDATA naming the first unchecked object otherwise. Readers of
 * fleetmerge's own files (checkpoints) call it before anything else. */
fm_status fm_h5_check_checksummed(const char *path, fm_err *err);
/* Human summary of a file on `out` (used by `fleet info`): the path, root attributes, then every
 * group and dataset recursively in name order as "/name: dtype [shape]" with short values
 * (strings, up to 8 numbers) and the object's attributes indented below it. */
fm_status fm_h5_describe(const char *path, FILE *out, fm_err *err);

#endif
