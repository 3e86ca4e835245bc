/* h5demos.c - the demonstrations file (docs/schema.md "Demonstrations"): collective write, validated
 * parallel read, and one robot's shard read serially. */
#define _POSIX_C_SOURCE 200809L
#include "io/h5io_internal.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define H5_UNBACKED (64.0 * 1024 * 1024) /* fill bytes a user's demonstrations may declare unstored */

/* ======================= demonstrations file ======================= */

enum demos_ds { DS_OBS = 0, DS_ACTIONS, DS_TASK, DS_LENGTH, DS_OFFSETS, DS_MIXTURE, DS_COUNT };

static const struct demos_spec {
    const char *name;
    H5T_class_t cls;
    int ndims;
} demos_spec[DS_COUNT] = {
    [DS_OBS] = {"/demos/obs", H5T_FLOAT, 3},
    [DS_ACTIONS] = {"/demos/actions", H5T_FLOAT, 3},
    [DS_TASK] = {"/demos/task", H5T_INTEGER, 1},
    [DS_LENGTH] = {"/demos/length", H5T_INTEGER, 1},
    [DS_OFFSETS] = {"/demos/robot_offsets", H5T_INTEGER, 1},
    [DS_MIXTURE] = {"/demos/mixture", H5T_FLOAT, 2},
};

#define DEMOS_KIND "fleetmerge-demos"

/* Local checks of fm_h5_write_demos' arguments on this rank. */
static fm_status demos_check_local(const char *path, int rank, int size, const fm_demos_meta *meta,
                                   const fm_demos *d, const double *mixture, fm_err *err)
{
    fm_status status = FM_OK;
    FM_CHECK(path && *path && meta && d && mixture, FM_EINVAL,
             "fm_h5_write_demos: NULL or empty argument");
    FM_CHECK(memchr(meta->env, '\0', sizeof meta->env), FM_EINVAL, "%s: env is not terminated",
             path);
    FM_CHECK(meta->num_robots == size, FM_EINVAL,
             "%s: num_robots is %d but the communicator has %d rank%s (one robot per rank)", path,
             meta->num_robots, size, size == 1 ? "" : "s");
    FM_CHECK(meta->num_tasks >= 1, FM_EINVAL, "%s: num_tasks is %d, expected >= 1", path,
             meta->num_tasks);
    FM_CHECK(d->n_traj >= 0 && d->horizon >= 1 && d->obs_dim >= 1 && d->act_dim >= 1 &&
                 (d->n_traj == 0 || (d->obs && d->act && d->task && d->length)),
             FM_EINVAL, "%s: robot %d: bad demonstrations (%d trajectories, horizon %d, obs %d, act %d)",
             path, rank, d->n_traj, d->horizon, d->obs_dim, d->act_dim);
    for (int i = 0; i < d->n_traj; i++) {
        FM_CHECK(d->length[i] >= 1 && d->length[i] <= d->horizon, FM_EINVAL,
                 "%s: robot %d trajectory %d has length %d, expected [1, %d]", path, rank, i,
                 d->length[i], d->horizon);
        FM_CHECK(d->task[i] >= 0 && d->task[i] < meta->num_tasks, FM_EINVAL,
                 "%s: robot %d trajectory %d has task %d, expected [0, %d)", path, rank, i,
                 d->task[i], meta->num_tasks);
    }
    for (int k = 0; k < meta->num_tasks; k++)
        FM_CHECK(isfinite(mixture[k]) && mixture[k] >= 0, FM_EINVAL,
                 "%s: robot %d mixture weight %d is %g, expected finite and >= 0", path, rank, k,
                 mixture[k]);
cleanup:
    return status;
}

/* Collective: counts and shapes of all ranks; off[0..size] = trajectory offsets (rank order). */
static fm_status demos_offsets(MPI_Comm comm, int size, const char *path, const fm_demos_meta *meta,
                               const fm_demos *d, int64_t *off, fm_err *err)
{
    enum { F = 6 };
    fm_status status = FM_OK;
    int64_t mine[F] = {d->n_traj, d->horizon, d->obs_dim, d->act_dim, meta->num_tasks,
                       (int64_t)(h5i_fnv1a(meta->env) >> 1)};
    int64_t *all = NULL;
    int rc;
    FM_TRY(h5i_agree(comm, fm_calloc(&all, (size_t)size * F, sizeof *all, err), err));
    if ((rc = MPI_Allgather(mine, F, MPI_INT64_T, all, F, MPI_INT64_T, comm)) != MPI_SUCCESS)
        FM_TRY(h5i_mpi_fail(err, rc, "MPI_Allgather (demonstration counts)"));
    off[0] = 0;
    for (int r = 0; r < size; r++) {
        const int64_t *a = all + (size_t)r * F;
        FM_CHECK(a[1] == all[1] && a[2] == all[2] && a[3] == all[3] && a[4] == all[4] &&
                     a[5] == all[5],
                 FM_EINVAL,
                 "%s: ranks disagree: rank 0 has horizon %lld, obs %lld, act %lld, %lld tasks; rank %d "
                 "has %lld, %lld, %lld, %lld (or a different env)",
                 path, (long long)all[1], (long long)all[2], (long long)all[3], (long long)all[4], r,
                 (long long)a[1], (long long)a[2], (long long)a[3], (long long)a[4]);
        off[r + 1] = off[r] + a[0];
    }
cleanup:
    free(all);
    return status;
}

/* Collective: the six datasets, each rank writing its own rows. */
static fm_status demos_put(fm_h5 *h, const fm_demos_meta *meta, const fm_demos *d,
                           const double *mixture, const int64_t *off, fm_err *err)
{
    fm_status status = FM_OK;
    hsize_t first = (hsize_t)off[h->rank], n = (hsize_t)d->n_traj;
    hsize_t dims[3] = {(hsize_t)off[h->size], (hsize_t)d->horizon, (hsize_t)d->obs_dim};
    h5i_slab sel = h5i_rows_slab(3, dims, first, n);
    FM_TRY(h5i_put(h, demos_spec[DS_OBS].name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 3, dims, &sel,
                   d->obs, err));
    dims[2] = (hsize_t)d->act_dim;
    sel = h5i_rows_slab(3, dims, first, n);
    FM_TRY(h5i_put(h, demos_spec[DS_ACTIONS].name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 3, dims, &sel,
                   d->act, err));
    sel = h5i_rows_slab(1, dims, first, n);
    FM_TRY(h5i_put(h, demos_spec[DS_TASK].name, H5T_STD_I32LE, H5T_NATIVE_INT, 1, dims, &sel, d->task,
                   err));
    FM_TRY(h5i_put(h, demos_spec[DS_LENGTH].name, H5T_STD_I32LE, H5T_NATIVE_INT, 1, dims, &sel,
                   d->length, err));
    dims[0] = (hsize_t)h->size + 1;
    sel = h5i_whole_slab(1, dims, h->rank == 0);
    FM_TRY(h5i_put(h, demos_spec[DS_OFFSETS].name, H5T_STD_I64LE, H5T_NATIVE_INT64, 1, dims, &sel, off,
                   err));
    dims[0] = (hsize_t)h->size;
    dims[1] = (hsize_t)meta->num_tasks;
    sel = h5i_rows_slab(2, dims, (hsize_t)h->rank, 1);
    FM_TRY(h5i_put(h, demos_spec[DS_MIXTURE].name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dims, &sel,
                   mixture, err));
cleanup:
    return status;
}

static fm_status demos_attrs(fm_h5 *h, const fm_demos_meta *meta, fm_err *err)
{
    fm_status status = FM_OK;
    FM_TRY(fm_h5_attr_i64(h, "/", "format_version", FM_DEMOS_FORMAT_VERSION, err));
    FM_TRY(fm_h5_attr_text(h, "/", "kind", DEMOS_KIND, err));
    FM_TRY(fm_h5_attr_text(h, "/", "env", meta->env, err));
    FM_TRY(fm_h5_attr_i64(h, "/", "num_robots", meta->num_robots, err));
    FM_TRY(fm_h5_attr_i64(h, "/", "num_tasks", meta->num_tasks, err));
cleanup:
    return status;
}

fm_status fm_h5_write_demos(MPI_Comm comm, const char *path, const fm_demos_meta *meta,
                            const fm_demos *mine, const double *mixture, fm_err *err)
{
    fm_status status = FM_OK;
    fm_h5 *h = NULL;
    int64_t *off = NULL;
    int rank = 0, size = 0;
    h5i_quiet q;
    h5i_quiet_begin(&q);
    FM_TRY(h5i_comm_info(comm, &rank, &size, err));
    FM_TRY(h5i_agree(comm, demos_check_local(path, rank, size, meta, mine, mixture, err), err));
    FM_TRY(h5i_agree(comm, fm_calloc(&off, (size_t)size + 1, sizeof *off, err), err));
    FM_TRY(demos_offsets(comm, size, path, meta, mine, off, err));
    FM_TRY(fm_h5_create(comm, path, &h, err));
    FM_TRY(demos_put(h, meta, mine, mixture, off, err));
    FM_TRY(demos_attrs(h, meta, err));
cleanup:
    if (h) {
        fm_status st = fm_h5_close(h, status == FM_OK, err);
        if (status == FM_OK && st != FM_OK) {
            status = st;
            fm_err_at(err, __FILE__, __LINE__);
        }
    }
    free(off);
    h5i_quiet_end(&q);
    return status;
}

/* Open handles and shapes of a demonstrations file being read. */
typedef struct demos_file {
    hid_t file;
    hid_t dset[DS_COUNT];
    hsize_t dims[DS_COUNT][3];
} demos_file;

static fm_status demos_close(demos_file *df, const char *path, fm_err *err)
{
    fm_status status = FM_OK;
    for (int i = DS_COUNT - 1; i >= 0; i--)
        H5_CLOSE(df->dset[i], path);
    H5_CLOSE(df->file, path);
    return status;
}

/* Root attributes: format_version, kind, num_robots, num_tasks, env. */
static fm_status demos_root_attrs(hid_t file, const char *path, fm_demos_meta *meta, fm_err *err)
{
    fm_status status = FM_OK;
    int64_t version = 0, robots = 0, tasks = 0;
    char *kind = NULL, *env = NULL;
    FM_TRY(h5i_attr_get_int(file, path, "format_version", &version, err));
    FM_CHECK(version == FM_DEMOS_FORMAT_VERSION, FM_EDATA, "%s: format_version: expected %d, got %lld",
             path, FM_DEMOS_FORMAT_VERSION, (long long)version);
    FM_TRY(h5i_attr_get_text(file, path, "kind", &kind, err));
    FM_CHECK(strcmp(kind, DEMOS_KIND) == 0, FM_EDATA, "%s: kind: expected \"%s\", got \"%.100s\"",
             path, DEMOS_KIND, kind);
    FM_TRY(h5i_attr_get_int(file, path, "num_robots", &robots, err));
    FM_CHECK(robots >= 1 && robots <= 100000, FM_EDATA, "%s: num_robots: expected [1, 100000] (fleet.robots), got %lld",
             path, (long long)robots);
    FM_TRY(h5i_attr_get_int(file, path, "num_tasks", &tasks, err));
    FM_CHECK(tasks >= 1 && tasks <= 1000, FM_EDATA, "%s: num_tasks: expected [1, 1000] (env.num_tasks), got %lld", path,
             (long long)tasks);
    FM_TRY(h5i_attr_get_text(file, path, "env", &env, err));
    FM_CHECK(strlen(env) < sizeof meta->env, FM_EDATA, "%s: env: longer than %zu characters", path,
             sizeof meta->env - 1);
    memcpy(meta->env, env, strlen(env) + 1);
    meta->num_robots = (int)robots;
    meta->num_tasks = (int)tasks;
cleanup:
    free(env);
    free(kind);
    return status;
}

/* Every dataset: present, then of the right class, then of the right rank (dims recorded). */
static fm_status demos_open_datasets(demos_file *df, const char *path, fm_err *err)
{
    fm_status status = FM_OK;
    hid_t type = H5I_INVALID_HID, space = H5I_INVALID_HID;
    for (int i = 0; i < DS_COUNT; i++)
        FM_TRY(h5i_object_open(df->file, path, demos_spec[i].name, 1, &df->dset[i], err));
    for (int i = 0; i < DS_COUNT; i++) {
        type = H5Dget_type(df->dset[i]);
        H5_CHECK(type >= 0, "%s: %s: cannot get the type", path, demos_spec[i].name);
        H5T_class_t cls = H5Tget_class(type);
        FM_CHECK(cls == demos_spec[i].cls, FM_EDATA, "%s: %s: expected %s dataset, got %s", path,
                 demos_spec[i].name, demos_spec[i].cls == H5T_FLOAT ? "a float" : "an integer",
                 h5i_class_name(cls));
        FM_TRY(h5i_check_numeric_type(type, path, demos_spec[i].name, err));
        H5_CLOSE(type, path);
    }
    for (int i = 0; i < DS_COUNT; i++) {
        space = H5Dget_space(df->dset[i]);
        H5_CHECK(space >= 0, "%s: %s: cannot get the dataspace", path, demos_spec[i].name);
        int nd = H5Sget_simple_extent_ndims(space);
        FM_CHECK(nd == demos_spec[i].ndims, FM_EDATA, "%s: %s: expected %d dimensions, got %d", path,
                 demos_spec[i].name, demos_spec[i].ndims, nd);
        H5_CHECK(H5Sget_simple_extent_dims(space, df->dims[i], NULL) >= 0,
                 "%s: %s: cannot get the shape", path, demos_spec[i].name);
        H5_CLOSE(space, path);
    }
cleanup:
    H5_CLOSE(space, path);
    H5_CLOSE(type, path);
    return status;
}

/* Shapes agree with each other, with the attributes and with the run's rank count. */
static fm_status demos_check_dims(const demos_file *df, const char *path, const fm_demos_meta *meta,
                                  int size, fm_err *err)
{
    fm_status status = FM_OK;
    const hsize_t *obs = df->dims[DS_OBS], *act = df->dims[DS_ACTIONS];
    const hsize_t *off = df->dims[DS_OFFSETS], *mix = df->dims[DS_MIXTURE];
    FM_CHECK(obs[0] <= INT64_MAX && obs[1] >= 1 && obs[1] <= INT_MAX && obs[2] >= 1 &&
                 obs[2] <= INT_MAX,
             FM_EDATA, "%s: %s: shape [%llu, %llu, %llu]: horizon and size must be in [1, %d]",
             path, demos_spec[DS_OBS].name, H5I_LLU(obs[0]), H5I_LLU(obs[1]), H5I_LLU(obs[2]), INT_MAX);
    FM_CHECK(act[0] == obs[0] && act[1] == obs[1] && act[2] >= 1 && act[2] <= INT_MAX, FM_EDATA,
             "%s: %s: shape [%llu, %llu, %llu] does not match %s [%llu, %llu, %llu]", path,
             demos_spec[DS_ACTIONS].name, H5I_LLU(act[0]), H5I_LLU(act[1]), H5I_LLU(act[2]),
             demos_spec[DS_OBS].name, H5I_LLU(obs[0]), H5I_LLU(obs[1]), H5I_LLU(obs[2]));
    for (int i = DS_TASK; i <= DS_LENGTH; i++)
        FM_CHECK(df->dims[i][0] == obs[0], FM_EDATA,
                 "%s: %s: expected %llu elements (one per trajectory), got %llu", path,
                 demos_spec[i].name, H5I_LLU(obs[0]), H5I_LLU(df->dims[i][0]));
    FM_CHECK(off[0] == (hsize_t)meta->num_robots + 1, FM_EDATA,
             "%s: %s: expected %d elements (num_robots + 1), got %llu", path,
             demos_spec[DS_OFFSETS].name, meta->num_robots + 1, H5I_LLU(off[0]));
    FM_CHECK(mix[0] == (hsize_t)meta->num_robots && mix[1] == (hsize_t)meta->num_tasks, FM_EDATA,
             "%s: %s: expected [%d, %d] (num_robots x num_tasks), got [%llu, %llu]", path,
             demos_spec[DS_MIXTURE].name, meta->num_robots, meta->num_tasks, H5I_LLU(mix[0]),
             H5I_LLU(mix[1]));
    FM_CHECK(size < 0 || meta->num_robots == size, FM_EDATA,
             "%s: holds %d robots but the run has %d rank%s (one robot per rank)", path,
             meta->num_robots, size, size == 1 ? "" : "s");
cleanup:
    return status;
}

/* Read robot_offsets (every rank reads all) and check: 0, non-decreasing, N_traj at the end. */
static fm_status demos_read_offsets(const demos_file *df, const char *path, int num_robots,
                                    int64_t **off, fm_err *err)
{
    fm_status status = FM_OK;
    const char *name = demos_spec[DS_OFFSETS].name;
    int64_t n_traj = (int64_t)df->dims[DS_OBS][0];
    FM_ALLOC(*off, (size_t)num_robots + 1);
    H5_CHECK(H5Dread(df->dset[DS_OFFSETS], H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, *off) >= 0,
             "%s: %s: cannot read", path, name);
    FM_CHECK((*off)[0] == 0, FM_EDATA, "%s: %s: must start at 0, got %lld", path, name,
             (long long)(*off)[0]);
    for (int r = 0; r < num_robots; r++)
        FM_CHECK((*off)[r + 1] >= (*off)[r] && (*off)[r + 1] - (*off)[r] <= INT_MAX, FM_EDATA,
                 "%s: %s: robot %d's range [%lld, %lld) is %s", path, name, r, (long long)(*off)[r],
                 (long long)(*off)[r + 1], (*off)[r + 1] < (*off)[r] ? "decreasing" : "too large");
    FM_CHECK((*off)[num_robots] == n_traj, FM_EDATA,
             "%s: %s: must end at the number of trajectories %lld, got %lld", path, name,
             (long long)n_traj, (long long)(*off)[num_robots]);
cleanup:
    if (status != FM_OK) {
        free(*off);
        *off = NULL;
    }
    return status;
}

/* Everything every rank can check alone: attributes, datasets, shapes, offsets. */
static fm_status demos_validate(demos_file *df, const char *path, int size, fm_demos_meta *meta,
                                int64_t **off, fm_err *err)
{
    fm_status status = FM_OK;
    FM_TRY(demos_root_attrs(df->file, path, meta, err));
    FM_TRY(demos_open_datasets(df, path, err));
    FM_TRY(demos_check_dims(df, path, meta, size, err));
    for (int i = 0; i < DS_COUNT; i++) /* before anything is allocated from the declared shapes */
        FM_TRY(h5i_check_backed(df->dset[i], path, demos_spec[i].name, H5_UNBACKED, err));
    FM_TRY(demos_read_offsets(df, path, meta->num_robots, off, err));
cleanup:
    return status;
}

/* This robot's shard: lengths in [1, T], tasks in [0, K), finite values, mixture >= 0. */
static fm_status demos_check_shard(const char *path, int rank, int64_t first, const fm_demos *d,
                                   const double *mixture, int num_tasks, fm_err *err)
{
    fm_status status = FM_OK;
    size_t obs_n = (size_t)d->horizon * d->obs_dim, act_n = (size_t)d->horizon * d->act_dim;
    for (int i = 0; i < d->n_traj; i++)
        FM_CHECK(d->length[i] >= 1 && d->length[i] <= d->horizon, FM_EDATA,
                 "%s: %s: robot %d trajectory %d (row %lld) has length %d, expected [1, %d]", path,
                 demos_spec[DS_LENGTH].name, rank, i, (long long)(first + i), d->length[i],
                 d->horizon);
    for (int i = 0; i < d->n_traj; i++)
        FM_CHECK(d->task[i] >= 0 && d->task[i] < num_tasks, FM_EDATA,
                 "%s: %s: robot %d trajectory %d (row %lld) has task %d, expected [0, %d)", path,
                 demos_spec[DS_TASK].name, rank, i, (long long)(first + i), d->task[i], num_tasks);
    for (size_t j = 0; j < (size_t)d->n_traj * obs_n; j++)
        FM_CHECK(isfinite(d->obs[j]), FM_EDATA, "%s: %s: robot %d trajectory %zu: non-finite value",
                 path, demos_spec[DS_OBS].name, rank, j / obs_n);
    for (size_t j = 0; j < (size_t)d->n_traj * act_n; j++)
        FM_CHECK(isfinite(d->act[j]), FM_EDATA, "%s: %s: robot %d trajectory %zu: non-finite value",
                 path, demos_spec[DS_ACTIONS].name, rank, j / act_n);
    for (int k = 0; k < num_tasks; k++)
        FM_CHECK(isfinite(mixture[k]) && mixture[k] >= 0, FM_EDATA,
                 "%s: %s: robot %d weight %d is %g, expected finite and >= 0", path,
                 demos_spec[DS_MIXTURE].name, rank, k, mixture[k]);
cleanup:
    return status;
}

static fm_status shard_alloc(const demos_file *df, int64_t n, int num_tasks, fm_demos *mine,
                             double **mixture, fm_err *err)
{
    fm_status status = FM_OK;
    FM_TRY(fm_demos_alloc(mine, (int)n, (int)df->dims[DS_OBS][1], (int)df->dims[DS_OBS][2],
                          (int)df->dims[DS_ACTIONS][2], err));
    FM_ALLOC(*mixture, num_tasks);
cleanup:
    return status;
}

/* Collective: rank r reads robot r's rows and mixture row, then checks them. */
static fm_status demos_read_shard(MPI_Comm comm, int rank, const demos_file *df, const char *path,
                                  const int64_t *off, const fm_demos_meta *meta, fm_demos *mine,
                                  double **mixture, fm_err *err)
{
    fm_status status = FM_OK;
    int64_t first = off[rank], n = off[rank + 1] - off[rank];
    FM_TRY(h5i_agree(comm, shard_alloc(df, n, meta->num_tasks, mine, mixture, err), err));
    const struct {
        enum demos_ds ds;
        hid_t mtype;
        void *buf;
    } io[] = {
        {DS_OBS, H5T_NATIVE_DOUBLE, mine->obs},  {DS_ACTIONS, H5T_NATIVE_DOUBLE, mine->act},
        {DS_TASK, H5T_NATIVE_INT, mine->task},   {DS_LENGTH, H5T_NATIVE_INT, mine->length},
        {DS_MIXTURE, H5T_NATIVE_DOUBLE, *mixture},
    };
    for (size_t i = 0; i < sizeof io / sizeof io[0]; i++) {
        enum demos_ds ds = io[i].ds;
        h5i_slab sel = ds == DS_MIXTURE ? h5i_rows_slab(2, df->dims[ds], (hsize_t)rank, 1)
                                    : h5i_rows_slab(demos_spec[ds].ndims, df->dims[ds], (hsize_t)first,
                                                    (hsize_t)n);
        FM_TRY(h5i_agree(comm, h5i_slab_io(path, demos_spec[ds].name, df->dset[ds], io[i].mtype, &sel,
                                           io[i].buf, 0, err),
                         err));
    }
    FM_TRY(h5i_agree(comm, demos_check_shard(path, rank, first, mine, *mixture, meta->num_tasks, err),
                     err));
cleanup:
    return status;
}

fm_status fm_h5_read_demos(MPI_Comm comm, const char *path, fm_demos_meta *meta, fm_demos *mine,
                           double **mixture, fm_err *err)
{
    fm_status status = FM_OK;
    demos_file df = {.file = H5I_INVALID_HID};
    int64_t *off = NULL;
    int rank = 0, size = 0;
    h5i_quiet q;
    h5i_quiet_begin(&q);
    for (int i = 0; i < DS_COUNT; i++)
        df.dset[i] = H5I_INVALID_HID;
    if (mine)
        *mine = (fm_demos){0};
    if (mixture)
        *mixture = NULL;
    if (meta)
        *meta = (fm_demos_meta){{0}, 0, 0};
    FM_TRY(h5i_comm_info(comm, &rank, &size, err));
    FM_TRY(h5i_agree(comm,
                     path && *path && meta && mine && mixture
                     ? FM_OK
                     : fm_fail(err, FM_EINVAL, "fm_h5_read_demos: NULL or empty argument"),
                 err));
    FM_TRY(h5i_agree(comm, h5i_open_file(comm, path, path, H5I_OPEN_READ, &df.file, err), err));
    FM_TRY(h5i_agree(comm, demos_validate(&df, path, size, meta, &off, err), err));
    FM_TRY(demos_read_shard(comm, rank, &df, path, off, meta, mine, mixture, err));
    FM_TRY(h5i_agree(comm, demos_close(&df, path, err), err));
cleanup:
    if (status != FM_OK) /* on success everything was closed (and agreed) above */
        (void)demos_close(&df, path, err); /* the first failure is already reported */
    free(off);
    if (status != FM_OK && mine && mixture && meta) {
        fm_demos_free(mine);
        free(*mixture);
        *mixture = NULL;
        *meta = (fm_demos_meta){{0}, 0, 0};
    }
    h5i_quiet_end(&q);
    return status;
}

fm_status fm_h5_read_demos_robot(const char *path, int robot, fm_demos_meta *meta, fm_demos *mine,
                                 double **mixture, fm_err *err)
{
    fm_status status = FM_OK;
    demos_file df = {.file = H5I_INVALID_HID};
    int64_t *off = NULL;
    h5i_quiet q;
    h5i_quiet_begin(&q);
    for (int i = 0; i < DS_COUNT; i++)
        df.dset[i] = H5I_INVALID_HID;
    *mine = (fm_demos){0};
    *mixture = NULL;
    *meta = (fm_demos_meta){{0}, 0, 0};
    FM_TRY(h5i_open_file(MPI_COMM_SELF, path, path, H5I_OPEN_READ, &df.file, err));
    FM_TRY(demos_validate(&df, path, -1, meta, &off, err)); /* any number of robots */
    FM_CHECK(robot >= 0 && robot < meta->num_robots, FM_EINVAL, "%s: robot %d: the file holds robots 0..%d",
             path, robot, meta->num_robots - 1);
    FM_TRY(demos_read_shard(MPI_COMM_SELF, robot, &df, path, off, meta, mine, mixture, err));
    FM_TRY(demos_close(&df, path, err));
cleanup:
    if (status != FM_OK) {
        (void)demos_close(&df, path, err);
        fm_demos_free(mine);
        free(*mixture);
        *mixture = NULL;
    }
    free(off);
    h5i_quiet_end(&q);
    return status;
}
