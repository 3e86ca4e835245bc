/* h5io_internal.h - private to src/io/h5*.c: the writer handle and the helpers that h5core.c shares with
 * h5write.c, h5demos.c, h5read.c and h5describe.c. Callers outside io/ use h5io.h only. The contract
 * of each helper is the comment at its definition in h5core.c; the collective discipline is in the
 * comment at the top of h5core.c. */
#ifndef FM_H5IO_INTERNAL_H
#define FM_H5IO_INTERNAL_H

#include <hdf5.h>
#include <stdint.h>

#include "io/h5io.h"

#define H5I_NAME_CAP 1024 /* longest object name accepted, with its NUL */
#define H5I_LLU(x) ((unsigned long long)(x))

struct fm_h5 {
    MPI_Comm comm;       /* caller's communicator (must outlive the handle) */
    MPI_Comm close_comm; /* private duplicate of comm, used only by fm_h5_close's first agreement */
    int rank, size;
    hid_t file;
    char *path; /* final name, used in messages */
    char *tmp;  /* "<path>.tmp", the name written */
};

/* ---- errors: HDF5 and MPI ---- */

typedef struct h5i_quiet {
    H5E_auto2_t func;
    void *data;
} h5i_quiet;

void h5i_quiet_begin(h5i_quiet *q);
void h5i_quiet_end(const h5i_quiet *q);
fm_status h5i_fail(fm_err *err, fm_status code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Like FM_CHECK for HDF5 calls: FM_EIO with HDF5's innermost error appended. */
#define H5_CHECK(cond, ...)                                    \
    do {                                                       \
        if (!(cond)) {                                         \
            status = h5i_fail(err, FM_EIO, __VA_ARGS__);       \
            fm_err_at(err, __FILE__, __LINE__);                \
            goto cleanup;                                      \
        }                                                      \
    } while (0)

int h5i_close(hid_t *id);

/* In a cleanup block: close `id`; a failure becomes the status when none is set yet. */
#define H5_CLOSE(id, file)                                                                    \
    do {                                                                                      \
        if (h5i_close(&(id)) < 0 && status == FM_OK)                                          \
            status = h5i_fail(err, FM_EIO, "%s: cannot close an HDF5 handle", (file));        \
    } while (0)

fm_status h5i_mpi_fail(fm_err *err, int rc, const char *what);
fm_status h5i_comm_info(MPI_Comm comm, int *rank, int *size, fm_err *err);
fm_status h5i_agree(MPI_Comm comm, fm_status local, fm_err *err);
uint64_t h5i_fnv1a(const char *s);

/* ---- names, files, datasets ---- */

fm_status h5i_check_name(const char *file, const char *what, const char *name, fm_err *err);
fm_status h5i_path_exists(hid_t loc, const char *file, const char *name, int *exists, fm_err *err);

enum h5i_open_mode { H5I_OPEN_CREATE = 0, H5I_OPEN_READ, H5I_OPEN_MODE_COUNT };

fm_status h5i_open_file(MPI_Comm comm, const char *name, const char *shown, enum h5i_open_mode mode,
                        hid_t *file, fm_err *err);

/* One rank's part of a collective transfer: a hyperslab of an ndims dataset, or nothing. */
typedef struct h5i_slab {
    int ndims; /* 0: scalar dataset */
    int none;  /* this rank transfers nothing */
    hsize_t start[FM_H5_MAX_DIMS];
    hsize_t count[FM_H5_MAX_DIMS];
} h5i_slab;

h5i_slab h5i_rows_slab(int ndims, const hsize_t *dims, hsize_t first, hsize_t nrows);
h5i_slab h5i_whole_slab(int ndims, const hsize_t *dims, int mine);
fm_status h5i_slab_io(const char *file, const char *name, hid_t dset, hid_t mtype, const h5i_slab *sel,
                      void *buf, int write, fm_err *err);
fm_status h5i_put(fm_h5 *h, const char *name, hid_t ftype, hid_t mtype, int ndims, const hsize_t *dims,
                  const h5i_slab *sel, const void *buf, fm_err *err);

/* ---- reading helpers (serial or parallel) ---- */

const char *h5i_class_name(H5T_class_t c);
fm_status h5i_check_numeric_type(hid_t type, const char *file, const char *what, fm_err *err);
herr_t h5i_read_whole(hid_t id, int is_attr, hid_t mtype, void *buf);
fm_status h5i_read_number(hid_t id, int is_attr, const char *file, const char *what, hid_t mtype, int int_only,
                          void *value, fm_err *err);
fm_status h5i_read_string(hid_t id, int is_attr, const char *file, const char *what, char **out, fm_err *err);
fm_status h5i_attr_open(hid_t obj, const char *file, const char *name, const char *shown, hid_t *attr,
                        fm_err *err);
fm_status h5i_attr_get_int(hid_t obj, const char *file, const char *name, int64_t *v, fm_err *err);
fm_status h5i_attr_get_text(hid_t obj, const char *file, const char *name, char **v, fm_err *err);
fm_status h5i_object_open(hid_t file, const char *path, const char *name, int want_dataset, hid_t *obj,
                          fm_err *err);
fm_status h5i_check_backed(hid_t ds, const char *file, const char *name, double slack, fm_err *err);

#endif
