/* supervised.h - supervised-learning data: IDX files (MNIST, Fashion-MNIST), labelled image sets, the
 * Dirichlet non-IID split of a labelled set among clients, and text corpora for next-character prediction.
 * Reading IDX files needs zlib (-lz). */
#ifndef FM_SUPERVISED_H
#define FM_SUPERVISED_H

#include "core/core.h"

#define FM_IDX_MAX_DIMS 4
/* Largest IDX payload accepted: 2^31 bytes (the whole MNIST training set is 47 MB). */
#define FM_IDX_MAX_BYTES (UINT64_C(1) << 31)

/* An IDX array of unsigned bytes (type code 0x08). Owns `data`. */
typedef struct fm_idx {
    int ndims;                      /* 1..FM_IDX_MAX_DIMS */
    uint32_t dims[FM_IDX_MAX_DIMS]; /* dims[0..ndims) from the file, each >= 1; dims[ndims..) = 1 */
    size_t size;                    /* product of the dims: bytes in data */
    int compressed;                 /* 1 if the file was gzip-compressed, 0 if plain */
    uint8_t *data;                  /* [dims[0]]...[dims[ndims-1]] row-major (last index fastest) */
} fm_idx;

/* Read the IDX file at `path`, plain or gzip-compressed (zlib recognizes the gzip magic 0x1f 0x8b and
 * reads any other file as it is). Layout, all integers big-endian: magic 0x00 0x00 0x08 ndims, ndims
 * uint32 dims, then the product of the dims bytes, and nothing after them.
 * Errors: FM_EIO when the file cannot be opened or read (message with strerror); FM_EDATA naming the file
 * and the problem: bad magic, a data type other than 0x08, ndims outside 1..4, a zero dim, more than
 * FM_IDX_MAX_BYTES of data, a truncated header or payload ("got X of Y bytes"), trailing bytes, damaged
 * gzip data. *out is zeroed first and holds nothing on failure; free it with fm_idx_free. */
fm_status fm_idx_read(const char *path, fm_idx *out, fm_err *err);
/* Free x's data and zero it; x may be zeroed (or already freed). */
void fm_idx_free(fm_idx *x);

/* A labelled image set. Owns x and y. */
typedef struct fm_labelled {
    int n;           /* examples */
    int rows, cols;  /* image shape */
    int dim;         /* rows * cols: features per example */
    int num_classes; /* 1 + the largest label in the labels file (all of it, not only the kept examples) */
    float *x;        /* [n][dim] pixel / 255, in [0, 1], row-major images */
    int *y;          /* [n] labels in [0, num_classes) */
} fm_labelled;

/* Pair an images file (3 dims: n x rows x cols) with a labels file (1 dim: n) and keep the first
 * `limit` examples (all of them when limit <= 0 or limit >= n). Either file may be gzip-compressed.
 * Errors: those of fm_idx_read; FM_EDATA when a file has the wrong number of dims or the counts differ.
 * *out is zeroed first and holds nothing on failure; free it with fm_labelled_free. */
fm_status fm_idx_dataset(const char *images, const char *labels, int limit, fm_labelled *out, fm_err *err);
void fm_labelled_free(fm_labelled *d);

/* Non-IID split of a labelled set among `num_clients` clients (Yurochkin et al. 2019, as used by FedMA
 * and many FedAvg studies): for each class c in turn, the indices i with y[i] == c (in increasing order)
 * are shuffled with fm_rng_permutation, proportions p ~ Dirichlet(alpha 1_N) are drawn with
 * fm_rng_dirichlet, and the shuffled list is cut at round(m_c * (p_0 + ... + p_j)), j = 0..N-2: client j
 * gets the examples between cuts j-1 and j. Small alpha puts most of a class on one client; large alpha
 * gives every client about m_c / N. The result depends only on the inputs and r's state.
 * y: [n] labels in [0, num_classes); client_of: [n] output, the client of each example, in [0, N).
 * Errors: FM_EINVAL for n < 0, num_classes < 1, num_clients < 1, alpha not a positive finite number, or
 * a label out of range (client_of is then unspecified); FM_ENOMEM. */
fm_status fm_split_dirichlet(const int *y, int n, int num_classes, int num_clients, double alpha, fm_rng *r,
                             int *client_of, fm_err *err);

/* A text corpus held in memory. Owns bytes. */
typedef struct fm_text {
    size_t len;           /* bytes, >= 1 */
    unsigned char *bytes; /* [len + 1]: the file's bytes, none of them 0, then a terminating 0 */
} fm_text;

/* Read the file at `path` (at most max_bytes > 0 bytes) into memory.
 * Errors: FM_EINVAL for max_bytes == 0; FM_EIO when the file cannot be opened or read (strerror);
 * FM_EDATA naming the file for an empty file, a file over max_bytes, or a NUL byte (with its offset).
 * *out is zeroed first and holds nothing on failure; free it with fm_text_free. */
fm_status fm_text_read(const char *path, size_t max_bytes, fm_text *out, fm_err *err);
void fm_text_free(fm_text *t);

/* The distinct bytes of a text, sorted: index k in [0, size) stands for byte_of[k]. */
typedef struct fm_vocab {
    int size;                   /* distinct bytes present, 1..255 for a text from fm_text_read */
    unsigned char byte_of[256]; /* [size] increasing */
    int index_of[256];          /* byte -> index, -1 for bytes absent from the text */
} fm_vocab;

/* Build the vocabulary of t (any bytes; an empty text gives size 0). Cannot fail. */
void fm_text_vocab(const fm_text *t, fm_vocab *v);

#endif
