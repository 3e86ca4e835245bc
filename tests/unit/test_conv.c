/* test_conv.c - 2-D convolution layers (src/nn/conv): forward against a direct convolution,
 * backward against central finite differences (conv alone and conv -> ReLU -> max pool),
 * channel-permutation invariance of a small CNN, and the shape and workspace helpers.
 *
 * Topics, one function each:
 *   1 test_forward      im2col + GEMM equals a direct 7-loop convolution in double
 *   2 test_gradients    d_weight, d_bias, d_in vs central differences; the += / overwrite contract
 *   3 test_permutation  conv -> conv and conv -> dense channel permutations keep the outputs;
 *                       permuting one side only changes them; bad permutations are refused
 *   4 test_shapes       output sizes, parameter and workspace counts, errors, pooling, ReLU */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "nn/conv.h"
#include "tap.h"

/* ---------------- small helpers ---------------- */

static void fill_uniform(fm_rng *r, size_t n, double lo, double hi, float *x)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(lo + (hi - lo) * fm_rng_uniform(r));
}

static void to_double(size_t n, const float *x, double *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i];
}

/* Random permutation of n, not the identity when n >= 2. */
static void rand_perm(fm_rng *r, int n, int *p)
{
    int moved = 0;
    while (!moved) {
        for (int i = 0; i < n; i++)
            p[i] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = (int)fm_rng_below(r, (uint64_t)i + 1), t = p[i];
            p[i] = p[j], p[j] = t;
        }
        for (int i = 0; i < n; i++)
            moved |= p[i] != i;
        moved |= n < 2;
    }
}

/* max |a - b|; a NaN anywhere (e.g. an output never written) gives +inf. */
static double max_diff(size_t n, const float *a, const float *b)
{
    double w = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        w = d <= w ? w : (isnan(d) ? INFINITY : d);
    }
    return w;
}

static double max_abs(size_t n, const float *a)
{
    double w = 0.0;
    for (size_t i = 0; i < n; i++)
        w = fmax(w, fabs((double)a[i]));
    return w;
}

/* The output size, written here independently of conv.c. */
static int out_size(int in, int k, int stride, int pad) { return (in + 2 * pad - k) / stride + 1; }

static size_t n_params(const fm_conv_shape *s)
{
    return (size_t)s->out_c * s->in_c * s->k * s->k + (size_t)s->out_c;
}

/* Direct convolution in double, 7 loops: out[b][o][y][x] = bias[o] + sum over c, i, j of
 * w[o][c][i][j] in[b][c][y s - p + i][x s - p + j] (zero outside the input). */
static void ref_conv(const fm_conv_shape *s, int B, const double *in, const double *w, double *out)
{
    int oh = out_size(s->in_h, s->k, s->stride, s->pad), ow = out_size(s->in_w, s->k, s->stride, s->pad);
    int k = s->k, C = s->in_c, H = s->in_h, W = s->in_w;
    const double *bias = w + (size_t)s->out_c * C * k * k;
    for (int b = 0; b < B; b++)
        for (int o = 0; o < s->out_c; o++)
            for (int y = 0; y < oh; y++)
                for (int x = 0; x < ow; x++) {
                    double acc = bias[o];
                    for (int c = 0; c < C; c++)
                        for (int i = 0; i < k; i++)
                            for (int j = 0; j < k; j++) {
                                int iy = y * s->stride - s->pad + i, ix = x * s->stride - s->pad + j;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W)
                                    continue;
                                acc += w[((size_t)(o * C + c) * k + i) * k + j] *
                                       in[(((size_t)b * C + c) * H + iy) * W + ix];
                            }
                    out[(((size_t)b * s->out_c + o) * oh + y) * ow + x] = acc;
                }
}

/* ReLU then 2x2 / stride 2 max pooling in double over `planes` maps H x W (first max wins). */
static void ref_relu_pool(int planes, int H, int W, const double *z, double *y)
{
    int oh = H / 2, ow = W / 2;
    for (int p = 0; p < planes; p++)
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++) {
                double best = -INFINITY;
                for (int di = 0; di < 2; di++)
                    for (int dj = 0; dj < 2; dj++)
                        best = fmax(best, fmax(z[((size_t)p * H + 2 * i + di) * W + 2 * j + dj], 0.0));
                y[((size_t)p * oh + i) * ow + j] = best;
            }
}

static void print_err(const fm_err *err)
{
    printf("#   error: %s (at %s)\n", err->msg, err->trace);
}

/* ================= 1. forward vs a direct convolution ================= */

static void check_forward(const fm_conv_shape *s, int B, uint64_t seed)
{
    char label[96];
    snprintf(label, sizeof label, "forward %d->%d ch, %dx%d, k %d, stride %d, pad %d, B %d", s->in_c,
             s->out_c, s->in_h, s->in_w, s->k, s->stride, s->pad, B);
    int oh = out_size(s->in_h, s->k, s->stride, s->pad), ow = out_size(s->in_w, s->k, s->stride, s->pad);
    size_t n_in = (size_t)B * s->in_c * s->in_h * s->in_w, n_par = n_params(s);
    size_t n_out = (size_t)B * s->out_c * oh * ow, n_ws = fm_conv_ws_floats(s);
    float *in = calloc(n_in, sizeof(float)), *par = calloc(n_par, sizeof(float));
    float *out = calloc(n_out, sizeof(float)), *ws = calloc(n_ws + 1, sizeof(float));
    double *in_d = calloc(n_in, sizeof(double)), *par_d = calloc(n_par, sizeof(double));
    double *ref = calloc(n_out, sizeof(double));
    fm_rng r;
    fm_rng_seed(&r, seed, 0, FM_STREAM_DATA);
    fill_uniform(&r, n_in, -1.0, 1.0, in);
    fill_uniform(&r, n_par, -1.0, 1.0, par);
    to_double(n_in, in, in_d);
    to_double(n_par, par, par_d);
    for (size_t i = 0; i < n_out; i++)
        out[i] = NAN; /* every output must be written */
    for (size_t i = 0; i <= n_ws; i++)
        ws[i] = NAN; /* a dirty workspace must not leak into the result */
    fm_err err;
    fm_err_clear(&err);
    if (!ok(fm_conv_forward(out, in, par, s, B, ws, n_ws, &err) == FM_OK, "%s: runs", label))
        print_err(&err);
    ref_conv(s, B, in_d, par_d, ref);
    double worst = 0.0;
    for (size_t i = 0; i < n_out; i++) {
        double d = fabs((double)out[i] - ref[i]);
        worst = d <= worst ? worst : (isnan(d) ? INFINITY : d);
    }
    is_close(worst, 0.0, 1e-4, 0.0, "%s: equals the direct convolution (max abs error)", label);
    free(in), free(par), free(out), free(ws), free(in_d), free(par_d), free(ref);
}

static void test_forward(void)
{
    uint64_t seed = 100;
    for (int in_c = 1; in_c <= 3; in_c += 2)
        for (int k = 3; k <= 5; k += 2)
            for (int stride = 1; stride <= 2; stride++)
                for (int pad = 0; pad <= 2; pad++) {
                    /* 9 x 8: a non-square map catches swapped height and width */
                    fm_conv_shape s = {.in_c = in_c, .in_h = 9, .in_w = 8, .out_c = 4, .k = k,
                                       .stride = stride, .pad = pad};
                    check_forward(&s, 2, seed++);
                }
    /* the Fashion-MNIST first layer and a kernel covering the whole padded input (1 x 1 out) */
    check_forward(&(fm_conv_shape){1, 28, 28, 32, 5, 1, 2}, 2, seed++);
    check_forward(&(fm_conv_shape){2, 3, 4, 4, 5, 1, 1}, 2, seed++);
    check_forward(&(fm_conv_shape){2, 6, 5, 3, 1, 1, 0}, 3, seed++);
}

/* ================= 2. gradients vs central finite differences ================= */

/* Protocol. The loss is L = sum(y * g) with a fixed random g, where y is the conv output or,
 * for a chain, maxpool(relu(conv)); L is summed in double. Every entry of the weights, biases
 * and inputs is checked two ways:
 *   (a) against the central difference of a double-precision reference (ref_conv etc.): with
 *       no ReLU kink or pooling tie inside the step (below), L is linear in each entry along
 *       the segment, so this difference is the exact derivative up to double rounding. The
 *       analytic float32 gradient then differs only by its own rounding (sums of <= 100
 *       products of magnitude <= 1 in float: ~1e-6), so REF_ATOL 2e-5 + REF_RTOL 1e-4.
 *   (b) against the central difference of the float32 implementation itself. Linearity makes
 *       the step's truncation error zero, so a large step is best: its error is the float
 *       rounding of the affected outputs, about sqrt(2 x 100 outputs) x 6e-8 x |y g| (<= 3)
 *       / (2 FD_H) ~ 3e-4 at FD_H = 5e-3, against gradients of size ~1-5: FD_ATOL = FD_RTOL =
 *       1e-3. The step divides by the float values actually taken ((float)(v +- h)).
 * Kinks by construction: inputs and weights lie in [-1, 1], so changing one entry by FD_H moves
 * any pre-activation by at most FD_H. A chain's data are accepted only if every pre-activation
 * is at least FD_MARGIN = 4 FD_H from 0 and every pooling window's largest ReLU output beats the
 * second by FD_MARGIN (when positive): no step can cross a kink or swap a winner. Draws are
 * repeated with the next seed until this holds (deterministic; the count is reported). */
#define FD_H 5e-3
#define FD_MARGIN 2e-2
#define FD_ATOL 1e-3
#define FD_RTOL 1e-3
#define REF_ATOL 2e-5
#define REF_RTOL 1e-4

typedef struct grad_case {
    const char *label;
    fm_conv_shape s;
    int B, chain, oh, ow;                 /* conv output map; chain: conv -> ReLU -> max pool */
    size_t n_in, n_par, n_z, n_y, n_ws;   /* n_y: the final output (pooled for a chain) */
    float *in, *par, *g;                  /* g [n_y]: L = sum y g */
    float *ws, *z, *y, *dz;
    int *arg;
    double *in_d, *par_d, *zd, *yd;       /* double copies and reference activations */
} grad_case;

static void gc_alloc(grad_case *gc, const char *label, fm_conv_shape s, int B, int chain)
{
    *gc = (grad_case){.label = label, .s = s, .B = B, .chain = chain};
    gc->oh = out_size(s.in_h, s.k, s.stride, s.pad), gc->ow = out_size(s.in_w, s.k, s.stride, s.pad);
    gc->n_in = (size_t)B * s.in_c * s.in_h * s.in_w, gc->n_par = n_params(&s);
    gc->n_z = (size_t)B * s.out_c * gc->oh * gc->ow;
    gc->n_y = chain ? (size_t)B * s.out_c * (gc->oh / 2) * (gc->ow / 2) : gc->n_z;
    gc->n_ws = fm_conv_ws_floats(&s);
    gc->in = calloc(gc->n_in, sizeof(float)), gc->par = calloc(gc->n_par, sizeof(float));
    gc->g = calloc(gc->n_y, sizeof(float)), gc->ws = calloc(gc->n_ws, sizeof(float));
    gc->z = calloc(gc->n_z, sizeof(float)), gc->dz = calloc(gc->n_z, sizeof(float));
    gc->y = calloc(gc->n_y, sizeof(float)), gc->arg = calloc(gc->n_y, sizeof(int));
    gc->in_d = calloc(gc->n_in, sizeof(double)), gc->par_d = calloc(gc->n_par, sizeof(double));
    gc->zd = calloc(gc->n_z, sizeof(double)), gc->yd = calloc(gc->n_y, sizeof(double));
}

static void gc_free(grad_case *gc)
{
    free(gc->in), free(gc->par), free(gc->g), free(gc->ws), free(gc->z), free(gc->dz);
    free(gc->y), free(gc->arg), free(gc->in_d), free(gc->par_d), free(gc->zd), free(gc->yd);
}

/* L of the implementation (float32 activations, double sum); NAN on an error. */
static double loss_impl(grad_case *gc)
{
    const fm_conv_shape *s = &gc->s;
    fm_err err;
    fm_err_clear(&err);
    if (fm_conv_forward(gc->z, gc->in, gc->par, s, gc->B, gc->ws, gc->n_ws, &err) != FM_OK)
        return NAN;
    const float *y = gc->z;
    if (gc->chain) {
        fm_conv_relu_forward(gc->z, gc->z, gc->n_z);
        if (fm_conv_pool_forward(gc->y, gc->arg, gc->z, gc->B, s->out_c, gc->oh, gc->ow, &err) != FM_OK)
            return NAN;
        y = gc->y;
    }
    double L = 0.0;
    for (size_t i = 0; i < gc->n_y; i++)
        L += (double)y[i] * gc->g[i];
    return L;
}

/* L of the double reference on in_d, par_d (fills zd, and yd for a chain). */
static double loss_ref(grad_case *gc)
{
    ref_conv(&gc->s, gc->B, gc->in_d, gc->par_d, gc->zd);
    const double *y = gc->zd;
    if (gc->chain) {
        ref_relu_pool(gc->B * gc->s.out_c, gc->oh, gc->ow, gc->zd, gc->yd);
        y = gc->yd;
    }
    double L = 0.0;
    for (size_t i = 0; i < gc->n_y; i++)
        L += y[i] * gc->g[i];
    return L;
}

/* Distance of the reference chain from its nearest kink (after loss_ref): min |z| over all
 * pre-activations and min (largest - second largest ReLU output) over windows with a positive
 * winner. */
static double chain_margin(const grad_case *gc)
{
    double m = INFINITY;
    for (size_t i = 0; i < gc->n_z; i++)
        m = fmin(m, fabs(gc->zd[i]));
    int H = gc->oh, W = gc->ow;
    for (int p = 0; p < gc->B * gc->s.out_c; p++)
        for (int i = 0; i + 1 < H; i += 2)
            for (int j = 0; j + 1 < W; j += 2) {
                double first = 0.0, second = 0.0;
                for (int d = 0; d < 4; d++) {
                    double v = fmax(gc->zd[((size_t)p * H + i + d / 2) * W + j + d % 2], 0.0);
                    if (v > first)
                        second = first, first = v;
                    else if (v > second)
                        second = v;
                }
                if (first > 0.0)
                    m = fmin(m, first - second);
            }
    return m;
}

/* Inputs, weights in [-1, 1], biases in [-0.5, 0.5], g in [-1, 1]; chains redraw until the
 * margin holds. Returns the number of draws (0 if none of 1000 qualified). */
static int gc_draw(grad_case *gc, uint64_t seed)
{
    size_t nw = gc->n_par - (size_t)gc->s.out_c;
    for (int draw = 1; draw <= 1000; draw++) {
        fm_rng r;
        fm_rng_seed(&r, seed, (uint64_t)draw, FM_STREAM_DATA);
        fill_uniform(&r, gc->n_in, -1.0, 1.0, gc->in);
        fill_uniform(&r, nw, -1.0, 1.0, gc->par);
        fill_uniform(&r, (size_t)gc->s.out_c, -0.5, 0.5, gc->par + nw);
        fill_uniform(&r, gc->n_y, -1.0, 1.0, gc->g);
        to_double(gc->n_in, gc->in, gc->in_d);
        to_double(gc->n_par, gc->par, gc->par_d);
        loss_ref(gc);
        if (!gc->chain || chain_margin(gc) >= FD_MARGIN)
            return draw;
    }
    return 0;
}

/* Analytic gradients: d_par += dL/d par; d_in = dL/d in unless NULL. */
static fm_status grad_impl(grad_case *gc, float *d_par, float *d_in, fm_err *err)
{
    fm_status status = FM_OK;
    const fm_conv_shape *s = &gc->s;
    FM_CHECK(isfinite(loss_impl(gc)), FM_EINVAL, "forward failed");
    if (gc->chain) {
        FM_TRY(fm_conv_pool_backward(gc->dz, gc->g, gc->arg, gc->B, s->out_c, gc->oh, gc->ow, err));
        fm_conv_relu_backward(gc->dz, gc->dz, gc->z, gc->n_z);
    } else {
        memcpy(gc->dz, gc->g, sizeof(float) * gc->n_z);
    }
    FM_TRY(fm_conv_backward(d_par, d_in, gc->dz, gc->in, gc->par, s, gc->B, gc->ws, gc->n_ws, err));
cleanup:
    return status;
}

typedef struct fd_tally {
    size_t n, failed, ref_failed;
    double worst, ref_worst; /* max err / tol */
} fd_tally;

/* Both central differences for entry v (float) / vd (its double copy) against `ana`. */
static void fd_entry(grad_case *gc, float *v, double *vd, double ana, const char *what, size_t idx,
                     fd_tally *t)
{
    float v0 = *v, vp = (float)(v0 + FD_H), vm = (float)(v0 - FD_H);
    *v = vp, *vd = vp;
    double lp = loss_impl(gc), rp = loss_ref(gc);
    *v = vm, *vd = vm;
    double lm = loss_impl(gc), rm = loss_ref(gc);
    *v = v0, *vd = v0;
    double step = (double)vp - (double)vm, fd = (lp - lm) / step, exact = (rp - rm) / step;
    double tol = FD_ATOL + FD_RTOL * fmax(fabs(fd), fabs(ana));
    double rtol = REF_ATOL + REF_RTOL * fmax(fabs(exact), fabs(ana));
    double e = fabs(fd - ana), re = fabs(exact - ana);
    t->n++;
    t->worst = fmax(t->worst, isnan(e) ? INFINITY : e / tol);
    t->ref_worst = fmax(t->ref_worst, isnan(re) ? INFINITY : re / rtol);
    if (!(e <= tol) && t->failed++ < 5)
        printf("#   %s: %s[%zu] analytic %.7g, float32 FD %.7g\n", gc->label, what, idx, ana, fd);
    if (!(re <= rtol) && t->ref_failed++ < 5)
        printf("#   %s: %s[%zu] analytic %.7g, double FD %.7g\n", gc->label, what, idx, ana, exact);
}

static void report_tally(const grad_case *gc, const char *what, const fd_tally *t)
{
    ok(t->n > 0 && t->ref_failed == 0, "%s: %s equals the double-precision FD for all %zu entries "
       "(worst err/tol %.3f)", gc->label, what, t->n, t->ref_worst);
    ok(t->n > 0 && t->failed == 0, "%s: %s matches the float32 FD for all %zu entries (worst "
       "err/tol %.3f)", gc->label, what, t->n, t->worst);
}

/* The backward contract: weight/bias gradients accumulate (+=); d_in is overwritten (NaN before);
 * d_in = NULL skips it and gives the same parameter gradient bit for bit. */
static void check_contract(grad_case *gc, const float *d_par, const float *d_in)
{
    fm_err err;
    fm_err_clear(&err);
    float *p2 = calloc(gc->n_par, sizeof(float)), *p3 = calloc(gc->n_par, sizeof(float));
    float *in2 = calloc(gc->n_in, sizeof(float));
    memcpy(p2, d_par, sizeof(float) * gc->n_par);
    for (size_t i = 0; i < gc->n_in; i++)
        in2[i] = NAN;
    int ran = grad_impl(gc, p2, in2, &err) == FM_OK && grad_impl(gc, p3, NULL, &err) == FM_OK;
    if (!ran)
        print_err(&err);
    double worst = 0.0;
    for (size_t i = 0; i < gc->n_par; i++)
        worst = fmax(worst, fabs(p2[i] - 2.0 * d_par[i]) / (1e-6 + fabs(d_par[i])));
    ok(ran && worst <= 1e-5, "%s: parameter gradients accumulate (+=): a second call doubles them "
       "(worst rel %.2g)", gc->label, worst);
    ok(ran && max_diff(gc->n_in, in2, d_in) == 0.0, "%s: d_in is overwritten, not accumulated",
       gc->label);
    ok(ran && memcmp(p3, d_par, sizeof(float) * gc->n_par) == 0,
       "%s: d_in = NULL gives the same parameter gradient bit for bit", gc->label);
    free(p2), free(p3), free(in2);
}

static void check_grad(const char *label, fm_conv_shape s, int chain, uint64_t seed)
{
    grad_case gc;
    gc_alloc(&gc, label, s, 2, chain);
    int draws = gc_draw(&gc, seed);
    if (chain)
        ok(draws > 0, "%s: data with kink margin >= %g found (draw %d)", label, FD_MARGIN, draws);
    float *d_par = calloc(gc.n_par, sizeof(float)), *d_in = calloc(gc.n_in, sizeof(float));
    fm_err err;
    fm_err_clear(&err);
    if (!ok(draws > 0 && grad_impl(&gc, d_par, d_in, &err) == FM_OK, "%s: backward runs", label)) {
        print_err(&err);
        goto done;
    }
    size_t nw = gc.n_par - (size_t)s.out_c;
    fd_tally tw = {0}, tb = {0}, ti = {0};
    for (size_t i = 0; i < gc.n_par; i++)
        fd_entry(&gc, &gc.par[i], &gc.par_d[i], d_par[i], i < nw ? "d_weight" : "d_bias",
                 i < nw ? i : i - nw, i < nw ? &tw : &tb);
    for (size_t i = 0; i < gc.n_in; i++)
        fd_entry(&gc, &gc.in[i], &gc.in_d[i], d_in[i], "d_in", i, &ti);
    report_tally(&gc, "d_weight", &tw);
    report_tally(&gc, "d_bias", &tb);
    report_tally(&gc, "d_in", &ti);
    check_contract(&gc, d_par, d_in);
done:
    free(d_par), free(d_in);
    gc_free(&gc);
}

static void test_gradients(void)
{
    check_grad("grad conv 3->4, 7x6, k 3, stride 1, pad 1", (fm_conv_shape){3, 7, 6, 4, 3, 1, 1}, 0, 201);
    check_grad("grad conv 2->4, 9x8, k 5, stride 2, pad 2", (fm_conv_shape){2, 9, 8, 4, 5, 2, 2}, 0, 202);
    /* stride 2 without padding on 8 rows: the last input row is never read (gradient 0) */
    check_grad("grad conv 1->4, 8x7, k 3, stride 2, pad 0", (fm_conv_shape){1, 8, 7, 4, 3, 2, 0}, 0, 203);
    /* chains; odd maps (6 x 7, 5 x 5) also check that the dropped row/column gets no gradient */
    check_grad("grad chain 2->3, 6x7, k 3, pad 1 -> relu -> pool", (fm_conv_shape){2, 6, 7, 3, 3, 1, 1},
               1, 204);
    check_grad("grad chain 1->3, 9x9, k 5, stride 2, pad 2 -> relu -> pool",
               (fm_conv_shape){1, 9, 9, 3, 5, 2, 2}, 1, 205);
}

/* ================= 3. channel permutations ================= */

/* conv1 (1 -> 4, k 3, pad 1) on 8 x 8 -> ReLU -> pool -> conv2 (4 -> 5, k 3, pad 1) on 4 x 4 ->
 * ReLU -> flatten [5][4][4] -> dense [3 x 80] + bias. */
enum { NET_B = 3, NET_HW = 8, NET_C1 = 4, NET_C2 = 5, NET_OUT = 3, NET_FLAT = NET_C2 * 16 };

typedef struct tiny_cnn {
    fm_conv_shape c1, c2;
    float p1[NET_C1 * 9 + NET_C1], p2[NET_C2 * NET_C1 * 9 + NET_C2];
    float wd[NET_OUT * NET_FLAT], bd[NET_OUT];
} tiny_cnn;

static void cnn_init(tiny_cnn *net, fm_rng *r)
{
    net->c1 = (fm_conv_shape){1, NET_HW, NET_HW, NET_C1, 3, 1, 1};
    net->c2 = (fm_conv_shape){NET_C1, NET_HW / 2, NET_HW / 2, NET_C2, 3, 1, 1};
    /* 3 x PyTorch's default bound 1 / sqrt(fan_in): outputs of order 1, so that the absolute
     * tolerance 1e-5 below is a tight relative one */
    fill_uniform(r, sizeof net->p1 / sizeof(float), -1.0, 1.0, net->p1);
    fill_uniform(r, sizeof net->p2 / sizeof(float), -0.5, 0.5, net->p2);
    fill_uniform(r, NET_OUT * NET_FLAT, -3.0 / sqrt(NET_FLAT), 3.0 / sqrt(NET_FLAT), net->wd);
    fill_uniform(r, NET_OUT, -3.0 / sqrt(NET_FLAT), 3.0 / sqrt(NET_FLAT), net->bd);
}

/* y [NET_B][NET_OUT] from x [NET_B][1][8][8]; pool1 [NET_B][4][4][4] (may be NULL) gets the
 * pooled conv1 maps. Returns 0 on an error (printed). */
static int cnn_forward(const tiny_cnn *net, const float *x, float *y, float *pool1)
{
    enum { Z1 = NET_B * NET_C1 * 64, P1 = NET_B * NET_C1 * 16, Z2 = NET_B * NET_C2 * 16 };
    float z1[Z1], p1[P1], z2[Z2], ws[NET_C1 * 9 * 64];
    int arg[P1];
    size_t n_ws = sizeof ws / sizeof(float);
    fm_status status = FM_OK;
    fm_err e, *err = &e;
    fm_err_clear(err);
    FM_CHECK(fm_conv_ws_floats(&net->c1) <= n_ws && fm_conv_ws_floats(&net->c2) <= n_ws, FM_EINVAL,
             "workspace too small");
    FM_TRY(fm_conv_forward(z1, x, net->p1, &net->c1, NET_B, ws, n_ws, err));
    fm_conv_relu_forward(z1, z1, Z1);
    FM_TRY(fm_conv_pool_forward(p1, arg, z1, NET_B, NET_C1, NET_HW, NET_HW, err));
    FM_TRY(fm_conv_forward(z2, p1, net->p2, &net->c2, NET_B, ws, n_ws, err));
    fm_conv_relu_forward(z2, z2, Z2);
    for (int b = 0; b < NET_B; b++)
        for (int o = 0; o < NET_OUT; o++) {
            double acc = net->bd[o];
            for (int j = 0; j < NET_FLAT; j++)
                acc += (double)net->wd[o * NET_FLAT + j] * z2[b * NET_FLAT + j];
            y[b * NET_OUT + o] = (float)acc;
        }
    if (pool1)
        memcpy(pool1, p1, sizeof p1);
cleanup:
    if (status != FM_OK)
        print_err(err);
    return status == FM_OK;
}

/* max |y(a) - y(b)| on x. */
static double cnn_diff(const tiny_cnn *a, const tiny_cnn *b, const float *x, double *scale)
{
    float ya[NET_B * NET_OUT], yb[NET_B * NET_OUT];
    if (!cnn_forward(a, x, ya, NULL) || !cnn_forward(b, x, yb, NULL))
        return INFINITY;
    *scale = max_abs(NET_B * NET_OUT, ya);
    return max_diff(NET_B * NET_OUT, ya, yb);
}

static fm_conv_next next_conv(const fm_conv_shape *s)
{
    return (fm_conv_next){.kind = FM_CONV_NEXT_CONV, .conv = *s};
}

static fm_conv_next next_dense(int rows, int hw)
{
    return (fm_conv_next){.kind = FM_CONV_NEXT_DENSE, .rows = rows, .hw = hw};
}

/* Every conv1 channel i of a appears as channel perm[i] of b (pooled maps). */
static int hidden_moved(const tiny_cnn *a, const tiny_cnn *b, const float *x, const int *perm)
{
    float pa[NET_B * NET_C1 * 16], pb[NET_B * NET_C1 * 16], y[NET_B * NET_OUT];
    if (!cnn_forward(a, x, y, pa) || !cnn_forward(b, x, y, pb))
        return 0;
    double worst = 0.0;
    for (int n = 0; n < NET_B; n++)
        for (int c = 0; c < NET_C1; c++)
            worst = fmax(worst, max_diff(16, pa + (n * NET_C1 + c) * 16, pb + (n * NET_C1 + perm[c]) * 16));
    return worst <= 1e-6;
}

static void check_invariance(const tiny_cnn *net, const float *x, fm_rng *r)
{
    int perm1[NET_C1], perm2[NET_C2];
    rand_perm(r, NET_C1, perm1);
    rand_perm(r, NET_C2, perm2);
    fm_conv_next n1 = next_conv(&net->c2), n2 = next_dense(NET_OUT, 16);
    tiny_cnn a = *net, b = *net, both = *net;
    fm_err err;
    fm_err_clear(&err);
    double scale = 0.0, d;
    int st = fm_conv_permute(a.p1, a.p2, &a.c1, &n1, perm1, &err) == FM_OK;
    st &= fm_conv_permute(b.p2, b.wd, &b.c2, &n2, perm2, &err) == FM_OK;
    st &= fm_conv_permute(both.p1, both.p2, &both.c1, &n1, perm1, &err) == FM_OK;
    st &= fm_conv_permute(both.p2, both.wd, &both.c2, &n2, perm2, &err) == FM_OK;
    if (!ok(st, "perm: fm_conv_permute succeeds"))
        print_err(&err);
    ok(memcmp(a.p1, net->p1, sizeof a.p1) != 0 && memcmp(a.p2, net->p2, sizeof a.p2) != 0 &&
           memcmp(b.wd, net->wd, sizeof b.wd) != 0, "perm: the permuted parameters differ");
    int moved = 1;
    for (int o = 0; o < NET_C1; o++)
        moved &= a.p1[NET_C1 * 9 + perm1[o]] == net->p1[NET_C1 * 9 + o] &&
                 !memcmp(a.p1 + perm1[o] * 9, net->p1 + o * 9, 9 * sizeof(float));
    ok(moved, "perm: output channel i (weight row, bias) moves to position perm[i]");
    ok(hidden_moved(net, &a, x, perm1), "perm: conv1's pooled map i reappears as map perm[i]");
    d = cnn_diff(net, &a, x, &scale);
    ok(d < 1e-5, "perm: conv1 -> conv2 channels permuted: outputs equal (max abs diff %.2g, "
       "outputs up to %.2g)", d, scale);
    d = cnn_diff(net, &b, x, &scale);
    ok(d < 1e-5, "perm: conv2 -> dense channels permuted: outputs equal (max abs diff %.2g)", d);
    d = cnn_diff(net, &both, x, &scale);
    ok(d < 1e-5, "perm: both layers permuted: outputs equal (max abs diff %.2g)", d);
    ok(scale > 0.5, "perm: the outputs are of order 1 (max %.3g)", scale);
}

/* Permuting one side only (or the dense columns one by one instead of in blocks) changes the
 * outputs: the invariance checks above can fail. */
static void check_mutations(const tiny_cnn *net, const float *x, fm_rng *r)
{
    int perm1[NET_C1], perm2[NET_C2];
    rand_perm(r, NET_C1, perm1);
    rand_perm(r, NET_C2, perm2);
    tiny_cnn m = *net;
    double scale = 0.0, d;
    fm_conv_permute_out(&net->c1, perm1, net->p1, m.p1);
    d = cnn_diff(net, &m, x, &scale);
    ok(d > 1e-3 * scale, "mutation: conv1's outputs permuted without conv2's inputs changes the "
       "outputs (max diff %.3g)", d);
    m = *net;
    fm_conv_permute_in(&net->c2, perm1, net->p2, m.p2);
    d = cnn_diff(net, &m, x, &scale);
    ok(d > 1e-3 * scale, "mutation: conv2's inputs permuted alone changes the outputs (%.3g)", d);
    m = *net;
    fm_conv_permute_out(&net->c2, perm2, net->p2, m.p2);
    d = cnn_diff(net, &m, x, &scale);
    ok(d > 1e-3 * scale, "mutation: conv2's outputs permuted without the dense columns changes "
       "the outputs (%.3g)", d);
    m = *net;
    fm_conv_permute_out(&net->c2, perm2, net->p2, m.p2);
    fm_conv_permute_dense_in(NET_OUT, NET_C2, 1, perm2, net->wd, m.wd); /* blocks of 1, not 16 */
    d = cnn_diff(net, &m, x, &scale);
    ok(d > 1e-3 * scale, "mutation: dense columns permuted singly instead of in blocks of H*W "
       "changes the outputs (%.3g)", d);
}

static void check_perm_error(const char *label, const tiny_cnn *net, const fm_conv_shape *s,
                             const fm_conv_next *next, const int *perm, const char *want)
{
    tiny_cnn m = *net;
    fm_err err;
    fm_err_clear(&err);
    fm_status st = fm_conv_permute(m.p1, m.p2, s, next, perm, &err);
    is_int(st, FM_EINVAL, "perm error (%s): FM_EINVAL", label);
    has_str(err.msg, want, "perm error (%s): message", label);
    ok(!memcmp(&m, net, sizeof m), "perm error (%s): buffers untouched", label);
}

static void test_permutation(void)
{
    fm_rng r;
    fm_rng_seed(&r, 301, 0, FM_STREAM_MERGE);
    tiny_cnn net;
    cnn_init(&net, &r);
    float x[NET_B * NET_HW * NET_HW];
    fill_uniform(&r, sizeof x / sizeof(float), -1.0, 1.0, x);
    check_invariance(&net, x, &r);
    check_mutations(&net, x, &r);

    /* the identity changes nothing, bit for bit */
    tiny_cnn id = net;
    fm_conv_next n1 = next_conv(&net.c2);
    fm_err err;
    fm_err_clear(&err);
    ok(fm_conv_permute(id.p1, id.p2, &id.c1, &n1, (const int[]){0, 1, 2, 3}, &err) == FM_OK &&
           !memcmp(&id, &net, sizeof id), "perm: the identity leaves the parameters bit for bit");

    fm_conv_shape c1 = net.c1, wrong = net.c2;
    wrong.in_c = 3;
    fm_conv_next bad_conv = next_conv(&wrong), bad_dense = next_dense(NET_OUT, 0), bad_kind = n1;
    bad_kind.kind = FM_CONV_NEXT_KIND_COUNT;
    check_perm_error("repeated entry", &net, &c1, &n1, (const int[]){0, 1, 1, 3}, "not a permutation");
    check_perm_error("entry out of range", &net, &c1, &n1, (const int[]){0, 1, 4, 2}, "outside 0..3");
    check_perm_error("negative entry", &net, &c1, &n1, (const int[]){0, -1, 2, 3}, "outside 0..3");
    check_perm_error("next conv in_c", &net, &c1, &bad_conv, (const int[]){1, 0, 2, 3},
                     "the next conv reads in_c = 3 channels, this layer has out_c = 4");
    check_perm_error("dense hw 0", &net, &c1, &bad_dense, (const int[]){1, 0, 2, 3}, "hw >= 1");
    check_perm_error("next kind", &net, &c1, &bad_kind, (const int[]){1, 0, 2, 3}, "unknown next layer kind");
}

/* ================= 4. shapes, workspace, errors, pooling, ReLU ================= */

static void check_shape(const char *label, fm_conv_shape s, int want_h, int want_w)
{
    int oh = -1, ow = -1;
    fm_err err;
    fm_err_clear(&err);
    if (!ok(fm_conv_check(&s, &oh, &ow, &err) == FM_OK, "shape %s: valid", label))
        print_err(&err);
    ok(oh == want_h && ow == want_w, "shape %s: output %d x %d (want %d x %d)", label, oh, ow, want_h,
       want_w);
    is_int(fm_conv_nparams(&s), (long long)s.out_c * s.in_c * s.k * s.k + s.out_c,
           "shape %s: parameters out_c in_c k k + out_c", label);
    is_int(fm_conv_ws_floats(&s), (long long)s.in_c * s.k * s.k * want_h * want_w,
           "shape %s: workspace in_c k k x out_h out_w", label);
}

static void check_bad_shape(const char *label, fm_conv_shape s, const char *want)
{
    fm_err err;
    fm_err_clear(&err);
    int oh = -7, ow = -7;
    is_int(fm_conv_check(&s, &oh, &ow, &err), FM_EINVAL, "bad shape (%s): FM_EINVAL", label);
    has_str(err.msg, want, "bad shape (%s): the message says why", label);
    ok(oh == -7 && ow == -7, "bad shape (%s): no output size written", label);
    ok(fm_conv_nparams(&s) == 0 && fm_conv_ws_floats(&s) == 0,
       "bad shape (%s): nparams and ws_floats are 0", label);
}

static void test_shape_helpers(void)
{
    check_shape("28x28 k 5 pad 2", (fm_conv_shape){1, 28, 28, 32, 5, 1, 2}, 28, 28);
    check_shape("28x28 k 3 stride 2 pad 1", (fm_conv_shape){3, 28, 28, 8, 3, 2, 1}, 14, 14);
    check_shape("28x28 k 5 no pad", (fm_conv_shape){1, 28, 28, 4, 5, 1, 0}, 24, 24);
    check_shape("k = in + 2 pad (one output)", (fm_conv_shape){2, 3, 3, 4, 5, 1, 1}, 1, 1);
    check_shape("stride beyond the input", (fm_conv_shape){1, 5, 7, 2, 3, 9, 0}, 1, 1);
    check_shape("9x8 k 5 stride 2 pad 0", (fm_conv_shape){1, 9, 8, 2, 5, 2, 0}, 3, 2);

    check_bad_shape("k > in_h + 2 pad", (fm_conv_shape){1, 3, 9, 4, 6, 1, 1},
                    "kernel k = 6 exceeds the padded input height in_h + 2 pad = 3 + 2*1 = 5");
    check_bad_shape("k > in_w + 2 pad", (fm_conv_shape){1, 9, 2, 4, 3, 1, 0},
                    "kernel k = 3 exceeds the padded input width in_w + 2 pad = 2 + 2*0 = 2");
    check_bad_shape("in_c 0", (fm_conv_shape){0, 5, 5, 4, 3, 1, 1}, "in_c, in_h, in_w must be >= 1");
    check_bad_shape("in_h 0", (fm_conv_shape){1, 0, 5, 4, 3, 1, 1}, "got 1, 0, 5");
    check_bad_shape("out_c 0", (fm_conv_shape){1, 5, 5, 0, 3, 1, 1}, "out_c must be >= 1, got 0");
    check_bad_shape("k 0", (fm_conv_shape){1, 5, 5, 4, 0, 1, 1}, "kernel k must be >= 1, got 0");
    check_bad_shape("stride 0", (fm_conv_shape){1, 5, 5, 4, 3, 0, 1}, "stride must be >= 1, got 0");
    check_bad_shape("pad -1", (fm_conv_shape){1, 5, 5, 4, 3, 1, -1}, "pad must be >= 0, got -1");
    check_bad_shape("image over 2^31 floats", (fm_conv_shape){4, 30000, 30000, 1, 1, 1, 0}, "too large");
    check_bad_shape("weight over 2^31 floats", (fm_conv_shape){60000, 9, 9, 60000, 1, 1, 0}, "too large");
    check_bad_shape("huge pad", (fm_conv_shape){1, 1, 1, 1, 1, 1, 2000000000}, "too large");
    fm_err err;
    fm_err_clear(&err);
    ok(fm_conv_check(NULL, NULL, NULL, &err) == FM_EINVAL && strstr(err.msg, "NULL"),
       "bad shape (NULL): FM_EINVAL naming NULL");
    ok(fm_conv_nparams(NULL) == 0 && fm_conv_ws_floats(NULL) == 0, "NULL shape: sizes 0");
}

/* Calls refused at the boundary: short workspace, negative batch, NULL buffers; nothing written. */
static void test_call_errors(void)
{
    fm_conv_shape s = {2, 6, 5, 3, 3, 1, 1};
    size_t n_ws = fm_conv_ws_floats(&s), n_out = 2 * 3 * 30;
    float in[120] = {0}, par[3 * 18 + 3] = {0}, out[180], ws[2 * 9 * 30], d_par[57] = {0};
    for (size_t i = 0; i < n_out; i++)
        out[i] = 7.0f;
    fm_err err;
    fm_err_clear(&err);
    is_int(fm_conv_forward(out, in, par, &s, 2, ws, n_ws - 1, &err), FM_EINVAL,
           "forward with a short workspace: FM_EINVAL");
    has_str(err.msg, "workspace of 539 floats, fm_conv_ws_floats needs 540",
            "forward: the message gives both sizes");
    int untouched = 1;
    for (size_t i = 0; i < n_out; i++)
        untouched &= out[i] == 7.0f;
    ok(untouched, "forward refused: the output is untouched");
    fm_err_clear(&err);
    is_int(fm_conv_backward(d_par, NULL, out, in, par, &s, 2, ws, 0, &err), FM_EINVAL,
           "backward with a short workspace: FM_EINVAL");
    has_str(err.msg, "conv backward: workspace", "backward: message names the pass");
    fm_err_clear(&err);
    is_int(fm_conv_forward(out, in, par, &s, -1, ws, n_ws, &err), FM_EINVAL, "B = -1: FM_EINVAL");
    has_str(err.msg, "batch size B must be >= 0, got -1", "B = -1: message");
    fm_err_clear(&err);
    is_int(fm_conv_forward(out, NULL, par, &s, 2, ws, n_ws, &err), FM_EINVAL, "NULL input: FM_EINVAL");
    has_str(err.msg, "NULL buffer", "NULL input: message");
    fm_err_clear(&err);
    is_int(fm_conv_backward(NULL, NULL, out, in, par, &s, 1, ws, n_ws, &err), FM_EINVAL,
           "NULL d_params: FM_EINVAL");
    fm_err_clear(&err);
    ok(fm_conv_forward(NULL, NULL, NULL, &s, 0, NULL, 0, &err) == FM_OK &&
           fm_conv_backward(NULL, NULL, NULL, NULL, NULL, &s, 0, NULL, 0, &err) == FM_OK,
       "B = 0: nothing to do, NULL buffers accepted");
    fm_err_clear(&err);
    s.k = 9;
    is_int(fm_conv_forward(out, in, par, &s, 2, ws, n_ws, &err), FM_EINVAL, "forward on a bad shape");
    has_str(err.msg, "exceeds the padded input", "forward on a bad shape: message");
}

static void test_pool_relu(void)
{
    /* 1 image, 2 planes of 5 x 7: 2 x 3 windows each; the last row and column are dropped */
    enum { H = 5, W = 7, C = 2 };
    float in[C * H * W], out[C * 6], d_out[C * 6], d_in[C * H * W];
    int arg[C * 6];
    for (int i = 0; i < C * H * W; i++)
        in[i] = (float)((i * 37) % 23) - 11.0f; /* distinct within each window */
    for (int j = 0; j < W; j++)
        in[(H - 1) * W + j] = 100.0f; /* plane 0's dropped last row holds the largest values */
    in[35 + 0] = in[35 + 1] = in[35 + W] = in[35 + W + 1] = 3.0f; /* a 4-way tie in plane 1 */
    fm_err err;
    fm_err_clear(&err);
    ok(fm_conv_pool_forward(out, arg, in, 1, C, H, W, &err) == FM_OK, "pool 5x7: runs");
    int good = 1;
    for (int p = 0; p < C; p++)
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++) {
                const float *x = in + p * H * W;
                int q = 2 * i * W + 2 * j, best = q;
                int cand[4] = {q, q + 1, q + W, q + W + 1};
                for (int t = 1; t < 4; t++)
                    if (x[cand[t]] > x[best])
                        best = cand[t];
                good &= out[p * 6 + i * 3 + j] == x[best] && arg[p * 6 + i * 3 + j] == best;
            }
    ok(good, "pool 5x7: floor(H/2) x floor(W/2) window maxima and their in-plane indices");
    ok(out[6] == 3.0f && arg[6] == 0, "pool: a tie goes to the first entry of the window");
    for (int i = 0; i < C * 6; i++)
        d_out[i] = (float)(i + 1);
    for (int i = 0; i < C * H * W; i++)
        d_in[i] = NAN;
    ok(fm_conv_pool_backward(d_in, d_out, arg, 1, C, H, W, &err) == FM_OK, "pool backward: runs");
    double sum = 0.0;
    int routed = 1;
    for (int i = 0; i < C * H * W; i++)
        sum += d_in[i];
    for (int i = 0; i < C * 6; i++)
        routed &= d_in[(i / 6) * H * W + arg[i]] == d_out[i];
    ok(routed && sum == 78.0, "pool backward: each gradient lands on its winner, zeros elsewhere");
    fm_err_clear(&err);
    is_int(fm_conv_pool_forward(out, arg, in, 1, C, 1, W, &err), FM_EINVAL, "pool on H = 1: FM_EINVAL");
    has_str(err.msg, "a 2x2 window needs H, W >= 2, got 1 x 7", "pool on H = 1: message");
    fm_err_clear(&err);
    is_int(fm_conv_pool_backward(d_in, d_out, NULL, 1, C, H, W, &err), FM_EINVAL,
           "pool backward without arg: FM_EINVAL");

    float x[6] = {-2.0f, -0.0f, 0.0f, 1e-30f, 3.0f, -1e-30f}, dy[6] = {1, 2, 3, 4, 5, 6}, y[6], dx[6];
    fm_conv_relu_forward(y, x, 6);
    fm_conv_relu_backward(dx, dy, y, 6);
    ok(y[0] == 0 && y[1] == 0 && y[2] == 0 && y[3] == 1e-30f && y[4] == 3 && y[5] == 0,
       "relu forward: max(x, 0)");
    ok(dx[0] == 0 && dx[1] == 0 && dx[2] == 0 && dx[3] == 4 && dx[4] == 5 && dx[5] == 0,
       "relu backward: the gradient passes where the output is positive");
    fm_conv_relu_forward(x, x, 6);
    fm_conv_relu_backward(dy, dy, x, 6);
    ok(!memcmp(x, y, sizeof x) && !memcmp(dy, dx, sizeof dy), "relu: in place gives the same results");
}

static void test_shapes(void)
{
    test_shape_helpers();
    test_call_errors();
    test_pool_relu();
}

int main(void)
{
    test_forward();
    test_gradients();
    test_permutation();
    test_shapes();
    return done_testing();
}
