/* h5io.c - HDF5 files of fleetmerge over parallel HDF5 1.10 (MPI-IO driver). See h5io.h and
 * docs/schema.md.
 *
 * Collective discipline: a collective function is a list of steps. After every step that can
 * fail on one rank, the ranks agree on a status (agree()): all of them leave at the same point
 * with the same status, and a rank without a message of its own receives the failing rank's.
 * HDF5's automatic error printing is silenced inside every public function; HDF5 failures
 * become fm_err messages "FILE: OBJECT: what failed (HDF5: innermost error)". */
#define _POSIX_C_SOURCE 200809L
#include "io/h5io.h"
#include "io/guard.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <hdf5.h>

#define NAME_CAP 1024  /* longest object name accepted, with its NUL */
#define SHOW_TEXT 60   /* characters of a string shown by fm_h5_describe */
#define SHOW_VALUES 8  /* numbers shown by fm_h5_describe */
#define H5_UNBACKED (64.0 * 1024 * 1024) /* fill bytes a user's demonstrations may declare unstored */

struct fm_h5 {
    MPI_Comm comm;       /* caller's communicator (must outlive the handle) */
    MPI_Comm close_comm; /* private duplicate of comm, used only by fm_h5_close's first agreement */
    int rank, size;
    hid_t file;
    char *path; /* final name, used in messages */
    char *tmp;  /* "<path>.tmp", the name written */
};

/* ======================= errors: HDF5 and MPI ======================= */

typedef struct h5_quiet {
    H5E_auto2_t func;
    void *data;
} h5_quiet;

/* Silence HDF5's automatic error printing until quiet_end() restores the caller's handler. */
static void quiet_begin(h5_quiet *q)
{
    if (H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data) < 0) {
        q->func = NULL;
        q->data = NULL;
    }
    (void)H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* failing only leaves HDF5 noisier */
}

static void quiet_end(const h5_quiet *q)
{
    (void)H5Eset_auto2(H5E_DEFAULT, q->func, q->data); /* best effort, as above */
}

static herr_t innermost_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    if (n == 0 && e && e->desc)
        snprintf((char *)data, 256, "%s", e->desc);
    return 0;
}

/* fm_fail, adding the innermost entry of HDF5's error stack when there is one. */
static fm_status h5_fail(fm_err *err, fm_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static fm_status h5_fail(fm_err *err, fm_status code, const char *fmt, ...)
{
    char msg[1536], detail[256] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost_cb, detail) < 0)
        detail[0] = '\0';
    if (detail[0])
        return fm_fail(err, code, "%s (HDF5: %s)", msg, detail);
    return fm_fail(err, code, "%s", msg);
}

/* Like FM_CHECK for HDF5 calls: FM_EIO with HDF5's innermost error appended. */
#define H5_CHECK(cond, ...)                                    \
    do {                                                       \
        if (!(cond)) {                                         \
            status = h5_fail(err, FM_EIO, __VA_ARGS__);        \
            fm_err_at(err, __FILE__, __LINE__);                \
            goto cleanup;                                      \
        }                                                      \
    } while (0)

/* Close any HDF5 handle (no-op when invalid) and invalidate it; -1 on failure. */
static int h5_close(hid_t *id)
{
    herr_t rc;
    if (*id < 0)
        return 0;
    switch (H5Iget_type(*id)) {
    case H5I_FILE: rc = H5Fclose(*id); break;
    case H5I_GROUP: rc = H5Gclose(*id); break;
    case H5I_DATATYPE: rc = H5Tclose(*id); break;
    case H5I_DATASPACE: rc = H5Sclose(*id); break;
    case H5I_DATASET: rc = H5Dclose(*id); break;
    case H5I_ATTR: rc = H5Aclose(*id); break;
    case H5I_GENPROP_LST: rc = H5Pclose(*id); break;
    default: rc = -1; break;
    }
    *id = H5I_INVALID_HID;
    return rc < 0 ? -1 : 0;
}

/* In a cleanup block: close `id`; a failure becomes the status when none is set yet. */
#define H5_CLOSE(id, file)                                                                    \
    do {                                                                                      \
        if (h5_close(&(id)) < 0 && status == FM_OK)                                           \
            status = h5_fail(err, FM_EIO, "%s: cannot close an HDF5 handle", (file));         \
    } while (0)

static fm_status mpi_fail(fm_err *err, int rc, const char *what)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "error code %d", rc);
    return fm_fail(err, FM_EMPI, "%s failed: %s", what, text);
}

static fm_status comm_info(MPI_Comm comm, int *rank, int *size, fm_err *err)
{
    int rc;
    if (comm == MPI_COMM_NULL)
        return fm_fail(err, FM_EINVAL, "fm_h5: communicator is MPI_COMM_NULL");
    if ((rc = MPI_Comm_rank(comm, rank)) != MPI_SUCCESS)
        return mpi_fail(err, rc, "MPI_Comm_rank");
    if ((rc = MPI_Comm_size(comm, size)) != MPI_SUCCESS)
        return mpi_fail(err, rc, "MPI_Comm_size");
    return FM_OK;
}

/* Collective over comm: every rank returns the same status, the largest code over the ranks.
 * A rank whose err holds no failure receives the message of the lowest rank failing with that
 * code (first message wins, as in fm_fail). One MPI_Allreduce, plus one MPI_Bcast on failure. */
static fm_status agree(MPI_Comm comm, fm_status local, fm_err *err)
{
    int rank, size, rc;
    long long key, top;
    char msg[sizeof err->msg];
    if ((rc = MPI_Comm_rank(comm, &rank)) != MPI_SUCCESS ||
        (rc = MPI_Comm_size(comm, &size)) != MPI_SUCCESS)
        return mpi_fail(err, rc, "MPI_Comm_rank/size");
    /* key orders by code, then by lowest rank: decodes to (code, root) */
    key = local == FM_OK ? 0 : (long long)local * (size + 1) + (size - rank);
    if ((rc = MPI_Allreduce(&key, &top, 1, MPI_LONG_LONG, MPI_MAX, comm)) != MPI_SUCCESS)
        return mpi_fail(err, rc, "MPI_Allreduce (status agreement)");
    if (top == 0)
        return FM_OK;
    fm_status code = (fm_status)(top / (size + 1));
    int root = size - (int)(top % (size + 1));
    msg[0] = '\0';
    if (rank == root && err)
        memcpy(msg, err->msg, sizeof msg);
    if ((rc = MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, root, comm)) != MPI_SUCCESS)
        return mpi_fail(err, rc, "MPI_Bcast (failure message)");
    msg[sizeof msg - 1] = '\0';
    if (msg[0])
        return fm_fail(err, code, "%s", msg);
    return fm_fail(err, code, "rank %d failed (%s)", root, fm_status_name(code));
}

/* ======================= names, files, datasets ======================= */

/* An absolute object name: "/a/b", no empty component, shorter than NAME_CAP. */
static fm_status check_name(const char *file, const char *what, const char *name, fm_err *err)
{
    if (!name || name[0] != '/' || name[1] == '\0')
        return fm_fail(err, FM_EINVAL, "%s: %s '%s' must be an absolute name such as /a/b", file,
                       what, name ? name : "(null)");
    if (strlen(name) >= NAME_CAP)
        return fm_fail(err, FM_EINVAL, "%s: %s: name longer than %d characters", file, name,
                       NAME_CAP - 1);
    if (strstr(name, "//") || name[strlen(name) - 1] == '/')
        return fm_fail(err, FM_EINVAL, "%s: %s: empty path component", file, name);
    return FM_OK;
}

/* *exists = whether every component of the absolute `name` exists ("/" always does). */
static fm_status path_exists(hid_t loc, const char *file, const char *name, int *exists,
                             fm_err *err)
{
    char buf[NAME_CAP];
    size_t len = strlen(name);
    *exists = 1;
    if (strcmp(name, "/") == 0)
        return FM_OK;
    if (len >= sizeof buf)
        return fm_fail(err, FM_EINVAL, "%s: %s: name too long", file, name);
    memcpy(buf, name, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        htri_t ex = H5Lexists(loc, buf, H5P_DEFAULT);
        if (ex < 0)
            return h5_fail(err, FM_EIO, "%s: %s: cannot look up %s", file, name, buf);
        buf[i] = c;
        if (ex == 0) {
            *exists = 0;
            return FM_OK;
        }
    }
    return FM_OK;
}

enum open_mode { OPEN_CREATE = 0, OPEN_READ, OPEN_MODE_COUNT };

/* Open (or create, truncating) `name` through MPI-IO on comm, or serially when comm is
 * MPI_COMM_NULL. `shown` is the name used in messages. */
static fm_status open_file(MPI_Comm comm, const char *name, const char *shown, enum open_mode mode,
                           hid_t *file, fm_err *err)
{
    fm_status status = FM_OK;
    hid_t fapl = H5I_INVALID_HID, fcpl = H5I_INVALID_HID;
    struct stat st;
    *file = H5I_INVALID_HID;
    if (mode == OPEN_READ && stat(name, &st) != 0)
        FM_CHECK(0, FM_EIO, "%s: cannot open: %s", shown, strerror(errno));
    fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5_CHECK(fapl >= 0, "%s: cannot create a file access list", shown);
    if (comm != MPI_COMM_NULL)
        H5_CHECK(H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL) >= 0,
                 "%s: cannot select the MPI-IO driver", shown);
    if (mode == OPEN_CREATE) {
        /* The HDF5 1.8 file format: superblock v2 and object headers v2 carry checksums, so a
         * damaged byte in the metadata is refused by HDF5 instead of being decoded
         * (fm_h5_check_checksummed; HDF5 1.10.8's decoders trust lengths and sizes). */
        H5_CHECK(H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18) >= 0,
                 "%s: cannot select the HDF5 1.8 file format", shown);
        /* No access/modification times in object headers: the same run writes the same bytes. */
        fcpl = H5Pcreate(H5P_FILE_CREATE);
        H5_CHECK(fcpl >= 0 && H5Pset_obj_track_times(fcpl, 0) >= 0, "%s: cannot create a file creation list", shown);
        *file = H5Fcreate(name, H5F_ACC_TRUNC, fcpl, fapl);
        H5_CHECK(*file >= 0, "%s: cannot create %s", shown, name);
    } else {
        *file = H5Fopen(name, H5F_ACC_RDONLY, fapl);
        if (*file < 0) {
            status = h5_fail(err, FM_EDATA, "%s: not a readable HDF5 file", shown);
            fm_err_at(err, __FILE__, __LINE__);
        }
    }
cleanup:
    H5_CLOSE(fcpl, shown);
    H5_CLOSE(fapl, shown);
    return status;
}

/* Create dataset `name` (parents created as needed) of file type `ftype` and shape dims[ndims]
 * (ndims 0: scalar). Storage is allocated without fill (every element gets written). */
static fm_status create_dataset(fm_h5 *h, const char *name, hid_t ftype, int ndims,
                                const hsize_t *dims, hid_t *out, fm_err *err)
{
    fm_status status = FM_OK;
    hid_t space = H5I_INVALID_HID, gcpl = H5I_INVALID_HID, dcpl = H5I_INVALID_HID;
    int exists = 0;
    *out = H5I_INVALID_HID;
    FM_TRY(path_exists(h->file, h->path, name, &exists, err));
    FM_CHECK(!exists, FM_EINVAL, "%s: %s: already exists", h->path, name);
    space = ndims > 0 ? H5Screate_simple(ndims, dims, NULL) : H5Screate(H5S_SCALAR);
    gcpl = H5Pcreate(H5P_GROUP_CREATE);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5_CHECK(space >= 0 && gcpl >= 0 && dcpl >= 0, "%s: %s: cannot create dataspace or property list",
             h->path, name);
    /* No times in object headers (the same run writes the same bytes); HDF5's intermediate groups
     * would carry them, so parents are created here. */
    H5_CHECK(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) >= 0 && H5Pset_obj_track_times(dcpl, 0) >= 0 &&
                 H5Pset_obj_track_times(gcpl, 0) >= 0,
             "%s: %s: cannot set creation properties", h->path, name);
    {
        char parent[NAME_CAP];
        size_t len = strlen(name);
        FM_CHECK(len < sizeof parent, FM_EINVAL, "%s: %s: name too long", h->path, name);
        memcpy(parent, name, len + 1);
        for (size_t i = 1; i < len; i++) {
            if (parent[i] != '/')
                continue;
            parent[i] = '\0';
            int there = 0;
            FM_TRY(path_exists(h->file, h->path, parent, &there, err));
            if (!there) {
                hid_t g = H5Gcreate2(h->file, parent, H5P_DEFAULT, gcpl, H5P_DEFAULT);
                H5_CHECK(g >= 0, "%s: %s: cannot create group", h->path, parent);
                H5_CHECK(H5Gclose(g) >= 0, "%s: %s: cannot close group", h->path, parent);
            }
            parent[i] = '/';
        }
    }
    *out = H5Dcreate2(h->file, name, ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5_CHECK(*out >= 0, "%s: %s: cannot create dataset", h->path, name);
cleanup:
    H5_CLOSE(dcpl, h->path);
    H5_CLOSE(gcpl, h->path);
    H5_CLOSE(space, h->path);
    return status;
}

/* One rank's part of a collective transfer: a hyperslab of an ndims dataset, or nothing. */
typedef struct slab {
    int ndims; /* 0: scalar dataset */
    int none;  /* this rank transfers nothing */
    hsize_t start[FM_H5_MAX_DIMS];
    hsize_t count[FM_H5_MAX_DIMS];
} slab;

/* Rows [first, first + nrows) of a dataset of shape dims[ndims] (all of the other dims). */
static slab rows_slab(int ndims, const hsize_t *dims, hsize_t first, hsize_t nrows)
{
    slab s = {.ndims = ndims, .none = nrows == 0};
    s.start[0] = first;
    s.count[0] = nrows;
    for (int i = 1; i < ndims; i++) {
        s.count[i] = dims[i];
        s.none |= dims[i] == 0;
    }
    return s;
}

/* The whole dataset on this rank when `mine`, nothing otherwise. */
static slab whole_slab(int ndims, const hsize_t *dims, int mine)
{
    slab s = {.ndims = ndims, .none = !mine};
    for (int i = 0; i < ndims; i++) {
        s.count[i] = dims[i];
        s.none |= dims[i] == 0;
    }
    return s;
}

/* Transfer of this rank's `sel` of `dset` from/to buf (writes collective, reads independent), whose
 * memory layout is `mtype` elements in the shape of sel->count. A dataset without elements has
 * no storage: every rank (they all see its shape) skips the transfer. */
static fm_status slab_io(const char *file, const char *name, hid_t dset, hid_t mtype,
                         const slab *sel, void *buf, int write, fm_err *err)
{
    fm_status status = FM_OK;
    hid_t fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID, dxpl = H5I_INVALID_HID;
    const hsize_t one = 1;
    double dummy[1] = {0};
    fspace = H5Dget_space(dset);
    H5_CHECK(fspace >= 0, "%s: %s: cannot get the dataspace", file, name);
    hssize_t total = H5Sget_simple_extent_npoints(fspace);
    H5_CHECK(total >= 0, "%s: %s: cannot count the elements", file, name);
    if (total == 0)
        goto cleanup;
    if (sel->none) {
        mspace = H5Screate_simple(1, &one, NULL);
        H5_CHECK(mspace >= 0 && H5Sselect_none(mspace) >= 0 && H5Sselect_none(fspace) >= 0,
                 "%s: %s: cannot select nothing", file, name);
        buf = dummy;
    } else if (sel->ndims == 0) {
        mspace = H5Screate(H5S_SCALAR);
        H5_CHECK(mspace >= 0 && H5Sselect_all(fspace) >= 0, "%s: %s: cannot select", file, name);
    } else {
        mspace = H5Screate_simple(sel->ndims, sel->count, NULL);
        H5_CHECK(mspace >= 0 && H5Sselect_hyperslab(fspace, H5S_SELECT_SET, sel->start, NULL,
                                                    sel->count, NULL) >= 0,
                 "%s: %s: cannot select a hyperslab", file, name);
    }
    dxpl = H5Pcreate(H5P_DATASET_XFER);
    /* reads are independent: each rank reads only its own rows, and HDF5 1.10.8's collective read of
     * a chunked dataset with chunks never written (h5py files) fails with MPI_ERR_TYPE (measured) */
    H5_CHECK(dxpl >= 0 && H5Pset_dxpl_mpio(dxpl, write ? H5FD_MPIO_COLLECTIVE : H5FD_MPIO_INDEPENDENT) >= 0,
             "%s: %s: cannot set up a collective transfer", file, name);
    herr_t rc = write ? H5Dwrite(dset, mtype, mspace, fspace, dxpl, buf)
                      : H5Dread(dset, mtype, mspace, fspace, dxpl, buf);
    H5_CHECK(rc >= 0, "%s: %s: cannot %s", file, name, write ? "write" : "read");
cleanup:
    H5_CLOSE(dxpl, file);
    H5_CLOSE(mspace, file);
    H5_CLOSE(fspace, file);
    return status;
}

/* Collective: create dataset `name` and write this rank's `sel` of it from buf. */
static fm_status put(fm_h5 *h, const char *name, hid_t ftype, hid_t mtype, int ndims,
                     const hsize_t *dims, const slab *sel, const void *buf, fm_err *err)
{
    fm_status status = FM_OK;
    hid_t dset = H5I_INVALID_HID;
    FM_TRY(agree(h->comm, create_dataset(h, name, ftype, ndims, dims, &dset, err), err));
    fm_status st = slab_io(h->path, name, dset, mtype, sel, (void *)buf, 1, err);
    if (h5_close(&dset) < 0 && st == FM_OK)
        st = h5_fail(err, FM_EIO, "%s: %s: cannot close the dataset", h->path, name);
    FM_TRY(agree(h->comm, st, err));
cleanup:
    H5_CLOSE(dset, h->path);
    return status;
}

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
    if (status != FM_OK && h5_close(type) < 0)
        *type = H5I_INVALID_HID; /* the failure is already reported */
    return status;
}

/* ======================= writer handle ======================= */

static void handle_free(fm_h5 *h)
{
    if (!h)
        return;
    if (h5_close(&h->file) < 0)
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
    char buf[NAME_CAP];
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
    h5_quiet q;
    quiet_begin(&q);
    if (out)
        *out = NULL;
    FM_TRY(comm_info(comm, &rank, &size, err));
    FM_TRY(agree(comm, handle_new(comm, rank, size, path, out != NULL, &h, err), err));
    int rc = MPI_Comm_dup(comm, &h->close_comm);
    FM_TRY(agree(comm, rc == MPI_SUCCESS ? FM_OK : mpi_fail(err, rc, "MPI_Comm_dup (file handle)"), err));
    FM_TRY(agree(comm, rank == 0 ? fm_mkdir_parents(h->path, err) : FM_OK, err));
    fm_guard_track(h->tmp);
    FM_TRY(agree(comm, open_file(comm, h->tmp, h->path, OPEN_CREATE, &h->file, err), err));
    *out = h;
    h = NULL;
cleanup:
    if (h)
        fm_guard_untrack(h->tmp);
    handle_free(h);
    quiet_end(&q);
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
    h5_quiet q;
    if (!h)
        return FM_OK;
    quiet_begin(&q);
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
    } else if (h5_close(&h->file) < 0) {
        local = h5_fail(err, FM_EIO, "%s: cannot close %s", h->path, h->tmp);
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
    fm_status closed = agree(h->comm, local, err); /* also the barrier before the rename */
    if (h->rank == 0)
        local = finish_rank0(h, commit, closed, err);
    else
        local = closed;
    status = agree(h->comm, local, err); /* everyone returns rank 0's outcome */
    if (status != FM_OK)
        fm_err_at(err, __FILE__, __LINE__);
    fm_guard_untrack(h->tmp);
    handle_free(h);
    quiet_end(&q);
    return status;
}

/* ======================= writers ======================= */

static uint64_t fnv1a(const char *s)
{
    uint64_t x = UINT64_C(0xcbf29ce484222325);
    for (; s && *s; s++)
        x = (x ^ (unsigned char)*s) * UINT64_C(0x100000001b3);
    return x;
}

/* Collective: FM_EINVAL on every rank unless all ranks passed the same names and shape
 * (a mismatch would otherwise hang or corrupt inside HDF5). */
static fm_status same_args(const fm_h5 *h, const char *a, const char *b, int ndims,
                           const int64_t *dims, fm_err *err)
{
    enum { N = 3 + FM_H5_MAX_DIMS };
    uint64_t v[N], w[2 * N], r[2 * N];
    int rc;
    v[0] = fnv1a(a);
    v[1] = fnv1a(b);
    v[2] = (uint64_t)ndims;
    for (int i = 0; i < FM_H5_MAX_DIMS; i++)
        v[3 + i] = i < ndims ? (uint64_t)dims[i] : UINT64_MAX;
    for (int i = 0; i < N; i++) {
        w[i] = v[i];
        w[N + i] = ~v[i]; /* max of ~v is ~(min of v) */
    }
    if ((rc = MPI_Allreduce(w, r, 2 * N, MPI_UINT64_T, MPI_MAX, h->comm)) != MPI_SUCCESS)
        return mpi_fail(err, rc, "MPI_Allreduce (argument check)");
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
    FM_TRY(check_name(h->path, "dataset", dset, err));
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
    h5_quiet q;
    if (!h)
        return fm_fail(err, FM_EINVAL, "fm_h5 write %s: NULL handle", dset ? dset : "");
    quiet_begin(&q);
    FM_TRY(agree(h->comm,
                 check_array_args(h, dset, ndims, FM_H5_MAX_DIMS, dims, data, h->rank == 0, err),
                 err));
    FM_TRY(same_args(h, dset, "", ndims, dims, err));
    for (int i = 0; i < ndims; i++)
        hd[i] = (hsize_t)dims[i];
    slab sel = whole_slab(ndims, hd, h->rank == 0);
    FM_TRY(put(h, dset, ftype, mtype, ndims, hd, &sel, data, err));
cleanup:
    quiet_end(&q);
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
    h5_quiet q;
    if (!h)
        return fm_fail(err, FM_EINVAL, "fm_h5 write rows %s: NULL handle", dset ? dset : "");
    quiet_begin(&q);
    FM_TRY(agree(h->comm,
                 check_array_args(h, dset, row_ndims, FM_H5_MAX_DIMS - 1, row_dims, row, 1, err),
                 err));
    FM_TRY(same_args(h, dset, "", row_ndims, row_dims, err));
    hd[0] = (hsize_t)h->size;
    for (int i = 0; i < row_ndims; i++)
        hd[i + 1] = (hsize_t)row_dims[i];
    slab sel = rows_slab(row_ndims + 1, hd, (hsize_t)h->rank, 1);
    FM_TRY(put(h, dset, ftype, mtype, row_ndims + 1, hd, &sel, row, err));
cleanup:
    quiet_end(&q);
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
        FM_TRY(mpi_fail(err, rc, "MPI_Bcast (text length)"));
    FM_TRY(agree(h->comm, fm_calloc(copy, (size_t)len + 1, 1, err), err));
    if (h->rank == 0)
        memcpy(*copy, text, (size_t)len);
    if ((rc = MPI_Bcast(*copy, (int)len, MPI_CHAR, 0, h->comm)) != MPI_SUCCESS)
        FM_TRY(mpi_fail(err, rc, "MPI_Bcast (text)"));
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
        return check_name(h->path, what, name, err);
    return FM_OK;
}

fm_status fm_h5_write_text(fm_h5 *h, const char *dset, const char *text, fm_err *err)
{
    fm_status status = FM_OK;
    hid_t type = H5I_INVALID_HID;
    char *copy = NULL;
    h5_quiet q;
    if (!h)
        return fm_fail(err, FM_EINVAL, "fm_h5_write_text %s: NULL handle", dset ? dset : "");
    quiet_begin(&q);
    FM_TRY(agree(h->comm, check_text_args(h, "dataset", dset, text, err), err));
    FM_TRY(same_args(h, dset, "", 0, NULL, err));
    FM_TRY(bcast_text(h, text, &copy, err));
    FM_TRY(agree(h->comm, string_type(h->path, dset, strlen(copy), &type, err), err));
    slab sel = whole_slab(0, NULL, h->rank == 0);
    FM_TRY(put(h, dset, type, type, 0, NULL, &sel, copy, err));
cleanup:
    H5_CLOSE(type, h->path);
    free(copy);
    quiet_end(&q);
    return status;
}

/* Create (or replace) scalar attribute `name` on object `obj` holding `value`. */
static fm_status attr_put(fm_h5 *h, const char *obj, const char *name, hid_t ftype, hid_t mtype,
                          const void *value, fm_err *err)
{
    fm_status status = FM_OK;
    hid_t oid = H5I_INVALID_HID, space = H5I_INVALID_HID, attr = H5I_INVALID_HID;
    int exists = 0;
    FM_TRY(path_exists(h->file, h->path, obj, &exists, err));
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
        status = h5_fail(err, FM_EIO, "%s: %s: cannot close the object", h->path, obj);
    return status;
}

static fm_status check_attr_args(const fm_h5 *h, const char *obj, const char *name, fm_err *err)
{
    if (!obj || !name || !*name)
        return fm_fail(err, FM_EINVAL, "%s: attribute: NULL object or empty name", h->path);
    if (strcmp(obj, "/") == 0)
        return FM_OK;
    return check_name(h->path, "object", obj, err);
}

/* Collective: numeric scalar attribute, rank 0's value (broadcast: HDF5 needs it on all ranks). */
static fm_status attr_scalar(fm_h5 *h, const char *obj, const char *name, hid_t ftype, hid_t mtype,
                             MPI_Datatype mpitype, void *value, fm_err *err)
{
    fm_status status = FM_OK;
    h5_quiet q;
    int rc;
    if (!h)
        return fm_fail(err, FM_EINVAL, "fm_h5 attribute %s: NULL handle", name ? name : "");
    quiet_begin(&q);
    FM_TRY(agree(h->comm, check_attr_args(h, obj, name, err), err));
    FM_TRY(same_args(h, obj, name, 0, NULL, err));
    if ((rc = MPI_Bcast(value, 1, mpitype, 0, h->comm)) != MPI_SUCCESS)
        FM_TRY(mpi_fail(err, rc, "MPI_Bcast (attribute)"));
    FM_TRY(agree(h->comm, attr_put(h, obj, name, ftype, mtype, value, err), err));
cleanup:
    quiet_end(&q);
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
    h5_quiet q;
    if (!h)
        return fm_fail(err, FM_EINVAL, "fm_h5_attr_text %s: NULL handle", name ? name : "");
    quiet_begin(&q);
    fm_status st = check_attr_args(h, obj, name, err);
    if (st == FM_OK)
        st = check_text_args(h, "attribute", name, value, err);
    FM_TRY(agree(h->comm, st, err));
    FM_TRY(same_args(h, obj, name, 0, NULL, err));
    FM_TRY(bcast_text(h, value, &copy, err));
    FM_TRY(agree(h->comm, string_type(h->path, name, strlen(copy), &type, err), err));
    FM_TRY(agree(h->comm, attr_put(h, obj, name, type, type, copy, err), err));
cleanup:
    H5_CLOSE(type, h->path);
    free(copy);
    quiet_end(&q);
    return status;
}

/* ======================= reading helpers (serial or parallel) ======================= */

static fm_status check_backed(hid_t ds, const char *file, const char *name, double slack, fm_err *err);

static const char *class_name(H5T_class_t c)
{
    switch (c) {
    case H5T_INTEGER: return "integer";
    case H5T_FLOAT: return "float";
    case H5T_STRING: return "string";
    case H5T_TIME: return "time";
    case H5T_BITFIELD: return "bitfield";
    case H5T_OPAQUE: return "opaque";
    case H5T_COMPOUND: return "compound";
    case H5T_REFERENCE: return "reference";
    case H5T_ENUM: return "enum";
    case H5T_VLEN: return "variable-length";
    case H5T_ARRAY: return "array";
    default: return "unknown";
    }
}

/* A numeric file type that HDF5 can convert safely: a damaged type (precision 0, bit fields past
 * the type's size) makes HDF5 1.10's conversions read wild memory (found by tests/fuzz). */
static fm_status check_numeric_type(hid_t type, const char *file, const char *what, fm_err *err)
{
    H5T_class_t cls = H5Tget_class(type);
    if (cls != H5T_INTEGER && cls != H5T_FLOAT)
        return FM_OK; /* the caller reports the class */
    size_t size = H5Tget_size(type), prec = H5Tget_precision(type);
    int off = H5Tget_offset(type), ok = (size == 1 || size == 2 || size == 4 || size == 8 || size == 16) && prec >= 1 &&
                                        off >= 0 && (size_t)off + prec <= 8 * size;
    if (ok && cls == H5T_FLOAT) {
        size_t spos = 0, epos = 0, esize = 0, mpos = 0, msize = 0;
        ok = size >= 2 && H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize) >= 0 && esize >= 1 &&
             msize >= 1 && spos < 8 * size && epos + esize <= 8 * size && mpos + msize <= 8 * size &&
             H5Tget_ebias(type) < ((size_t)1 << (esize < 63 ? esize : 63));
    }
    if (!ok)
        return fm_fail(err, FM_EDATA, "%s: %s: damaged number type (%zu bytes, precision %zu, offset %d)", file,
                       what, size, prec, off);
    return FM_OK;
}

static herr_t read_whole(hid_t id, int is_attr, hid_t mtype, void *buf)
{
    return is_attr ? H5Aread(id, mtype, buf) : H5Dread(id, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
}

/* Single-valued numeric attribute or dataset `id` into *value of memory type mtype;
 * integer classes only when int_only. `what` names it in messages. */
static fm_status read_number(hid_t id, int is_attr, const char *file, const char *what, hid_t mtype,
                             int int_only, void *value, fm_err *err)
{
    fm_status status = FM_OK;
    hid_t type = is_attr ? H5Aget_type(id) : H5Dget_type(id);
    hid_t space = is_attr ? H5Aget_space(id) : H5Dget_space(id);
    H5_CHECK(type >= 0 && space >= 0, "%s: %s: cannot get type and dataspace", file, what);
    H5T_class_t cls = H5Tget_class(type);
    FM_CHECK(cls == H5T_INTEGER || (!int_only && cls == H5T_FLOAT), FM_EDATA,
             "%s: %s: expected an integer%s, got %s", file, what, int_only ? "" : " or a float",
             class_name(cls));
    FM_TRY(check_numeric_type(type, file, what, err));
    hssize_t np = H5Sget_simple_extent_npoints(space);
    FM_CHECK(np == 1, FM_EDATA, "%s: %s: expected a single value, got %lld", file, what,
             (long long)np);
    H5_CHECK(read_whole(id, is_attr, mtype, value) >= 0, "%s: %s: cannot read", file, what);
cleanup:
    H5_CLOSE(space, file);
    H5_CLOSE(type, file);
    return status;
}

static fm_status dup_text(const char *s, char **out, fm_err *err)
{
    size_t len = strlen(s);
    fm_status st = fm_calloc(out, len + 1, 1, err);
    if (st == FM_OK)
        memcpy(*out, s, len + 1);
    return st;
}

/* Single string (fixed or variable length) attribute or dataset into *out (malloc'ed). */
static fm_status read_string(hid_t id, int is_attr, const char *file, const char *what, char **out,
                             fm_err *err)
{
    fm_status status = FM_OK;
    hid_t type = is_attr ? H5Aget_type(id) : H5Dget_type(id);
    hid_t space = is_attr ? H5Aget_space(id) : H5Dget_space(id);
    hid_t mtype = H5I_INVALID_HID;
    char *vs = NULL;
    *out = NULL;
    H5_CHECK(type >= 0 && space >= 0, "%s: %s: cannot get type and dataspace", file, what);
    H5T_class_t cls = H5Tget_class(type);
    FM_CHECK(cls == H5T_STRING, FM_EDATA, "%s: %s: expected a string, got %s", file, what,
             class_name(cls));
    hssize_t np = H5Sget_simple_extent_npoints(space);
    FM_CHECK(np == 1, FM_EDATA, "%s: %s: expected a single string, got %lld", file, what,
             (long long)np);
    if (!is_attr)
        FM_TRY(check_backed(id, file, what, 0, err));
    htri_t var = H5Tis_variable_str(type);
    /* fleetmerge writes string datasets fixed-length; a damaged global heap behind a variable-length
     * one makes HDF5 1.10.8 loop forever (found by fuzzing). Attributes (h5py's str) stay allowed. */
    FM_CHECK(is_attr || var == 0, FM_EDATA, "%s: %s: expected a fixed-length string dataset", file, what);
    mtype = H5Tcopy(type); /* same character set; memory location (set by get_type) */
    H5_CHECK(var >= 0 && mtype >= 0, "%s: %s: cannot inspect the string type", file, what);
    if (var) {
        H5_CHECK(read_whole(id, is_attr, mtype, &vs) >= 0, "%s: %s: cannot read", file, what);
        FM_TRY(dup_text(vs ? vs : "", out, err));
    } else {
        size_t size = H5Tget_size(type);
        H5_CHECK(size > 0 && H5Tset_size(mtype, size + 1) >= 0 &&
                     H5Tset_strpad(mtype, H5T_STR_NULLTERM) >= 0,
                 "%s: %s: cannot make a memory string type", file, what);
        FM_ALLOC(*out, size + 1);
        H5_CHECK(read_whole(id, is_attr, mtype, *out) >= 0, "%s: %s: cannot read", file, what);
    }
cleanup:
    if (vs && H5free_memory(vs) < 0 && status == FM_OK)
        status = h5_fail(err, FM_EIO, "%s: %s: cannot free a string", file, what);
    H5_CLOSE(mtype, file);
    H5_CLOSE(space, file);
    H5_CLOSE(type, file);
    if (status != FM_OK) {
        free(*out);
        *out = NULL;
    }
    return status;
}

/* Open attribute `name` of `obj` (an open object), FM_EDATA "missing attribute" if absent. */
static fm_status attr_open(hid_t obj, const char *file, const char *name, const char *shown,
                           hid_t *attr, fm_err *err)
{
    fm_status status = FM_OK;
    *attr = H5I_INVALID_HID;
    htri_t ex = H5Aexists(obj, name);
    H5_CHECK(ex >= 0, "%s: cannot look up attribute %s", file, shown);
    FM_CHECK(ex > 0, FM_EDATA, "%s: missing attribute %s", file, shown);
    *attr = H5Aopen(obj, name, H5P_DEFAULT);
    H5_CHECK(*attr >= 0, "%s: cannot open attribute %s", file, shown);
cleanup:
    return status;
}

static fm_status attr_get_int(hid_t obj, const char *file, const char *name, int64_t *v,
                              fm_err *err)
{
    fm_status status = FM_OK;
    hid_t attr = H5I_INVALID_HID;
    FM_TRY(attr_open(obj, file, name, name, &attr, err));
    FM_TRY(read_number(attr, 1, file, name, H5T_NATIVE_INT64, 1, v, err));
cleanup:
    H5_CLOSE(attr, file);
    return status;
}

static fm_status attr_get_text(hid_t obj, const char *file, const char *name, char **v,
                               fm_err *err)
{
    fm_status status = FM_OK;
    hid_t attr = H5I_INVALID_HID;
    FM_TRY(attr_open(obj, file, name, name, &attr, err));
    FM_TRY(read_string(attr, 1, file, name, v, err));
cleanup:
    H5_CLOSE(attr, file);
    return status;
}

/* Open an existing object: FM_EDATA "missing" when absent; want_dataset requires a dataset. */
static fm_status object_open(hid_t file, const char *path, const char *name, int want_dataset,
                             hid_t *obj, fm_err *err)
{
    fm_status status = FM_OK;
    int exists = 0;
    *obj = H5I_INVALID_HID;
    if (strcmp(name, "/") != 0)
        FM_TRY(check_name(path, "object", name, err));
    FM_TRY(path_exists(file, path, name, &exists, err));
    FM_CHECK(exists, FM_EDATA, "%s: %s: missing %s", path, name, want_dataset ? "dataset" : "object");
    *obj = want_dataset ? H5Dopen2(file, name, H5P_DEFAULT) : H5Oopen(file, name, H5P_DEFAULT);
    if (*obj < 0) {
        status = h5_fail(err, FM_EDATA, "%s: %s: cannot open%s", path, name,
                         want_dataset ? " (not a dataset?)" : "");
        fm_err_at(err, __FILE__, __LINE__);
    }
cleanup:
    return status;
}

/* ======================= demonstrations file ======================= */

enum demos_ds { DS_OBS = 0, DS_ACTIONS, DS_TASK, DS_LENGTH, DS_OFFSETS, DS_MIXTURE, DS_COUNT };

static const struct demos_spec {
    const char *name;
    H5T_class_t cls;
    int ndims;
} demos_spec[DS_COUNT] = {
    [DS_OBS] = {"/demos/obs", H5T_FLOAT, 3},
    [DS_ACTIONS] = {"/demos/actions", H5T_FLOAT, 3},
    [DS_TASK] = {"/demos/task", H5T_INTEGER, 1},
    [DS_LENGTH] = {"/demos/length", H5T_INTEGER, 1},
    [DS_OFFSETS] = {"/demos/robot_offsets", H5T_INTEGER, 1},
    [DS_MIXTURE] = {"/demos/mixture", H5T_FLOAT, 2},
};

#define DEMOS_KIND "fleetmerge-demos"

/* Local checks of fm_h5_write_demos' arguments on this rank. */
static fm_status demos_check_local(const char *path, int rank, int size, const fm_demos_meta *meta,
                                   const fm_demos *d, const double *mixture, fm_err *err)
{
    fm_status status = FM_OK;
    FM_CHECK(path && *path && meta && d && mixture, FM_EINVAL,
             "fm_h5_write_demos: NULL or empty argument");
    FM_CHECK(memchr(meta->env, '\0', sizeof meta->env), FM_EINVAL, "%s: env is not terminated",
             path);
    FM_CHECK(meta->num_robots == size, FM_EINVAL,
             "%s: num_robots is %d but the communicator has %d rank%s (one robot per rank)", path,
             meta->num_robots, size, size == 1 ? "" : "s");
    FM_CHECK(meta->num_tasks >= 1, FM_EINVAL, "%s: num_tasks is %d, expected >= 1", path,
             meta->num_tasks);
    FM_CHECK(d->n_traj >= 0 && d->horizon >= 1 && d->obs_dim >= 1 && d->act_dim >= 1 &&
                 (d->n_traj == 0 || (d->obs && d->act && d->task && d->length)),
             FM_EINVAL, "%s: robot %d: bad demonstrations (%d trajectories, horizon %d, obs %d, act %d)",
             path, rank, d->n_traj, d->horizon, d->obs_dim, d->act_dim);
    for (int i = 0; i < d->n_traj; i++) {
        FM_CHECK(d->length[i] >= 1 && d->length[i] <= d->horizon, FM_EINVAL,
                 "%s: robot %d trajectory %d has length %d, expected [1, %d]", path, rank, i,
                 d->length[i], d->horizon);
        FM_CHECK(d->task[i] >= 0 && d->task[i] < meta->num_tasks, FM_EINVAL,
                 "%s: robot %d trajectory %d has task %d, expected [0, %d)", path, rank, i,
                 d->task[i], meta->num_tasks);
    }
    for (int k = 0; k < meta->num_tasks; k++)
        FM_CHECK(isfinite(mixture[k]) && mixture[k] >= 0, FM_EINVAL,
                 "%s: robot %d mixture weight %d is %g, expected finite and >= 0", path, rank, k,
                 mixture[k]);
cleanup:
    return status;
}

/* Collective: counts and shapes of all ranks; off[0..size] = trajectory offsets (rank order). */
static fm_status demos_offsets(MPI_Comm comm, int size, const char *path, const fm_demos_meta *meta,
                               const fm_demos *d, int64_t *off, fm_err *err)
{
    enum { F = 6 };
    fm_status status = FM_OK;
    int64_t mine[F] = {d->n_traj, d->horizon, d->obs_dim, d->act_dim, meta->num_tasks,
                       (int64_t)(fnv1a(meta->env) >> 1)};
    int64_t *all = NULL;
    int rc;
    FM_TRY(agree(comm, fm_calloc(&all, (size_t)size * F, sizeof *all, err), err));
    if ((rc = MPI_Allgather(mine, F, MPI_INT64_T, all, F, MPI_INT64_T, comm)) != MPI_SUCCESS)
        FM_TRY(mpi_fail(err, rc, "MPI_Allgather (demonstration counts)"));
    off[0] = 0;
    for (int r = 0; r < size; r++) {
        const int64_t *a = all + (size_t)r * F;
        FM_CHECK(a[1] == all[1] && a[2] == all[2] && a[3] == all[3] && a[4] == all[4] &&
                     a[5] == all[5],
                 FM_EINVAL,
                 "%s: ranks disagree: rank 0 has horizon %lld, obs %lld, act %lld, %lld tasks; rank %d "
                 "has %lld, %lld, %lld, %lld (or a different env)",
                 path, (long long)all[1], (long long)all[2], (long long)all[3], (long long)all[4], r,
                 (long long)a[1], (long long)a[2], (long long)a[3], (long long)a[4]);
        off[r + 1] = off[r] + a[0];
    }
cleanup:
    free(all);
    return status;
}

/* Collective: the six datasets, each rank writing its own rows. */
static fm_status demos_put(fm_h5 *h, const fm_demos_meta *meta, const fm_demos *d,
                           const double *mixture, const int64_t *off, fm_err *err)
{
    fm_status status = FM_OK;
    hsize_t first = (hsize_t)off[h->rank], n = (hsize_t)d->n_traj;
    hsize_t dims[3] = {(hsize_t)off[h->size], (hsize_t)d->horizon, (hsize_t)d->obs_dim};
    slab sel = rows_slab(3, dims, first, n);
    FM_TRY(put(h, demos_spec[DS_OBS].name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 3, dims, &sel,
               d->obs, err));
    dims[2] = (hsize_t)d->act_dim;
    sel = rows_slab(3, dims, first, n);
    FM_TRY(put(h, demos_spec[DS_ACTIONS].name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 3, dims, &sel,
               d->act, err));
    sel = rows_slab(1, dims, first, n);
    FM_TRY(put(h, demos_spec[DS_TASK].name, H5T_STD_I32LE, H5T_NATIVE_INT, 1, dims, &sel, d->task,
               err));
    FM_TRY(put(h, demos_spec[DS_LENGTH].name, H5T_STD_I32LE, H5T_NATIVE_INT, 1, dims, &sel,
               d->length, err));
    dims[0] = (hsize_t)h->size + 1;
    sel = whole_slab(1, dims, h->rank == 0);
    FM_TRY(put(h, demos_spec[DS_OFFSETS].name, H5T_STD_I64LE, H5T_NATIVE_INT64, 1, dims, &sel, off,
               err));
    dims[0] = (hsize_t)h->size;
    dims[1] = (hsize_t)meta->num_tasks;
    sel = rows_slab(2, dims, (hsize_t)h->rank, 1);
    FM_TRY(put(h, demos_spec[DS_MIXTURE].name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dims, &sel,
               mixture, err));
cleanup:
    return status;
}

static fm_status demos_attrs(fm_h5 *h, const fm_demos_meta *meta, fm_err *err)
{
    fm_status status = FM_OK;
    FM_TRY(fm_h5_attr_i64(h, "/", "format_version", FM_DEMOS_FORMAT_VERSION, err));
    FM_TRY(fm_h5_attr_text(h, "/", "kind", DEMOS_KIND, err));
    FM_TRY(fm_h5_attr_text(h, "/", "env", meta->env, err));
    FM_TRY(fm_h5_attr_i64(h, "/", "num_robots", meta->num_robots, err));
    FM_TRY(fm_h5_attr_i64(h, "/", "num_tasks", meta->num_tasks, err));
cleanup:
    return status;
}

fm_status fm_h5_write_demos(MPI_Comm comm, const char *path, const fm_demos_meta *meta,
                            const fm_demos *mine, const double *mixture, fm_err *err)
{
    fm_status status = FM_OK;
    fm_h5 *h = NULL;
    int64_t *off = NULL;
    int rank = 0, size = 0;
    h5_quiet q;
    quiet_begin(&q);
    FM_TRY(comm_info(comm, &rank, &size, err));
    FM_TRY(agree(comm, demos_check_local(path, rank, size, meta, mine, mixture, err), err));
    FM_TRY(agree(comm, fm_calloc(&off, (size_t)size + 1, sizeof *off, err), err));
    FM_TRY(demos_offsets(comm, size, path, meta, mine, off, err));
    FM_TRY(fm_h5_create(comm, path, &h, err));
    FM_TRY(demos_put(h, meta, mine, mixture, off, err));
    FM_TRY(demos_attrs(h, meta, err));
cleanup:
    if (h) {
        fm_status st = fm_h5_close(h, status == FM_OK, err);
        if (status == FM_OK && st != FM_OK) {
            status = st;
            fm_err_at(err, __FILE__, __LINE__);
        }
    }
    free(off);
    quiet_end(&q);
    return status;
}

/* Open handles and shapes of a demonstrations file being read. */
typedef struct demos_file {
    hid_t file;
    hid_t dset[DS_COUNT];
    hsize_t dims[DS_COUNT][3];
} demos_file;

static fm_status demos_close(demos_file *df, const char *path, fm_err *err)
{
    fm_status status = FM_OK;
    for (int i = DS_COUNT - 1; i >= 0; i--)
        H5_CLOSE(df->dset[i], path);
    H5_CLOSE(df->file, path);
    return status;
}

/* Root attributes: format_version, kind, num_robots, num_tasks, env. */
static fm_status demos_root_attrs(hid_t file, const char *path, fm_demos_meta *meta, fm_err *err)
{
    fm_status status = FM_OK;
    int64_t version = 0, robots = 0, tasks = 0;
    char *kind = NULL, *env = NULL;
    FM_TRY(attr_get_int(file, path, "format_version", &version, err));
    FM_CHECK(version == FM_DEMOS_FORMAT_VERSION, FM_EDATA, "%s: format_version: expected %d, got %lld",
             path, FM_DEMOS_FORMAT_VERSION, (long long)version);
    FM_TRY(attr_get_text(file, path, "kind", &kind, err));
    FM_CHECK(strcmp(kind, DEMOS_KIND) == 0, FM_EDATA, "%s: kind: expected \"%s\", got \"%.100s\"",
             path, DEMOS_KIND, kind);
    FM_TRY(attr_get_int(file, path, "num_robots", &robots, err));
    FM_CHECK(robots >= 1 && robots <= 100000, FM_EDATA, "%s: num_robots: expected [1, 100000] (fleet.robots), got %lld",
             path, (long long)robots);
    FM_TRY(attr_get_int(file, path, "num_tasks", &tasks, err));
    FM_CHECK(tasks >= 1 && tasks <= 1000, FM_EDATA, "%s: num_tasks: expected [1, 1000] (env.num_tasks), got %lld", path,
             (long long)tasks);
    FM_TRY(attr_get_text(file, path, "env", &env, err));
    FM_CHECK(strlen(env) < sizeof meta->env, FM_EDATA, "%s: env: longer than %zu characters", path,
             sizeof meta->env - 1);
    memcpy(meta->env, env, strlen(env) + 1);
    meta->num_robots = (int)robots;
    meta->num_tasks = (int)tasks;
cleanup:
    free(env);
    free(kind);
    return status;
}

/* Every dataset: present, then of the right class, then of the right rank (dims recorded). */
static fm_status demos_open_datasets(demos_file *df, const char *path, fm_err *err)
{
    fm_status status = FM_OK;
    hid_t type = H5I_INVALID_HID, space = H5I_INVALID_HID;
    for (int i = 0; i < DS_COUNT; i++)
        FM_TRY(object_open(df->file, path, demos_spec[i].name, 1, &df->dset[i], err));
    for (int i = 0; i < DS_COUNT; i++) {
        type = H5Dget_type(df->dset[i]);
        H5_CHECK(type >= 0, "%s: %s: cannot get the type", path, demos_spec[i].name);
        H5T_class_t cls = H5Tget_class(type);
        FM_CHECK(cls == demos_spec[i].cls, FM_EDATA, "%s: %s: expected %s dataset, got %s", path,
                 demos_spec[i].name, demos_spec[i].cls == H5T_FLOAT ? "a float" : "an integer",
                 class_name(cls));
        FM_TRY(check_numeric_type(type, path, demos_spec[i].name, err));
        H5_CLOSE(type, path);
    }
    for (int i = 0; i < DS_COUNT; i++) {
        space = H5Dget_space(df->dset[i]);
        H5_CHECK(space >= 0, "%s: %s: cannot get the dataspace", path, demos_spec[i].name);
        int nd = H5Sget_simple_extent_ndims(space);
        FM_CHECK(nd == demos_spec[i].ndims, FM_EDATA, "%s: %s: expected %d dimensions, got %d", path,
                 demos_spec[i].name, demos_spec[i].ndims, nd);
        H5_CHECK(H5Sget_simple_extent_dims(space, df->dims[i], NULL) >= 0,
                 "%s: %s: cannot get the shape", path, demos_spec[i].name);
        H5_CLOSE(space, path);
    }
cleanup:
    H5_CLOSE(space, path);
    H5_CLOSE(type, path);
    return status;
}

#define LLU(x) ((unsigned long long)(x))

/* Shapes agree with each other, with the attributes and with the run's rank count. */
static fm_status demos_check_dims(const demos_file *df, const char *path, const fm_demos_meta *meta,
                                  int size, fm_err *err)
{
    fm_status status = FM_OK;
    const hsize_t *obs = df->dims[DS_OBS], *act = df->dims[DS_ACTIONS];
    const hsize_t *off = df->dims[DS_OFFSETS], *mix = df->dims[DS_MIXTURE];
    FM_CHECK(obs[0] <= INT64_MAX && obs[1] >= 1 && obs[1] <= INT_MAX && obs[2] >= 1 &&
                 obs[2] <= INT_MAX,
             FM_EDATA, "%s: %s: shape [%llu, %llu, %llu]: horizon and size must be in [1, %d]",
             path, demos_spec[DS_OBS].name, LLU(obs[0]), LLU(obs[1]), LLU(obs[2]), INT_MAX);
    FM_CHECK(act[0] == obs[0] && act[1] == obs[1] && act[2] >= 1 && act[2] <= INT_MAX, FM_EDATA,
             "%s: %s: shape [%llu, %llu, %llu] does not match %s [%llu, %llu, %llu]", path,
             demos_spec[DS_ACTIONS].name, LLU(act[0]), LLU(act[1]), LLU(act[2]),
             demos_spec[DS_OBS].name, LLU(obs[0]), LLU(obs[1]), LLU(obs[2]));
    for (int i = DS_TASK; i <= DS_LENGTH; i++)
        FM_CHECK(df->dims[i][0] == obs[0], FM_EDATA,
                 "%s: %s: expected %llu elements (one per trajectory), got %llu", path,
                 demos_spec[i].name, LLU(obs[0]), LLU(df->dims[i][0]));
    FM_CHECK(off[0] == (hsize_t)meta->num_robots + 1, FM_EDATA,
             "%s: %s: expected %d elements (num_robots + 1), got %llu", path,
             demos_spec[DS_OFFSETS].name, meta->num_robots + 1, LLU(off[0]));
    FM_CHECK(mix[0] == (hsize_t)meta->num_robots && mix[1] == (hsize_t)meta->num_tasks, FM_EDATA,
             "%s: %s: expected [%d, %d] (num_robots x num_tasks), got [%llu, %llu]", path,
             demos_spec[DS_MIXTURE].name, meta->num_robots, meta->num_tasks, LLU(mix[0]),
             LLU(mix[1]));
    FM_CHECK(size < 0 || meta->num_robots == size, FM_EDATA,
             "%s: holds %d robots but the run has %d rank%s (one robot per rank)", path,
             meta->num_robots, size, size == 1 ? "" : "s");
cleanup:
    return status;
}

/* Read robot_offsets (every rank reads all) and check: 0, non-decreasing, N_traj at the end. */
static fm_status demos_read_offsets(const demos_file *df, const char *path, int num_robots,
                                    int64_t **off, fm_err *err)
{
    fm_status status = FM_OK;
    const char *name = demos_spec[DS_OFFSETS].name;
    int64_t n_traj = (int64_t)df->dims[DS_OBS][0];
    FM_ALLOC(*off, (size_t)num_robots + 1);
    H5_CHECK(H5Dread(df->dset[DS_OFFSETS], H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, *off) >= 0,
             "%s: %s: cannot read", path, name);
    FM_CHECK((*off)[0] == 0, FM_EDATA, "%s: %s: must start at 0, got %lld", path, name,
             (long long)(*off)[0]);
    for (int r = 0; r < num_robots; r++)
        FM_CHECK((*off)[r + 1] >= (*off)[r] && (*off)[r + 1] - (*off)[r] <= INT_MAX, FM_EDATA,
                 "%s: %s: robot %d's range [%lld, %lld) is %s", path, name, r, (long long)(*off)[r],
                 (long long)(*off)[r + 1], (*off)[r + 1] < (*off)[r] ? "decreasing" : "too large");
    FM_CHECK((*off)[num_robots] == n_traj, FM_EDATA,
             "%s: %s: must end at the number of trajectories %lld, got %lld", path, name,
             (long long)n_traj, (long long)(*off)[num_robots]);
cleanup:
    if (status != FM_OK) {
        free(*off);
        *off = NULL;
    }
    return status;
}

/* Everything every rank can check alone: attributes, datasets, shapes, offsets. */
static fm_status demos_validate(demos_file *df, const char *path, int size, fm_demos_meta *meta,
                                int64_t **off, fm_err *err)
{
    fm_status status = FM_OK;
    FM_TRY(demos_root_attrs(df->file, path, meta, err));
    FM_TRY(demos_open_datasets(df, path, err));
    FM_TRY(demos_check_dims(df, path, meta, size, err));
    for (int i = 0; i < DS_COUNT; i++) /* before anything is allocated from the declared shapes */
        FM_TRY(check_backed(df->dset[i], path, demos_spec[i].name, H5_UNBACKED, err));
    FM_TRY(demos_read_offsets(df, path, meta->num_robots, off, err));
cleanup:
    return status;
}

/* This robot's shard: lengths in [1, T], tasks in [0, K), finite values, mixture >= 0. */
static fm_status demos_check_shard(const char *path, int rank, int64_t first, const fm_demos *d,
                                   const double *mixture, int num_tasks, fm_err *err)
{
    fm_status status = FM_OK;
    size_t obs_n = (size_t)d->horizon * d->obs_dim, act_n = (size_t)d->horizon * d->act_dim;
    for (int i = 0; i < d->n_traj; i++)
        FM_CHECK(d->length[i] >= 1 && d->length[i] <= d->horizon, FM_EDATA,
                 "%s: %s: robot %d trajectory %d (row %lld) has length %d, expected [1, %d]", path,
                 demos_spec[DS_LENGTH].name, rank, i, (long long)(first + i), d->length[i],
                 d->horizon);
    for (int i = 0; i < d->n_traj; i++)
        FM_CHECK(d->task[i] >= 0 && d->task[i] < num_tasks, FM_EDATA,
                 "%s: %s: robot %d trajectory %d (row %lld) has task %d, expected [0, %d)", path,
                 demos_spec[DS_TASK].name, rank, i, (long long)(first + i), d->task[i], num_tasks);
    for (size_t j = 0; j < (size_t)d->n_traj * obs_n; j++)
        FM_CHECK(isfinite(d->obs[j]), FM_EDATA, "%s: %s: robot %d trajectory %zu: non-finite value",
                 path, demos_spec[DS_OBS].name, rank, j / obs_n);
    for (size_t j = 0; j < (size_t)d->n_traj * act_n; j++)
        FM_CHECK(isfinite(d->act[j]), FM_EDATA, "%s: %s: robot %d trajectory %zu: non-finite value",
                 path, demos_spec[DS_ACTIONS].name, rank, j / act_n);
    for (int k = 0; k < num_tasks; k++)
        FM_CHECK(isfinite(mixture[k]) && mixture[k] >= 0, FM_EDATA,
                 "%s: %s: robot %d weight %d is %g, expected finite and >= 0", path,
                 demos_spec[DS_MIXTURE].name, rank, k, mixture[k]);
cleanup:
    return status;
}

static fm_status shard_alloc(const demos_file *df, int64_t n, int num_tasks, fm_demos *mine,
                             double **mixture, fm_err *err)
{
    fm_status status = FM_OK;
    FM_TRY(fm_demos_alloc(mine, (int)n, (int)df->dims[DS_OBS][1], (int)df->dims[DS_OBS][2],
                          (int)df->dims[DS_ACTIONS][2], err));
    FM_ALLOC(*mixture, num_tasks);
cleanup:
    return status;
}

/* Collective: rank r reads robot r's rows and mixture row, then checks them. */
static fm_status demos_read_shard(MPI_Comm comm, int rank, const demos_file *df, const char *path,
                                  const int64_t *off, const fm_demos_meta *meta, fm_demos *mine,
                                  double **mixture, fm_err *err)
{
    fm_status status = FM_OK;
    int64_t first = off[rank], n = off[rank + 1] - off[rank];
    FM_TRY(agree(comm, shard_alloc(df, n, meta->num_tasks, mine, mixture, err), err));
    const struct {
        enum demos_ds ds;
        hid_t mtype;
        void *buf;
    } io[] = {
        {DS_OBS, H5T_NATIVE_DOUBLE, mine->obs},  {DS_ACTIONS, H5T_NATIVE_DOUBLE, mine->act},
        {DS_TASK, H5T_NATIVE_INT, mine->task},   {DS_LENGTH, H5T_NATIVE_INT, mine->length},
        {DS_MIXTURE, H5T_NATIVE_DOUBLE, *mixture},
    };
    for (size_t i = 0; i < sizeof io / sizeof io[0]; i++) {
        enum demos_ds ds = io[i].ds;
        slab sel = ds == DS_MIXTURE ? rows_slab(2, df->dims[ds], (hsize_t)rank, 1)
                                    : rows_slab(demos_spec[ds].ndims, df->dims[ds], (hsize_t)first,
                                                (hsize_t)n);
        FM_TRY(agree(comm, slab_io(path, demos_spec[ds].name, df->dset[ds], io[i].mtype, &sel,
                                   io[i].buf, 0, err),
                     err));
    }
    FM_TRY(agree(comm, demos_check_shard(path, rank, first, mine, *mixture, meta->num_tasks, err),
                 err));
cleanup:
    return status;
}

fm_status fm_h5_read_demos(MPI_Comm comm, const char *path, fm_demos_meta *meta, fm_demos *mine,
                           double **mixture, fm_err *err)
{
    fm_status status = FM_OK;
    demos_file df = {.file = H5I_INVALID_HID};
    int64_t *off = NULL;
    int rank = 0, size = 0;
    h5_quiet q;
    quiet_begin(&q);
    for (int i = 0; i < DS_COUNT; i++)
        df.dset[i] = H5I_INVALID_HID;
    if (mine)
        *mine = (fm_demos){0};
    if (mixture)
        *mixture = NULL;
    if (meta)
        *meta = (fm_demos_meta){{0}, 0, 0};
    FM_TRY(comm_info(comm, &rank, &size, err));
    FM_TRY(agree(comm,
                 path && *path && meta && mine && mixture
                     ? FM_OK
                     : fm_fail(err, FM_EINVAL, "fm_h5_read_demos: NULL or empty argument"),
                 err));
    FM_TRY(agree(comm, open_file(comm, path, path, OPEN_READ, &df.file, err), err));
    FM_TRY(agree(comm, demos_validate(&df, path, size, meta, &off, err), err));
    FM_TRY(demos_read_shard(comm, rank, &df, path, off, meta, mine, mixture, err));
    FM_TRY(agree(comm, demos_close(&df, path, err), err));
cleanup:
    if (status != FM_OK) /* on success everything was closed (and agreed) above */
        (void)demos_close(&df, path, err); /* the first failure is already reported */
    free(off);
    if (status != FM_OK && mine && mixture && meta) {
        fm_demos_free(mine);
        free(*mixture);
        *mixture = NULL;
        *meta = (fm_demos_meta){{0}, 0, 0};
    }
    quiet_end(&q);
    return status;
}

/* The declared size of dataset `ds` must be backed by storage in the file: a damaged or hostile
 * file can declare terabytes in a few bytes (chunks never written read back as fill values), and
 * a reader would allocate and fill all of it. Unfiltered storage must cover every declared byte and
 * filtered (compressed) storage may be at most H5_MAX_RATIO times smaller (deflate's best case is
 * about 1032:1), plus `slack` bytes of fill: 0 for the files fleetmerge writes (every element is
 * written), H5_UNBACKED for users' demonstrations (h5py makes partly written and never written
 * datasets). Datasets without elements pass. */
#define H5_MAX_RATIO 1100.0
static fm_status check_backed(hid_t ds, const char *file, const char *name, double slack, fm_err *err)
{
    fm_status status = FM_OK;
    hid_t type = H5Dget_type(ds), space = H5Dget_space(ds), dcpl = H5Dget_create_plist(ds);
    H5_CHECK(type >= 0 && space >= 0 && dcpl >= 0, "%s: %s: cannot get type, dataspace or layout", file, name);
    hssize_t np = H5Sget_simple_extent_npoints(space);
    size_t esize = H5Tget_size(type);
    int nfilters = H5Pget_nfilters(dcpl);
    H5_CHECK(np >= 0 && esize > 0 && nfilters >= 0, "%s: %s: cannot count the elements", file, name);
    double declared = (double)np * (double)esize, stored = (double)H5Dget_storage_size(ds);
    /* partly written chunked datasets and unwritten (late-allocated) ones read back fill values:
     * legitimate up to H5_UNBACKED bytes beyond what the storage explains */
    double limit = (nfilters > 0 ? stored * H5_MAX_RATIO : stored) + slack;
    FM_CHECK(np == 0 || declared <= limit, FM_EDATA,
             "%s: %s: declares %.0f bytes but the file stores %.0f%s (damaged or truncated file?)", file,
             name, declared, stored, nfilters > 0 ? " compressed" : "");
cleanup:
    H5_CLOSE(dcpl, file);
    H5_CLOSE(space, file);
    H5_CLOSE(type, file);
    return status;
}

/* ======================= serial readers ======================= */

/* Open `path` serially and object `name` in it (a dataset when want_dataset). */
static fm_status serial_open(const char *path, const char *name, int want_dataset, hid_t *file,
                             hid_t *obj, fm_err *err)
{
    fm_status status = FM_OK;
    *obj = H5I_INVALID_HID;
    FM_CHECK(path && *path && name, FM_EINVAL, "fm_h5 reader: NULL or empty path or object name");
    FM_TRY(open_file(MPI_COMM_NULL, path, path, OPEN_READ, file, err));
    FM_TRY(object_open(*file, path, name, want_dataset, obj, err));
cleanup:
    return status;
}

/* Open numeric dataset `dset` of `path` serially: its shape hd[*nd] (at most FM_H5_MAX_DIMS), its
 * declared size checked against the storage in the file. The caller closes *file and *ds. */
static fm_status open_numeric(const char *path, const char *dset, hid_t *file, hid_t *ds, int *nd, hsize_t *hd,
                              fm_err *err)
{
    fm_status status = FM_OK;
    hid_t type = H5I_INVALID_HID, space = H5I_INVALID_HID;
    FM_TRY(serial_open(path, dset, 1, file, ds, err));
    type = H5Dget_type(*ds);
    space = H5Dget_space(*ds);
    H5_CHECK(type >= 0 && space >= 0, "%s: %s: cannot get type and dataspace", path, dset);
    H5T_class_t cls = H5Tget_class(type);
    FM_CHECK(cls == H5T_INTEGER || cls == H5T_FLOAT, FM_EDATA,
             "%s: %s: expected a numeric dataset, got %s", path, dset, class_name(cls));
    FM_TRY(check_numeric_type(type, path, dset, err));
    *nd = H5Sget_simple_extent_ndims(space);
    FM_CHECK(*nd >= 0 && *nd <= FM_H5_MAX_DIMS, FM_EDATA, "%s: %s: %d dimensions, at most %d supported",
             path, dset, *nd, FM_H5_MAX_DIMS);
    H5_CHECK(H5Sget_simple_extent_dims(space, hd, NULL) >= 0, "%s: %s: cannot get the shape", path, dset);
    FM_TRY(check_backed(*ds, path, dset, 0, err));
cleanup:
    H5_CLOSE(space, path);
    H5_CLOSE(type, path);
    return status;
}

fm_status fm_h5_read_f64(const char *path, const char *dset, double **data, int *ndims,
                         int64_t dims[FM_H5_MAX_DIMS], fm_err *err)
{
    fm_status status = FM_OK;
    hid_t file = H5I_INVALID_HID, ds = H5I_INVALID_HID;
    hsize_t hd[FM_H5_MAX_DIMS];
    size_t total = 1;
    int nd = 0;
    h5_quiet q;
    quiet_begin(&q);
    FM_CHECK(data && ndims && dims, FM_EINVAL, "fm_h5_read_f64: NULL output");
    *data = NULL;
    FM_TRY(open_numeric(path, dset, &file, &ds, &nd, hd, err));
    for (int i = 0; i < nd; i++) {
        dims[i] = (int64_t)hd[i];
        FM_CHECK(hd[i] == 0 || total <= SIZE_MAX / sizeof(double) / hd[i], FM_EDATA,
                 "%s: %s: shape too large to read", path, dset);
        total *= (size_t)hd[i];
    }
    *ndims = nd;
    FM_ALLOC(*data, total);
    if (total > 0)
        H5_CHECK(H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, *data) >= 0,
                 "%s: %s: cannot read", path, dset);
cleanup:
    H5_CLOSE(ds, path);
    H5_CLOSE(file, path);
    if (status != FM_OK && data) {
        free(*data);
        *data = NULL;
    }
    quiet_end(&q);
    return status;
}

/* Numeric dataset of exactly the shape dims[ndims] into the caller's buffer of doubles or floats. */
static fm_status read_into(const char *path, const char *dset, int ndims, const int64_t *dims, hid_t mtype,
                           void *out, fm_err *err)
{
    fm_status status = FM_OK;
    hid_t file = H5I_INVALID_HID, ds = H5I_INVALID_HID;
    hsize_t hd[FM_H5_MAX_DIMS];
    char want[160] = "", got[160] = "";
    int nd = 0;
    size_t total = 1;
    h5_quiet q;
    quiet_begin(&q);
    FM_CHECK(out && dims && ndims >= 0 && ndims <= FM_H5_MAX_DIMS, FM_EINVAL, "fm_h5_read_*_into: bad arguments");
    FM_TRY(open_numeric(path, dset, &file, &ds, &nd, hd, err));
    int same = nd == ndims;
    for (int i = 0; i < ndims; i++) {
        size_t n = strlen(want);
        snprintf(want + n, sizeof want - n, "%s%lld", i ? ", " : "", (long long)dims[i]);
    }
    for (int i = 0; i < nd; i++) {
        size_t n = strlen(got);
        snprintf(got + n, sizeof got - n, "%s%llu", i ? ", " : "", (unsigned long long)hd[i]);
        same = same && (int64_t)hd[i] == dims[i];
        total *= (size_t)hd[i];
    }
    FM_CHECK(same, FM_EDATA, "%s: %s: expected shape [%s], got [%s]", path, dset, want, got);
    if (total > 0)
        H5_CHECK(H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0, "%s: %s: cannot read", path, dset);
cleanup:
    H5_CLOSE(ds, path);
    H5_CLOSE(file, path);
    quiet_end(&q);
    return status;
}

fm_status fm_h5_read_f64_into(const char *path, const char *dset, int ndims, const int64_t *dims, double *out,
                              fm_err *err)
{
    return read_into(path, dset, ndims, dims, H5T_NATIVE_DOUBLE, out, err);
}

fm_status fm_h5_read_f32_into(const char *path, const char *dset, int ndims, const int64_t *dims, float *out,
                              fm_err *err)
{
    return read_into(path, dset, ndims, dims, H5T_NATIVE_FLOAT, out, err);
}

fm_status fm_h5_read_text(const char *path, const char *dset, char **text, fm_err *err)
{
    fm_status status = FM_OK;
    hid_t file = H5I_INVALID_HID, ds = H5I_INVALID_HID;
    h5_quiet q;
    quiet_begin(&q);
    FM_CHECK(text, FM_EINVAL, "fm_h5_read_text: NULL output");
    *text = NULL;
    FM_TRY(serial_open(path, dset, 1, &file, &ds, err));
    FM_TRY(read_string(ds, 0, path, dset, text, err));
cleanup:
    H5_CLOSE(ds, path);
    H5_CLOSE(file, path);
    if (status != FM_OK && text) {
        free(*text);
        *text = NULL;
    }
    quiet_end(&q);
    return status;
}

typedef struct checksum_ctx {
    const char *path;
    char bad[NAME_CAP]; /* first object whose header has no checksum */
} checksum_ctx;

static herr_t checksum_visit(hid_t obj, const char *name, const H5O_info_t *info, void *data)
{
    (void)obj;
    checksum_ctx *c = data;
    if (info->hdr.version >= 2)
        return 0;
    snprintf(c->bad, sizeof c->bad, "%s", strcmp(name, ".") == 0 ? "/" : name);
    return 1;
}

fm_status fm_h5_check_checksummed(const char *path, fm_err *err)
{
    fm_status status = FM_OK;
    hid_t file = H5I_INVALID_HID;
    H5F_info2_t fi;
    checksum_ctx c = {.path = path, .bad = ""};
    h5_quiet q;
    quiet_begin(&q);
    FM_CHECK(path && *path, FM_EINVAL, "fm_h5_check_checksummed: NULL or empty path");
    FM_TRY(open_file(MPI_COMM_NULL, path, path, OPEN_READ, &file, err));
    H5_CHECK(H5Fget_info2(file, &fi) >= 0, "%s: cannot read the superblock", path);
    FM_CHECK(fi.super.version >= 2, FM_EDATA,
             "%s: superblock version %u has no checksum: not written by fleetmerge (damaged or rewritten file?)", path,
             fi.super.version);
    herr_t r = H5Ovisit2(file, H5_INDEX_NAME, H5_ITER_INC, checksum_visit, &c, H5O_INFO_HDR);
    H5_CHECK(r >= 0, "%s: cannot walk the file's objects (damaged file?)", path);
    FM_CHECK(r == 0, FM_EDATA,
             "%s: %s: object header without a checksum: not written by fleetmerge (damaged or rewritten file?)", path,
             c.bad);
cleanup:
    H5_CLOSE(file, path);
    quiet_end(&q);
    return status;
}

/* Serial: attribute `name` of `obj` as a number (number != NULL) or as a string. */
static fm_status read_attr(const char *path, const char *obj, const char *name, double *number,
                           char **text, fm_err *err)
{
    fm_status status = FM_OK;
    hid_t file = H5I_INVALID_HID, oid = H5I_INVALID_HID, attr = H5I_INVALID_HID;
    char shown[NAME_CAP + 256];
    FM_CHECK(name && *name && obj, FM_EINVAL, "fm_h5 attribute reader: NULL object or name");
    FM_TRY(serial_open(path, obj, 0, &file, &oid, err));
    snprintf(shown, sizeof shown, "%s%s%.200s", strcmp(obj, "/") ? obj : "",
             strcmp(obj, "/") ? "@" : "", name);
    FM_TRY(attr_open(oid, path, name, shown, &attr, err));
    if (number)
        FM_TRY(read_number(attr, 1, path, shown, H5T_NATIVE_DOUBLE, 0, number, err));
    else
        FM_TRY(read_string(attr, 1, path, shown, text, err));
cleanup:
    H5_CLOSE(attr, path);
    if (oid >= 0 && H5Oclose(oid) < 0 && status == FM_OK)
        status = h5_fail(err, FM_EIO, "%s: %s: cannot close the object", path, obj);
    H5_CLOSE(file, path);
    return status;
}

fm_status fm_h5_read_attr_f64(const char *path, const char *obj, const char *name, double *value,
                              fm_err *err)
{
    fm_status status = FM_OK;
    h5_quiet q;
    quiet_begin(&q);
    FM_CHECK(value, FM_EINVAL, "fm_h5_read_attr_f64: NULL output");
    FM_TRY(read_attr(path, obj, name, value, NULL, err));
cleanup:
    quiet_end(&q);
    return status;
}

fm_status fm_h5_read_attr_text(const char *path, const char *obj, const char *name, char **value,
                               fm_err *err)
{
    fm_status status = FM_OK;
    h5_quiet q;
    quiet_begin(&q);
    FM_CHECK(value, FM_EINVAL, "fm_h5_read_attr_text: NULL output");
    *value = NULL;
    FM_TRY(read_attr(path, obj, name, NULL, value, err));
cleanup:
    quiet_end(&q);
    return status;
}

/* ======================= fm_h5_describe ======================= */

typedef struct describe_ctx {
    FILE *out;
    const char *path;
    fm_err *err;
    fm_status status;
} describe_ctx;

/* "float64", "int32", "uint8", "string[12]", "string", or the class name. */
static void type_name(hid_t type, char *buf, size_t cap)
{
    H5T_class_t cls = H5Tget_class(type);
    size_t bits = 8 * H5Tget_size(type);
    if (cls == H5T_INTEGER)
        snprintf(buf, cap, "%sint%zu", H5Tget_sign(type) == H5T_SGN_NONE ? "u" : "", bits);
    else if (cls == H5T_FLOAT)
        snprintf(buf, cap, "float%zu", bits);
    else if (cls == H5T_STRING && H5Tis_variable_str(type) > 0)
        snprintf(buf, cap, "string");
    else if (cls == H5T_STRING)
        snprintf(buf, cap, "string[%zu]", bits / 8);
    else
        snprintf(buf, cap, "%s", class_name(cls));
}

/* A string quoted, newlines and tabs escaped, cut after SHOW_TEXT characters. */
static void print_text(FILE *out, const char *s)
{
    size_t n = 0;
    fputc('"', out);
    for (; *s && n < SHOW_TEXT; s++, n++) {
        if (*s == '\n')
            fputs("\\n", out);
        else if (*s == '\t')
            fputs("\\t", out);
        else if (*s == '"' || *s == '\\')
            fprintf(out, "\\%c", *s);
        else if ((unsigned char)*s < 0x20 || *s == 0x7f) /* never a raw control character on a terminal */
            fprintf(out, "\\x%02x", (unsigned)(unsigned char)*s);
        else
            fputc(*s, out);
    }
    fputs(*s ? "\"..." : "\"", out);
}

/* An object or attribute name from the file, control characters escaped as \xHH. */
static void print_name(FILE *out, const char *prefix, const char *s)
{
    fputs(prefix, out);
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == '\\')
            fprintf(out, "\\x%02x", (unsigned)(unsigned char)*s);
        else
            fputc(*s, out);
    }
}

/* " dtype [shape] = value" of an attribute or dataset; values only for strings and up to
 * SHOW_VALUES numbers. */
static fm_status describe_value(describe_ctx *c, hid_t id, int is_attr, const char *what)
{
    fm_status status = FM_OK;
    fm_err *err = c->err;
    hid_t type = is_attr ? H5Aget_type(id) : H5Dget_type(id);
    hid_t space = is_attr ? H5Aget_space(id) : H5Dget_space(id);
    hsize_t dims[H5S_MAX_RANK];
    char tname[64], *text = NULL;
    H5_CHECK(type >= 0 && space >= 0, "%s: %s: cannot get type and dataspace", c->path, what);
    int nd = H5Sget_simple_extent_ndims(space);
    hssize_t np = H5Sget_simple_extent_npoints(space);
    H5_CHECK(nd >= 0 && np >= 0 && H5Sget_simple_extent_dims(space, dims, NULL) >= 0,
             "%s: %s: cannot get the shape", c->path, what);
    type_name(type, tname, sizeof tname);
    fprintf(c->out, ": %s", tname);
    if (nd > 0) {
        fputs(" [", c->out);
        for (int i = 0; i < nd; i++)
            fprintf(c->out, "%s%llu", i ? ", " : "", LLU(dims[i]));
        fputc(']', c->out);
    }
    H5T_class_t cls = H5Tget_class(type);
    if (cls == H5T_STRING && np == 1 && !is_attr && H5Tis_variable_str(type) > 0) {
        fputs(" (variable-length, not read)", c->out); /* see read_string */
    } else if (cls == H5T_STRING && np == 1) {
        FM_TRY(read_string(id, is_attr, c->path, what, &text, err));
        fputs(" = ", c->out);
        print_text(c->out, text);
    } else if ((cls == H5T_INTEGER || cls == H5T_FLOAT) && np >= 1 && np <= SHOW_VALUES) {
        FM_TRY(check_numeric_type(type, c->path, what, err));
        double v[SHOW_VALUES];
        long long iv[SHOW_VALUES];
        int is_int = cls == H5T_INTEGER;
        H5_CHECK(read_whole(id, is_attr, is_int ? H5T_NATIVE_LLONG : H5T_NATIVE_DOUBLE,
                            is_int ? (void *)iv : (void *)v) >= 0,
                 "%s: %s: cannot read", c->path, what);
        fputs(nd > 0 ? " = [" : " = ", c->out);
        for (hssize_t i = 0; i < np; i++) {
            if (is_int)
                fprintf(c->out, "%s%lld", i ? ", " : "", iv[i]);
            else
                fprintf(c->out, "%s%.17g", i ? ", " : "", v[i]);
        }
        if (nd > 0)
            fputc(']', c->out);
    }
cleanup:
    fputc('\n', c->out);
    free(text);
    H5_CLOSE(space, c->path);
    H5_CLOSE(type, c->path);
    return status;
}

static herr_t describe_attr_cb(hid_t loc, const char *name, const H5A_info_t *info, void *data)
{
    describe_ctx *c = data;
    fm_err *err = c->err;
    fm_status status = FM_OK;
    hid_t attr = H5I_INVALID_HID;
    (void)info;
    print_name(c->out, "  @", name);
    attr = H5Aopen(loc, name, H5P_DEFAULT);
    H5_CHECK(attr >= 0, "%s: cannot open attribute %s", c->path, name);
    FM_TRY(describe_value(c, attr, 1, name));
cleanup:
    H5_CLOSE(attr, c->path);
    c->status = status;
    return status == FM_OK ? 0 : -1;
}

static fm_status describe_attrs(describe_ctx *c, hid_t obj, const char *name)
{
    fm_status status = FM_OK;
    fm_err *err = c->err;
    if (H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, NULL, describe_attr_cb, c) < 0) {
        status = c->status != FM_OK
                     ? c->status
                     : h5_fail(err, FM_EIO, "%s: %s: cannot list attributes", c->path, name);
        fm_err_at(err, __FILE__, __LINE__);
    }
    return status;
}

static herr_t describe_link_cb(hid_t group, const char *name, const H5L_info_t *info, void *data)
{
    describe_ctx *c = data;
    fm_err *err = c->err;
    fm_status status = FM_OK;
    hid_t obj = H5I_INVALID_HID;
    print_name(c->out, "/", name);
    if (info->type != H5L_TYPE_HARD) {
        fprintf(c->out, ": %s link\n", info->type == H5L_TYPE_SOFT ? "soft" : "external");
        return 0;
    }
    obj = H5Oopen(group, name, H5P_DEFAULT);
    H5_CHECK(obj >= 0, "%s: /%s: cannot open", c->path, name);
    H5I_type_t kind = H5Iget_type(obj);
    if (kind == H5I_DATASET)
        FM_TRY(describe_value(c, obj, 0, name));
    else
        fprintf(c->out, "%s\n", kind == H5I_GROUP ? "/" : ": named datatype");
    FM_TRY(describe_attrs(c, obj, name));
cleanup:
    if (obj >= 0 && H5Oclose(obj) < 0 && status == FM_OK)
        status = h5_fail(err, FM_EIO, "%s: /%s: cannot close", c->path, name);
    c->status = status;
    return status == FM_OK ? 0 : -1;
}

fm_status fm_h5_describe(const char *path, FILE *out, fm_err *err)
{
    fm_status status = FM_OK;
    hid_t file = H5I_INVALID_HID;
    describe_ctx c = {out, path, err, FM_OK};
    h5_quiet q;
    quiet_begin(&q);
    FM_CHECK(path && *path && out, FM_EINVAL, "fm_h5_describe: NULL or empty path or stream");
    FM_TRY(open_file(MPI_COMM_NULL, path, path, OPEN_READ, &file, err));
    print_name(out, "", path);
    fputc('\n', out);
    FM_TRY(describe_attrs(&c, file, "/"));
    if (H5Lvisit(file, H5_INDEX_NAME, H5_ITER_INC, describe_link_cb, &c) < 0) {
        status = c.status != FM_OK ? c.status
                                   : h5_fail(err, FM_EIO, "%s: cannot list the objects", path);
        fm_err_at(err, __FILE__, __LINE__);
    }
cleanup:
    H5_CLOSE(file, path);
    quiet_end(&q);
    return status;
}

fm_status fm_h5_read_demos_robot(const char *path, int robot, fm_demos_meta *meta, fm_demos *mine,
                                 double **mixture, fm_err *err)
{
    fm_status status = FM_OK;
    demos_file df = {.file = H5I_INVALID_HID};
    int64_t *off = NULL;
    h5_quiet q;
    quiet_begin(&q);
    for (int i = 0; i < DS_COUNT; i++)
        df.dset[i] = H5I_INVALID_HID;
    *mine = (fm_demos){0};
    *mixture = NULL;
    *meta = (fm_demos_meta){{0}, 0, 0};
    FM_TRY(open_file(MPI_COMM_SELF, path, path, OPEN_READ, &df.file, err));
    FM_TRY(demos_validate(&df, path, -1, meta, &off, err)); /* any number of robots */
    FM_CHECK(robot >= 0 && robot < meta->num_robots, FM_EINVAL, "%s: robot %d: the file holds robots 0..%d",
             path, robot, meta->num_robots - 1);
    FM_TRY(demos_read_shard(MPI_COMM_SELF, robot, &df, path, off, meta, mine, mixture, err));
    FM_TRY(demos_close(&df, path, err));
cleanup:
    if (status != FM_OK) {
        (void)demos_close(&df, path, err);
        fm_demos_free(mine);
        free(*mixture);
        *mixture = NULL;
    }
    free(off);
    quiet_end(&q);
    return status;
}
