/* data.c - demonstration store and task mixtures. */
#include <stdint.h>
#include "data/data.h"

#include <stdlib.h>

fm_status fm_demos_alloc(fm_demos *d, int n_traj, int horizon, int obs_dim, int act_dim, fm_err *err)
{
    fm_status status = FM_OK;
    *d = (fm_demos){0};
    FM_CHECK(n_traj >= 0 && horizon > 0 && obs_dim > 0 && act_dim > 0, FM_EINVAL,
             "demonstrations: bad shape (%d trajectories, horizon %d, obs %d, act %d)", n_traj,
             horizon, obs_dim, act_dim);
    FM_CHECK((double)n_traj * horizon * (obs_dim > act_dim ? obs_dim : act_dim) * sizeof(double) < (double)SIZE_MAX / 2,
             FM_ENOMEM, "demonstrations: %d trajectories x %d steps x %d values do not fit in memory", n_traj, horizon,
             obs_dim > act_dim ? obs_dim : act_dim);
    d->n_traj = n_traj;
    d->horizon = horizon;
    d->obs_dim = obs_dim;
    d->act_dim = act_dim;
    FM_ALLOC(d->obs, (size_t)n_traj * horizon * obs_dim);
    FM_ALLOC(d->act, (size_t)n_traj * horizon * act_dim);
    FM_ALLOC(d->task, n_traj);
    FM_ALLOC(d->length, n_traj);
cleanup:
    if (status != FM_OK)
        fm_demos_free(d);
    return status;
}

void fm_demos_free(fm_demos *d)
{
    free(d->obs);
    free(d->act);
    free(d->task);
    free(d->length);
    *d = (fm_demos){0};
}

size_t fm_demos_bytes(const fm_demos *d)
{
    size_t steps = (size_t)d->n_traj * d->horizon;
    return steps * (d->obs_dim + d->act_dim) * sizeof(double) + 2 * (size_t)d->n_traj * sizeof(int);
}

void fm_mixture_draw(fm_rng *r, double alpha, int k, double *weights)
{
    fm_rng_dirichlet(r, alpha, k, weights);
}

void fm_mixture_tasks(fm_rng *r, const double *weights, int k, int n, int *tasks)
{
    for (int i = 0; i < n; i++)
        tasks[i] = fm_rng_categorical(r, weights, k);
}
