/* classify.h - a labelled-image classification benchmark for the fleet (env.kind: supervised;
 * issue 16, paper Appendix F): every rank is a client holding a shard of a labelled data set
 * (Fashion-MNIST's IDX files from Debian's dataset-fashion-mnist), the standard non-IID split by
 * class: for every class, the shares of the clients ~ Dirichlet(fleet.alpha 1_N) (data/supervised.h).
 * A "task" is a class; the policy maps an image (env dim pixels in [0, 1]) to K logits and is
 * trained with softmax cross-entropy (nn.h, FM_NN_LOSS_XENT).
 *
 * Demonstrations: each example is a trajectory of one step, observation = its pixels, action =
 * its one-hot label, task = its class. Evaluation "episode" e of task h = test example e of class
 * h (in file order, wrapping around): balanced = the top logit is h (accuracy), at_setpoint = h is
 * among the two top logits (top-2 accuracy), cost = -log softmax(logits)_h (cross-entropy). The
 * "expert" (no policy) is the label itself: accuracy 1, loss 0.
 *
 * Text (env.sv_kind text; next-character prediction, the paper's LEAF Shakespeare RNN, Figure 7 f):
 * env.sv_data is a text file of lines "<document><chapter>:<verse> <text>", the format `bible -f`
 * prints (the King James Bible from Debian's bible-kjv); consecutive lines of one document (book)
 * are joined by single spaces. The documents, in file order, are cut into env.num_tasks groups of
 * consecutive documents of about equal size: the "tasks" (document d >= 1 opens the next group
 * when its middle character lies in a later K-quantile of the corpus than the current group's, never
 * skipping a group, and always when as many documents are left as groups to fill). Each group's text is cut into windows of
 * env.sv_window + 1 characters starting every env.sv_window characters; every 10th window (j mod
 * 10 = 9) is held out for testing, the rest are the training examples (label = the group), split
 * among the clients like classes above. A training example is a trajectory of sv_window steps:
 * observation t = one-hot of character t, action t = one-hot of character t + 1 (every position
 * trains). Evaluation episode e of task h = test window e of group h, LEAF-style: after reading
 * its first sv_window characters, is the next one the top logit (accuracy), among the top two,
 * and its cross-entropy. Characters are indexed by the sorted vocabulary of the whole corpus.
 */
#ifndef FM_CLASSIFY_H
#define FM_CLASSIFY_H

#include <stdint.h>

#include "config/cfg.h"
#include "core/core.h"
#include "data/data.h"
#include "env/env.h"

typedef struct fm_classify {
    int K;          /* classes (= env.num_tasks) */
    int dim;        /* features per example (rows x cols; text: the vocabulary size) */
    int nout;       /* outputs of the policy: K classes, or (text) the vocabulary size */
    int rows, cols; /* image size (row-major pixels; text: 0) */
    int ntest;      /* test examples */
    uint8_t *test;  /* [ntest][dim] pixels (images) */
    /* text only (text = 1): the corpus as vocabulary indices and the test windows */
    int text, window;
    unsigned char byte_of[256]; /* vocabulary index -> character */
    size_t nchars;
    unsigned char *chars;       /* [nchars] the joined documents, as vocabulary indices */
    size_t *group_start;        /* [K + 1] group h's characters are [group_start[h], group_start[h + 1]) */
    size_t *test_start;         /* [ntest] first character of each test window, grouped by task */
    int *by_class;  /* [ntest] test example indices grouped by class, file order within a class */
    int *start;     /* [K + 1] class h's test examples are by_class[start[h] .. start[h + 1]) */
} fm_classify;

/* Load the test set of env.sv_data (t10k-images/labels-idx*-ubyte, plain or .gz) and check it
 * against the config: as many classes as env.num_tasks, every class present. FM_EDATA / FM_EIO
 * naming the file; FM_ECONFIG when the data and env.num_tasks disagree. */
fm_status fm_classify_build(const fm_config *cfg, fm_classify *c, fm_err *err);
void fm_classify_free(fm_classify *c);

/* Client `rank` of `size`'s shard of the first env.sv_train training examples (train-*), split by
 * class with Dirichlet(fleet.alpha) shares drawn from a stream every rank shares, so the ranks
 * agree on the split without talking; only the rank's own examples are kept (as one-step
 * trajectories, above). mixture[K] gets the shard's class proportions. A shard may be empty. */
fm_status fm_classify_shard(const fm_config *cfg, const fm_classify *c, int rank, int size, fm_demos *out,
                            double *mixture, fm_err *err);

/* Text mode (classify_text.c): fm_classify_build and fm_classify_shard call these for sv_kind text. */
fm_status fm_classify_text_build(const fm_config *cfg, fm_classify *c, fm_err *err);
fm_status fm_classify_text_shard(const fm_config *cfg, const fm_classify *c, int rank, int size, fm_demos *out,
                                 double *mixture, fm_err *err);
void fm_classify_text_episode(const fm_classify *c, int h, int e, const fm_policy_fn *pi, fm_episode_score *s);

/* Test example e of class h (e wraps around the class's examples) with pi (NULL: the label). */
void fm_classify_episode(const fm_classify *c, int h, int e, const fm_policy_fn *pi, fm_episode_score *s);

#endif
