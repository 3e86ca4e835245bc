/* tooluse_sim.c - episodes of the tool-use benchmark (tooluse.h, docs/tooluse.md): scene
 * randomization, operational-space control and stepping, progress and success detectors, whole
 * evaluation episodes and demonstration generation (DART). */
#include "env/tooluse/tooluse.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <mujoco/mujoco.h>

#include "env/mjutil.h"
#include "env/tooluse/tooluse_internal.h"

/* ---------------------------------------------------------------- episodes */

void fm_tu_yaw_quat(double yaw, mjtNum q[4])
{
    q[0] = cos(0.5 * yaw);
    q[1] = 0;
    q[2] = 0;
    q[3] = sin(0.5 * yaw);
}

static double unif(fm_rng *r, double lo, double hi) { return lo + (hi - lo) * fm_rng_uniform(r); }

fm_status fm_tu_episode_open(const fm_tooluse *env, int h, fm_rng *r, fm_tu_episode **out, fm_err *err)
{
    fm_status status = FM_OK;
    fm_tu_episode *e = NULL;
    FM_CHECK(h >= 0 && h < env->K, FM_EINVAL, "tool-use task %d is outside [0, %d)", h, env->K);
    FM_ALLOC(e, 1);
    e->env = env;
    e->h = h;
    e->t = env->task[h];
    const fm_tu_task *t = e->t;
    e->m = mj_copyModel(NULL, t->m);
    FM_CHECK(e->m, FM_ENOMEM, "out of memory copying the scene of %s", t->tool.name);
    e->d = mj_makeData(e->m);
    e->dk = mj_makeData(e->m);
    FM_CHECK(e->d && e->dk, FM_ENOMEM, "out of memory for the simulation data of %s", t->tool.name);
    mjModel *m = e->m;
    /* randomization, in the documented order */
    double ox = unif(r, 0.45, 0.60), oy = unif(r, -0.12, 0.12), yaw = unif(r, -M_PI / 4, M_PI / 4);
    double mu = unif(r, 0.6, 1.0), mscale = unif(r, 0.8, 1.25);
    double tdx = unif(r, -0.01, 0.01), tdz = unif(r, -0.004, 0.004);
    double q0[FM_TU_NJOINT];
    for (int j = 0; j < FM_TU_NJOINT; j++)
        q0[j] = FM_TU_HOME[j] + unif(r, -0.08, 0.08);
    e->obj_pos[0] = ox;
    e->obj_pos[1] = oy;
    e->obj_yaw = yaw;
    int bo = t->body_obj;
    m->body_pos[3 * bo] = ox;
    m->body_pos[3 * bo + 1] = oy;
    fm_tu_yaw_quat(yaw, m->body_quat + 4 * bo);
    m->body_pos[3 * t->body_tool] += tdx;
    m->body_pos[3 * t->body_tool + 2] += tdz;
    for (int g = 0; g < m->ngeom; g++)
        if (t->geom_class[g] == 2)
            m->geom_friction[3 * g] = mu;
    for (int b = 1; b < m->nbody; b++)
        if (m->body_rootid[b] == bo && m->body_mass[b] > 0) {
            m->body_mass[b] *= mscale;
            for (int i = 0; i < 3; i++)
                m->body_inertia[3 * b + i] *= mscale;
        }
    mj_setConst(m, e->d); /* derived constants (invweight0 ...) follow the randomized masses */
    mj_resetData(m, e->d);
    for (int j = 0; j < FM_TU_NJOINT; j++)
        e->d->qpos[j] = q0[j];
    if (FM_TU_FAMILIES[t->tool.family]->reset)
        FM_TU_FAMILIES[t->tool.family]->reset(e, ox, oy, yaw);
    mj_forward(m, e->d);
    for (int j = 0; j < FM_TU_NJOINT; j++)
        e->q_rest[j] = q0[j];
    /* progress is measured from the start: the joints' initial values are the baseline */
    e->progress0 = 0;
    e->progress0 = fm_tu_progress(e);
    *out = e;
    e = NULL;
cleanup:
    fm_tu_episode_close(e);
    return status;
}

void fm_tu_episode_close(fm_tu_episode *e)
{
    if (!e)
        return;
    if (e->d)
        mj_deleteData(e->d);
    if (e->dk)
        mj_deleteData(e->dk);
    if (e->m)
        mj_deleteModel(e->m);
    free(e->plan);
    free(e->jac);
    free(e);
}

void fm_tu_episode_mj(fm_tu_episode *e, void **model, void **data)
{
    *model = e->m;
    *data = e->d;
}

void fm_tu_ee_pose(const fm_tu_episode *e, double pos[3], double rot[9])
{
    int s = e->t->site_ee;
    for (int i = 0; i < 3; i++)
        pos[i] = e->d->site_xpos[3 * s + i];
    for (int i = 0; i < 9; i++)
        rot[i] = e->d->site_xmat[9 * s + i];
}

void fm_tu_joints(const fm_tu_episode *e, double q[FM_TU_NJOINT])
{
    for (int j = 0; j < FM_TU_NJOINT; j++)
        q[j] = e->d->qpos[j];
}
double fm_tu_progress(const fm_tu_episode *e)
{
    return FM_TU_FAMILIES[e->t->tool.family]->progress(e) - e->progress0;
}

int fm_tu_success(const fm_tu_episode *e)
{
    const fm_tu_family_def *fam = FM_TU_FAMILIES[e->t->tool.family];
    double p = fm_tu_progress(e), thr = fam->success_at;
    int ok = fam->success_strict ? p > thr : p >= thr;
    return ok && e->touched && !e->unstable;
}

int fm_tu_touched(const fm_tu_episode *e) { return e->touched; }

/* Orientation error as a world-frame rotation vector taking R to Rt. */
void fm_tu_rot_error(const double Rt[9], const double R[9], double e[3])
{
    mjtNum qt[4], q[4], qe[4], qinv[4];
    mju_mat2Quat(qt, Rt);
    mju_mat2Quat(q, R);
    mju_negQuat(qinv, q);
    mju_mulQuat(qe, qt, qinv); /* qe = qt q^-1 (world frame) */
    if (qe[0] < 0)
        for (int i = 0; i < 4; i++)
            qe[i] = -qe[i];
    double s = sqrt(qe[1] * qe[1] + qe[2] * qe[2] + qe[3] * qe[3]);
    double ang = 2 * atan2(s, qe[0]);
    for (int i = 0; i < 3; i++)
        e[i] = s > 1e-12 ? qe[1 + i] / s * ang : 2 * qe[1 + i];
}

/* R_out = exp([w]) R (world-frame rotation vector w applied to R). */
void fm_tu_rot_apply(const double w[3], const double R[9], double out[9])
{
    double ang = sqrt(w[0] * w[0] + w[1] * w[1] + w[2] * w[2]);
    double E[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    if (ang > 1e-12) {
        double k[3] = {w[0] / ang, w[1] / ang, w[2] / ang}, c = cos(ang), s = sin(ang), v = 1 - c;
        E[0] = c + k[0] * k[0] * v;
        E[1] = k[0] * k[1] * v - k[2] * s;
        E[2] = k[0] * k[2] * v + k[1] * s;
        E[3] = k[1] * k[0] * v + k[2] * s;
        E[4] = c + k[1] * k[1] * v;
        E[5] = k[1] * k[2] * v - k[0] * s;
        E[6] = k[2] * k[0] * v - k[1] * s;
        E[7] = k[2] * k[1] * v + k[0] * s;
        E[8] = c + k[2] * k[2] * v;
    }
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            out[3 * i + j] = E[3 * i] * R[j] + E[3 * i + 1] * R[3 + j] + E[3 * i + 2] * R[6 + j];
}

/* Operational-space control toward (pt, Rt): tau = J^T Lambda (Kp e - Kd v) + null-space posture
 * + bias forces (gravity and Coriolis compensation, 2.2.2 has no gravcomp). Called between
 * mj_step1 and mj_step2. */
#define OSC_KP 1000.0
#define OSC_KR 600.0
#define OSC_KN 20.0
static void osc(fm_tu_episode *e, const double pt[3], const double Rt[9])
{
    const mjModel *m = e->m;
    mjData *d = e->d;
    const int nv = m->nv, n = FM_TU_NJOINT, s = e->t->site_ee;
    mjtNum *jac = e->jac, *minvjt = e->minvjt; /* [6][nv] each */
    mj_jacSite(m, d, jac, jac + 3 * nv, s);
    double err[6], v[6] = {0}, R[9];
    for (int i = 0; i < 3; i++)
        err[i] = pt[i] - d->site_xpos[3 * s + i];
    for (int i = 0; i < 9; i++)
        R[i] = d->site_xmat[9 * s + i];
    fm_tu_rot_error(Rt, R, err + 3);
    for (int i = 0; i < 6; i++)
        for (int k = 0; k < nv; k++)
            v[i] += jac[i * nv + k] * d->qvel[k];
    /* M^-1 J^T rows: mj_solveM solves M x = y for each of the 6 rows of J */
    mj_solveM(m, d, minvjt, jac, 6);
    double L[36], F[6];
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++) {
            double acc = 0;
            for (int k = 0; k < nv; k++)
                acc += jac[i * nv + k] * minvjt[j * nv + k];
            L[6 * i + j] = acc + (i == j ? 1e-4 : 0);
        }
    for (int i = 0; i < 6; i++) {
        double kp = i < 3 ? OSC_KP : OSC_KR;
        F[i] = kp * err[i] - 2 * sqrt(kp) * v[i];
    }
    /* Lambda F = (J M^-1 J^T)^-1 F: Cholesky solve */
    double x[6];
    mju_cholFactor(L, 6, 1e-10);
    mju_cholSolve(x, L, F, 6);
    double tau[FM_TU_NJOINT], f0[FM_TU_NJOINT];
    for (int k = 0; k < n; k++) {
        tau[k] = 0;
        for (int i = 0; i < 6; i++)
            tau[k] += jac[i * nv + k] * x[i];
        /* posture torque, projected below */
        f0[k] = OSC_KN * (e->q_rest[k] - d->qpos[k]) - 2 * sqrt(OSC_KN) * d->qvel[k];
    }
    /* null-space projection N^T f0 = f0 - J^T Jbar^T f0, Jbar = M^-1 J^T Lambda */
    double y[6], z[6];
    for (int i = 0; i < 6; i++) {
        y[i] = 0;
        for (int k = 0; k < n; k++)
            y[i] += minvjt[i * nv + k] * f0[k];
    }
    mju_cholSolve(z, L, y, 6);
    for (int k = 0; k < n; k++) {
        double p = f0[k];
        for (int i = 0; i < 6; i++)
            p -= jac[i * nv + k] * z[i];
        double u = tau[k] + p + d->qfrc_bias[k];
        double lo = m->actuator_ctrlrange[2 * k], hi = m->actuator_ctrlrange[2 * k + 1];
        d->ctrl[k] = u < lo ? lo : u > hi ? hi : u;
    }
}

static void check_contacts(fm_tu_episode *e)
{
    const mjData *d = e->d;
    const int *cls = e->t->geom_class;
    for (int i = 0; i < d->ncon; i++) {
        int a = cls[d->contact[i].geom1], b = cls[d->contact[i].geom2];
        if ((a == 1 && b == 2) || (a == 2 && b == 1)) {
            e->touched = 1;
            return;
        }
    }
}

int fm_tu_step(fm_tu_episode *e, const double action[FM_TU_ACT_DIM])
{
    if (e->unstable)
        return 1;
    double a[FM_TU_ACT_DIM], p[3], R[9], pt[3], Rt[9];
    for (int i = 0; i < FM_TU_ACT_DIM; i++) {
        double lim = i < 3 ? FM_TU_MAX_DPOS : FM_TU_MAX_DROT, v = isfinite(action[i]) ? action[i] : 0;
        a[i] = v < -lim ? -lim : v > lim ? lim : v;
    }
    fm_tu_ee_pose(e, p, R);
    for (int i = 0; i < 3; i++)
        pt[i] = p[i] + a[i];
    fm_tu_rot_apply(a + 3, R, Rt);
    if (!e->jac) {
        e->jac = calloc((size_t)(12 * e->m->nv), sizeof(mjtNum));
        if (!e->jac) {
            e->unstable = 1;
            return 1;
        }
        e->minvjt = e->jac + 6 * e->m->nv;
    }
    for (int k = 0; k < FM_TU_SUBSTEPS; k++) {
        mj_step1(e->m, e->d);
        osc(e, pt, Rt);
        mj_step2(e->m, e->d);
        if (!e->touched)
            check_contacts(e);
        if (fm_mj_unstable(e->d)) { /* MuJoCo reset the state: the episode is over */
            e->unstable = 1;
            return 1;
        }
    }
    e->steps++;
    return 0;
}

/* ---------------------------------------------------------------- whole episodes */

static void score_episode(const fm_tu_episode *e, fm_episode_score *out)
{
    int ok = fm_tu_success(e);
    double prog = fm_tu_progress(e), frac = prog / FM_TU_FAMILIES[e->t->tool.family]->success_at;
    frac = ok ? 1.0 : frac < 0 ? 0.0 : frac > 1 ? 1.0 : frac;
    *out = (fm_episode_score){.balanced = ok, .at_setpoint = e->touched, .steps = e->steps,
                              .cost = 1.0 - frac, .setpoint_err = prog};
}

void fm_tooluse_episode(const fm_tooluse *env, int h, const fm_policy_fn *pi, fm_rng *r, fm_episode_score *out)
{
    fm_err err;
    fm_err_clear(&err);
    fm_tu_episode *e = NULL;
    double *obs = NULL, a[FM_TU_ACT_DIM];
    memset(out, 0, sizeof *out);
    out->cost = 1.0;
    if (fm_tu_episode_open(env, h, r, &e, &err) != FM_OK) /* out of memory or a bad task: scored a failure */
        return;
    obs = malloc(sizeof(double) * (size_t)fm_tooluse_obs_dim(env));
    if (!obs)
        goto done;
    if (!pi && fm_tu_expert_plan(e, &err) != FM_OK)
        goto done;
    if (pi && pi->reset)
        pi->reset(pi->ctx);
    for (int t = 0; t < env->horizon; t++) {
        fm_tu_observe(e, r, obs);
        if (pi)
            pi->act(pi->ctx, obs, a);
        else if (!fm_tu_expert_act(e, a))
            break;
        if (fm_tu_step(e, a) || fm_tu_success(e))
            break;
    }
done:
    if (e)
        score_episode(e, out);
    free(obs);
    fm_tu_episode_close(e);
}

/* DART (Laskey et al. 2017) as Fleet-Tools collects: the executed action is the expert's plus
 * Gaussian noise of std action_noise x the action bound per value, clipped to the bounds; the
 * waypoint-tracking expert corrects the drift at the next step, so demonstrations visit the states
 * a slightly wrong policy reaches, labelled with the expert's correction. */
static void dart_perturb(const fm_tooluse *env, fm_rng *r, double a[FM_TU_ACT_DIM])
{
    if (!(env->action_noise > 0))
        return;
    for (int k = 0; k < FM_TU_ACT_DIM; k++) {
        double b = k < 3 ? FM_TU_MAX_DPOS : FM_TU_MAX_DROT, v = a[k] + env->action_noise * b * fm_rng_normal(r);
        a[k] = v < -b ? -b : v > b ? b : v;
    }
}

fm_status fm_tooluse_generate(const fm_tooluse *env, const int *tasks, int n_traj, fm_rng *r, fm_demos *out,
                              int *attempts, fm_err *err)
{
    fm_status status = FM_OK;
    const int T = env->horizon, p = fm_tooluse_obs_dim(env);
    fm_tu_episode *e = NULL;
    int tries_total = 0;
    FM_TRY(fm_demos_alloc(out, n_traj, T, p, FM_TU_ACT_DIM, err));
    for (int i = 0; i < n_traj; i++) {
        int h = tasks[i];
        FM_CHECK(h >= 0 && h < env->K, FM_EINVAL, "demonstration %d: task %d is outside [0, %d)", i, h, env->K);
        out->task[i] = h;
        int ok = 0;
        for (int attempt = 0; attempt < FM_TU_MAX_TRIES && !ok; attempt++) {
            tries_total++;
            FM_TRY(fm_tu_episode_open(env, h, r, &e, err));
            double *obs = out->obs + (size_t)i * T * p, *act = out->act + (size_t)i * T * FM_TU_ACT_DIM;
            memset(obs, 0, sizeof(double) * (size_t)T * p);
            memset(act, 0, sizeof(double) * (size_t)T * FM_TU_ACT_DIM);
            int len = 0;
            fm_err perr;
            fm_err_clear(&perr);
            if (fm_tu_expert_plan(e, &perr) == FM_OK) {
                for (int step = 0; step < T; step++) { /* T executed steps; len <= step recorded */
                    double a[FM_TU_ACT_DIM];
                    fm_tu_observe(e, r, obs + (size_t)len * p);
                    int k = fm_tu_expert_act(e, a);
                    if (!k)
                        break;
                    if (k == 1) /* else executed only: the next observation overwrites this one */
                        memcpy(act + (size_t)len++ * FM_TU_ACT_DIM, a, sizeof a);
                    dart_perturb(env, r, a); /* DART: the clean label is recorded, the noisy action executed */
                    if (fm_tu_step(e, a))
                        break;
                    if (env->demo_end == FM_TU_END_SUCCESS && fm_tu_success(e))
                        break; /* as evaluation episodes: nothing past the threshold is recorded */
                }
                ok = len > 0 && fm_tu_success(e);
            }
            if (ok) { /* zero the observation drawn after the last action */
                if (len < T)
                    memset(obs + (size_t)len * p, 0, sizeof(double) * (size_t)(T - len) * p);
                out->length[i] = len;
            }
            fm_tu_episode_close(e);
            e = NULL;
        }
        FM_CHECK(ok, FM_ENUMERIC, "demonstration %d of task %d (%s): the expert failed %d scenes in a row",
                 i, h, env->task[h]->tool.name, FM_TU_MAX_TRIES);
    }
    if (attempts)
        *attempts = tries_total;
cleanup:
    fm_tu_episode_close(e);
    if (status != FM_OK)
        fm_demos_free(out);
    return status;
}
