/* h5describe.c - fm_h5_describe: the human summary of an HDF5 file printed by `fleet info`. */
#define _POSIX_C_SOURCE 200809L
#include "io/h5io_internal.h"

#include <stdlib.h>

#define SHOW_TEXT 60   /* characters of a string shown by fm_h5_describe */
#define SHOW_VALUES 8  /* numbers shown by fm_h5_describe */

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
        snprintf(buf, cap, "%s", h5i_class_name(cls));
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
            fprintf(c->out, "%s%llu", i ? ", " : "", H5I_LLU(dims[i]));
        fputc(']', c->out);
    }
    H5T_class_t cls = H5Tget_class(type);
    if (cls == H5T_STRING && np == 1 && !is_attr && H5Tis_variable_str(type) > 0) {
        fputs(" (variable-length, not read)", c->out); /* see h5i_read_string */
    } else if (cls == H5T_STRING && np == 1) {
        FM_TRY(h5i_read_string(id, is_attr, c->path, what, &text, err));
        fputs(" = ", c->out);
        print_text(c->out, text);
    } else if ((cls == H5T_INTEGER || cls == H5T_FLOAT) && np >= 1 && np <= SHOW_VALUES) {
        FM_TRY(h5i_check_numeric_type(type, c->path, what, err));
        double v[SHOW_VALUES];
        long long iv[SHOW_VALUES];
        int is_int = cls == H5T_INTEGER;
        H5_CHECK(h5i_read_whole(id, is_attr, is_int ? H5T_NATIVE_LLONG : H5T_NATIVE_DOUBLE,
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
                     : h5i_fail(err, FM_EIO, "%s: %s: cannot list attributes", c->path, name);
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
        status = h5i_fail(err, FM_EIO, "%s: /%s: cannot close", c->path, name);
    c->status = status;
    return status == FM_OK ? 0 : -1;
}

fm_status fm_h5_describe(const char *path, FILE *out, fm_err *err)
{
    fm_status status = FM_OK;
    hid_t file = H5I_INVALID_HID;
    describe_ctx c = {out, path, err, FM_OK};
    h5i_quiet q;
    h5i_quiet_begin(&q);
    FM_CHECK(path && *path && out, FM_EINVAL, "fm_h5_describe: NULL or empty path or stream");
    FM_TRY(h5i_open_file(MPI_COMM_NULL, path, path, H5I_OPEN_READ, &file, err));
    print_name(out, "", path);
    fputc('\n', out);
    FM_TRY(describe_attrs(&c, file, "/"));
    if (H5Lvisit(file, H5_INDEX_NAME, H5_ITER_INC, describe_link_cb, &c) < 0) {
        status = c.status != FM_OK ? c.status
                                   : h5i_fail(err, FM_EIO, "%s: cannot list the objects", path);
        fm_err_at(err, __FILE__, __LINE__);
    }
cleanup:
    H5_CLOSE(file, path);
    h5i_quiet_end(&q);
    return status;
}
