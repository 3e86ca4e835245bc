/* nn_internal.h - shared between the nn/ sources only. */
#ifndef FM_NN_INTERNAL_H
#define FM_NN_INTERNAL_H

#include "nn/nn.h"

/* One forward step of a (T = 1, B = 1) workspace carrying the RNN state across calls. */
void fm_nn_step(const fm_model *m, fm_nn_ws *ws, const float *obs, float *act_out);
void fm_nn_ws_reset_state(fm_nn_ws *ws);
/* In-place tanh used by the RNN/MLP layers (vectorizable; absolute error < 3e-7). */
void fm_nn_tanh(size_t n, float *x);

/* ---- the conv front of arch FM_NN_CNN (cnn.c) ----
 * A workspace for up to R images of spec's shape (spec checked by fm_nn_cnn_map). */
typedef struct fm_cnn_ws fm_cnn_ws;
fm_status fm_cnn_ws_create(const fm_nn_spec *spec, int R, fm_cnn_ws **out, fm_err *err);
void fm_cnn_ws_free(fm_cnn_ws *w);
/* Features per image: C H W of the last pooled map (the head's input width). */
int fm_cnn_feat(const fm_cnn_ws *w);
/* x [R][in_dim] normalized images -> the flattened last maps [R][feat] (owned by w, valid until
 * the next forward). R must not exceed the workspace's. */
const float *fm_cnn_forward(const fm_model *m, fm_cnn_ws *w, const float *x, int R);
/* After fm_cnn_forward on the same x: grad += dL/d conv parameters given dfeat = dL/d features
 * [R][feat]. */
void fm_cnn_backward(const fm_model *m, fm_cnn_ws *w, const float *x, int R, const float *dfeat, float *grad);

#endif
