/* test_linpol.c - linear policies: BPTT gradient vs central finite differences, GL(k)
 * invariance (Eq. G.9), static least squares, training. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"
#include "la/la.h"
#include "nn/linpol.h"
#include "nn/train.h"
#include "tap.h"

static void random_demos(fm_demos *d, int n, int T, int p, int m, fm_rng *r)
{
    fm_demos_alloc(d, n, T, p, m, NULL);
    for (int i = 0; i < n; i++) {
        d->length[i] = T - (i % 3); /* variable lengths exercise the mask */
        d->task[i] = i % 2;
        for (int t = 0; t < d->length[i]; t++) {
            for (int j = 0; j < p; j++)
                d->obs[((size_t)i * T + t) * p + j] = fm_rng_normal(r);
            for (int j = 0; j < m; j++)
                d->act[((size_t)i * T + t) * m + j] = fm_rng_normal(r);
        }
    }
}

static double loss_at(const fm_lindims *d, const double *th, const fm_demos *demos, int task, double *work)
{
    double steps = 0;
    return fm_lin_loss_grad(d, th, demos, task, NULL, work, &steps);
}

static void check_gradient(int arch, int task)
{
    fm_rng r;
    fm_rng_seed(&r, 42, 0, 0);
    fm_lindims d = {.arch = arch, .k = 3, .p = 5, .m = 2};
    fm_demos demos;
    random_demos(&demos, 4, 7, d.p, d.m, &r);
    size_t n = fm_lin_size(&d);
    double *th = calloc(n, sizeof *th), *g = calloc(n, sizeof *g);
    double *work = calloc(fm_lin_work_size(&d, &demos), sizeof *work);
    for (size_t i = 0; i < n; i++)
        th[i] = 0.4 * fm_rng_normal(&r);
    double steps = 0;
    fm_lin_loss_grad(&d, th, &demos, task, g, work, &steps);
    double worst = 0;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        double h = 1e-6, save = th[i];
        th[i] = save + h;
        double lp = loss_at(&d, th, &demos, task, work);
        th[i] = save - h;
        double lm = loss_at(&d, th, &demos, task, work);
        th[i] = save;
        double num = (lp - lm) / (2 * h), tol = 1e-6 + 1e-6 * fmax(fabs(num), fabs(g[i]));
        worst = fmax(worst, fabs(num - g[i]));
        bad += fabs(num - g[i]) > tol;
    }
    ok(bad == 0, "%s gradient (task %d) matches central differences on all %zu parameters (max diff %.2g)",
       arch ? "dynamic" : "static", task, n, worst);
    double expect = 0;
    for (int i = 0; i < demos.n_traj; i++)
        if (task < 0 || demos.task[i] == task)
            expect += demos.length[i];
    is_close(steps, expect, 0, 0, "valid steps counted with the mask");
    free(th), free(g), free(work);
    fm_demos_free(&demos);
}

static void test_invariance(void)
{
    fm_rng r;
    fm_rng_seed(&r, 9, 0, 0);
    fm_lindims d = {.arch = FM_ARCH_DYNAMIC_LINEAR, .k = 4, .p = 6, .m = 2};
    size_t n = fm_lin_size(&d);
    int T = 50;
    double *th = calloc(n, sizeof *th), *th2 = calloc(n, sizeof *th2), Tm[16];
    double *y = calloc((size_t)T * d.p, sizeof *y), *u1 = calloc((size_t)T * d.m, sizeof *u1);
    double *u2 = calloc((size_t)T * d.m, sizeof *u2);
    fm_lin_init(&d, 0.0, &r, th);
    for (int i = 0; i < 16; i++)
        th[i] = 0.2 * fm_rng_normal(&r); /* a stable-ish A */
    for (int i = 0; i < 16; i++)
        Tm[i] = fm_rng_normal(&r) + (i % 5 == 0 ? 2.0 : 0.0);
    for (int i = 0; i < T * d.p; i++)
        y[i] = fm_rng_normal(&r);
    memcpy(th2, th, n * sizeof *th);
    fm_err err;
    fm_err_clear(&err);
    ok(fm_lin_transform(&d, Tm, th2, &err) == FM_OK, "transform by a random invertible T");
    fm_lin_actions(&d, th, y, T, u1);
    fm_lin_actions(&d, th2, y, T, u2);
    double worst = 0, scale = 0;
    for (int i = 0; i < T * d.m; i++)
        worst = fmax(worst, fabs(u1[i] - u2[i])), scale = fmax(scale, fabs(u1[i]));
    ok(worst <= 1e-9 * fmax(1.0, scale), "actions unchanged by (TAT^-1, TB, CT^-1) (max diff %.2g)", worst);
    double sing[16] = {0};
    fm_err_clear(&err);
    ok(fm_lin_transform(&d, sing, th2, &err) == FM_ENUMERIC, "a singular T is rejected");
    free(th), free(th2), free(y), free(u1), free(u2);
}

static void test_static_lstsq(void)
{
    fm_rng r;
    fm_rng_seed(&r, 5, 0, 0);
    fm_lindims d = {.arch = FM_ARCH_STATIC_LINEAR, .p = 4, .m = 2};
    double K[8], th[8];
    for (int i = 0; i < 8; i++)
        K[i] = fm_rng_normal(&r);
    fm_demos demos;
    fm_demos_alloc(&demos, 3, 20, 4, 2, NULL);
    for (int i = 0; i < 3; i++) {
        demos.length[i] = 20;
        for (int t = 0; t < 20; t++) {
            double *y = demos.obs + ((size_t)i * 20 + t) * 4, *u = demos.act + ((size_t)i * 20 + t) * 2;
            for (int j = 0; j < 4; j++)
                y[j] = fm_rng_normal(&r);
            la_gemm(0, 0, 2, 1, 4, 1.0, K, y, 0.0, u);
        }
    }
    fm_err err;
    fm_err_clear(&err);
    double loss = -1;
    fm_reducer red = fm_reducer_serial(1);
    ok(fm_lin_fit_static(&d, th, &demos, -1, 0.0, &red, &loss, &err) == FM_OK, "static fit runs");
    double worst = 0;
    for (int i = 0; i < 8; i++)
        worst = fmax(worst, fabs(th[i] - K[i]));
    ok(worst < 1e-10, "least squares recovers the expert gain exactly (max diff %.2g)", worst);
    ok(loss < 1e-20, "zero loss on noise-free data (%.2g)", loss);
    fm_err_clear(&err);
    ok(fm_lin_fit_static(&d, th, &demos, 5, 0.0, NULL, &loss, &err) == FM_EDATA,
       "fitting a task without data is an error");
    has_str(err.msg, "no demonstration steps", "message says why");
    fm_demos_free(&demos);
}

/* A dynamic policy cloned from a dynamic teacher: the loss falls by orders of magnitude. */
static void test_training(void)
{
    fm_rng r;
    fm_rng_seed(&r, 8, 0, 0);
    fm_lindims d = {.arch = FM_ARCH_DYNAMIC_LINEAR, .k = 2, .p = 3, .m = 1};
    size_t n = fm_lin_size(&d);
    double teacher[2 * 2 + 2 * 3 + 2] = {0.5, 0.1, -0.2, 0.3, 1, 0, 0.5, 0, 1, -0.5, 1, -1};
    fm_demos demos;
    fm_demos_alloc(&demos, 8, 30, 3, 1, NULL);
    for (int i = 0; i < 8; i++) {
        demos.length[i] = 30;
        for (int j = 0; j < 30 * 3; j++)
            demos.obs[(size_t)i * 90 + j] = fm_rng_normal(&r);
        fm_lin_actions(&d, teacher, demos.obs + (size_t)i * 90, 30, demos.act + (size_t)i * 30);
    }
    fm_config cfg;
    fm_cfg_defaults(&cfg);
    cfg.train.steps = 1500;
    cfg.train.lr = 0.02;
    double *th = calloc(n, sizeof *th), *th2 = calloc(n, sizeof *th2), *work = calloc(fm_lin_work_size(&d, &demos), 8);
    fm_lin_init(&d, 0.0, &r, th);
    memcpy(th2, th, n * sizeof *th);
    double l0 = 0, steps = 0, loss = 0, loss2 = 0;
    l0 = fm_lin_loss_grad(&d, th, &demos, -1, NULL, work, &steps) / steps;
    fm_err err;
    fm_err_clear(&err);
    ok(fm_lin_train(&d, th, &demos, -1, &cfg, NULL, &loss, &err) == FM_OK, "Adam training runs");
    ok(loss < 1e-3 * l0, "loss falls from %.3g to %.3g", l0, loss);
    fm_lin_train(&d, th2, &demos, -1, &cfg, NULL, &loss2, &err);
    ok(memcmp(th, th2, n * sizeof *th) == 0, "training is deterministic");
    free(th), free(th2), free(work);
    fm_demos_free(&demos);
}

/* train.lr_schedule reaches linear training: with SGD a step schedule whose decay is ~0 freezes
 * the policy after half the steps (200 steps of it = 100 constant steps), cosine does not. */
static void test_lr_schedule(void)
{
    fm_rng r;
    fm_rng_seed(&r, 9, 0, 0);
    fm_lindims d = {.arch = FM_ARCH_DYNAMIC_LINEAR, .k = 2, .p = 3, .m = 1};
    size_t n = fm_lin_size(&d);
    fm_demos demos;
    random_demos(&demos, 6, 12, 3, 1, &r);
    fm_config cfg;
    fm_cfg_defaults(&cfg);
    cfg.train.optimizer = FM_OPT_SGD;
    cfg.train.lr = 0.01;
    double th0[64], a[64], b[64], c[64], loss = 0;
    fm_lin_init(&d, 0.0, &r, th0);
    memcpy(a, th0, n * sizeof *a), memcpy(b, th0, n * sizeof *b), memcpy(c, th0, n * sizeof *c);
    fm_err err;
    fm_err_clear(&err);
    cfg.train.steps = 100;
    fm_lin_train(&d, a, &demos, -1, &cfg, NULL, &loss, &err);
    cfg.train.steps = 200, cfg.train.lr_schedule = FM_LR_STEP, cfg.train.lr_decay = 1e-300;
    ok(fm_lin_train(&d, b, &demos, -1, &cfg, NULL, &loss, &err) == FM_OK, "step schedule trains (%s)", err.msg);
    cfg.train.lr_schedule = FM_LR_COSINE;
    fm_lin_train(&d, c, &demos, -1, &cfg, NULL, &loss, &err);
    double db = 0, dc = 0;
    for (size_t j = 0; j < n; j++)
        db = fmax(db, fabs(a[j] - b[j])), dc = fmax(dc, fabs(a[j] - c[j]));
    ok(db < 1e-12, "200 steps with lr x 1e-300 from the half = 100 constant steps (max diff %.3g)", db);
    ok(dc > 1e-6, "200 cosine steps end elsewhere (max diff %.3g)", dc);
    fm_demos_free(&demos);
}

int main(void)
{
    check_gradient(FM_ARCH_DYNAMIC_LINEAR, -1);
    check_gradient(FM_ARCH_DYNAMIC_LINEAR, 1);
    check_gradient(FM_ARCH_STATIC_LINEAR, -1);
    test_invariance();
    test_static_lstsq();
    test_training();
    test_lr_schedule();
    return done_testing();
}
