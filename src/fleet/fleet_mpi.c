/* fleet_mpi.c - status agreement, config broadcast and the MPI reducer. */
#include "fleet/fleet.h"
#include "io/guard.h"
#include "la/la.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

fm_status fm_fleet_agree(MPI_Comm comm, fm_status local, fm_err *err)
{
    int rank = 0, size = 1, code = (int)local, worst = 0;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    if (MPI_Allreduce(&code, &worst, 1, MPI_INT, MPI_MAX, comm) != MPI_SUCCESS)
        return fm_fail(err, FM_EMPI, "MPI_Allreduce failed while agreeing on status");
    if (worst == FM_OK)
        return FM_OK;
    int mine = local != FM_OK ? rank : size, first = size;
    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm);
    char msg[sizeof err->msg];
    int first_code = code;
    if (rank == first)
        memcpy(msg, err->msg, sizeof msg);
    MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, first, comm);
    MPI_Bcast(&first_code, 1, MPI_INT, first, comm);
    msg[sizeof msg - 1] = '\0';
    if (rank != first) {
        err->code = (fm_status)first_code;
        snprintf(err->msg, sizeof err->msg, "%s", msg);
    }
    return (fm_status)first_code;
}

fm_status fm_fleet_load_config(MPI_Comm comm, const char *path, fm_config *cfg, fm_err *err)
{
    return fm_fleet_load_point(comm, path, -1, cfg, err);
}

fm_status fm_fleet_load_point(MPI_Comm comm, const char *path, int index, fm_config *cfg, fm_err *err)
{
    fm_status status = FM_OK;
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    fm_status local = FM_OK;
    if (rank == 0)
        local = fm_cfg_load_point(path, index, cfg, err);
    FM_TRY(fm_fleet_agree(comm, local, err));
    FM_CHECK(MPI_Bcast(cfg, (int)sizeof *cfg, MPI_BYTE, 0, comm) == MPI_SUCCESS, FM_EMPI,
             "MPI_Bcast of the config failed");
cleanup:
    return status;
}

/* Chunk r of an n-element buffer split over `size` ranks: [*first, *first + *count). */
static void chunk_of(int n, int size, int r, int *first, int *count)
{
    int base = n / size, extra = n % size;
    *first = r * base + (r < extra ? r : extra);
    *count = base + (r < extra);
}

/* MPI counts are ints: a longer buffer is refused by name rather than truncated. */
static fm_status check_count(size_t n, const char *what, fm_err *err)
{
    if (n > (size_t)INT_MAX)
        return fm_fail(err, FM_EINVAL, "%s of %zu elements: more than MPI's int counts allow (%d)", what, n, INT_MAX);
    return FM_OK;
}

/* Counts and displacements of the n-element buffer's chunks, and this rank's receive layout
 * (`count` elements from each rank, in rank order). */
typedef struct chunks {
    int *cnt, *dsp, *rcnt, *rdsp, first, count;
} chunks;

static void chunks_free(chunks *c) { free(c->cnt), free(c->dsp), free(c->rcnt), free(c->rdsp); }

static fm_status chunks_make(chunks *c, int n, int N, int me, fm_err *err)
{
    fm_status status = FM_OK;
    *c = (chunks){0};
    chunk_of(n, N, me, &c->first, &c->count);
    FM_ALLOC(c->cnt, N);
    FM_ALLOC(c->dsp, N);
    FM_ALLOC(c->rcnt, N);
    FM_ALLOC(c->rdsp, N);
    for (int r = 0; r < N; r++) {
        chunk_of(n, N, r, &c->dsp[r], &c->cnt[r]);
        c->rcnt[r] = c->count, c->rdsp[r] = r * c->count;
    }
cleanup:
    return status;
}

/* Bytes of a reduce-scatter + allgather of n elements of `width` bytes, this rank's share:
 * it sends the other ranks' chunks of its buffer and its own summed chunk to the N - 1 others,
 * and receives N - 1 pieces of its chunk and the other ranks' summed chunks. */
static void count_rs_ag(fm_mpi_reducer_ctx *ctx, int n, int count, double width)
{
    double others = (double)(n - count) * width, mine = (double)count * width * (ctx->size - 1);
    ctx->bytes_sent += others + mine;
    ctx->bytes_recv += mine + others;
}

/* Sum in rank order with O(n) traffic and memory per rank, independent of the rank count:
 * a reduce-scatter (MPI_Alltoallv: chunk j of every rank's buffer goes to rank j, which adds the
 * pieces in rank order 0, 1, 2, ... starting from 0.0), then an MPI_Allgatherv of the summed
 * chunks. Every element is summed in the same order as the serial reducer's loop over the same
 * models, so the result is bitwise identical on every rank and to fm_reducer_serial. Each rank
 * sends and receives about 2 n (size - 1) / size doubles. */
static fm_status mpi_sum(void *vctx, double *buf, size_t nn, fm_err *err)
{
    fm_status status = FM_OK;
    fm_mpi_reducer_ctx *ctx = vctx;
    int N = ctx->size, n = (int)nn;
    chunks c = {0};
    double *pieces = NULL;
    if (N == 1 || nn == 0)
        return FM_OK;
    FM_TRY(check_count(nn, "sum", err));
    FM_TRY(chunks_make(&c, n, N, ctx->rank, err));
    FM_ALLOC(pieces, (size_t)c.count * N);
    FM_CHECK(MPI_Alltoallv(buf, c.cnt, c.dsp, MPI_DOUBLE, pieces, c.rcnt, c.rdsp, MPI_DOUBLE, ctx->comm) ==
                 MPI_SUCCESS,
             FM_EMPI, "MPI_Alltoallv (reduce-scatter of %d doubles) failed", n);
    for (int j = 0; j < c.count; j++) {
        double s = 0.0;
        for (int r = 0; r < N; r++)
            s += pieces[(size_t)r * c.count + j];
        buf[c.first + j] = s;
    }
    FM_CHECK(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, c.cnt, c.dsp, MPI_DOUBLE, ctx->comm) ==
                 MPI_SUCCESS,
             FM_EMPI, "MPI_Allgatherv (%d doubles) failed", n);
    count_rs_ag(ctx, n, c.count, sizeof(double));
cleanup:
    chunks_free(&c);
    free(pieces);
    return status;
}

/* The same reduce-scatter + allgather on float32 payloads: each rank's partial must be exactly a
 * float (it is one float32 model); its chunk is summed in double in rank order, divided, rounded
 * to float once and gathered as floats, so the result equals the serial reducer's bit for bit at
 * half the bytes of mpi_sum. */
static fm_status mpi_mean_f32(void *vctx, const double *partial, float *out, size_t nn, double divisor, fm_err *err)
{
    fm_status status = FM_OK;
    fm_mpi_reducer_ctx *ctx = vctx;
    int N = ctx->size, n = (int)nn;
    chunks c = {0};
    float *send = NULL, *pieces = NULL;
    if (N == 1 || nn == 0) {
        for (size_t j = 0; j < nn; j++)
            out[j] = (float)(partial[j] / divisor);
        return FM_OK;
    }
    FM_TRY(check_count(nn, "mean", err));
    FM_ALLOC(send, nn);
    for (size_t j = 0; j < nn; j++) {
        send[j] = (float)partial[j];
        FM_CHECK((double)send[j] == partial[j] || (isnan(send[j]) && isnan(partial[j])), FM_EINVAL,
                 "reducer mean: element %zu = %.17g is not a float32 value (one float model per rank expected)", j,
                 partial[j]);
    }
    FM_TRY(chunks_make(&c, n, N, ctx->rank, err));
    FM_ALLOC(pieces, (size_t)c.count * N);
    FM_CHECK(MPI_Alltoallv(send, c.cnt, c.dsp, MPI_FLOAT, pieces, c.rcnt, c.rdsp, MPI_FLOAT, ctx->comm) ==
                 MPI_SUCCESS,
             FM_EMPI, "MPI_Alltoallv (reduce-scatter of %d floats) failed", n);
    for (int j = 0; j < c.count; j++) {
        double s = 0.0;
        for (int r = 0; r < N; r++)
            s += pieces[(size_t)r * c.count + j];
        out[c.first + j] = (float)(s / divisor);
    }
    FM_CHECK(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, out, c.cnt, c.dsp, MPI_FLOAT, ctx->comm) ==
                 MPI_SUCCESS,
             FM_EMPI, "MPI_Allgatherv (%d floats) failed", n);
    count_rs_ag(ctx, n, c.count, sizeof(float));
cleanup:
    chunks_free(&c);
    free(send), free(pieces);
    return status;
}

/* Children of relative rank v in a binomial broadcast tree over N ranks (how the bytes of a
 * broadcast are counted: every rank but the root receives the buffer once, and each sends it to
 * its children; Open MPI may pick another tree, with the same received bytes). */
static int binomial_children(int v, int N)
{
    int k = 1, kids = 0;
    while (k <= v)
        k <<= 1;
    for (; v + k < N; k <<= 1)
        kids++;
    return kids;
}

static fm_status mpi_bcast(void *vctx, void *buf, size_t bytes, int owner, fm_err *err)
{
    fm_status status = FM_OK;
    fm_mpi_reducer_ctx *ctx = vctx;
    int N = ctx->size;
    if (N == 1 || bytes == 0)
        return FM_OK;
    FM_TRY(check_count(bytes, "broadcast", err));
    FM_CHECK(MPI_Bcast(buf, (int)bytes, MPI_BYTE, owner, ctx->comm) == MPI_SUCCESS, FM_EMPI,
             "MPI_Bcast (%zu bytes from rank %d) failed", bytes, owner);
    int v = (ctx->rank - owner + N) % N;
    ctx->bytes_sent += (double)binomial_children(v, N) * (double)bytes;
    if (v != 0)
        ctx->bytes_recv += (double)bytes;
cleanup:
    return status;
}

/* Every rank's block to every rank (MPI_Allgather in place); counted as a ring: each rank
 * sends and receives N - 1 blocks. */
static fm_status mpi_gather_f32(void *vctx, float *all, size_t nn, fm_err *err)
{
    fm_status status = FM_OK;
    fm_mpi_reducer_ctx *ctx = vctx;
    int N = ctx->size;
    if (N == 1 || nn == 0)
        return FM_OK;
    FM_TRY(check_count(nn, "gather", err));
    FM_CHECK(MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, all, (int)nn, MPI_FLOAT, ctx->comm) == MPI_SUCCESS,
             FM_EMPI, "MPI_Allgather (%d x %zu floats) failed", N, nn);
    ctx->bytes_sent += (double)(N - 1) * (double)nn * sizeof(float);
    ctx->bytes_recv += (double)(N - 1) * (double)nn * sizeof(float);
cleanup:
    return status;
}

fm_reducer fm_reducer_mpi(fm_mpi_reducer_ctx *ctx, MPI_Comm comm)
{
    ctx->comm = comm;
    ctx->bytes_sent = ctx->bytes_recv = 0.0;
    MPI_Comm_rank(comm, &ctx->rank);
    MPI_Comm_size(comm, &ctx->size);
    return (fm_reducer){.sum = mpi_sum, .mean_f32 = mpi_mean_f32, .bcast = mpi_bcast,
                        .gather_f32 = mpi_gather_f32, .ctx = ctx, .nglobal = ctx->size, .nlocal = 1,
                        .offset = ctx->rank};
}

void fm_world_init(int *argc, char ***argv)
{
    int provided = MPI_THREAD_SINGLE;
    la_blas_threads_default(); /* one BLAS thread per rank (la.h) */
    fm_guard_preinit();
    /* MPI_THREAD_MULTIPLE: the guard's watchdog thread may call MPI_Abort while the main thread is
     * inside MPI; fm_guard_install reads the level provided and falls back to _exit(1) below it. */
    MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    fm_guard_install();
}

int fm_world_finalize(int exit_code) { return fm_guard_exit(exit_code); }

int fm_world_rank(void)
{
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank;
}

fm_status fm_world_agree(fm_status local, fm_err *err) { return fm_fleet_agree(MPI_COMM_WORLD, local, err); }

fm_status fm_world_run(const char *config_path, const fm_run_opts *opts, fm_err *err)
{
    return fm_fleet_run(MPI_COMM_WORLD, config_path, opts, err);
}

fm_status fm_world_gen(const char *config_path, const char *out_path, int force, fm_err *err)
{
    return fm_fleet_gen(MPI_COMM_WORLD, config_path, out_path, force, err);
}
