/* nn_internal.h - shared between the nn/ sources only. */
#ifndef FM_NN_INTERNAL_H
#define FM_NN_INTERNAL_H

#include "nn/nn.h"

/* One forward step of a (T = 1, B = 1) workspace carrying the RNN state across calls. */
void fm_nn_step(const fm_model *m, fm_nn_ws *ws, const float *obs, float *act_out);
void fm_nn_ws_reset_state(fm_nn_ws *ws);
/* In-place tanh used by the RNN/MLP layers (vectorizable; absolute error < 3e-7). */
void fm_nn_tanh(size_t n, float *x);

#endif
