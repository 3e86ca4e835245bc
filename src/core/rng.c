/* rng.c - xoshiro256** streams and the distributions fleetmerge samples from.
 * Streams are seeded by hashing (seed, rank, stream) with splitmix64, so every
 * robot's streams are independent and reproducible for a fixed rank count. */
#include "core.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

void fm_rng_seed(fm_rng *r, uint64_t seed, uint64_t rank, uint64_t stream)
{
    uint64_t x = seed;
    uint64_t h = splitmix64(&x);
    x = h ^ (rank * UINT64_C(0xD1B54A32D192ED03));
    h = splitmix64(&x);
    x = h ^ (stream * UINT64_C(0x8CB92BA72F3D8DD7));
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
    r->has_spare = 0;
    r->spare = 0.0;
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t fm_rng_u64(fm_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double fm_rng_uniform(fm_rng *r) { return (double)(fm_rng_u64(r) >> 11) * 0x1.0p-53; }

uint64_t fm_rng_below(fm_rng *r, uint64_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do {
        x = fm_rng_u64(r);
    } while (x >= limit);
    return x % n;
}

double fm_rng_normal(fm_rng *r)
{
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u, v, s;
    do { /* Marsaglia polar method */
        u = 2.0 * fm_rng_uniform(r) - 1.0;
        v = 2.0 * fm_rng_uniform(r) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    double f = sqrt(-2.0 * log(s) / s);
    r->spare = v * f;
    r->has_spare = 1;
    return u * f;
}

/* Marsaglia-Tsang for shape >= 1; for shape < 1 use Gamma(a) = Gamma(a+1) U^(1/a),
 * kept in log space so that tiny shapes (alpha = 0.01) do not underflow. */
double fm_rng_log_gamma(fm_rng *r, double shape)
{
    double boost = 0.0;
    if (shape < 1.0) {
        double u;
        do {
            u = fm_rng_uniform(r);
        } while (u == 0.0);
        boost = log(u) / shape;
        shape += 1.0;
    }
    double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = fm_rng_normal(r), v = 1.0 + c * x;
        if (v <= 0.0)
            continue;
        v = v * v * v;
        double u = fm_rng_uniform(r);
        if (u == 0.0)
            continue;
        if (log(u) < 0.5 * x * x + d - d * v + d * log(v))
            return log(d * v) + boost;
    }
}

void fm_rng_dirichlet(fm_rng *r, double alpha, int k, double *out)
{
    double mx = -INFINITY;
    for (int i = 0; i < k; i++) {
        out[i] = fm_rng_log_gamma(r, alpha);
        if (out[i] > mx)
            mx = out[i];
    }
    double sum = 0.0;
    for (int i = 0; i < k; i++) {
        out[i] = exp(out[i] - mx);
        sum += out[i];
    }
    for (int i = 0; i < k; i++)
        out[i] /= sum;
}

int fm_rng_categorical(fm_rng *r, const double *p, int k)
{
    double sum = 0.0;
    for (int i = 0; i < k; i++)
        sum += p[i];
    double u = fm_rng_uniform(r) * sum, acc = 0.0;
    for (int i = 0; i < k; i++) {
        acc += p[i];
        if (u < acc)
            return i;
    }
    for (int i = k - 1; i >= 0; i--) /* rounding: last index with positive weight */
        if (p[i] > 0.0)
            return i;
    return k - 1;
}

void fm_rng_permutation(fm_rng *r, int n, int *out)
{
    for (int i = 0; i < n; i++)
        out[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)fm_rng_below(r, (uint64_t)i + 1), t = out[i];
        out[i] = out[j], out[j] = t;
    }
}

void fm_rng_choose(fm_rng *r, int n, int k, int *chosen, int *scratch)
{
    for (int i = 0; i < n; i++)
        scratch[i] = i, chosen[i] = 0;
    for (int i = 0; i < k; i++) {
        int j = i + (int)fm_rng_below(r, (uint64_t)(n - i)), t = scratch[i];
        scratch[i] = scratch[j], scratch[j] = t;
        chosen[scratch[i]] = 1;
    }
}
