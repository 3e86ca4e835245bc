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
    cfg.merge.gl_steps = 200, cfg.merge.gl_tol = 0.0; /* fixed steps, no data: the last iterate */
    cfg.merge.gl_select = FM_GL_SELECT_NONE;
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
    /* The float32 operations against independent references built from the same values:
     * mean = float(rank-order double sum of float inputs / N), a broadcast from every owner, a
     * gather; and the counted bytes: received bytes per rank below 2 n + N floats for the mean and
     * n floats for a broadcast, whatever the rank count. */
    for (int t = 0; t < 5; t++) {
        int m = sizes[t];
        float *x = calloc((size_t)m * size, sizeof *x), *out = calloc((size_t)m, sizeof *out);
        float *all_f = calloc((size_t)m * size, sizeof *all_f);
        double *part = calloc((size_t)m, sizeof *part);
        fm_rng_seed(&r, 99 + (uint64_t)t, FM_RANK_SHARED, 2);
        for (size_t i = 0; i < (size_t)m * size; i++)
            x[i] = (float)(fm_rng_normal(&r) * (i % 3 == 0 ? 1e6 : 1e-3));
        for (int j = 0; j < m; j++)
            part[j] = x[(size_t)rank * m + j];
        fm_err err;
        fm_err_clear(&err);
        fm_mpi_reducer_ctx c2;
        fm_reducer red2 = fm_reducer_mpi(&c2, MPI_COMM_WORLD);
        int same = fm_reduce_mean_f32(&red2, part, out, (size_t)m, size, &err) == FM_OK;
        for (int j = 0; j < m && same; j++) {
            double want = 0.0;
            for (int q = 0; q < size; q++)
                want += (double)x[(size_t)q * m + j];
            float wf = (float)(want / size);
            same = memcmp(&wf, &out[j], sizeof wf) == 0;
        }
        double bound = (2.0 * m + size) * sizeof(float); /* chunks of ceil(m / size) elements */
        int bytes_ok = c2.bytes_recv <= bound && c2.bytes_sent <= bound &&
                       (size == 1 || c2.bytes_recv > 0);
        int bcast_ok = 1;
        for (int owner = 0; owner < size; owner++) {
            c2.bytes_recv = c2.bytes_sent = 0;
            memset(out, 0, sizeof(float) * m);
            if (rank == owner)
                memcpy(out, x + (size_t)owner * m, sizeof(float) * m);
            bcast_ok &= fm_reduce_bcast_f32(&red2, out, (size_t)m, owner, &err) == FM_OK &&
                        memcmp(out, x + (size_t)owner * m, sizeof(float) * m) == 0 &&
                        c2.bytes_recv == (rank == owner || size == 1 ? 0.0 : (double)m * sizeof(float));
            double sent = c2.bytes_sent, total = 0;
            MPI_Allreduce(&sent, &total, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
            bcast_ok &= total == (double)(size - 1) * m * sizeof(float); /* one copy per receiver */
        }
        memcpy(all_f + (size_t)rank * m, x + (size_t)rank * m, sizeof(float) * m);
        int gather_ok = fm_reduce_gather_f32(&red2, all_f, (size_t)m, &err) == FM_OK &&
                        memcmp(all_f, x, sizeof(float) * m * size) == 0;
        int ok3[4] = {same, bytes_ok, bcast_ok, gather_ok};
        MPI_Allreduce(MPI_IN_PLACE, ok3, 4, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
        if (rank == 0) {
            printf("%s %d - reducer float32 mean of %d values on %d ranks is float(rank-order sum / N) on every rank\n",
                   ok3[0] ? "ok" : "not ok", ++count, m, size);
            printf("%s %d - its bytes per rank stay below (2 x %d + ranks) floats each way\n", ok3[1] ? "ok" : "not ok",
                   ++count, m);
            printf("%s %d - broadcast of %d floats from every owner: the owner's values, one copy received per rank\n",
                   ok3[2] ? "ok" : "not ok", ++count, m);
            printf("%s %d - gather of %d floats per rank: every rank's block in rank order\n",
                   ok3[3] ? "ok" : "not ok", ++count, m);
            failed += !ok3[0] + !ok3[1] + !ok3[2] + !ok3[3];
        }
        free(x), free(out), free(all_f), free(part);
    }
    /* Order matters in double for these float32 values: rank order gives ((2^54 - 2^54) + 1) = 1, the
     * reverse ((1 - 2^54) + 2^54) = 0; the mean is float(1 / N) only when summed in rank order. */
    if (size >= 3) {
        double part = rank == 0 ? 0x1p54 : rank == 1 ? -0x1p54 : rank == 2 ? 1.0 : 0.0;
        float out = -1;
        fm_err err;
        fm_err_clear(&err);
        fm_mpi_reducer_ctx c3;
        fm_reducer red3 = fm_reducer_mpi(&c3, MPI_COMM_WORLD);
        int okm = fm_reduce_mean_f32(&red3, &part, &out, 1, size, &err) == FM_OK && out == (float)(1.0 / size);
        MPI_Allreduce(MPI_IN_PLACE, &okm, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
        if (rank == 0) {
            printf("%s %d - float32 mean of 2^54, -2^54, 1 (ranks 0-2) is float(1 / %d): summed in rank order\n",
                   okm ? "ok" : "not ok", ++count, size);
            failed += !okm;
        }
    }
    if (rank == 0)
        printf("1..%d\n", count);
    free(all), free(a), free(b);
    MPI_Bcast(&failed, 1, MPI_INT, 0, MPI_COMM_WORLD);
    MPI_Finalize();
    return failed ? 1 : 0;
}
