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

#include "env/tooluse_internal.h"

#define IK_MAX_PT 4
#define IK_MAX_VEC 3
#define IK_MAX_VIA 3
#define IK_EPS_POS 0.002
#define IK_EPS_ANG 0.02
#define PLAN_MAX 256

void fm_tu_keypoints(const fm_tu_tool *t, double kp[FM_TU_NKP][3])
{
    const double L = t->handle_len;
    memset(kp, 0, sizeof(double) * FM_TU_NKP * 3);
    switch (t->family) {
    case FM_TU_HAMMER: /* face centre of the head, side of the head */
        kp[0][0] = L, kp[0][2] = t->head[1];
        kp[2][0] = L, kp[2][1] = t->head[0];
        break;
    case FM_TU_WRENCH: /* centre of the jaw opening (where the nut's axis goes) */
        kp[0][0] = L + t->head[0] / sqrt(3.0) + 0.002; /* a hex corner clears the back wall */
        kp[2][0] = L, kp[2][1] = 0.5 * (t->head[0] + t->head[1]) + 0.006;
        break;
    case FM_TU_SPATULA: /* blade tip */
        kp[0][0] = L + t->head[0] * cos(t->head[2]), kp[0][2] = -t->head[0] * sin(t->head[2]);
        kp[2][0] = L, kp[2][1] = 0.5 * t->head[1];
        break;
    case FM_TU_KNIFE: /* middle of the cutting edge */
        kp[0][0] = L + 0.5 * t->head[0], kp[0][2] = t->head[1];
        kp[2][0] = L, kp[2][2] = t->head[1];
        break;
    default:
        break;
    }
    kp[1][0] = -0.04; /* tail */
    kp[3][0] = kp[0][0], kp[3][2] = kp[0][2] - 0.05; /* head-up: 5 cm above the head along -z */
}

/* ---------------------------------------------------------------- joint-space IK */

typedef struct ik_pt { int body; double loc[3], tgt[3]; } ik_pt;
/* scalar = 0: R a = tgt (3 residuals); scalar = 1: tgt . (R a) = alpha (1 residual) */
typedef struct ik_vec { int body; double loc[3], tgt[3]; int scalar; double alpha; } ik_vec;
typedef struct ik_prob {
    ik_pt pt[IK_MAX_PT];
    int npt;
    ik_vec vec[IK_MAX_VEC];
    int nvec;
    /* keyframes of the skill, relative to the actuation end-effector pose: translation via[k][0..2],
     * then a rotation by via[k][3] rad about the vertical through pt[0].tgt; each must be reachable
     * too (ik_best) */
    double via[IK_MAX_VIA][4];
    int nvia;
} ik_prob;

#define W_VEC 0.1  /* 0.01 in an axis weighs like 1 mm */
#define W_REG 0.003

static void fk(fm_tu_episode *e, const double *q)
{
    for (int j = 0; j < FM_TU_NJOINT; j++)
        e->dk->qpos[j] = q[j];
    mj_kinematics(e->m, e->dk);
    mj_comPos(e->m, e->dk);
}

static void body_point(const mjData *d, int b, const double loc[3], double w[3])
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
static int ik_eval(fm_tu_episode *e, const ik_prob *p, const double *q, const double *qref, double *r,
                   double *J, double *perr, double *aerr)
{
    const mjModel *m = e->m;
    const int nv = m->nv;
    mjtNum jp[3 * 64], jr[3 * 64];
    int n = 0;
    *perr = *aerr = 0;
    for (int k = 0; k < p->npt; k++) {
        double w[3];
        body_point(e->dk, p->pt[k].body, p->pt[k].loc, w);
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
        const ik_vec *v = &p->vec[k];
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
static int ik_solve(fm_tu_episode *e, const ik_prob *p, double *q)
{
    enum { NRES = 3 * IK_MAX_PT + 3 * IK_MAX_VEC + FM_TU_NJOINT };
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
    ik_prob pr = {.npt = 3};
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
static void rotate_about_z(const double c[3], double phi, const double p[3], const double R[9], double po[3],
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
static int ik_best(fm_tu_episode *e, const ik_prob *cand, int ncand, const double *q_now, double lift,
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
                rotate_about_z(cand[c].pt[0].tgt, w[3], pv, R, pr, Rv);
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

/* Spatula: the blade tip starts SPATULA_BACK behind the disc rim and is pushed spatula_push() toward
 * the backstop (3 mm beyond the rim, tooluse_sim.c), stopping 4 mm short of it. */
#define SPATULA_BACK 0.012
/* Wrench: the turn about the nut axis, in WRENCH_STEPS actions of WRENCH_TURN rad. */
#define WRENCH_STEPS 4
#define WRENCH_TURN 0.22
/* Knife: the blade pushes one half KNIFE_CUT m away from the other. */
#define KNIFE_CUT 0.10
static double spatula_push(const fm_tu_tool *tl) { return 2 * tl->obj[0] + SPATULA_BACK + 0.003 - 0.004; }

static int push_wp(fm_tu_episode *e, const double p[3], const double R[9], int jump)
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
static void push_line(fm_tu_episode *e, const double p[3], const double R[9], double dmax, double amax)
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
        push_wp(e, pk, Rk, -1);
    }
}

static void shifted(const double p[3], double dx, double dy, double dz, double out[3])
{
    out[0] = p[0] + dx;
    out[1] = p[1] + dy;
    out[2] = p[2] + dz;
}

static void vec_target(ik_vec *v, int body, double lx, double ly, double lz, double tx, double ty, double tz)
{
    v->body = body;
    v->loc[0] = lx, v->loc[1] = ly, v->loc[2] = lz;
    v->tgt[0] = tx, v->tgt[1] = ty, v->tgt[2] = tz;
    v->scalar = 0;
    v->alpha = 0;
}

fm_status fm_tu_expert_plan(fm_tu_episode *e, fm_err *err)
{
    fm_status status = FM_OK;
    const fm_tu_task *t = e->t;
    const fm_tu_tool *tl = &t->tool;
    const mjModel *m = e->m;
    const mjData *d = e->d;
    int tb = t->body_tool;
    ik_prob cand[8];
    double dirs[8][3] = {{0}};
    int ncand = 0;
    memset(cand, 0, sizeof cand);
    double objp[3], q_now[FM_TU_NJOINT], q_act[FM_TU_NJOINT], q_pre[FM_TU_NJOINT];
    fm_tu_joints(e, q_now);
    if (!e->plan)
        FM_ALLOC(e->plan, PLAN_MAX);
    e->nplan = e->iplan = 0;
    /* object keypoint and the actuation constraints (Eq. 4.2-4.3) per family */
    switch (tl->family) {
    case FM_TU_HAMMER: {
        int pin = m->jnt_bodyid[t->jnt_obj[0]];
        double top[3] = {0, 0, 0.04};
        body_point(d, pin, top, objp);
        objp[2] += 0.001;
        ik_prob *c = &cand[ncand++];
        c->npt = 1;
        c->pt[0].body = tb;
        memcpy(c->pt[0].loc, t->kp[0], sizeof c->pt[0].loc);
        memcpy(c->pt[0].tgt, objp, sizeof objp);
        c->nvec = 2;
        vec_target(&c->vec[0], tb, 0, 0, 1, 0, 0, -1);           /* head axis vertical, face down */
        vec_target(&c->vec[1], tb, 1, 0, 0, 0, 0, 1);            /* handle horizontal: z . x = 0 */
        c->vec[1].scalar = 1;
        break;
    }
    case FM_TU_WRENCH: {
        int nut = m->jnt_bodyid[t->jnt_obj[0]];
        double mid[3] = {0, 0, 0.5 * tl->obj[0]};
        body_point(d, nut, mid, objp);
        const mjtNum *Rn = d->xmat + 9 * nut;
        double yaw = atan2(Rn[3], Rn[0]);
        for (int k = 0; k < 6; k++) { /* a vertex direction of the hex along the slot: six flats */
            ik_prob *c = &cand[ncand++];
            double a = yaw + k * M_PI / 3;
            c->npt = 1;
            c->pt[0].body = tb;
            memcpy(c->pt[0].loc, t->kp[0], sizeof c->pt[0].loc);
            memcpy(c->pt[0].tgt, objp, sizeof objp);
            c->nvec = 2;
            vec_target(&c->vec[0], tb, 0, 0, 1, 0, 0, -1);
            vec_target(&c->vec[1], tb, 1, 0, 0, cos(a), sin(a), 0);
            c->nvia = 2; /* halfway through and at the end of the turn */
            c->via[0][3] = 0.5 * WRENCH_STEPS * WRENCH_TURN;
            c->via[1][3] = WRENCH_STEPS * WRENCH_TURN;
        }
        break;
    }
    case FM_TU_SPATULA: {
        /* one approach: the blade tip SPATULA_BACK behind the disc rim, pushing along the
         * backstop's normal (an oblique blade catches the backstop with a corner and lets the disc
         * slip sideways) */
        int disc = m->jnt_bodyid[t->jnt_obj[0]], bs = t->body_stop;
        double c0[3] = {0, 0, 0};
        body_point(d, disc, c0, objp);
        double a = atan2(m->body_pos[3 * bs + 1] - objp[1], m->body_pos[3 * bs] - objp[0]);
        double u[3] = {cos(a), sin(a), 0}, back = tl->obj[0] + SPATULA_BACK, be = tl->head[2], dn = 0.05;
        double D = spatula_push(tl);
        ik_prob *c = &cand[ncand++];
        c->npt = 1;
        c->pt[0].body = tb;
        memcpy(c->pt[0].loc, t->kp[0], sizeof c->pt[0].loc);
        c->pt[0].tgt[0] = objp[0] - back * u[0];
        c->pt[0].tgt[1] = objp[1] - back * u[1];
        c->pt[0].tgt[2] = 0.003;
        /* blade axis along u, tip down by 0.05 rad (Eq. 4.3, alpha = 1); blade width horizontal */
        c->nvec = 2;
        vec_target(&c->vec[0], tb, cos(be), 0, -sin(be), cos(dn) * u[0], cos(dn) * u[1], -sin(dn));
        vec_target(&c->vec[1], tb, 0, 1, 0, 0, 0, 1);
        c->vec[1].scalar = 1;
        /* the end of the push and the lifted pose must be reachable from here */
        c->nvia = 2;
        for (int i = 0; i < 3; i++)
            c->via[0][i] = c->via[1][i] = D * u[i];
        c->via[1][2] = 0.11;
        memcpy(dirs[0], u, sizeof u);
        break;
    }
    case FM_TU_KNIFE: {
        int ha = m->jnt_bodyid[t->jnt_obj[0]], hb = m->jnt_bodyid[t->jnt_obj[1]];
        for (int i = 0; i < 2; i++)
            objp[i] = 0.5 * (d->xpos[3 * ha + i] + d->xpos[3 * hb + i]);
        objp[2] = 0.008;
        double n[3] = {d->xpos[3 * hb] - d->xpos[3 * ha], d->xpos[3 * hb + 1] - d->xpos[3 * ha + 1], 0};
        double nn = hypot(n[0], n[1]);
        n[0] /= nn, n[1] /= nn;
        for (int s = -1; s <= 1; s += 2) {
            ik_prob *c = &cand[ncand++];
            c->npt = 1;
            c->pt[0].body = tb;
            memcpy(c->pt[0].loc, t->kp[0], sizeof c->pt[0].loc);
            memcpy(c->pt[0].tgt, objp, sizeof objp);
            c->nvec = 2;
            vec_target(&c->vec[0], tb, 0, 0, 1, 0, 0, -1);
            vec_target(&c->vec[1], tb, 0, 1, 0, s * n[0], s * n[1], 0);
            c->nvia = 1; /* the end of the cut */
            for (int i = 0; i < 2; i++)
                c->via[0][i] = KNIFE_CUT * n[i];
        }
        memcpy(dirs[0], n, sizeof n);
        memcpy(dirs[1], n, sizeof n);
        break;
    }
    default:
        break;
    }
    /* pre-actuation pose: above the actuation pose */
    double lift = tl->family == FM_TU_KNIFE ? tl->obj[2] + 0.03 : 0.05;
    int pick = ik_best(e, cand, ncand, q_now, lift, q_act, q_pre);
    FM_CHECK(pick >= 0, FM_ENUMERIC,
             "%s: no feasible actuation pose for this scene (keypoint IK did not converge, or the pre-actuation "
             "pose or a keyframe of the skill is out of reach)", tl->name);
    memcpy(e->dir, dirs[pick], sizeof e->dir);
    double pa[3], Ra[9], pp[3];
    ee_fk(e, q_act, pa, Ra);
    shifted(pa, 0, 0, lift, pp);
    /* approach: straight joint-space segment (C.8-C.9), as many steps as the bounds need */
    {
        double p0[3], R0[9];
        ee_fk(e, q_now, p0, R0);
        push_wp(e, p0, R0, -1); /* waypoint 0 = the start (not an action) */
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
            push_wp(e, pk, Rk, -1);
        }
        /* settle at the pre-actuation pose for one step. Executed, never recorded: its label (~0,
         * the arm is already there) and the skill's first action (a strike, a descent) would
         * label two observations that differ only by the point noise, and a Markov policy
         * averages them and hovers (issue 13). */
        if (push_wp(e, pp, Ra, -1))
            e->plan[e->nplan - 1].unrecorded = 1;
    }
    /* actuation keyframes (C.10) */
    double p1[3], R1[9];
    switch (tl->family) {
    case FM_TU_HAMMER: {
        /* up to 4 strikes (the plan skips to the retreat once the pin is down): a long handle far
         * from the base strikes a little softer and occasionally needs a fourth */
        enum { STRIKES = 4 };
        int end_jump_slots[STRIKES], ns = 0;
        for (int s = 0; s < STRIKES; s++) {
            shifted(pa, 0, 0, -0.03, p1);
            push_wp(e, p1, Ra, -1);        /* strike: 8 cm in one action */
            push_wp(e, pp, Ra, -1);        /* back up */
            end_jump_slots[ns++] = e->nplan; /* next waypoint: checked for success */
        }
        shifted(pp, 0, 0, 0.05, p1);
        int fin = e->nplan;
        push_wp(e, p1, Ra, -1);
        for (int s = 0; s < ns; s++)
            if (end_jump_slots[s] < e->nplan)
                e->plan[end_jump_slots[s]].jump = fin;
        break;
    }
    case FM_TU_WRENCH: {
        push_line(e, pa, Ra, 0.025, 0.3);
        double c[3] = {objp[0], objp[1], pa[2]};
        for (int k = 1; k <= WRENCH_STEPS; k++) {
            rotate_about_z(c, WRENCH_TURN * k, pa, Ra, p1, R1);
            push_wp(e, p1, R1, -1);
        }
        double p2[3];
        shifted(p1, 0, 0, 0.06, p2);
        push_wp(e, p2, R1, -1);
        break;
    }
    case FM_TU_SPATULA: {
        memcpy(p1, pa, sizeof p1);
        push_line(e, p1, Ra, 0.025, 0.3);
        double D = spatula_push(tl), p2[3];
        shifted(p1, D * e->dir[0], D * e->dir[1], 0, p2);
        /* push slowly (1 cm per action): the disc rides up the blade edge instead of being kicked */
        push_line(e, p2, Ra, 0.01, 0.3);
        /* lift gently, tip the blade up 0.15 rad about its middle (scoop), lift to 10 cm */
        shifted(p2, 0, 0, 0.02, p1);
        push_line(e, p1, Ra, 0.01, 0.3);
        double k[3] = {e->dir[1], -e->dir[0], 0}, mid[3], Rt[9], w[3];
        double tipd = D - (tl->obj[0] + SPATULA_BACK) - 0.5 * tl->head[0]; /* blade middle rel. to the object */
        for (int i = 0; i < 3; i++)
            mid[i] = objp[i] + tipd * e->dir[i];
        mid[2] = 0.02;
        for (int i = 0; i < 3; i++)
            w[i] = 0.15 * k[i];
        fm_tu_rot_apply(w, Ra, Rt);
        double rel[3] = {p1[0] - mid[0], p1[1] - mid[1], p1[2] - mid[2]}, Rw[9], p3[3];
        fm_tu_rot_apply(w, (double[9]){1, 0, 0, 0, 1, 0, 0, 0, 1}, Rw);
        for (int i = 0; i < 3; i++)
            p3[i] = mid[i] + Rw[3 * i] * rel[0] + Rw[3 * i + 1] * rel[1] + Rw[3 * i + 2] * rel[2];
        push_line(e, p3, Rt, 0.01, 0.05);
        shifted(p3, 0, 0, 0.09, p1);
        push_line(e, p1, Rt, 0.02, 0.3);
        push_wp(e, p1, Rt, -1);
        break;
    }
    case FM_TU_KNIFE: {
        push_line(e, pa, Ra, 0.025, 0.3);
        double p2[3];
        shifted(pa, KNIFE_CUT * e->dir[0], KNIFE_CUT * e->dir[1], 0, p2);
        push_line(e, p2, Ra, 0.03, 0.3);
        shifted(p2, 0, 0, 0.08, p1);
        push_wp(e, p1, Ra, -1);
        break;
    }
    default:
        break;
    }
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
