/* conv.h - 2-D convolution layers in float32 (im2col + one GEMM per image), ReLU, 2x2 max
 * pooling and channel permutations, for small CNN policies on images (28 x 28 Fashion-MNIST).
 *
 * Layouts (all row-major, NCHW):
 *   input   [B][in_c][in_h][in_w]
 *   output  [B][out_c][out_h][out_w], out_h = (in_h + 2 pad - k) / stride + 1 (likewise out_w)
 *   params  one contiguous block of fm_conv_nparams floats: weight [out_c][in_c][k][k], then
 *           bias [out_c], so a layer lives inside a flat parameter vector (nn.h) and its
 *           gradient and Adam moments use the same block layout.
 * A zero-padded square kernel, cross-correlation as in PyTorch's Conv2d:
 *   out[b][o][y][x] = bias[o] + sum_{c,i,j} weight[o][c][i][j] in[b][c][y s - p + i][x s - p + j].
 *
 * Permutations follow fm_layout_permute: output channel i moves to position perm[i], so the
 * permuted layer computes the same maps with channel i found at perm[i]; the next layer then
 * reads its input channel perm[i] with the weights it had for channel i. Weight matching
 * (Git Re-Basin, FLEET-MERGE) permutes convolutional layers this way: one permutation group per
 * conv layer's output channels, acting on that layer's weight rows and bias and on the next
 * layer's input channels (a conv's weight[:, c], or a dense layer's column block c of H*W
 * columns when it reads the flattened [C][H][W] map).
 *
 * None of the forward/backward functions allocates: the caller provides a workspace of
 * fm_conv_ws_floats floats (one image's im2col matrix), reused by every call. */
#ifndef FM_NN_CONV_H
#define FM_NN_CONV_H

#include <stddef.h>

#include "core/core.h"

typedef struct fm_conv_shape {
    int in_c, in_h, in_w; /* input channels and map size, >= 1 */
    int out_c;            /* output channels, >= 1 */
    int k;                /* square kernel side, >= 1 and <= in + 2 pad in both directions */
    int stride;           /* >= 1 */
    int pad;              /* zero padding on every side, >= 0 */
} fm_conv_shape;

/* Validate s and give the output map size (out_h, out_w may be NULL). FM_EINVAL with a message
 * naming the field: a size below 1, a negative pad, a kernel larger than the padded input
 * ("exceeds the padded input height"), or matrices too large for int GEMM dimensions. */
fm_status fm_conv_check(const fm_conv_shape *s, int *out_h, int *out_w, fm_err *err);
/* Parameters of the layer: out_c in_c k k + out_c; 0 if s is invalid (fm_conv_check says why). */
size_t fm_conv_nparams(const fm_conv_shape *s);
/* Workspace floats for forward and backward: the im2col matrix of one image,
 * (in_c k k) x (out_h out_w), independent of the batch size; 0 if s is invalid. */
size_t fm_conv_ws_floats(const fm_conv_shape *s);

/* Forward pass over B >= 0 images: out [B][out_c][out_h][out_w] is overwritten from
 * in [B][in_c][in_h][in_w] and params (fm_conv_nparams floats). ws holds ws_floats >=
 * fm_conv_ws_floats(s) floats of scratch (contents on return unspecified). out must not overlap
 * in, params or ws. FM_EINVAL for an invalid shape, B < 0, a NULL buffer or a short workspace
 * (nothing is written then); B = 0 does nothing and accepts NULL buffers. */
fm_status fm_conv_forward(float *out, const float *in, const float *params, const fm_conv_shape *s,
                          int B, float *ws, size_t ws_floats, fm_err *err);
/* Backward pass for the forward above, given d_out [B][out_c][out_h][out_w] = dL/d out:
 * d_params (same block layout as params) += dL/d params (weight and bias gradients accumulate
 * over calls and images); d_in [B][in_c][in_h][in_w] = dL/d in is overwritten, or skipped when
 * d_in is NULL (the first layer). Buffers must not overlap; errors as for fm_conv_forward. */
fm_status fm_conv_backward(float *d_params, float *d_in, const float *d_out, const float *in,
                           const float *params, const fm_conv_shape *s, int B, float *ws,
                           size_t ws_floats, fm_err *err);

/* ReLU over n floats: out = max(in, 0); out may equal in (in place). */
void fm_conv_relu_forward(float *out, const float *in, size_t n);
/* d_in = d_out where the forward output out > 0, else 0; d_in may equal d_out. */
void fm_conv_relu_backward(float *d_in, const float *d_out, const float *out, size_t n);

/* 2x2 max pooling with stride 2 over B images of C planes H x W (H, W >= 2): out and arg are
 * [B][C][H/2][W/2] (floor: an odd last row or column is dropped, as in PyTorch). arg records
 * the winner's index y W + x within its input plane (the first of equal values in row-major
 * window order). out must not overlap in. FM_EINVAL for H or W below 2, a negative B or C, or
 * a NULL buffer (B = 0 or C = 0 does nothing). */
fm_status fm_conv_pool_forward(float *out, int *arg, const float *in, int B, int C, int H, int W,
                               fm_err *err);
/* d_in [B][C][H][W] is overwritten: d_out routed to each window's recorded winner, 0 elsewhere
 * (windows do not overlap, so no two outputs share a winner). Errors as for the forward. */
fm_status fm_conv_pool_backward(float *d_in, const float *d_out, const int *arg, int B, int C,
                                int H, int W, fm_err *err);

/* ---- channel permutations (perm: a permutation of 0..n-1, channel i moves to perm[i]) ---- */

/* out = the layer block `in` (params, gradient or moment) with output channel o moved to perm[o]:
 * weight[perm[o]] = weight[o], bias[perm[o]] = bias[o]. perm has s->out_c entries; s valid;
 * in and out must not overlap. */
void fm_conv_permute_out(const fm_conv_shape *s, const int *perm, const float *in, float *out);
/* out = the layer block `in` with input channel c moved to perm[c]: weight[o][perm[c]] =
 * weight[o][c] (k x k taps each), bias copied. perm has s->in_c entries. */
void fm_conv_permute_in(const fm_conv_shape *s, const int *perm, const float *in, float *out);
/* out = a dense weight [rows x C hw] (W is [out x in] as in nn.h) reading a flattened
 * [C][H][W] map (hw = H W), with column block c moved to block perm[c]: out[r][perm[c] hw + p] =
 * in[r][c hw + p]. perm has C entries; in and out must not overlap. */
void fm_conv_permute_dense_in(int rows, int C, int hw, const int *perm, const float *in, float *out);

typedef enum fm_conv_next_kind {
    FM_CONV_NEXT_CONV = 0, /* another conv layer: next_w is its params block */
    FM_CONV_NEXT_DENSE,    /* a dense layer on the flattened map: next_w is its weight only */
    FM_CONV_NEXT_KIND_COUNT
} fm_conv_next_kind;

/* The layer that reads this conv layer's output channels. */
typedef struct fm_conv_next {
    int kind;           /* fm_conv_next_kind */
    fm_conv_shape conv; /* FM_CONV_NEXT_CONV: its shape; conv.in_c must equal this layer's out_c */
    int rows, hw;       /* FM_CONV_NEXT_DENSE: weight [rows x out_c hw]; hw = H W of the map it
                         * reads (after pooling, if any) */
} fm_conv_next;

/* Permute this layer's output channels in place (params: weight rows and bias) and the next
 * layer's input channels to match (next_w), leaving the network's function unchanged. Apply it
 * to every buffer with the parameter layout (weights, gradients, Adam moments) alike.
 * FM_EINVAL, leaving both buffers untouched, if perm is not a permutation of 0..out_c-1, a
 * shape is invalid or the next layer does not read out_c channels; FM_ENOMEM. Allocates one
 * scratch copy (not for hot paths). */
fm_status fm_conv_permute(float *params, float *next_w, const fm_conv_shape *s,
                          const fm_conv_next *next, const int *perm, fm_err *err);

#endif
