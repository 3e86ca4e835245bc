/* test_rng.c - RNG streams and the Dirichlet mixture sampler (statistical checks, fixed seeds). */
#include <math.h>
#include <stdlib.h>

#include "core/core.h"
#include "data/data.h"
#include "tap.h"

static void test_streams(void)
{
    fm_rng a, b, c;
    fm_rng_seed(&a, 7, 0, FM_STREAM_DATA);
    fm_rng_seed(&b, 7, 0, FM_STREAM_DATA);
    fm_rng_seed(&c, 7, 1, FM_STREAM_DATA);
    int same = 1, differ = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = fm_rng_u64(&a), y = fm_rng_u64(&b), z = fm_rng_u64(&c);
        same &= x == y;
        differ += x != z;
    }
    ok(same, "same (seed, rank, stream) gives the same sequence");
    ok(differ == 100, "another rank gives another sequence");
}

static void test_normal_uniform(void)
{
    fm_rng r;
    fm_rng_seed(&r, 1, 2, 3);
    int n = 200000;
    double s = 0, s2 = 0, u = 0;
    for (int i = 0; i < n; i++) {
        double x = fm_rng_normal(&r);
        s += x, s2 += x * x;
        u += fm_rng_uniform(&r);
    }
    is_close(s / n, 0.0, 5.0 / sqrt(n), 0, "normal mean 0 (5 sigma)");
    is_close(s2 / n, 1.0, 5.0 * sqrt(2.0 / n), 0, "normal variance 1 (5 sigma)");
    is_close(u / n, 0.5, 5.0 * sqrt(1.0 / 12 / n), 0, "uniform mean 1/2");
    uint64_t counts[3] = {0};
    for (int i = 0; i < 30000; i++)
        counts[fm_rng_below(&r, 3)]++;
    ok(llabs((long long)counts[0] - 10000) < 400 && llabs((long long)counts[2] - 10000) < 400,
       "below(3) is uniform (%llu %llu %llu)", (unsigned long long)counts[0],
       (unsigned long long)counts[1], (unsigned long long)counts[2]);
}

static void test_gamma(void)
{
    double shapes[3] = {0.05, 0.7, 3.0};
    for (int j = 0; j < 3; j++) {
        fm_rng r;
        fm_rng_seed(&r, 11, 0, j);
        int n = 100000;
        double s = 0, s2 = 0;
        for (int i = 0; i < n; i++) {
            double g = exp(fm_rng_log_gamma(&r, shapes[j]));
            s += g, s2 += g * g;
        }
        double a = shapes[j], mean = s / n, var = s2 / n - mean * mean;
        is_close(mean, a, 5.0 * sqrt(a / n), 0, "Gamma(%g) mean = shape", a);
        is_close(var, a, 0, 0.1, "Gamma(%g) variance = shape (10%%)", a);
    }
}

/* Dirichlet(alpha 1_K): E p_i = 1/K, Var p_i = (1/K)(1 - 1/K)/(K alpha + 1). */
static void test_dirichlet(void)
{
    const int K = 5, n = 40000;
    double alphas[3] = {0.1, 1.0, 10.0}, prev_max = 2.0;
    for (int j = 0; j < 3; j++) {
        double a = alphas[j], p[5], s[5] = {0}, s2[5] = {0}, mx = 0, sum_err = 0;
        fm_rng r;
        fm_rng_seed(&r, 3, 0, FM_STREAM_MIXTURE);
        for (int i = 0; i < n; i++) {
            fm_mixture_draw(&r, a, K, p);
            double tot = 0, m = 0;
            for (int q = 0; q < K; q++)
                s[q] += p[q], s2[q] += p[q] * p[q], tot += p[q], m = fmax(m, p[q]);
            sum_err = fmax(sum_err, fabs(tot - 1.0));
            mx += m / n;
        }
        double var = (1.0 / K) * (1.0 - 1.0 / K) / (K * a + 1.0);
        ok(sum_err < 1e-12, "alpha %g: weights sum to 1 (max err %.2g)", a, sum_err);
        for (int q = 0; q < K; q += 2) {
            is_close(s[q] / n, 1.0 / K, 5.0 * sqrt(var / n), 0, "alpha %g: mean of p_%d is 1/K", a, q);
            is_close(s2[q] / n - (s[q] / n) * (s[q] / n), var, 0, 0.06,
                     "alpha %g: variance of p_%d matches (K alpha + 1) law", a, q);
        }
        ok(mx < prev_max, "alpha %g: mean largest weight %.3f falls as alpha grows", a, mx);
        prev_max = mx;
    }
    double p[3] = {0.2, 0.0, 0.8};
    int cnt[3] = {0};
    fm_rng r;
    fm_rng_seed(&r, 5, 0, 0);
    int tasks[20000];
    fm_mixture_tasks(&r, p, 3, 20000, tasks);
    for (int i = 0; i < 20000; i++)
        cnt[tasks[i]]++;
    ok(cnt[1] == 0, "a zero-weight task is never drawn");
    is_close(cnt[2] / 20000.0, 0.8, 5.0 * sqrt(0.16 / 20000), 0, "task frequency follows weights");
}

int main(void)
{
    test_streams();
    test_normal_uniform();
    test_gamma();
    test_dirichlet();
    return done_testing();
}
