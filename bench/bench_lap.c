/* bench_lap.c - time of the dense linear assignment solver (lap_solve, minimization) on a
 * random n x n matrix, for the side-by-side comparison with scipy.optimize.linear_sum_assignment
 * (bench/ref_lap_scipy.py) in bench/run.sh (issue 4).
 *   bench_lap uniform|int N SEED [FILE]
 * Costs: uniform  = fm_rng_uniform, i.e. [0, 1) with 53 random bits;
 *        int      = fm_rng_below(100), i.e. integers in [0, 100) (many tied optima),
 * drawn row-major from fm_rng_seed(SEED, 0, 0). With FILE, the matrix is also written there as
 * n * n native float64 values, row-major (what numpy.fromfile reads), so that the reference
 * solves the very same numbers. One untimed warm-up solve, then REPS timed solves; prints
 *   lap KIND N best_ms total
 * (best_ms = fastest of the timed solves, total = optimal sum, %.17g). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "align/lap.h"

enum { REPS = 3 };

int main(int argc, char **argv)
{
    if ((argc != 4 && argc != 5) || (strcmp(argv[1], "uniform") && strcmp(argv[1], "int"))) {
        fprintf(stderr, "usage: bench_lap uniform|int N SEED [FILE]\n");
        return 2;
    }
    int ints = !strcmp(argv[1], "int"), n = atoi(argv[2]);
    if (n < 1) {
        fprintf(stderr, "bench_lap: N = %d, expected N >= 1\n", n);
        return 2;
    }
    size_t nn = (size_t)n * n;
    double *cost = malloc(sizeof(double) * nn);
    int *perm = malloc(sizeof(int) * n), *seen = calloc((size_t)n, sizeof(int));
    if (!cost || !perm || !seen) {
        fprintf(stderr, "bench_lap: out of memory\n");
        return 1;
    }
    fm_rng r;
    fm_rng_seed(&r, strtoull(argv[3], NULL, 10), 0, 0);
    for (size_t k = 0; k < nn; k++)
        cost[k] = ints ? (double)fm_rng_below(&r, 100) : fm_rng_uniform(&r);
    if (argc == 5) {
        FILE *f = fopen(argv[4], "wb");
        if (!f || fwrite(cost, sizeof(double), nn, f) != nn || fclose(f)) {
            fprintf(stderr, "bench_lap: cannot write %s\n", argv[4]);
            return 1;
        }
    }
    fm_err err;
    double total = 0.0, best = 0.0;
    for (int rep = -1; rep < REPS; rep++) { /* rep -1: warm-up */
        fm_err_clear(&err);
        double t0 = fm_now();
        fm_status st = lap_solve(n, cost, 0, perm, &total, &err);
        double dt = fm_now() - t0;
        if (st != FM_OK) {
            fprintf(stderr, "bench_lap: %s\n", err.msg);
            return 1;
        }
        if (rep == 0 || (rep > 0 && dt < best))
            best = dt;
    }
    for (int i = 0; i < n; i++) /* sanity: perm is a permutation */
        if (perm[i] < 0 || perm[i] >= n || seen[perm[i]]++) {
            fprintf(stderr, "bench_lap: result is not a permutation (row %d -> %d)\n", i, perm[i]);
            return 1;
        }
    printf("lap %s %d %.4f %.17g\n", argv[1], n, 1e3 * best, total);
    free(cost);
    free(perm);
    free(seen);
    return 0;
}
