/* fuzz_ckpt.c - libFuzzer harness for the checkpoint reader (src/fleet/fleet_ckpt.h).
 *
 * Input: the bytes of an HDF5 file, written to one scratch file per process (under $TMPDIR,
 * else /dev/shm, else /tmp). A run knows the shape of its checkpoint; here the shape is taken
 * from the file itself so that mutated files of any size reach the deep checks:
 *   config  = the file's /config text (so the config comparison passes), "" when unreadable;
 *   nranks, P = the dims of /robot/params when 2-D and small (else 2 and 8);
 *   R       = the columns of /robot/comm / 3 when small (else 3);
 *   metrics = fleet_nn_rounds.c's: 6 columns, column 0 a participant count, columns 2 and 3 may be NaN;
 *   task-specific values = the length of /task_specific when small (else 6); any build (version NULL).
 * fm_ckpt_read then reads the rows of rank 0 and of rank nranks - 1. (A checkpoint of another run is
 * a file whose datasets disagree with /robot/params and /robot/comm: mutations make those.) Buffers are exactly the shape's size, so
 * ASan sees any overrun. Any status is fine; crashes, leaks, UB and timeouts are the findings.
 * Seeds: tests/fuzz/make_corpus.py -> tests/fuzz/corpus/fuzz_ckpt/; dictionary tests/fuzz/hdf5.dict.
 */
#define _POSIX_C_SOURCE 200809L /* setenv */
#define FUZZ_WITH_MPI
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/fleet_ckpt.h"
#include "fuzz_common.h"
#include "io/h5io.h"

enum { MAX_RANKS = 64, MAX_ROUNDS = 1000, ROUND_COLS = 6 };
#define MAX_PARAMS ((size_t)1 << 16)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    /* fm_ckpt_read is serial, but parallel HDF5 and src/io/h5*.c expect MPI to be up */
    fuzz_mpi_init("fuzz_ckpt", 0, argc, argv);
    fuzz_setup("fuzz_ckpt", ".h5");
    return 0;
}

/* Dims of a numeric dataset (nd = -1 when it cannot be read). */
static void dataset_dims(const char *dset, int *nd, int64_t dims[FM_H5_MAX_DIMS])
{
    double *v = NULL;
    fm_err err;
    fm_err_clear(&err);
    *nd = -1;
    if (fm_h5_read_f64(scratch_path, dset, &v, nd, dims, &err) != FM_OK)
        *nd = -1;
    free(v);
}

/* The shape of a run this file could be the checkpoint of (see the header comment). */
static fm_ckpt_shape shape_of_file(const char *config)
{
    fm_ckpt_shape s = {.config = config, .nranks = 2, .rounds = 3, .round_cols = ROUND_COLS,
                       .nan_ok_cols = 1u << 2 | 1u << 3, .max_count_col = 0, .nparams = 8, .nts = 6};
    int64_t dims[FM_H5_MAX_DIMS] = {0};
    int nd = -1;
    dataset_dims("/robot/params", &nd, dims);
    if (nd == 2 && dims[0] >= 1 && dims[0] <= MAX_RANKS && dims[1] >= 1 && (size_t)dims[1] <= MAX_PARAMS) {
        s.nranks = (int)dims[0];
        s.nparams = (size_t)dims[1];
    }
    dataset_dims("/robot/comm", &nd, dims);
    if (nd == 2 && dims[1] >= 3 && dims[1] <= 3 * MAX_ROUNDS && dims[1] % 3 == 0)
        s.rounds = (int)(dims[1] / 3);
    dataset_dims("/task_specific", &nd, dims);
    if (nd == 1 && dims[0] >= 1 && dims[0] <= 3 * MAX_ROUNDS)
        s.nts = (int)dims[0];
    return s;
}

/* fm_ckpt_read into buffers of exactly the shape's size. */
static void read_ckpt(const fm_ckpt_shape *s)
{
    size_t P = s->nparams, R = (size_t)s->rounds;
    fm_ckpt_state st = {.params = malloc(P * sizeof(float)), .adam_m = malloc(P * sizeof(float)),
                        .adam_v = malloc(P * sizeof(float)), .merged = malloc(P * sizeof(float)),
                        .comm = malloc(3 * R * sizeof(double)),
                        .rounds = malloc(R * (size_t)s->round_cols * sizeof(double)),
                        .local = malloc(P * sizeof(float)), .pooled = malloc(P * sizeof(float)),
                        .ts = malloc((size_t)s->nts * sizeof(double))};
    fm_err err;
    fm_err_clear(&err);
    if (st.params && st.adam_m && st.adam_v && st.merged && st.comm && st.rounds && st.local && st.pooled && st.ts) {
        char what[128];
        fm_status rc = fm_ckpt_read(scratch_path, s, &st, &err);
        snprintf(what, sizeof what, "fm_ckpt_read(ranks %d, rank %d, R %d, P %zu)", s->nranks, s->rank, s->rounds,
                 s->nparams);
        report(what, rc, &err);
    }
    free(st.rounds), free(st.comm), free(st.merged), free(st.adam_v), free(st.adam_m), free(st.params);
    free(st.local), free(st.pooled), free(st.ts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *config = NULL;
    fm_err err;
    write_scratch(data, size);
    fm_err_clear(&err);
    /* fleet run reads nothing of a checkpoint before fm_ckpt_read, whose first step is this check;
     * the shape probes below must not reach HDF5's unchecked decoders either. */
    fm_status rc = fm_h5_check_checksummed(scratch_path, &err);
    report("fm_h5_check_checksummed", rc, &err);
    if (rc != FM_OK)
        return 0;
    fm_err_clear(&err);
    if (fm_h5_read_text(scratch_path, "/config", &config, &err) != FM_OK)
        config = NULL;
    fm_ckpt_shape s = shape_of_file(config ? config : "");
    s.rank = 0;
    read_ckpt(&s);
    if (s.nranks > 1) {
        s.rank = s.nranks - 1;
        read_ckpt(&s);
    }
    free(config);
    return 0;
}
