/* test_apply.c - permutations applied through the layout: hard 0/1 matrices equal
 * fm_layout_permute, soft permutations keep Prop. 3.1's structure, and the gradient with
 * respect to soft permutations matches central finite differences. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "align/apply.h"
#include "tap.h"

static fm_nn_spec rnn_enc_spec(void)
{
    return (fm_nn_spec){.arch = FM_NN_RNN, .act = FM_NN_TANH, .in_dim = 3, .out_dim = 2, .nhidden = 2,
                        .hidden = {5, 4}, .npoints = 6, .pc_channels = 4, .enc_nlayers = 2,
                        .enc_hidden = {3, 4}};
}

static void rand_perm(fm_rng *r, int n, int *p)
{
    for (int i = 0; i < n; i++)
        p[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)fm_rng_below(r, (uint64_t)i + 1), t = p[i];
        p[i] = p[j], p[j] = t;
    }
}

/* Random doubly-stochastic matrix: a mixture of permutation matrices (Birkhoff). */
static void rand_soft(fm_rng *r, int n, double *P)
{
    int perm[64];
    double *Q = calloc((size_t)n * n, sizeof *Q), tot = 0;
    memset(P, 0, sizeof(double) * n * n);
    for (int k = 0; k < 4; k++) {
        double w = 0.2 + fm_rng_uniform(r);
        rand_perm(r, n, perm);
        fm_perm_matrix(n, perm, Q);
        for (int i = 0; i < n * n; i++)
            P[i] += w * Q[i];
        tot += w;
    }
    for (int i = 0; i < n * n; i++)
        P[i] /= tot;
    free(Q);
}

static void test_hard_equals_layout(void)
{
    fm_nn_spec s = rnn_enc_spec();
    fm_model m;
    fm_model_create(&m, &s, NULL);
    fm_rng r;
    fm_rng_seed(&r, 1, 0, 0);
    fm_model_init(&m, &r);
    const fm_layout *l = &m.layout;
    int perms[FM_NN_MAX_GROUPS][64];
    const int *pp[FM_NN_MAX_GROUPS];
    double *P[FM_NN_MAX_GROUPS];
    for (int g = 0; g < l->ngroups; g++) {
        rand_perm(&r, l->group_size[g], perms[g]);
        pp[g] = perms[g];
        P[g] = calloc((size_t)l->group_size[g] * l->group_size[g], sizeof(double));
        fm_perm_matrix(l->group_size[g], perms[g], P[g]);
    }
    float *a = calloc(l->total, 4), *b = calloc(l->total, 4);
    fm_layout_permute(l, pp, m.w, a);
    fm_apply_soft(l, (const double *const *)P, m.w, b, NULL);
    ok(memcmp(a, b, sizeof(float) * l->total) == 0, "0/1 matrices act exactly like fm_layout_permute");
    int back[64], same = 1;
    for (int g = 0; g < l->ngroups; g++) {
        fm_perm_project(l->group_size[g], P[g], back, NULL);
        same &= memcmp(back, perms[g], sizeof(int) * l->group_size[g]) == 0;
    }
    ok(same, "projecting a hard permutation matrix returns the permutation");
    for (int g = 0; g < l->ngroups; g++)
        free(P[g]);
    free(a), free(b);
    fm_model_free(&m);
}

/* L(P) = <C, P(theta)> for a random C: dL/dP by fm_apply_soft_grad vs central differences. */
static void test_soft_gradient(void)
{
    fm_nn_spec s = rnn_enc_spec();
    fm_model m;
    fm_model_create(&m, &s, NULL);
    fm_rng r;
    fm_rng_seed(&r, 2, 0, 0);
    fm_model_init(&m, &r);
    const fm_layout *l = &m.layout;
    double *P[FM_NN_MAX_GROUPS], *dP[FM_NN_MAX_GROUPS];
    for (int g = 0; g < l->ngroups; g++) {
        int n = l->group_size[g];
        P[g] = calloc((size_t)n * n, sizeof(double));
        dP[g] = calloc((size_t)n * n, sizeof(double));
        rand_soft(&r, n, P[g]);
    }
    float *C = calloc(l->total, 4), *out = calloc(l->total, 4);
    for (size_t i = 0; i < l->total; i++)
        C[i] = (float)fm_rng_normal(&r);
    fm_apply_soft_grad(l, (const double *const *)P, m.w, C, dP, NULL);
    double worst = 0;
    int checked = 0;
    for (int g = 0; g < l->ngroups; g++) {
        int n = l->group_size[g];
        for (int q = 0; q < n * n; q++, checked++) {
            double save = P[g][q], v[2];
            for (int k = 0; k < 2; k++) {
                P[g][q] = save + (k ? -1e-3 : 1e-3);
                fm_apply_soft(l, (const double *const *)P, m.w, out, NULL);
                double dot = 0;
                for (size_t i = 0; i < l->total; i++)
                    dot += (double)C[i] * out[i];
                v[k] = dot;
            }
            P[g][q] = save;
            double num = (v[0] - v[1]) / 2e-3;
            worst = fmax(worst, fabs(num - dP[g][q]) / (1e-3 + fabs(num)));
        }
    }
    ok(worst < 2e-3, "dL/dP matches central differences on all %d entries (worst rel %.2g)", checked, worst);
    /* accumulation */
    double before = dP[0][0];
    fm_apply_soft_grad(l, (const double *const *)P, m.w, C, dP, NULL);
    is_close(dP[0][0], 2 * before, 1e-12, 1e-9, "the gradient accumulates");
    for (int g = 0; g < l->ngroups; g++)
        free(P[g]), free(dP[g]);
    free(C), free(out);
    fm_model_free(&m);
}

int main(void)
{
    test_hard_equals_layout();
    test_soft_gradient();
    return done_testing();
}
