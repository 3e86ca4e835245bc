/* merge_mpi_check.c - MPI merges equal the serial reference bit for bit.
 * Every rank builds the same N = size random dynamic policies (fixed seed); rank r keeps
 * model r and merges through the MPI reducer; rank 0 also merges all of them with the
 * serial reducer. Prints TAP from rank 0. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"
#include "fleet/fleet.h"
#include "merge/merge.h"

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size, failed = 0, count = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    fm_config cfg;
    fm_cfg_defaults(&cfg);
    cfg.merge.gl_steps = 200;
    fm_lindims d = {.arch = FM_ARCH_DYNAMIC_LINEAR, .k = 4, .p = 10, .m = 2};
    size_t n = fm_lin_size(&d);
    double *all = calloc(n * size, sizeof *all), *a = calloc(n, 8), *b = calloc(n, 8);
    fm_rng r;
    fm_rng_seed(&r, 123, FM_RANK_SHARED, 0);
    for (size_t i = 0; i < n * size; i++)
        all[i] = fm_rng_normal(&r) * ((i % n) < 16 ? 0.3 : 1.0);
    fm_mpi_reducer_ctx ctx;
    fm_reducer mred = fm_reducer_mpi(&ctx, MPI_COMM_WORLD), sred = fm_reducer_serial(size);
    for (int method = 0; method < FM_MERGE_COUNT; method++) {
        fm_merge_info info;
        fm_err err;
        fm_err_clear(&err);
        fm_status s1 = fm_merge_linear(method, &d, all + rank * n, &cfg, &mred, a, NULL, &info, &err);
        fm_status s2 = rank == 0 ? fm_merge_linear(method, &d, all, &cfg, &sred, b, NULL, &info, &err) : FM_OK;
        int same = rank != 0 || memcmp(a, b, n * sizeof *a) == 0;
        double mx[2] = {0, 0}, mn[2];
        memcpy(mx, a, sizeof(double) * 2);
        MPI_Allreduce(mx, mn, 2, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD);
        int agree = mn[0] == a[0] && mn[1] == a[1];
        int okk = s1 == FM_OK && s2 == FM_OK && same;
        MPI_Allreduce(MPI_IN_PLACE, &agree, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
        if (rank == 0) {
            const char *name = fm_cfg_enum_name("merge.methods", method);
            printf("%s %d - %s on %d ranks equals the serial merge bit for bit\n", okk ? "ok" : "not ok", ++count, name, size);
            printf("%s %d - %s result identical on every rank\n", agree ? "ok" : "not ok", ++count, name);
            failed += !okk + !agree;
        }
    }
    /* The reducer alone, against an independent rank-order sum (((0 + x_0) + x_1) + ...) of the
     * same values, for sizes that do not divide by the rank count and smaller than it; values of
     * mixed magnitudes so that another summation order would change the bits. */
    int sizes[] = {1, 2, 3, 7, 1001};
    for (int t = 0; t < 5; t++) {
        int m = sizes[t];
        double *x = calloc((size_t)m * size, sizeof *x), *mine = calloc((size_t)m, sizeof *mine);
        fm_rng_seed(&r, 77 + (uint64_t)t, FM_RANK_SHARED, 1);
        for (size_t i = 0; i < (size_t)m * size; i++)
            x[i] = fm_rng_normal(&r) * (i % 3 == 0 ? 1e8 : 1e-3);
        memcpy(mine, x + (size_t)rank * m, sizeof(double) * m);
        fm_err err;
        fm_err_clear(&err);
        fm_status st = fm_reduce_sum(&mred, mine, m, &err);
        int same = st == FM_OK;
        for (int j = 0; j < m && same; j++) {
            double want = 0.0;
            for (int q = 0; q < size; q++)
                want += x[(size_t)q * m + j];
            same = memcmp(&want, &mine[j], sizeof want) == 0;
        }
        MPI_Allreduce(MPI_IN_PLACE, &same, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
        if (rank == 0) {
            printf("%s %d - reducer sum of %d doubles on %d ranks is the rank-order sum, bit for bit, on every rank\n",
                   same ? "ok" : "not ok", ++count, m, size);
            failed += !same;
        }
        free(x), free(mine);
    }
    if (rank == 0)
        printf("1..%d\n", count);
    free(all), free(a), free(b);
    MPI_Bcast(&failed, 1, MPI_INT, 0, MPI_COMM_WORLD);
    MPI_Finalize();
    return failed ? 1 : 0;
}
