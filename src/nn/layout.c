/* layout.c - parameter layouts of neural policies and hidden-unit permutations. */
#include <stdio.h>
#include <string.h>

#include "nn/conv.h"
#include "nn/nn.h"

int fm_nn_obs_dim(const fm_nn_spec *s) { return s->npoints * s->pc_channels + s->in_dim; }

static fm_status add_tensor(fm_layout *l, const char *name, int rows, int cols, int g0, int g1,
                            fm_err *err)
{
    if (l->ntensors >= FM_NN_MAX_TENSORS)
        return fm_fail(err, FM_EINVAL, "nn: more than %d tensors", FM_NN_MAX_TENSORS);
    fm_tensor *t = &l->t[l->ntensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = cols > 0 ? 2 : 1;
    t->shape[0] = rows;
    t->shape[1] = cols > 0 ? cols : 1;
    t->group[0] = g0;
    t->group[1] = cols > 0 ? g1 : FM_NN_NO_GROUP;
    t->block[0] = t->block[1] = 1;
    t->offset = l->total;
    t->size = (size_t)rows * t->shape[1];
    l->total += t->size;
    return FM_OK;
}

/* The last tensor added gets `block` elements per unit of its column group. */
static void set_col_block(fm_layout *l, int block) { l->t[l->ntensors - 1].block[1] = block; }

static int new_group(fm_layout *l, int size)
{
    l->group_size[l->ngroups] = size;
    return l->ngroups++;
}

static fm_status check_spec(const fm_nn_spec *s, fm_err *err)
{
    fm_status status = FM_OK;
    FM_CHECK(s->arch >= 0 && s->arch < FM_NN_ARCH_COUNT, FM_EINVAL, "nn: unknown arch %d", s->arch);
    FM_CHECK(s->act >= 0 && s->act < FM_NN_ACT_COUNT, FM_EINVAL, "nn: unknown activation %d", s->act);
    FM_CHECK(s->out_dim > 0 && s->in_dim >= 0, FM_EINVAL, "nn: bad in/out dims %d/%d", s->in_dim, s->out_dim);
    FM_CHECK(s->loss >= 0 && s->loss < FM_NN_LOSS_COUNT && (s->loss != FM_NN_LOSS_XENT || s->out_dim >= 2), FM_EINVAL,
             "nn: loss %d with %d outputs (cross-entropy needs at least 2 classes)", s->loss, s->out_dim);
    FM_CHECK(s->nhidden >= 1 && s->nhidden <= FM_NN_MAX_LAYERS - 1, FM_EINVAL,
             "nn: nhidden: hidden layers must be 1..%d, got %d", FM_NN_MAX_LAYERS - 1, s->nhidden);
    for (int i = 0; i < s->nhidden; i++)
        FM_CHECK(s->hidden[i] > 0, FM_EINVAL, "nn: hidden[%d] = %d", i, s->hidden[i]);
    FM_CHECK(s->npoints >= 0, FM_EINVAL, "nn: npoints %d", s->npoints);
    if (s->npoints > 0) {
        FM_CHECK(s->pc_channels > 0 && s->enc_nlayers >= 1 && s->enc_nlayers <= FM_NN_MAX_LAYERS,
                 FM_EINVAL, "nn: encoder needs channels > 0 and 1..%d layers", FM_NN_MAX_LAYERS);
        for (int i = 0; i < s->enc_nlayers; i++)
            FM_CHECK(s->enc_hidden[i] > 0, FM_EINVAL, "nn: enc_hidden[%d] = %d", i, s->enc_hidden[i]);
    }
    FM_CHECK(s->in_dim > 0 || s->npoints > 0, FM_EINVAL, "nn: in_dim and npoints: the policy has no input");
    if (s->arch == FM_NN_CNN)
        FM_TRY(fm_nn_cnn_map(s, NULL, NULL, NULL, err));
cleanup:
    return status;
}

fm_status fm_nn_cnn_map(const fm_nn_spec *s, int *C, int *H, int *W, fm_err *err)
{
    fm_status status = FM_OK;
    FM_CHECK(s->npoints == 0, FM_EINVAL, "nn: cnn: a point-cloud encoder (npoints %d) is not supported", s->npoints);
    FM_CHECK(s->nconv >= 1 && s->nconv <= FM_NN_MAX_LAYERS, FM_EINVAL, "nn: cnn: conv layers must be 1..%d, got %d",
             FM_NN_MAX_LAYERS, s->nconv);
    FM_CHECK(s->conv_k >= 1 && s->conv_k % 2 == 1, FM_EINVAL,
             "nn: cnn: conv_k: got %d, expected an odd kernel size >= 1 ('same' padding k / 2)", s->conv_k);
    FM_CHECK(s->img_c >= 1 && s->img_h >= 1 && s->img_w >= 1 &&
             (long long)s->img_c * s->img_h * s->img_w == s->in_dim, FM_EINVAL,
             "nn: cnn: image %d x %d x %d does not match in_dim %d", s->img_c, s->img_h, s->img_w, s->in_dim);
    int c = s->img_c, h = s->img_h, w = s->img_w;
    for (int j = 0; j < s->nconv; j++) {
        fm_conv_shape cs = {c, h, w, s->conv_channels[j], s->conv_k, 1, s->conv_k / 2};
        FM_CHECK(cs.out_c >= 1, FM_EINVAL, "nn: cnn: conv_channels[%d] = %d", j, cs.out_c);
        FM_TRY(fm_conv_check(&cs, &h, &w, err));
        FM_CHECK(h >= 2 && w >= 2, FM_EINVAL, "nn: cnn: conv layer %d's map is %d x %d, too small for 2x2 pooling",
                 j, h, w);
        c = cs.out_c, h /= 2, w /= 2;
    }
    if (C)
        *C = c;
    if (H)
        *H = h;
    if (W)
        *W = w;
cleanup:
    return status;
}

/* conv{j}.w [c_j x c_{j-1} k k] (column block k k: the taps of one input channel) and conv{j}.b,
 * one group per layer; gives the head's input: the last group, C H W columns, block H W. */
static fm_status add_conv_stack(const fm_nn_spec *s, fm_layout *l, int *gprev, int *prev, int *block,
                                fm_err *err)
{
    fm_status status = FM_OK;
    char name[32];
    int C, H, W, kk = s->conv_k * s->conv_k, gp = FM_NN_NO_GROUP, p = s->img_c;
    FM_TRY(fm_nn_cnn_map(s, &C, &H, &W, err));
    for (int j = 0; j < s->nconv; j++) {
        int g = new_group(l, s->conv_channels[j]);
        snprintf(name, sizeof name, "conv%d.w", j);
        FM_TRY(add_tensor(l, name, s->conv_channels[j], p * kk, g, gp, err));
        if (gp != FM_NN_NO_GROUP) /* the image's channels are not permuted: no block */
            set_col_block(l, kk);
        snprintf(name, sizeof name, "conv%d.b", j);
        FM_TRY(add_tensor(l, name, s->conv_channels[j], 0, g, FM_NN_NO_GROUP, err));
        gp = g, p = s->conv_channels[j];
    }
    *gprev = gp, *prev = C * H * W, *block = H * W;
cleanup:
    return status;
}

/* Encoder: enc{j}.w [e_j x e_{j-1}], enc{j}.b; conv stack (cnn): conv{j}.w, conv{j}.b; head:
 * head0.wpc (pooled feature columns), head0.w (flat observation or conv feature columns),
 * head{i}.b, head{i}.rec (RNN), last layer = readout. */
fm_status fm_nn_layout(const fm_nn_spec *s, fm_layout *l, fm_err *err)
{
    fm_status status = FM_OK;
    char name[32];
    *l = (fm_layout){0};
    FM_TRY(check_spec(s, err));
    int gprev = FM_NN_NO_GROUP, prev = s->pc_channels;
    for (int j = 0; s->npoints > 0 && j < s->enc_nlayers; j++) {
        int g = new_group(l, s->enc_hidden[j]);
        snprintf(name, sizeof name, "enc%d.w", j);
        FM_TRY(add_tensor(l, name, s->enc_hidden[j], prev, g, gprev, err));
        snprintf(name, sizeof name, "enc%d.b", j);
        FM_TRY(add_tensor(l, name, s->enc_hidden[j], 0, g, FM_NN_NO_GROUP, err));
        gprev = g, prev = s->enc_hidden[j];
    }
    int gpc = gprev, npc = s->npoints > 0 ? prev : 0;
    gprev = FM_NN_NO_GROUP, prev = s->in_dim;
    int block0 = 1; /* columns per unit of head0.w's column group (H W after a conv stack) */
    if (s->arch == FM_NN_CNN)
        FM_TRY(add_conv_stack(s, l, &gprev, &prev, &block0, err));
    for (int i = 0; i <= s->nhidden; i++) {
        int last = i == s->nhidden, rows = last ? s->out_dim : s->hidden[i];
        int g = last ? FM_NN_NO_GROUP : new_group(l, rows);
        if (i == 0 && npc > 0)
            FM_TRY(add_tensor(l, "head0.wpc", rows, npc, g, gpc, err));
        if (prev > 0) {
            snprintf(name, sizeof name, "head%d.w", i);
            FM_TRY(add_tensor(l, name, rows, prev, g, gprev, err));
            if (i == 0)
                set_col_block(l, block0);
        }
        snprintf(name, sizeof name, "head%d.b", i);
        FM_TRY(add_tensor(l, name, rows, 0, g, FM_NN_NO_GROUP, err));
        if (!last && s->arch == FM_NN_RNN) {
            snprintf(name, sizeof name, "head%d.rec", i);
            FM_TRY(add_tensor(l, name, rows, rows, g, g, err));
        }
        gprev = g, prev = rows;
    }
cleanup:
    return status;
}

const fm_tensor *fm_layout_find(const fm_layout *l, const char *name)
{
    for (int i = 0; i < l->ntensors; i++)
        if (strcmp(l->t[i].name, name) == 0)
            return &l->t[i];
    return NULL;
}

int fm_layout_describe(const fm_layout *l, char *buf, int cap)
{
    int n = 0;
    for (int i = 0; i < l->ntensors; i++) {
        const fm_tensor *t = &l->t[i];
        int b0 = fm_tensor_block(t, 0), b1 = fm_tensor_block(t, 1);
        char blocks[48] = ""; /* only when not 1: block-1 layouts read as before blocks existed */
        if (b0 != 1 || b1 != 1)
            snprintf(blocks, sizeof blocks, " blocks (%d, %d)", b0, b1);
        int w = snprintf(buf ? buf + n : NULL, buf && n < cap ? (size_t)(cap - n) : 0,
                         "%s [%d x %d] groups (%d, %d)%s\n", t->name, t->shape[0], t->shape[1],
                         t->group[0], t->group[1], blocks);
        n += w;
    }
    if (l->ntensors == 0 && buf && cap > 0)
        buf[0] = '\0';
    return n;
}

/* out[P0 r][P1 c] = in[r][c] where Pk maps unit u of axis k's group to perms[g][u], moving the
 * unit's block of elements along: index u b + p goes to perms[g][u] b + p. */
void fm_layout_permute(const fm_layout *l, const int *const *perms, const float *in, float *out)
{
    for (int i = 0; i < l->ntensors; i++) {
        const fm_tensor *t = &l->t[i];
        const int *pr = t->group[0] >= 0 ? perms[t->group[0]] : NULL;
        const int *pc = t->group[1] >= 0 ? perms[t->group[1]] : NULL;
        const float *src = in + t->offset;
        float *dst = out + t->offset;
        int rows = t->shape[0], cols = t->shape[1], b0 = fm_tensor_block(t, 0), b1 = fm_tensor_block(t, 1);
        for (int r = 0; r < rows; r++) {
            int rr = pr ? pr[r / b0] * b0 + r % b0 : r;
            const float *s = src + (size_t)r * cols;
            float *d = dst + (size_t)rr * cols;
            if (!pc) {
                memcpy(d, s, sizeof(float) * (size_t)cols);
            } else if (b1 == 1) {
                for (int c = 0; c < cols; c++)
                    d[pc[c]] = s[c];
            } else {
                for (int u = 0; u < cols / b1; u++)
                    memcpy(d + (size_t)pc[u] * b1, s + (size_t)u * b1, sizeof(float) * (size_t)b1);
            }
        }
    }
}
