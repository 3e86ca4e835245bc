/* train.h - behavior cloning of neural policies: minibatches of trajectories or windows,
 * Adam / AdamW or SGD, gradient-norm clipping, data-parallel training through a reducer. */
#ifndef FM_NN_TRAIN_H
#define FM_NN_TRAIN_H

#include "core/core.h"
#include "data/data.h"
#include "nn/nn.h"

typedef struct fm_nn_train_opts {
    int epochs;          /* passes over the local data (per robot) */
    long steps;          /* > 0: optimizer steps of the call, epochs ignored (the data cycle through
                          * fresh shuffles as in epochs) */
    int unit;            /* fm_batch_unit: minibatches of whole trajectories (or windows), or of single
                          * steps drawn from all trajectories (MLP heads only: no horizon padding) */
    int batch;           /* trajectories, windows or steps per minibatch */
    int window;          /* 0: whole trajectories; else windows of this many steps from h = 0 */
    int optimizer;       /* fm_optimizer (cfg.h): adam or sgd */
    double lr;
    int lr_schedule;     /* fm_lr_schedule (cfg.h) over the steps of one call */
    double lr_decay;     /* FM_LR_STEP: factor at 1/2 and again at 3/4 of the steps */
    double weight_decay; /* decoupled (AdamW); plain L2 for SGD */
    double grad_clip;    /* 0 = off; else clip the global gradient norm */
} fm_nn_train_opts;

typedef struct fm_adam {
    float *m, *v;
    long t;
    size_t n;
} fm_adam;

fm_status fm_adam_create(fm_adam *a, size_t n, fm_err *err);
void fm_adam_free(fm_adam *a);
void fm_adam_reset(fm_adam *a);
/* One step on w with gradient g (already averaged); lr, decay from opts. */
void fm_optimizer_step(const fm_nn_train_opts *o, fm_adam *a, float *w, const float *g);
/* Learning rate of step t (0-based) of `total` under `schedule` (fm_lr_schedule): constant lr;
 * cosine lr (1 + cos(pi t / total)) / 2; step lr, lr decay from t >= total / 2, lr decay^2 from
 * t >= 3 total / 4. */
double fm_lr_at(int schedule, double lr, double decay, long t, long total);
/* Plain Adam in double precision (beta 0.9/0.999, eps 1e-8, no decay) on n entries of x, step
 * t >= 1 already counted: linear policies (linpol.c) and permutation logits (merge_nn.c). */
void fm_adam_step_f64(double *x, double *m, double *v, const double *g, size_t n, double lr, long t);

/* Minibatch buffers in the layout fm_nn_loss_grad expects (time-major). */
typedef struct fm_nn_batch {
    int T, B;
    float *obs, *act, *mask; /* [T][B][obs_dim], [T][B][out_dim], [T][B] */
} fm_nn_batch;
fm_status fm_nn_batch_create(fm_nn_batch *b, int T, int B, int obs_dim, int act_dim, fm_err *err);
void fm_nn_batch_free(fm_nn_batch *b);
/* Fill with trajectories idx[0..n) (n <= B; missing rows are masked out), each from step
 * start[i] (NULL = 0) for b->T steps; steps past a trajectory's length are masked. */
void fm_nn_batch_fill(fm_nn_batch *b, const fm_demos *d, const int *idx, const int *start, int n);

/* Optimizer steps fm_nn_train takes with these options: o->steps, or o->epochs times the
 * minibatches of one epoch (their fleet mean, rounded up, when red != NULL: collective). */
fm_status fm_nn_train_steps(const fm_demos *d, const fm_nn_train_opts *o, const fm_reducer *red, long *total,
                            fm_err *err);
/* Train m on d for o->epochs epochs (or o->steps steps). red == NULL: this robot alone. Otherwise data-parallel
 * over the fleet: every process takes the same number of steps per epoch (the fleet-mean
 * number of local minibatches), gradients and step counts are summed through red each step,
 * so all processes keep identical parameters (they must start identical). Deterministic for
 * a fixed rng. *final_loss: mean per-step loss over the local data (summed over the fleet when
 * red != NULL) after training. */
fm_status fm_nn_train(fm_model *m, const fm_demos *d, const fm_nn_train_opts *o,
                      const fm_reducer *red, fm_rng *r, double *final_loss, fm_err *err);
/* The same with the caller's optimizer state (kept across calls, e.g. across merging rounds);
 * adam == NULL: a fresh state for this call. */
fm_status fm_nn_train_with(fm_model *m, const fm_demos *d, const fm_nn_train_opts *o,
                           const fm_reducer *red, fm_rng *r, fm_adam *adam, double *final_loss,
                           fm_err *err);
/* Mean per-step BC loss over all trajectories of d (task >= 0: only that task), summed over
 * the fleet when red != NULL. */
fm_status fm_nn_eval_loss(const fm_model *m, const fm_demos *d, int task, const fm_reducer *red,
                          double *loss, fm_err *err);

#endif
