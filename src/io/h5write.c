/* h5write.c - the collective writer handle (fm_h5_create, fm_h5_close) and the fm_h5_write_* and
 * fm_h5_attr_* writers. Collective model: h5core.c. */
#define _POSIX_C_SOURCE 200809L
#include "io/h5io_internal.h"
#include "io/guard.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ======================= writer handle ======================= */

static void handle_free(fm_h5 *h)
{
    if (!h)
        return;
    if (h5i_close(&h->file) < 0)
        h->file = H5I_INVALID_HID; /* only on failure paths, whose error is already recorded */
    if (h->close_comm != MPI_COMM_NULL)
        MPI_Comm_free(&h->close_comm);
    free(h->tmp);
    free(h->path);
    free(h);
}

static fm_status handle_new(MPI_Comm comm, int rank, int size, const char *path, int have_out,
                            fm_h5 **out, fm_err *err)
{
    fm_status status = FM_OK;
    fm_h5 *h = NULL;
    size_t len = path ? strlen(path) : 0;
    *out = NULL;
    FM_CHECK(have_out && len > 0, FM_EINVAL, "fm_h5_create: %s",
             have_out ? "empty or NULL path" : "NULL output handle");
    FM_ALLOC(h, 1);
    h->comm = comm;
    h->close_comm = MPI_COMM_NULL;
    h->rank = rank;
    h->size = size;
    h->file = H5I_INVALID_HID;
    FM_ALLOC(h->path, len + 1);
    FM_ALLOC(h->tmp, len + 5);
    memcpy(h->path, path, len + 1);
    snprintf(h->tmp, len + 5, "%s.tmp", path);
    *out = h;
    h = NULL;
cleanup:
    handle_free(h);
    return status;
}

fm_status fm_mkdir_parents(const char *path, fm_err *err)
{
    char buf[H5I_NAME_CAP];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return fm_fail(err, FM_EINVAL, "output path too long: %s", path);
    for (char *s = buf + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return fm_fail(err, FM_EIO, "%s: cannot create directory '%s': %s", path, buf, strerror(errno));
        *s = '/';
    }
    return FM_OK;
}

fm_status fm_h5_create(MPI_Comm comm, const char *path, fm_h5 **out, fm_err *err)
{
    fm_status status = FM_OK;
    fm_h5 *h = NULL;
    int rank = 0, size = 0;
    h5i_quiet q;
    h5i_quiet_begin(&q);
    if (out)
        *out = NULL;
    FM_TRY(h5i_comm_info(comm, &rank, &size, err));
    FM_TRY(h5i_agree(comm, handle_new(comm, rank, size, path, out != NULL, &h, err), err));
    int rc = MPI_Comm_dup(comm, &h->close_comm);
    FM_TRY(h5i_agree(comm, rc == MPI_SUCCESS ? FM_OK : h5i_mpi_fail(err, rc, "MPI_Comm_dup (file handle)"), err));
    FM_TRY(h5i_agree(comm, rank == 0 ? fm_mkdir_parents(h->path, err) : FM_OK, err));
    fm_guard_track(h->tmp);
    FM_TRY(h5i_agree(comm, h5i_open_file(comm, h->tmp, h->path, H5I_OPEN_CREATE, &h->file, err), err));
    *out = h;
    h = NULL;
cleanup:
    if (h)
        fm_guard_untrack(h->tmp);
    handle_free(h);
    h5i_quiet_end(&q);
    return status;
}

/* Rank 0, after every rank closed: rename (commit) or remove the temporary file. */
static fm_status finish_rank0(const fm_h5 *h, int commit, fm_status closed, fm_err *err)
{
    if (commit && closed == FM_OK) {
        if (rename(h->tmp, h->path) != 0) {
            fm_status st = fm_fail(err, FM_EIO, "%s: cannot rename %s to %s: %s", h->path, h->tmp, h->path,
                                   strerror(errno));
            remove(h->tmp); /* nothing half-done is left behind */
            return st;
        }
        return FM_OK;
    }
    if (remove(h->tmp) != 0 && errno != ENOENT && closed == FM_OK)
        return fm_fail(err, FM_EIO, "%s: cannot remove %s: %s", h->path, h->tmp, strerror(errno));
    return closed;
}

/* fm_h5_close's first collective: *any_broken / *any_gives_up / *any_commits = whether some rank
 * is marked broken / closes without commit / with commit. A rank that gives the file up on its own (its failure between two
 * collective writes) may find the others inside the next write, which it never enters: it arms the
 * watchdog (guard.h) for this one collective, on a communicator no write uses, so that the job
 * ends within seconds with its message instead of hanging or matching another rank's write. */
static void close_agree_first(fm_h5 *h, int commit, const fm_err *err, int *any_broken, int *any_gives_up,
                              int *any_commits)
{
    int mine[3] = {fm_guard_broken(), !commit, !!commit}, any[3] = {1, 1, 0};
    int watch = !commit && !mine[0];
    if (watch && err && err->code != FM_OK)
        fm_guard_arm("%s", err->msg);
    else if (watch)
        fm_guard_arm("%s: closed without its other ranks", h->path);
    if (MPI_Allreduce(mine, any, 3, MPI_INT, MPI_MAX, h->close_comm) != MPI_SUCCESS)
        any[0] = any[1] = 1, any[2] = 0;
    if (watch)
        fm_guard_disarm();
    *any_broken = any[0];
    *any_gives_up = any[1];
    *any_commits = any[2];
}

fm_status fm_h5_close(fm_h5 *h, int commit, fm_err *err)
{
    fm_status status = FM_OK, local = FM_OK;
    h5i_quiet q;
    if (!h)
        return FM_OK;
    h5i_quiet_begin(&q);
    int mine = fm_guard_broken(), any = mine, gives_up = !commit, commits = commit, close_failed = 0;
    close_agree_first(h, commit, err, &any, &gives_up, &commits);
    /* After an MPI-IO failure on any rank HDF5 cannot close the file collectively (guard.h): nobody
     * calls H5Fclose, the temporary file goes, and the job ends by MPI_Abort in fm_guard_exit. */
    if (any) {
        if (!mine)
            fm_guard_mark("%s: another rank could not write it", h->path);
        h->file = H5I_INVALID_HID; /* left open: closing it would deadlock or crash */
        local = fm_fail(err, FM_EIO, "%s: cannot write %s: %s", h->path, h->tmp, fm_guard_message());
        commit = 0;
    } else if (h5i_close(&h->file) < 0) {
        local = h5i_fail(err, FM_EIO, "%s: cannot close %s", h->path, h->tmp);
        close_failed = 1;
    } else if (!commit && commits && err && err->code != FM_OK) {
        local = err->code; /* this rank's own failure reaches the ranks that wanted to commit */
    }
    commit = commit && !gives_up; /* one rank giving the file up is enough: nobody commits */
    /* a file HDF5 could not close would crash its clean-up in MPI_Finalize: every rank then ends by
     * MPI_Abort (all of them, so that none waits for the others in MPI_Finalize) */
    int failed = close_failed, any_failed = failed;
    if (MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, h->comm) != MPI_SUCCESS || any_failed)
        fm_guard_mark("%s: HDF5 could not close %s", h->path, h->tmp);
    fm_status closed = h5i_agree(h->comm, local, err); /* also the barrier before the rename */
    if (h->rank == 0)
        local = finish_rank0(h, commit, closed, err);
    else
        local = closed;
    status = h5i_agree(h->comm, local, err); /* everyone returns rank 0's outcome */
    if (status != FM_OK)
        fm_err_at(err, __FILE__, __LINE__);
    fm_guard_untrack(h->tmp);
    handle_free(h);
    h5i_quiet_end(&q);
    return status;
}

/* ======================= writers ======================= */

/* Fixed-length NUL-terminated ASCII string type holding `len` characters. */
static fm_status string_type(const char *file, const char *name, size_t len, hid_t *type,
                             fm_err *err)
{
    fm_status status = FM_OK;
    *type = H5Tcopy(H5T_C_S1);
    H5_CHECK(*type >= 0 && H5Tset_size(*type, len + 1) >= 0 &&
                 H5Tset_strpad(*type, H5T_STR_NULLTERM) >= 0,
             "%s: %s: cannot make a string type of %zu characters", file, name, len);
cleanup:
    if (status != FM_OK && h5i_close(type) < 0)
        *type = H5I_INVALID_HID; /* the failure is already reported */
    return status;
}

/* Collective: FM_EINVAL on every rank unless all ranks passed the same names and shape
 * (a mismatch would otherwise hang or corrupt inside HDF5). */
static fm_status same_args(const fm_h5 *h, const char *a, const char *b, int ndims,
                           const int64_t *dims, fm_err *err)
{
    enum { N = 3 + FM_H5_MAX_DIMS };
    uint64_t v[N], w[2 * N], r[2 * N];
    int rc;
    v[0] = h5i_fnv1a(a);
    v[1] = h5i_fnv1a(b);
    v[2] = (uint64_t)ndims;
    for (int i = 0; i < FM_H5_MAX_DIMS; i++)
        v[3 + i] = i < ndims ? (uint64_t)dims[i] : UINT64_MAX;
    for (int i = 0; i < N; i++) {
        w[i] = v[i];
        w[N + i] = ~v[i]; /* max of ~v is ~(min of v) */
    }
    if ((rc = MPI_Allreduce(w, r, 2 * N, MPI_UINT64_T, MPI_MAX, h->comm)) != MPI_SUCCESS)
        return h5i_mpi_fail(err, rc, "MPI_Allreduce (argument check)");
    for (int i = 0; i < N; i++)
        if (r[i] != v[i] || ~r[N + i] != v[i])
            return fm_fail(err, FM_EINVAL,
                           "%s: %s%s%s: ranks passed different names or shapes to a collective call",
                           h->path, a ? a : "", b && *b ? " " : "", b ? b : "");
    return FM_OK;
}

/* Local checks of a dataset write: name, 0 <= ndims <= max_ndims, dims >= 0, data when needed. */
static fm_status check_array_args(const fm_h5 *h, const char *dset, int ndims, int max_ndims,
                                  const int64_t *dims, const void *data, int need_data,
                                  fm_err *err)
{
    fm_status status = FM_OK;
    int64_t total = 1;
    FM_TRY(h5i_check_name(h->path, "dataset", dset, err));
    FM_CHECK(ndims >= 0 && ndims <= max_ndims, FM_EINVAL, "%s: %s: %d dimensions, expected 0..%d",
             h->path, dset, ndims, max_ndims);
    FM_CHECK(ndims == 0 || dims, FM_EINVAL, "%s: %s: NULL dims", h->path, dset);
    for (int i = 0; i < ndims; i++) {
        FM_CHECK(dims[i] >= 0 && (dims[i] == 0 || total <= (INT64_C(1) << 58) / dims[i]),
                 FM_EINVAL, "%s: %s: bad dimension %d: %lld", h->path, dset, i,
                 (long long)dims[i]);
        total *= dims[i];
    }
    FM_CHECK(!need_data || data || total == 0, FM_EINVAL, "%s: %s: NULL data", h->path, dset);
cleanup:
    return status;
}

/* Collective: dataset of shape dims written from rank 0's buffer. */
static fm_status put_from_root(fm_h5 *h, const char *dset, hid_t ftype, hid_t mtype, int ndims,
                               const int64_t *dims, const void *data, fm_err *err)
{
    fm_status status = FM_OK;
    hsize_t hd[FM_H5_MAX_DIMS] = {0};
    h5i_quiet q;
    if (!h)
        return fm_fail(err, FM_EINVAL, "fm_h5 write %s: NULL handle", dset ? dset : "");
    h5i_quiet_begin(&q);
    FM_TRY(h5i_agree(h->comm,
                     check_array_args(h, dset, ndims, FM_H5_MAX_DIMS, dims, data, h->rank == 0, err),
                     err));
    FM_TRY(same_args(h, dset, "", ndims, dims, err));
    for (int i = 0; i < ndims; i++)
        hd[i] = (hsize_t)dims[i];
    h5i_slab sel = h5i_whole_slab(ndims, hd, h->rank == 0);
    FM_TRY(h5i_put(h, dset, ftype, mtype, ndims, hd, &sel, data, err));
cleanup:
    h5i_quiet_end(&q);
    return status;
}

fm_status fm_h5_write_f64(fm_h5 *h, const char *dset, int ndims, const int64_t *dims,
                          const double *data, fm_err *err)
{
    return put_from_root(h, dset, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, ndims, dims, data, err);
}

fm_status fm_h5_write_i32(fm_h5 *h, const char *dset, int ndims, const int64_t *dims,
                          const int32_t *data, fm_err *err)
{
    return put_from_root(h, dset, H5T_STD_I32LE, H5T_NATIVE_INT32, ndims, dims, data, err);
}

fm_status fm_h5_write_f32(fm_h5 *h, const char *dset, int ndims, const int64_t *dims,
                          const float *data, fm_err *err)
{
    return put_from_root(h, dset, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, ndims, dims, data, err);
}

/* Collective: every rank writes its row of a [nranks, row_dims...] dataset. */
static fm_status put_rows(fm_h5 *h, const char *dset, hid_t ftype, hid_t mtype, int row_ndims,
                          const int64_t *row_dims, const void *row, fm_err *err)
{
    fm_status status = FM_OK;
    hsize_t hd[FM_H5_MAX_DIMS] = {0};
    h5i_quiet q;
    if (!h)
        return fm_fail(err, FM_EINVAL, "fm_h5 write rows %s: NULL handle", dset ? dset : "");
    h5i_quiet_begin(&q);
    FM_TRY(h5i_agree(h->comm,
                     check_array_args(h, dset, row_ndims, FM_H5_MAX_DIMS - 1, row_dims, row, 1, err),
                     err));
    FM_TRY(same_args(h, dset, "", row_ndims, row_dims, err));
    hd[0] = (hsize_t)h->size;
    for (int i = 0; i < row_ndims; i++)
        hd[i + 1] = (hsize_t)row_dims[i];
    h5i_slab sel = h5i_rows_slab(row_ndims + 1, hd, (hsize_t)h->rank, 1);
    FM_TRY(h5i_put(h, dset, ftype, mtype, row_ndims + 1, hd, &sel, row, err));
cleanup:
    h5i_quiet_end(&q);
    return status;
}

fm_status fm_h5_write_rows_f64(fm_h5 *h, const char *dset, int row_ndims, const int64_t *row_dims,
                               const double *row, fm_err *err)
{
    return put_rows(h, dset, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, row_ndims, row_dims, row, err);
}

fm_status fm_h5_write_rows_f32(fm_h5 *h, const char *dset, int row_ndims, const int64_t *row_dims,
                               const float *row, fm_err *err)
{
    return put_rows(h, dset, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, row_ndims, row_dims, row, err);
}

/* Collective: *copy = rank 0's `text` on every rank (malloc'ed). */
static fm_status bcast_text(const fm_h5 *h, const char *text, char **copy, fm_err *err)
{
    fm_status status = FM_OK;
    unsigned long long len = h->rank == 0 ? strlen(text) : 0;
    int rc;
    *copy = NULL;
    if ((rc = MPI_Bcast(&len, 1, MPI_UNSIGNED_LONG_LONG, 0, h->comm)) != MPI_SUCCESS)
        FM_TRY(h5i_mpi_fail(err, rc, "MPI_Bcast (text length)"));
    FM_TRY(h5i_agree(h->comm, fm_calloc(copy, (size_t)len + 1, 1, err), err));
    if (h->rank == 0)
        memcpy(*copy, text, (size_t)len);
    if ((rc = MPI_Bcast(*copy, (int)len, MPI_CHAR, 0, h->comm)) != MPI_SUCCESS)
        FM_TRY(h5i_mpi_fail(err, rc, "MPI_Bcast (text)"));
cleanup:
    if (status != FM_OK) {
        free(*copy);
        *copy = NULL;
    }
    return status;
}

/* Local checks of a text write: name and, on rank 0, a string shorter than INT_MAX. */
static fm_status check_text_args(const fm_h5 *h, const char *what, const char *name,
                                 const char *text, fm_err *err)
{
    if (h->rank == 0 && (!text || strlen(text) >= INT_MAX - 1))
        return fm_fail(err, FM_EINVAL, "%s: %s: %s text", h->path, name ? name : "(null)",
                       text ? "too long a" : "NULL");
    if (strcmp(what, "dataset") == 0)
        return h5i_check_name(h->path, what, name, err);
    return FM_OK;
}

fm_status fm_h5_write_text(fm_h5 *h, const char *dset, const char *text, fm_err *err)
{
    fm_status status = FM_OK;
    hid_t type = H5I_INVALID_HID;
    char *copy = NULL;
    h5i_quiet q;
    if (!h)
        return fm_fail(err, FM_EINVAL, "fm_h5_write_text %s: NULL handle", dset ? dset : "");
    h5i_quiet_begin(&q);
    FM_TRY(h5i_agree(h->comm, check_text_args(h, "dataset", dset, text, err), err));
    FM_TRY(same_args(h, dset, "", 0, NULL, err));
    FM_TRY(bcast_text(h, text, &copy, err));
    FM_TRY(h5i_agree(h->comm, string_type(h->path, dset, strlen(copy), &type, err), err));
    h5i_slab sel = h5i_whole_slab(0, NULL, h->rank == 0);
    FM_TRY(h5i_put(h, dset, type, type, 0, NULL, &sel, copy, err));
cleanup:
    H5_CLOSE(type, h->path);
    free(copy);
    h5i_quiet_end(&q);
    return status;
}

/* Create (or replace) scalar attribute `name` on object `obj` holding `value`. */
static fm_status attr_put(fm_h5 *h, const char *obj, const char *name, hid_t ftype, hid_t mtype,
                          const void *value, fm_err *err)
{
    fm_status status = FM_OK;
    hid_t oid = H5I_INVALID_HID, space = H5I_INVALID_HID, attr = H5I_INVALID_HID;
    int exists = 0;
    FM_TRY(h5i_path_exists(h->file, h->path, obj, &exists, err));
    FM_CHECK(exists, FM_EINVAL, "%s: %s: no such object for attribute %s", h->path, obj, name);
    oid = H5Oopen(h->file, obj, H5P_DEFAULT);
    H5_CHECK(oid >= 0, "%s: %s: cannot open the object", h->path, obj);
    htri_t ex = H5Aexists(oid, name);
    H5_CHECK(ex >= 0, "%s: %s: cannot look up attribute %s", h->path, obj, name);
    if (ex > 0)
        H5_CHECK(H5Adelete(oid, name) >= 0, "%s: %s: cannot replace attribute %s", h->path, obj,
                 name);
    space = H5Screate(H5S_SCALAR);
    H5_CHECK(space >= 0, "%s: %s: cannot create a dataspace", h->path, obj);
    attr = H5Acreate2(oid, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
    H5_CHECK(attr >= 0, "%s: %s: cannot create attribute %s", h->path, obj, name);
    H5_CHECK(H5Awrite(attr, mtype, value) >= 0, "%s: %s: cannot write attribute %s", h->path, obj,
             name);
cleanup:
    H5_CLOSE(attr, h->path);
    H5_CLOSE(space, h->path);
    if (oid >= 0 && H5Oclose(oid) < 0 && status == FM_OK)
        status = h5i_fail(err, FM_EIO, "%s: %s: cannot close the object", h->path, obj);
    return status;
}

static fm_status check_attr_args(const fm_h5 *h, const char *obj, const char *name, fm_err *err)
{
    if (!obj || !name || !*name)
        return fm_fail(err, FM_EINVAL, "%s: attribute: NULL object or empty name", h->path);
    if (strcmp(obj, "/") == 0)
        return FM_OK;
    return h5i_check_name(h->path, "object", obj, err);
}

/* Collective: numeric scalar attribute, rank 0's value (broadcast: HDF5 needs it on all ranks). */
static fm_status attr_scalar(fm_h5 *h, const char *obj, const char *name, hid_t ftype, hid_t mtype,
                             MPI_Datatype mpitype, void *value, fm_err *err)
{
    fm_status status = FM_OK;
    h5i_quiet q;
    int rc;
    if (!h)
        return fm_fail(err, FM_EINVAL, "fm_h5 attribute %s: NULL handle", name ? name : "");
    h5i_quiet_begin(&q);
    FM_TRY(h5i_agree(h->comm, check_attr_args(h, obj, name, err), err));
    FM_TRY(same_args(h, obj, name, 0, NULL, err));
    if ((rc = MPI_Bcast(value, 1, mpitype, 0, h->comm)) != MPI_SUCCESS)
        FM_TRY(h5i_mpi_fail(err, rc, "MPI_Bcast (attribute)"));
    FM_TRY(h5i_agree(h->comm, attr_put(h, obj, name, ftype, mtype, value, err), err));
cleanup:
    h5i_quiet_end(&q);
    return status;
}

fm_status fm_h5_attr_i64(fm_h5 *h, const char *obj, const char *name, int64_t value, fm_err *err)
{
    return attr_scalar(h, obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, MPI_INT64_T, &value, err);
}

fm_status fm_h5_attr_f64(fm_h5 *h, const char *obj, const char *name, double value, fm_err *err)
{
    return attr_scalar(h, obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, MPI_DOUBLE, &value, err);
}

fm_status fm_h5_attr_text(fm_h5 *h, const char *obj, const char *name, const char *value,
                          fm_err *err)
{
    fm_status status = FM_OK;
    hid_t type = H5I_INVALID_HID;
    char *copy = NULL;
    h5i_quiet q;
    if (!h)
        return fm_fail(err, FM_EINVAL, "fm_h5_attr_text %s: NULL handle", name ? name : "");
    h5i_quiet_begin(&q);
    fm_status st = check_attr_args(h, obj, name, err);
    if (st == FM_OK)
        st = check_text_args(h, "attribute", name, value, err);
    FM_TRY(h5i_agree(h->comm, st, err));
    FM_TRY(same_args(h, obj, name, 0, NULL, err));
    FM_TRY(bcast_text(h, value, &copy, err));
    FM_TRY(h5i_agree(h->comm, string_type(h->path, name, strlen(copy), &type, err), err));
    FM_TRY(h5i_agree(h->comm, attr_put(h, obj, name, type, type, copy, err), err));
cleanup:
    H5_CLOSE(type, h->path);
    free(copy);
    h5i_quiet_end(&q);
    return status;
}
