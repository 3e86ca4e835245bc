/* bench_merge.c - merge cost against local training, per robot, in one process (serial reducer):
 *   bench_merge cartpole   5 robots, Elman RNN 2 x 64 tanh, obs 3 -> act 1, 80 trajectories of 150
 *                          steps each (configs/cartpole_merge.yaml's sizes), 80 local epochs, batch 8
 *   bench_merge mlp        5 robots, MLP 39 -> 512 -> 512 -> 512 -> 4 ReLU (the bench MLP),
 *                          80 trajectories of 50 steps, 80 local epochs, batch 8
 * Data: random observations, actions of a random teacher of the same architecture plus noise, a
 * different teacher mixture per robot. Every robot trains from its own initialization (the local
 * phase of `fleet run`), then the 5 models are merged by fleet_merge with the default merge
 * settings (MergeMany start, E = 3 epochs of T = 100 soft steps on batches of 16 trajectories,
 * tau 0.3, 20 Sinkhorn iterations). CPU seconds of this process (OPENBLAS_NUM_THREADS=1).
 * Prints: name local_s_per_robot merge_s_per_robot ratio mergemany_share
 * (MergeMany's CPU share of the merge: under MPI it runs one robot at a time, so its wall time
 * grows with N while the soft updates run in parallel). */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/cfg.h"
#include "merge/merge_nn.h"
#include "nn/train.h"

enum { NR = 5, NTRAJ = 80 };

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "cartpole") && strcmp(argv[1], "mlp"))) {
        fprintf(stderr, "usage: bench_merge cartpole|mlp\n");
        return 2;
    }
    int rnn = !strcmp(argv[1], "cartpole"), T = rnn ? 150 : 50;
    fm_nn_spec s = rnn ? (fm_nn_spec){.arch = FM_NN_RNN, .act = FM_NN_TANH, .in_dim = 3, .out_dim = 1, .nhidden = 2,
                                      .hidden = {64, 64}}
                       : (fm_nn_spec){.arch = FM_NN_MLP, .act = FM_NN_RELU, .in_dim = 39, .out_dim = 4, .nhidden = 3,
                                      .hidden = {512, 512, 512}};
    fm_rng r;
    fm_rng_seed(&r, 1, 0, 0);
    fm_err err;
    fm_err_clear(&err);
    fm_model teacher[2], local[NR], merged;
    fm_demos d[NR];
    for (int k = 0; k < 2; k++) {
        fm_model_create(&teacher[k], &s, NULL);
        fm_model_init(&teacher[k], &r);
    }
    fm_nn_ws *ws = NULL;
    fm_nn_ws_create(&teacher[0], T, 1, &ws, NULL);
    float *obs = malloc(sizeof(float) * (size_t)T * s.in_dim), *act = malloc(sizeof(float) * (size_t)T * s.out_dim);
    for (int i = 0; i < NR; i++) { /* robot i's trajectories come from teacher 0 or 1 by its own mixture */
        fm_demos_alloc(&d[i], NTRAJ, T, s.in_dim, s.out_dim, NULL);
        double mix = (i + 0.5) / NR;
        for (int t = 0; t < NTRAJ; t++) {
            d[i].length[t] = T;
            for (int q = 0; q < T * s.in_dim; q++)
                obs[q] = (float)fm_rng_normal(&r);
            fm_nn_forward(&teacher[fm_rng_uniform(&r) < mix], ws, obs, T, 1, act);
            for (int q = 0; q < T * s.in_dim; q++)
                d[i].obs[(size_t)t * T * s.in_dim + q] = obs[q];
            for (int q = 0; q < T * s.out_dim; q++)
                d[i].act[(size_t)t * T * s.out_dim + q] = act[q] + 0.05 * fm_rng_normal(&r);
        }
    }
    fm_nn_train_opts to = {.epochs = 80, .batch = 8, .optimizer = FM_OPT_ADAM, .lr = 0.002, .grad_clip = 1};
    double t0 = cpu_seconds();
    for (int i = 0; i < NR; i++) {
        double sums[2 * (39 + 4) + 1];
        memset(sums, 0, sizeof sums);
        fm_model_create(&local[i], &s, NULL);
        fm_model_init(&local[i], &r);
        fm_nn_norm_sums(&s, &d[i], sums);
        fm_nn_norm_set(&local[i], sums);
        double loss = 0;
        if (fm_nn_train(&local[i], &d[i], &to, NULL, &r, &loss, &err) != FM_OK) {
            fprintf(stderr, "bench_merge: training: %s\n", err.msg);
            return 1;
        }
    }
    double t_local = cpu_seconds() - t0;
    fm_model_create(&merged, &s, NULL);
    fm_reducer red = fm_reducer_serial(NR);
    fm_merge_nn_opts o = {.wm_passes = 30, .mm_sweeps = 20, .epochs = 3, .steps = 100, .subset = 1, .tau = 0.3,
                          .sk_iters = 20, .lr = 0.1, .noise = 0.1, .start_mass = 0.31, .batch = 16, .init_wm = 1};
    t0 = cpu_seconds();
    if (fm_merge_nn(FM_MERGE_GIT_REBASIN, local, d, &o, &red, 7, &merged, NULL, &err) != FM_OK) {
        fprintf(stderr, "bench_merge: MergeMany: %s\n", err.msg);
        return 1;
    }
    double t_mm = cpu_seconds() - t0;
    t0 = cpu_seconds();
    if (fm_merge_nn(FM_MERGE_FLEET_MERGE, local, d, &o, &red, 7, &merged, NULL, &err) != FM_OK) {
        fprintf(stderr, "bench_merge: fleet_merge: %s\n", err.msg);
        return 1;
    }
    double t_merge = cpu_seconds() - t0;
    printf("%s %.3f %.3f %.3f %.3f\n", argv[1], t_local / NR, t_merge / NR, t_merge / t_local, t_mm / t_merge);
    return 0;
}
