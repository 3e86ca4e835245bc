/* h5read.c - serial readers for tools and tests (one process, no MPI collectives): numbers, strings,
 * attributes, and the check that a file's metadata is checksummed. */
#define _POSIX_C_SOURCE 200809L
#include "io/h5io_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ======================= serial readers ======================= */

/* Open `path` serially and object `name` in it (a dataset when want_dataset). */
static fm_status serial_open(const char *path, const char *name, int want_dataset, hid_t *file,
                             hid_t *obj, fm_err *err)
{
    fm_status status = FM_OK;
    *obj = H5I_INVALID_HID;
    FM_CHECK(path && *path && name, FM_EINVAL, "fm_h5 reader: NULL or empty path or object name");
    FM_TRY(h5i_open_file(MPI_COMM_NULL, path, path, H5I_OPEN_READ, file, err));
    FM_TRY(h5i_object_open(*file, path, name, want_dataset, obj, err));
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
             "%s: %s: expected a numeric dataset, got %s", path, dset, h5i_class_name(cls));
    FM_TRY(h5i_check_numeric_type(type, path, dset, err));
    *nd = H5Sget_simple_extent_ndims(space);
    FM_CHECK(*nd >= 0 && *nd <= FM_H5_MAX_DIMS, FM_EDATA, "%s: %s: %d dimensions, at most %d supported",
             path, dset, *nd, FM_H5_MAX_DIMS);
    H5_CHECK(H5Sget_simple_extent_dims(space, hd, NULL) >= 0, "%s: %s: cannot get the shape", path, dset);
    FM_TRY(h5i_check_backed(*ds, path, dset, 0, err));
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
    h5i_quiet q;
    h5i_quiet_begin(&q);
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
    h5i_quiet_end(&q);
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
    h5i_quiet q;
    h5i_quiet_begin(&q);
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
    h5i_quiet_end(&q);
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
    h5i_quiet q;
    h5i_quiet_begin(&q);
    FM_CHECK(text, FM_EINVAL, "fm_h5_read_text: NULL output");
    *text = NULL;
    FM_TRY(serial_open(path, dset, 1, &file, &ds, err));
    FM_TRY(h5i_read_string(ds, 0, path, dset, text, err));
cleanup:
    H5_CLOSE(ds, path);
    H5_CLOSE(file, path);
    if (status != FM_OK && text) {
        free(*text);
        *text = NULL;
    }
    h5i_quiet_end(&q);
    return status;
}

typedef struct checksum_ctx {
    const char *path;
    char bad[H5I_NAME_CAP]; /* first object whose header has no checksum */
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
    h5i_quiet q;
    h5i_quiet_begin(&q);
    FM_CHECK(path && *path, FM_EINVAL, "fm_h5_check_checksummed: NULL or empty path");
    FM_TRY(h5i_open_file(MPI_COMM_NULL, path, path, H5I_OPEN_READ, &file, err));
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
    h5i_quiet_end(&q);
    return status;
}

/* Serial: attribute `name` of `obj` as a number (number != NULL) or as a string. */
static fm_status read_attr(const char *path, const char *obj, const char *name, double *number,
                           char **text, fm_err *err)
{
    fm_status status = FM_OK;
    hid_t file = H5I_INVALID_HID, oid = H5I_INVALID_HID, attr = H5I_INVALID_HID;
    char shown[H5I_NAME_CAP + 256];
    FM_CHECK(name && *name && obj, FM_EINVAL, "fm_h5 attribute reader: NULL object or name");
    FM_TRY(serial_open(path, obj, 0, &file, &oid, err));
    snprintf(shown, sizeof shown, "%s%s%.200s", strcmp(obj, "/") ? obj : "",
             strcmp(obj, "/") ? "@" : "", name);
    FM_TRY(h5i_attr_open(oid, path, name, shown, &attr, err));
    if (number)
        FM_TRY(h5i_read_number(attr, 1, path, shown, H5T_NATIVE_DOUBLE, 0, number, err));
    else
        FM_TRY(h5i_read_string(attr, 1, path, shown, text, err));
cleanup:
    H5_CLOSE(attr, path);
    if (oid >= 0 && H5Oclose(oid) < 0 && status == FM_OK)
        status = h5i_fail(err, FM_EIO, "%s: %s: cannot close the object", path, obj);
    H5_CLOSE(file, path);
    return status;
}

fm_status fm_h5_read_attr_f64(const char *path, const char *obj, const char *name, double *value,
                              fm_err *err)
{
    fm_status status = FM_OK;
    h5i_quiet q;
    h5i_quiet_begin(&q);
    FM_CHECK(value, FM_EINVAL, "fm_h5_read_attr_f64: NULL output");
    FM_TRY(read_attr(path, obj, name, value, NULL, err));
cleanup:
    h5i_quiet_end(&q);
    return status;
}

fm_status fm_h5_read_attr_text(const char *path, const char *obj, const char *name, char **value,
                               fm_err *err)
{
    fm_status status = FM_OK;
    h5i_quiet q;
    h5i_quiet_begin(&q);
    FM_CHECK(value, FM_EINVAL, "fm_h5_read_attr_text: NULL output");
    *value = NULL;
    FM_TRY(read_attr(path, obj, name, NULL, value, err));
cleanup:
    h5i_quiet_end(&q);
    return status;
}
