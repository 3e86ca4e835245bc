/* cnn.c - the convolutional front of arch FM_NN_CNN (nn.h): conv layers ('same' zero padding,
 * stride 1) with ReLU and 2x2 max pooling on the normalized image observation, whose flattened
 * last map [C][H][W] is the input of the MLP head (forward.c). Layer j reads the pooled map of
 * layer j - 1 (the image for j = 0):
 *   Z_j = ReLU(conv(P_{j-1}; conv{j}.w, conv{j}.b))   [R][c_j][h_j][w_j]
 *   P_j = maxpool2x2(Z_j)                              [R][c_j][h_j / 2][w_j / 2]
 * conv{j}.w [c_j x c_{j-1} k k] followed by conv{j}.b [c_j] is exactly conv.h's parameter block,
 * so the layer calls take the layout's pointers as they are. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/conv.h"
#include "nn/nn_internal.h"

struct fm_cnn_ws {
    int R, L;                         /* capacity (images), conv layers */
    fm_conv_shape cs[FM_NN_MAX_LAYERS];
    int oh[FM_NN_MAX_LAYERS], ow[FM_NN_MAX_LAYERS]; /* conv output map (before pooling) */
    float *z[FM_NN_MAX_LAYERS];       /* [R][c_j][oh_j][ow_j] after ReLU */
    float *p[FM_NN_MAX_LAYERS];       /* [R][c_j][oh_j / 2][ow_j / 2] pooled */
    int *arg[FM_NN_MAX_LAYERS];       /* pooling winners, as p */
    float *dz, *dp[2];                /* scratch: largest z, two of the largest p */
    float *col;                       /* conv workspace (im2col of one image) */
    size_t ncol;
    int feat;                         /* C H W of the last pooled map */
};

static size_t zsize(const fm_cnn_ws *w, int j) { return (size_t)w->cs[j].out_c * w->oh[j] * w->ow[j]; }
static size_t psize(const fm_cnn_ws *w, int j)
{
    return (size_t)w->cs[j].out_c * (w->oh[j] / 2) * (w->ow[j] / 2);
}

fm_status fm_cnn_ws_create(const fm_nn_spec *s, int R, fm_cnn_ws **out, fm_err *err)
{
    fm_status status = FM_OK;
    fm_cnn_ws *w = NULL;
    FM_CHECK(s->arch == FM_NN_CNN && R > 0, FM_EINVAL, "nn: cnn workspace for arch %d, %d rows", s->arch, R);
    FM_TRY(fm_nn_cnn_map(s, NULL, NULL, NULL, err));
    FM_ALLOC(w, 1);
    w->R = R, w->L = s->nconv;
    int c = s->img_c, h = s->img_h, wd = s->img_w;
    size_t zmax = 1, pmax = 1;
    for (int j = 0; j < w->L; j++) {
        w->cs[j] = (fm_conv_shape){c, h, wd, s->conv_channels[j], s->conv_k, 1, s->conv_k / 2};
        FM_TRY(fm_conv_check(&w->cs[j], &w->oh[j], &w->ow[j], err));
        size_t nc = fm_conv_ws_floats(&w->cs[j]);
        w->ncol = nc > w->ncol ? nc : w->ncol;
        zmax = zsize(w, j) > zmax ? zsize(w, j) : zmax;
        pmax = psize(w, j) > pmax ? psize(w, j) : pmax;
        FM_ALLOC(w->z[j], (size_t)R * zsize(w, j));
        FM_ALLOC(w->p[j], (size_t)R * psize(w, j));
        FM_ALLOC(w->arg[j], (size_t)R * psize(w, j));
        c = s->conv_channels[j], h = w->oh[j] / 2, wd = w->ow[j] / 2;
    }
    w->feat = (int)psize(w, w->L - 1);
    FM_ALLOC(w->dz, (size_t)R * zmax);
    FM_ALLOC(w->dp[0], (size_t)R * pmax);
    FM_ALLOC(w->dp[1], (size_t)R * pmax);
    FM_ALLOC(w->col, w->ncol);
    *out = w;
    w = NULL;
cleanup:
    fm_cnn_ws_free(w);
    return status;
}

void fm_cnn_ws_free(fm_cnn_ws *w)
{
    if (!w)
        return;
    for (int j = 0; j < FM_NN_MAX_LAYERS; j++)
        free(w->z[j]), free(w->p[j]), free(w->arg[j]);
    free(w->dz), free(w->dp[0]), free(w->dp[1]), free(w->col), free(w);
}

int fm_cnn_feat(const fm_cnn_ws *w) { return w->feat; }

/* The parameter block (weight, then bias) of conv layer j in buffer base (parameters or gradient). */
static float *block(const fm_model *m, float *base, int j)
{
    char name[32];
    snprintf(name, sizeof name, "conv%d.w", j);
    const fm_tensor *t = fm_layout_find(&m->layout, name);
    assert(t && t[1].offset == t->offset + t->size); /* conv{j}.b follows conv{j}.w */
    return base + t->offset;
}

const float *fm_cnn_forward(const fm_model *m, fm_cnn_ws *w, const float *x, int R)
{
    fm_status st = FM_OK;
    const float *in = x;
    assert(R <= w->R);
    for (int j = 0; j < w->L && st == FM_OK; j++) {
        const fm_conv_shape *cs = &w->cs[j];
        st = fm_conv_forward(w->z[j], in, block(m, m->w, j), cs, R, w->col, w->ncol, NULL);
        fm_conv_relu_forward(w->z[j], w->z[j], (size_t)R * zsize(w, j));
        if (st == FM_OK)
            st = fm_conv_pool_forward(w->p[j], w->arg[j], w->z[j], R, cs->out_c, w->oh[j], w->ow[j], NULL);
        in = w->p[j];
    }
    assert(st == FM_OK); /* shapes and buffers were checked when the workspace was made */
    (void)st;
    return w->p[w->L - 1];
}

/* Layer by layer from the last: dL/d P_j -> (pool) dL/d Z_j -> (ReLU) -> conv gradients and
 * dL/d P_{j-1} (into the workspace's two pooled buffers in turn). */
void fm_cnn_backward(const fm_model *m, fm_cnn_ws *w, const float *x, int R, const float *dfeat, float *grad)
{
    fm_status st = FM_OK;
    const float *dcur = dfeat;
    for (int j = w->L - 1; j >= 0 && st == FM_OK; j--) {
        const fm_conv_shape *cs = &w->cs[j];
        size_t nz = (size_t)R * zsize(w, j);
        st = fm_conv_pool_backward(w->dz, dcur, w->arg[j], R, cs->out_c, w->oh[j], w->ow[j], NULL);
        fm_conv_relu_backward(w->dz, w->dz, w->z[j], nz);
        if (st == FM_OK)
            st = fm_conv_backward(block(m, grad, j), j > 0 ? w->dp[j % 2] : NULL, w->dz,
                                  j > 0 ? w->p[j - 1] : x, block(m, m->w, j), cs, R, w->col, w->ncol, NULL);
        dcur = w->dp[j % 2];
    }
    assert(st == FM_OK);
    (void)st;
}
