/* apply.c - hard and soft permutations of a model's hidden units, and their gradient. */
#include "align/apply.h"

#include <stdlib.h>
#include <string.h>

#include "align/lap.h"
#include "la/la.h"

void fm_perm_matrix(int n, const int *perm, double *P)
{
    memset(P, 0, sizeof(double) * (size_t)n * n);
    for (int i = 0; i < n; i++)
        P[(size_t)perm[i] * n + i] = 1.0;
}

fm_status fm_perm_project(int n, const double *P, int *perm, fm_err *err)
{
    fm_status status = FM_OK;
    double *M = NULL;
    FM_ALLOC(M, (size_t)n * n);
    for (int i = 0; i < n; i++) /* row i = unit i, column j = its destination */
        for (int j = 0; j < n; j++)
            M[(size_t)i * n + j] = P[(size_t)j * n + i];
    FM_TRY(lap_solve(n, M, 1, perm, NULL, err));
cleanup:
    free(M);
    return status;
}

static size_t max_tensor(const fm_layout *l)
{
    size_t m = 1;
    for (int i = 0; i < l->ntensors; i++)
        m = l->t[i].size > m ? l->t[i].size : m;
    return m;
}

/* Y = P X and Y = X P^T in float32 (X = W, r x c); a NULL P is the identity. The soft permutation
 * of a 512-unit layer is O(n^3) per step of the soft update: float32 GEMMs halve its cost against
 * double, at a relative rounding of ~1e-7 (0/1 matrices still act exactly).
 * With a block b along the permuted axis, P acts as the Kronecker product P (x) I_b: rows in
 * blocks of b are a contiguous [n x b c] matrix (one GEMM), columns in blocks of b make every row
 * an [n x b] matrix that P multiplies from the left. */
static void left(int r, int c, int b, const float *P, const float *X, float *Y)
{
    if (P)
        la_sgemm(0, 0, r / b, b * c, r / b, 1.0f, P, X, 0.0f, Y);
    else
        memcpy(Y, X, sizeof(float) * (size_t)r * c);
}

static void right_t(int r, int c, int b, const float *X, const float *P, float *Y)
{
    if (!P)
        memcpy(Y, X, sizeof(float) * (size_t)r * c);
    else if (b == 1)
        la_sgemm(0, 1, r, c, c, 1.0f, X, P, 0.0f, Y);
    else
        for (int x = 0; x < r; x++)
            la_sgemm(0, 0, c / b, b, c / b, 1.0f, P, X + (size_t)x * c, 0.0f, Y + (size_t)x * c);
}

/* Scratch: two tensors, a square group-sized product, and float32 copies of the group matrices. */
typedef struct tensor_ws {
    float *A, *B, *T;
    float *buf, *Pf[FM_NN_MAX_GROUPS];
} tensor_ws;

static fm_status ws_create(const fm_layout *l, const double *const *P, tensor_ws *w, fm_err *err)
{
    fm_status status = FM_OK;
    size_t n = max_tensor(l), sq = 1, all = 0;
    *w = (tensor_ws){0};
    for (int g = 0; g < l->ngroups; g++) {
        size_t q = (size_t)l->group_size[g] * l->group_size[g];
        sq = q > sq ? q : sq;
        all += P[g] ? q : 0;
    }
    FM_ALLOC(w->A, n);
    FM_ALLOC(w->B, n);
    FM_ALLOC(w->T, sq);
    FM_ALLOC(w->buf, all ? all : 1);
    float *q = w->buf;
    for (int g = 0; g < l->ngroups; g++) {
        if (!P[g])
            continue;
        size_t m = (size_t)l->group_size[g] * l->group_size[g];
        for (size_t j = 0; j < m; j++)
            q[j] = (float)P[g][j];
        w->Pf[g] = q;
        q += m;
    }
cleanup:
    return status;
}

static void ws_free(tensor_ws *w) { free(w->A), free(w->B), free(w->T), free(w->buf); }

static const float *group_matrix(const tensor_ws *w, int g) { return g >= 0 ? w->Pf[g] : NULL; }

fm_status fm_apply_soft(const fm_layout *l, const double *const *P, const float *in, float *out,
                        fm_err *err)
{
    fm_status status = FM_OK;
    tensor_ws w;
    FM_TRY(ws_create(l, P, &w, err));
    for (int i = 0; i < l->ntensors; i++) {
        const fm_tensor *t = &l->t[i];
        int r = t->shape[0], c = t->shape[1];
        left(r, c, fm_tensor_block(t, 0), group_matrix(&w, t->group[0]), in + t->offset, w.A);
        right_t(r, c, fm_tensor_block(t, 1), w.A, group_matrix(&w, t->group[1]), out + t->offset);
    }
cleanup:
    ws_free(&w);
    return status;
}

/* dst (n x n, double) += src (float). */
static void add_to(size_t nn, const float *src, double *dst)
{
    for (size_t j = 0; j < nn; j++)
        dst[j] += src[j];
}

/* T (n x n) = sum over the r rows x of G_x A_x^T, G_x and A_x row x of G and A viewed as
 * [n x b] (the column units of a blocked axis and their b elements): dP_c of a blocked column
 * axis, G^T A when b = 1. */
static void col_block_product(int r, int c, int b, const float *G, const float *A, float *T)
{
    int n = c / b;
    if (b == 1) {
        la_sgemm(1, 0, c, c, r, 1.0f, G, A, 0.0f, T);
        return;
    }
    memset(T, 0, sizeof(float) * (size_t)n * n);
    for (int x = 0; x < r; x++)
        la_sgemm(0, 1, n, n, b, 1.0f, G + (size_t)x * c, A + (size_t)x * c, 1.0f, T);
}

fm_status fm_apply_soft_grad(const fm_layout *l, const double *const *P, const float *in,
                             const float *G, double *const *dP, fm_err *err)
{
    fm_status status = FM_OK;
    tensor_ws w;
    FM_TRY(ws_create(l, P, &w, err));
    for (int i = 0; i < l->ntensors; i++) {
        const fm_tensor *t = &l->t[i];
        int r = t->shape[0], c = t->shape[1], gr = t->group[0], gc = t->group[1];
        int br = fm_tensor_block(t, 0), bc = fm_tensor_block(t, 1);
        if (!((gr >= 0 && dP[gr]) || (gc >= 0 && dP[gc])))
            continue;
        const float *W = in + t->offset, *Gt = G + t->offset;
        if (gr >= 0 && dP[gr]) { /* dP_r += G (W P_c^T)^T, both viewed as [n_r x br c] */
            int n = r / br;
            right_t(r, c, bc, W, group_matrix(&w, gc), w.A);
            la_sgemm(0, 1, n, n, br * c, 1.0f, Gt, w.A, 0.0f, w.T);
            add_to((size_t)n * n, w.T, dP[gr]);
        }
        if (gc >= 0 && dP[gc]) { /* dP_c += G^T (P_r W), summed over each unit's block */
            int n = c / bc;
            left(r, c, br, group_matrix(&w, gr), W, w.A);
            col_block_product(r, c, bc, Gt, w.A, w.T);
            add_to((size_t)n * n, w.T, dP[gc]);
        }
    }
cleanup:
    ws_free(&w);
    return status;
}
