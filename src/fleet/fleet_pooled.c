/* fleet_pooled.c - pooled static least squares with ScaLAPACK pdgels on an nprocs x 1 grid.
 *
 * Global system, column-major and block-cyclic with exactly one row block per process row:
 *   A = [Y_0; 0; Y_1; 0; ...] (nprocs*mb x p),   B = [U_0; 0; U_1; 0; ...] (nprocs*mb x m).
 * Block r holds process row r's selected valid steps (y' in A, u' in B), then on row 0 only
 * (ridge > 0) sqrt(ridge) I with zeros in B, then zero rows up to mb. Zero rows leave
 * min ||A X - B||_F unchanged, and the order of the blocks does not matter. pdgels (QR)
 * overwrites the first p rows of A with R and the first p rows of B with X = K' (p x m). */
#include "fleet/fleet_pooled.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/fleet.h"

/* BLACS and ScaLAPACK (inside libscalapack-openmpi) ship no C header. The trailing size_t
 * of pdgels_ is gfortran's hidden length of the CHARACTER argument TRANS. */
int Csys2blacs_handle(MPI_Comm comm);
void Cfree_blacs_system_handle(int handle);
void Cblacs_gridinit(int *ctxt, const char *order, int nprow, int npcol);
void Cblacs_gridinfo(int ctxt, int *nprow, int *npcol, int *myrow, int *mycol);
void Cblacs_gridexit(int ctxt);
void Cblacs_freebuff(int ctxt, int wait);
void descinit_(int *desc, const int *m, const int *n, const int *mb, const int *nb,
               const int *irsrc, const int *icsrc, const int *ictxt, const int *lld, int *info);
void pdgels_(const char *trans, const int *m, const int *n, const int *nrhs, double *a,
             const int *ia, const int *ja, const int *desca, double *b, const int *ib,
             const int *jb, const int *descb, double *work, const int *lwork, int *info,
             size_t trans_len);

typedef struct pooled_grid {
    int sys, ctxt; /* BLACS system handle and grid context; -1 while not created */
    int nprow, myrow;
} pooled_grid;

typedef struct pooled_ls {
    int p, m;          /* unknowns per action component, action components (right-hand sides) */
    int mb, mglob;     /* rows per process row (also the local leading dimension), global rows */
    long long nlocal;  /* selected valid steps on this rank */
    long long total;   /* selected valid steps on all ranks */
    int desca[9], descb[9];
    double *A, *B;     /* local blocks, column-major: mb x p and mb x m */
    double *work;      /* pdgels workspace, lwork doubles */
    int lwork;
} pooled_ls;

static int selected(const fm_demos *demos, int task, int i)
{
    return task < 0 || demos->task[i] == task;
}

/* Argument checks and the number of selected valid steps. Local (no communication). */
static fm_status check_local(int p, int m, const fm_demos *demos, int task, double ridge,
                             const double *theta, const double *loss, long long *nlocal, fm_err *err)
{
    fm_status status = FM_OK;
    *nlocal = 0;
    FM_CHECK(demos && theta && loss, FM_EINVAL, "pooled least squares: NULL argument");
    FM_CHECK(p > 0 && m > 0, FM_EINVAL, "pooled least squares: p = %d, m = %d, expected both >= 1",
             p, m);
    FM_CHECK(demos->obs_dim == p && demos->act_dim == m, FM_EINVAL,
             "pooled least squares: demonstrations map %d -> %d, the policy %d -> %d",
             demos->obs_dim, demos->act_dim, p, m);
    FM_CHECK(isfinite(ridge) && ridge >= 0.0, FM_EINVAL,
             "pooled least squares: ridge = %g, expected a finite value >= 0", ridge);
    for (int i = 0; i < demos->n_traj; i++) {
        if (!selected(demos, task, i))
            continue;
        int len = demos->length[i];
        FM_CHECK(len >= 0 && len <= demos->horizon, FM_EDATA,
                 "pooled least squares: trajectory %d has length %d, expected 0..%d", i, len,
                 demos->horizon);
        *nlocal += len;
    }
cleanup:
    return status;
}

/* Same p, m, task and ridge flag everywhere; total and largest step counts give the layout.
 * Every check uses reduced values, so all ranks take the same branch. Collective. */
static fm_status agree_layout(MPI_Comm comm, int task, double ridge, pooled_ls *ls, fm_err *err)
{
    fm_status status = FM_OK;
    int size = 1;
    long long rg = ridge > 0.0, mine[9] = {ls->nlocal, ls->p, -ls->p, ls->m, -ls->m, task, -task, rg, -rg};
    long long mx[9];
    MPI_Comm_size(comm, &size);
    FM_CHECK(MPI_Allreduce(mine, mx, 9, MPI_LONG_LONG, MPI_MAX, comm) == MPI_SUCCESS &&
                 MPI_Allreduce(&ls->nlocal, &ls->total, 1, MPI_LONG_LONG, MPI_SUM, comm) ==
                     MPI_SUCCESS,
             FM_EMPI, "pooled least squares: MPI_Allreduce of the problem sizes failed");
    FM_CHECK(mx[1] == -mx[2] && mx[3] == -mx[4] && mx[5] == -mx[6] && mx[7] == -mx[8], FM_EINVAL,
             "pooled least squares: ranks disagree on p, m, task or whether ridge > 0");
    FM_CHECK(ls->total > 0, FM_EDATA, "pooled least squares: no demonstration steps on any rank%s",
             task >= 0 ? " for this task" : "");
    FM_CHECK(rg || ls->total >= ls->p, FM_ENUMERIC,
             "pooled least squares: %lld steps for %d unknowns per action (underdetermined; "
             "use train.ridge > 0)", ls->total, ls->p);
    long long mb = mx[0] + (rg ? ls->p : 0);
    FM_CHECK(mb <= INT_MAX / size, FM_EINVAL,
             "pooled least squares: %lld rows per rank overflow ScaLAPACK's int indices", mb);
    ls->mb = (int)mb;
    ls->mglob = (int)mb * size;
cleanup:
    return status;
}

/* Zeroed local blocks and the result buffers. Local. */
static fm_status alloc_local(pooled_ls *ls, double **xd, double **K, fm_err *err)
{
    fm_status status = FM_OK;
    FM_ALLOC(ls->A, (size_t)ls->mb * ls->p);
    FM_ALLOC(ls->B, (size_t)ls->mb * ls->m);
    FM_ALLOC(*xd, (size_t)ls->p * (ls->m + 1));
    FM_ALLOC(*K, (size_t)ls->m * ls->p);
cleanup:
    return status;
}

/* BLACS grid nprocs x 1 over comm ("R": process row r is rank r of comm). Collective. */
static fm_status grid_open(MPI_Comm comm, pooled_grid *g, fm_err *err)
{
    fm_status status = FM_OK;
    int size = 1, ctxt = -1, npcol = 0, mycol = -1;
    MPI_Comm_size(comm, &size);
    g->sys = Csys2blacs_handle(comm);
    ctxt = g->sys;
    Cblacs_gridinit(&ctxt, "R", size, 1);
    g->ctxt = ctxt;
    FM_CHECK(g->ctxt >= 0, FM_EMPI, "pooled least squares: BLACS grid %d x 1 not created", size);
    Cblacs_gridinfo(g->ctxt, &g->nprow, &npcol, &g->myrow, &mycol);
    FM_CHECK(g->nprow == size && npcol == 1 && g->myrow >= 0 && mycol == 0, FM_EMPI,
             "pooled least squares: BLACS grid is %d x %d with this process at (%d, %d), "
             "expected %d x 1", g->nprow, npcol, g->myrow, mycol, size);
cleanup:
    return status;
}

static void grid_close(pooled_grid *g)
{
    if (g->ctxt >= 0) {
        Cblacs_freebuff(g->ctxt, 1);
        Cblacs_gridexit(g->ctxt);
    }
    if (g->sys >= 0)
        Cfree_blacs_system_handle(g->sys);
    g->ctxt = g->sys = -1;
}

/* This process row's block: selected valid steps, then sqrt(ridge) I on row 0. Local. */
static void fill_blocks(const fm_demos *demos, int task, double ridge, int ridge_here,
                        pooled_ls *ls)
{
    int T = demos->horizon, p = ls->p, m = ls->m;
    size_t ld = (size_t)ls->mb, r = 0;
    for (int i = 0; i < demos->n_traj; i++) {
        if (!selected(demos, task, i))
            continue;
        const double *Y = demos->obs + (size_t)i * T * p, *U = demos->act + (size_t)i * T * m;
        for (int t = 0; t < demos->length[i]; t++, r++) {
            for (int j = 0; j < p; j++)
                ls->A[r + j * ld] = Y[(size_t)t * p + j];
            for (int j = 0; j < m; j++)
                ls->B[r + j * ld] = U[(size_t)t * m + j];
        }
    }
    if (ridge_here && ridge > 0.0)
        for (int j = 0; j < p; j++)
            ls->A[r + j + j * ld] = sqrt(ridge);
}

/* Descriptors (row blocks of mb, one column block) and pdgels' workspace size. Collective. */
static fm_status solve_query(const pooled_grid *g, pooled_ls *ls, fm_err *err)
{
    fm_status status = FM_OK;
    int zero = 0, one = 1, info = 0, query = -1;
    double wq = 0.0;
    descinit_(ls->desca, &ls->mglob, &ls->p, &ls->mb, &ls->p, &zero, &zero, &g->ctxt, &ls->mb, &info);
    FM_CHECK(info == 0, FM_EINVAL, "pooled least squares: descinit of A rejected argument %d", -info);
    descinit_(ls->descb, &ls->mglob, &ls->m, &ls->mb, &ls->m, &zero, &zero, &g->ctxt, &ls->mb, &info);
    FM_CHECK(info == 0, FM_EINVAL, "pooled least squares: descinit of B rejected argument %d", -info);
    pdgels_("N", &ls->mglob, &ls->p, &ls->m, ls->A, &one, &one, ls->desca, ls->B, &one, &one,
            ls->descb, &wq, &query, &info, 1);
    FM_CHECK(info == 0, FM_ENUMERIC, "pooled least squares: pdgels workspace query failed (info %d)",
             info);
    FM_CHECK(wq >= 1.0 && wq < (double)INT_MAX, FM_ENUMERIC,
             "pooled least squares: pdgels asked for %g workspace doubles", wq);
    ls->lwork = (int)wq;
cleanup:
    return status;
}

/* QR least squares in place (A -> R, B -> X). Collective. */
static fm_status solve_run(pooled_ls *ls, fm_err *err)
{
    fm_status status = FM_OK;
    int one = 1, info = 0;
    pdgels_("N", &ls->mglob, &ls->p, &ls->m, ls->A, &one, &one, ls->desca, ls->B, &one, &one,
            ls->descb, ls->work, &ls->lwork, &info, 1);
    FM_CHECK(info == 0, FM_ENUMERIC, "pooled least squares: pdgels failed (info %d)", info);
cleanup:
    return status;
}

/* xd = [X (p x m, row-major) | diag R (p)] on every rank: each process copies the global rows
 * 0..p-1 it owns (block b = rows b*mb.. lives on process row b), zeros elsewhere, and the fleet
 * sums them (one non-zero term per entry, so the sum is exact). Collective. */
static fm_status gather_solution(MPI_Comm comm, const pooled_grid *g, const pooled_ls *ls,
                                 double *xd, fm_err *err)
{
    fm_status status = FM_OK;
    int p = ls->p, m = ls->m;
    size_t ld = (size_t)ls->mb;
    memset(xd, 0, sizeof(double) * (size_t)p * (m + 1));
    for (int row = 0; row < p; row++) {
        if (row / ls->mb != g->myrow)
            continue;
        size_t l = (size_t)(row - g->myrow * ls->mb);
        for (int j = 0; j < m; j++)
            xd[(size_t)row * m + j] = ls->B[l + j * ld];
        xd[(size_t)p * m + row] = ls->A[l + row * ld];
    }
    fm_mpi_reducer_ctx ctx;
    fm_reducer red = fm_reducer_mpi(&ctx, comm);
    FM_TRY(fm_reduce_sum(&red, xd, p * (m + 1), err));
cleanup:
    return status;
}

/* K = X' (m x p) after checking that X is finite and R has no numerically zero pivot
 * (|R_ii| <= rows * eps * max |R_jj|). Local, on data identical on every rank. */
static fm_status solution_to_K(const pooled_ls *ls, double ridge, const double *xd, double *K,
                               fm_err *err)
{
    fm_status status = FM_OK;
    int p = ls->p, m = ls->m;
    const double *diag = xd + (size_t)p * m;
    double dmax = 0.0;
    for (size_t i = 0; i < (size_t)p * (m + 1); i++)
        FM_CHECK(isfinite(xd[i]), FM_ENUMERIC, "pooled least squares: pdgels result is not finite");
    for (int i = 0; i < p; i++)
        dmax = fmax(dmax, fabs(diag[i]));
    double rows = (double)ls->total + (ridge > 0.0 ? p : 0), tol = rows * DBL_EPSILON * dmax;
    for (int i = 0; i < p; i++)
        FM_CHECK(fabs(diag[i]) > tol, FM_ENUMERIC,
                 "pooled least squares: observations are rank deficient (|R[%d][%d]| = %.3g <= "
                 "%.3g); use train.ridge > 0", i, i, fabs(diag[i]), tol);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < p; j++)
            K[(size_t)i * p + j] = xd[(size_t)j * m + i];
cleanup:
    return status;
}

/* Mean per-step ||u - K y||^2 over the selected steps of all ranks. Collective. */
static fm_status pooled_loss(MPI_Comm comm, const fm_demos *demos, int task, const double *K,
                             double *loss, fm_err *err)
{
    fm_status status = FM_OK;
    int T = demos->horizon, p = demos->obs_dim, m = demos->act_dim;
    double sum[2] = {0.0, 0.0}; /* squared error, steps */
    for (int i = 0; i < demos->n_traj; i++) {
        if (!selected(demos, task, i))
            continue;
        for (int t = 0; t < demos->length[i]; t++) {
            const double *y = demos->obs + ((size_t)i * T + t) * p;
            const double *u = demos->act + ((size_t)i * T + t) * m;
            for (int a = 0; a < m; a++) {
                double r = u[a];
                for (int j = 0; j < p; j++)
                    r -= K[(size_t)a * p + j] * y[j];
                sum[0] += r * r;
            }
            sum[1] += 1.0;
        }
    }
    fm_mpi_reducer_ctx ctx;
    fm_reducer red = fm_reducer_mpi(&ctx, comm);
    FM_TRY(fm_reduce_sum(&red, sum, 2, err));
    *loss = sum[0] / sum[1];
cleanup:
    return status;
}

fm_status fm_pooled_static_scalapack(MPI_Comm comm, int p, int m, const fm_demos *demos, int task,
                                     double ridge, double *theta, double *loss, fm_err *err)
{
    fm_status status = FM_OK;
    pooled_grid g = {.sys = -1, .ctxt = -1, .nprow = 0, .myrow = -1};
    pooled_ls ls = {.p = p, .m = m};
    double *xd = NULL, *K = NULL, mse = 0.0;
    FM_TRY(fm_fleet_agree(comm, check_local(p, m, demos, task, ridge, theta, loss, &ls.nlocal, err), err));
    FM_TRY(agree_layout(comm, task, ridge, &ls, err));
    FM_TRY(fm_fleet_agree(comm, alloc_local(&ls, &xd, &K, err), err));
    FM_TRY(fm_fleet_agree(comm, grid_open(comm, &g, err), err));
    fill_blocks(demos, task, ridge, g.myrow == 0, &ls);
    FM_TRY(fm_fleet_agree(comm, solve_query(&g, &ls, err), err));
    FM_TRY(fm_fleet_agree(comm, fm_calloc(&ls.work, (size_t)ls.lwork, sizeof(double), err), err));
    FM_TRY(fm_fleet_agree(comm, solve_run(&ls, err), err));
    FM_TRY(gather_solution(comm, &g, &ls, xd, err));
    FM_TRY(solution_to_K(&ls, ridge, xd, K, err));
    FM_TRY(pooled_loss(comm, demos, task, K, &mse, err));
    memcpy(theta, K, sizeof(double) * (size_t)m * p);
    *loss = mse;
cleanup:
    grid_close(&g);
    free(ls.A), free(ls.B), free(ls.work), free(xd), free(K);
    return status;
}
