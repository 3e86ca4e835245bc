/* h5_mpi_check.c - parallel HDF5 I/O on several ranks (run by tests/mpi/h5io_mpi.sh).
 * Usage: mpirun -np 4 h5_mpi_check DIR   (DIR: an existing empty scratch directory)
 * Each rank writes different demonstrations (rank 1 has none), reads back its own shard and
 * compares bit for bit; rank 0 checks the whole file's layout against a serial loop; rows
 * written by every rank equal the serial expectation; failures on one rank reach every rank
 * with the same status and message. Rank 0 prints TAP; every check is agreed over all ranks. */
#define _POSIX_C_SOURCE 200809L
#include <hdf5.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/h5io.h"

enum { HORIZON = 6, OBS = 3, ACT = 2, TASKS = 3, SEED = 2024 };

static int rank_, size_, count_, failed_;
static const char *dir_;

/* Collective TAP check: passes when `local_ok` holds on every rank; failing ranks explain on
 * stderr. Returns the agreed result. */
static int check(int local_ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int check(int local_ok, const char *fmt, ...)
{
    int all = 0;
    char name[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (MPI_Allreduce(&local_ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD) != MPI_SUCCESS)
        all = 0;
    count_++;
    failed_ += !all;
    if (!local_ok)
        fprintf(stderr, "# rank %d failed: %s\n", rank_, name);
    if (rank_ == 0) {
        printf("%s %d - %s\n", all ? "ok" : "not ok", count_, name);
        fflush(stdout);
    }
    return all;
}

static const char *path_of(const char *name)
{
    static char buf[4][512];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", dir_, name);
    return p;
}

/* Rank r's trajectory count: rank 1 has none, the others differ. */
static int traj_count(int r) { return r == 1 ? 0 : 2 + (3 * r) % 5; }

static fm_status make_demos(int r, fm_demos *d, double *mixture, fm_err *err)
{
    fm_rng g;
    fm_status st = fm_demos_alloc(d, traj_count(r), HORIZON, OBS, ACT, err);
    if (st != FM_OK)
        return st;
    fm_rng_seed(&g, SEED, (uint64_t)r, FM_STREAM_DATA);
    for (int i = 0; i < d->n_traj * HORIZON * OBS; i++)
        d->obs[i] = fm_rng_normal(&g) + 1000.0 * r;
    for (int i = 0; i < d->n_traj * HORIZON * ACT; i++)
        d->act[i] = fm_rng_normal(&g) - 1000.0 * r;
    for (int i = 0; i < d->n_traj; i++) {
        d->task[i] = (int)fm_rng_below(&g, TASKS);
        d->length[i] = 1 + (int)fm_rng_below(&g, HORIZON);
    }
    fm_rng_dirichlet(&g, 1.0, TASKS, mixture);
    return FM_OK;
}

static uint64_t hash_text(const char *s)
{
    uint64_t x = UINT64_C(0xcbf29ce484222325);
    for (; *s; s++)
        x = (x ^ (unsigned char)*s) * UINT64_C(0x100000001b3);
    return x;
}

/* Collective: every rank holds the same message. */
static int same_message(const fm_err *err)
{
    uint64_t h = hash_text(err->msg), mx = 0, mn = 0;
    if (MPI_Allreduce(&h, &mx, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD) != MPI_SUCCESS ||
        MPI_Allreduce(&h, &mn, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD) != MPI_SUCCESS)
        return 0;
    return mx == mn;
}

static void test_demos(const char *path)
{
    fm_demos d = {0}, got = {0};
    double mix[TASKS], *gmix = NULL;
    fm_demos_meta meta = {.num_robots = size_, .num_tasks = TASKS}, gmeta;
    fm_err err;
    fm_err_clear(&err);
    snprintf(meta.env, sizeof meta.env, "lqg");
    fm_status st = make_demos(rank_, &d, mix, &err);
    if (st == FM_OK)
        st = fm_h5_write_demos(MPI_COMM_WORLD, path, &meta, &d, mix, &err);
    check(st == FM_OK, "write_demos on %d ranks (counts 2..6, rank 1 none) %s", size_, err.msg);
    st = fm_h5_read_demos(MPI_COMM_WORLD, path, &gmeta, &got, &gmix, &err);
    check(st == FM_OK, "read_demos on %d ranks %s", size_, err.msg);
    int same = st == FM_OK && got.n_traj == d.n_traj && got.horizon == HORIZON &&
               got.obs_dim == OBS && got.act_dim == ACT && gmeta.num_robots == size_ &&
               gmeta.num_tasks == TASKS && strcmp(gmeta.env, "lqg") == 0;
    check(same, "each rank reads back its own count and shape (incl. the empty rank)");
    same = same && memcmp(got.obs, d.obs, sizeof(double) * d.n_traj * HORIZON * OBS) == 0 &&
           memcmp(got.act, d.act, sizeof(double) * d.n_traj * HORIZON * ACT) == 0 &&
           memcmp(got.task, d.task, sizeof(int) * d.n_traj) == 0 &&
           memcmp(got.length, d.length, sizeof(int) * d.n_traj) == 0;
    check(same, "each rank's shard is bit-identical to what it wrote");
    check(gmix && memcmp(gmix, mix, sizeof mix) == 0, "each rank's mixture row is bit-identical");
    fm_demos_free(&got);
    free(gmix);
    fm_demos_free(&d);
}

/* Rank 0, serially: the file's rows are every rank's demonstrations in rank order. */
static int layout_matches(const char *path)
{
    double *obs = NULL, *off = NULL, mix[TASKS];
    int nd = 0, good = 1;
    int64_t dims[FM_H5_MAX_DIMS], odims[FM_H5_MAX_DIMS], row = 0;
    fm_err err;
    fm_err_clear(&err);
    good = fm_h5_read_f64(path, "/demos/obs", &obs, &nd, dims, &err) == FM_OK && nd == 3 &&
           fm_h5_read_f64(path, "/demos/robot_offsets", &off, &nd, odims, &err) == FM_OK &&
           odims[0] == size_ + 1;
    for (int r = 0; good && r < size_; r++) {
        fm_demos d = {0};
        good = make_demos(r, &d, mix, &err) == FM_OK && off[r] == (double)row &&
               memcmp(obs + row * HORIZON * OBS, d.obs, sizeof(double) * d.n_traj * HORIZON * OBS) == 0;
        row += d.n_traj;
        fm_demos_free(&d);
    }
    good = good && off[size_] == (double)row && dims[0] == row;
    if (!good)
        fprintf(stderr, "# layout: %s\n", err.msg);
    free(obs);
    free(off);
    return good;
}

static void test_rows(const char *path)
{
    const int64_t rd[2] = {2, 3}, d1[1] = {2};
    const double root_data[2] = {-1.5, 2.5};
    double row[6], *got = NULL;
    int nd = 0, good = 1;
    int64_t dims[FM_H5_MAX_DIMS];
    fm_h5 *h = NULL;
    fm_err err;
    fm_err_clear(&err);
    for (int i = 0; i < 6; i++)
        row[i] = 100.0 * rank_ + i + 0.25;
    fm_status st = fm_h5_create(MPI_COMM_WORLD, path, &h, &err);
    if (st == FM_OK)
        st = fm_h5_write_rows_f64(h, "/robots/theta", 2, rd, row, &err);
    if (st == FM_OK)
        st = fm_h5_write_f64(h, "/root_only", 1, d1, rank_ == 0 ? root_data : NULL, &err);
    if (st == FM_OK)
        st = fm_h5_write_text(h, "/config", rank_ == 0 ? "written by rank 0" : NULL, &err);
    if (st == FM_OK)
        st = fm_h5_attr_f64(h, "/robots/theta", "scale", rank_ == 0 ? 2.0 : -1.0, &err);
    fm_status cs = fm_h5_close(h, st == FM_OK, &err); /* NULL-safe */
    st = st == FM_OK ? cs : st;
    check(st == FM_OK, "rows, rank-0 data, text and attribute written by %d ranks %s", size_, err.msg);
    if (rank_ == 0) {
        good = fm_h5_read_f64(path, "/robots/theta", &got, &nd, dims, &err) == FM_OK && nd == 3 &&
               dims[0] == size_ && dims[1] == 2 && dims[2] == 3;
        for (int r = 0; good && r < size_; r++)
            for (int i = 0; i < 6; i++)
                good = good && got[r * 6 + i] == 100.0 * r + i + 0.25;
        free(got);
        got = NULL;
        good = good && fm_h5_read_f64(path, "/root_only", &got, &nd, dims, &err) == FM_OK &&
               got[0] == -1.5 && got[1] == 2.5;
        free(got);
        double scale = 0;
        good = good && fm_h5_read_attr_f64(path, "/robots/theta", "scale", &scale, &err) == FM_OK &&
               scale == 2.0;
        if (!good)
            fprintf(stderr, "# rows: %s\n", err.msg);
    }
    check(good, "rows dataset [%d, 2, 3] equals the serial loop; rank 0's data and attribute win",
          size_);
}

/* Rank 0 breaks robot 2's first length in the committed file (serial HDF5). */
static int corrupt_length(const char *path, int64_t row)
{
    int rc = -1;
    const int32_t zero = 0;
    const hsize_t start = (hsize_t)row, one = 1;
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t d = f >= 0 ? H5Dopen2(f, "/demos/length", H5P_DEFAULT) : H5I_INVALID_HID;
    hid_t fs = d >= 0 ? H5Dget_space(d) : H5I_INVALID_HID;
    hid_t ms = H5Screate_simple(1, &one, NULL);
    if (fs >= 0 && ms >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &one, NULL) >= 0 &&
        H5Dwrite(d, H5T_NATIVE_INT32, ms, fs, H5P_DEFAULT, &zero) >= 0)
        rc = 0;
    if (ms >= 0 && H5Sclose(ms) < 0)
        rc = -1;
    if (fs >= 0 && H5Sclose(fs) < 0)
        rc = -1;
    if (d >= 0 && H5Dclose(d) < 0)
        rc = -1;
    if (f >= 0 && H5Fclose(f) < 0)
        rc = -1;
    return rc;
}

static void test_shard_error(const char *path)
{
    fm_demos got = {0};
    double *gmix = NULL;
    fm_demos_meta gmeta;
    fm_err err;
    char want[128];
    int rc = 0;
    int64_t row = traj_count(0) + traj_count(1);
    fm_err_clear(&err);
    if (rank_ == 0)
        rc = corrupt_length(path, row);
    check(MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD) == MPI_SUCCESS && rc == 0,
          "rank 0 sets robot 2's first length to 0");
    fm_status st = fm_h5_read_demos(MPI_COMM_WORLD, path, &gmeta, &got, &gmix, &err);
    snprintf(want, sizeof want, "robot 2 trajectory 0 (row %lld) has length 0", (long long)row);
    check(st == FM_EDATA && got.obs == NULL && gmix == NULL,
          "a bad shard on rank 2 fails read_demos with FM_EDATA on every rank");
    check(strstr(err.msg, want) != NULL, "every rank has rank 2's message (%s)", err.msg);
    check(same_message(&err), "the message is identical on all ranks");
}

static void test_rank_mismatch(const char *path)
{
    fm_demos got = {0};
    double *gmix = NULL;
    fm_demos_meta gmeta;
    fm_err err;
    char want[128];
    fm_err_clear(&err);
    fm_status st = fm_h5_read_demos(MPI_COMM_SELF, path, &gmeta, &got, &gmix, &err);
    snprintf(want, sizeof want, "holds %d robots but the run has 1 rank", size_);
    check(st == FM_EDATA && strstr(err.msg, want), "reading a %d-robot file on 1 rank: %s", size_,
          err.msg);
}

static void test_collective_errors(void)
{
    const int64_t rd[1] = {rank_ == 2 ? 4 : 3};
    const double row[4] = {0};
    fm_demos d = {0};
    double mix[TASKS];
    fm_demos_meta meta = {.num_robots = size_, .num_tasks = TASKS};
    fm_h5 *h = NULL;
    fm_err err;
    fm_err_clear(&err);
    fm_status st = fm_h5_create(MPI_COMM_WORLD, path_of("mismatch.h5"), &h, &err);
    if (st == FM_OK)
        st = fm_h5_write_rows_f64(h, "/x", 1, rd, row, &err);
    check(st == FM_EINVAL && strstr(err.msg, "ranks passed different names or shapes"),
          "different row shapes on one rank: FM_EINVAL on all ranks, no hang");
    st = fm_h5_close(h, 0, &err);
    struct stat sb;
    check(st == FM_OK && stat(path_of("mismatch.h5.tmp"), &sb) != 0, "aborted file removed");
    fm_err_clear(&err);
    st = make_demos(rank_, &d, mix, &err);
    if (rank_ == 3 && d.n_traj > 0)
        d.task[d.n_traj - 1] = TASKS + 4;
    if (st == FM_OK)
        st = fm_h5_write_demos(MPI_COMM_WORLD, path_of("badwrite.h5"), &meta, &d, mix, &err);
    check(st == FM_EINVAL && strstr(err.msg, "robot 3 trajectory") && same_message(&err) &&
              stat(path_of("badwrite.h5"), &sb) != 0,
          "a bad task on rank 3: write_demos fails everywhere with rank 3's message, no file");
    fm_demos_free(&d);
}

/* rename() fails on rank 0 (the final name is a directory): every rank gets rank 0's error. */
static void test_rename_error(void)
{
    const char *path = path_of("isdir.h5");
    fm_h5 *h = NULL;
    fm_err err;
    fm_err_clear(&err);
    if (rank_ == 0 && mkdir(path, 0700) != 0)
        fprintf(stderr, "# mkdir %s failed\n", path);
    MPI_Barrier(MPI_COMM_WORLD);
    fm_status st = fm_h5_create(MPI_COMM_WORLD, path, &h, &err);
    if (st == FM_OK)
        st = fm_h5_close(h, 1, &err);
    check(st == FM_EIO && strstr(err.msg, "cannot rename") && same_message(&err),
          "a failing rename on rank 0 is FM_EIO with the same message on every rank");
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    if (argc != 2 || size_ < 3) {
        if (rank_ == 0)
            printf("Bail out! usage: mpirun -np N (N >= 3) %s SCRATCH_DIR\n", argv[0]);
        MPI_Finalize();
        return 2;
    }
    dir_ = argv[1];
    char demos[512], results[512];
    snprintf(demos, sizeof demos, "%s", path_of("demos.h5"));
    snprintf(results, sizeof results, "%s", path_of("results.h5"));
    test_demos(demos);
    int good = rank_ == 0 ? layout_matches(demos) : 1;
    check(good, "file layout: robot_offsets and obs rows in rank order (serial reader on rank 0)");
    test_rows(results);
    test_rank_mismatch(demos);
    test_shard_error(demos);
    test_collective_errors();
    test_rename_error();
    if (rank_ == 0)
        printf("1..%d\n", count_);
    MPI_Finalize();
    return failed_ ? 1 : 0;
}
