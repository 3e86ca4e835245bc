/* pooled_scalapack_check.c - ScaLAPACK pooled least squares (fm_pooled_static_scalapack)
 * equals the normal equations summed over the fleet (fm_lin_fit_static + MPI reducer).
 * Every rank generates its own demonstrations from a shared K_true (seeds per rank): different
 * trajectory counts and lengths, two tasks, rank 1 a single 2-step trajectory, rank 2 only
 * task 1, large garbage past every valid length. Works for any number of ranks; prints TAP
 * from rank 0 and exits non-zero on any failure. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

#include "core/core.h"
#include "data/data.h"
#include "fleet/fleet.h"
#include "fleet/fleet_pooled.h"
#include "nn/linpol.h"

enum { P = 5, M = 3, H = 12 };

typedef enum demo_kind {
    DEMO_MIXED = 0, /* the layout described above */
    DEMO_TINY,      /* one 2-step task-0 trajectory per rank (fewer rows than p on each) */
    DEMO_RANK2,     /* like MIXED, but every y lies in one shared 2-D subspace */
    DEMO_COUNT
} demo_kind;

static int rank_, size_;

/* One TAP line from rank 0 for a condition that must hold on every rank. */
#define ok_all(cond, ...)                                                         \
    do {                                                                          \
        int c_ = !!(cond), a_ = 0;                                                \
        MPI_Allreduce(&c_, &a_, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);            \
        if (rank_ == 0)                                                           \
            ok(a_, __VA_ARGS__);                                                  \
    } while (0)

/* max |got - want| <= atol + rtol * max |want| over n entries, on every rank. */
#define close_all(got, want, n, atol, rtol, ...)                                              \
    do {                                                                                      \
        double d_ = max_diff((got), (want), (n)), s_ = max_abs((want), (n)), dm_ = 0.0, sm_;  \
        MPI_Allreduce(&d_, &dm_, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);                     \
        MPI_Allreduce(&s_, &sm_, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);                     \
        double tol_ = (atol) + (rtol) * sm_;                                                  \
        if (rank_ == 0 && !ok(dm_ <= tol_, __VA_ARGS__))                                      \
            printf("#   max |got - want| %.3g, max |want| %.3g (tol %.3g)\n", dm_, sm_, tol_); \
    } while (0)

/* max |got - want| (infinite if anything is not finite) and max |want|. */
static double max_diff(const double *got, const double *want, int n)
{
    double diff = 0.0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(got[i]) || !isfinite(want[i]))
            return INFINITY;
        diff = fmax(diff, fabs(got[i] - want[i]));
    }
    return diff;
}

static double max_abs(const double *x, int n)
{
    double s = 0.0;
    for (int i = 0; i < n; i++)
        s = fmax(s, fabs(x[i]));
    return s;
}

/* 1 when x[0..n) has the same bits on every rank. Collective. */
static int same_everywhere(const double *x, int n)
{
    double lo[P * M + 1], hi[P * M + 1];
    MPI_Allreduce(x, lo, n, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(x, hi, n, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return memcmp(lo, x, sizeof(double) * n) == 0 && memcmp(hi, x, sizeof(double) * n) == 0;
}

static void fill_shape(demo_kind kind, fm_rng *r, fm_demos *d)
{
    for (int i = 0; i < d->n_traj; i++) {
        d->length[i] = kind == DEMO_TINY || rank_ == 1 ? 2 : 4 + (int)fm_rng_below(r, H - 3);
        d->task[i] = kind == DEMO_TINY || rank_ == 1 ? 0 : rank_ == 2 ? 1 : i % 2;
    }
}

/* Demonstrations u = K_true y + noise e on the valid steps, garbage after them. */
static fm_status make_demos(demo_kind kind, const double *Ktrue, double noise, fm_demos *d,
                            fm_err *err)
{
    fm_status status = FM_OK;
    fm_rng r, shared;
    fm_rng_seed(&r, 2024 + kind, (uint64_t)rank_, FM_STREAM_DATA);
    fm_rng_seed(&shared, 77, FM_RANK_SHARED, FM_STREAM_SYSTEM);
    double basis[2][P];
    for (int j = 0; j < 2 * P; j++)
        basis[j / P][j % P] = fm_rng_normal(&shared);
    int n = kind == DEMO_TINY || rank_ == 1 ? 1 : 3 + 2 * rank_;
    FM_TRY(fm_demos_alloc(d, n, H, P, M, err));
    fill_shape(kind, &r, d);
    for (int i = 0; i < n; i++)
        for (int t = 0; t < H; t++) {
            double *y = d->obs + ((size_t)i * H + t) * P, *u = d->act + ((size_t)i * H + t) * M;
            double a = fm_rng_normal(&r), b = fm_rng_normal(&r), junk = t >= d->length[i] ? 1e3 : 0.0;
            for (int j = 0; j < P; j++)
                y[j] = kind == DEMO_RANK2 ? a * basis[0][j] + b * basis[1][j] : fm_rng_normal(&r);
            for (int k = 0; k < M; k++) {
                u[k] = noise * fm_rng_normal(&r);
                for (int j = 0; j < P; j++)
                    u[k] += Ktrue[k * P + j] * y[j];
            }
            for (int j = 0; j < P && junk > 0.0; j++)
                y[j] = junk * fm_rng_normal(&r);
            for (int k = 0; k < M && junk > 0.0; k++)
                u[k] = junk * fm_rng_normal(&r);
        }
cleanup:
    return status;
}

/* ScaLAPACK and normal equations agree on K and the loss, everywhere. */
static void compare_case(const fm_demos *d, int task, double ridge, const char *name)
{
    fm_lindims dims = {.arch = FM_ARCH_STATIC_LINEAR, .p = P, .m = M};
    fm_mpi_reducer_ctx ctx;
    fm_reducer red = fm_reducer_mpi(&ctx, MPI_COMM_WORLD);
    double Ks[P * M] = {0}, Kn[P * M] = {0}, ls = NAN, ln = NAN;
    fm_err e1, e2;
    fm_err_clear(&e1), fm_err_clear(&e2);
    fm_status s1 = fm_pooled_static_scalapack(MPI_COMM_WORLD, P, M, d, task, ridge, Ks, &ls, &e1);
    fm_status s2 = fm_lin_fit_static(&dims, Kn, d, task, ridge, &red, &ln, &e2);
    if (s1 != FM_OK || s2 != FM_OK)
        fprintf(stderr, "# rank %d %s: scalapack %s (%s), normal %s (%s)\n", rank_, name,
                fm_status_name(s1), e1.msg, fm_status_name(s2), e2.msg);
    ok_all(s1 == FM_OK && s2 == FM_OK, "%s: both solvers succeed", name);
    close_all(Ks, Kn, P * M, 0.0, 1e-9, "%s: ScaLAPACK K equals the normal-equations K (1e-9 rel)", name);
    close_all(&ls, &ln, 1, 1e-20, 1e-8, "%s: mean per-step losses agree (1e-8 rel + 1e-20)", name);
    ok_all(same_everywhere(Ks, P * M) && same_everywhere(&ls, 1),
           "%s: K and loss identical on every rank", name);
}

/* Noise-free data generated by K_true: K_true comes back and the loss is ~0. */
static void recover_case(const fm_demos *d, const double *Ktrue, const char *name)
{
    double K[P * M] = {0}, loss = NAN;
    fm_err e;
    fm_err_clear(&e);
    fm_status s = fm_pooled_static_scalapack(MPI_COMM_WORLD, P, M, d, -1, 0.0, K, &loss, &e);
    if (s != FM_OK)
        fprintf(stderr, "# rank %d %s: %s (%s)\n", rank_, name, fm_status_name(s), e.msg);
    ok_all(s == FM_OK, "%s: solver succeeds", name);
    close_all(K, Ktrue, P * M, 0.0, 1e-10, "%s: K_true recovered (1e-10 rel)", name);
    ok_all(loss >= 0.0 && loss <= 1e-20, "%s: loss %.3g is ~0", name, loss);
    ok_all(same_everywhere(K, P * M), "%s: K identical on every rank", name);
}

/* The call fails with `want` on every rank, err->msg names the problem, theta is untouched. */
static void expect_status(const fm_demos *d, int p, int task, double ridge, fm_status want,
                          const char *needle, const char *name)
{
    double K[(P + 1) * M], loss = 42.0;
    for (int i = 0; i < (P + 1) * M; i++)
        K[i] = 42.0;
    fm_err e;
    fm_err_clear(&e);
    fm_status s = fm_pooled_static_scalapack(MPI_COMM_WORLD, p, M, d, task, ridge, K, &loss, &e);
    int untouched = loss == 42.0;
    for (int i = 0; i < (P + 1) * M; i++)
        untouched &= K[i] == 42.0;
    int good = s == want && strstr(e.msg, needle) != NULL;
    if (!good)
        fprintf(stderr, "# rank %d %s: got %s '%s', want %s '...%s...'\n", rank_, name,
                fm_status_name(s), e.msg, fm_status_name(want), needle);
    ok_all(good, "%s: %s with '%s' on every rank", name, fm_status_name(want), needle);
    ok_all(untouched, "%s: theta and loss untouched", name);
}

static void run_checks(const double *Ktrue, fm_demos *mixed, fm_demos *clean, fm_demos *tiny,
                       fm_demos *deficient)
{
    compare_case(mixed, -1, 0.0, "all tasks");
    compare_case(mixed, -1, 0.5, "all tasks, ridge 0.5");
    compare_case(mixed, 0, 0.0, "task 0 (rank 2 has no rows)");
    compare_case(mixed, 1, 2.0, "task 1, ridge 2 (rank 1 has no rows)");
    recover_case(clean, Ktrue, "noise-free");
    if (2 * size_ >= P) {
        recover_case(tiny, Ktrue, "2 rows per rank (solution spread over ranks)");
        compare_case(tiny, -1, 0.0, "2 rows per rank");
    } else {
        expect_status(tiny, P, -1, 0.0, FM_ENUMERIC, "underdetermined", "2 rows per rank");
    }
    compare_case(tiny, -1, 0.1, "2 rows per rank, ridge 0.1");
    expect_status(deficient, P, -1, 0.0, FM_ENUMERIC, "rank deficient", "rank-2 observations");
    compare_case(deficient, -1, 0.1, "rank-2 observations, ridge 0.1");
    expect_status(mixed, P, 7, 0.0, FM_EDATA, "no demonstration steps", "task 7");
    expect_status(mixed, P, 7, 1.0, FM_EDATA, "no demonstration steps", "task 7, ridge 1");
    expect_status(mixed, P + 1, -1, 0.0, FM_EINVAL, "demonstrations map", "p mismatch");
    int saved = mixed->length[0];
    if (rank_ == size_ - 1)
        mixed->length[0] = H + 1;
    expect_status(mixed, P, -1, 0.0, FM_EDATA, "has length 13", "bad length on the last rank only");
    mixed->length[0] = saved;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    double Ktrue[P * M];
    fm_rng r;
    fm_rng_seed(&r, 99, FM_RANK_SHARED, FM_STREAM_SYSTEM);
    for (int i = 0; i < P * M; i++)
        Ktrue[i] = fm_rng_normal(&r);
    fm_demos mixed = {0}, clean = {0}, tiny = {0}, deficient = {0};
    fm_err err;
    fm_err_clear(&err);
    fm_status st = make_demos(DEMO_MIXED, Ktrue, 0.1, &mixed, &err);
    if (st == FM_OK)
        st = make_demos(DEMO_MIXED, Ktrue, 0.0, &clean, &err);
    if (st == FM_OK)
        st = make_demos(DEMO_TINY, Ktrue, 0.0, &tiny, &err);
    if (st == FM_OK)
        st = make_demos(DEMO_RANK2, Ktrue, 0.1, &deficient, &err);
    ok_all(st == FM_OK, "demonstrations generated on %d ranks", size_);
    if (st == FM_OK)
        run_checks(Ktrue, &mixed, &clean, &tiny, &deficient);
    int failed = rank_ == 0 ? done_testing() : 0;
    fm_demos_free(&mixed), fm_demos_free(&clean), fm_demos_free(&tiny), fm_demos_free(&deficient);
    MPI_Bcast(&failed, 1, MPI_INT, 0, MPI_COMM_WORLD);
    MPI_Finalize();
    return failed ? 1 : 0;
}
