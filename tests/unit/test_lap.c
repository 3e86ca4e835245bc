/* test_lap.c - the LAP solver against brute force (all permutations, n <= 8), on ties, on
 * planted permutations and on a large random case. */
#include "align/lap.h"
#include "tap.h"

#include <stdlib.h>

#define MAXN 8

/* ---- brute force: best sum over all permutations, by recursion over rows ---- */

typedef struct brute {
    int n, maximize;
    const double *cost;
    double best;
    int used[MAXN];
} brute;

static void brute_rec(brute *b, int row, double sum)
{
    if (row == b->n) {
        if (b->maximize ? sum > b->best : sum < b->best)
            b->best = sum;
        return;
    }
    for (int j = 0; j < b->n; j++) {
        if (b->used[j])
            continue;
        b->used[j] = 1;
        brute_rec(b, row + 1, sum + b->cost[row * b->n + j]);
        b->used[j] = 0;
    }
}

static double brute_best(int n, const double *cost, int maximize)
{
    brute b = {n, maximize, cost, maximize ? -INFINITY : INFINITY, {0}};
    brute_rec(&b, 0, 0.0);
    return b.best;
}

/* 1 if perm is a permutation of 0..n-1 and total equals the sum it selects. */
static int valid(int n, const double *cost, const int *perm, double total)
{
    int seen[512] = {0};
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        if (perm[i] < 0 || perm[i] >= n || seen[perm[i]]++)
            return 0;
        sum += cost[i * n + perm[i]];
    }
    return sum == total;
}

/* ---- random matrices against brute force ---- */

/* Fills cost with uniform values in [-scale, scale), or integers in {0, 1, 2} when ties != 0. */
static void fill(fm_rng *r, int count, double *cost, double scale, int ties)
{
    for (int i = 0; i < count; i++)
        cost[i] = ties ? (double)fm_rng_below(r, 3) : scale * (2.0 * fm_rng_uniform(r) - 1.0);
}

/* For each n = 1..8 and both senses: worst |lap - brute| over many matrices. */
static void test_brute(fm_rng *r, int ties)
{
    double cost[MAXN * MAXN];
    int perm[MAXN];
    fm_err err;
    for (int n = 1; n <= MAXN; n++) {
        int trials = n <= 6 ? 200 : 30;
        for (int maximize = 0; maximize < 2; maximize++) {
            double worst = 0.0;
            int all_ok = 1, all_valid = 1;
            for (int t = 0; t < trials; t++) {
                fill(r, n * n, cost, t % 2 ? 1e3 : 1.0, ties);
                double total = NAN;
                fm_err_clear(&err);
                all_ok &= lap_solve(n, cost, maximize, perm, &total, &err) == FM_OK;
                all_valid &= valid(n, cost, perm, total);
                double want = brute_best(n, cost, maximize), d = fabs(total - want) / fmax(1.0, fabs(want));
                if (!(d <= worst))
                    worst = d;
            }
            ok(all_ok && all_valid, "%s n=%d %s: %d solves succeed with valid permutations", ties ? "ties" : "random",
               n, maximize ? "max" : "min", trials);
            is_close(worst, 0.0, ties ? 0.0 : 1e-14, 0.0, "%s n=%d %s: optimum equals brute force",
                     ties ? "ties" : "random", n, maximize ? "max" : "min");
        }
    }
}

/* ---- structured cases ---- */

static void test_constant(void)
{
    enum { N = 6 };
    double cost[N * N];
    int perm[N], perm2[N], ident = 1, same = 1;
    double total = 0.0, total2 = 0.0;
    fm_err err;
    for (int i = 0; i < N * N; i++)
        cost[i] = 3.25;
    fm_err_clear(&err);
    is_int(lap_solve(N, cost, 0, perm, &total, &err), FM_OK, "constant: status");
    is_close(total, N * 3.25, 0.0, 0.0, "constant: total is n * c exactly");
    lap_solve(N, cost, 1, perm2, &total2, &err);
    is_close(total2, N * 3.25, 0.0, 0.0, "constant max: total is n * c exactly");
    for (int i = 0; i < N; i++) {
        ident &= perm[i] == i;
        same &= perm2[i] == perm[i];
    }
    ok(ident, "constant: deterministic tie-break gives the identity");
    ok(same, "constant: min and max pick the same permutation");
    int one = -1;
    double c1 = -2.5, t1 = 0.0;
    is_int(lap_solve(1, &c1, 0, &one, &t1, &err), FM_OK, "n = 1: status");
    ok(one == 0 && t1 == -2.5, "n = 1: perm = {0}, total = cost");
}

/* cost[i][sigma(i)] is planted 10 below (min) or above (max) noise in [0, 1). */
static void test_planted(fm_rng *r)
{
    enum { N = 40 };
    double cost[N * N];
    int sigma[N], perm[N];
    fm_err err;
    for (int i = 0; i < N; i++)
        sigma[i] = i;
    for (int round = 0; round < 3; round++) {
        int maximize = round == 2;
        for (int i = 0; i < N * N; i++)
            cost[i] = fm_rng_uniform(r);
        for (int i = 0; i < N; i++)
            cost[i * N + sigma[i]] += maximize ? 10.0 : -10.0;
        fm_err_clear(&err);
        int st = lap_solve(N, cost, maximize, perm, NULL, &err), hit = 1;
        for (int i = 0; i < N; i++)
            hit &= perm[i] == sigma[i];
        ok(st == FM_OK && hit, "planted %s permutation (%s) is recovered", round ? "random" : "identity",
           maximize ? "max" : "min");
        for (int i = N - 1; i > 0; i--) { /* Fisher-Yates for the next round */
            int j = (int)fm_rng_below(r, (uint64_t)i + 1), t = sigma[i];
            sigma[i] = sigma[j];
            sigma[j] = t;
        }
    }
}

static void test_errors(void)
{
    double cost[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    int perm[3];
    fm_err err;
    const double bad[3] = {NAN, INFINITY, -INFINITY};
    const char *names[3] = {"NaN", "inf", "-inf"};
    for (int b = 0; b < 3; b++) {
        cost[5] = bad[b];
        fm_err_clear(&err);
        is_int(lap_solve(3, cost, b == 1, perm, NULL, &err), FM_EINVAL, "%s entry -> FM_EINVAL", names[b]);
        is_str(err.msg, "lap: cost[1][2] is not finite", "%s entry: message names the entry", names[b]);
    }
    cost[5] = 6.0;
    fm_err_clear(&err);
    is_int(lap_solve(0, cost, 0, perm, NULL, &err), FM_EINVAL, "n = 0 -> FM_EINVAL");
    has_str(err.msg, "lap: n = 0", "n = 0: message names n");
    fm_err_clear(&err);
    is_int(lap_solve(-2, cost, 0, perm, NULL, &err), FM_EINVAL, "n = -2 -> FM_EINVAL");
    fm_err_clear(&err);
    is_int(lap_solve(3, NULL, 0, perm, NULL, &err), FM_EINVAL, "NULL cost -> FM_EINVAL");
    has_str(err.msg, "cost is NULL", "NULL cost: message");
    fm_err_clear(&err);
    is_int(lap_solve(3, cost, 0, NULL, NULL, &err), FM_EINVAL, "NULL perm -> FM_EINVAL");
    has_str(err.msg, "perm is NULL", "NULL perm: message");
}

/* 300 x 300: the optimum is no worse than 1000 random permutations. */
static void test_large(fm_rng *r)
{
    enum { N = 300 };
    double *cost = malloc(sizeof(double) * N * N);
    int perm[N], rp[N];
    double total = 0.0, best_random = INFINITY;
    fm_err err;
    if (!cost) {
        ok(0, "large: allocation");
        return;
    }
    for (int i = 0; i < N * N; i++)
        cost[i] = fm_rng_normal(r);
    fm_err_clear(&err);
    double t0 = fm_now();
    is_int(lap_solve(N, cost, 0, perm, &total, &err), FM_OK, "large: status");
    printf("# 300 x 300 solved in %.3f s, total %.6f\n", fm_now() - t0, total);
    ok(valid(N, cost, perm, total), "large: result is a permutation with matching total");
    for (int i = 0; i < N; i++)
        rp[i] = i;
    for (int s = 0; s < 1000; s++) {
        for (int i = N - 1; i > 0; i--) {
            int j = (int)fm_rng_below(r, (uint64_t)i + 1), t = rp[i];
            rp[i] = rp[j];
            rp[j] = t;
        }
        double sum = 0.0;
        for (int i = 0; i < N; i++)
            sum += cost[i * N + rp[i]];
        best_random = fmin(best_random, sum);
    }
    ok(total <= best_random, "large: total %.3f <= best of 1000 random permutations %.3f", total, best_random);
    free(cost);
}

int main(void)
{
    fm_rng r;
    fm_rng_seed(&r, 7, 0, FM_STREAM_MERGE);
    test_brute(&r, 0);
    test_brute(&r, 1);
    test_constant();
    test_planted(&r);
    test_errors();
    test_large(&r);
    return done_testing();
}
