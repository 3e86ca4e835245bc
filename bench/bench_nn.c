/* bench_nn.c - training throughput of fleetmerge's neural policies, single process.
 *   bench_nn mlp STEPS   MLP 39 -> 512 -> 512 -> 512 -> 4 (ReLU), Adam, batch 256
 *   bench_nn rnn STEPS   2-layer Elman RNN, hidden 128, tanh, 39 -> 4, T = 100, batch 32, Adam, full BPTT
 *   bench_nn cnn STEPS   CNN 1x28x28 -> conv 32 5x5 -> pool -> conv 64 5x5 -> pool -> 128 ReLU -> 10
 *                        (ReLU after each conv, 'same' padding), softmax cross-entropy, Adam, batch 64
 *   bench_nn peak        sgemm GFLOP/s on 1024^3 (the machine's measured single-thread peak)
 * Prints: name samples_per_second gflops_per_second max_rss_mib
 * (samples = rows per step: 256 for the MLP, 32 x 100 time steps for the RNN, 64 images for the CNN).
 * mlp and rnn time the wall clock; cnn the process's CPU time (user + system: on a shared, loaded
 * machine the wall clock of a 1-thread run mostly measures the other jobs; ref_nn_torch.py does
 * the same for cnn). */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "config/cfg.h"
#include "nn/train.h"

static double max_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

static double cpu_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void peak(void)
{
    int n = 1024;
    float *a = calloc((size_t)n * n, 4), *b = calloc((size_t)n * n, 4), *c = calloc((size_t)n * n, 4);
    for (size_t i = 0; i < (size_t)n * n; i++)
        a[i] = 1e-3f * (float)(i % 97), b[i] = 1e-3f * (float)(i % 89);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = fm_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
        double g = 2.0 * n * n * n / (fm_now() - t0) / 1e9;
        best = g > best ? g : best;
    }
    printf("sgemm_peak %.1f %.1f %.1f\n", 0.0, best, max_rss_mib());
    free(a), free(b), free(c);
}

/* Forward + backward FLOPs of one step (2 per multiply-add, GEMMs only). */
static double step_flops(const fm_nn_spec *s, int rows)
{
    double f = 0;
    int prev = s->in_dim;
    if (s->arch == FM_NN_CNN) { /* conv j: out_c x (in_c k k) x (h w) per image; the first has no input gradient */
        int c = s->img_c, h = s->img_h, w = s->img_w, kk = s->conv_k * s->conv_k;
        for (int j = 0; j < s->nconv; j++) {
            f += (j ? 3.0 : 2.0) * 2.0 * rows * (double)s->conv_channels[j] * c * kk * h * w;
            c = s->conv_channels[j], h /= 2, w /= 2;
        }
        prev = c * h * w;
    }
    for (int i = 0; i <= s->nhidden; i++) {
        int out = i == s->nhidden ? s->out_dim : s->hidden[i];
        f += 3.0 * 2.0 * rows * prev * out; /* forward, input gradient, weight gradient */
        if (s->arch == FM_NN_RNN && i < s->nhidden)
            f += 3.0 * 2.0 * rows * out * out;
        prev = out;
    }
    return f;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "peak")) {
        peak();
        return 0;
    }
    if (argc != 3 || (strcmp(argv[1], "mlp") && strcmp(argv[1], "rnn") && strcmp(argv[1], "cnn"))) {
        fprintf(stderr, "usage: bench_nn mlp|rnn|cnn STEPS | bench_nn peak\n");
        return 2;
    }
    int rnn = !strcmp(argv[1], "rnn"), cnn = !strcmp(argv[1], "cnn"), steps = atoi(argv[2]);
    int T = rnn ? 100 : 1, B = rnn ? 32 : cnn ? 64 : 256;
    fm_nn_spec s = {.arch = rnn ? FM_NN_RNN : FM_NN_MLP, .act = rnn ? FM_NN_TANH : FM_NN_RELU,
                    .in_dim = 39, .out_dim = 4, .nhidden = rnn ? 2 : 3, .hidden = {rnn ? 128 : 512, rnn ? 128 : 512, 512}};
    if (cnn)
        s = (fm_nn_spec){.arch = FM_NN_CNN, .act = FM_NN_RELU, .in_dim = 784, .out_dim = 10, .nhidden = 1,
                         .hidden = {128}, .loss = FM_NN_LOSS_XENT, .nconv = 2, .conv_channels = {32, 64}, .conv_k = 5,
                         .img_c = 1, .img_h = 28, .img_w = 28};
    int od = s.in_dim, ad = s.out_dim;
    fm_model m;
    fm_nn_ws *ws = NULL;
    fm_adam adam;
    fm_err err;
    fm_err_clear(&err);
    if (fm_model_create(&m, &s, &err) || fm_nn_ws_create(&m, T, B, &ws, &err) ||
        fm_adam_create(&adam, m.layout.total, &err)) {
        fprintf(stderr, "bench_nn: %s\n", err.msg);
        return 1;
    }
    fm_rng r;
    fm_rng_seed(&r, 1, 0, 0);
    fm_model_init(&m, &r);
    size_t R = (size_t)T * B;
    float *obs = malloc(sizeof(float) * R * od), *act = calloc(R * ad, sizeof(float));
    float *g = malloc(sizeof(float) * m.layout.total);
    for (size_t i = 0; i < R * od; i++)
        obs[i] = (float)fm_rng_normal(&r);
    for (size_t i = 0; i < R * ad; i++) /* cnn: one-hot class targets */
        act[i] = cnn ? (float)(i % ad == (i / ad) % ad) : (float)fm_rng_normal(&r);
    fm_nn_train_opts o = {.optimizer = FM_OPT_ADAM, .lr = 1e-4};
    double t0 = 0, count = 0;
    double (*clock_fn)(void) = cnn ? cpu_seconds : fm_now;
    for (int it = -2; it < steps; it++) { /* two warm-up steps */
        if (it == 0)
            t0 = clock_fn();
        memset(g, 0, sizeof(float) * m.layout.total);
        count = 0;
        double loss = fm_nn_loss_grad(&m, ws, obs, act, NULL, T, B, g, &count);
        float inv = (float)(1.0 / count);
        for (size_t i = 0; i < m.layout.total; i++)
            g[i] *= inv;
        fm_optimizer_step(&o, &adam, m.w, g);
        (void)loss;
    }
    double dt = clock_fn() - t0;
    printf("%s %.1f %.2f %.1f\n", argv[1], steps * (double)R / dt, steps * step_flops(&s, (int)R) / dt / 1e9,
           max_rss_mib());
    return 0;
}
