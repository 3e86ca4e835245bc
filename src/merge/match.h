/* match.h - weight matching (Git Re-Basin, Ainsworth et al. 2022) for neural policies:
 * permutations of model A's hidden units that bring it closest to a target B, by coordinate
 * descent over the layout's permutation groups with one linear assignment problem per group. */
#ifndef FM_MATCH_H
#define FM_MATCH_H

#include "core/core.h"
#include "nn/nn.h"

/* perms[g] (l->group_size[g] ints each, caller-allocated; used as the starting point) are
 * updated to maximize sum over tensors <B, P(A)> (equivalently minimize ||P(A) - B||^2):
 * groups are visited in an order drawn from r, each solved exactly given the others
 * (recurrent weights use the group's current permutation on their other axis), until a full
 * pass changes nothing or max_passes passes ran. *passes (may be NULL) receives the count. */
fm_status fm_weight_match(const fm_layout *l, const float *A, const float *B, fm_rng *r,
                          int max_passes, int *const *perms, int *passes, fm_err *err);
/* sum over tensors of ||P(A) - B||^2 for hard perms (NULL entries: identity). */
double fm_perm_distance(const fm_layout *l, const float *A, const float *B, const int *const *perms);

#endif
