/* forward.c - batched forward and backward passes of the neural policies (float32, BLAS).
 * Rows of every activation matrix are (t, b) pairs in time-major order: row = t * B + b, so
 * the rows of one time step are contiguous and each recurrent step is one GEMM over the batch,
 * while input projections and weight gradients are single GEMMs over all T * B rows. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "la/la.h"
#include "nn/nn_internal.h"

struct fm_nn_ws {
    int T, B, R;                       /* capacity: R = T * B rows */
    float *x;                          /* [R x in_dim] normalized flat observation */
    float *pts;                        /* [R * np x C] normalized points */
    float *enc[FM_NN_MAX_LAYERS];      /* [R * np x e_j] after ReLU */
    float *pool;                       /* [R x e_last] */
    int *arg;                          /* [R x e_last] index of the max point */
    float *hid[FM_NN_MAX_LAYERS];      /* [R x h_i] after the activation */
    float *y, *dy;                     /* [R x out] normalized prediction and its gradient */
    float *da, *db;                    /* [R x max width] scratch */
    float *dea, *deb;                  /* [R * np x max encoder width] scratch */
    fm_cnn_ws *cnn;                    /* arch cnn: the conv front (cnn.c) */
    const float *in0;                  /* [R x k0] the head's input: x, or the conv features */
    int k0;
    float *state[FM_NN_MAX_LAYERS];    /* [h_i] RNN state carried by fm_nn_step */
    int nh, h[FM_NN_MAX_LAYERS];       /* hidden widths (for the state) */
};

static int max_width(const fm_nn_spec *s)
{
    int w = s->out_dim;
    for (int i = 0; i < s->nhidden; i++)
        w = s->hidden[i] > w ? s->hidden[i] : w;
    for (int j = 0; s->npoints && j < s->enc_nlayers; j++)
        w = s->enc_hidden[j] > w ? s->enc_hidden[j] : w;
    int C = 0, H = 0, W = 0; /* the conv features' gradient goes through the same scratch */
    if (s->arch == FM_NN_CNN && fm_nn_cnn_map(s, &C, &H, &W, NULL) == FM_OK)
        w = C * H * W > w ? C * H * W : w;
    return w;
}

fm_status fm_nn_ws_create(const fm_model *m, int T, int B, fm_nn_ws **out, fm_err *err)
{
    fm_status status = FM_OK;
    const fm_nn_spec *s = &m->spec;
    fm_nn_ws *ws = NULL;
    FM_CHECK(T > 0 && B > 0, FM_EINVAL, "nn: batch shape %d x %d", T, B);
    FM_ALLOC(ws, 1);
    ws->T = T, ws->B = B, ws->R = T * B;
    size_t R = (size_t)ws->R, P = R * s->npoints, W = (size_t)max_width(s);
    FM_ALLOC(ws->x, R * (s->in_dim ? s->in_dim : 1));
    FM_ALLOC(ws->y, R * s->out_dim);
    FM_ALLOC(ws->dy, R * s->out_dim);
    FM_ALLOC(ws->da, R * W);
    FM_ALLOC(ws->db, R * W);
    ws->in0 = ws->x, ws->k0 = s->in_dim;
    if (s->arch == FM_NN_CNN) {
        FM_TRY(fm_cnn_ws_create(s, ws->R, &ws->cnn, err));
        ws->k0 = fm_cnn_feat(ws->cnn);
    }
    ws->nh = s->nhidden;
    for (int i = 0; i < s->nhidden; i++) {
        ws->h[i] = s->hidden[i];
        FM_ALLOC(ws->hid[i], R * s->hidden[i]);
        FM_ALLOC(ws->state[i], s->hidden[i]);
    }
    if (s->npoints > 0) {
        int e = s->enc_hidden[s->enc_nlayers - 1];
        FM_ALLOC(ws->pts, P * s->pc_channels);
        FM_ALLOC(ws->pool, R * e);
        FM_ALLOC(ws->arg, R * e);
        FM_ALLOC(ws->dea, P * W);
        FM_ALLOC(ws->deb, P * W);
        for (int j = 0; j < s->enc_nlayers; j++)
            FM_ALLOC(ws->enc[j], P * s->enc_hidden[j]);
    }
    *out = ws;
    ws = NULL;
cleanup:
    fm_nn_ws_free(ws);
    return status;
}

void fm_nn_ws_free(fm_nn_ws *ws)
{
    if (!ws)
        return;
    free(ws->x), free(ws->pts), free(ws->pool), free(ws->arg), free(ws->y), free(ws->dy);
    free(ws->da), free(ws->db), free(ws->dea), free(ws->deb);
    fm_cnn_ws_free(ws->cnn);
    for (int i = 0; i < FM_NN_MAX_LAYERS; i++)
        free(ws->enc[i]), free(ws->hid[i]), free(ws->state[i]);
    free(ws);
}

void fm_nn_ws_reset_state(fm_nn_ws *ws)
{
    for (int i = 0; i < ws->nh; i++)
        memset(ws->state[i], 0, sizeof(float) * ws->h[i]);
}

static const float *P(const fm_model *m, const char *name)
{
    const fm_tensor *t = fm_layout_find(&m->layout, name);
    return t ? m->w + t->offset : NULL;
}

/* C[R x n] = A[R x k] W[n x k]' + beta C */
static void gemm_nt(int R, int n, int k, const float *A, const float *W, float beta, float *C)
{
    la_sgemm(0, 1, R, n, k, 1.0f, A, W, beta, C);
}

static void add_bias(int R, int n, const float *b, float *C)
{
    for (int r = 0; r < R; r++)
        for (int j = 0; j < n; j++)
            C[(size_t)r * n + j] += b[j];
}

/* tanh(x) = sign(x) (1 - 2 / (e^{2|x|} + 1)), with e^y (0 <= y <= 18) from a Cody-Waite
 * reduction y = n ln2 + r, |r| <= ln2 / 2, a degree-7 Taylor polynomial for e^r and 2^n
 * built in the exponent bits. Branch-free so that the compiler vectorizes it (libm's tanhf is
 * a scalar call and took half the time of RNN training); absolute error below 3e-7 on all
 * floats (tests/unit/test_nn.c checks it against tanh in double). */
static inline float tanh_fast(float x)
{
    union { float f; uint32_t u; } in = {.f = x}, mag, scale, out;
    uint32_t sign = in.u & 0x80000000u;
    mag.u = in.u & 0x7fffffffu;
    float a = mag.f > 9.0f ? 9.0f : mag.f; /* NaN stays NaN */
    float y = 2.0f * a;
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding and subtracting rounds to an integer */
    float n = (y * 1.44269504f + magic) - magic;
    float r = (y - n * 0.693145752f) - n * 1.42860677e-6f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.66666672e-1f + r * (4.16666679e-2f +
                  r * (8.33333377e-3f + r * (1.38888892e-3f + r * 1.98412701e-4f))))));
    scale.u = (uint32_t)((int32_t)n + 127) << 23;
    out.f = 1.0f - 2.0f / (p * scale.f + 1.0f);
    out.u |= sign;
    return out.f;
}

void fm_nn_tanh(size_t n, float *x)
{
    for (size_t i = 0; i < n; i++)
        x[i] = tanh_fast(x[i]);
}

static void activate(int act, size_t n, float *x)
{
    if (act == FM_NN_TANH)
        fm_nn_tanh(n, x);
    else
        for (size_t i = 0; i < n; i++)
            x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

/* Split and normalize raw observations into points and the flat part. */
static void normalize_input(const fm_model *m, fm_nn_ws *ws, const float *obs, int R)
{
    const fm_nn_spec *s = &m->spec;
    int od = fm_nn_obs_dim(s), npc = s->npoints * s->pc_channels;
    for (int r = 0; r < R; r++) {
        const float *o = obs + (size_t)r * od;
        for (int j = 0; j < npc; j++)
            ws->pts[(size_t)r * npc + j] = (o[j] - m->obs_mean[j]) / m->obs_std[j];
        for (int j = npc; j < od; j++)
            ws->x[(size_t)r * s->in_dim + j - npc] = (o[j] - m->obs_mean[j]) / m->obs_std[j];
    }
}

/* Shared per-point MLP with ReLU, then max pooling over the points of each row. */
static void encoder_forward(const fm_model *m, fm_nn_ws *ws, int R)
{
    const fm_nn_spec *s = &m->spec;
    int np = s->npoints, prev = s->pc_channels, e = 0;
    const float *in = ws->pts;
    char name[32];
    for (int j = 0; j < s->enc_nlayers; j++) {
        e = s->enc_hidden[j];
        snprintf(name, sizeof name, "enc%d.w", j);
        gemm_nt(R * np, e, prev, in, P(m, name), 0.0f, ws->enc[j]);
        snprintf(name, sizeof name, "enc%d.b", j);
        add_bias(R * np, e, P(m, name), ws->enc[j]);
        activate(FM_NN_RELU, (size_t)R * np * e, ws->enc[j]);
        in = ws->enc[j], prev = e;
    }
    for (int r = 0; r < R; r++) {
        const float *E = in + (size_t)r * np * e;
        float *pool = ws->pool + (size_t)r * e;
        int *arg = ws->arg + (size_t)r * e;
        for (int c = 0; c < e; c++)
            pool[c] = E[c], arg[c] = 0;
        for (int p = 1; p < np; p++)
            for (int c = 0; c < e; c++)
                if (E[(size_t)p * e + c] > pool[c])
                    pool[c] = E[(size_t)p * e + c], arg[c] = p;
    }
}

/* Pre-activation of head layer i for all R rows: Z = in W' (+ pool Wpc') + b. */
static void head_input(const fm_model *m, fm_nn_ws *ws, int i, int R, float *Z)
{
    const fm_nn_spec *s = &m->spec;
    int rows = i == s->nhidden ? s->out_dim : s->hidden[i];
    char name[32];
    float beta = 0.0f;
    if (i == 0 && s->npoints > 0) {
        gemm_nt(R, rows, s->enc_hidden[s->enc_nlayers - 1], ws->pool, P(m, "head0.wpc"), 0.0f, Z);
        beta = 1.0f;
    }
    int k = i == 0 ? ws->k0 : s->hidden[i - 1];
    snprintf(name, sizeof name, "head%d.w", i);
    if (k > 0)
        gemm_nt(R, rows, k, i == 0 ? ws->in0 : ws->hid[i - 1], P(m, name), beta, Z);
    else if (beta == 0.0f)
        memset(Z, 0, sizeof(float) * (size_t)R * rows);
    snprintf(name, sizeof name, "head%d.b", i);
    add_bias(R, rows, P(m, name), Z);
}

/* Hidden layer i of the head; RNN layers run the recurrence over T steps of B rows from
 * h0 (NULL = zeros): H_t = act(Z_t + H_{t-1} Wrec') (Eq. 2.2). */
static void head_layer(const fm_model *m, fm_nn_ws *ws, int i, int T, int B, const float *h0)
{
    const fm_nn_spec *s = &m->spec;
    int h = s->hidden[i], R = T * B;
    float *H = ws->hid[i];
    head_input(m, ws, i, R, H);
    if (s->arch != FM_NN_RNN) {
        activate(s->act, (size_t)R * h, H);
        return;
    }
    char name[32];
    snprintf(name, sizeof name, "head%d.rec", i);
    const float *Wr = P(m, name);
    for (int t = 0; t < T; t++) {
        float *Ht = H + (size_t)t * B * h;
        const float *prev = t > 0 ? Ht - (size_t)B * h : h0;
        if (prev)
            gemm_nt(B, h, h, prev, Wr, 1.0f, Ht);
        activate(s->act, (size_t)B * h, Ht);
    }
}

static void forward_rows(const fm_model *m, fm_nn_ws *ws, const float *obs, int T, int B,
                         float *const *h0)
{
    const fm_nn_spec *s = &m->spec;
    int R = T * B;
    normalize_input(m, ws, obs, R);
    if (s->npoints > 0)
        encoder_forward(m, ws, R);
    if (s->arch == FM_NN_CNN)
        ws->in0 = fm_cnn_forward(m, ws->cnn, ws->x, R);
    for (int i = 0; i < s->nhidden; i++)
        head_layer(m, ws, i, T, B, h0 ? h0[i] : NULL);
    head_input(m, ws, s->nhidden, R, ws->y);
}

static void denormalize(const fm_model *m, int R, const float *y, float *act)
{
    int d = m->spec.out_dim;
    for (int r = 0; r < R; r++)
        for (int j = 0; j < d; j++)
            act[(size_t)r * d + j] = y[(size_t)r * d + j] * m->act_std[j] + m->act_mean[j];
}

void fm_nn_forward(const fm_model *m, fm_nn_ws *ws, const float *obs, int T, int B, float *act_out)
{
    forward_rows(m, ws, obs, T, B, NULL);
    if (act_out)
        denormalize(m, T * B, ws->y, act_out);
}

void fm_nn_step(const fm_model *m, fm_nn_ws *ws, const float *obs, float *act_out)
{
    forward_rows(m, ws, obs, 1, 1, ws->state);
    for (int i = 0; i < m->spec.nhidden; i++)
        memcpy(ws->state[i], ws->hid[i], sizeof(float) * m->spec.hidden[i]);
    denormalize(m, 1, ws->y, act_out);
}

/* ---------------- backward ---------------- */

static float *G(const fm_model *m, float *grad, const char *name)
{
    return grad + fm_layout_find(&m->layout, name)->offset;
}

/* gW[n x k] += dZ[R x n]' A[R x k] */
static void gemm_tn_acc(int R, int n, int k, const float *dZ, const float *A, float *gW)
{
    la_sgemm(1, 0, n, k, R, 1.0f, dZ, A, 1.0f, gW);
}

/* dA[R x k] = dZ[R x n] W[n x k] (+ beta dA) */
static void gemm_nn(int R, int k, int n, const float *dZ, const float *W, float beta, float *dA)
{
    la_sgemm(0, 0, R, k, n, 1.0f, dZ, W, beta, dA);
}

static void colsum_acc(int R, int n, const float *dZ, float *gb)
{
    for (int r = 0; r < R; r++)
        for (int j = 0; j < n; j++)
            gb[j] += dZ[(size_t)r * n + j];
}

/* dZ = dH * act'(H) given post-activation H. */
static void activation_grad(int act, size_t n, const float *H, float *d)
{
    if (act == FM_NN_TANH)
        for (size_t i = 0; i < n; i++)
            d[i] *= 1.0f - H[i] * H[i];
    else
        for (size_t i = 0; i < n; i++)
            d[i] = H[i] > 0.0f ? d[i] : 0.0f;
}

/* Gradients of head layer i given dZ (pre-activation gradient, R rows); writes the gradient
 * with respect to the layer's input into dIn (hidden input) or dPool (encoder feature). */
static void head_layer_grad(const fm_model *m, fm_nn_ws *ws, int i, int R, const float *dZ,
                            float *grad, float *dIn)
{
    const fm_nn_spec *s = &m->spec;
    int rows = i == s->nhidden ? s->out_dim : s->hidden[i], k = i == 0 ? ws->k0 : s->hidden[i - 1];
    char name[32];
    snprintf(name, sizeof name, "head%d.b", i);
    colsum_acc(R, rows, dZ, G(m, grad, name));
    snprintf(name, sizeof name, "head%d.w", i);
    if (k > 0)
        gemm_tn_acc(R, rows, k, dZ, i == 0 ? ws->in0 : ws->hid[i - 1], G(m, grad, name));
    if (i > 0 || s->arch == FM_NN_CNN) /* the input's gradient: a hidden layer's, or the conv features' */
        gemm_nn(R, k, rows, dZ, P(m, name), 0.0f, dIn);
    if (i == 0 && s->npoints > 0) {
        int e = s->enc_hidden[s->enc_nlayers - 1];
        gemm_tn_acc(R, rows, e, dZ, ws->pool, G(m, grad, "head0.wpc"));
        gemm_nn(R, e, rows, dZ, P(m, "head0.wpc"), 0.0f, dIn);
    }
}

/* Backpropagation through time for RNN layer i: dH (R x h, in place) becomes dZ. */
static void rnn_bptt(const fm_model *m, fm_nn_ws *ws, int i, int T, int B, float *dH, float *grad)
{
    int h = m->spec.hidden[i];
    const float *H = ws->hid[i];
    char name[32];
    snprintf(name, sizeof name, "head%d.rec", i);
    const float *Wr = P(m, name);
    for (int t = T - 1; t >= 0; t--) {
        float *d = dH + (size_t)t * B * h;
        activation_grad(m->spec.act, (size_t)B * h, H + (size_t)t * B * h, d);
        if (t > 0) /* dH_{t-1} += dZ_t Wrec */
            gemm_nn(B, h, h, d, Wr, 1.0f, d - (size_t)B * h);
    }
    if (T > 1) /* gWrec += sum_{t >= 1} dZ_t' H_{t-1} */
        gemm_tn_acc((T - 1) * B, h, h, dH + (size_t)B * h, H, G(m, grad, name));
}

static void encoder_grad(const fm_model *m, fm_nn_ws *ws, int R, const float *dPool, float *grad)
{
    const fm_nn_spec *s = &m->spec;
    int np = s->npoints, L = s->enc_nlayers, e = s->enc_hidden[L - 1];
    float *dE = ws->dea, *dPrev = ws->deb;
    char name[32];
    memset(dE, 0, sizeof(float) * (size_t)R * np * e);
    for (int r = 0; r < R; r++) /* max pooling routes the gradient to the winning point */
        for (int c = 0; c < e; c++)
            dE[((size_t)r * np + ws->arg[(size_t)r * e + c]) * e + c] += dPool[(size_t)r * e + c];
    for (int j = L - 1; j >= 0; j--) {
        int w = s->enc_hidden[j], k = j > 0 ? s->enc_hidden[j - 1] : s->pc_channels;
        size_t rows = (size_t)R * np;
        activation_grad(FM_NN_RELU, rows * w, ws->enc[j], dE);
        snprintf(name, sizeof name, "enc%d.b", j);
        colsum_acc((int)rows, w, dE, G(m, grad, name));
        snprintf(name, sizeof name, "enc%d.w", j);
        gemm_tn_acc((int)rows, w, k, dE, j > 0 ? ws->enc[j - 1] : ws->pts, G(m, grad, name));
        if (j > 0) {
            gemm_nn((int)rows, k, w, dE, P(m, name), 0.0f, dPrev);
            float *tmp = dE;
            dE = dPrev, dPrev = tmp;
        }
    }
}

static void backward(const fm_model *m, fm_nn_ws *ws, int T, int B, float *grad)
{
    const fm_nn_spec *s = &m->spec;
    int R = T * B, L = s->nhidden;
    float *dcur = ws->da, *dnext = ws->db;
    head_layer_grad(m, ws, L, R, ws->dy, grad, dcur); /* readout: dcur = dH_{L-1} */
    for (int i = L - 1; i >= 0; i--) {
        if (s->arch == FM_NN_RNN)
            rnn_bptt(m, ws, i, T, B, dcur, grad);
        else
            activation_grad(s->act, (size_t)R * s->hidden[i], ws->hid[i], dcur);
        head_layer_grad(m, ws, i, R, dcur, grad, dnext);
        float *tmp = dcur;
        dcur = dnext, dnext = tmp;
    }
    if (s->npoints > 0)
        encoder_grad(m, ws, R, dcur, grad);
    if (s->arch == FM_NN_CNN)
        fm_cnn_backward(m, ws->cnn, ws->x, R, dcur, grad);
}

double fm_nn_loss_grad(const fm_model *m, fm_nn_ws *ws, const float *obs, const float *target,
                       const float *mask, int T, int B, float *grad, double *count)
{
    int R = T * B, d = m->spec.out_dim;
    forward_rows(m, ws, obs, T, B, NULL);
    double loss = 0.0;
    if (m->spec.loss == FM_NN_LOSS_XENT) {
        for (int r = 0; r < R; r++) {
            float w = mask ? mask[r] : 1.0f;
            const float *y = ws->y + (size_t)r * d, *t = target + (size_t)r * d;
            float *dy = ws->dy + (size_t)r * d;
            double mx = y[0], z = 0.0, tsum = 0.0, ty = 0.0;
            for (int j = 1; j < d; j++)
                mx = y[j] > mx ? y[j] : mx;
            for (int j = 0; j < d; j++)
                z += exp((double)y[j] - mx), tsum += t[j], ty += (double)t[j] * y[j];
            double lse = mx + log(z); /* loss_r = sum_j t_j (lse - y_j) */
            loss += (double)w * (tsum * lse - ty);
            for (int j = 0; j < d; j++) /* d loss_r / d y_j = (sum t) softmax_j - t_j */
                dy[j] = w * (float)(tsum * exp((double)y[j] - lse) - t[j]);
            *count += w;
        }
        if (grad)
            backward(m, ws, T, B, grad);
        return loss;
    }
    for (int r = 0; r < R; r++) {
        float w = mask ? mask[r] : 1.0f;
        for (int j = 0; j < d; j++) {
            size_t q = (size_t)r * d + j;
            float e = ws->y[q] - (target[q] - m->act_mean[j]) / m->act_std[j];
            loss += (double)w * e * e;
            ws->dy[q] = 2.0f * w * e;
        }
        *count += w;
    }
    if (grad)
        backward(m, ws, T, B, grad);
    return loss;
}
