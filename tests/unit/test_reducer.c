/* test_reducer.c - the serial reducer's operations (core.h) and merging more models in one process
 * than the old 64-model cap: 70 permuted copies of one MLP merged by average, git_rebasin and
 * fleet_merge_average (the variant that needs identity alignments) against the plain float mean
 * computed here, and against the copies' common function. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"
#include "merge/merge_nn.h"
#include "tap.h"

enum { NM = 70, T = 4, NTRAJ = 6 };

int main(void)
{
    /* serial operations: the mean rounds (sum / divisor) once; broadcast and gather leave the
     * buffer alone (one process owns every model) */
    fm_reducer r3 = fm_reducer_serial(3);
    double part[3] = {1.0, 2.0, 1e-9};
    float out[3];
    fm_err err;
    fm_err_clear(&err);
    ok(fm_reduce_mean_f32(&r3, part, out, 3, 3.0, &err) == FM_OK && out[0] == (float)(1.0 / 3.0) &&
           out[1] == (float)(2.0 / 3.0) && out[2] == (float)(1e-9 / 3.0),
       "serial mean_f32 = float(partial / divisor)");
    float b[2] = {5, 6};
    ok(fm_reduce_bcast_f32(&r3, b, 2, 2, &err) == FM_OK && b[0] == 5 && b[1] == 6, "serial broadcast keeps the buffer");
    ok(fm_reduce_bcast_f32(&r3, b, 2, 3, &err) == FM_EINVAL && strstr(err.msg, "model 3 of 3"),
       "broadcast from a model outside the fleet is refused: %s", err.msg);

    /* 70 permuted copies of one MLP in one process */
    fm_rng r;
    fm_rng_seed(&r, 9, 0, 0);
    fm_nn_spec s = {.arch = FM_NN_MLP, .act = FM_NN_TANH, .in_dim = 3, .out_dim = 2, .nhidden = 2, .hidden = {8, 6}};
    fm_model base, copies[NM], merged;
    fm_model_create(&base, &s, NULL);
    fm_model_init(&base, &r);
    const fm_layout *l = &base.layout;
    int pbuf[NM][14], *perms[NM][2];
    fm_demos d[NM];
    for (int i = 0; i < NM; i++) {
        fm_model_create(&copies[i], &s, NULL);
        fm_model_copy(&copies[i], &base);
        perms[i][0] = pbuf[i], perms[i][1] = pbuf[i] + 8;
        for (int g = 0; g < 2; g++) {
            int n = l->group_size[g];
            for (int u = 0; u < n; u++)
                perms[i][g][u] = u;
            for (int u = n - 1; i > 0 && u > 0; u--) { /* copy 0 stays the original */
                int j = (int)fm_rng_below(&r, (uint64_t)u + 1), t = perms[i][g][u];
                perms[i][g][u] = perms[i][g][j], perms[i][g][j] = t;
            }
        }
        fm_layout_permute(l, (const int *const *)perms[i], base.w, copies[i].w);
        fm_demos_alloc(&d[i], NTRAJ, T, 3, 2, NULL);
        for (int t = 0; t < NTRAJ; t++)
            d[i].length[t] = T;
        for (size_t q = 0; q < (size_t)NTRAJ * T * 3; q++)
            d[i].obs[q] = fm_rng_normal(&r);
    }
    fm_model_create(&merged, &s, NULL);
    fm_reducer red = fm_reducer_serial(NM);
    fm_merge_nn_opts o = {.wm_passes = 3, .mm_sweeps = 2, .epochs = 1, .steps = 2, .subset = 0.1, .tau = 1,
                          .sk_iters = 5, .lr = 0.01, .noise = 0, .batch = 2, .init_wm = 1};
    fm_status st = fm_merge_nn(FM_MERGE_AVERAGE, copies, d, &o, &red, 1, &merged, NULL, &err);
    int same = st == FM_OK;
    for (size_t q = 0; same && q < l->total; q++) {
        double sum = 0;
        for (int i = 0; i < NM; i++)
            sum += copies[i].w[q];
        float want = (float)(sum / NM);
        same = memcmp(&want, &merged.w[q], sizeof want) == 0;
    }
    ok(same, "average of %d models in one process = float(sum / N), bit for bit (status %s)", NM, fm_status_name(st));
    st = fm_merge_nn(FM_MERGE_GIT_REBASIN, copies, d, &o, &red, 1, &merged, NULL, &err);
    double gap = 0;
    for (size_t q = 0; q < l->total; q++)
        gap = fmax(gap, fabs(merged.w[q] - base.w[q]));
    ok(st == FM_OK && gap < 1e-6, "git_rebasin of %d permuted copies recovers the original (max |diff| %.2g)", NM, gap);
    st = fm_merge_nn(FM_MERGE_FLEET_MERGE_AVERAGE, copies, d, &o, &red, 1, &merged, NULL, &err);
    ok(st == FM_OK, "fleet_merge_average of %d models runs (%s%s)", NM, fm_status_name(st), st ? err.msg : "");
    for (int i = 0; i < NM; i++)
        fm_model_free(&copies[i]), fm_demos_free(&d[i]);
    fm_model_free(&base), fm_model_free(&merged);
    return done_testing();
}
