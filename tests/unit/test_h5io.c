/* test_h5io.c - HDF5 I/O on one MPI rank: demonstrations round trip (bit-identical), the
 * results writer read back with the serial readers, commit / abort of the temporary file,
 * fm_h5_describe, and every validation error of fm_h5_read_demos on files corrupted with the
 * raw HDF5 API (message, status, no outputs, no HDF5 handle left open). */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <hdf5.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/h5io.h"
#include "tap.h"

/* Geometry of the reference demonstrations. */
enum { N_TRAJ = 5, HORIZON = 7, OBS = 3, ACT = 2, TASKS = 3 };

static char tmpdir[64];

static const char *in_tmp(const char *name)
{
    static char buf[8][256];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", tmpdir, name);
    return p;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* HDF5 identifiers still open in this process (files, datasets, groups, types, attributes). */
static long open_ids(void)
{
    return (long)H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
}

/* Random demonstrations with awkward values (-0.0, subnormals, huge) for bit-exactness. */
static void make_demos(fm_demos *d, double *mixture, uint64_t seed)
{
    fm_rng r;
    fm_err err;
    fm_err_clear(&err);
    fm_rng_seed(&r, seed, 0, FM_STREAM_DATA);
    if (fm_demos_alloc(d, N_TRAJ, HORIZON, OBS, ACT, &err) != FM_OK)
        return;
    for (int i = 0; i < N_TRAJ * HORIZON * OBS; i++)
        d->obs[i] = fm_rng_normal(&r) * 1e3;
    for (int i = 0; i < N_TRAJ * HORIZON * ACT; i++)
        d->act[i] = fm_rng_normal(&r);
    d->obs[0] = -0.0;
    d->obs[1] = 4.9e-324;
    d->act[1] = 1.7976931348623157e308;
    for (int i = 0; i < N_TRAJ; i++) {
        d->task[i] = (int)fm_rng_below(&r, TASKS);
        d->length[i] = 1 + (int)fm_rng_below(&r, HORIZON);
    }
    d->length[0] = HORIZON;
    d->length[1] = 1;
    fm_rng_dirichlet(&r, 0.5, TASKS, mixture);
}

static fm_demos_meta ref_meta(void)
{
    fm_demos_meta m = {.num_robots = 1, .num_tasks = TASKS};
    snprintf(m.env, sizeof m.env, "lqg");
    return m;
}

/* ---------------- demonstrations round trip ---------------- */

static void test_demos_round_trip(void)
{
    fm_demos d = {0}, got = {0};
    double mix[TASKS], *gmix = NULL;
    fm_demos_meta meta = ref_meta(), gmeta;
    fm_err err;
    const char *path = in_tmp("demos.h5");
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    make_demos(&d, mix, 42);
    fm_err_clear(&err);
    fm_status st = fm_h5_write_demos(MPI_COMM_WORLD, path, &meta, &d, mix, &err);
    is_int(st, FM_OK, "write_demos succeeds (%s)", err.msg);
    ok(exists(path) && !exists(tmp), "write_demos commits: final file present, no .tmp left");
    st = fm_h5_read_demos(MPI_COMM_WORLD, path, &gmeta, &got, &gmix, &err);
    is_int(st, FM_OK, "read_demos succeeds (%s)", err.msg);
    if (st == FM_OK) {
        is_str(gmeta.env, "lqg", "env round trip");
        is_int(gmeta.num_robots, 1, "num_robots round trip");
        is_int(gmeta.num_tasks, TASKS, "num_tasks round trip");
        ok(got.n_traj == N_TRAJ && got.horizon == HORIZON && got.obs_dim == OBS &&
               got.act_dim == ACT,
           "shape round trip (%d x %d, obs %d, act %d)", got.n_traj, got.horizon, got.obs_dim,
           got.act_dim);
        ok(memcmp(got.obs, d.obs, sizeof(double) * N_TRAJ * HORIZON * OBS) == 0,
           "obs bit-identical (incl. -0.0 and subnormal)");
        ok(memcmp(got.act, d.act, sizeof(double) * N_TRAJ * HORIZON * ACT) == 0,
           "actions bit-identical");
        ok(memcmp(got.task, d.task, sizeof(int) * N_TRAJ) == 0, "tasks identical");
        ok(memcmp(got.length, d.length, sizeof(int) * N_TRAJ) == 0, "lengths identical");
        ok(memcmp(gmix, mix, sizeof mix) == 0, "mixture bit-identical");
    }
    is_int(open_ids(), 0, "no HDF5 handle left open after write and read");
    fm_demos_free(&got);
    free(gmix);
    fm_demos_free(&d);
}

static void test_demos_empty(void)
{
    fm_demos d = {0}, got = {0};
    double mix[TASKS] = {0.2, 0.3, 0.5}, *gmix = NULL;
    fm_demos_meta meta = ref_meta(), gmeta;
    fm_err err;
    const char *path = in_tmp("empty.h5");
    fm_err_clear(&err);
    fm_demos_alloc(&d, 0, HORIZON, OBS, ACT, &err);
    fm_status st = fm_h5_write_demos(MPI_COMM_WORLD, path, &meta, &d, mix, &err);
    is_int(st, FM_OK, "write_demos with zero trajectories succeeds (%s)", err.msg);
    st = fm_h5_read_demos(MPI_COMM_WORLD, path, &gmeta, &got, &gmix, &err);
    is_int(st, FM_OK, "read_demos of zero trajectories succeeds (%s)", err.msg);
    ok(got.n_traj == 0 && got.horizon == HORIZON && gmix && gmix[2] == 0.5,
       "zero trajectories: shape kept, mixture read");
    fm_demos_free(&got);
    free(gmix);
    fm_demos_free(&d);
}

static void test_demos_write_errors(void)
{
    fm_demos d = {0};
    double mix[TASKS];
    fm_demos_meta meta = ref_meta();
    fm_err err;
    const char *path = in_tmp("bad_write.h5");
    make_demos(&d, mix, 7);
    meta.num_robots = 2;
    fm_err_clear(&err);
    fm_status st = fm_h5_write_demos(MPI_COMM_WORLD, path, &meta, &d, mix, &err);
    is_int(st, FM_EINVAL, "write_demos: num_robots != ranks is FM_EINVAL");
    has_str(err.msg, "num_robots is 2 but the communicator has 1 rank (one robot per rank)", "... message");
    meta.num_robots = 1;
    d.task[3] = TASKS;
    fm_err_clear(&err);
    st = fm_h5_write_demos(MPI_COMM_WORLD, path, &meta, &d, mix, &err);
    is_int(st, FM_EINVAL, "write_demos: task out of range is FM_EINVAL");
    has_str(err.msg, "robot 0 trajectory 3 has task 3, expected [0, 3)", "... message");
    ok(!exists(path) && open_ids() == 0, "failed writes leave no file and no open handle");
    fm_demos_free(&d);
}

/* ---------------- results writer ---------------- */

static const double loss[6] = {1.5, -2.25, 3e-300, 0.0, -0.0, 1e300};
static const int32_t perm[4] = {2, 0, 3, -1};
static const double row[3] = {0.125, -8.0, 42.0};
static const char *config_text = "seed: 1\nmerge:\n  method: linear_perm\n";

static void write_results(fm_h5 *h, fm_err *err, fm_status *st)
{
    const int64_t d2[2] = {2, 3}, d1[1] = {4}, rd[1] = {3}, empty[2] = {0, 3};
    const double final = 0.75;
    if (*st == FM_OK) *st = fm_h5_write_f64(h, "/metrics/loss", 2, d2, loss, err);
    if (*st == FM_OK) *st = fm_h5_write_f64(h, "/metrics/final", 0, NULL, &final, err);
    if (*st == FM_OK) *st = fm_h5_write_f64(h, "/metrics/none", 2, empty, NULL, err);
    if (*st == FM_OK) *st = fm_h5_write_i32(h, "/merge/perm", 1, d1, perm, err);
    if (*st == FM_OK) *st = fm_h5_write_rows_f64(h, "/robots/theta", 1, rd, row, err);
    if (*st == FM_OK) *st = fm_h5_write_text(h, "/config", config_text, err);
    if (*st == FM_OK) *st = fm_h5_attr_i64(h, "/", "format_version", 1, err);
    if (*st == FM_OK) *st = fm_h5_attr_text(h, "/", "kind", "first", err);
    if (*st == FM_OK) *st = fm_h5_attr_text(h, "/", "kind", "fleetmerge-results", err);
    if (*st == FM_OK) *st = fm_h5_attr_f64(h, "/metrics/loss", "scale", 0.5, err);
    if (*st == FM_OK) *st = fm_h5_attr_text(h, "/metrics", "note", "", err);
}

static void test_results_write(const char *path)
{
    fm_h5 *h = NULL;
    fm_err err;
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    fm_err_clear(&err);
    fm_status st = fm_h5_create(MPI_COMM_WORLD, path, &h, &err);
    is_int(st, FM_OK, "fm_h5_create succeeds (%s)", err.msg);
    ok(exists(tmp) && !exists(path), "before close: .tmp exists, final name does not");
    write_results(h, &err, &st);
    is_int(st, FM_OK, "results writers succeed (%s)", err.msg);
    st = fm_h5_close(h, 1, &err);
    is_int(st, FM_OK, "close(commit=1) succeeds (%s)", err.msg);
    ok(exists(path) && !exists(tmp), "after commit: final file exists, .tmp gone");
    is_int(open_ids(), 0, "no HDF5 handle left open after commit");
}

static void test_results_read(const char *path)
{
    double *v = NULL, num = 0;
    char *text = NULL;
    int nd = -1;
    int64_t dims[FM_H5_MAX_DIMS];
    fm_err err;
    fm_err_clear(&err);
    fm_status st = fm_h5_read_f64(path, "/metrics/loss", &v, &nd, dims, &err);
    ok(st == FM_OK && nd == 2 && dims[0] == 2 && dims[1] == 3 && memcmp(v, loss, sizeof loss) == 0,
       "f64 [2, 3] read back bit-identical (%s)", err.msg);
    free(v);
    st = fm_h5_read_f64(path, "/metrics/final", &v, &nd, dims, &err);
    ok(st == FM_OK && nd == 0 && v[0] == 0.75, "scalar f64 read back (%s)", err.msg);
    free(v);
    st = fm_h5_read_f64(path, "/metrics/none", &v, &nd, dims, &err);
    ok(st == FM_OK && nd == 2 && dims[0] == 0 && dims[1] == 3, "empty [0, 3] dataset read back");
    free(v);
    st = fm_h5_read_f64(path, "/merge/perm", &v, &nd, dims, &err);
    ok(st == FM_OK && nd == 1 && dims[0] == 4 && v[0] == 2 && v[1] == 0 && v[2] == 3 && v[3] == -1,
       "i32 read back as doubles (%s)", err.msg);
    free(v);
    st = fm_h5_read_f64(path, "/robots/theta", &v, &nd, dims, &err);
    ok(st == FM_OK && nd == 2 && dims[0] == 1 && dims[1] == 3 && memcmp(v, row, sizeof row) == 0,
       "rows dataset is [nranks = 1, 3] holding the row (%s)", err.msg);
    free(v);
    st = fm_h5_read_text(path, "/config", &text, &err);
    is_str(st == FM_OK ? text : err.msg, config_text, "text dataset read back");
    free(text);
    st = fm_h5_read_attr_f64(path, "/", "format_version", &num, &err);
    ok(st == FM_OK && num == 1, "root attribute format_version = 1 (%s)", err.msg);
    st = fm_h5_read_attr_text(path, "/", "kind", &text, &err);
    is_str(st == FM_OK ? text : err.msg, "fleetmerge-results", "text attribute replaced by a second write");
    free(text);
    st = fm_h5_read_attr_f64(path, "/metrics/loss", "scale", &num, &err);
    ok(st == FM_OK && num == 0.5, "dataset attribute read back (%s)", err.msg);
    st = fm_h5_read_attr_text(path, "/metrics", "note", &text, &err);
    is_str(st == FM_OK ? text : err.msg, "", "empty text attribute on a group");
    free(text);
    is_int(open_ids(), 0, "serial readers leave no handle open");
}

static void test_reader_errors(const char *path)
{
    double *v = NULL;
    char *text = NULL, want[400];
    int nd;
    int64_t dims[FM_H5_MAX_DIMS];
    fm_err err;
    fm_err_clear(&err);
    fm_status st = fm_h5_read_f64(path, "/metrics/nope", &v, &nd, dims, &err);
    snprintf(want, sizeof want, "%s: /metrics/nope: missing dataset", path);
    ok(st == FM_EDATA && v == NULL, "read_f64 of a missing dataset is FM_EDATA");
    has_str(err.msg, want, "... message names file and dataset");
    fm_err_clear(&err);
    st = fm_h5_read_f64(path, "/config", &v, &nd, dims, &err);
    ok(st == FM_EDATA && v == NULL, "read_f64 of a text dataset is FM_EDATA");
    has_str(err.msg, "/config: expected a numeric dataset, got string", "... message");
    fm_err_clear(&err);
    st = fm_h5_read_text(path, "/metrics/loss", &text, &err);
    ok(st == FM_EDATA && text == NULL, "read_text of a numeric dataset is FM_EDATA");
    has_str(err.msg, "/metrics/loss: expected a string, got float", "... message");
    fm_err_clear(&err);
    st = fm_h5_read_attr_text(path, "/metrics", "missing", &text, &err);
    ok(st == FM_EDATA && text == NULL, "missing attribute is FM_EDATA");
    has_str(err.msg, "missing attribute /metrics@missing", "... message");
    fm_err_clear(&err);
    st = fm_h5_read_f64(in_tmp("no_such.h5"), "/x", &v, &nd, dims, &err);
    is_int(st, FM_EIO, "read_f64 of a missing file is FM_EIO");
    has_str(err.msg, "cannot open: No such file or directory", "... message");
    is_int(open_ids(), 0, "reader errors leave no handle open");
}

static void test_writer_errors(void)
{
    fm_h5 *h = NULL;
    fm_err err;
    const int64_t d1[1] = {2}, neg[1] = {-1};
    const double x[2] = {1, 2};
    const char *path = in_tmp("writer_errors.h5");
    fm_err_clear(&err);
    fm_status st = fm_h5_create(MPI_COMM_WORLD, path, &h, &err);
    is_int(st, FM_OK, "create for writer error tests (%s)", err.msg);
    if (st != FM_OK)
        return;
    st = fm_h5_write_f64(h, "/a/x", 1, d1, x, &err);
    fm_err_clear(&err);
    st = fm_h5_write_f64(h, "/a/x", 1, d1, x, &err);
    ok(st == FM_EINVAL, "second dataset of the same name is FM_EINVAL");
    has_str(err.msg, "/a/x: already exists", "... message");
    fm_err_clear(&err);
    st = fm_h5_write_f64(h, "relative", 1, d1, x, &err);
    ok(st == FM_EINVAL, "relative dataset name is FM_EINVAL");
    has_str(err.msg, "must be an absolute name", "... message");
    fm_err_clear(&err);
    st = fm_h5_write_f64(h, "/b", 1, neg, x, &err);
    ok(st == FM_EINVAL, "negative dimension is FM_EINVAL");
    has_str(err.msg, "/b: bad dimension 0: -1", "... message");
    fm_err_clear(&err);
    st = fm_h5_write_f64(h, "/c", 1, d1, NULL, &err);
    ok(st == FM_EINVAL, "NULL data on rank 0 is FM_EINVAL");
    has_str(err.msg, "/c: NULL data", "... message");
    fm_err_clear(&err);
    st = fm_h5_attr_i64(h, "/nowhere", "n", 1, &err);
    ok(st == FM_EINVAL, "attribute on a missing object is FM_EINVAL");
    has_str(err.msg, "/nowhere: no such object for attribute n", "... message");
    fm_err_clear(&err);
    st = fm_h5_close(h, 1, &err);
    is_int(st, FM_OK, "handle still usable and closes after the errors (%s)", err.msg);
    fm_err_clear(&err);
    h = (fm_h5 *)1;
    FILE *blocker = fopen(in_tmp("not_a_dir"), "w"); /* a file where a directory should be */
    if (blocker)
        fclose(blocker);
    st = fm_h5_create(MPI_COMM_WORLD, in_tmp("not_a_dir/x.h5"), &h, &err);
    ok(st == FM_EIO && h == NULL, "create under a file (not a directory) is FM_EIO, no handle");
    has_str(err.msg, "not_a_dir/x.h5: cannot create", "... message");
    fm_err_clear(&err);
    st = fm_h5_create(MPI_COMM_WORLD, in_tmp("new_dir/sub/x.h5"), &h, &err);
    ok(st == FM_OK && h != NULL, "create in missing directories creates them (%s)", err.msg);
    is_int(fm_h5_close(h, 1, &err), FM_OK, "... and closes");
    FILE *made = fopen(in_tmp("new_dir/sub/x.h5"), "r");
    ok(made != NULL, "... the file is there");
    if (made)
        fclose(made);
    is_int(fm_h5_close(NULL, 1, &err), FM_OK, "close(NULL) is a no-op");
    is_int(open_ids(), 0, "writer errors leave no handle open");
}

/* commit = 0 removes only the temporary file: an earlier committed file stays as it was. */
static void test_abort(const char *committed)
{
    fm_h5 *h = NULL;
    fm_err err;
    char tmp[300], *text = NULL;
    const char *fresh = in_tmp("aborted.h5");
    snprintf(tmp, sizeof tmp, "%s.tmp", committed);
    fm_err_clear(&err);
    fm_status st = fm_h5_create(MPI_COMM_WORLD, committed, &h, &err);
    if (st == FM_OK)
        st = fm_h5_write_text(h, "/config", "replacement", &err);
    ok(st == FM_OK && exists(tmp), "rewrite of a committed file writes its .tmp (%s)", err.msg);
    st = fm_h5_close(h, 0, &err);
    is_int(st, FM_OK, "close(commit=0) succeeds (%s)", err.msg);
    ok(!exists(tmp) && exists(committed), "after abort: .tmp removed, committed file kept");
    st = fm_h5_read_text(committed, "/config", &text, &err);
    is_str(st == FM_OK ? text : err.msg, config_text, "committed file unchanged by the aborted rewrite");
    free(text);
    st = fm_h5_create(MPI_COMM_WORLD, fresh, &h, &err);
    if (st == FM_OK)
        st = fm_h5_close(h, 0, &err);
    snprintf(tmp, sizeof tmp, "%s.tmp", fresh);
    ok(st == FM_OK && !exists(fresh) && !exists(tmp), "aborted new file leaves nothing behind");
}

static void test_describe(const char *path)
{
    char *buf = NULL;
    size_t len = 0;
    fm_err err;
    FILE *f = open_memstream(&buf, &len);
    fm_err_clear(&err);
    fm_status st = f ? fm_h5_describe(path, f, &err) : FM_EIO;
    if (f)
        fclose(f);
    is_int(st, FM_OK, "describe succeeds (%s)", err.msg);
    has_str(buf, "  @format_version: int64 = 1\n", "describe: root attribute with value");
    has_str(buf, "  @kind: string[19] = \"fleetmerge-results\"\n", "describe: text attribute");
    has_str(buf, "/metrics/\n", "describe: groups");
    has_str(buf,
            "/metrics/loss: float64 [2, 3] = [1.5, -2.25, 3.0000000000000002e-300, 0, -0, "
            "1.0000000000000001e+300]\n  @scale: float64 = 0.5\n",
            "describe: dataset shape and its attribute");
    has_str(buf, "/merge/perm: int32 [4] = [2, 0, 3, -1]\n", "describe: small int dataset values");
    has_str(buf, "/config: string[38] = \"seed: 1\\nmerge:\\n", "describe: text dataset escaped");
    has_str(buf, "/robots/theta: float64 [1, 3] = [0.125, -8, 42]\n", "describe: rows dataset");
    free(buf);
    fm_err_clear(&err);
    st = fm_h5_describe(in_tmp("no_such.h5"), stdout, &err);
    is_int(st, FM_EIO, "describe of a missing file is FM_EIO");
    is_int(open_ids(), 0, "describe leaves no handle open");
}

/* ---------------- corrupted demonstration files ---------------- */

static int write_good(const char *path)
{
    fm_demos d = {0};
    double mix[TASKS];
    fm_demos_meta meta = ref_meta();
    fm_err err;
    fm_err_clear(&err);
    make_demos(&d, mix, 99);
    fm_status st = fm_h5_write_demos(MPI_COMM_WORLD, path, &meta, &d, mix, &err);
    fm_demos_free(&d);
    return st == FM_OK ? 0 : -1;
}

/* Replace (or create) dataset `name` with the given type, shape and data. */
static int raw_dataset(hid_t f, const char *name, hid_t ftype, hid_t mtype, int ndims,
                       const hsize_t *dims, const void *data)
{
    int rc = 0;
    if (H5Lexists(f, name, H5P_DEFAULT) > 0 && H5Ldelete(f, name, H5P_DEFAULT) < 0)
        return -1;
    hid_t space = H5Screate_simple(ndims, dims, NULL);
    hid_t ds = space >= 0 ? H5Dcreate2(f, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)
                          : H5I_INVALID_HID;
    if (ds < 0 || (data && H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0))
        rc = -1;
    if (ds >= 0 && H5Dclose(ds) < 0)
        rc = -1;
    if (space >= 0 && H5Sclose(space) < 0)
        rc = -1;
    return rc;
}

/* Replace (or create) scalar root attribute `name`. */
static int raw_attr(hid_t f, const char *name, hid_t ftype, hid_t mtype, const void *value)
{
    int rc = 0;
    if (H5Aexists(f, name) > 0 && H5Adelete(f, name) < 0)
        return -1;
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = space >= 0 ? H5Acreate2(f, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT)
                         : H5I_INVALID_HID;
    if (a < 0 || H5Awrite(a, mtype, value) < 0)
        rc = -1;
    if (a >= 0 && H5Aclose(a) < 0)
        rc = -1;
    if (space >= 0 && H5Sclose(space) < 0)
        rc = -1;
    return rc;
}

static int raw_i32(hid_t f, const char *name, hsize_t n, const int32_t *v)
{
    return raw_dataset(f, name, H5T_STD_I32LE, H5T_NATIVE_INT32, 1, &n, v);
}

static int raw_i64(hid_t f, const char *name, hsize_t n, const int64_t *v)
{
    return raw_dataset(f, name, H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &n, v);
}

static int raw_set_i64(hid_t f, const char *name, int64_t v)
{
    return raw_attr(f, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v);
}

/* One way to break a good file; returns 0 when the corruption was written. */
typedef int (*corrupt_fn)(hid_t f);

static int c_no_obs(hid_t f) { return H5Ldelete(f, "/demos/obs", H5P_DEFAULT) < 0 ? -1 : 0; }
static int c_no_offsets(hid_t f)
{
    return H5Ldelete(f, "/demos/robot_offsets", H5P_DEFAULT) < 0 ? -1 : 0;
}
static int c_obs_group(hid_t f)
{
    hid_t g = H5I_INVALID_HID;
    if (H5Ldelete(f, "/demos/obs", H5P_DEFAULT) < 0)
        return -1;
    g = H5Gcreate2(f, "/demos/obs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    return g < 0 || H5Gclose(g) < 0 ? -1 : 0;
}
static int c_task_float(hid_t f)
{
    const double t[N_TRAJ] = {0, 1, 2, 0, 1};
    const hsize_t n = N_TRAJ;
    return raw_dataset(f, "/demos/task", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &n, t);
}
static int c_obs_int(hid_t f)
{
    const hsize_t d[3] = {N_TRAJ, HORIZON, OBS};
    return raw_dataset(f, "/demos/obs", H5T_STD_I32LE, H5T_NATIVE_INT32, 3, d, NULL);
}
static int c_obs_2d(hid_t f)
{
    const hsize_t d[2] = {N_TRAJ, HORIZON * OBS};
    return raw_dataset(f, "/demos/obs", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, d, NULL);
}
static int c_actions_n(hid_t f)
{
    const hsize_t d[3] = {N_TRAJ - 1, HORIZON, ACT};
    return raw_dataset(f, "/demos/actions", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 3, d, NULL);
}
static int c_length_n(hid_t f)
{
    const int32_t l[N_TRAJ - 1] = {1, 1, 1, 1};
    return raw_i32(f, "/demos/length", N_TRAJ - 1, l);
}
static int c_offsets_n(hid_t f)
{
    const int64_t o[3] = {0, 2, N_TRAJ};
    return raw_i64(f, "/demos/robot_offsets", 3, o);
}
static int c_mixture_k(hid_t f)
{
    const hsize_t d[2] = {1, TASKS - 1};
    const double w[TASKS - 1] = {0.5, 0.5};
    return raw_dataset(f, "/demos/mixture", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, d, w);
}
static int c_no_version(hid_t f) { return H5Adelete(f, "format_version") < 0 ? -1 : 0; }
static int c_version_2(hid_t f) { return raw_set_i64(f, "format_version", 2); }
static int c_version_float(hid_t f)
{
    const double v = 1.0;
    return raw_attr(f, "format_version", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
}
static int c_no_tasks(hid_t f) { return H5Adelete(f, "num_tasks") < 0 ? -1 : 0; }
static int c_kind(hid_t f)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    int rc = t < 0 || H5Tset_size(t, 8) < 0 ? -1 : raw_attr(f, "kind", t, t, "results");
    if (t >= 0 && H5Tclose(t) < 0)
        rc = -1;
    return rc;
}
static int c_three_robots(hid_t f)
{
    const int64_t o[4] = {0, 2, 4, N_TRAJ};
    const hsize_t d[2] = {3, TASKS};
    const double w[3 * TASKS] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    if (raw_set_i64(f, "num_robots", 3) < 0 || raw_i64(f, "/demos/robot_offsets", 4, o) < 0)
        return -1;
    return raw_dataset(f, "/demos/mixture", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, d, w);
}
static int c_offsets_start(hid_t f)
{
    const int64_t o[2] = {1, N_TRAJ};
    return raw_i64(f, "/demos/robot_offsets", 2, o);
}
static int c_offsets_decrease(hid_t f)
{
    const int64_t o[2] = {0, -1};
    return raw_i64(f, "/demos/robot_offsets", 2, o);
}
static int c_offsets_end(hid_t f)
{
    const int64_t o[2] = {0, N_TRAJ - 1};
    return raw_i64(f, "/demos/robot_offsets", 2, o);
}
static int c_length_0(hid_t f)
{
    const int32_t l[N_TRAJ] = {3, 0, 2, 2, 2};
    return raw_i32(f, "/demos/length", N_TRAJ, l);
}
static int c_length_big(hid_t f)
{
    const int32_t l[N_TRAJ] = {3, 2, 2, 2, HORIZON + 1};
    return raw_i32(f, "/demos/length", N_TRAJ, l);
}
static int c_task_k(hid_t f)
{
    const int32_t t[N_TRAJ] = {0, 1, TASKS, 0, 0};
    return raw_i32(f, "/demos/task", N_TRAJ, t);
}
static int c_task_neg(hid_t f)
{
    const int32_t t[N_TRAJ] = {0, -1, 0, 0, 0};
    return raw_i32(f, "/demos/task", N_TRAJ, t);
}
static int c_obs_nan(hid_t f)
{
    static double o[N_TRAJ * HORIZON * OBS];
    const hsize_t d[3] = {N_TRAJ, HORIZON, OBS};
    o[HORIZON * OBS * 2 + 5] = NAN;
    return raw_dataset(f, "/demos/obs", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 3, d, o);
}

static const struct bad_case {
    const char *label;
    corrupt_fn corrupt;
    const char *want; /* message after "<path>: " */
} bad_cases[] = {
    {"missing /demos/obs", c_no_obs, "/demos/obs: missing dataset"},
    {"missing /demos/robot_offsets", c_no_offsets, "/demos/robot_offsets: missing dataset"},
    {"group in place of a dataset", c_obs_group, "/demos/obs: cannot open (not a dataset?)"},
    {"task written as float", c_task_float, "/demos/task: expected an integer dataset, got float"},
    {"obs written as int", c_obs_int, "/demos/obs: expected a float dataset, got integer"},
    {"obs with 2 dimensions", c_obs_2d, "/demos/obs: expected 3 dimensions, got 2"},
    {"actions with fewer trajectories", c_actions_n,
     "/demos/actions: shape [4, 7, 2] does not match /demos/obs [5, 7, 3]"},
    {"length with fewer trajectories", c_length_n,
     "/demos/length: expected 5 elements (one per trajectory), got 4"},
    {"robot_offsets too long", c_offsets_n,
     "/demos/robot_offsets: expected 2 elements (num_robots + 1), got 3"},
    {"mixture with too few tasks", c_mixture_k,
     "/demos/mixture: expected [1, 3] (num_robots x num_tasks), got [1, 2]"},
    {"missing format_version", c_no_version, "missing attribute format_version"},
    {"format_version 2", c_version_2, "format_version: expected 1, got 2"},
    {"format_version float", c_version_float, "format_version: expected an integer, got float"},
    {"missing num_tasks", c_no_tasks, "missing attribute num_tasks"},
    {"wrong kind", c_kind, "kind: expected \"fleetmerge-demos\", got \"results\""},
    {"3 robots on 1 rank", c_three_robots,
     "holds 3 robots but the run has 1 rank (one robot per rank)"},
    {"offsets not starting at 0", c_offsets_start, "/demos/robot_offsets: must start at 0, got 1"},
    {"decreasing offsets", c_offsets_decrease,
     "/demos/robot_offsets: robot 0's range [0, -1) is decreasing"},
    {"offsets not ending at N", c_offsets_end,
     "/demos/robot_offsets: must end at the number of trajectories 5, got 4"},
    {"length 0", c_length_0,
     "/demos/length: robot 0 trajectory 1 (row 1) has length 0, expected [1, 7]"},
    {"length beyond the horizon", c_length_big,
     "/demos/length: robot 0 trajectory 4 (row 4) has length 8, expected [1, 7]"},
    {"task = num_tasks", c_task_k,
     "/demos/task: robot 0 trajectory 2 (row 2) has task 3, expected [0, 3)"},
    {"negative task", c_task_neg,
     "/demos/task: robot 0 trajectory 1 (row 1) has task -1, expected [0, 3)"},
    {"NaN observation", c_obs_nan, "/demos/obs: robot 0 trajectory 2: non-finite value"},
};

/* Read `path` expecting failure `code` with message "<path>: <want>..." and no outputs. */
static void expect_read_error(const char *path, fm_status code, const char *want, const char *label)
{
    fm_demos_meta meta;
    fm_demos d = {.n_traj = -1};
    double *mix = (double *)&meta;
    char full[512];
    fm_err err;
    fm_err_clear(&err);
    fm_status st = fm_h5_read_demos(MPI_COMM_WORLD, path, &meta, &d, &mix, &err);
    snprintf(full, sizeof full, "%s: %s", path, want);
    is_int(st, code, "%s: status %s", label, fm_status_name(code));
    if (!ok(strncmp(err.msg, full, strlen(full)) == 0, "%s: message", label))
        printf("#   got '%s'\n#  want '%s...'\n", err.msg, full);
    ok(d.obs == NULL && d.task == NULL && d.n_traj == 0 && mix == NULL && meta.num_robots == 0 &&
           open_ids() == 0,
       "%s: fails cleanly (outputs cleared, no HDF5 handle open)", label);
}

static void test_bad_files(void)
{
    const char *path = in_tmp("bad.h5");
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        int rc = write_good(path);
        hid_t f = rc == 0 ? H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT) : H5I_INVALID_HID;
        rc = f >= 0 ? bad_cases[i].corrupt(f) : -1;
        if (f >= 0 && H5Fclose(f) < 0)
            rc = -1;
        if (!ok(rc == 0, "%s: corrupted file written", bad_cases[i].label))
            continue;
        expect_read_error(path, FM_EDATA, bad_cases[i].want, bad_cases[i].label);
    }
}

static void test_unreadable_files(void)
{
    const char *path = in_tmp("cut.h5");
    struct stat st = {0};
    int rc = write_good(path) == 0 && stat(path, &st) == 0 ? truncate(path, st.st_size / 2) : -1;
    ok(rc == 0, "truncated file written (half of %lld bytes)", (long long)st.st_size);
    expect_read_error(path, FM_EDATA, "not a readable HDF5 file", "truncated file");
    path = in_tmp("text.h5");
    FILE *f = fopen(path, "w");
    ok(f && fputs("this is not HDF5\n", f) >= 0 && fclose(f) == 0, "text file written");
    expect_read_error(path, FM_EDATA, "not a readable HDF5 file", "text file");
    expect_read_error(in_tmp("missing.h5"), FM_EIO, "cannot open: No such file or directory",
                      "missing file");
}

/* Observations stored as float32 are accepted and converted to double. */
static void test_float32_obs(void)
{
    const char *path = in_tmp("f32.h5");
    static float o[N_TRAJ * HORIZON * OBS];
    const hsize_t d[3] = {N_TRAJ, HORIZON, OBS};
    for (int i = 0; i < N_TRAJ * HORIZON * OBS; i++)
        o[i] = (float)(i * 0.25 - 3.0);
    int rc = write_good(path);
    hid_t f = rc == 0 ? H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT) : H5I_INVALID_HID;
    rc = f >= 0 ? raw_dataset(f, "/demos/obs", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, d, o) : -1;
    if (f >= 0 && H5Fclose(f) < 0)
        rc = -1;
    fm_demos_meta meta;
    fm_demos got = {0};
    double *mix = NULL;
    fm_err err;
    fm_err_clear(&err);
    fm_status st = rc == 0 ? fm_h5_read_demos(MPI_COMM_WORLD, path, &meta, &got, &mix, &err) : FM_EIO;
    int same = st == FM_OK;
    for (int i = 0; same && i < N_TRAJ * HORIZON * OBS; i++)
        same = got.obs[i] == (double)o[i];
    ok(same, "float32 obs accepted and converted exactly (%s)", err.msg);
    fm_demos_free(&got);
    free(mix);
}

static void remove_tmpdir(void)
{
    DIR *dir = opendir(tmpdir);
    struct dirent *e;
    char p[512];
    while (dir && (e = readdir(dir))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
        remove(p);
    }
    if (dir)
        closedir(dir);
    rmdir(tmpdir);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_h5io.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        printf("Bail out! cannot create a temporary directory\n");
        MPI_Finalize();
        return 1;
    }
    char results[256];
    snprintf(results, sizeof results, "%s", in_tmp("results.h5"));
    test_demos_round_trip();
    test_demos_empty();
    test_demos_write_errors();
    test_results_write(results);
    test_results_read(results);
    test_reader_errors(results);
    test_writer_errors();
    test_abort(results);
    test_describe(results);
    test_bad_files();
    test_unreadable_files();
    test_float32_obs();
    remove_tmpdir();
    int rc = done_testing();
    MPI_Finalize();
    return rc;
}
