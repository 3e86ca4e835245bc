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

/* C[r x c] = op(P_r) X op(P_c)^T-ish helpers in double: X = W (r x c). */
static void left(int r, int c, const double *P, const double *X, double *Y)
{
    if (P)
        la_gemm(0, 0, r, c, r, 1.0, P, X, 0.0, Y);
    else
        memcpy(Y, X, sizeof(double) * (size_t)r * c);
}

static void right_t(int r, int c, const double *X, const double *P, double *Y)
{
    if (P)
        la_gemm(0, 1, r, c, c, 1.0, X, P, 0.0, Y);
    else
        memcpy(Y, X, sizeof(double) * (size_t)r * c);
}

typedef struct tensor_ws {
    double *W, *A, *B;
} tensor_ws;

static fm_status ws_create(const fm_layout *l, tensor_ws *w, fm_err *err)
{
    fm_status status = FM_OK;
    size_t n = max_tensor(l);
    *w = (tensor_ws){0};
    FM_ALLOC(w->W, n);
    FM_ALLOC(w->A, n);
    FM_ALLOC(w->B, n);
cleanup:
    return status;
}

static void ws_free(tensor_ws *w) { free(w->W), free(w->A), free(w->B); }

static const double *group_matrix(const double *const *P, int g) { return g >= 0 ? P[g] : NULL; }

fm_status fm_apply_soft(const fm_layout *l, const double *const *P, const float *in, float *out,
                        fm_err *err)
{
    fm_status status = FM_OK;
    tensor_ws w;
    FM_TRY(ws_create(l, &w, err));
    for (int i = 0; i < l->ntensors; i++) {
        const fm_tensor *t = &l->t[i];
        int r = t->shape[0], c = t->shape[1];
        for (size_t j = 0; j < t->size; j++)
            w.W[j] = in[t->offset + j];
        left(r, c, group_matrix(P, t->group[0]), w.W, w.A);
        right_t(r, c, w.A, group_matrix(P, t->group[1]), w.B);
        for (size_t j = 0; j < t->size; j++)
            out[t->offset + j] = (float)w.B[j];
    }
cleanup:
    ws_free(&w);
    return status;
}

fm_status fm_apply_soft_grad(const fm_layout *l, const double *const *P, const float *in,
                             const float *G, double *const *dP, fm_err *err)
{
    fm_status status = FM_OK;
    tensor_ws w;
    double *Gd = NULL;
    FM_TRY(ws_create(l, &w, err));
    FM_ALLOC(Gd, max_tensor(l));
    for (int i = 0; i < l->ntensors; i++) {
        const fm_tensor *t = &l->t[i];
        int r = t->shape[0], c = t->shape[1], gr = t->group[0], gc = t->group[1];
        if (!((gr >= 0 && dP[gr]) || (gc >= 0 && dP[gc])))
            continue;
        for (size_t j = 0; j < t->size; j++)
            w.W[j] = in[t->offset + j], Gd[j] = G[t->offset + j];
        const double *Pr = group_matrix(P, gr), *Pc = group_matrix(P, gc);
        if (gr >= 0 && dP[gr]) { /* dP_r += G (W P_c^T)^T */
            right_t(r, c, w.W, Pc, w.A);
            la_gemm(0, 1, r, r, c, 1.0, Gd, w.A, 1.0, dP[gr]);
        }
        if (gc >= 0 && dP[gc]) { /* dP_c += G^T (P_r W) */
            left(r, c, Pr, w.W, w.A);
            la_gemm(1, 0, c, c, r, 1.0, Gd, w.A, 1.0, dP[gc]);
        }
    }
cleanup:
    ws_free(&w);
    free(Gd);
    return status;
}
