/* test_match.c - weight matching recovers hidden permutations of a model's copy. */
#include <stdlib.h>
#include <string.h>

#include "merge/match.h"
#include "tap.h"

static void rand_perm(fm_rng *r, int n, int *p)
{
    for (int i = 0; i < n; i++)
        p[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)fm_rng_below(r, (uint64_t)i + 1), t = p[i];
        p[i] = p[j], p[j] = t;
    }
}

static void check_recovery(const char *what, fm_nn_spec s)
{
    fm_model m;
    fm_model_create(&m, &s, NULL);
    fm_rng r;
    fm_rng_seed(&r, 11, 0, 0);
    fm_model_init(&m, &r);
    const fm_layout *l = &m.layout;
    int *hidden[FM_NN_MAX_GROUPS], *found[FM_NN_MAX_GROUPS];
    for (int g = 0; g < l->ngroups; g++) {
        hidden[g] = malloc(sizeof(int) * l->group_size[g]);
        found[g] = malloc(sizeof(int) * l->group_size[g]);
        rand_perm(&r, l->group_size[g], hidden[g]);
        for (int i = 0; i < l->group_size[g]; i++)
            found[g][i] = i;
    }
    float *copy = malloc(sizeof(float) * l->total), *back = malloc(sizeof(float) * l->total);
    fm_layout_permute(l, (const int *const *)hidden, m.w, copy); /* copy = P(m) */
    int passes = 0;
    fm_err err;
    fm_err_clear(&err);
    /* match the copy back onto the original: the result must undo P exactly */
    ok(fm_weight_match(l, copy, m.w, &r, 50, found, &passes, &err) == FM_OK, "%s: matching runs", what);
    fm_layout_permute(l, (const int *const *)found, copy, back);
    ok(memcmp(back, m.w, sizeof(float) * l->total) == 0, "%s: recovered permutations undo the hidden ones exactly (%d passes)",
       what, passes);
    ok(fm_perm_distance(l, copy, m.w, (const int *const *)found) == 0.0, "%s: distance 0", what);
    for (int g = 0; g < l->ngroups; g++)
        free(hidden[g]), free(found[g]);
    free(copy), free(back);
    fm_model_free(&m);
}

int main(void)
{
    check_recovery("mlp", (fm_nn_spec){.arch = FM_NN_MLP, .act = FM_NN_RELU, .in_dim = 5, .out_dim = 2,
                                       .nhidden = 3, .hidden = {16, 12, 8}});
    check_recovery("rnn", (fm_nn_spec){.arch = FM_NN_RNN, .act = FM_NN_TANH, .in_dim = 3, .out_dim = 1,
                                       .nhidden = 2, .hidden = {32, 32}});
    check_recovery("encoder+rnn", (fm_nn_spec){.arch = FM_NN_RNN, .act = FM_NN_TANH, .in_dim = 2, .out_dim = 2,
                                               .nhidden = 1, .hidden = {10}, .npoints = 5, .pc_channels = 4,
                                               .enc_nlayers = 2, .enc_hidden = {8, 6}});
    return done_testing();
}
