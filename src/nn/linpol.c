/* linpol.c - linear policies: forward, BPTT gradients, training, least squares, transforms. */
#include "nn/linpol.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "la/la.h"
#include "nn/train.h"

size_t fm_lin_size(const fm_lindims *d)
{
    if (d->arch == FM_ARCH_STATIC_LINEAR)
        return (size_t)d->m * d->p;
    return (size_t)d->k * d->k + (size_t)d->k * d->p + (size_t)d->m * d->k;
}

void fm_lin_init(const fm_lindims *d, double scale, fm_rng *rng, double *theta)
{
    memset(theta, 0, sizeof(double) * fm_lin_size(d));
    if (d->arch == FM_ARCH_STATIC_LINEAR)
        return;
    double sb = scale > 0.0 ? scale : 1.0 / sqrt((double)d->p);
    double sc = scale > 0.0 ? scale : 1.0 / sqrt((double)d->k);
    double *B = fm_lin_B(d, theta), *C = fm_lin_C(d, theta);
    for (int i = 0; i < d->k * d->p; i++)
        B[i] = sb * fm_rng_normal(rng);
    for (int i = 0; i < d->m * d->k; i++)
        C[i] = sc * fm_rng_normal(rng);
}

size_t fm_lin_work_size(const fm_lindims *d, const fm_demos *demos)
{
    size_t T = (size_t)demos->horizon;
    return T * (2 * (size_t)(d->k + 1) + 2 * (size_t)d->m) + (size_t)d->k + 1;
}

/* Forward of one trajectory: S[t] = A S[t-1] + B y_t (S row t = s_t), U = S C'. */
static void dyn_forward(const fm_lindims *d, const double *theta, const double *Y, int len,
                        double *S, double *U)
{
    int k = d->k, p = d->p, m = d->m;
    const double *A = theta, *B = theta + k * k, *C = B + k * p;
    /* S = Y B' (len x k), then add the recurrence row by row */
    la_gemm(0, 1, len, k, p, 1.0, Y, B, 0.0, S);
    for (int t = 1; t < len; t++)
        la_gemv(0, k, k, 1.0, A, S + (t - 1) * k, 1.0, S + t * k);
    la_gemm(0, 1, len, m, k, 1.0, S, C, 0.0, U);
}

void fm_lin_actions(const fm_lindims *d, const double *theta, const double *obs, int len, double *u)
{
    if (d->arch == FM_ARCH_STATIC_LINEAR) {
        la_gemm(0, 1, len, d->m, d->p, 1.0, obs, theta, 0.0, u);
        return;
    }
    double *S = malloc(sizeof(double) * (size_t)len * d->k);
    if (!S) {
        for (int i = 0; i < len * d->m; i++)
            u[i] = NAN; /* allocation failure is visible as NaN actions */
        return;
    }
    dyn_forward(d, theta, obs, len, S, u);
    free(S);
}

/* Backward of one trajectory given dU (len x m): BPTT through s_t = A s_{t-1} + B y_t. */
static void dyn_backward(const fm_lindims *d, const double *theta, const double *Y, int len,
                         const double *S, const double *dU, double *G, double *grad)
{
    int k = d->k, p = d->p, m = d->m;
    const double *A = theta, *C = theta + k * k + k * p;
    double *gA = grad, *gB = grad + k * k, *gC = gB + k * p;
    la_gemm(1, 0, m, k, len, 1.0, dU, S, 1.0, gC);
    /* G[t] = dL/ds_t: G = dU C, then G[t] += A' G[t+1] backwards */
    la_gemm(0, 0, len, k, m, 1.0, dU, C, 0.0, G);
    for (int t = len - 2; t >= 0; t--)
        la_gemv(1, k, k, 1.0, A, G + (t + 1) * k, 1.0, G + t * k);
    /* gA += sum_{t>=1} G[t] s_{t-1}',  gB += G' Y */
    if (len > 1)
        la_gemm(1, 0, k, k, len - 1, 1.0, G + k, S, 1.0, gA);
    la_gemm(1, 0, k, p, len, 1.0, G, Y, 1.0, gB);
}

double fm_lin_loss_grad(const fm_lindims *d, const double *theta, const fm_demos *demos, int task,
                        double *grad, double *work, double *steps)
{
    int T = demos->horizon, m = d->m, kk = d->k > 0 ? d->k : 1;
    double *S = work, *G = S + (size_t)T * kk, *U = G + (size_t)T * kk, *dU = U + (size_t)T * m;
    double loss = 0.0;
    for (int i = 0; i < demos->n_traj; i++) {
        if (task >= 0 && demos->task[i] != task)
            continue;
        int len = demos->length[i];
        const double *Y = demos->obs + (size_t)i * T * d->p;
        const double *Ua = demos->act + (size_t)i * T * m;
        if (d->arch == FM_ARCH_STATIC_LINEAR)
            fm_lin_actions(d, theta, Y, len, U);
        else
            dyn_forward(d, theta, Y, len, S, U);
        for (int j = 0; j < len * m; j++) {
            double r = U[j] - Ua[j];
            loss += r * r;
            dU[j] = 2.0 * r;
        }
        *steps += len;
        if (grad && d->arch == FM_ARCH_DYNAMIC_LINEAR)
            dyn_backward(d, theta, Y, len, S, dU, G, grad);
        else if (grad) /* static: dL/dK = dU' Y */
            la_gemm(1, 0, m, d->p, len, 1.0, dU, Y, 1.0, grad);
    }
    return loss;
}

typedef struct adam_state {
    double *m, *v;
    long t;
} adam_state;

static void optimizer_step(const fm_config *cfg, adam_state *st, double *theta, const double *g,
                           size_t n, double lr)
{
    if (cfg->train.optimizer == FM_OPT_SGD) {
        for (size_t i = 0; i < n; i++)
            theta[i] -= lr * g[i];
        return;
    }
    fm_adam_step_f64(theta, st->m, st->v, g, n, lr, ++st->t);
}

/* Loss and gradient of the mean per-step loss, summed over the fleet when red != NULL.
 * buf holds [grad (n) | loss | steps]. */
static fm_status mean_loss_grad(const fm_lindims *d, const double *theta, const fm_demos *demos,
                                int task, const fm_reducer *red, double *buf, double *work,
                                double *loss, fm_err *err)
{
    fm_status status = FM_OK;
    size_t n = fm_lin_size(d);
    memset(buf, 0, sizeof(double) * (n + 2));
    buf[n] = fm_lin_loss_grad(d, theta, demos, task, buf, work, &buf[n + 1]);
    if (red)
        FM_TRY(fm_reduce_sum(red, buf, n + 2, err));
    FM_CHECK(buf[n + 1] > 0.0, FM_EDATA, "no demonstration steps to train on%s",
             task >= 0 ? " for this task" : "");
    for (size_t i = 0; i < n; i++)
        buf[i] /= buf[n + 1];
    *loss = buf[n] / buf[n + 1];
cleanup:
    return status;
}

fm_status fm_lin_train(const fm_lindims *d, double *theta, const fm_demos *demos, int task,
                       const fm_config *cfg, const fm_reducer *red, double *final_loss, fm_err *err)
{
    fm_status status = FM_OK;
    size_t n = fm_lin_size(d);
    double *buf = NULL, *work = NULL;
    adam_state st = {0};
    FM_ALLOC(buf, n + 2);
    FM_ALLOC(work, fm_lin_work_size(d, demos));
    FM_ALLOC(st.m, n);
    FM_ALLOC(st.v, n);
    double loss = 0.0;
    for (int it = 0; it < cfg->train.steps; it++) {
        FM_TRY(mean_loss_grad(d, theta, demos, task, red, buf, work, &loss, err));
        FM_CHECK(isfinite(loss), FM_ENUMERIC, "training diverged at step %d (loss %g)", it, loss);
        if (cfg->train.grad_clip > 0.0) {
            double nrm = la_nrm2((int)n, buf);
            if (nrm > cfg->train.grad_clip)
                la_scal((int)n, cfg->train.grad_clip / nrm, buf);
        }
        optimizer_step(cfg, &st, theta, buf, n,
                       fm_lr_at(cfg->train.lr_schedule, cfg->train.lr, cfg->train.lr_decay, it, cfg->train.steps));
    }
    FM_TRY(mean_loss_grad(d, theta, demos, task, red, buf, work, &loss, err));
    *final_loss = loss;
cleanup:
    free(buf), free(work), free(st.m), free(st.v);
    return status;
}

/* Normal equations of Algorithm 3: G = sum y y' (p x p), R = sum y u' (p x m). */
static double accumulate_normal(const fm_lindims *d, const fm_demos *demos, int task, double *Gm,
                                double *Rm)
{
    int T = demos->horizon, p = d->p, m = d->m;
    double steps = 0.0;
    for (int i = 0; i < demos->n_traj; i++) {
        if (task >= 0 && demos->task[i] != task)
            continue;
        int len = demos->length[i];
        const double *Y = demos->obs + (size_t)i * T * p, *U = demos->act + (size_t)i * T * m;
        la_gemm(1, 0, p, p, len, 1.0, Y, Y, 1.0, Gm);
        la_gemm(1, 0, p, m, len, 1.0, Y, U, 1.0, Rm);
        steps += len;
    }
    return steps;
}

fm_status fm_lin_fit_static(const fm_lindims *d, double *theta, const fm_demos *demos, int task,
                            double ridge, const fm_reducer *red, double *final_loss, fm_err *err)
{
    fm_status status = FM_OK;
    int p = d->p, m = d->m;
    size_t nb = (size_t)p * p + (size_t)p * m + 1;
    double *buf = NULL, *W = NULL, *work = NULL;
    FM_CHECK(d->arch == FM_ARCH_STATIC_LINEAR, FM_EINVAL, "least squares needs a static policy");
    FM_ALLOC(buf, nb);
    FM_ALLOC(W, p * m);
    double *Gm = buf, *Rm = buf + (size_t)p * p;
    buf[nb - 1] = accumulate_normal(d, demos, task, Gm, Rm);
    if (red)
        FM_TRY(fm_reduce_sum(red, buf, nb, err));
    FM_CHECK(buf[nb - 1] > 0.0, FM_EDATA, "no demonstration steps to fit%s",
             task >= 0 ? " for this task" : "");
    for (int i = 0; i < p; i++)
        Gm[i * p + i] += ridge;
    FM_TRY(la_solve(p, m, Gm, Rm, err)); /* W = (Y'Y + ridge I)^-1 Y'U, p x m */
    for (int i = 0; i < m; i++)
        for (int j = 0; j < p; j++)
            theta[i * p + j] = Rm[j * m + i]; /* K = W' */
    FM_ALLOC(work, fm_lin_work_size(d, demos));
    double lb[2] = {0.0, 0.0};
    lb[0] = fm_lin_loss_grad(d, theta, demos, task, NULL, work, &lb[1]);
    if (red)
        FM_TRY(fm_reduce_sum(red, lb, 2, err));
    *final_loss = lb[0] / lb[1];
cleanup:
    free(buf), free(W), free(work);
    return status;
}

fm_status fm_lin_transform(const fm_lindims *d, const double *T, double *theta, fm_err *err)
{
    fm_status status = FM_OK;
    int k = d->k, p = d->p, m = d->m;
    double *Ti = NULL, *tmp = NULL;
    FM_CHECK(d->arch == FM_ARCH_DYNAMIC_LINEAR, FM_EINVAL, "transform needs a dynamic policy");
    FM_ALLOC(Ti, k * k);
    FM_ALLOC(tmp, (size_t)k * (k > p ? k : p) + (size_t)m * k);
    memcpy(Ti, T, sizeof(double) * k * k);
    FM_TRY(la_inv(k, Ti, err));
    double *A = fm_lin_A(d, theta), *B = fm_lin_B(d, theta), *C = fm_lin_C(d, theta);
    la_gemm(0, 0, k, k, k, 1.0, T, A, 0.0, tmp);
    la_gemm(0, 0, k, k, k, 1.0, tmp, Ti, 0.0, A);
    la_gemm(0, 0, k, p, k, 1.0, T, B, 0.0, tmp);
    memcpy(B, tmp, sizeof(double) * k * p);
    la_gemm(0, 0, m, k, k, 1.0, C, Ti, 0.0, tmp);
    memcpy(C, tmp, sizeof(double) * m * k);
cleanup:
    free(Ti), free(tmp);
    return status;
}
