/* test_supervised.c - IDX reader (plain and gzip fixtures written here, every error message), labelled
 * image sets, the Dirichlet non-IID split (assignment, concentration, determinism, statistics), text
 * corpora and their vocabulary; Fashion-MNIST's test set when it is installed. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "data/supervised.h"
#include "tap.h"

#define PATH_CAP 64
#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

/* ---- fixtures ---- */

/* Write len bytes to a new temporary file (gzip-compressed when gz); its name goes to path[PATH_CAP]. */
static int write_fixture(const void *bytes, size_t len, int gz, char *path)
{
    snprintf(path, PATH_CAP, "/tmp/fm_test_idx_XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        return 0;
    if (gz) {
        gzFile g = gzdopen(fd, "wb");
        if (!g) {
            close(fd);
            return 0;
        }
        int wrote = len == 0 || gzwrite(g, bytes, (unsigned)len) == (int)len;
        return gzclose(g) == Z_OK && wrote;
    }
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        close(fd);
        return 0;
    }
    int wrote = fwrite(bytes, 1, len, f) == len;
    return fclose(f) == 0 && wrote;
}

/* An IDX file's bytes: magic 0 0 type ndims, big-endian dims, then ndata payload bytes. Returns the length. */
static size_t idx_bytes(uint8_t *out, uint8_t type, int ndims, const uint32_t *dims, const uint8_t *data,
                        size_t ndata)
{
    size_t len = 0;
    out[len++] = 0, out[len++] = 0, out[len++] = type, out[len++] = (uint8_t)ndims;
    for (int k = 0; k < ndims; k++)
        for (int s = 24; s >= 0; s -= 8)
            out[len++] = (uint8_t)(dims[k] >> s);
    if (ndata)
        memcpy(out + len, data, ndata);
    return len + ndata;
}

/* Three 2 x 3 images (0 and 255 included) and their labels 7, 0, 3. */
static const uint8_t PIXELS[18] = {0, 1, 2, 127, 128, 255, 254, 10, 20, 30, 40, 50, 3, 200, 100, 17, 0, 255};
static const uint8_t LABELS[3] = {7, 0, 3};
static const uint32_t IMG_DIMS[3] = {3, 2, 3};

static int write_images(int gz, char *path)
{
    uint8_t buf[64];
    return write_fixture(buf, idx_bytes(buf, 0x08, 3, IMG_DIMS, PIXELS, 18), gz, path);
}

static int write_labels(const uint8_t *labels, uint32_t n, int gz, char *path)
{
    uint8_t buf[64];
    return write_fixture(buf, idx_bytes(buf, 0x08, 1, &n, labels, n), gz, path);
}

/* ---- IDX files ---- */

static void test_idx_round_trip(void)
{
    char plain[PATH_CAP], packed[PATH_CAP];
    fm_idx a = {0}, b = {0};
    fm_err err;
    ok(write_images(0, plain) && write_images(1, packed), "write plain and gzip image fixtures");
    fm_err_clear(&err);
    is_int(fm_idx_read(plain, &a, &err), FM_OK, "plain IDX file reads");
    is_int(fm_idx_read(packed, &b, &err), FM_OK, "gzip IDX file reads");
    is_int(a.ndims, 3, "3 dims");
    ok(a.dims[0] == 3 && a.dims[1] == 2 && a.dims[2] == 3 && a.dims[3] == 1, "dims 3 x 2 x 3, unused dim 1");
    is_int(a.size, 18, "18 data bytes");
    ok(a.data && memcmp(a.data, PIXELS, 18) == 0, "plain: payload bytes exact");
    is_int(a.compressed, 0, "plain file seen as plain");
    is_int(b.compressed, 1, "gzip file seen as compressed (magic 0x1f 0x8b)");
    ok(b.ndims == a.ndims && memcmp(b.dims, a.dims, sizeof a.dims) == 0 && b.size == a.size &&
           b.data && memcmp(b.data, a.data, a.size) == 0,
       "gzip and plain give identical arrays");
    fm_idx_free(&a);
    fm_idx_free(&b);
    ok(a.data == NULL && a.ndims == 0 && b.data == NULL, "fm_idx_free zeroes");
    unlink(plain);
    unlink(packed);

    /* 1 and 4 dims are the bounds of the format. */
    uint8_t buf[64], data[16];
    uint32_t d1 = 5, d4[4] = {2, 1, 2, 2};
    for (int i = 0; i < 16; i++)
        data[i] = (uint8_t)(16 * i + 1);
    ok(write_fixture(buf, idx_bytes(buf, 0x08, 1, &d1, data, 5), 0, plain), "write a 1-dim file");
    is_int(fm_idx_read(plain, &a, &err), FM_OK, "1 dim reads");
    ok(a.ndims == 1 && a.dims[0] == 5 && a.size == 5 && memcmp(a.data, data, 5) == 0, "1 dim: shape and bytes");
    fm_idx_free(&a);
    unlink(plain);
    ok(write_fixture(buf, idx_bytes(buf, 0x08, 4, d4, data, 8), 1, packed), "write a 4-dim gzip file");
    is_int(fm_idx_read(packed, &a, &err), FM_OK, "4 dims read");
    ok(a.ndims == 4 && a.dims[3] == 2 && a.size == 8 && memcmp(a.data, data, 8) == 0, "4 dims: shape and bytes");
    fm_idx_free(&a);
    unlink(packed);
    is_int(err.code, FM_OK, "no error recorded on success");
}

/* A bad IDX file, written plain and gzip-compressed: both must fail with `want` (after the file's name). */
static void expect_idx_error(const uint8_t *bytes, size_t len, fm_status code, const char *want, const char *what)
{
    for (int gz = 0; gz < 2; gz++) {
        char path[PATH_CAP], full[512];
        fm_idx x;
        fm_err err;
        fm_err_clear(&err);
        if (!ok(write_fixture(bytes, len, gz, path), "%s (%s): write fixture", what, gz ? "gzip" : "plain"))
            continue;
        is_int(fm_idx_read(path, &x, &err), code, "%s (%s): status", what, gz ? "gzip" : "plain");
        snprintf(full, sizeof full, "%s: %s", path, want);
        is_str(err.msg, full, "%s (%s): message", what, gz ? "gzip" : "plain");
        ok(x.data == NULL && x.ndims == 0, "%s (%s): output left empty", what, gz ? "gzip" : "plain");
        unlink(path);
    }
}

static void test_idx_errors(void)
{
    uint8_t buf[64] = {0};
    uint32_t d3[3] = {3, 2, 3}, zero[3] = {3, 0, 2}, huge[4] = {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu};
    uint32_t over[3] = {32768, 256, 257}, at_cap[3] = {32768, 256, 256};
    size_t len;

    expect_idx_error(buf, 0, FM_EDATA, "empty file", "empty file");
    expect_idx_error((const uint8_t *)"\0\0", 2, FM_EDATA, "truncated header: got 2 of 4 bytes", "2-byte file");
    expect_idx_error((const uint8_t *)"hello world", 11, FM_EDATA,
                     "not an IDX file: magic 0x68656c6c, expected 0x000008NN", "text file");
    len = idx_bytes(buf, 0x0D, 3, d3, PIXELS, 18);
    expect_idx_error(buf, len, FM_EDATA, "data type 0x0d is not supported (only 0x08, unsigned bytes)",
                     "float data (type 0x0d)");
    len = idx_bytes(buf, 0x08, 0, d3, PIXELS, 18);
    expect_idx_error(buf, len, FM_EDATA, "0 dims, expected 1 to 4", "0 dims");
    len = idx_bytes(buf, 0x08, 3, d3, PIXELS, 18);
    buf[3] = 5;
    expect_idx_error(buf, len, FM_EDATA, "5 dims, expected 1 to 4", "5 dims");
    len = idx_bytes(buf, 0x08, 3, d3, NULL, 0);
    expect_idx_error(buf, len - 4, FM_EDATA, "truncated header: got 12 of 16 bytes", "third dim missing");
    len = idx_bytes(buf, 0x08, 3, zero, NULL, 0);
    expect_idx_error(buf, len, FM_EDATA, "dims 3 x 0 x 2: dim 1 is 0", "a zero dim");
    len = idx_bytes(buf, 0x08, 4, huge, NULL, 0);
    expect_idx_error(buf, len, FM_EDATA,
                     "dims 4294967295 x 4294967295 x 4294967295 x 4294967295: over the limit of 2147483648 bytes",
                     "dims whose product overflows 64 bits");
    len = idx_bytes(buf, 0x08, 3, over, NULL, 0);
    expect_idx_error(buf, len, FM_EDATA, "dims 32768 x 256 x 257: over the limit of 2147483648 bytes",
                     "2^31 + 2^23 bytes");
    /* Exactly 2^31 bytes is allowed: the header passes, the missing payload is reported (and the reader
     * allocates 1 MiB, not 2 GiB, before finding it missing). */
    len = idx_bytes(buf, 0x08, 3, at_cap, NULL, 0);
    expect_idx_error(buf, len, FM_EDATA, "truncated data: got 0 of 2147483648 bytes (dims 32768 x 256 x 256)",
                     "2^31 bytes declared, none present");
    len = idx_bytes(buf, 0x08, 3, d3, PIXELS, 18);
    expect_idx_error(buf, len - 1, FM_EDATA, "truncated data: got 17 of 18 bytes (dims 3 x 2 x 3)",
                     "one byte short");
    memcpy(buf + len, "extra", 5);
    expect_idx_error(buf, len + 5, FM_EDATA, "5 trailing bytes after the 18 data bytes", "5 trailing bytes");

    fm_idx x;
    fm_err err;
    fm_err_clear(&err);
    is_int(fm_idx_read("/nonexistent/fm_images", &x, &err), FM_EIO, "missing file: FM_EIO");
    is_str(err.msg, "/nonexistent/fm_images: cannot open: No such file or directory", "missing file: message");
    fm_err_clear(&err);
    is_int(fm_idx_read("/tmp", &x, &err), FM_EIO, "a directory: FM_EIO");
    is_str(err.msg, "/tmp: cannot read: Is a directory", "a directory: message");
}

/* Damage done to the compressed bytes themselves. */
static void test_gzip_damage(void)
{
    enum { SIDE = 100, N = SIDE * SIDE };
    static uint8_t payload[N], file[N + 64], packed[2 * N + 128];
    uint32_t dims[3] = {1, SIDE, SIDE};
    char path[PATH_CAP], want[256];
    fm_idx x;
    fm_err err;
    fm_rng r;
    fm_rng_seed(&r, 17, 0, 0);
    for (int i = 0; i < N; i++) /* random bytes: deflate cannot shrink them, so a cut lands inside the data */
        payload[i] = (uint8_t)fm_rng_below(&r, 256);
    size_t len = idx_bytes(file, 0x08, 3, dims, payload, N);
    uLongf plen = sizeof packed;
    /* A gzip stream of the file, made with zlib's deflate (windowBits 31 = gzip wrapper). */
    z_stream zs = {0};
    ok(deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) == Z_OK, "deflateInit2 (gzip)");
    zs.next_in = file, zs.avail_in = (uInt)len, zs.next_out = packed, zs.avail_out = (uInt)plen;
    ok(deflate(&zs, Z_FINISH) == Z_STREAM_END, "deflate the fixture");
    plen = zs.total_out;
    deflateEnd(&zs);

    ok(write_fixture(packed, plen - 4, 0, path), "write a gzip file without its last 4 bytes");
    fm_err_clear(&err);
    is_int(fm_idx_read(path, &x, &err), FM_EDATA, "gzip trailer cut: FM_EDATA");
    snprintf(want, sizeof want, "%s: truncated gzip stream (it ends before its trailer)", path);
    is_str(err.msg, want, "gzip trailer cut: message");
    unlink(path);

    ok(write_fixture(packed, plen / 2, 0, path), "write the first half of a gzip file");
    fm_err_clear(&err);
    is_int(fm_idx_read(path, &x, &err), FM_EDATA, "gzip stream cut in the data: FM_EDATA");
    snprintf(want, sizeof want, "%s: truncated data: got ", path);
    ok(strncmp(err.msg, want, strlen(want)) == 0 && strstr(err.msg, " of 10000 bytes (dims 1 x 100 x 100)"),
       "gzip stream cut in the data: '%s'", err.msg);
    unlink(path);

    packed[plen - 6] ^= 0x01; /* in the CRC-32 */
    ok(write_fixture(packed, plen, 0, path), "write a gzip file with a wrong checksum");
    fm_err_clear(&err);
    is_int(fm_idx_read(path, &x, &err), FM_EDATA, "wrong gzip checksum: FM_EDATA");
    snprintf(want, sizeof want, "%s: damaged gzip data: incorrect data check", path);
    is_str(err.msg, want, "wrong gzip checksum: message");
    unlink(path);

    ok(write_fixture("\x1f\x8b", 2, 0, path), "write a file of the gzip magic only");
    fm_err_clear(&err);
    is_int(fm_idx_read(path, &x, &err), FM_EDATA, "gzip magic only: FM_EDATA");
    snprintf(want, sizeof want, "%s: truncated header: got 0 of 4 bytes", path);
    is_str(err.msg, want, "gzip magic only: a truncated header, not an empty file");
    unlink(path);
}

/* ---- labelled image sets ---- */

static void test_dataset(void)
{
    char im_plain[PATH_CAP], im_gz[PATH_CAP], lb_plain[PATH_CAP], lb_gz[PATH_CAP];
    fm_labelled a = {0}, b = {0};
    fm_err err;
    ok(write_images(0, im_plain) && write_images(1, im_gz) && write_labels(LABELS, 3, 0, lb_plain) &&
           write_labels(LABELS, 3, 1, lb_gz),
       "write image and label fixtures");
    fm_err_clear(&err);
    is_int(fm_idx_dataset(im_plain, lb_plain, 0, &a, &err), FM_OK, "plain pair reads");
    ok(a.n == 3 && a.rows == 2 && a.cols == 3 && a.dim == 6, "n 3, 2 x 3 images, dim 6");
    is_int(a.num_classes, 8, "num_classes = largest label 7 + 1");
    int exact = 1, in_range = 1;
    for (int i = 0; i < 18; i++) {
        exact &= a.x[i] == (float)PIXELS[i] / 255.0f;
        in_range &= a.x[i] >= 0.0f && a.x[i] <= 1.0f;
    }
    ok(exact, "x = pixel / 255 in float, row-major [n][rows * cols]");
    ok(in_range, "x in [0, 1]");
    ok(a.x[5] == 1.0f && a.x[0] == 0.0f && a.x[17] == 1.0f, "255 -> 1 and 0 -> 0 exactly");
    is_close(a.x[2 * 6 + 0 * 3 + 1], 200.0 / 255.0, 0, 1e-7, "image 2, row 0, col 1 = 200 / 255");
    ok(a.y[0] == 7 && a.y[1] == 0 && a.y[2] == 3, "labels 7, 0, 3");
    is_int(fm_idx_dataset(im_gz, lb_gz, 0, &b, &err), FM_OK, "gzip pair reads");
    ok(b.n == a.n && b.dim == a.dim && b.num_classes == a.num_classes &&
           memcmp(b.x, a.x, 18 * sizeof *a.x) == 0 && memcmp(b.y, a.y, 3 * sizeof *a.y) == 0,
       "gzip and plain give identical sets");
    fm_labelled_free(&b);
    ok(b.x == NULL && b.y == NULL && b.n == 0, "fm_labelled_free zeroes");

    int limits[5] = {2, 1, -1, 3, 100}, want_n[5] = {2, 1, 3, 3, 3};
    for (int k = 0; k < 5; k++) {
        is_int(fm_idx_dataset(im_gz, lb_plain, limits[k], &b, &err), FM_OK, "limit %d reads", limits[k]);
        ok(b.n == want_n[k] && memcmp(b.x, a.x, (size_t)want_n[k] * 6 * sizeof *a.x) == 0 &&
               memcmp(b.y, a.y, (size_t)want_n[k] * sizeof *a.y) == 0,
           "limit %d keeps the first %d examples", limits[k], want_n[k]);
        is_int(b.num_classes, 8, "limit %d: num_classes from the whole labels file", limits[k]);
        fm_labelled_free(&b);
    }
    fm_labelled_free(&a);
    is_int(err.code, FM_OK, "no error recorded on success");

    char lb_two[PATH_CAP], want[512];
    ok(write_labels(LABELS, 2, 0, lb_two), "write 2 labels");
    is_int(fm_idx_dataset(im_plain, lb_two, 0, &b, &err), FM_EDATA, "3 images, 2 labels: FM_EDATA");
    snprintf(want, sizeof want, "%s has 3 images but %s has 2 labels", im_plain, lb_two);
    is_str(err.msg, want, "3 images, 2 labels: message");
    ok(b.x == NULL && b.y == NULL && b.n == 0, "output left empty on failure");
    fm_err_clear(&err);
    is_int(fm_idx_dataset(lb_plain, lb_plain, 0, &b, &err), FM_EDATA, "labels as images: FM_EDATA");
    snprintf(want, sizeof want, "%s: images: got 1 dims, expected 3 (count x rows x cols)", lb_plain);
    is_str(err.msg, want, "labels as images: message");
    fm_err_clear(&err);
    is_int(fm_idx_dataset(im_plain, im_gz, 0, &b, &err), FM_EDATA, "images as labels: FM_EDATA");
    snprintf(want, sizeof want, "%s: labels: got 3 dims, expected 1 (count)", im_gz);
    is_str(err.msg, want, "images as labels: message");
    fm_err_clear(&err);
    is_int(fm_idx_dataset(im_plain, "/nonexistent/fm_labels", 0, &b, &err), FM_EIO, "missing labels: FM_EIO");
    is_str(err.msg, "/nonexistent/fm_labels: cannot open: No such file or directory", "missing labels: message");
    unlink(im_plain), unlink(im_gz), unlink(lb_plain), unlink(lb_gz), unlink(lb_two);
}

/* ---- Dirichlet split ---- */

enum { SPLIT_N = 10, SPLIT_C = 50, SPLIT_M = 400, SPLIT_TOTAL = SPLIT_C * SPLIT_M };

/* Labels interleaved (example i has class (7 i) mod C), so a class's members are not contiguous. */
static void interleaved_labels(int *y, int n, int c)
{
    for (int i = 0; i < n; i++)
        y[i] = (int)((7LL * i) % c);
}

/* counts[c * N + j]: examples of class c on client j; returns 0 if any example is unassigned or out of range. */
static int tally(const int *y, const int *client_of, int n, int num_clients, int *counts, int num_classes)
{
    memset(counts, 0, (size_t)num_classes * num_clients * sizeof *counts);
    for (int i = 0; i < n; i++) {
        if (client_of[i] < 0 || client_of[i] >= num_clients)
            return 0;
        counts[y[i] * num_clients + client_of[i]]++;
    }
    return 1;
}

/* alpha = 1e3: every share is close to 1/N. The share of client j in class c is p_cj plus a rounding error
 * of at most 1/m (both cut points within half an example), and p_cj ~ Beta(alpha, (N-1) alpha) has mean
 * 1/N and sd s = sqrt((1/N)(1 - 1/N)/(N alpha + 1)) = 0.0030. Tolerance e = 6 s + 1/m = 0.0205 (vs 1/N =
 * 0.1): over the 500 (class, client) pairs a false failure has probability < 500 x 2e-9. */
static void test_split_uniform(const int *y, int *client_of, int *counts)
{
    const double alpha = 1e3, share = 1.0 / SPLIT_N;
    const double s = sqrt(share * (1.0 - share) / (SPLIT_N * alpha + 1.0)), e = 6.0 * s + 1.0 / SPLIT_M;
    fm_rng r;
    fm_err err;
    fm_err_clear(&err);
    fm_rng_seed(&r, 1, 0, FM_STREAM_DATA);
    for (int i = 0; i < SPLIT_TOTAL; i++)
        client_of[i] = -1;
    is_int(fm_split_dirichlet(y, SPLIT_TOTAL, SPLIT_C, SPLIT_N, alpha, &r, client_of, &err), FM_OK,
           "alpha 1e3: split runs");
    ok(tally(y, client_of, SPLIT_TOTAL, SPLIT_N, counts, SPLIT_C), "alpha 1e3: every example on one client");
    double worst = 0.0;
    for (int k = 0; k < SPLIT_C * SPLIT_N; k++)
        worst = fmax(worst, fabs((double)counts[k] / SPLIT_M - share));
    ok(worst <= e, "alpha 1e3: every class's share on every client within %.4f of 1/N (worst %.4f)", e, worst);
    /* Each client's own class mix: counts within m (1/N -+ e), so q_jc = count / total within
     * [(1/N - e) / (C (1/N + e)), (1/N + e) / (C (1/N - e))]. */
    double lo = (share - e) / (SPLIT_C * (share + e)), hi = (share + e) / (SPLIT_C * (share - e));
    int mix_ok = 1;
    for (int j = 0; j < SPLIT_N; j++) {
        int total = 0;
        for (int c = 0; c < SPLIT_C; c++)
            total += counts[c * SPLIT_N + j];
        for (int c = 0; c < SPLIT_C; c++) {
            double q = (double)counts[c * SPLIT_N + j] / total;
            mix_ok &= q >= lo && q <= hi;
        }
    }
    ok(mix_ok, "alpha 1e3: every client's class proportions within [%.4f, %.4f] around 1/C = %.4f", lo, hi,
       1.0 / SPLIT_C);
    /* The class's members are shuffled before the cut: in index order, the clients of consecutive members
     * go down about (1 - 1/N) / 2 = 45% of the time (never, were the list cut unshuffled). */
    int descents = 0, prev[SPLIT_C];
    for (int c = 0; c < SPLIT_C; c++)
        prev[c] = -1;
    for (int i = 0; i < SPLIT_TOTAL; i++) {
        descents += prev[y[i]] > client_of[i];
        prev[y[i]] = client_of[i];
    }
    ok(descents > 0.35 * SPLIT_TOTAL && descents < 0.55 * SPLIT_TOTAL,
       "alpha 1e3: members are shuffled before the cut (%d descents of %d)", descents, SPLIT_TOTAL);
}

/* alpha = 0.01: most classes sit (almost) wholly on one client. The log of a Gamma(0.01) draw is about
 * 100 log U, so the gap between the largest two of N = 10 log-weights is about 100 x Exp(rate 9), and the
 * largest share is >= 0.9 roughly when that gap exceeds log 9: probability e^(-0.09 log 9) = 0.82. Over
 * 50 classes the fraction is 0.82 +- 0.054; requiring half is 6 sd below. For contrast alpha 1e3 keeps every
 * largest share near 0.1. */
static void test_split_concentrated(const int *y, int *client_of, int *counts)
{
    fm_rng r;
    fm_err err;
    fm_err_clear(&err);
    fm_rng_seed(&r, 2, 0, FM_STREAM_DATA);
    is_int(fm_split_dirichlet(y, SPLIT_TOTAL, SPLIT_C, SPLIT_N, 0.01, &r, client_of, &err), FM_OK,
           "alpha 0.01: split runs");
    ok(tally(y, client_of, SPLIT_TOTAL, SPLIT_N, counts, SPLIT_C), "alpha 0.01: every example on one client");
    int whole = 0;
    double mean_max = 0.0;
    for (int c = 0; c < SPLIT_C; c++) {
        int mx = 0;
        for (int j = 0; j < SPLIT_N; j++)
            mx = counts[c * SPLIT_N + j] > mx ? counts[c * SPLIT_N + j] : mx;
        whole += mx >= 0.9 * SPLIT_M;
        mean_max += (double)mx / SPLIT_M / SPLIT_C;
    }
    ok(whole >= SPLIT_C / 2, "alpha 0.01: %d of %d classes have >= 90%% of their examples on one client", whole,
       SPLIT_C);
    ok(mean_max > 0.85, "alpha 0.01: mean largest share %.3f", mean_max);
}

static void test_split_determinism(const int *y, int *client_of)
{
    int *again = malloc(SPLIT_TOTAL * sizeof *again), *other = malloc(SPLIT_TOTAL * sizeof *other);
    fm_rng r;
    fm_err err;
    fm_err_clear(&err);
    if (!ok(again && other, "allocate"))
        goto done;
    fm_rng_seed(&r, 3, 0, FM_STREAM_DATA);
    fm_split_dirichlet(y, SPLIT_TOTAL, SPLIT_C, SPLIT_N, 0.5, &r, client_of, &err);
    fm_rng_seed(&r, 3, 0, FM_STREAM_DATA);
    fm_split_dirichlet(y, SPLIT_TOTAL, SPLIT_C, SPLIT_N, 0.5, &r, again, &err);
    fm_rng_seed(&r, 4, 0, FM_STREAM_DATA);
    fm_split_dirichlet(y, SPLIT_TOTAL, SPLIT_C, SPLIT_N, 0.5, &r, other, &err);
    is_int(err.code, FM_OK, "three splits run");
    ok(memcmp(client_of, again, SPLIT_TOTAL * sizeof *again) == 0, "same seed: same assignment");
    int differ = 0;
    for (int i = 0; i < SPLIT_TOTAL; i++)
        differ += client_of[i] != other[i];
    ok(differ > SPLIT_TOTAL / 2, "another seed: another assignment (%d of %d differ)", differ, SPLIT_TOTAL);
done:
    free(again);
    free(other);
}

/* Over R draws the share of client j in class c has mean E p = 1/N (rounding moves it by at most 1/m) and
 * variance Var p = (1/N)(1 - 1/N)/(N alpha + 1) (+ at most 1/m^2). Means: 5 standard errors + 1/m, for each
 * of the 20 pairs. Variance, pooled over the pairs: p ~ Beta(0.5, 2) has kurtosis 3.82, so one pair's sample
 * variance has relative sd sqrt(2.82 / R) = 2.7%, and the pooled one (4 independent classes) about 1.4%;
 * tolerance 8%. */
static void test_split_statistics(void)
{
    enum { N = 5, C = 4, M = 1000, R = 4000 };
    const double alpha = 0.5, want_var = (1.0 / N) * (1.0 - 1.0 / N) / (N * alpha + 1.0);
    int *y = malloc(C * M * sizeof *y), *client_of = malloc(C * M * sizeof *client_of), counts[C * N];
    double sum[C * N] = {0}, sum2[C * N] = {0};
    fm_rng r;
    fm_err err;
    fm_err_clear(&err);
    if (!ok(y && client_of, "allocate"))
        goto done;
    interleaved_labels(y, C * M, C);
    fm_rng_seed(&r, 5, 0, FM_STREAM_DATA);
    int all_ok = 1;
    for (int t = 0; t < R; t++) {
        all_ok &= fm_split_dirichlet(y, C * M, C, N, alpha, &r, client_of, &err) == FM_OK;
        all_ok &= tally(y, client_of, C * M, N, counts, C);
        for (int k = 0; k < C * N; k++) {
            double s = (double)counts[k] / M;
            sum[k] += s, sum2[k] += s * s;
        }
    }
    ok(all_ok, "%d splits run, every example assigned each time", R);
    double se = sqrt(want_var / R), tol = 5.0 * se + 1.0 / M, worst = 0.0, var = 0.0;
    for (int k = 0; k < C * N; k++) {
        double mean = sum[k] / R;
        worst = fmax(worst, fabs(mean - 1.0 / N));
        var += (sum2[k] / R - mean * mean) / (C * N);
    }
    ok(worst <= tol, "mean share of every client in every class is 1/N = %.2f within %.4f (worst %.4f)", 1.0 / N,
       tol, worst);
    is_close(var, want_var, 0, 0.08, "share variance %.5f = (1/N)(1 - 1/N)/(N alpha + 1) = %.5f of Dirichlet", var,
             want_var);
done:
    free(y);
    free(client_of);
}

static void test_split_edges(void)
{
    int y[4] = {0, 1, 1, 0}, client_of[4] = {-1, -1, -1, -1};
    fm_rng r;
    fm_err err;
    fm_rng_seed(&r, 6, 0, FM_STREAM_DATA);
    fm_err_clear(&err);
    is_int(fm_split_dirichlet(y, 4, 2, 1, 0.1, &r, client_of, &err), FM_OK, "one client: runs");
    ok(client_of[0] == 0 && client_of[1] == 0 && client_of[2] == 0 && client_of[3] == 0,
       "one client: gets everything");
    is_int(fm_split_dirichlet(y, 0, 2, 3, 0.1, &r, client_of, &err), FM_OK, "no examples: runs");
    int yy[4] = {0, 1, 2, 0};
    is_int(fm_split_dirichlet(yy, 4, 2, 3, 1.0, &r, client_of, &err), FM_EINVAL, "label out of range: FM_EINVAL");
    is_str(err.msg, "dirichlet split: label 2 of example 2 outside [0, 2)", "label out of range: message");
    fm_err_clear(&err);
    is_int(fm_split_dirichlet(y, 4, 2, 3, 0.0, &r, client_of, &err), FM_EINVAL, "alpha 0: FM_EINVAL");
    is_str(err.msg, "dirichlet split: alpha 0, expected a positive number", "alpha 0: message");
    fm_err_clear(&err);
    is_int(fm_split_dirichlet(y, 4, 2, 3, NAN, &r, client_of, &err), FM_EINVAL, "alpha NaN: FM_EINVAL");
    is_str(err.msg, "dirichlet split: alpha nan, expected a positive number", "alpha NaN: message");
    fm_err_clear(&err);
    is_int(fm_split_dirichlet(y, 4, 2, 0, 1.0, &r, client_of, &err), FM_EINVAL, "0 clients: FM_EINVAL");
    is_str(err.msg, "dirichlet split: bad shape (4 examples, 2 classes, 0 clients)", "0 clients: message");
}

static void test_split(void)
{
    int *y = malloc(SPLIT_TOTAL * sizeof *y), *client_of = malloc(SPLIT_TOTAL * sizeof *client_of);
    int *counts = malloc(SPLIT_C * SPLIT_N * sizeof *counts);
    if (ok(y && client_of && counts, "allocate split fixtures")) {
        interleaved_labels(y, SPLIT_TOTAL, SPLIT_C);
        test_split_uniform(y, client_of, counts);
        test_split_concentrated(y, client_of, counts);
        test_split_determinism(y, client_of);
    }
    free(y);
    free(client_of);
    free(counts);
    test_split_statistics();
    test_split_edges();
}

/* ---- text corpora ---- */

static void expect_text_error(const char *bytes, size_t len, size_t max_bytes, fm_status code, const char *want,
                              const char *what)
{
    char path[PATH_CAP], full[512];
    fm_text t;
    fm_err err;
    fm_err_clear(&err);
    if (!ok(write_fixture(bytes, len, 0, path), "%s: write fixture", what))
        return;
    is_int(fm_text_read(path, max_bytes, &t, &err), code, "%s: status", what);
    snprintf(full, sizeof full, "%s: %s", path, want);
    is_str(err.msg, full, "%s: message", what);
    ok(t.bytes == NULL && t.len == 0, "%s: output left empty", what);
    unlink(path);
}

static void test_text(void)
{
    const char *hello = "hello world\n";
    char path[PATH_CAP];
    fm_text t;
    fm_vocab v;
    fm_err err;
    fm_err_clear(&err);
    ok(write_fixture(hello, 12, 0, path), "write a text fixture");
    is_int(fm_text_read(path, 12, &t, &err), FM_OK, "a 12-byte text with max_bytes 12 reads");
    ok(t.len == 12 && memcmp(t.bytes, hello, 12) == 0 && t.bytes[12] == 0, "bytes exact, then a 0");
    fm_text_vocab(&t, &v);
    is_int(v.size, 9, "vocabulary of 'hello world\\n': 9 distinct bytes");
    ok(memcmp(v.byte_of, "\n dehlorw", 9) == 0, "vocabulary sorted by byte value");
    ok(v.index_of['l'] == 5 && v.index_of['\n'] == 0 && v.index_of['w'] == 8, "byte -> index");
    ok(v.index_of['z'] == -1 && v.index_of[0] == -1 && v.index_of[255] == -1, "absent bytes map to -1");
    int round_trip = 1;
    for (size_t i = 0; i < t.len; i++)
        round_trip &= v.byte_of[v.index_of[t.bytes[i]]] == t.bytes[i];
    ok(round_trip, "byte_of[index_of[b]] == b for every byte of the text");
    fm_text_free(&t);
    ok(t.bytes == NULL && t.len == 0, "fm_text_free zeroes");
    unlink(path);

    /* 200000 bytes (past the first 64 KiB allocation) using every byte value but 0. */
    enum { BIG = 200000 };
    char *big = malloc(BIG);
    if (ok(big != NULL, "allocate a large text")) {
        for (int i = 0; i < BIG; i++)
            big[i] = (char)(1 + (i * 37) % 255);
        ok(write_fixture(big, BIG, 0, path), "write a 200000-byte text");
        is_int(fm_text_read(path, BIG, &t, &err), FM_OK, "a 200000-byte text reads");
        ok(t.len == BIG && memcmp(t.bytes, big, BIG) == 0, "large text: bytes exact");
        fm_text_vocab(&t, &v);
        ok(v.size == 255 && v.byte_of[0] == 1 && v.byte_of[254] == 255 && v.index_of[0] == -1,
           "large text: vocabulary 1..255");
        fm_text_free(&t);
        unlink(path);
        free(big);
    }

    expect_text_error(hello, 12, 11, FM_EDATA, "larger than the limit of 11 bytes", "12 bytes, max_bytes 11");
    expect_text_error(hello, 0, 100, FM_EDATA, "empty file", "empty text");
    expect_text_error("hello\0world", 11, 100, FM_EDATA, "NUL byte at offset 5 (not a text file)", "a NUL byte");
    fm_err_clear(&err);
    is_int(fm_text_read("/nonexistent/fm_text", 100, &t, &err), FM_EIO, "missing text: FM_EIO");
    is_str(err.msg, "/nonexistent/fm_text: cannot open: No such file or directory", "missing text: message");
    fm_err_clear(&err);
    is_int(fm_text_read("/tmp", 100, &t, &err), FM_EIO, "a directory: FM_EIO");
    is_str(err.msg, "/tmp: cannot read: Is a directory", "a directory: message");
    fm_err_clear(&err);
    is_int(fm_text_read("/tmp", 0, &t, &err), FM_EINVAL, "max_bytes 0: FM_EINVAL");
    is_str(err.msg, "/tmp: max_bytes 0 out of range", "max_bytes 0: message");
}

/* ---- Fashion-MNIST (when installed; FM_FASHION_MNIST_DIR overrides the directory) ---- */

static void test_fashion_mnist(void)
{
    const char *dir = getenv("FM_FASHION_MNIST_DIR") ? getenv("FM_FASHION_MNIST_DIR") : FASHION_DIR;
    char images[512], labels[512];
    snprintf(images, sizeof images, "%s/t10k-images-idx3-ubyte.gz", dir);
    snprintf(labels, sizeof labels, "%s/t10k-labels-idx1-ubyte.gz", dir);
    if (access(images, R_OK) != 0 || access(labels, R_OK) != 0) {
        ok(1, "# skip Fashion-MNIST test set not found in %s", dir);
        return;
    }
    fm_labelled d;
    fm_err err;
    fm_err_clear(&err);
    if (!ok(fm_idx_dataset(images, labels, 0, &d, &err) == FM_OK, "Fashion-MNIST t10k reads (%s)", err.msg))
        return;
    ok(d.n == 10000 && d.rows == 28 && d.cols == 28 && d.dim == 784, "10000 images of 28 x 28");
    is_int(d.num_classes, 10, "10 classes");
    int per_class[10] = {0}, balanced = 1;
    for (int i = 0; i < d.n; i++)
        per_class[d.y[i]]++;
    for (int c = 0; c < 10; c++)
        balanced &= per_class[c] == 1000;
    ok(balanced, "1000 images of each class");
    float lo = 1.0f, hi = 0.0f;
    for (size_t i = 0; i < (size_t)d.n * d.dim; i++)
        lo = fminf(lo, d.x[i]), hi = fmaxf(hi, d.x[i]);
    ok(lo == 0.0f && hi == 1.0f, "pixels span [0, 1] (got [%g, %g])", lo, hi);
    fm_labelled_free(&d);
}

int main(void)
{
    test_idx_round_trip();
    test_idx_errors();
    test_gzip_damage();
    test_dataset();
    test_split();
    test_text();
    test_fashion_mnist();
    return done_testing();
}
