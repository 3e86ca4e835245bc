/* merge_nn_check.c - every neural merge (MergeMany, SoftUpdate, FLEET-MERGE and its ablations,
 * sinkhorn_data) on the MPI ranks equals the serial reference run of the same algorithm on the
 * same models, data and seeds, bit for bit; every rank gets the same merged model. Each rank trains the same N = size small RNNs on the same data
 * (deterministic), keeps model r and its data, and merges through the MPI reducer; rank 0
 * also merges all N with the serial reducer. Prints TAP from rank 0. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"
#include "fleet/fleet.h"
#include "merge/merge_nn.h"
#include "nn/train.h"

static void robot_demos(fm_demos *d, int robot)
{
    fm_rng r;
    fm_rng_seed(&r, 77, (uint64_t)robot, FM_STREAM_DATA);
    fm_demos_alloc(d, 10, 8, 2, 1, NULL);
    for (int i = 0; i < 10; i++) {
        d->length[i] = 8 - i % 3;
        for (int t = 0; t < d->length[i]; t++) {
            double *y = d->obs + ((size_t)i * 8 + t) * 2;
            y[0] = fm_rng_normal(&r), y[1] = fm_rng_normal(&r);
            d->act[(size_t)i * 8 + t] = tanh(y[0] + 0.3 * robot * y[1]);
        }
    }
}

static void robot_model(fm_model *m, const fm_demos *d, int robot)
{
    fm_nn_spec s = {.arch = FM_NN_RNN, .act = FM_NN_TANH, .in_dim = 2, .out_dim = 1, .nhidden = 2, .hidden = {8, 8}};
    fm_model_create(m, &s, NULL);
    fm_rng r;
    fm_rng_seed(&r, 77, (uint64_t)robot, FM_STREAM_INIT); /* independent initializations */
    fm_model_init(m, &r);
    double loss;
    fm_nn_train_opts o = {.epochs = 5, .batch = 4, .optimizer = FM_OPT_ADAM, .lr = 0.01};
    fm_nn_train(m, d, &o, NULL, &r, &loss, NULL);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size, count = 0, failed = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    fm_demos *d = calloc((size_t)size, sizeof *d);
    fm_model *m = calloc((size_t)size, sizeof *m), merged, ref;
    for (int i = 0; i < size; i++) {
        robot_demos(&d[i], i);
        robot_model(&m[i], &d[i], i);
    }
    fm_model_create(&merged, &m[0].spec, NULL);
    fm_model_create(&ref, &m[0].spec, NULL);
    fm_merge_nn_opts o = {.wm_passes = 20, .mm_sweeps = 5, .epochs = 2, .steps = 10, .subset = 0.5, .tau = 0.3,
                          .sk_iters = 10, .lr = 0.1, .noise = 0.1, .batch = 4, .init_wm = 1};
    fm_mpi_reducer_ctx ctx;
    fm_reducer mred = fm_reducer_mpi(&ctx, MPI_COMM_WORLD), sred = fm_reducer_serial(size);
    const int methods[7] = {FM_MERGE_GIT_REBASIN, FM_MERGE_SINKHORN_REBASIN, FM_MERGE_FLEET_MERGE,
                           FM_MERGE_FLEET_MERGE_SOFT, FM_MERGE_FLEET_MERGE_SIMPLEX, FM_MERGE_FLEET_MERGE_AVERAGE,
                           FM_MERGE_SINKHORN_DATA};
    for (int k = 0; k < 7; k++) {
        fm_err err;
        fm_err_clear(&err);
        fm_merge_nn_log lm, ls;
        fm_status s1 = fm_merge_nn(methods[k], &m[rank], &d[rank], &o, &mred, 5, &merged, &lm, &err);
        fm_status s2 = rank == 0 ? fm_merge_nn(methods[k], m, d, &o, &sred, 5, &ref, &ls, &err) : FM_OK;
        size_t n = merged.layout.total;
        int same = rank != 0 || memcmp(merged.w, ref.w, sizeof(float) * n) == 0;
        int same_log = rank != 0 || lm.epochs == ls.epochs; /* per-epoch (per-sweep) assignment changes */
        for (int e = 0; rank == 0 && same_log && e < lm.epochs; e++)
            same_log = lm.changed[e] == ls.changed[e] && lm.updaters[e] == ls.updaters[e];
        float *r0 = malloc(sizeof(float) * n);
        memcpy(r0, merged.w, sizeof(float) * n);
        MPI_Bcast(r0, (int)n, MPI_FLOAT, 0, MPI_COMM_WORLD);
        int agree = memcmp(r0, merged.w, sizeof(float) * n) == 0;
        MPI_Allreduce(MPI_IN_PLACE, &agree, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
        free(r0);
        if (rank == 0) {
            const char *name = fm_cfg_enum_name("merge.methods", methods[k]);
            int okk = s1 == FM_OK && s2 == FM_OK && same;
            printf("%s %d - %s on %d ranks equals the serial reference bit for bit%s%s\n", okk ? "ok" : "not ok",
                   ++count, name, size, err.msg[0] ? ": " : "", err.msg);
            printf("%s %d - %s: identical merged model on every rank\n", agree ? "ok" : "not ok", ++count, name);
            printf("%s %d - %s: the same diagnostics as the serial run (%d epochs or sweeps logged)\n",
                   same_log ? "ok" : "not ok", ++count, name, lm.epochs);
            failed += !okk + !agree + !same_log;
        }
    }
    if (rank == 0)
        printf("1..%d\n", count);
    MPI_Bcast(&failed, 1, MPI_INT, 0, MPI_COMM_WORLD);
    MPI_Finalize();
    return failed ? 1 : 0;
}
