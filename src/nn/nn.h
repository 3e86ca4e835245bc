/* nn.h - neural policies in float32: MLP (Eq. 2.1), multi-layer Elman RNN (Eq. 2.2) and a
 * point-cloud encoder feeding either head.
 *
 * One flat parameter buffer per model, described by a layout table: tensor name, shape and,
 * for every axis, the hidden-unit permutation group it belongs to (or FM_NN_NO_GROUP).
 * Gradients and Adam moments use the same layout, so the optimizer, the allreduce and merging
 * are flat loops, and permuting hidden units (Prop. 3.1, Eq. 3.3) is a walk over the table.
 *
 * Architecture (all matrices row-major, W is [out x in]):
 *   encoder (optional, spec.npoints > 0): every point's channels (xyz + mask) go through a shared
 *     per-point MLP with ReLU (enc_hidden[0..enc_nlayers)), then max pooling over the points;
 *     the pooled feature is concatenated before the flat observation part.
 *   mlp head:  h^{l+1} = act(W^l h^l + b^l) for hidden layers; action = W^L h^L + b^L (linear).
 *   cnn (arch FM_NN_CNN): conv layers (ReLU, 2x2 max pooling) on the image observation, the flattened
 *     map feeding an mlp head (conv.h, cnn.c). Layout: conv{j}.w [c_j x c_{j-1} k k] with groups
 *     (g_j, g_{j-1}) and blocks (1, k k), conv{j}.b [c_j]; head0.w [h_0 x C H W] with column group
 *     g_last and block H W.
 *   rnn head:  h_t^{l+1} = tanh/relu(W_rec^{l+1} h_{t-1}^{l+1} + W_ff^l h_t^l + b^l) for every hidden
 *     layer (Eq. 2.2), h_0 = 0; action = linear readout W^L h_t^L + b^L. Eq. 2.2 also applies the
 *     activation and a recurrent weight to the action layer; a linear readout is the usual choice
 *     for regressing actions and keeps the action range unbounded (docs/nn.md).
 * Observations are normalized with the model's obs_mean/obs_std, actions predicted in units
 * normalized with act_mean/act_std; the BC loss (Eq. 2.4) is measured in normalized units.
 */
#ifndef FM_NN_H
#define FM_NN_H

#include <stddef.h>

#include "core/core.h"
#include "data/data.h"

enum { FM_NN_MAX_TENSORS = 64, FM_NN_MAX_GROUPS = 32, FM_NN_MAX_LAYERS = 8 };
#define FM_NN_NO_GROUP (-1)

typedef struct fm_tensor {
    char name[32];
    int ndim;      /* 1 (bias) or 2 (weight [out x in]) */
    int shape[2];
    int group[2];  /* permutation group of each axis, FM_NN_NO_GROUP if none */
    int block[2];  /* elements per unit along each axis (>= 1; 0 reads as 1): unit i of the axis's
                    * group occupies [i block, (i + 1) block), e.g. a conv weight's k*k taps per
                    * input channel, or a dense layer's H*W columns per channel of a flattened map */
    size_t offset; /* first element in the flat buffer */
    size_t size;
} fm_tensor;

typedef struct fm_layout {
    int ntensors;
    fm_tensor t[FM_NN_MAX_TENSORS];
    size_t total;                       /* parameters */
    int ngroups;
    int group_size[FM_NN_MAX_GROUPS];   /* hidden units in each permutation group */
} fm_layout;

typedef enum fm_nn_arch { FM_NN_MLP = 0, FM_NN_RNN, FM_NN_CNN, FM_NN_ARCH_COUNT } fm_nn_arch;
typedef enum fm_nn_act { FM_NN_TANH = 0, FM_NN_RELU, FM_NN_ACT_COUNT } fm_nn_act;
/* The training loss: the BC loss of Eq. 2.4 (squared error in normalized action units), or softmax
 * cross-entropy over the out_dim outputs (classification: outputs are logits, targets a
 * distribution over the classes, usually one-hot; no action normalization). */
typedef enum fm_nn_loss { FM_NN_LOSS_MSE = 0, FM_NN_LOSS_XENT, FM_NN_LOSS_COUNT } fm_nn_loss;

typedef struct fm_nn_spec {
    int arch;                        /* fm_nn_arch */
    int act;                         /* fm_nn_act of the head's hidden layers */
    int in_dim;                      /* flat observation entries (after the point cloud, if any) */
    int out_dim;                     /* action dimension */
    int nhidden;                     /* hidden layers of the head, >= 1 */
    int hidden[FM_NN_MAX_LAYERS];
    int npoints;                     /* 0: no encoder; else points per observation */
    int pc_channels;                 /* channels per point (4: xyz + tool/object mask) */
    int enc_nlayers;                 /* per-point MLP layers (ReLU), >= 1 when npoints > 0 */
    int enc_hidden[FM_NN_MAX_LAYERS];/* their widths; the last is the pooled feature size */
    int loss;                        /* fm_nn_loss (0: the BC loss) */
    /* arch FM_NN_CNN only: the flat observation is an image [img_c][img_h][img_w] (in_dim =
     * img_c img_h img_w); nconv conv layers of conv_channels[j] output channels, each a
     * conv_k x conv_k kernel (odd), stride 1, zero padding conv_k / 2 ('same'), ReLU, then 2x2
     * max pooling; the flattened last map [C][H][W] feeds the MLP head. */
    int nconv;
    int conv_channels[FM_NN_MAX_LAYERS];
    int conv_k;
    int img_c, img_h, img_w;
} fm_nn_spec;

typedef struct fm_model {
    fm_nn_spec spec;
    fm_layout layout;
    float *w;                        /* [layout.total] */
    float *obs_mean, *obs_std;       /* [obs_dim] */
    float *act_mean, *act_std;       /* [out_dim] */
} fm_model;

/* Observation length: npoints * pc_channels + in_dim (points first, row-major [point][channel]). */
int fm_nn_obs_dim(const fm_nn_spec *spec);
/* Validate a spec and build its layout. FM_EINVAL naming the bad field. */
fm_status fm_nn_layout(const fm_nn_spec *spec, fm_layout *out, fm_err *err);
/* Elements per unit along axis (0 rows, 1 columns) of t: t->block[axis], or 1 when unset. */
static inline int fm_tensor_block(const fm_tensor *t, int axis)
{
    return t->block[axis] > 0 ? t->block[axis] : 1;
}
/* arch FM_NN_CNN: check the conv part of spec (the image matches in_dim, an odd kernel, every
 * map at least 2 x 2 before pooling) and give the last map's channels and size after pooling
 * (C, H, W may be NULL). FM_EINVAL naming the field. */
fm_status fm_nn_cnn_map(const fm_nn_spec *spec, int *C, int *H, int *W, fm_err *err);
/* Find a tensor by name; NULL if absent. */
const fm_tensor *fm_layout_find(const fm_layout *l, const char *name);
/* Text description of the layout ("name [r x c] groups (g0, g1)\n" per tensor, with
 * " blocks (b0, b1)" before the newline when a block is not 1), used to check that a saved model
 * matches. Returns bytes needed, like snprintf. */
int fm_layout_describe(const fm_layout *l, char *buf, int cap);

/* Allocate a model for spec (parameters zero, identity normalization). */
fm_status fm_model_create(fm_model *m, const fm_nn_spec *spec, fm_err *err);
void fm_model_free(fm_model *m);
/* Deep copy of parameters and normalization between models of the same layout. */
void fm_model_copy(fm_model *dst, const fm_model *src);
/* PyTorch's default scheme: every W and b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
void fm_model_init(fm_model *m, fm_rng *r);

/* ---- batched forward/backward over sequences (time-major) ----
 * A batch is T steps of B sequences: obs [T][B][obs_dim] (raw units), target [T][B][out_dim]
 * (raw units), mask [T][B] (1 = step counts in the loss, 0 = padding). MLP heads treat the
 * T*B rows independently; RNN heads run each of the B sequences from h = 0 over T steps. */
typedef struct fm_nn_ws fm_nn_ws; /* activations for one (T, B) batch shape */
fm_status fm_nn_ws_create(const fm_model *m, int T, int B, fm_nn_ws **out, fm_err *err);
void fm_nn_ws_free(fm_nn_ws *ws);

/* Forward pass; act_out [T][B][out_dim] receives actions in raw units (may be NULL). */
void fm_nn_forward(const fm_model *m, fm_nn_ws *ws, const float *obs, int T, int B, float *act_out);
/* BC loss of Eq. 2.4 in normalized action units: returns sum over masked steps of
 * ||(pred - target) / act_std||^2 (double accumulation); *count += masked steps;
 * grad (may be NULL) += d loss / d w, full backpropagation through time. T, B must not
 * exceed the workspace's. With spec.loss FM_NN_LOSS_XENT the sum is instead of the softmax
 * cross-entropy -sum_j target_j log softmax(pred)_j (pred: logits, no normalization). */
double fm_nn_loss_grad(const fm_model *m, fm_nn_ws *ws, const float *obs, const float *target,
                       const float *mask, int T, int B, float *grad, double *count);

/* ---- step-by-step policy for rollouts (batch of one) ---- */
typedef struct fm_nn_runner fm_nn_runner;
fm_status fm_nn_runner_create(const fm_model *m, fm_nn_runner **out, fm_err *err);
void fm_nn_runner_free(fm_nn_runner *r);
void fm_nn_runner_reset(fm_nn_runner *r);   /* h = 0 */
void fm_nn_runner_act(fm_nn_runner *r, const double *obs, double *action);

/* ---- permutations of hidden units (Prop. 3.1, Eq. 3.3) ----
 * perms[g] is a permutation of group g: unit i moves to position perms[g][i] (with its whole
 * block of elements along a blocked axis). NULL entries mean identity. out = P(in) for any
 * buffer with the layout (parameters, gradients). */
void fm_layout_permute(const fm_layout *l, const int *const *perms, const float *in, float *out);

/* ---- normalization ----
 * Set obs/act mean and std from sums gathered over the fleet: sums [2 * (obs_dim + out_dim) + 1]
 * from fm_nn_norm_sums (sum x, sum x^2 per entry, then the step count), summed by the caller
 * through a reducer. Point channels share one mean/std per channel. std is floored at 1e-3. */
void fm_nn_norm_sums(const fm_nn_spec *spec, const fm_demos *d, double *sums);
void fm_nn_norm_set(fm_model *m, const double *sums);

#endif
