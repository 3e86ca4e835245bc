/* fleet_nn_internal.h - the neural-policy run flow (`fleet run` / `fleet gen` on cart-pole and tool
 * use): its state and the steps its files share. Internal to src/fleet/fleet_nn*.c. The flow reads
 * as fm_run_nn in fleet_nn.c; each phase lives in the file named after it:
 *   fleet_nn.c            setup, robot data, fleet normalization, local training, settings from the
 *                         config (fnn_train_opts; the merge options: fm_fleet_merge_nn_opts), fm_run_nn / fm_gen_nn
 *   fleet_nn_oneshot.c    one-shot merge of the local policies by every merge.methods entry
 *   fleet_nn_rounds.c     merging rounds (local epochs, merge among participants, restart) and their
 *                         checkpoint / resume
 *   fleet_nn_baselines.c  pooled (data-parallel) training, task-specific references, warm start
 *   fleet_nn_eval.c       the policy rows, episodes, evaluation, barriers between robots 0 and 1
 *   fleet_nn_write.c      the results file and the summary table
 * Every fnn_ step is collective over c->comm unless it says local; a failing step returns the
 * same status on every rank (fleet_common.h: fm_fleet_agree). */
#ifndef FM_FLEET_NN_INTERNAL_H
#define FM_FLEET_NN_INTERNAL_H

#include <stddef.h>

#include "env/cartpole/cartpole.h"
#include "env/supervised/classify.h"
#include "env/multitask/multitask.h"
#include "env/tooluse/tooluse.h"
#include "fleet/fleet_common.h"
#include "merge/merge_nn.h"
#include "nn/train.h"

/* Columns of an episode score: cart-pole (balance, at set-point, mean stage cost) and tool use
 * (success, tool touched the object, shortfall = 1 - min(progress / threshold, 1)). */
enum { SCORE_BALANCE = 0, SCORE_SETPOINT, SCORE_COST, SCORE_COUNT };
/* Columns of a merging round's metrics (c->rd; /rounds, /timing/elapsed_seconds). */
enum { ROUND_PARTICIPANTS = 0, ROUND_LOSS, ROUND_BALANCE, ROUND_COST, ROUND_CHANGED, ROUND_SECONDS, ROUND_COUNT };

/* The global policies that are scored (/eval, the summary), one row each, in this order:
 *   merged policies (one per merge.methods entry), pooled, expert,
 *   fine-tuned merged policies (one per merged), scratch (only with eval.finetune_demos > 0). */
typedef enum nn_policy_kind {
    POLICY_MERGED = 0, /* c->merged[index] */
    POLICY_POOLED,     /* c->pooled */
    POLICY_EXPERT,     /* the benchmark's expert: no model */
    POLICY_FINETUNED,  /* c->ft[index], fine-tuned from c->merged[index] */
    POLICY_SCRATCH,    /* c->ft[index] (index = c->nmerged), trained from the shared initialization */
    POLICY_KIND_COUNT
} nn_policy_kind;

typedef struct nn_policy_row {
    nn_policy_kind kind;
    int index; /* into c->merged (POLICY_MERGED) or c->ft (POLICY_FINETUNED, POLICY_SCRATCH); else 0 */
} nn_policy_row;

typedef struct nn_ctx {
    /* the run */
    MPI_Comm comm;
    int rank, size;
    fm_run_opts opts;
    const fm_config *cfg;
    char out_path[1024];
    double t_start, t_phase[6];        /* seconds: data, local training, merging, pooled, evaluation, writing */
    fm_mpi_reducer_ctx rctx;
    fm_reducer red;
    /* the benchmark */
    int tooluse;                       /* 1: env.kind tooluse */
    int multitask;                     /* 1: env.kind multitask (neither: cart-pole) */
    int gen_only;                      /* 1: `fleet gen` (writes the training data only: no held-out set) */
    int K;                             /* tasks */
    fm_cartpole env;
    fm_tooluse tu;
    fm_multitask mt;
    int supervised;                    /* 1: env.kind supervised (classification; the "tasks" are classes) */
    fm_classify cls;
    const char **score_names;          /* [SCORE_COUNT], per benchmark */
    fm_nn_spec spec;
    /* this robot's data and policy */
    fm_demos demos;
    double *mixture;                   /* [K] */
    fm_model local;
    double local_loss;
    long local_steps, pooled_steps;    /* optimizer steps of local and of pooled training */
    fm_demos val;                      /* eval.val_demos held-out demonstrations (own mixture), or none */
    double *heldout;                   /* [N][1 + npol] held-out BC loss per robot: local, then the policy
                                        * rows (NaN for the expert); NULL without eval.val_demos */
    double local_loss_mean;            /* fleet mean of local_loss (set with heldout) */
    /* merges (one-shot: one per merge.methods entry; rounds: the one method's final model) */
    fm_model *merged;                  /* [nmerged] */
    int nmerged;
    double *merged_loss, *merge_seconds; /* [nmerged] */
    double *merge_sent;                /* [nmerged][N] bytes each robot sent in the merge (one-shot) */
    fm_merge_nn_log *mlog;             /* [nmerged] (one-shot) */
    float *pair;                       /* [nmerged][2][P]: robots 0 and 1 after each alignment (one-shot) */
    /* merging rounds */
    double *rd;                        /* [rounds][ROUND_COUNT] */
    double *rd_bytes;                  /* [N][rounds][3]: bytes sent, received, left out (0/1) */
    struct fnn_rounds_state *rs;       /* the robots' side of the rounds, kept for the checkpoint */
    int done_local, done_pooled, done_ts; /* 1: that baseline is finished (or restored from the
                                        * checkpoint: its phase is then not run again) */
    /* baselines */
    fm_model pooled;
    double pooled_loss;
    double *ts_scores;                 /* [K][SCORE_COUNT] task-specific policy h on task h (NaN: no data) */
    int nft;                           /* warm start: merged policies + scratch, fine-tuned */
    fm_model *ft;                      /* [nft] */
    double *ft_loss;                   /* [nft] BC loss on the held-out set after fine-tuning */
    char (*ft_name)[64];               /* [nft] */
    /* evaluation */
    int npol;                          /* policy rows (nn_policy_row) */
    double *scores;                    /* [npol][K][SCORE_COUNT] */
    double *local_scores;              /* [K][SCORE_COUNT] this robot's own policy */
    double *all_local;                 /* [N][K][SCORE_COUNT] every robot's own policy */
    double *barrier;                   /* [nmerged][points][4]: lambda, loss, balance, cost */
} nn_ctx;

/* ---- settings and models (fleet_nn.c) ---- */

/* Behavior-cloning settings from train.*; with merging rounds the baselines train as many
 * epochs as the rounds do (callers override .epochs where they train otherwise). Local. */
void fnn_train_opts(const fm_config *cfg, fm_nn_train_opts *o);
/* Merge settings from merge.* (and fleet.shared_init). Local. */
/* *m: a new model of c->spec initialized from this robot's INIT stream, or the shared one
 * (shared != 0), with the fleet's normalization statistics. */
fm_status fnn_new_model(nn_ctx *c, fm_model *m, int shared, fm_err *err);
/* n demonstrations of tasks[] of the configured benchmark into *out (*attempts: expert scenes
 * tried, tool use only; may be NULL). Local. */
fm_status fnn_env_generate(const nn_ctx *c, const int *tasks, int n, fm_rng *r, fm_demos *out, int *attempts,
                           fm_err *err);

/* ---- the phases, in the order fm_run_nn runs them ---- */

fm_status fnn_rounds_begin(nn_ctx *c, fm_err *err);  /* fleet_nn_rounds.c: state, resume */
fm_status fnn_merge(nn_ctx *c, fm_err *err);         /* fleet_nn_oneshot.c */
fm_status fnn_rounds(nn_ctx *c, fm_err *err);        /* fleet_nn_rounds.c */
fm_status fnn_pooled(nn_ctx *c, fm_err *err);        /* fleet_nn_baselines.c */
fm_status fnn_finetune(nn_ctx *c, fm_err *err);      /* fleet_nn_baselines.c */
fm_status fnn_evaluate(nn_ctx *c, fm_err *err);      /* fleet_nn_eval.c */
fm_status fnn_task_specific(nn_ctx *c, fm_err *err); /* fleet_nn_baselines.c */
fm_status fnn_heldout(nn_ctx *c, fm_err *err);       /* fleet_nn_eval.c */
fm_status fnn_barriers(nn_ctx *c, fm_err *err);      /* fleet_nn_eval.c */
fm_status fnn_write(nn_ctx *c, fm_err *err);         /* fleet_nn_write.c */
void fnn_summary(const nn_ctx *c);                   /* fleet_nn_write.c: rank 0 prints the table */

/* ---- shared steps ---- */

/* <results>.ckpt, the checkpoint of a rounds run (fleet_nn_rounds.c). Local. */
void fnn_ckpt_path(const nn_ctx *c, char *buf, size_t cap);
/* Collective, rounds runs only (c->rs): checkpoint everything finished so far; `after` names the
 * phase just finished ("round 3", "pooled", "task_specific"; the FLEET_STOP_AFTER test hook). */
fm_status fnn_ckpt_save(nn_ctx *c, const char *after, fm_err *err);
void fnn_rounds_free(nn_ctx *c);
/* Episode e of task h with the policy of run (NULL: the expert), scores added to acc[SCORE_COUNT];
 * common random numbers: the same start and noise for every policy (fleet_nn_eval.c). Local. */
void fnn_episode(const nn_ctx *c, int h, int e, fm_nn_runner *run, double *acc);
/* Policy row j (0 <= j < c->npol) as its kind and index (fleet_nn_eval.c). Local. */
nn_policy_row fnn_policy_row(const nn_ctx *c, int j);
/* Row j's model (NULL for the expert), name (/eval/<name>, the summary) and BC loss (NaN for the
 * expert). Local. */
const fm_model *fnn_policy_model(const nn_ctx *c, int j);
const char *fnn_policy_name(const nn_ctx *c, int j);
double fnn_policy_loss(const nn_ctx *c, int j);
/* Name of merge method j (merge.methods[j]); also the name of policy row j < c->nmerged. Local. */
const char *fnn_method_name(const nn_ctx *c, int j);
/* max_l L(theta_l) - (L_0 + L_1) / 2 and max_l (T_0 + T_1) / 2 - T(theta_l) for T = balance, from
 * npts rows (lambda, loss, balance, cost) of c->barrier (fleet_nn_eval.c). Local. */
void fnn_barrier_values(const double *rows, int npts, double *loss_b, double *bal_b);

#endif
