/* match.c - weight matching by coordinate descent over permutation groups. */
#include "merge/match.h"

#include <stdlib.h>
#include <string.h>

#include "align/lap.h"
#include "la/la.h"

/* A with every grouped axis permuted except the axes of group `skip` (out = P(A) without g). */
static void permute_except(const fm_layout *l, const float *A, const int *const *perms, int skip,
                           float *out, const int **tmp)
{
    for (int g = 0; g < l->ngroups; g++)
        tmp[g] = g == skip ? NULL : perms[g];
    fm_layout_permute(l, tmp, A, out);
}

/* M[i][j] += similarity of A's unit i with B's unit j over every tensor axis in group g: the inner
 * product of the two units' slices, a unit's whole block along a blocked axis (the k x k taps of
 * an input channel of a conv weight, the H x W columns of a flattened channel), as Git Re-Basin
 * does for conv channels. Ap is A permuted on every other group; for recurrent tensors (both axes
 * in g) the other axis uses g's current permutation. */
static void group_similarity(const fm_layout *l, int g, const float *Ap, const float *B,
                             const int *pg, double *M, double *ad, double *bd)
{
    int n = l->group_size[g];
    memset(M, 0, sizeof(double) * (size_t)n * n);
    for (int k = 0; k < l->ntensors; k++) {
        const fm_tensor *t = &l->t[k];
        int r = t->shape[0], c = t->shape[1], br = fm_tensor_block(t, 0), bc = fm_tensor_block(t, 1);
        int rows = t->group[0] == g, cols = t->group[1] == g && !rows;
        if (!rows && !cols)
            continue;
        const float *a = Ap + t->offset, *b = B + t->offset;
        int perm_cols = rows && t->group[1] == g; /* recurrent: B's columns in g's current order */
        for (size_t q = 0; q < (size_t)r * c; q++) {
            int col = (int)(q % (size_t)c);
            ad[q] = a[q];
            bd[q] = perm_cols ? b[q - (size_t)col + (size_t)pg[col / bc] * bc + col % bc] : b[q];
        }
        if (rows) /* M += A Bp' over [n x br c] views: <A[i, .], B[j, perm(.)]> */
            la_gemm(0, 1, n, n, br * c, 1.0, ad, bd, 1.0, M);
        else if (bc == 1) /* M += A' B : <A[., i], B[., j]> */
            la_gemm(1, 0, c, c, r, 1.0, ad, bd, 1.0, M); /* c = n */
        else /* M += sum_x A_x B_x' with row x viewed as [n x bc]: <A[., i block], B[., j block]> */
            for (int x = 0; x < r; x++)
                la_gemm(0, 1, n, n, bc, 1.0, ad + (size_t)x * c, bd + (size_t)x * c, 1.0, M);
    }
}

static void save_perms(const fm_layout *l, const int *const *perms, int *flat)
{
    for (int g = 0; g < l->ngroups; g++, flat += l->group_size[g - 1])
        memcpy(flat, perms[g], sizeof(int) * l->group_size[g]);
}

static void load_perms(const fm_layout *l, const int *flat, int *const *perms)
{
    for (int g = 0; g < l->ngroups; g++, flat += l->group_size[g - 1])
        memcpy(perms[g], flat, sizeof(int) * l->group_size[g]);
}

double fm_perm_distance(const fm_layout *l, const float *A, const float *B, const int *const *perms)
{
    float *P = malloc(sizeof(float) * l->total);
    if (!P)
        return -1.0;
    fm_layout_permute(l, perms, A, P);
    double d = 0;
    for (size_t i = 0; i < l->total; i++)
        d += ((double)P[i] - B[i]) * ((double)P[i] - B[i]);
    free(P);
    return d;
}

fm_status fm_weight_match(const fm_layout *l, const float *A, const float *B, fm_rng *r,
                          int max_passes, int *const *perms, int *passes, fm_err *err)
{
    fm_status status = FM_OK;
    float *Ap = NULL;
    double *M = NULL, *ad = NULL, *bd = NULL;
    int *order = NULL, *next = NULL, *best = NULL, maxn = 1, pass = 0;
    size_t nunits = 0;
    const int *tmp[FM_NN_MAX_GROUPS];
    for (int g = 0; g < l->ngroups; g++) {
        maxn = l->group_size[g] > maxn ? l->group_size[g] : maxn;
        nunits += (size_t)l->group_size[g];
    }
    FM_ALLOC(best, nunits ? nunits : 1);
    FM_ALLOC(Ap, l->total);
    FM_ALLOC(ad, l->total);
    FM_ALLOC(bd, l->total);
    FM_ALLOC(M, (size_t)maxn * maxn);
    FM_ALLOC(order, l->ngroups + 1);
    FM_ALLOC(next, maxn);
    /* With recurrent weights (both axes in one group) a group's LAP uses the group's current
     * permutation on the other axis, so passes need not improve monotonically: keep the best. */
    double dbest = fm_perm_distance(l, A, B, (const int *const *)perms);
    save_perms(l, (const int *const *)perms, best);
    for (pass = 0; pass < max_passes; pass++) {
        int changed = 0;
        fm_rng_permutation(r, l->ngroups, order); /* random group order */
        for (int q = 0; q < l->ngroups; q++) {
            int g = order[q], n = l->group_size[g];
            permute_except(l, A, (const int *const *)perms, g, Ap, tmp);
            group_similarity(l, g, Ap, B, perms[g], M, ad, bd);
            FM_TRY(lap_solve(n, M, 1, next, NULL, err));
            changed += memcmp(next, perms[g], sizeof(int) * n) != 0;
            memcpy(perms[g], next, sizeof(int) * n);
        }
        double d = fm_perm_distance(l, A, B, (const int *const *)perms);
        if (d < dbest)
            dbest = d, save_perms(l, (const int *const *)perms, best);
        if (!changed)
            break;
    }
    load_perms(l, best, perms);
    if (passes)
        *passes = pass + (pass < max_passes);
cleanup:
    free(Ap), free(M), free(ad), free(bd), free(order), free(next), free(best);
    return status;
}
