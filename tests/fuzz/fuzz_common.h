/* fuzz_common.h - what every libFuzzer harness under tests/fuzz/ shares: a per-process scratch
 * file for the input (the readers take paths), FUZZ_VERBOSE reporting, and (FUZZ_WITH_MPI) an
 * MPI_Init for the HDF5 readers with the scratch file removed and MPI finalized at exit.
 * Header-only: each harness is one translation unit that includes it once. */
#ifndef FLEET_FUZZ_COMMON_H
#define FLEET_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#ifdef FUZZ_WITH_MPI
#include <mpi.h>
#endif

#include "core/core.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char scratch_path[512]; /* this process's input file, removed at exit */
static int verbose;            /* FUZZ_VERBOSE=1: print every call's status (seed authoring) */

static void report(const char *what, fm_status st, const fm_err *err)
{
    if (verbose)
        fprintf(stderr, "%s: %s%s%s\n", what, fm_status_name(st), st ? ": " : "", st ? err->msg : "");
}

static void fuzz_at_exit(void)
{
    if (scratch_path[0])
        unlink(scratch_path);
#ifdef FUZZ_WITH_MPI
    int up = 0, down = 0;
    if (MPI_Initialized(&up) == MPI_SUCCESS && up && MPI_Finalized(&down) == MPI_SUCCESS && !down)
        MPI_Finalize();
#endif
}

/* Scratch file <dir>/<name>.<pid><ext> under $TMPDIR, else /dev/shm, else /tmp; FUZZ_VERBOSE. */
static void fuzz_setup(const char *name, const char *ext)
{
    verbose = getenv("FUZZ_VERBOSE") && atoi(getenv("FUZZ_VERBOSE")) > 0;
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(scratch_path, sizeof scratch_path, "%s/%s.%ld%s", dir, name, (long)getpid(), ext);
    atexit(fuzz_at_exit);
}

#ifdef FUZZ_WITH_MPI
/* MPI up (the HDF5 readers use parallel HDF5 even serially); one rank only when one_rank. */
static void fuzz_mpi_init(const char *name, int one_rank, int *argc, char ***argv)
{
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
    /* keep Open MPI's components loaded at exit, so LeakSanitizer can name (and tests/lsan.supp
     * suppress) what they keep until exit */
    setenv("OMPI_MCA_mca_base_component_disable_dlclose", "1", 0);
    if (MPI_Init(argc, argv) != MPI_SUCCESS) {
        fprintf(stderr, "%s: MPI_Init failed\n", name);
        abort();
    }
    int size = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (one_rank && size != 1) {
        fprintf(stderr, "%s: run without mpirun (one rank), got %d ranks\n", name, size);
        abort();
    }
}
#endif

static void write_scratch(const uint8_t *data, size_t size)
{
    FILE *f = fopen(scratch_path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        perror(scratch_path);
        abort(); /* the harness cannot run: not a finding in the code under test */
    }
}

#endif
