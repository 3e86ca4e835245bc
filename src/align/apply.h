/* apply.h - permutations of hidden units applied to a model buffer by walking its layout,
 * hard or soft, and the gradient of a loss with respect to soft permutations through this action.
 *
 * Convention (the same as fm_layout_permute): P is a row-major n_g x n_g matrix per group g
 * acting as out = P in on that group's axis, so a hard permutation perm (unit i moves to
 * position perm[i]) is P[perm[i]][i] = 1. Every tensor transforms as W' = P_r W P_c^T, with P_r
 * (P_c) the matrix of the group of its rows (columns), identity for ungrouped axes: W_ff ->
 * P_l W_ff P_{l-1}^T, W_rec -> P W_rec P^T, b -> P b (Eq. 3.3). Soft P are doubly stochastic
 * (Sinkhorn, Eq. 3.2); the map is linear in each P. Along an axis with a block b (nn.h: a conv
 * weight's k k taps per input channel, a dense layer's H W columns per flattened channel) the
 * matrix acting is P (x) I_b: every unit moves (or mixes) with its whole block. */
#ifndef FM_APPLY_H
#define FM_APPLY_H

#include "core/core.h"
#include "nn/nn.h"

/* out = P(in) for soft (or hard, as 0/1 matrices) permutations. P[g] == NULL: identity.
 * in and out are layout buffers (l->total floats) and must not overlap. */
fm_status fm_apply_soft(const fm_layout *l, const double *const *P, const float *in, float *out,
                        fm_err *err);
/* Given G = dL/d out (layout buffer), accumulate (+=) dL/dP[g] (n_g x n_g, row-major) for every
 * group with dP[g] != NULL: for W' = P_r W P_c^T, dL/dP_r += G P_c W^T and dL/dP_c += G^T P_r W. */
fm_status fm_apply_soft_grad(const fm_layout *l, const double *const *P, const float *in,
                             const float *G, double *const *dP, fm_err *err);
/* The 0/1 matrix of a hard permutation: P[perm[i]][i] = 1 (n x n, row-major). */
void fm_perm_matrix(int n, const int *perm, double *P);
/* Hard projection of a soft P (Proj_hard of Eq. 3.2): the permutation maximizing
 * sum_i P[perm[i]][i], by linear assignment. */
fm_status fm_perm_project(int n, const double *P, int *perm, fm_err *err);

#endif
