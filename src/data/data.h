/* data.h - demonstration store (one robot's trajectories) and Dirichlet task mixtures. */
#ifndef FM_DATA_H
#define FM_DATA_H

#include "core/core.h"

/* Trajectories of one robot, padded to a common horizon. Owns its arrays. */
typedef struct fm_demos {
    int n_traj;    /* number of trajectories */
    int horizon;   /* T: padded length */
    int obs_dim;   /* p */
    int act_dim;   /* m */
    double *obs;   /* [n_traj][horizon][obs_dim] */
    double *act;   /* [n_traj][horizon][act_dim] */
    int *task;     /* [n_traj] task index in [0, K) */
    int *length;   /* [n_traj] valid steps, 1..horizon; steps beyond are zero */
} fm_demos;

/* Allocate zeroed storage. */
fm_status fm_demos_alloc(fm_demos *d, int n_traj, int horizon, int obs_dim, int act_dim, fm_err *err);
void fm_demos_free(fm_demos *d);
/* Bytes of the payload (obs, act, task, length): what a robot would have to ship to centralize. */
size_t fm_demos_bytes(const fm_demos *d);

/* Draw robot mixture weights p ~ Dirichlet(alpha 1_K) and n task labels from p. */
void fm_mixture_draw(fm_rng *r, double alpha, int k, double *weights);
void fm_mixture_tasks(fm_rng *r, const double *weights, int k, int n, int *tasks);

#endif
