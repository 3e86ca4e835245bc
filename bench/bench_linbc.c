/* bench_linbc.c - throughput of the dynamic linear policy's BC loss + BPTT gradient
 * (fm_lin_loss_grad), the inner loop of Algorithm 2. Prints one line:
 *   k p m n_traj T reps seconds steps_per_second
 * usage: bench_linbc K P M NTRAJ T REPS */
#include <stdio.h>
#include <stdlib.h>

#include "nn/linpol.h"

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: bench_linbc K P M NTRAJ T REPS\n");
        return 2;
    }
    int k = atoi(argv[1]), p = atoi(argv[2]), m = atoi(argv[3]), nt = atoi(argv[4]), T = atoi(argv[5]);
    int reps = atoi(argv[6]);
    fm_lindims d = {.arch = FM_ARCH_DYNAMIC_LINEAR, .k = k, .p = p, .m = m};
    fm_demos demos;
    if (fm_demos_alloc(&demos, nt, T, p, m, NULL) != FM_OK)
        return 1;
    fm_rng r;
    fm_rng_seed(&r, 1, 0, 0);
    for (size_t i = 0; i < (size_t)nt * T * p; i++)
        demos.obs[i] = fm_rng_normal(&r);
    for (size_t i = 0; i < (size_t)nt * T * m; i++)
        demos.act[i] = fm_rng_normal(&r);
    for (int i = 0; i < nt; i++)
        demos.length[i] = T;
    size_t n = fm_lin_size(&d);
    double *th = calloc(n, 8), *g = calloc(n, 8), *work = calloc(fm_lin_work_size(&d, &demos), 8);
    fm_lin_init(&d, 0.0, &r, th);
    for (int i = 0; i < k * k; i++)
        th[i] = 0.1 * fm_rng_normal(&r);
    double steps = 0, sink = 0, t0 = fm_now();
    for (int it = 0; it < reps; it++)
        sink += fm_lin_loss_grad(&d, th, &demos, -1, g, work, &steps);
    double dt = fm_now() - t0;
    printf("%d %d %d %d %d %d %.6f %.1f %g\n", k, p, m, nt, T, reps, dt, steps / dt, sink > 0 ? 1.0 : 0.0);
    free(th), free(g), free(work);
    fm_demos_free(&demos);
    return 0;
}
