/* fuzz_demos.c - libFuzzer harness for the demonstrations reader (src/io/h5io.h).
 *
 * Input: the bytes of an HDF5 file, written to one scratch file per process (under $TMPDIR,
 * else /dev/shm, else /tmp). The harness reads it with fm_h5_read_demos_robot for robots 0
 * and 1 (serial reader) and with the collective fm_h5_read_demos on MPI_COMM_WORLD (one rank:
 * run the harness without mpirun), and frees what was read. Any status is fine; crashes,
 * leaks, UB and timeouts are the findings. A crash whose top frames are in libhdf5 is a bug in
 * HDF5's handling of a corrupt file; one in src/ is ours.
 * Raw bytes rarely form HDF5, so the seeds matter: tests/fuzz/make_corpus.py writes valid
 * files and damaged variants to tests/fuzz/corpus/fuzz_demos/; tests/fuzz/hdf5.dict lists the
 * format's signatures.
 */
#define _POSIX_C_SOURCE 200809L /* setenv */
#define FUZZ_WITH_MPI
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "io/h5io.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_mpi_init("fuzz_demos", 1, argc, argv);
    fuzz_setup("fuzz_demos", ".h5");
    return 0;
}

/* What a successful read promises (docs/schema.md, "Reading"): a shard of the declared shape with
 * lengths in [1, T], tasks in [0, K), finite observations and actions, finite non-negative mixture
 * weights. A broken promise is a finding: abort with the reason. Every value is read, so ASan also
 * sees a buffer shorter than its declared shape. */
static void check_read(const char *what, const fm_demos_meta *meta, const fm_demos *d, const double *mixture)
{
    const char *bad = NULL;
    if (d->n_traj < 0 || d->horizon < 1 || d->obs_dim < 1 || d->act_dim < 1 || meta->num_tasks < 1)
        bad = "non-positive dimensions";
    for (int i = 0; !bad && i < d->n_traj; i++) {
        if (d->length[i] < 1 || d->length[i] > d->horizon)
            bad = "a length outside [1, T]";
        else if (d->task[i] < 0 || d->task[i] >= meta->num_tasks)
            bad = "a task outside [0, K)";
        for (size_t q = 0; !bad && q < (size_t)d->horizon * d->obs_dim; q++)
            if (!isfinite(d->obs[(size_t)i * d->horizon * d->obs_dim + q]))
                bad = "a non-finite observation";
        for (size_t q = 0; !bad && q < (size_t)d->horizon * d->act_dim; q++)
            if (!isfinite(d->act[(size_t)i * d->horizon * d->act_dim + q]))
                bad = "a non-finite action";
    }
    for (int k = 0; !bad && k < meta->num_tasks; k++)
        if (!(isfinite(mixture[k]) && mixture[k] >= 0))
            bad = "a mixture weight that is not finite and >= 0";
    if (bad) {
        fprintf(stderr, "fuzz_demos: %s returned FM_OK with %s\n", what, bad);
        abort();
    }
}

static void read_robot(int robot)
{
    fm_demos_meta meta;
    fm_demos mine;
    double *mixture = NULL;
    fm_err err;
    char what[64];
    fm_err_clear(&err);
    fm_status st = fm_h5_read_demos_robot(scratch_path, robot, &meta, &mine, &mixture, &err);
    snprintf(what, sizeof what, "fm_h5_read_demos_robot(%d)", robot);
    report(what, st, &err);
    if (st == FM_OK) {
        check_read(what, &meta, &mine, mixture);
        fm_demos_free(&mine);
        free(mixture);
    }
}

static void read_collective(void)
{
    fm_demos_meta meta;
    fm_demos mine;
    double *mixture = NULL;
    fm_err err;
    fm_err_clear(&err);
    fm_status st = fm_h5_read_demos(MPI_COMM_WORLD, scratch_path, &meta, &mine, &mixture, &err);
    report("fm_h5_read_demos", st, &err);
    if (st == FM_OK) {
        check_read("fm_h5_read_demos", &meta, &mine, mixture);
        fm_demos_free(&mine);
        free(mixture);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    write_scratch(data, size);
    read_robot(0);
    read_robot(1);
    read_collective();
    return 0;
}
