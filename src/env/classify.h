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
    int dim;        /* features per example (rows x cols) */
    int rows, cols; /* image size (row-major pixels) */
    int ntest;      /* test examples */
    uint8_t *test;  /* [ntest][dim] pixels */
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

/* Test example e of class h (e wraps around the class's examples) with pi (NULL: the label). */
void fm_classify_episode(const fm_classify *c, int h, int e, const fm_policy_fn *pi, fm_episode_score *s);

#endif
