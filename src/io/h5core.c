/* h5core.c - the shared core of fleetmerge's HDF5 files over parallel HDF5 1.10 (MPI-IO driver):
 * error capture, names, opening files, creating datasets, slabs and the reading helpers. See h5io.h,
 * h5io_internal.h and docs/schema.md.
 *
 * Collective discipline: a collective function is a list of steps. After every step that can
 * fail on one rank, the ranks agree on a status (h5i_agree()): all of them leave at the same point
 * with the same status, and a rank without a message of its own receives the failing rank's.
 * HDF5's automatic error printing is silenced inside every public function; HDF5 failures
 * become fm_err messages "FILE: OBJECT: what failed (HDF5: innermost error)". */
#define _POSIX_C_SOURCE 200809L
#include "io/h5io_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ======================= errors: HDF5 and MPI ======================= */

/* Silence HDF5's automatic error printing until h5i_quiet_end() restores the caller's handler. */
void h5i_quiet_begin(h5i_quiet *q)
{
    if (H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data) < 0) {
        q->func = NULL;
        q->data = NULL;
    }
    (void)H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* failing only leaves HDF5 noisier */
}

void h5i_quiet_end(const h5i_quiet *q)
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
fm_status h5i_fail(fm_err *err, fm_status code, const char *fmt, ...)
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

/* Close any HDF5 handle (no-op when invalid) and invalidate it; -1 on failure. */
int h5i_close(hid_t *id)
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

fm_status h5i_mpi_fail(fm_err *err, int rc, const char *what)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "error code %d", rc);
    return fm_fail(err, FM_EMPI, "%s failed: %s", what, text);
}

fm_status h5i_comm_info(MPI_Comm comm, int *rank, int *size, fm_err *err)
{
    int rc;
    if (comm == MPI_COMM_NULL)
        return fm_fail(err, FM_EINVAL, "fm_h5: communicator is MPI_COMM_NULL");
    if ((rc = MPI_Comm_rank(comm, rank)) != MPI_SUCCESS)
        return h5i_mpi_fail(err, rc, "MPI_Comm_rank");
    if ((rc = MPI_Comm_size(comm, size)) != MPI_SUCCESS)
        return h5i_mpi_fail(err, rc, "MPI_Comm_size");
    return FM_OK;
}

/* Collective over comm: every rank returns the same status, the largest code over the ranks.
 * A rank whose err holds no failure receives the message of the lowest rank failing with that
 * code (first message wins, as in fm_fail). One MPI_Allreduce, plus one MPI_Bcast on failure. */
fm_status h5i_agree(MPI_Comm comm, fm_status local, fm_err *err)
{
    int rank, size, rc;
    long long key, top;
    char msg[sizeof err->msg];
    if ((rc = MPI_Comm_rank(comm, &rank)) != MPI_SUCCESS ||
        (rc = MPI_Comm_size(comm, &size)) != MPI_SUCCESS)
        return h5i_mpi_fail(err, rc, "MPI_Comm_rank/size");
    /* key orders by code, then by lowest rank: decodes to (code, root) */
    key = local == FM_OK ? 0 : (long long)local * (size + 1) + (size - rank);
    if ((rc = MPI_Allreduce(&key, &top, 1, MPI_LONG_LONG, MPI_MAX, comm)) != MPI_SUCCESS)
        return h5i_mpi_fail(err, rc, "MPI_Allreduce (status agreement)");
    if (top == 0)
        return FM_OK;
    fm_status code = (fm_status)(top / (size + 1));
    int root = size - (int)(top % (size + 1));
    msg[0] = '\0';
    if (rank == root && err)
        memcpy(msg, err->msg, sizeof msg);
    if ((rc = MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, root, comm)) != MPI_SUCCESS)
        return h5i_mpi_fail(err, rc, "MPI_Bcast (failure message)");
    msg[sizeof msg - 1] = '\0';
    if (msg[0])
        return fm_fail(err, code, "%s", msg);
    return fm_fail(err, code, "rank %d failed (%s)", root, fm_status_name(code));
}

/* FNV-1a hash of a string (NULL hashes like ""): names and env compared across ranks in one reduction. */
uint64_t h5i_fnv1a(const char *s)
{
    uint64_t x = UINT64_C(0xcbf29ce484222325);
    for (; s && *s; s++)
        x = (x ^ (unsigned char)*s) * UINT64_C(0x100000001b3);
    return x;
}

/* ======================= names, files, datasets ======================= */

/* An absolute object name: "/a/b", no empty component, shorter than H5I_NAME_CAP. */
fm_status h5i_check_name(const char *file, const char *what, const char *name, fm_err *err)
{
    if (!name || name[0] != '/' || name[1] == '\0')
        return fm_fail(err, FM_EINVAL, "%s: %s '%s' must be an absolute name such as /a/b", file,
                       what, name ? name : "(null)");
    if (strlen(name) >= H5I_NAME_CAP)
        return fm_fail(err, FM_EINVAL, "%s: %s: name longer than %d characters", file, name,
                       H5I_NAME_CAP - 1);
    if (strstr(name, "//") || name[strlen(name) - 1] == '/')
        return fm_fail(err, FM_EINVAL, "%s: %s: empty path component", file, name);
    return FM_OK;
}

/* *exists = whether every component of the absolute `name` exists ("/" always does). */
fm_status h5i_path_exists(hid_t loc, const char *file, const char *name, int *exists,
                          fm_err *err)
{
    char buf[H5I_NAME_CAP];
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
            return h5i_fail(err, FM_EIO, "%s: %s: cannot look up %s", file, name, buf);
        buf[i] = c;
        if (ex == 0) {
            *exists = 0;
            return FM_OK;
        }
    }
    return FM_OK;
}

/* Open (or create, truncating) `name` through MPI-IO on comm, or serially when comm is
 * MPI_COMM_NULL. `shown` is the name used in messages. */
fm_status h5i_open_file(MPI_Comm comm, const char *name, const char *shown, enum h5i_open_mode mode,
                        hid_t *file, fm_err *err)
{
    fm_status status = FM_OK;
    hid_t fapl = H5I_INVALID_HID, fcpl = H5I_INVALID_HID;
    struct stat st;
    *file = H5I_INVALID_HID;
    if (mode == H5I_OPEN_READ && stat(name, &st) != 0)
        FM_CHECK(0, FM_EIO, "%s: cannot open: %s", shown, strerror(errno));
    fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5_CHECK(fapl >= 0, "%s: cannot create a file access list", shown);
    if (comm != MPI_COMM_NULL)
        H5_CHECK(H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL) >= 0,
                 "%s: cannot select the MPI-IO driver", shown);
    if (mode == H5I_OPEN_CREATE) {
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
            status = h5i_fail(err, FM_EDATA, "%s: not a readable HDF5 file", shown);
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
    FM_TRY(h5i_path_exists(h->file, h->path, name, &exists, err));
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
        char parent[H5I_NAME_CAP];
        size_t len = strlen(name);
        FM_CHECK(len < sizeof parent, FM_EINVAL, "%s: %s: name too long", h->path, name);
        memcpy(parent, name, len + 1);
        for (size_t i = 1; i < len; i++) {
            if (parent[i] != '/')
                continue;
            parent[i] = '\0';
            int there = 0;
            FM_TRY(h5i_path_exists(h->file, h->path, parent, &there, err));
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

/* Rows [first, first + nrows) of a dataset of shape dims[ndims] (all of the other dims). */
h5i_slab h5i_rows_slab(int ndims, const hsize_t *dims, hsize_t first, hsize_t nrows)
{
    h5i_slab s = {.ndims = ndims, .none = nrows == 0};
    s.start[0] = first;
    s.count[0] = nrows;
    for (int i = 1; i < ndims; i++) {
        s.count[i] = dims[i];
        s.none |= dims[i] == 0;
    }
    return s;
}

/* The whole dataset on this rank when `mine`, nothing otherwise. */
h5i_slab h5i_whole_slab(int ndims, const hsize_t *dims, int mine)
{
    h5i_slab s = {.ndims = ndims, .none = !mine};
    for (int i = 0; i < ndims; i++) {
        s.count[i] = dims[i];
        s.none |= dims[i] == 0;
    }
    return s;
}

/* Transfer of this rank's `sel` of `dset` from/to buf (writes collective, reads independent), whose
 * memory layout is `mtype` elements in the shape of sel->count. A dataset without elements has
 * no storage: every rank (they all see its shape) skips the transfer. */
fm_status h5i_slab_io(const char *file, const char *name, hid_t dset, hid_t mtype,
                      const h5i_slab *sel, void *buf, int write, fm_err *err)
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
fm_status h5i_put(fm_h5 *h, const char *name, hid_t ftype, hid_t mtype, int ndims,
                  const hsize_t *dims, const h5i_slab *sel, const void *buf, fm_err *err)
{
    fm_status status = FM_OK;
    hid_t dset = H5I_INVALID_HID;
    FM_TRY(h5i_agree(h->comm, create_dataset(h, name, ftype, ndims, dims, &dset, err), err));
    fm_status st = h5i_slab_io(h->path, name, dset, mtype, sel, (void *)buf, 1, err);
    if (h5i_close(&dset) < 0 && st == FM_OK)
        st = h5i_fail(err, FM_EIO, "%s: %s: cannot close the dataset", h->path, name);
    FM_TRY(h5i_agree(h->comm, st, err));
cleanup:
    H5_CLOSE(dset, h->path);
    return status;
}

/* ======================= reading helpers (serial or parallel) ======================= */

const char *h5i_class_name(H5T_class_t c)
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
fm_status h5i_check_numeric_type(hid_t type, const char *file, const char *what, fm_err *err)
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

herr_t h5i_read_whole(hid_t id, int is_attr, hid_t mtype, void *buf)
{
    return is_attr ? H5Aread(id, mtype, buf) : H5Dread(id, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
}

/* Single-valued numeric attribute or dataset `id` into *value of memory type mtype;
 * integer classes only when int_only. `what` names it in messages. */
fm_status h5i_read_number(hid_t id, int is_attr, const char *file, const char *what, hid_t mtype,
                          int int_only, void *value, fm_err *err)
{
    fm_status status = FM_OK;
    hid_t type = is_attr ? H5Aget_type(id) : H5Dget_type(id);
    hid_t space = is_attr ? H5Aget_space(id) : H5Dget_space(id);
    H5_CHECK(type >= 0 && space >= 0, "%s: %s: cannot get type and dataspace", file, what);
    H5T_class_t cls = H5Tget_class(type);
    FM_CHECK(cls == H5T_INTEGER || (!int_only && cls == H5T_FLOAT), FM_EDATA,
             "%s: %s: expected an integer%s, got %s", file, what, int_only ? "" : " or a float",
             h5i_class_name(cls));
    FM_TRY(h5i_check_numeric_type(type, file, what, err));
    hssize_t np = H5Sget_simple_extent_npoints(space);
    FM_CHECK(np == 1, FM_EDATA, "%s: %s: expected a single value, got %lld", file, what,
             (long long)np);
    H5_CHECK(h5i_read_whole(id, is_attr, mtype, value) >= 0, "%s: %s: cannot read", file, what);
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
fm_status h5i_read_string(hid_t id, int is_attr, const char *file, const char *what, char **out,
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
             h5i_class_name(cls));
    hssize_t np = H5Sget_simple_extent_npoints(space);
    FM_CHECK(np == 1, FM_EDATA, "%s: %s: expected a single string, got %lld", file, what,
             (long long)np);
    if (!is_attr)
        FM_TRY(h5i_check_backed(id, file, what, 0, err));
    htri_t var = H5Tis_variable_str(type);
    /* fleetmerge writes string datasets fixed-length; a damaged global heap behind a variable-length
     * one makes HDF5 1.10.8 loop forever (found by fuzzing). Attributes (h5py's str) stay allowed. */
    FM_CHECK(is_attr || var == 0, FM_EDATA, "%s: %s: expected a fixed-length string dataset", file, what);
    mtype = H5Tcopy(type); /* same character set; memory location (set by get_type) */
    H5_CHECK(var >= 0 && mtype >= 0, "%s: %s: cannot inspect the string type", file, what);
    if (var) {
        H5_CHECK(h5i_read_whole(id, is_attr, mtype, &vs) >= 0, "%s: %s: cannot read", file, what);
        FM_TRY(dup_text(vs ? vs : "", out, err));
    } else {
        size_t size = H5Tget_size(type);
        H5_CHECK(size > 0 && H5Tset_size(mtype, size + 1) >= 0 &&
                     H5Tset_strpad(mtype, H5T_STR_NULLTERM) >= 0,
                 "%s: %s: cannot make a memory string type", file, what);
        FM_ALLOC(*out, size + 1);
        H5_CHECK(h5i_read_whole(id, is_attr, mtype, *out) >= 0, "%s: %s: cannot read", file, what);
    }
cleanup:
    if (vs && H5free_memory(vs) < 0 && status == FM_OK)
        status = h5i_fail(err, FM_EIO, "%s: %s: cannot free a string", file, what);
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
fm_status h5i_attr_open(hid_t obj, const char *file, const char *name, const char *shown,
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

fm_status h5i_attr_get_int(hid_t obj, const char *file, const char *name, int64_t *v,
                           fm_err *err)
{
    fm_status status = FM_OK;
    hid_t attr = H5I_INVALID_HID;
    FM_TRY(h5i_attr_open(obj, file, name, name, &attr, err));
    FM_TRY(h5i_read_number(attr, 1, file, name, H5T_NATIVE_INT64, 1, v, err));
cleanup:
    H5_CLOSE(attr, file);
    return status;
}

fm_status h5i_attr_get_text(hid_t obj, const char *file, const char *name, char **v,
                            fm_err *err)
{
    fm_status status = FM_OK;
    hid_t attr = H5I_INVALID_HID;
    FM_TRY(h5i_attr_open(obj, file, name, name, &attr, err));
    FM_TRY(h5i_read_string(attr, 1, file, name, v, err));
cleanup:
    H5_CLOSE(attr, file);
    return status;
}

/* Open an existing object: FM_EDATA "missing" when absent; want_dataset requires a dataset. */
fm_status h5i_object_open(hid_t file, const char *path, const char *name, int want_dataset,
                          hid_t *obj, fm_err *err)
{
    fm_status status = FM_OK;
    int exists = 0;
    *obj = H5I_INVALID_HID;
    if (strcmp(name, "/") != 0)
        FM_TRY(h5i_check_name(path, "object", name, err));
    FM_TRY(h5i_path_exists(file, path, name, &exists, err));
    FM_CHECK(exists, FM_EDATA, "%s: %s: missing %s", path, name, want_dataset ? "dataset" : "object");
    *obj = want_dataset ? H5Dopen2(file, name, H5P_DEFAULT) : H5Oopen(file, name, H5P_DEFAULT);
    if (*obj < 0) {
        status = h5i_fail(err, FM_EDATA, "%s: %s: cannot open%s", path, name,
                          want_dataset ? " (not a dataset?)" : "");
        fm_err_at(err, __FILE__, __LINE__);
    }
cleanup:
    return status;
}

/* The declared size of dataset `ds` must be backed by storage in the file: a damaged or hostile
 * file can declare terabytes in a few bytes (chunks never written read back as fill values), and
 * a reader would allocate and fill all of it. Unfiltered storage must cover every declared byte and
 * filtered (compressed) storage may be at most H5_MAX_RATIO times smaller (deflate's best case is
 * about 1032:1), plus `slack` bytes of fill: 0 for the files fleetmerge writes (every element is
 * written), H5_UNBACKED (h5demos.c) for users' demonstrations (h5py makes partly written and never written
 * datasets). Datasets without elements pass. */
#define H5_MAX_RATIO 1100.0
fm_status h5i_check_backed(hid_t ds, const char *file, const char *name, double slack, fm_err *err)
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
