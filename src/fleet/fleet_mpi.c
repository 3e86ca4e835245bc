/* fleet_mpi.c - status agreement, config broadcast and the MPI reducer. */
#include "fleet/fleet.h"
#include "io/guard.h"

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

/* Sum in rank order with O(n) traffic and memory per rank, independent of the rank count:
 * a reduce-scatter (MPI_Alltoallv: chunk j of every rank's buffer goes to rank j, which adds the
 * pieces in rank order 0, 1, 2, ... starting from 0.0), then an MPI_Allgatherv of the summed
 * chunks. Every element is summed in the same order as the serial reducer's loop over the same
 * models, so the result is bitwise identical on every rank and to fm_reducer_serial. Each rank
 * sends and receives about 2 n (size - 1) / size doubles. */
static fm_status mpi_sum(void *vctx, double *buf, int n, fm_err *err)
{
    fm_status status = FM_OK;
    fm_mpi_reducer_ctx *ctx = vctx;
    int N = ctx->size, me = ctx->rank, *cnt = NULL, *dsp = NULL, *rcnt = NULL, *rdsp = NULL;
    double *pieces = NULL;
    if (N == 1 || n == 0)
        return FM_OK;
    int first = 0, count = 0;
    chunk_of(n, N, me, &first, &count);
    FM_ALLOC(cnt, N);
    FM_ALLOC(dsp, N);
    FM_ALLOC(rcnt, N);
    FM_ALLOC(rdsp, N);
    FM_ALLOC(pieces, (size_t)count * N);
    for (int r = 0; r < N; r++) {
        chunk_of(n, N, r, &dsp[r], &cnt[r]);
        rcnt[r] = count, rdsp[r] = r * count;
    }
    FM_CHECK(MPI_Alltoallv(buf, cnt, dsp, MPI_DOUBLE, pieces, rcnt, rdsp, MPI_DOUBLE, ctx->comm) == MPI_SUCCESS,
             FM_EMPI, "MPI_Alltoallv (reduce-scatter of %d doubles) failed", n);
    for (int j = 0; j < count; j++) {
        double s = 0.0;
        for (int r = 0; r < N; r++)
            s += pieces[(size_t)r * count + j];
        buf[first + j] = s;
    }
    FM_CHECK(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, cnt, dsp, MPI_DOUBLE, ctx->comm) == MPI_SUCCESS,
             FM_EMPI, "MPI_Allgatherv (%d doubles) failed", n);
    double out = (double)(n - count) * sizeof(double); /* other ranks' chunks, sent in each phase */
    ctx->bytes_sent += out + (double)count * sizeof(double) * (N - 1);
    ctx->bytes_recv += (double)count * sizeof(double) * (N - 1) + out;
cleanup:
    free(cnt), free(dsp), free(rcnt), free(rdsp), free(pieces);
    return status;
}

fm_reducer fm_reducer_mpi(fm_mpi_reducer_ctx *ctx, MPI_Comm comm)
{
    ctx->comm = comm;
    ctx->bytes_sent = ctx->bytes_recv = 0.0;
    MPI_Comm_rank(comm, &ctx->rank);
    MPI_Comm_size(comm, &ctx->size);
    return (fm_reducer){.sum = mpi_sum, .ctx = ctx, .nglobal = ctx->size, .nlocal = 1,
                        .offset = ctx->rank};
}

void fm_world_init(int *argc, char ***argv)
{
    fm_guard_preinit();
    MPI_Init(argc, argv);
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
