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
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/h5io.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char scratch_path[512]; /* this process's input file, removed at exit */
static int verbose;            /* FUZZ_VERBOSE=1: print every call's status (seed authoring) */

static void report(const char *what, fm_status st, const fm_err *err)
{
    if (verbose)
        fprintf(stderr, "%s: %s%s%s\n", what, fm_status_name(st), st ? ": " : "", st ? err->msg : "");
}

static void at_exit(void)
{
    int up = 0, down = 0;
    if (scratch_path[0])
        unlink(scratch_path);
    if (MPI_Initialized(&up) == MPI_SUCCESS && up && MPI_Finalized(&down) == MPI_SUCCESS && !down)
        MPI_Finalize();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
    /* keep Open MPI's components loaded at exit, so LeakSanitizer can name (and tests/lsan.supp
     * suppress) what they keep until exit */
    setenv("OMPI_MCA_mca_base_component_disable_dlclose", "1", 0);
    if (MPI_Init(argc, argv) != MPI_SUCCESS) {
        fprintf(stderr, "fuzz_demos: MPI_Init failed\n");
        abort();
    }
    int size = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size != 1) {
        fprintf(stderr, "fuzz_demos: run without mpirun (one rank), got %d ranks\n", size);
        abort();
    }
    verbose = getenv("FUZZ_VERBOSE") && atoi(getenv("FUZZ_VERBOSE")) > 0;
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(scratch_path, sizeof scratch_path, "%s/fuzz_demos.%ld.h5", dir, (long)getpid());
    atexit(at_exit);
    return 0;
}

static void write_scratch(const uint8_t *data, size_t size)
{
    FILE *f = fopen(scratch_path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        perror(scratch_path);
        abort(); /* the harness cannot run: not a finding in the reader */
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
