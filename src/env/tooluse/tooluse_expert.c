/* tooluse_expert.c - the keypoint-based expert of the tool-use benchmark (paper Eq. 4.1-4.4 and
 * Appendix C, Eq. C.8-C.10; docs/tooluse.md).
 *
 * Actuation pose: Joint-Space-kPAM-Opt solved as nonlinear least squares in the 7 joint angles:
 *   residuals = tool keypoint -> object keypoint (Eq. 4.2, distance), tool axis -> world axis
 *   (Eq. 4.3 with alpha = 1: R a_tool = beta) or scalar alignments (beta^T R a_tool = alpha), plus
 *   a small pull toward the seed (the "stay close to the current keypoints" objective of Eq. 4.1);
 *   X(q) = forward kinematics (Eq. 4.4) through MuJoCo, Jacobians from mj_jac / mj_jacBody.
 * Damped Gauss-Newton (Levenberg-Marquardt) within the joint limits, from several seeds and over the
 * task's symmetric candidates (e.g. the six flats of a nut); a solution is feasible when every
 * keypoint is within 2 mm and every axis within 0.02 of its target and the pre-actuation pose and
 * the skill's keyframes (end of a push, cut or turn) are reachable from it; the feasible solution
 * closest to the current joints is kept.
 * Trajectory: C.8-C.9 with fixed end points is minimized by equally spaced points on the straight
 * joint-space segment from the current joints to the pre-actuation joints (as many as the action
 * bounds require); the actuation phase passes through Cartesian keyframes (C.10).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "env/tooluse/tooluse_internal.h"

#define IK_EPS_POS 0.002
#define IK_EPS_ANG 0.02
#define PLAN_MAX 256

void fm_tu_keypoints(const fm_tu_tool *t, double kp[FM_TU_NKP][3])
{
    memset(kp, 0, sizeof(double) * FM_TU_NKP * 3);
    if (t->family >= 0 && t->family < FM_TU_NFAMILY)
        FM_TU_FAMILIES[t->family]->keypoints(t, kp);
    kp[1][0] = -0.04; /* tail */
    kp[3][0] = kp[0][0], kp[3][2] = kp[0][2] - 0.05; /* head-up: 5 cm above the head along -z */
}

/* ---------------------------------------------------------------- joint-space IK */

#define W_VEC 0.1  /* 0.01 in an axis weighs like 1 mm */
#define W_REG 0.003

static void fk(fm_tu_episode *e, const double *q)
{
    for (int j = 0; j < FM_TU_NJOINT; j++)
        e->dk->qpos[j] = q[j];
    mj_kinematics(e->m, e->dk);
    mj_comPos(e->m, e->dk);
}

void fm_tu_body_point(const mjData *d, int b, const double loc[3], double w[3])
{
    const mjtNum *x = d->xpos + 3 * b, *R = d->xmat + 9 * b;
    for (int i = 0; i < 3; i++)
        w[i] = x[i] + R[3 * i] * loc[0] + R[3 * i + 1] * loc[1] + R[3 * i + 2] * loc[2];
}

static void body_vec(const mjData *d, int b, const double loc[3], double w[3])
{
    const mjtNum *R = d->xmat + 9 * b;
    for (int i = 0; i < 3; i++)
        w[i] = R[3 * i] * loc[0] + R[3 * i + 1] * loc[1] + R[3 * i + 2] * loc[2];
}

/* Residuals (and Jacobian J[nres][7] when J != NULL) at the current e->dk kinematics. */
static int ik_eval(fm_tu_episode *e, const fm_tu_ik_prob *p, const double *q, const double *qref, double *r,
                   double *J, double *perr, double *aerr)
{
    const mjModel *m = e->m;
    const int nv = m->nv;
    mjtNum jp[3 * 64], jr[3 * 64];
    int n = 0;
    *perr = *aerr = 0;
    for (int k = 0; k < p->npt; k++) {
        double w[3];
        fm_tu_body_point(e->dk, p->pt[k].body, p->pt[k].loc, w);
        double d2 = 0;
        for (int i = 0; i < 3; i++) {
            r[n + i] = w[i] - p->pt[k].tgt[i];
            d2 += r[n + i] * r[n + i];
        }
        *perr = fmax(*perr, sqrt(d2));
        if (J) {
            mj_jac(m, e->dk, jp, NULL, w, p->pt[k].body);
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < FM_TU_NJOINT; j++)
                    J[(n + i) * FM_TU_NJOINT + j] = jp[i * nv + j];
        }
        n += 3;
    }
    for (int k = 0; k < p->nvec; k++) {
        const fm_tu_ik_vec *v = &p->vec[k];
        double a[3];
        body_vec(e->dk, v->body, v->loc, a);
        if (J)
            mj_jacBody(m, e->dk, NULL, jr, v->body);
        if (!v->scalar) {
            double d2 = 0;
            for (int i = 0; i < 3; i++) {
                r[n + i] = W_VEC * (a[i] - v->tgt[i]);
                d2 += (a[i] - v->tgt[i]) * (a[i] - v->tgt[i]);
            }
            *aerr = fmax(*aerr, sqrt(d2));
            if (J)
                for (int j = 0; j < FM_TU_NJOINT; j++) { /* d(R a)/dq_j = w_j x (R a) */
                    double w[3] = {jr[j], jr[nv + j], jr[2 * nv + j]};
                    double c[3] = {w[1] * a[2] - w[2] * a[1], w[2] * a[0] - w[0] * a[2], w[0] * a[1] - w[1] * a[0]};
                    for (int i = 0; i < 3; i++)
                        J[(n + i) * FM_TU_NJOINT + j] = W_VEC * c[i];
                }
            n += 3;
        } else {
            double s = v->tgt[0] * a[0] + v->tgt[1] * a[1] + v->tgt[2] * a[2] - v->alpha;
            r[n] = W_VEC * s;
            *aerr = fmax(*aerr, fabs(s));
            if (J)
                for (int j = 0; j < FM_TU_NJOINT; j++) {
                    double w[3] = {jr[j], jr[nv + j], jr[2 * nv + j]};
                    double c[3] = {w[1] * a[2] - w[2] * a[1], w[2] * a[0] - w[0] * a[2], w[0] * a[1] - w[1] * a[0]};
                    J[n * FM_TU_NJOINT + j] = W_VEC * (v->tgt[0] * c[0] + v->tgt[1] * c[1] + v->tgt[2] * c[2]);
                }
            n += 1;
        }
    }
    for (int j = 0; j < FM_TU_NJOINT; j++) {
        r[n] = W_REG * (q[j] - qref[j]);
        if (J) {
            for (int i = 0; i < FM_TU_NJOINT; i++)
                J[n * FM_TU_NJOINT + i] = i == j ? W_REG : 0;
        }
        n++;
    }
    return n;
}

static double sumsq(const double *r, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += r[i] * r[i];
    return s;
}

static void clamp_joints(const mjModel *m, double *q)
{
    for (int j = 0; j < FM_TU_NJOINT; j++) {
        double lo = m->jnt_range[2 * j] + 1e-3, hi = m->jnt_range[2 * j + 1] - 1e-3;
        q[j] = q[j] < lo ? lo : q[j] > hi ? hi : q[j];
    }
}

/* Levenberg-Marquardt from q (in: seed, out: solution). Returns 1 if feasible. */
static int ik_solve(fm_tu_episode *e, const fm_tu_ik_prob *p, double *q)
{
    enum { NRES = 3 * FM_TU_IK_MAX_PT + 3 * FM_TU_IK_MAX_VEC + FM_TU_NJOINT };
    double r[NRES], J[NRES * FM_TU_NJOINT], rn[NRES], qref[FM_TU_NJOINT], qn[FM_TU_NJOINT];
    double perr, aerr, mu = 1e-3;
    memcpy(qref, q, sizeof qref);
    clamp_joints(e->m, q);
    fk(e, q);
    int n = ik_eval(e, p, q, qref, r, J, &perr, &aerr);
    double f = sumsq(r, n);
    for (int it = 0; it < 200; it++) {
        double A[FM_TU_NJOINT * FM_TU_NJOINT], g[FM_TU_NJOINT], dq[FM_TU_NJOINT];
        for (int i = 0; i < FM_TU_NJOINT; i++) {
            g[i] = 0;
            for (int k = 0; k < n; k++)
                g[i] -= J[k * FM_TU_NJOINT + i] * r[k];
            for (int j = 0; j < FM_TU_NJOINT; j++) {
                double s = 0;
                for (int k = 0; k < n; k++)
                    s += J[k * FM_TU_NJOINT + i] * J[k * FM_TU_NJOINT + j];
                A[i * FM_TU_NJOINT + j] = s + (i == j ? mu * (1 + s) : 0);
            }
        }
        mju_cholFactor(A, FM_TU_NJOINT, 1e-12);
        mju_cholSolve(dq, A, g, FM_TU_NJOINT);
        double step = 0;
        for (int j = 0; j < FM_TU_NJOINT; j++) {
            qn[j] = q[j] + dq[j];
            step = fmax(step, fabs(dq[j]));
        }
        clamp_joints(e->m, qn);
        fk(e, qn);
        double pe, ae;
        int n2 = ik_eval(e, p, qn, qref, rn, NULL, &pe, &ae);
        double fn = sumsq(rn, n2);
        if (fn < f) {
            memcpy(q, qn, sizeof qn);
            f = fn;
            mu = fmax(mu / 3, 1e-7);
            n = ik_eval(e, p, q, qref, r, J, &perr, &aerr);
            if (step < 1e-7)
                break;
        } else {
            mu *= 4;
            fk(e, q);
            if (mu > 1e6)
                break;
        }
    }
    fk(e, q);
    ik_eval(e, p, q, qref, r, NULL, &perr, &aerr);
    return perr < IK_EPS_POS && aerr < IK_EPS_ANG;
}

static double qdist(const double *a, const double *b)
{
    double s = 0;
    for (int j = 0; j < FM_TU_NJOINT; j++)
        s += (a[j] - b[j]) * (a[j] - b[j]);
    return sqrt(s);
}

static void ee_fk(fm_tu_episode *e, const double *q, double p[3], double R[9])
{
    fk(e, q);
    int s = e->t->site_ee;
    mj_kinematics(e->m, e->dk); /* site poses */
    for (int i = 0; i < 3; i++)
        p[i] = e->dk->site_xpos[3 * s + i];
    for (int i = 0; i < 9; i++)
        R[i] = e->dk->site_xmat[9 * s + i];
}

/* Pose IK for the ee site: three points of the hand frame (origin, +10 cm x, +10 cm y). */
static int ik_pose(fm_tu_episode *e, const double p[3], const double R[9], const double *seed, double *q)
{
    fm_tu_ik_prob pr = {.npt = 3};
    const mjtNum *so = e->m->site_pos + 3 * e->t->site_ee;
    static const double OFF[3][3] = {{0, 0, 0}, {0.1, 0, 0}, {0, 0.1, 0}};
    for (int k = 0; k < 3; k++) {
        pr.pt[k].body = e->t->body_hand;
        for (int i = 0; i < 3; i++) {
            pr.pt[k].loc[i] = so[i] + OFF[k][i];
            pr.pt[k].tgt[i] = p[i] + R[3 * i] * OFF[k][0] + R[3 * i + 1] * OFF[k][1];
        }
    }
    const double *seeds[3] = {seed, e->d->qpos, FM_TU_HOME};
    for (int k = 0; k < 3; k++) {
        memcpy(q, seeds[k], sizeof(double) * FM_TU_NJOINT);
        if (ik_solve(e, &pr, q))
            return 1;
    }
    return 0;
}

/* Rotation about the world z axis through c by phi applied to the pose (p, R). */
void fm_tu_rotate_about_z(const double c[3], double phi, const double p[3], const double R[9], double po[3],
                           double Ro[9])
{
    double w[3] = {0, 0, phi}, cs = cos(phi), sn = sin(phi);
    double dx = p[0] - c[0], dy = p[1] - c[1];
    po[0] = c[0] + cs * dx - sn * dy;
    po[1] = c[1] + sn * dx + cs * dy;
    po[2] = p[2];
    fm_tu_rot_apply(w, R, Ro);
}

/* Best solution over candidates x seeds, closest to q_now, among those whose pre-actuation pose
 * (the actuation end-effector pose raised by `lift`) and skill keyframes (via) are also reachable:
 * an actuation pose at the edge of the workspace (e.g. the elbow fully folded for a long tool near
 * the base) often has no reachable pose above it, or runs into a joint limit during the skill.
 * Returns the candidate's index, or -1 if none is feasible. */
static int ik_best(fm_tu_episode *e, const fm_tu_ik_prob *cand, int ncand, const double *q_now, double lift,
                   double *q_act, double *q_pre)
{
    static const double JITTER[4][FM_TU_NJOINT] = {
        {0, 0, 0, 0, 0, 0, 0},
        {0.4, 0.2, 0, 0.2, 0, -0.2, 0.8},
        {-0.4, 0.2, 0, 0.2, 0, -0.2, -0.8},
        {0, -0.3, 0.3, -0.3, -0.3, 0.3, 1.6},
    };
    double best = INFINITY;
    int found = -1;
    for (int c = 0; c < ncand; c++)
        for (int s = 0; s < 8; s++) {
            double q[FM_TU_NJOINT], qp[FM_TU_NJOINT], p[3], R[9];
            const double *base = s < 4 ? q_now : FM_TU_HOME;
            for (int j = 0; j < FM_TU_NJOINT; j++)
                q[j] = base[j] + JITTER[s % 4][j];
            if (!ik_solve(e, &cand[c], q))
                continue;
            double dist = qdist(q, q_now);
            if (dist >= best)
                continue;
            ee_fk(e, q, p, R);
            int ok = 1;
            for (int v = 0; v < cand[c].nvia && ok; v++) {
                const double *w = cand[c].via[v];
                double pv[3], pr[3], Rv[9], qv[FM_TU_NJOINT];
                for (int i = 0; i < 3; i++)
                    pv[i] = p[i] + w[i];
                fm_tu_rotate_about_z(cand[c].pt[0].tgt, w[3], pv, R, pr, Rv);
                ok = ik_pose(e, pr, Rv, q, qv);
            }
            p[2] += lift;
            if (!ok || !ik_pose(e, p, R, q, qp))
                continue;
            best = dist;
            memcpy(q_act, q, sizeof q);
            memcpy(q_pre, qp, sizeof qp);
            found = c;
        }
    return found;
}

/* ---------------------------------------------------------------- plans */

int fm_tu_push_wp(fm_tu_episode *e, const double p[3], const double R[9], int jump)
{
    if (e->nplan >= PLAN_MAX)
        return 0;
    fm_tu_waypoint *w = &e->plan[e->nplan++];
    memcpy(w->p, p, sizeof w->p);
    memcpy(w->R, R, sizeof w->R);
    w->jump = jump;
    w->unrecorded = 0;
    return 1;
}

/* Straight Cartesian segment from the last waypoint to (p, R) in steps of at most dmax m / amax rad. */
void fm_tu_push_line(fm_tu_episode *e, const double p[3], const double R[9], double dmax, double amax)
{
    const fm_tu_waypoint *w0 = &e->plan[e->nplan - 1];
    double p0[3], R0[9], rv[3];
    memcpy(p0, w0->p, sizeof p0);
    memcpy(R0, w0->R, sizeof R0);
    fm_tu_rot_error(R, R0, rv);
    double dl = 0, al = 0;
    for (int i = 0; i < 3; i++) {
        dl = fmax(dl, fabs(p[i] - p0[i]));
        al = fmax(al, fabs(rv[i]));
    }
    int n = (int)ceil(fmax(dl / dmax, al / amax));
    if (n < 1)
        n = 1;
    for (int k = 1; k <= n; k++) {
        double s = (double)k / n, pk[3], wk[3], Rk[9];
        for (int i = 0; i < 3; i++) {
            pk[i] = p0[i] + s * (p[i] - p0[i]);
            wk[i] = s * rv[i];
        }
        fm_tu_rot_apply(wk, R0, Rk);
        fm_tu_push_wp(e, pk, Rk, -1);
    }
}

void fm_tu_shifted(const double p[3], double dx, double dy, double dz, double out[3])
{
    out[0] = p[0] + dx;
    out[1] = p[1] + dy;
    out[2] = p[2] + dz;
}

void fm_tu_vec_target(fm_tu_ik_vec *v, int body, double lx, double ly, double lz, double tx, double ty, double tz)
{
    v->body = body;
    v->loc[0] = lx, v->loc[1] = ly, v->loc[2] = lz;
    v->tgt[0] = tx, v->tgt[1] = ty, v->tgt[2] = tz;
    v->scalar = 0;
    v->alpha = 0;
}

/* Straight joint-space segment (C.8-C.9) from q_now to q_pre, as many steps as the action bounds
 * need, then one settle step at the pre-actuation pose (pp, Ra). */
static void plan_approach(fm_tu_episode *e, const double *q_now, const double *q_pre, const double pp[3],
                          const double Ra[9])
{
    double p0[3], R0[9];
    ee_fk(e, q_now, p0, R0);
    fm_tu_push_wp(e, p0, R0, -1); /* waypoint 0 = the start (not an action) */
    int n = 1;
    for (; n < 60; n++) {
        double pl[3], Rl[9], worst = 0;
        memcpy(pl, p0, sizeof pl);
        memcpy(Rl, R0, sizeof Rl);
        for (int k = 1; k <= n; k++) {
            double q[FM_TU_NJOINT], pk[3], Rk[9], rv[3];
            for (int j = 0; j < FM_TU_NJOINT; j++)
                q[j] = q_now[j] + (double)k / n * (q_pre[j] - q_now[j]);
            ee_fk(e, q, pk, Rk);
            fm_tu_rot_error(Rk, Rl, rv);
            for (int i = 0; i < 3; i++)
                worst = fmax(worst, fmax(fabs(pk[i] - pl[i]) / 0.06, fabs(rv[i]) / 0.4));
            memcpy(pl, pk, sizeof pl);
            memcpy(Rl, Rk, sizeof Rl);
        }
        if (worst <= 1)
            break;
    }
    for (int k = 1; k <= n; k++) {
        double q[FM_TU_NJOINT], pk[3], Rk[9];
        for (int j = 0; j < FM_TU_NJOINT; j++)
            q[j] = q_now[j] + (double)k / n * (q_pre[j] - q_now[j]);
        ee_fk(e, q, pk, Rk);
        fm_tu_push_wp(e, pk, Rk, -1);
    }
    /* settle at the pre-actuation pose for one step. Executed, never recorded: its label (~0,
     * the arm is already there) and the skill's first action (a strike, a descent) would
     * label two observations that differ only by the point noise, and a Markov policy
     * averages them and hovers (issue 13). */
    if (fm_tu_push_wp(e, pp, Ra, -1))
        e->plan[e->nplan - 1].unrecorded = 1;
}

fm_status fm_tu_expert_plan(fm_tu_episode *e, fm_err *err)
{
    fm_status status = FM_OK;
    const fm_tu_tool *tl = &e->t->tool;
    const fm_tu_family_def *fam = FM_TU_FAMILIES[tl->family];
    fm_tu_ik_prob cand[FM_TU_MAX_CAND];
    double dirs[FM_TU_MAX_CAND][3] = {{0}};
    memset(cand, 0, sizeof cand);
    double objp[3], lift, q_now[FM_TU_NJOINT], q_act[FM_TU_NJOINT], q_pre[FM_TU_NJOINT];
    fm_tu_joints(e, q_now);
    if (!e->plan)
        FM_ALLOC(e->plan, PLAN_MAX);
    e->nplan = e->iplan = 0;
    /* object keypoint, actuation constraints (Eq. 4.2-4.3) and the pre-actuation lift per family */
    int ncand = fam->actuation(e, cand, dirs, objp, &lift);
    int pick = ik_best(e, cand, ncand, q_now, lift, q_act, q_pre);
    FM_CHECK(pick >= 0, FM_ENUMERIC,
             "%s: no feasible actuation pose for this scene (keypoint IK did not converge, or the pre-actuation "
             "pose or a keyframe of the skill is out of reach)", tl->name);
    memcpy(e->dir, dirs[pick], sizeof e->dir);
    double pa[3], Ra[9], pp[3];
    ee_fk(e, q_act, pa, Ra);
    fm_tu_shifted(pa, 0, 0, lift, pp); /* pre-actuation pose: above the actuation pose */
    plan_approach(e, q_now, q_pre, pp, Ra);
    fam->skill(e, objp, pa, Ra, pp); /* actuation keyframes (C.10) */
    e->iplan = 1;
    memcpy(e->q_rest, q_act, sizeof e->q_rest);
cleanup:
    return status;
}

int fm_tu_expert_act(fm_tu_episode *e, double action[FM_TU_ACT_DIM])
{
    if (!e->plan || e->iplan >= e->nplan)
        return 0;
    const fm_tu_waypoint *w = &e->plan[e->iplan];
    if (w->jump >= 0 && fm_tu_success(e)) {
        e->iplan = w->jump;
        if (e->iplan >= e->nplan)
            return 0;
        w = &e->plan[e->iplan];
    }
    double p[3], R[9], rv[3];
    fm_tu_ee_pose(e, p, R);
    fm_tu_rot_error(w->R, R, rv);
    for (int i = 0; i < 3; i++) {
        double dp = w->p[i] - p[i];
        action[i] = dp < -FM_TU_MAX_DPOS ? -FM_TU_MAX_DPOS : dp > FM_TU_MAX_DPOS ? FM_TU_MAX_DPOS : dp;
        action[3 + i] = rv[i] < -FM_TU_MAX_DROT ? -FM_TU_MAX_DROT : rv[i] > FM_TU_MAX_DROT ? FM_TU_MAX_DROT : rv[i];
    }
    e->iplan++;
    return w->unrecorded ? 2 : 1;
}
