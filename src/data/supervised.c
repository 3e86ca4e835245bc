/* supervised.c - IDX files (through zlib), labelled image sets, the Dirichlet split, text corpora. */
#include "data/supervised.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Bytes asked of zlib per call (gzread takes an unsigned count) and the first allocation of a payload:
 * the buffer then doubles, so a header that declares 2 GB in a short file never allocates 2 GB. */
#define READ_CHUNK ((size_t)1 << 20)
#define TEXT_FIRST_ALLOC ((size_t)1 << 16)

/* ---- IDX files ---- */

/* zlib's message for gz's error without the "path: " that gzerror puts before it. */
static const char *gz_message(gzFile gz, const char *path, int *code)
{
    const char *msg = gzerror(gz, code);
    size_t len = strlen(path);
    if (strncmp(msg, path, len) == 0 && msg[len] == ':' && msg[len + 1] == ' ')
        msg += len + 2;
    return msg;
}

/* Read up to `want` bytes into buf; *got < want only at the end of the (decompressed) file. */
static fm_status gz_read_full(gzFile gz, const char *path, uint8_t *buf, size_t want, size_t *got, fm_err *err)
{
    fm_status status = FM_OK;
    *got = 0;
    while (*got < want) {
        size_t ask = want - *got < READ_CHUNK ? want - *got : READ_CHUNK;
        int r = gzread(gz, buf + *got, (unsigned)ask);
        if (r < 0) {
            int code;
            const char *msg = gz_message(gz, path, &code);
            FM_CHECK(code != Z_ERRNO, FM_EIO, "%s: cannot read: %s", path, msg);
            FM_CHECK(code != Z_MEM_ERROR, FM_ENOMEM, "%s: out of memory in zlib", path);
            FM_CHECK(0, FM_EDATA, "%s: damaged gzip data: %s", path, msg);
        }
        if (r == 0)
            break;
        *got += (size_t)r;
    }
cleanup:
    return status;
}

static uint32_t be32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

/* Magic and dims: x->ndims and x->dims (unused dims = 1). */
static fm_status read_header(gzFile gz, const char *path, fm_idx *x, fm_err *err)
{
    fm_status status = FM_OK;
    uint8_t head[4 + 4 * FM_IDX_MAX_DIMS];
    size_t got, want;
    int code;
    FM_TRY(gz_read_full(gz, path, head, 4, &got, err));
    gz_message(gz, path, &code); /* Z_BUF_ERROR: a gzip stream cut short, not an empty file */
    FM_CHECK(got > 0 || code == Z_BUF_ERROR, FM_EDATA, "%s: empty file", path);
    FM_CHECK(got == 4, FM_EDATA, "%s: truncated header: got %zu of 4 bytes", path, got);
    FM_CHECK(head[0] == 0 && head[1] == 0, FM_EDATA,
             "%s: not an IDX file: magic 0x%02x%02x%02x%02x, expected 0x000008NN", path, head[0], head[1],
             head[2], head[3]);
    FM_CHECK(head[2] == 0x08, FM_EDATA, "%s: data type 0x%02x is not supported (only 0x08, unsigned bytes)",
             path, head[2]);
    FM_CHECK(head[3] >= 1 && head[3] <= FM_IDX_MAX_DIMS, FM_EDATA, "%s: %d dims, expected 1 to %d", path,
             head[3], FM_IDX_MAX_DIMS);
    x->ndims = head[3];
    want = 4 * (size_t)x->ndims;
    FM_TRY(gz_read_full(gz, path, head + 4, want, &got, err));
    FM_CHECK(got == want, FM_EDATA, "%s: truncated header: got %zu of %zu bytes", path, 4 + got, 4 + want);
    for (int k = 0; k < FM_IDX_MAX_DIMS; k++)
        x->dims[k] = k < x->ndims ? be32(head + 4 + 4 * k) : 1;
cleanup:
    return status;
}

/* "60000 x 28 x 28" into shape. */
static void format_dims(const fm_idx *x, char *shape, size_t cap)
{
    size_t len = 0;
    shape[0] = '\0';
    for (int k = 0; k < x->ndims && len < cap; k++)
        len += (size_t)snprintf(shape + len, cap - len, "%s%u", k ? " x " : "", x->dims[k]);
}

/* Every dim >= 1 and their product at most FM_IDX_MAX_BYTES: sets x->size. */
static fm_status check_dims(const char *path, const char *shape, fm_idx *x, fm_err *err)
{
    fm_status status = FM_OK;
    uint64_t size = 1;
    for (int k = 0; k < x->ndims; k++)
        FM_CHECK(x->dims[k] > 0, FM_EDATA, "%s: dims %s: dim %d is 0", path, shape, k);
    for (int k = 0; k < x->ndims; k++) {
        FM_CHECK(x->dims[k] <= FM_IDX_MAX_BYTES / size, FM_EDATA, "%s: dims %s: over the limit of %llu bytes",
                 path, shape, (unsigned long long)FM_IDX_MAX_BYTES);
        size *= x->dims[k];
    }
    x->size = (size_t)size;
cleanup:
    return status;
}

/* The x->size payload bytes into x->data, growing the buffer as they arrive. */
static fm_status read_data(gzFile gz, const char *path, const char *shape, fm_idx *x, fm_err *err)
{
    fm_status status = FM_OK;
    size_t cap = 0, got = 0;
    while (got < x->size) {
        if (got == cap) {
            size_t next = cap ? 2 * cap : READ_CHUNK;
            next = next < x->size ? next : x->size;
            uint8_t *grown = realloc(x->data, next);
            FM_CHECK(grown, FM_ENOMEM, "%s: out of memory allocating %zu bytes", path, next);
            x->data = grown;
            cap = next;
        }
        size_t ask = cap - got, n;
        FM_TRY(gz_read_full(gz, path, x->data + got, ask, &n, err));
        got += n;
        if (n < ask)
            break;
    }
    FM_CHECK(got == x->size, FM_EDATA, "%s: truncated data: got %zu of %zu bytes (dims %s)", path, got, x->size,
             shape);
cleanup:
    return status;
}

/* Nothing may follow the payload, and a gzip stream must end with its trailer (checksum, length). */
static fm_status check_end(gzFile gz, const char *path, size_t size, fm_err *err)
{
    fm_status status = FM_OK;
    uint8_t buf[4096];
    size_t extra = 0, n;
    int code;
    do {
        FM_TRY(gz_read_full(gz, path, buf, sizeof buf, &n, err));
        extra += n;
    } while (n == sizeof buf);
    FM_CHECK(extra == 0, FM_EDATA, "%s: %zu trailing bytes after the %zu data bytes", path, extra, size);
    gz_message(gz, path, &code);
    FM_CHECK(code != Z_BUF_ERROR, FM_EDATA, "%s: truncated gzip stream (it ends before its trailer)", path);
cleanup:
    return status;
}

fm_status fm_idx_read(const char *path, fm_idx *out, fm_err *err)
{
    fm_status status = FM_OK;
    gzFile gz = NULL;
    char shape[64];
    *out = (fm_idx){0};
    errno = 0;
    gz = gzopen(path, "rb");
    FM_CHECK(gz, FM_EIO, "%s: cannot open: %s", path, errno ? strerror(errno) : "out of memory in zlib");
    FM_CHECK(gzbuffer(gz, 1 << 17) == 0, FM_EIO, "%s: cannot set zlib's buffer size", path);
    FM_TRY(read_header(gz, path, out, err));
    out->compressed = !gzdirect(gz);
    format_dims(out, shape, sizeof shape);
    FM_TRY(check_dims(path, shape, out, err));
    FM_TRY(read_data(gz, path, shape, out, err));
    FM_TRY(check_end(gz, path, out->size, err));
cleanup:
    if (gz && gzclose_r(gz) != Z_OK && status == FM_OK)
        status = fm_fail(err, FM_EIO, "%s: cannot close", path);
    if (status != FM_OK)
        fm_idx_free(out);
    return status;
}

void fm_idx_free(fm_idx *x)
{
    free(x->data);
    *x = (fm_idx){0};
}

/* ---- labelled image sets ---- */

/* Shapes of an images file (n x rows x cols) and a labels file (n) that belong together. */
static fm_status check_pair(const char *images, const fm_idx *im, const char *labels, const fm_idx *lb,
                            fm_err *err)
{
    fm_status status = FM_OK;
    FM_CHECK(im->ndims == 3, FM_EDATA, "%s: images: got %d dims, expected 3 (count x rows x cols)", images,
             im->ndims);
    FM_CHECK(lb->ndims == 1, FM_EDATA, "%s: labels: got %d dims, expected 1 (count)", labels, lb->ndims);
    FM_CHECK(im->dims[0] == lb->dims[0], FM_EDATA, "%s has %u images but %s has %u labels", images,
             im->dims[0], labels, lb->dims[0]);
    FM_CHECK(im->size <= INT_MAX, FM_EDATA, "%s: %zu pixels, more than %d", images, im->size, INT_MAX);
cleanup:
    return status;
}

fm_status fm_idx_dataset(const char *images, const char *labels, int limit, fm_labelled *out, fm_err *err)
{
    fm_status status = FM_OK;
    fm_idx im = {0}, lb = {0};
    *out = (fm_labelled){0};
    FM_TRY(fm_idx_read(images, &im, err));
    FM_TRY(fm_idx_read(labels, &lb, err));
    FM_TRY(check_pair(images, &im, labels, &lb, err));
    out->n = limit > 0 && (uint32_t)limit < im.dims[0] ? limit : (int)im.dims[0];
    out->rows = (int)im.dims[1];
    out->cols = (int)im.dims[2];
    out->dim = out->rows * out->cols;
    for (size_t i = 0; i < lb.size; i++)
        if (lb.data[i] + 1 > out->num_classes)
            out->num_classes = lb.data[i] + 1;
    FM_ALLOC(out->x, (size_t)out->n * out->dim);
    FM_ALLOC(out->y, out->n);
    for (size_t i = 0; i < (size_t)out->n * out->dim; i++)
        out->x[i] = (float)im.data[i] / 255.0f;
    for (int i = 0; i < out->n; i++)
        out->y[i] = lb.data[i];
cleanup:
    fm_idx_free(&lb);
    fm_idx_free(&im);
    if (status != FM_OK)
        fm_labelled_free(out);
    return status;
}

void fm_labelled_free(fm_labelled *d)
{
    free(d->x);
    free(d->y);
    *d = (fm_labelled){0};
}

/* ---- Dirichlet non-IID split ---- */

/* One class: shuffle its m members (example indices), draw proportions p, cut at the rounded cumulative
 * proportions. perm: [m] scratch, p: [num_clients] scratch. */
static void split_class(const int *members, int m, int num_clients, double alpha, fm_rng *r, int *perm,
                        double *p, int *client_of)
{
    fm_rng_permutation(r, m, perm);
    fm_rng_dirichlet(r, alpha, num_clients, p);
    double cum = 0.0;
    int from = 0;
    for (int j = 0; j < num_clients; j++) {
        cum += p[j];
        long long to = j == num_clients - 1 ? m : llround(cum * m); /* monotone in j: to >= from */
        to = to < m ? to : m;
        for (int k = from; k < (int)to; k++)
            client_of[members[perm[k]]] = j;
        from = (int)to;
    }
}

fm_status fm_split_dirichlet(const int *y, int n, int num_classes, int num_clients, double alpha, fm_rng *r,
                             int *client_of, fm_err *err)
{
    fm_status status = FM_OK;
    int *start = NULL, *fill = NULL, *order = NULL, *perm = NULL;
    double *p = NULL;
    FM_CHECK(n >= 0 && num_classes >= 1 && num_clients >= 1, FM_EINVAL,
             "dirichlet split: bad shape (%d examples, %d classes, %d clients)", n, num_classes, num_clients);
    FM_CHECK(isfinite(alpha) && alpha > 0.0, FM_EINVAL, "dirichlet split: alpha %g, expected a positive number",
             alpha);
    FM_ALLOC(start, num_classes + 1);
    for (int i = 0; i < n; i++) {
        FM_CHECK(y[i] >= 0 && y[i] < num_classes, FM_EINVAL,
                 "dirichlet split: label %d of example %d outside [0, %d)", y[i], i, num_classes);
        start[y[i] + 1]++;
    }
    for (int c = 0; c < num_classes; c++)
        start[c + 1] += start[c];
    FM_ALLOC(fill, num_classes);
    FM_ALLOC(order, n);
    FM_ALLOC(perm, n);
    FM_ALLOC(p, num_clients);
    memcpy(fill, start, (size_t)num_classes * sizeof *fill);
    for (int i = 0; i < n; i++) /* order: example indices grouped by class, increasing within a class */
        order[fill[y[i]]++] = i;
    for (int c = 0; c < num_classes; c++)
        split_class(order + start[c], start[c + 1] - start[c], num_clients, alpha, r, perm, p, client_of);
cleanup:
    free(p);
    free(perm);
    free(order);
    free(fill);
    free(start);
    return status;
}

/* ---- text corpora ---- */

/* All of f (at most max_bytes) into t, followed by a 0 byte. */
static fm_status read_stream(FILE *f, const char *path, size_t max_bytes, fm_text *t, fm_err *err)
{
    fm_status status = FM_OK;
    size_t cap = 0;
    for (;;) {
        if (t->len == cap) { /* full: read max_bytes + 1 at most, to tell "too large" from "exactly the limit" */
            FM_CHECK(cap <= max_bytes, FM_EDATA, "%s: larger than the limit of %zu bytes", path, max_bytes);
            size_t next = cap ? 2 * cap : TEXT_FIRST_ALLOC;
            next = next < max_bytes + 1 ? next : max_bytes + 1;
            unsigned char *grown = realloc(t->bytes, next + 1);
            FM_CHECK(grown, FM_ENOMEM, "%s: out of memory allocating %zu bytes", path, next + 1);
            t->bytes = grown;
            cap = next;
        }
        size_t n = fread(t->bytes + t->len, 1, cap - t->len, f);
        t->len += n;
        if (n == 0) {
            FM_CHECK(!ferror(f), FM_EIO, "%s: cannot read: %s", path, strerror(errno));
            break;
        }
    }
    t->bytes[t->len] = 0;
cleanup:
    return status;
}

fm_status fm_text_read(const char *path, size_t max_bytes, fm_text *out, fm_err *err)
{
    fm_status status = FM_OK;
    FILE *f = NULL;
    const unsigned char *nul;
    *out = (fm_text){0};
    FM_CHECK(max_bytes > 0 && max_bytes < SIZE_MAX / 4, FM_EINVAL, "%s: max_bytes %zu out of range", path,
             max_bytes);
    f = fopen(path, "rb");
    FM_CHECK(f, FM_EIO, "%s: cannot open: %s", path, strerror(errno));
    FM_TRY(read_stream(f, path, max_bytes, out, err));
    FM_CHECK(out->len > 0, FM_EDATA, "%s: empty file", path);
    nul = memchr(out->bytes, 0, out->len);
    FM_CHECK(!nul, FM_EDATA, "%s: NUL byte at offset %zu (not a text file)", path, (size_t)(nul - out->bytes));
cleanup:
    if (f && fclose(f) != 0 && status == FM_OK)
        status = fm_fail(err, FM_EIO, "%s: cannot close: %s", path, strerror(errno));
    if (status != FM_OK)
        fm_text_free(out);
    return status;
}

void fm_text_free(fm_text *t)
{
    free(t->bytes);
    *t = (fm_text){0};
}

void fm_text_vocab(const fm_text *t, fm_vocab *v)
{
    int seen[256] = {0};
    for (size_t i = 0; i < t->len; i++)
        seen[t->bytes[i]] = 1;
    *v = (fm_vocab){0};
    for (int b = 0; b < 256; b++) {
        v->index_of[b] = seen[b] ? v->size : -1;
        if (seen[b])
            v->byte_of[v->size++] = (unsigned char)b;
    }
}
