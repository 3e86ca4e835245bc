/* linpol.h - linear policies of the paper's Appendix G in one flat parameter buffer.
 *
 * static_linear  (Algorithm 3):  u = K y                     theta = [K (m x p)]
 * dynamic_linear (Eq. G.8, Algorithm 2): s_t = A s_{t-1} + B y_t, u_t = C s_t, s_0 = 0
 *                                 theta = [A (k x k) | B (k x p) | C (m x k)], row-major.
 * The hidden state s has the GL(k) symmetry (A, B, C) -> (T A T^-1, T B, C T^-1) (Eq. G.9).
 */
#ifndef FM_LINPOL_H
#define FM_LINPOL_H

#include <stddef.h>

#include "config/cfg.h"
#include "core/core.h"
#include "data/data.h"

typedef struct fm_lindims {
    int arch; /* fm_arch */
    int k;    /* hidden state dimension (dynamic only) */
    int p;    /* observation dimension */
    int m;    /* action dimension */
} fm_lindims;

/* Number of parameters. */
size_t fm_lin_size(const fm_lindims *d);
/* Views into theta (dynamic only). */
static inline double *fm_lin_A(const fm_lindims *d, double *th) { (void)d; return th; }
static inline double *fm_lin_B(const fm_lindims *d, double *th) { return th + d->k * d->k; }
static inline double *fm_lin_C(const fm_lindims *d, double *th) { return th + d->k * d->k + d->k * d->p; }

/* Initialization of Algorithm 2: A = 0, B and C Gaussian with std `scale`
 * (scale 0: B entries 1/sqrt(p), C entries 1/sqrt(k); see docs/linear.md for why).
 * Static policies start at K = 0 (they are fit in closed form). */
void fm_lin_init(const fm_lindims *d, double scale, fm_rng *rng, double *theta);

/* Behavior-cloning loss of Eq. 2.4 summed over the selected trajectories and valid steps:
 * returns sum_i sum_{t < len_i} ||C s_t - u_t||^2; *steps += number of valid steps.
 * task >= 0 keeps only trajectories of that task. grad (may be NULL) += d loss / d theta
 * (full backpropagation through time). work: at least fm_lin_work_size(d, demos) doubles. */
double fm_lin_loss_grad(const fm_lindims *d, const double *theta, const fm_demos *demos, int task,
                        double *grad, double *work, double *steps);
size_t fm_lin_work_size(const fm_lindims *d, const fm_demos *demos);

/* Train a dynamic policy by full-batch gradient descent (Adam or SGD) on the mean per-step
 * loss. red == NULL: local data only; otherwise gradients and step counts are summed over
 * the fleet through red each step (data-parallel = pooled training, no data moved); every
 * process must then start from the same theta. On return *final_loss is the mean loss. */
fm_status fm_lin_train(const fm_lindims *d, double *theta, const fm_demos *demos, int task,
                       const fm_config *cfg, const fm_reducer *red, double *final_loss, fm_err *err);

/* Static least squares (Algorithm 3) K = argmin sum ||u - K y||^2 + ridge ||K||^2, with the
 * normal equations summed through red when non-NULL (pooled training without moving data).
 * FM_ENUMERIC if no data was selected anywhere. */
fm_status fm_lin_fit_static(const fm_lindims *d, double *theta, const fm_demos *demos, int task,
                            double ridge, const fm_reducer *red, double *final_loss, fm_err *err);

/* Apply s -> T s to a dynamic policy: (A, B, C) -> (T A T^-1, T B, C T^-1) (Eq. G.9). */
fm_status fm_lin_transform(const fm_lindims *d, const double *T, double *theta, fm_err *err);
/* Actions of a policy on one trajectory (len steps): u[t][m]. */
void fm_lin_actions(const fm_lindims *d, const double *theta, const double *obs, int len, double *u);

#endif
