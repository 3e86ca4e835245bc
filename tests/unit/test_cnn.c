/* test_cnn.c - the CNN policy (arch FM_NN_CNN: conv + ReLU + 2x2 max pooling, then an MLP head)
 * and blocked permutation axes in the layout walkers (nn/layout.c, align/apply.c, merge/match.c).
 *
 * Topics, one function each:
 *   1 test_layout       tensors, groups, blocks, describe text (block-1 text unchanged), bad specs
 *   2 test_gradients    softmax cross-entropy: the loss against an independent double-precision
 *                       reference (direct convolution loops), and every tensor's gradient against
 *                       central differences of that reference
 *   3 test_permutation  permuting every group (conv channels, head units) leaves the outputs
 *                       unchanged (Prop. 3.1); a permutation that forgets an axis does not
 *   4 test_matching     weight matching recovers known conv/head permutations exactly
 *   5 test_soft         the soft-permutation action with 0/1 matrices equals fm_layout_permute,
 *                       and its gradient w.r.t. P (blocked axes) equals central differences
 *   6 test_spec_text    the spec string round-trips the conv fields
 *   7 test_merges       copies of one trained CNN with permuted channels and units, merged by every
 *                       method (serial reducer): git_rebasin and fleet_merge (from weight matching)
 *                       recover the original, sinkhorn_rebasin stays next to it; averaging does not */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "align/apply.h"
#include "config/cfg.h"
#include "core/core.h"
#include "fleet/fleet_model.h"
#include "merge/match.h"
#include "merge/merge_nn.h"
#include "nn/nn.h"
#include "nn/train.h"
#include "tap.h"

/* 1 x 8 x 8 images -> conv 3 (3x3) -> pool 4x4 -> conv 4 (3x3) -> pool 2x2 -> 5 tanh -> 3 logits */
static fm_nn_spec spec_tiny(void)
{
    return (fm_nn_spec){.arch = FM_NN_CNN, .act = FM_NN_TANH, .in_dim = 64, .out_dim = 3, .nhidden = 1,
                        .hidden = {5}, .loss = FM_NN_LOSS_XENT, .nconv = 2, .conv_channels = {3, 4},
                        .conv_k = 3, .img_c = 1, .img_h = 8, .img_w = 8};
}

/* 2 x 7 x 9 images (odd sizes: pooling drops a row/column) -> conv 4 (5x5) -> 3x4 -> conv 3 -> 1x2,
 * two ReLU head layers: every walker sees non-square maps and an extra head group. */
static fm_nn_spec spec_odd(void)
{
    return (fm_nn_spec){.arch = FM_NN_CNN, .act = FM_NN_RELU, .in_dim = 126, .out_dim = 4, .nhidden = 2,
                        .hidden = {6, 5}, .loss = FM_NN_LOSS_XENT, .nconv = 2, .conv_channels = {4, 3},
                        .conv_k = 5, .img_c = 2, .img_h = 7, .img_w = 9};
}

static float urand(fm_rng *r, double lo, double hi) { return (float)(lo + (hi - lo) * fm_rng_uniform(r)); }

static void rand_perm(fm_rng *r, int n, int *p)
{
    int moved;
    do {
        fm_rng_permutation(r, n, p);
        moved = 0;
        for (int i = 0; i < n; i++)
            moved |= p[i] != i;
    } while (n >= 2 && !moved);
}

static int make_model(fm_model *m, const fm_nn_spec *s, uint64_t seed)
{
    fm_err err;
    fm_err_clear(&err);
    if (fm_model_create(m, s, &err) != FM_OK) {
        printf("# fm_model_create: %s\n", err.msg);
        return 0;
    }
    fm_rng r;
    fm_rng_seed(&r, seed, 0, FM_STREAM_INIT);
    fm_model_init(m, &r);
    for (int i = 0; i < s->in_dim; i++)
        m->obs_mean[i] = urand(&r, -0.2, 0.2), m->obs_std[i] = urand(&r, 0.7, 1.4);
    return 1;
}

/* B images in [0, 1) and soft targets (rows sum to 1, one row all on one class). */
static void make_batch(const fm_nn_spec *s, int B, uint64_t seed, float *obs, float *target)
{
    fm_rng r;
    fm_rng_seed(&r, seed, 1, FM_STREAM_DATA);
    for (int i = 0; i < B * s->in_dim; i++)
        obs[i] = urand(&r, 0.0, 1.0);
    for (int b = 0; b < B; b++) {
        double sum = 0.0;
        for (int j = 0; j < s->out_dim; j++)
            sum += target[b * s->out_dim + j] = b == 0 ? (j == 1) : urand(&r, 0.1, 1.0);
        for (int j = 0; j < s->out_dim; j++)
            target[b * s->out_dim + j] /= (float)sum;
    }
}

static double max_diff(size_t n, const float *a, const float *b)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

static double max_abs(size_t n, const float *a)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i]));
    return m;
}

/* ---------------- 1 layout ---------------- */

static void test_layout(void)
{
    fm_nn_spec s = spec_tiny();
    fm_layout l;
    fm_err err;
    fm_err_clear(&err);
    if (!ok(fm_nn_layout(&s, &l, &err) == FM_OK, "tiny cnn: layout (%s)", err.msg))
        return;
    static const struct { const char *name; int r, c, g0, g1, b1; } want[] = {
        {"conv0.w", 3, 9, 0, -1, 1}, {"conv0.b", 3, 1, 0, -1, 1}, {"conv1.w", 4, 27, 1, 0, 9},
        {"conv1.b", 4, 1, 1, -1, 1}, {"head0.w", 5, 16, 2, 1, 4}, {"head0.b", 5, 1, 2, -1, 1},
        {"head1.w", 3, 5, -1, 2, 1}, {"head1.b", 3, 1, -1, -1, 1}};
    int n = (int)(sizeof want / sizeof want[0]), good = l.ntensors == n && l.ngroups == 3;
    size_t off = 0;
    for (int i = 0; good && i < n; i++) {
        const fm_tensor *t = &l.t[i];
        good = !strcmp(t->name, want[i].name) && t->shape[0] == want[i].r && t->shape[1] == want[i].c &&
               t->group[0] == want[i].g0 && t->group[1] == want[i].g1 && fm_tensor_block(t, 0) == 1 &&
               fm_tensor_block(t, 1) == want[i].b1 && t->offset == off;
        if (!good)
            printf("#   tensor %d: %s [%d x %d] groups (%d, %d) blocks (%d, %d)\n", i, t->name, t->shape[0],
                   t->shape[1], t->group[0], t->group[1], t->block[0], t->block[1]);
        off += t->size;
    }
    ok(good && l.total == off, "tiny cnn: conv{j}.w [c_j x c_{j-1} k k] blocks k k; head0.w column block H W");
    is_int(l.group_size[0] * 10 + l.group_size[1], 34, "tiny cnn: one group per conv layer's channels (3, 4)");
    char buf[1024];
    fm_layout_describe(&l, buf, sizeof buf);
    has_str(buf, "conv1.w [4 x 27] groups (1, 0) blocks (1, 9)\n", "describe: blocks after the groups when not 1");
    has_str(buf, "head0.b [5 x 1] groups (2, -1)\nhead1.w", "describe: block-1 tensors read as before");

    /* a model without blocks describes itself exactly as before blocks existed */
    fm_nn_spec mlp = {.arch = FM_NN_MLP, .act = FM_NN_TANH, .in_dim = 3, .out_dim = 2, .nhidden = 1, .hidden = {4}};
    fm_nn_layout(&mlp, &l, &err);
    fm_layout_describe(&l, buf, sizeof buf);
    is_str(buf, "head0.w [4 x 3] groups (0, -1)\nhead0.b [4 x 1] groups (0, -1)\n"
           "head1.w [2 x 4] groups (-1, 0)\nhead1.b [2 x 1] groups (-1, -1)\n", "describe: an MLP's text unchanged");

    struct { const char *label, *msg; fm_nn_spec s; } bad[] = {
        {"even kernel", "conv_k: got 4", spec_tiny()}, {"image vs in_dim", "does not match in_dim 64", spec_tiny()},
        {"no conv layer", "conv layers must be 1..", spec_tiny()}, {"a zero channel count", "conv_channels[1] = 0",
        spec_tiny()}, {"a map too small to pool", "too small for 2x2 pooling", spec_tiny()}};
    bad[0].s.conv_k = 4;
    bad[1].s.img_h = 7;
    bad[2].s.nconv = 0;
    bad[3].s.conv_channels[1] = 0;
    bad[4].s.nconv = 4, bad[4].s.conv_channels[2] = bad[4].s.conv_channels[3] = 2; /* 8 -> 4 -> 2 -> 1 -> ? */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fm_err_clear(&err);
        int st = fm_nn_layout(&bad[i].s, &l, &err);
        ok(st == FM_EINVAL, "bad spec (%s): FM_EINVAL", bad[i].label);
        has_str(err.msg, bad[i].msg, "bad spec (%s): the message names it", bad[i].label);
    }
}

/* ---------------- 2 gradients against a double-precision reference ---------------- */

static const double *tensor(const fm_layout *l, const double *w, const char *name)
{
    return w + fm_layout_find(l, name)->offset;
}

/* Direct convolution ('same' padding), ReLU and 2x2 max pooling over one image, in place of
 * the C code's im2col + GEMM: map [c][h][w] -> map [c'][h / 2][w / 2]. */
static void ref_conv_layer(const fm_layout *l, const double *w, int j, int k, int *c, int *h, int *wd,
                           const double *in, double *out)
{
    char name[32];
    snprintf(name, sizeof name, "conv%d.w", j);
    const fm_tensor *t = fm_layout_find(l, name);
    const double *W = w + t->offset, *bias = W + t->size;
    int oc = t->shape[0], p = k / 2, H = *h, Wd = *wd;
    double *z = calloc((size_t)oc * H * Wd, sizeof(double));
    for (int o = 0; o < oc; o++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < Wd; x++) {
                double acc = bias[o];
                for (int ci = 0; ci < *c; ci++)
                    for (int i = 0; i < k; i++)
                        for (int q = 0; q < k; q++) {
                            int iy = y - p + i, ix = x - p + q;
                            if (iy >= 0 && iy < H && ix >= 0 && ix < Wd)
                                acc += W[(size_t)o * t->shape[1] + (ci * k + i) * k + q] *
                                       in[((size_t)ci * H + iy) * Wd + ix];
                        }
                z[((size_t)o * H + y) * Wd + x] = acc > 0.0 ? acc : 0.0;
            }
    for (int o = 0; o < oc; o++)
        for (int y = 0; y < H / 2; y++)
            for (int x = 0; x < Wd / 2; x++) {
                double mx = -INFINITY;
                for (int i = 0; i < 2; i++)
                    for (int q = 0; q < 2; q++)
                        mx = fmax(mx, z[((size_t)o * H + 2 * y + i) * Wd + 2 * x + q]);
                out[((size_t)o * (H / 2) + y) * (Wd / 2) + x] = mx;
            }
    free(z);
    *c = oc, *h = H / 2, *wd = Wd / 2;
}

/* Sum over the batch of the softmax cross-entropy, everything in double. */
static double ref_loss(const fm_model *m, const double *w, const float *obs, const float *target, int B)
{
    const fm_nn_spec *s = &m->spec;
    const fm_layout *l = &m->layout;
    double loss = 0.0, *a = malloc(sizeof(double) * 4096), *b = malloc(sizeof(double) * 4096);
    for (int r = 0; r < B; r++) {
        for (int i = 0; i < s->in_dim; i++)
            a[i] = ((double)obs[(size_t)r * s->in_dim + i] - m->obs_mean[i]) / m->obs_std[i];
        int c = s->img_c, h = s->img_h, wd = s->img_w, n;
        for (int j = 0; j < s->nconv; j++) {
            ref_conv_layer(l, w, j, s->conv_k, &c, &h, &wd, a, b);
            double *tmp = a;
            a = b, b = tmp;
        }
        n = c * h * wd;
        for (int i = 0; i <= s->nhidden; i++) {
            char name[32];
            int rows = i == s->nhidden ? s->out_dim : s->hidden[i];
            snprintf(name, sizeof name, "head%d.w", i);
            const double *W = tensor(l, w, name);
            snprintf(name, sizeof name, "head%d.b", i);
            const double *bias = tensor(l, w, name);
            for (int o = 0; o < rows; o++) {
                double z = bias[o];
                for (int q = 0; q < n; q++)
                    z += W[(size_t)o * n + q] * a[q];
                b[o] = i == s->nhidden ? z : s->act == FM_NN_TANH ? tanh(z) : fmax(z, 0.0);
            }
            double *tmp = a;
            a = b, b = tmp, n = rows;
        }
        double mx = a[0], zs = 0.0;
        for (int o = 1; o < n; o++)
            mx = fmax(mx, a[o]);
        for (int o = 0; o < n; o++)
            zs += exp(a[o] - mx);
        for (int o = 0; o < n; o++)
            loss += target[(size_t)r * n + o] * (mx + log(zs) - a[o]);
    }
    free(a), free(b);
    return loss;
}

static void check_grad(const char *label, const fm_nn_spec *s, uint64_t seed)
{
    enum { B = 4 };
    fm_model m;
    if (!ok(make_model(&m, s, seed), "%s: model", label))
        return;
    const fm_layout *l = &m.layout;
    float *obs = malloc(sizeof(float) * B * s->in_dim), *target = malloc(sizeof(float) * B * s->out_dim);
    float *grad = calloc(l->total, sizeof(float));
    double *wd = malloc(sizeof(double) * l->total), count = 0.0;
    make_batch(s, B, seed, obs, target);
    fm_nn_ws *ws = NULL;
    fm_err err;
    fm_err_clear(&err);
    if (!ok(fm_nn_ws_create(&m, 1, B, &ws, &err) == FM_OK, "%s: workspace (%s)", label, err.msg))
        return;
    double loss = fm_nn_loss_grad(&m, ws, obs, target, NULL, 1, B, grad, &count);
    for (size_t p = 0; p < l->total; p++)
        wd[p] = m.w[p];
    double ref = ref_loss(&m, wd, obs, target, B);
    is_close(loss, ref, 1e-6, 1e-5, "%s: loss %.6f equals the double-precision direct-convolution reference", label,
             loss);
    is_int(count, B, "%s: every image counted", label);
    const double h = 1e-6;
    for (int t = 0; t < l->ntensors; t++) {
        const fm_tensor *T = &l->t[t];
        double worst = 0.0, at_num = 0.0, at_ana = 0.0;
        int bad = 0;
        for (size_t q = 0; q < T->size; q++) {
            size_t p = T->offset + q;
            double w0 = wd[p];
            wd[p] = w0 + h;
            double lp = ref_loss(&m, wd, obs, target, B);
            wd[p] = w0 - h;
            double lm = ref_loss(&m, wd, obs, target, B);
            wd[p] = w0;
            double num = (lp - lm) / (2 * h), ana = grad[p];
            double e = fabs(num - ana), tol = 1e-4 + 2e-3 * fmax(fabs(num), fabs(ana));
            bad += e > tol;
            if (e > worst)
                worst = e, at_num = num, at_ana = ana;
        }
        if (!ok(bad == 0, "%s: d loss / d %s (%zu entries) equals central differences", label, T->name, T->size))
            printf("#   %d entries off; worst: fd %.8g analytic %.8g diff %.3g\n", bad, at_num, at_ana, worst);
    }
    fm_nn_ws_free(ws);
    free(obs), free(target), free(grad), free(wd);
    fm_model_free(&m);
}

static void test_gradients(void)
{
    fm_nn_spec s = spec_tiny();
    check_grad("tiny cnn", &s, 11);
    s = spec_odd();
    check_grad("odd-sized cnn", &s, 12);
}

/* ---------------- 3 permutation invariance ---------------- */

typedef struct perm_set {
    int *store[FM_NN_MAX_GROUPS];
    const int *p[FM_NN_MAX_GROUPS];
} perm_set;

static void perms_make(const fm_layout *l, fm_rng *r, perm_set *ps)
{
    *ps = (perm_set){0};
    for (int g = 0; g < l->ngroups; g++) {
        ps->store[g] = malloc(sizeof(int) * l->group_size[g]);
        rand_perm(r, l->group_size[g], ps->store[g]);
        ps->p[g] = ps->store[g];
    }
}

static void perms_free(perm_set *ps)
{
    for (int g = 0; g < FM_NN_MAX_GROUPS; g++)
        free(ps->store[g]);
}

static void logits(const fm_model *m, const float *obs, int B, float *out)
{
    fm_nn_ws *ws = NULL;
    fm_err err;
    fm_err_clear(&err);
    if (fm_nn_ws_create(m, 1, B, &ws, &err) != FM_OK) {
        memset(out, 0, sizeof(float) * B * m->spec.out_dim);
        return;
    }
    fm_nn_forward(m, ws, obs, 1, B, out);
    fm_nn_ws_free(ws);
}

static void check_perm(const char *label, const fm_nn_spec *s, uint64_t seed)
{
    enum { B = 5 };
    fm_model a, b;
    if (!ok(make_model(&a, s, seed) && make_model(&b, s, seed), "%s: models", label))
        return;
    const fm_layout *l = &a.layout;
    fm_rng r;
    fm_rng_seed(&r, seed, 2, FM_STREAM_MERGE);
    perm_set ps;
    perms_make(l, &r, &ps);
    float obs[B * 200], target[B * 8], ya[B * 8], yb[B * 8];
    size_t ny = (size_t)B * s->out_dim;
    make_batch(s, B, seed, obs, target);
    fm_layout_permute(l, ps.p, a.w, b.w);
    ok(max_diff(l->total, a.w, b.w) > 0.0, "%s: permuted parameters differ", label);
    logits(&a, obs, B, ya);
    logits(&b, obs, B, yb);
    is_close(max_diff(ny, ya, yb), 0.0, 1e-5 * fmax(1.0, max_abs(ny, ya)), 0.0,
             "%s: permuting every group (conv channels, head units) leaves the logits unchanged", label);
    /* forgetting one axis: conv1's input channels, or the head's flattened-channel columns */
    const char *forget[2] = {"conv1.w", "head0.w"};
    for (int f = 0; f < 2; f++) {
        fm_layout broken = *l;
        for (int i = 0; i < broken.ntensors; i++)
            if (!strcmp(broken.t[i].name, forget[f]))
                broken.t[i].group[1] = FM_NN_NO_GROUP;
        fm_layout_permute(&broken, ps.p, a.w, b.w);
        logits(&b, obs, B, yb);
        ok(max_diff(ny, ya, yb) > 1e-3 * max_abs(ny, ya),
           "%s: a permutation that leaves %s's columns alone changes the logits (max diff %.3g)", label,
           forget[f], max_diff(ny, ya, yb));
    }
    perms_free(&ps);
    fm_model_free(&a), fm_model_free(&b);
}

static void test_permutation(void)
{
    fm_nn_spec s = spec_tiny();
    check_perm("tiny cnn", &s, 21);
    s = spec_odd();
    check_perm("odd-sized cnn", &s, 22);
}

/* ---------------- 4 weight matching ---------------- */

static void check_match(const char *label, const fm_nn_spec *s, uint64_t seed)
{
    fm_model a;
    if (!ok(make_model(&a, s, seed), "%s: model", label))
        return;
    const fm_layout *l = &a.layout;
    size_t n = l->total;
    float *b = malloc(sizeof(float) * n), *back = malloc(sizeof(float) * n);
    fm_rng r;
    fm_rng_seed(&r, seed, 4, FM_STREAM_MERGE);
    perm_set known;
    perms_make(l, &r, &known);
    fm_layout_permute(l, known.p, a.w, b); /* b = P(a) */
    int *found[FM_NN_MAX_GROUPS] = {0};
    for (int g = 0; g < l->ngroups; g++) { /* start from the identity */
        found[g] = malloc(sizeof(int) * l->group_size[g]);
        for (int i = 0; i < l->group_size[g]; i++)
            found[g][i] = i;
    }
    fm_err err;
    fm_err_clear(&err);
    int passes = 0;
    fm_status st = fm_weight_match(l, b, a.w, &r, 50, found, &passes, &err);
    ok(st == FM_OK, "%s: weight matching runs (%s)", label, err.msg);
    int inverse = 1;
    for (int g = 0; g < l->ngroups; g++)
        for (int i = 0; i < l->group_size[g]; i++)
            inverse &= found[g][known.p[g][i]] == i;
    ok(inverse, "%s: the matching permutations undo the known ones in every group (%d passes)", label, passes);
    fm_layout_permute(l, (const int *const *)found, b, back);
    ok(memcmp(back, a.w, sizeof(float) * n) == 0, "%s: the aligned copy equals the original bit for bit", label);
    int avg_same = 1; /* the merged average of the original and its aligned copy is the original */
    for (size_t i = 0; i < n; i++)
        avg_same &= 0.5f * (a.w[i] + back[i]) == a.w[i];
    ok(avg_same, "%s: the average of the original and its aligned permuted copy is the original", label);
    is_close(fm_perm_distance(l, b, a.w, (const int *const *)found), 0.0, 0.0, 0.0, "%s: distance 0 after matching",
             label);
    for (int g = 0; g < l->ngroups; g++)
        free(found[g]);
    perms_free(&known);
    free(b), free(back);
    fm_model_free(&a);
}

static void test_matching(void)
{
    fm_nn_spec s = spec_tiny();
    check_match("tiny cnn", &s, 31);
    s = spec_odd();
    check_match("odd-sized cnn", &s, 32);
    s = (fm_nn_spec){.arch = FM_NN_CNN, .act = FM_NN_RELU, .in_dim = 784, .out_dim = 10, .nhidden = 1,
                     .hidden = {32}, .loss = FM_NN_LOSS_XENT, .nconv = 2, .conv_channels = {8, 16}, .conv_k = 5,
                     .img_c = 1, .img_h = 28, .img_w = 28};
    check_match("fashion-mnist-sized cnn", &s, 33);
}

/* ---------------- 5 soft permutations ---------------- */

/* <G, P(W)> in double, for the soft action. */
static double soft_objective(const fm_layout *l, double *const *P, const float *W, const float *G, float *out)
{
    fm_err err;
    fm_err_clear(&err);
    if (fm_apply_soft(l, (const double *const *)P, W, out, &err) != FM_OK)
        return NAN;
    double v = 0.0;
    for (size_t i = 0; i < l->total; i++)
        v += (double)G[i] * out[i];
    return v;
}

static void check_soft(const char *label, const fm_nn_spec *s, uint64_t seed)
{
    fm_model a;
    if (!ok(make_model(&a, s, seed), "%s: model", label))
        return;
    const fm_layout *l = &a.layout;
    size_t n = l->total;
    float *hard = malloc(sizeof(float) * n), *soft = malloc(sizeof(float) * n), *G = malloc(sizeof(float) * n);
    fm_rng r;
    fm_rng_seed(&r, seed, 5, FM_STREAM_MERGE);
    perm_set ps;
    perms_make(l, &r, &ps);
    double *P[FM_NN_MAX_GROUPS] = {0}, *dP[FM_NN_MAX_GROUPS] = {0};
    for (int g = 0; g < l->ngroups; g++) {
        int m = l->group_size[g];
        P[g] = malloc(sizeof(double) * m * m);
        dP[g] = calloc((size_t)m * m, sizeof(double));
        fm_perm_matrix(m, ps.p[g], P[g]);
    }
    fm_err err;
    fm_err_clear(&err);
    fm_layout_permute(l, ps.p, a.w, hard);
    ok(fm_apply_soft(l, (const double *const *)P, a.w, soft, &err) == FM_OK, "%s: soft action runs", label);
    ok(memcmp(hard, soft, sizeof(float) * n) == 0,
       "%s: 0/1 matrices through the soft action equal fm_layout_permute exactly", label);

    /* dense positive P (not permutations): the gradient of <G, P(W)> against central differences */
    for (int g = 0; g < l->ngroups; g++)
        for (int i = 0; i < l->group_size[g] * l->group_size[g]; i++)
            P[g][i] = 0.2 + fm_rng_uniform(&r);
    for (size_t i = 0; i < n; i++)
        G[i] = urand(&r, -1.0, 1.0);
    ok(fm_apply_soft_grad(l, (const double *const *)P, a.w, G, dP, &err) == FM_OK, "%s: soft gradient runs", label);
    for (int g = 0; g < l->ngroups; g++) {
        int m = l->group_size[g], bad = 0;
        double worst = 0.0;
        for (int i = 0; i < m * m; i++) {
            double p0 = P[g][i], h = 1e-2;
            P[g][i] = p0 + h;
            double vp = soft_objective(l, P, a.w, G, soft);
            P[g][i] = p0 - h;
            double vm = soft_objective(l, P, a.w, G, soft);
            P[g][i] = p0;
            double num = (vp - vm) / (2 * h), e = fabs(num - dP[g][i]);
            bad += e > 1e-3 + 1e-3 * fabs(num);
            worst = fmax(worst, e);
        }
        ok(bad == 0, "%s: d<G, P(W)> / d P[%d] (%d x %d, blocked axes) equals central differences (worst %.2g)",
           label, g, m, m, worst);
    }
    for (int g = 0; g < l->ngroups; g++)
        free(P[g]), free(dP[g]);
    perms_free(&ps);
    free(hard), free(soft), free(G);
    fm_model_free(&a);
}

static void test_soft(void)
{
    fm_nn_spec s = spec_tiny();
    check_soft("tiny cnn", &s, 41);
    s = spec_odd();
    check_soft("odd-sized cnn", &s, 42);
}

/* ---------------- 6 spec text ---------------- */

static void test_spec_text(void)
{
    fm_nn_spec s = spec_odd(), back;
    char text[512];
    fm_err err;
    fm_err_clear(&err);
    fm_nn_spec_format(&s, text, sizeof text);
    is_str(text, "arch=cnn act=relu in=126 out=4 hidden=6,5 points=0 channels=0 enc= conv=4,3 kernel=5 "
           "image=2x7x9 loss=xent", "cnn spec text");
    ok(fm_nn_spec_parse(text, &back, &err) == FM_OK && !memcmp(&s, &back, sizeof s), "cnn spec text round-trips");
    fm_nn_spec mlp = {.arch = FM_NN_MLP, .act = FM_NN_TANH, .in_dim = 3, .out_dim = 2, .nhidden = 1, .hidden = {4}};
    fm_nn_spec_format(&mlp, text, sizeof text);
    is_str(text, "arch=mlp act=tanh in=3 out=2 hidden=4 points=0 channels=0 enc=", "an MLP's spec text unchanged");
    const char *bad[3][2] = {
        {"arch=cnn act=relu in=4 out=2 hidden=3 points=0 channels=0 enc= kernel=3 image=1x2x2", "needs conv="},
        {"arch=cnn act=relu in=4 out=2 hidden=3 points=0 channels=0 enc= conv=2 image=1x2x2", "needs kernel="},
        {"arch=cnn act=relu in=4 out=2 hidden=3 points=0 channels=0 enc= conv=2 kernel=3 image=1x2", "image=CxHxW"}};
    for (int i = 0; i < 3; i++) {
        fm_err_clear(&err);
        ok(fm_nn_spec_parse(bad[i][0], &back, &err) == FM_EDATA, "cnn spec without a conv field: FM_EDATA (%d)", i);
        has_str(err.msg, bad[i][1], "naming it (%d)", i);
    }
}

/* ---------------- 7 merges through merge_nn ---------------- */

enum { MN = 4, NEX = 96 };

/* NEX one-step demos of 8x8 images in 3 classes: class c has a bright 4x4 quadrant c plus noise. */
static void class_demos(fm_demos *d, fm_rng *r)
{
    fm_demos_alloc(d, NEX, 1, 64, 3, NULL);
    for (int i = 0; i < NEX; i++) {
        int c = i % 3, r0 = 4 * (c / 2), c0 = 4 * (c % 2);
        double *o = d->obs + (size_t)i * 64;
        for (int p = 0; p < 64; p++)
            o[p] = 0.3 * fm_rng_uniform(r) + ((p / 8 >= r0 && p / 8 < r0 + 4 && p % 8 >= c0 && p % 8 < c0 + 4) ? 0.7 : 0);
        d->act[(size_t)i * 3 + c] = 1.0;
        d->task[i] = c, d->length[i] = 1;
    }
}

static double logit_gap(const fm_model *a, const fm_model *b, const fm_demos *d)
{
    float *obs = malloc(sizeof(float) * NEX * 64), ya[NEX * 3], yb[NEX * 3];
    for (int i = 0; i < NEX * 64; i++)
        obs[i] = (float)d->obs[i];
    logits(a, obs, NEX, ya);
    logits(b, obs, NEX, yb);
    free(obs);
    return max_diff(NEX * 3, ya, yb);
}

static void test_merges(void)
{
    fm_rng r;
    fm_rng_seed(&r, 51, 0, 0);
    fm_demos d;
    class_demos(&d, &r);
    fm_nn_spec s = spec_tiny();
    s.act = FM_NN_RELU;
    fm_model base, copies[MN], merged;
    fm_model_create(&base, &s, NULL);
    fm_model_init(&base, &r);
    double sums[2 * (64 + 3) + 1] = {0};
    fm_nn_norm_sums(&s, &d, sums);
    fm_nn_norm_set(&base, sums);
    fm_nn_train_opts to = {.epochs = 30, .batch = 16, .optimizer = FM_OPT_ADAM, .lr = 0.01};
    double loss = 0;
    fm_nn_train(&base, &d, &to, NULL, &r, &loss, NULL);
    ok(loss < 0.3, "base CNN trained (cross-entropy %.3f)", loss);
    fm_demos data[MN];
    for (int i = 0; i < MN; i++) {
        perm_set ps;
        perms_make(&base.layout, &r, &ps);
        fm_model_create(&copies[i], &s, NULL);
        fm_model_copy(&copies[i], &base);
        fm_layout_permute(&base.layout, ps.p, base.w, copies[i].w);
        perms_free(&ps);
        data[i] = d; /* every robot sees the same data (borrowed) */
    }
    ok(logit_gap(&copies[1], &base, &d) < 1e-5, "a copy with permuted channels and units computes the same logits");
    fm_model_create(&merged, &s, NULL);
    fm_reducer red = fm_reducer_serial(MN);
    fm_merge_nn_opts o = {.wm_passes = 50, .mm_sweeps = 10, .epochs = 2, .steps = 30, .subset = 1.0, .tau = 0.3,
                          .sk_iters = 20, .lr = 0.1, .noise = 0.1, .batch = 16, .init_wm = 1};
    const int methods[4] = {FM_MERGE_AVERAGE, FM_MERGE_GIT_REBASIN, FM_MERGE_SINKHORN_REBASIN, FM_MERGE_FLEET_MERGE};
    double avg_gap = 0.0;
    for (int k = 0; k < 4; k++) {
        fm_err err;
        fm_err_clear(&err);
        const char *name = fm_cfg_enum_name("merge.methods", methods[k]);
        ok(fm_merge_nn(methods[k], copies, data, &o, &red, 9, &merged, NULL, &err) == FM_OK, "cnn %s runs (%s)", name,
           err.msg);
        double gap = logit_gap(&merged, &base, &d);
        /* sinkhorn_rebasin is one soft update, projected once: on this tiny net (groups of 3-5 units) it
         * left the exact alignment for 1 of the 6 seeds tried, this one (gap 0.04 against the average's
         * 15.7); git_rebasin and fleet_merge were exact for all 6 */
        if (methods[k] == FM_MERGE_AVERAGE)
            avg_gap = gap;
        if (methods[k] == FM_MERGE_AVERAGE)
            ok(gap > 0.1, "cnn: the average of permuted copies is another network (max logit gap %.3f)", gap);
        else if (methods[k] == FM_MERGE_SINKHORN_REBASIN)
            ok(gap < 0.01 * avg_gap, "cnn %s stays at the original network (max logit gap %.2g, average %.3g)", name,
               gap, avg_gap);
        else
            ok(gap < 1e-4, "cnn %s recovers the original network (max logit gap %.2g)", name, gap);
    }
    for (int i = 0; i < MN; i++)
        fm_model_free(&copies[i]);
    fm_model_free(&base), fm_model_free(&merged);
    fm_demos_free(&d);
}

int main(void)
{
    test_layout();
    test_gradients();
    test_permutation();
    test_matching();
    test_soft();
    test_spec_text();
    test_merges();
    return done_testing();
}
