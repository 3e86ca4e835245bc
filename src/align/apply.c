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
 * double, at a relative rounding of ~1e-7 (0/1 matrices still act exactly). */
static void left(int r, int c, const float *P, const float *X, float *Y)
{
    if (P)
        la_sgemm(0, 0, r, c, r, 1.0f, P, X, 0.0f, Y);
    else
        memcpy(Y, X, sizeof(float) * (size_t)r * c);
}

static void right_t(int r, int c, const float *X, const float *P, float *Y)
{
    if (P)
        la_sgemm(0, 1, r, c, c, 1.0f, X, P, 0.0f, Y);
    else
        memcpy(Y, X, sizeof(float) * (size_t)r * c);
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
        left(r, c, group_matrix(&w, t->group[0]), in + t->offset, w.A);
        right_t(r, c, w.A, group_matrix(&w, t->group[1]), out + t->offset);
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

fm_status fm_apply_soft_grad(const fm_layout *l, const double *const *P, const float *in,
                             const float *G, double *const *dP, fm_err *err)
{
    fm_status status = FM_OK;
    tensor_ws w;
    FM_TRY(ws_create(l, P, &w, err));
    for (int i = 0; i < l->ntensors; i++) {
        const fm_tensor *t = &l->t[i];
        int r = t->shape[0], c = t->shape[1], gr = t->group[0], gc = t->group[1];
        if (!((gr >= 0 && dP[gr]) || (gc >= 0 && dP[gc])))
            continue;
        const float *W = in + t->offset, *Gt = G + t->offset;
        if (gr >= 0 && dP[gr]) { /* dP_r += G (W P_c^T)^T */
            right_t(r, c, W, group_matrix(&w, gc), w.A);
            la_sgemm(0, 1, r, r, c, 1.0f, Gt, w.A, 0.0f, w.T);
            add_to((size_t)r * r, w.T, dP[gr]);
        }
        if (gc >= 0 && dP[gc]) { /* dP_c += G^T (P_r W) */
            left(r, c, group_matrix(&w, gr), W, w.A);
            la_sgemm(1, 0, c, c, r, 1.0f, Gt, w.A, 0.0f, w.T);
            add_to((size_t)c * c, w.T, dP[gc]);
        }
    }
cleanup:
    ws_free(&w);
    return status;
}
