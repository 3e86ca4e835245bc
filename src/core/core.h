/* core.h - status codes, error context, allocation, logging and RNG streams.
 *
 * Error convention (used by every part of fleetmerge):
 *   - a function that can fail returns fm_status and takes `fm_err *err` as its last argument;
 *   - it declares `fm_status status = FM_OK;` and ends with a single `cleanup:` label;
 *   - FM_TRY(expr) propagates a failure (appending file:line to the trace),
 *     FM_CHECK(cond, code, fmt, ...) raises one with a message.
 * No function below main() exits or aborts on bad input.
 */
#ifndef FM_CORE_H
#define FM_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum fm_status {
    FM_OK = 0,
    FM_EINVAL,   /* bad argument from a caller, or a refused request (conflicting results, checkpoint) */
    FM_ECONFIG,  /* invalid configuration file (or --set override) */
    FM_EIO,      /* file system or HDF5 failure */
    FM_ENOMEM,   /* allocation failed */
    FM_ENUMERIC, /* numerical failure (singular matrix, non-finite value, no convergence) */
    FM_EMPI,     /* MPI failure or another rank failed */
    FM_EDATA,    /* malformed input data (demonstration files) */
    FM_EPARTIAL, /* a sweep is not complete (fleet sweep --status): exit code 3 */
    FM_EUSAGE,   /* bad command line (unknown option, missing argument): exit code 64 */
    FM_STATUS_COUNT
} fm_status;

typedef struct fm_err {
    fm_status code;
    char msg[2048];  /* first failure's message */
    char trace[512]; /* "file:line <- file:line ..." */
} fm_err;

void fm_err_clear(fm_err *err);
/* Record a failure (the first message wins; later ones are ignored) and return `code`. */
fm_status fm_fail(fm_err *err, fm_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void fm_err_at(fm_err *err, const char *file, int line);
const char *fm_status_name(fm_status code);
/* Process exit code for a status: 0 ok, 2 config/usage errors, 3 an incomplete sweep, 1 otherwise. */
/* The process exit code of a status (README "Exit codes"): 0 success, 1 runtime failure, 2 bad
 * config or a refused request, 3 incomplete sweep, 64 usage (4, an aborted job, is the guard's:
 * io/guard.h). */
#define FM_EXIT_ABORTED 4
int fm_exit_code(fm_status code);

#define FM_TRY(expr)                                   \
    do {                                               \
        fm_status fm_st_ = (expr);                     \
        if (fm_st_ != FM_OK) {                         \
            status = fm_st_;                           \
            fm_err_at(err, __FILE__, __LINE__);        \
            goto cleanup;                              \
        }                                              \
    } while (0)

#define FM_CHECK(cond, code, ...)                       \
    do {                                                \
        if (!(cond)) {                                  \
            status = fm_fail(err, (code), __VA_ARGS__); \
            fm_err_at(err, __FILE__, __LINE__);         \
            goto cleanup;                               \
        }                                               \
    } while (0)

/* Zeroed allocation of n elements of `size` bytes; *out is NULL on failure. */
fm_status fm_calloc(void *out, size_t n, size_t size, fm_err *err);
#define FM_ALLOC(ptr, n) FM_TRY(fm_calloc(&(ptr), (size_t)(n), sizeof(*(ptr)), err))

/* ---- logging ---- */
/* Seconds since an arbitrary fixed point (monotonic clock). */
double fm_now(void);
/* The binary's version (git describe of its sources at build time, or "unknown"; core/version.c). */
const char *fm_version(void);
/* 64-bit FNV-1a hash of n bytes, continuing from h (start with FM_FNV_START). */
#define FM_FNV_START 0xcbf29ce484222325ULL
uint64_t fm_fnv1a(uint64_t h, const void *data, size_t n);
/* printf to `f` with a "[fleet] " prefix; callers decide which rank prints. */
void fm_logf(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- random numbers: xoshiro256** streams derived from (seed, rank, stream) ---- */
typedef enum fm_stream {
    FM_STREAM_SYSTEM = 0, /* shared by all ranks: system matrices, observation maps */
    FM_STREAM_MIXTURE,    /* robot's Dirichlet mixture weights */
    FM_STREAM_DATA,       /* robot's demonstrations */
    FM_STREAM_INIT,       /* robot's policy initialization */
    FM_STREAM_TRAIN,      /* minibatch sampling */
    FM_STREAM_MERGE,      /* shared by all ranks: merge-time sampling (order, subsets) */
    FM_STREAM_EVAL,       /* evaluation rollouts (common random numbers across policies) */
    FM_STREAM_COUNT
} fm_stream;

/* Rank value to use for streams shared by every robot. */
#define FM_RANK_SHARED UINT64_C(0xFFFFFFFF)

typedef struct fm_rng {
    uint64_t s[4];
    int has_spare;
    double spare;
} fm_rng;

void fm_rng_seed(fm_rng *r, uint64_t seed, uint64_t rank, uint64_t stream);
uint64_t fm_rng_u64(fm_rng *r);
double fm_rng_uniform(fm_rng *r);            /* [0, 1) with 53 random bits */
uint64_t fm_rng_below(fm_rng *r, uint64_t n); /* uniform in [0, n), n > 0, unbiased */
double fm_rng_normal(fm_rng *r);             /* standard normal */
/* log of a Gamma(shape, 1) draw; works for tiny shapes without underflow. */
double fm_rng_log_gamma(fm_rng *r, double shape);
/* out[0..k) ~ Dirichlet(alpha * 1_k), alpha > 0. */
void fm_rng_dirichlet(fm_rng *r, double alpha, int k, double *out);
/* index drawn with probabilities p[0..k) (need not be normalized, sum > 0). */
int fm_rng_categorical(fm_rng *r, const double *p, int k);
/* out[0..n) = a uniformly random permutation of 0..n-1 (Fisher-Yates from the top). */
void fm_rng_permutation(fm_rng *r, int n, int *out);
/* chosen[i] = 1 for k of the n indices drawn uniformly without replacement (a partial
 * Fisher-Yates over scratch[0..n)), 0 for the others; 0 <= k <= n. */
void fm_rng_choose(fm_rng *r, int n, int k, int *chosen, int *scratch);



#ifndef FM_REDUCER_DEFINED
#define FM_REDUCER_DEFINED
/* ---- reducer: the fleet's collectives, seen by rank-local algorithms ----
 * Each process owns `nlocal` consecutive models (global indices offset .. offset+nlocal-1)
 * out of `nglobal`. Under MPI (fleet/) every rank owns one model; the serial reducer owns all
 * of them and every operation is (nearly) the identity, so the same code runs in one process
 * (tests, offline merging) and gives the same bits. Every operation must be called by all
 * processes. Traffic and memory per process are O(n), independent of the fleet's size, except
 * gather_f32 (N x n by its nature; only the simplex ablation uses it).
 *   sum       in-place sum of per-process partial sums (doubles), in rank order;
 *   mean_f32  out[j] = (float)(sum over processes of partial[j] / divisor): the partials travel as
 *             float32, so each must be exactly a float (one float32 model per process under MPI);
 *             the sum is taken in double in rank order, then divided and rounded once;
 *   bcast     buf (`bytes` bytes) from the process that owns global model `owner` to every process
 *             (fm_reduce_bcast_f32: n floats);
 *   gather_f32 all[i * n ...] of every model i: each process fills its own models' blocks first. */
typedef struct fm_reducer {
    fm_status (*sum)(void *ctx, double *buf, size_t n, fm_err *err);
    fm_status (*mean_f32)(void *ctx, const double *partial, float *out, size_t n, double divisor, fm_err *err);
    fm_status (*bcast)(void *ctx, void *buf, size_t bytes, int owner, fm_err *err);
    fm_status (*gather_f32)(void *ctx, float *all, size_t n, fm_err *err);
    void *ctx;
    int nglobal; /* models in the fleet */
    int nlocal;  /* models held by this process */
    int offset;  /* global index of this process's first model */
} fm_reducer;

/* Reducer for one process owning all n models. */
fm_reducer fm_reducer_serial(int n);
/* Convenience wrappers of r's operations (see above). */
fm_status fm_reduce_sum(const fm_reducer *r, double *buf, size_t n, fm_err *err);
fm_status fm_reduce_mean_f32(const fm_reducer *r, const double *partial, float *out, size_t n, double divisor,
                             fm_err *err);
fm_status fm_reduce_bcast(const fm_reducer *r, void *buf, size_t bytes, int owner, fm_err *err);
fm_status fm_reduce_bcast_f32(const fm_reducer *r, float *buf, size_t n, int owner, fm_err *err);
fm_status fm_reduce_gather_f32(const fm_reducer *r, float *all, size_t n, fm_err *err);
#endif

#endif
