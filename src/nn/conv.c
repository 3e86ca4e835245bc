/* conv.c - 2-D convolution (im2col + GEMM), ReLU, 2x2 max pooling and channel permutations.
 *
 * Per image, the im2col matrix col [K x N] (K = in_c k k rows in the weight's [c][i][j] order,
 * N = out_h out_w columns) turns the layer into GEMMs with the weight W [out_c x K]:
 *   forward   Y [out_c x N]  = W col + bias
 *   backward  dW [out_c x K] += dY col'      (col recomputed into the same workspace)
 *             dcol [K x N]    = W' dY         (reusing the workspace), then col2im adds dcol
 *                                              back onto the input positions it was read from.
 * One workspace of K x N floats therefore serves both passes for any batch size. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "la/la.h"
#include "nn/conv.h"

/* a b, or INT_MAX + 1 once it exceeds INT_MAX (a, b >= 0, each at most a few times INT_MAX). */
static long long mul_cap(long long a, long long b)
{
    const long long cap = (long long)INT_MAX + 1;
    if (a > cap || b > cap || (a > 0 && b > cap / a))
        return cap;
    return a * b > cap ? cap : a * b;
}

/* The kernel fits the padded input along one axis (in, pad, k already >= their minimum). */
static fm_status check_axis(const char *axis, const char *field, int in, int pad, int k, fm_err *err)
{
    fm_status status = FM_OK;
    long long padded = (long long)in + 2LL * pad;
    FM_CHECK(k <= padded, FM_EINVAL,
             "conv: kernel k = %d exceeds the padded input %s %s + 2 pad = %d + 2*%d = %lld "
             "(the output would be empty)", k, axis, field, in, pad, padded);
cleanup:
    return status;
}

fm_status fm_conv_check(const fm_conv_shape *s, int *out_h, int *out_w, fm_err *err)
{
    fm_status status = FM_OK;
    FM_CHECK(s, FM_EINVAL, "conv: shape is NULL");
    FM_CHECK(s->in_c >= 1 && s->in_h >= 1 && s->in_w >= 1, FM_EINVAL,
             "conv: in_c, in_h, in_w must be >= 1, got %d, %d, %d", s->in_c, s->in_h, s->in_w);
    FM_CHECK(s->out_c >= 1, FM_EINVAL, "conv: out_c must be >= 1, got %d", s->out_c);
    FM_CHECK(s->k >= 1, FM_EINVAL, "conv: kernel k must be >= 1, got %d", s->k);
    FM_CHECK(s->stride >= 1, FM_EINVAL, "conv: stride must be >= 1, got %d", s->stride);
    FM_CHECK(s->pad >= 0, FM_EINVAL, "conv: pad must be >= 0, got %d", s->pad);
    FM_TRY(check_axis("height", "in_h", s->in_h, s->pad, s->k, err));
    FM_TRY(check_axis("width", "in_w", s->in_w, s->pad, s->k, err));
    long long oh = ((long long)s->in_h + 2LL * s->pad - s->k) / s->stride + 1;
    long long ow = ((long long)s->in_w + 2LL * s->pad - s->k) / s->stride + 1;
    long long K = mul_cap(mul_cap(s->in_c, s->k), s->k), N = mul_cap(oh, ow);
    long long in_img = mul_cap(s->in_c, mul_cap(s->in_h, s->in_w)), out_img = mul_cap(s->out_c, N);
    long long most = mul_cap(K, N);
    most = in_img > most ? in_img : most;
    most = out_img > most ? out_img : most;
    most = mul_cap(s->out_c, K + 1) > most ? mul_cap(s->out_c, K + 1) : most;
    FM_CHECK(most <= INT_MAX, FM_EINVAL,
             "conv: shape too large: im2col %lld x %lld, images %lld -> %lld floats; every matrix "
             "must have at most %d entries", K, N, in_img, out_img, INT_MAX);
    if (out_h)
        *out_h = (int)oh;
    if (out_w)
        *out_w = (int)ow;
cleanup:
    return status;
}

size_t fm_conv_nparams(const fm_conv_shape *s)
{
    if (fm_conv_check(s, NULL, NULL, NULL) != FM_OK)
        return 0;
    return (size_t)s->out_c * s->in_c * s->k * s->k + (size_t)s->out_c;
}

size_t fm_conv_ws_floats(const fm_conv_shape *s)
{
    int oh, ow;
    if (fm_conv_check(s, &oh, &ow, NULL) != FM_OK)
        return 0;
    return (size_t)s->in_c * s->k * s->k * oh * ow;
}

/* Output columns x in [*x0, *x1) read input column x stride + off inside [0, in). */
static void valid_range(int off, int stride, int in, int out, int *x0, int *x1)
{
    int lo = off >= 0 ? 0 : (-off + stride - 1) / stride;
    int hi = in - 1 - off < 0 ? 0 : (in - 1 - off) / stride + 1;
    hi = hi < out ? hi : out;
    *x0 = lo < hi ? lo : hi;
    *x1 = hi;
}

/* col[(c k + i) k + j][y ow + x] = in[c][y s - p + i][x s - p + j], 0 in the padding. Rows are
 * short (ow = 14 on a pooled 28 x 28 image): plain loops the compiler vectorizes, not memset/memcpy
 * calls, whose per-call cost made im2col the largest cost after the GEMMs. */
static void im2col(const fm_conv_shape *s, int oh, int ow, const float *in, float *col)
{
    int k = s->k, st = s->stride, H = s->in_h, W = s->in_w;
    for (int c = 0; c < s->in_c; c++)
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) {
                const float *plane = in + (size_t)c * H * W;
                float *row = col + ((size_t)(c * k + i) * k + j) * oh * ow;
                int off = j - s->pad, x0, x1;
                valid_range(off, st, W, ow, &x0, &x1);
                for (int y = 0; y < oh; y++) {
                    float *dst = row + (size_t)y * ow;
                    int iy = y * st - s->pad + i;
                    if (iy < 0 || iy >= H) {
                        for (int x = 0; x < ow; x++)
                            dst[x] = 0.0f;
                        continue;
                    }
                    const float *src = plane + (size_t)iy * W;
                    for (int x = 0; x < x0; x++)
                        dst[x] = 0.0f;
                    if (st == 1)
                        for (int x = x0; x < x1; x++)
                            dst[x] = src[x + off];
                    else
                        for (int x = x0; x < x1; x++)
                            dst[x] = src[x * st + off];
                    for (int x = x1; x < ow; x++)
                        dst[x] = 0.0f;
                }
            }
}

/* The adjoint of im2col: in[c][y s - p + i][x s - p + j] += col[(c k + i) k + j][y ow + x]. */
static void col2im(const fm_conv_shape *s, int oh, int ow, const float *col, float *in)
{
    int k = s->k, st = s->stride, H = s->in_h, W = s->in_w;
    for (int c = 0; c < s->in_c; c++)
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) {
                float *plane = in + (size_t)c * H * W;
                const float *row = col + ((size_t)(c * k + i) * k + j) * oh * ow;
                int off = j - s->pad, x0, x1;
                valid_range(off, st, W, ow, &x0, &x1);
                for (int y = 0; y < oh; y++) {
                    int iy = y * st - s->pad + i;
                    if (iy < 0 || iy >= H)
                        continue;
                    const float *src = row + (size_t)y * ow;
                    float *dst = plane + (size_t)iy * W;
                    if (st == 1) /* a separate loop the compiler vectorizes */
                        for (int x = x0; x < x1; x++)
                            dst[x + off] += src[x];
                    else
                        for (int x = x0; x < x1; x++)
                            dst[x * st + off] += src[x];
                }
            }
}

/* acc[o] += sum over n of dy[o][n] (rows x n): 8 float lanes the compiler vectorizes (a single
 * running sum is a serial chain of dependent adds), combined in double. */
static void row_sums_acc(int rows, int n, const float *dy, float *acc)
{
    for (int o = 0; o < rows; o++) {
        const float *row = dy + (size_t)o * n;
        float lane[8] = {0};
        int j = 0;
        for (; j + 8 <= n; j += 8)
            for (int l = 0; l < 8; l++)
                lane[l] += row[j + l];
        double sum = 0.0;
        for (int l = 0; l < 8; l++)
            sum += lane[l];
        for (; j < n; j++)
            sum += row[j];
        acc[o] += (float)sum;
    }
}

/* Shape, batch size and workspace of a forward/backward call; gives the output map size. */
static fm_status check_call(const char *pass, const fm_conv_shape *s, int B, int bufs_ok,
                            size_t ws_floats, int *oh, int *ow, fm_err *err)
{
    fm_status status = FM_OK;
    FM_TRY(fm_conv_check(s, oh, ow, err));
    FM_CHECK(B >= 0, FM_EINVAL, "conv %s: batch size B must be >= 0, got %d", pass, B);
    FM_CHECK(B == 0 || bufs_ok, FM_EINVAL, "conv %s: a NULL buffer", pass);
    size_t need = fm_conv_ws_floats(s);
    FM_CHECK(B == 0 || ws_floats >= need, FM_EINVAL,
             "conv %s: workspace of %zu floats, fm_conv_ws_floats needs %zu", pass, ws_floats, need);
cleanup:
    return status;
}

fm_status fm_conv_forward(float *out, const float *in, const float *params, const fm_conv_shape *s,
                          int B, float *ws, size_t ws_floats, fm_err *err)
{
    fm_status status = FM_OK;
    int oh = 0, ow = 0;
    FM_TRY(check_call("forward", s, B, out && in && params && ws, ws_floats, &oh, &ow, err));
    int K = s->in_c * s->k * s->k, N = oh * ow;
    size_t in_img = (size_t)s->in_c * s->in_h * s->in_w, out_img = (size_t)s->out_c * N;
    const float *bias = params + (size_t)s->out_c * K;
    for (int b = 0; b < B; b++) {
        float *y = out + b * out_img;
        im2col(s, oh, ow, in + b * in_img, ws);
        for (int o = 0; o < s->out_c; o++)
            for (int n = 0; n < N; n++)
                y[(size_t)o * N + n] = bias[o];
        la_sgemm(0, 0, s->out_c, N, K, 1.0f, params, ws, 1.0f, y); /* Y = W col + Y */
    }
cleanup:
    return status;
}

fm_status fm_conv_backward(float *d_params, float *d_in, const float *d_out, const float *in,
                           const float *params, const fm_conv_shape *s, int B, float *ws,
                           size_t ws_floats, fm_err *err)
{
    fm_status status = FM_OK;
    int oh = 0, ow = 0;
    FM_TRY(check_call("backward", s, B, d_params && d_out && in && params && ws, ws_floats, &oh,
                      &ow, err));
    int K = s->in_c * s->k * s->k, N = oh * ow;
    size_t in_img = (size_t)s->in_c * s->in_h * s->in_w, out_img = (size_t)s->out_c * N;
    float *d_bias = d_params + (size_t)s->out_c * K;
    for (int b = 0; b < B; b++) {
        const float *dy = d_out + b * out_img;
        row_sums_acc(s->out_c, N, dy, d_bias);
        im2col(s, oh, ow, in + b * in_img, ws);
        la_sgemm(0, 1, s->out_c, K, N, 1.0f, dy, ws, 1.0f, d_params); /* dW += dY col' */
        if (!d_in)
            continue;
        la_sgemm(1, 0, K, N, s->out_c, 1.0f, params, dy, 0.0f, ws); /* dcol = W' dY */
        memset(d_in + b * in_img, 0, sizeof(float) * in_img);
        col2im(s, oh, ow, ws, d_in + b * in_img);
    }
cleanup:
    return status;
}

/* ---------------- ReLU and 2x2 max pooling ---------------- */

void fm_conv_relu_forward(float *out, const float *in, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

void fm_conv_relu_backward(float *d_in, const float *d_out, const float *out, size_t n)
{
    for (size_t i = 0; i < n; i++) { /* both loaded unconditionally: a vector select, no branch (which the
                                      * data's random signs mispredicted half the time, 12% of CNN training) */
        float d = d_out[i];
        d_in[i] = out[i] > 0.0f ? d : 0.0f;
    }
}

static fm_status check_pool(const char *pass, int B, int C, int H, int W, int bufs_ok, fm_err *err)
{
    fm_status status = FM_OK;
    FM_CHECK(B >= 0 && C >= 0, FM_EINVAL, "max pool %s: B and C must be >= 0, got %d, %d", pass, B, C);
    FM_CHECK(H >= 2 && W >= 2, FM_EINVAL,
             "max pool %s: a 2x2 window needs H, W >= 2, got %d x %d", pass, H, W);
    FM_CHECK(mul_cap(H, W) <= INT_MAX, FM_EINVAL, "max pool %s: plane %d x %d too large", pass, H, W);
    FM_CHECK(B == 0 || C == 0 || bufs_ok, FM_EINVAL, "max pool %s: a NULL buffer", pass);
cleanup:
    return status;
}

fm_status fm_conv_pool_forward(float *out, int *arg, const float *in, int B, int C, int H, int W,
                               fm_err *err)
{
    fm_status status = FM_OK;
    FM_TRY(check_pool("forward", B, C, H, W, out && arg && in, err));
    int oh = H / 2, ow = W / 2;
    for (size_t p = 0; p < (size_t)B * C; p++) {
        const float *x = in + p * H * W;
        float *y = out + p * oh * ow;
        int *a = arg + p * oh * ow;
        for (int i = 0; i < oh; i++) {
            const float *r0 = x + (size_t)2 * i * W, *r1 = r0 + W;
            for (int j = 0; j < ow; j++) { /* selects, no branches: the winner is data-dependent */
                int q = 2 * i * W + 2 * j, best = q;
                float m = r0[2 * j];
                best = r0[2 * j + 1] > m ? q + 1 : best;
                m = r0[2 * j + 1] > m ? r0[2 * j + 1] : m;
                best = r1[2 * j] > m ? q + W : best;
                m = r1[2 * j] > m ? r1[2 * j] : m;
                best = r1[2 * j + 1] > m ? q + W + 1 : best;
                m = r1[2 * j + 1] > m ? r1[2 * j + 1] : m;
                y[i * ow + j] = m;
                a[i * ow + j] = best;
            }
        }
    }
cleanup:
    return status;
}

fm_status fm_conv_pool_backward(float *d_in, const float *d_out, const int *arg, int B, int C,
                                int H, int W, fm_err *err)
{
    fm_status status = FM_OK;
    FM_TRY(check_pool("backward", B, C, H, W, d_in && d_out && arg, err));
    size_t plane = (size_t)H * W, pooled = (size_t)(H / 2) * (W / 2);
    for (size_t p = 0; p < (size_t)B * C; p++) {
        float *dx = d_in + p * plane;
        for (size_t q = 0; q < plane; q++)
            dx[q] = 0.0f;
        for (size_t q = 0; q < pooled; q++)
            dx[arg[p * pooled + q]] = d_out[p * pooled + q];
    }
cleanup:
    return status;
}

/* ---------------- channel permutations ---------------- */

void fm_conv_permute_out(const fm_conv_shape *s, const int *perm, const float *in, float *out)
{
    size_t K = (size_t)s->in_c * s->k * s->k, nw = (size_t)s->out_c * K;
    for (int o = 0; o < s->out_c; o++) {
        memcpy(out + (size_t)perm[o] * K, in + (size_t)o * K, sizeof(float) * K);
        out[nw + perm[o]] = in[nw + o];
    }
}

void fm_conv_permute_in(const fm_conv_shape *s, const int *perm, const float *in, float *out)
{
    size_t kk = (size_t)s->k * s->k, K = (size_t)s->in_c * kk, nw = (size_t)s->out_c * K;
    for (int o = 0; o < s->out_c; o++)
        for (int c = 0; c < s->in_c; c++)
            memcpy(out + o * K + perm[c] * kk, in + o * K + c * kk, sizeof(float) * kk);
    memcpy(out + nw, in + nw, sizeof(float) * s->out_c);
}

void fm_conv_permute_dense_in(int rows, int C, int hw, const int *perm, const float *in, float *out)
{
    size_t cols = (size_t)C * hw;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < C; c++)
            memcpy(out + r * cols + (size_t)perm[c] * hw, in + r * cols + (size_t)c * hw,
                   sizeof(float) * hw);
}

/* perm is a permutation of 0..n-1; seen [n] is scratch (zeroed). */
static fm_status check_perm(int n, const int *perm, int *seen, fm_err *err)
{
    fm_status status = FM_OK;
    for (int i = 0; i < n; i++) {
        FM_CHECK(perm[i] >= 0 && perm[i] < n, FM_EINVAL,
                 "conv permute: perm[%d] = %d is outside 0..%d", i, perm[i], n - 1);
        FM_CHECK(!seen[perm[i]], FM_EINVAL,
                 "conv permute: perm[%d] = %d repeats an earlier entry (not a permutation)", i, perm[i]);
        seen[perm[i]] = 1;
    }
cleanup:
    return status;
}

/* The next layer reads the out_c channels of s; *n: floats of its permuted block. */
static fm_status check_next(const fm_conv_shape *s, const fm_conv_next *next, size_t *n, fm_err *err)
{
    fm_status status = FM_OK;
    FM_CHECK(next->kind >= 0 && next->kind < FM_CONV_NEXT_KIND_COUNT, FM_EINVAL,
             "conv permute: unknown next layer kind %d", next->kind);
    if (next->kind == FM_CONV_NEXT_CONV) {
        FM_TRY(fm_conv_check(&next->conv, NULL, NULL, err));
        FM_CHECK(next->conv.in_c == s->out_c, FM_EINVAL,
                 "conv permute: the next conv reads in_c = %d channels, this layer has out_c = %d",
                 next->conv.in_c, s->out_c);
        *n = fm_conv_nparams(&next->conv);
    } else {
        FM_CHECK(next->rows >= 1 && next->hw >= 1, FM_EINVAL,
                 "conv permute: the next dense layer needs rows >= 1 and hw >= 1, got %d, %d",
                 next->rows, next->hw);
        long long cols = mul_cap(s->out_c, next->hw);
        FM_CHECK(mul_cap(next->rows, cols) <= INT_MAX, FM_EINVAL,
                 "conv permute: dense weight %d x %lld too large", next->rows, cols);
        *n = (size_t)next->rows * (size_t)cols;
    }
cleanup:
    return status;
}

fm_status fm_conv_permute(float *params, float *next_w, const fm_conv_shape *s,
                          const fm_conv_next *next, const int *perm, fm_err *err)
{
    fm_status status = FM_OK;
    float *tmp = NULL;
    int *seen = NULL;
    size_t n_next = 0;
    FM_TRY(fm_conv_check(s, NULL, NULL, err));
    FM_CHECK(params && next_w && next && perm, FM_EINVAL, "conv permute: a NULL argument");
    FM_TRY(check_next(s, next, &n_next, err));
    FM_ALLOC(seen, s->out_c);
    FM_TRY(check_perm(s->out_c, perm, seen, err));
    size_t n = fm_conv_nparams(s);
    FM_ALLOC(tmp, n > n_next ? n : n_next);
    memcpy(tmp, params, sizeof(float) * n);
    fm_conv_permute_out(s, perm, tmp, params);
    memcpy(tmp, next_w, sizeof(float) * n_next);
    if (next->kind == FM_CONV_NEXT_CONV)
        fm_conv_permute_in(&next->conv, perm, tmp, next_w);
    else
        fm_conv_permute_dense_in(next->rows, s->out_c, next->hw, perm, tmp, next_w);
cleanup:
    free(seen);
    free(tmp);
    return status;
}
