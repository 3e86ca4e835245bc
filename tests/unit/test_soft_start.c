/* test_soft_start.c - the soft permutation starts equally sharp at every width (merge.fm_start_mass):
 * with fm_noise 0 the first Sinkhorn(L / tau) of a sinkhorn_rebasin update puts fm_start_mass of
 * every row's mass on the hard assignment, at 8, 64 and 512 hidden units, against the closed form
 * e^(s / tau) / (e^(s / tau) + n - 1); start_mass 0 keeps the old s = 1 start, whose share falls
 * with the width (0.31 at 64 units and 0.05 at 512 for tau 0.3). */
#include <math.h>
#include <stdlib.h>

#include "config/cfg.h"
#include "merge/merge_nn.h"
#include "tap.h"

/* the first step's mean largest entry per row, two robots, one hidden layer of `width` units */
static double first_rowmax(int width, double start_mass)
{
    fm_rng r;
    fm_rng_seed(&r, 3, 0, 0);
    fm_nn_spec s = {.arch = FM_NN_MLP, .act = FM_NN_TANH, .in_dim = 3, .out_dim = 2, .nhidden = 1, .hidden = {width}};
    fm_model m[2], merged;
    fm_demos d[2];
    for (int i = 0; i < 2; i++) {
        fm_model_create(&m[i], &s, NULL);
        fm_model_init(&m[i], &r);
        fm_demos_alloc(&d[i], 4, 3, 3, 2, NULL);
        for (int t = 0; t < 4; t++)
            d[i].length[t] = 3;
        for (int q = 0; q < 4 * 3 * 3; q++)
            d[i].obs[q] = fm_rng_normal(&r);
    }
    fm_model_create(&merged, &s, NULL);
    fm_reducer red = fm_reducer_serial(2);
    fm_merge_nn_opts o = {.wm_passes = 1, .mm_sweeps = 1, .epochs = 1, .steps = 1, .subset = 1, .tau = 0.3,
                          .sk_iters = 20, .lr = 0.01, .noise = 0, .start_mass = start_mass, .batch = 2, .init_wm = 0};
    fm_merge_nn_log log;
    fm_err err;
    fm_err_clear(&err);
    fm_status st = fm_merge_nn(FM_MERGE_SINKHORN_REBASIN, m, d, &o, &red, 1, &merged, &log, &err);
    for (int i = 0; i < 2; i++)
        fm_model_free(&m[i]), fm_demos_free(&d[i]);
    fm_model_free(&merged);
    return st == FM_OK ? log.rowmax_first[0] : NAN;
}

int main(void)
{
    int widths[3] = {8, 64, 512};
    for (int i = 0; i < 3; i++) {
        int n = widths[i];
        is_close(first_rowmax(n, 0.5), 0.5, 1e-9, 0, "fm_start_mass 0.5 at %d units: half of each row on the assignment", n);
        is_close(first_rowmax(n, 0.9), 0.9, 1e-9, 0, "fm_start_mass 0.9 at %d units", n);
        double e = exp(1.0 / 0.3);
        is_close(first_rowmax(n, 0), e / (e + n - 1), 1e-9, 0, "start_mass 0 (s = 1) at %d units: e^(1/tau) / (e^(1/tau) + n - 1)",
                 n);
    }
    ok(first_rowmax(64, 0) > 0.3 && first_rowmax(512, 0) < 0.06, "the old start: 0.31 at 64 units, 0.05 at 512");
    return done_testing();
}
