/* test_multitask.c - the MT-10 manipulation suite (src/env/multitask/multitask*.c, docs/multitask.md):
 * the task table and build errors, the expert on fixed seeds of every task, success checks on
 * no-op episodes (never) and on hand-made MuJoCo states (closed-form distances), the 39 + K value
 * observation (each slot against MuJoCo's own site / body data, the previous-step slots, the hand's
 * frame and the gripper servo), determinism of demonstrations, DART labels (the clean expert
 * label of the recorded observation; the recorded length ends `hold` steps after the first
 * observation that meets the documented criterion) and non-finite actions. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <mujoco/mujoco.h>

#include "core/core.h"
#include "data/data.h"
#include "env/multitask/multitask.h"
#include "tap.h"

#define K10 10
#define HORIZON 150
#define HOLD 3
#define PDIM (FM_MT_OBS_DIM + K10)

static fm_multitask env; /* K = 10, horizon 150, hold 3, task id on, no noise */

static const char *MT10[K10] = {"reach",       "push",         "pick-place",           "door-open",
                                "drawer-open", "drawer-close", "button-press-topdown", "peg-insert-side",
                                "window-open", "window-close"};
enum { T_REACH, T_PUSH, T_PICK, T_DOOR, T_DRAWER_OPEN, T_DRAWER_CLOSE, T_BUTTON, T_PEG, T_WIN_OPEN, T_WIN_CLOSE };

/* ---------------------------------------------------------------- helpers */

static fm_mt_episode *open_ep(const fm_multitask *en, int h, uint64_t seed)
{
    fm_rng r;
    fm_err err;
    fm_mt_episode *e = NULL;
    fm_rng_seed(&r, seed, (uint64_t)h, 1);
    fm_err_clear(&err);
    if (fm_mt_episode_open(en, h, &r, &e, &err) != FM_OK) {
        printf("# episode open failed (task %d): %s\n", h, err.msg);
        return NULL;
    }
    return e;
}

static void get_mj(fm_mt_episode *e, mjModel **m, mjData **d)
{
    void *vm = NULL, *vd = NULL;
    fm_mt_episode_mj(e, &vm, &vd);
    *m = (mjModel *)vm;
    *d = (mjData *)vd;
}

/* qpos address of a named joint (-1: none) */
static int jq(const mjModel *m, const char *name)
{
    int j = mj_name2id(m, mjOBJ_JOINT, name);
    return j < 0 ? -1 : m->jnt_qposadr[j];
}

/* qpos address of the first joint of a named body (-1: none) */
static int bq(const mjModel *m, const char *body)
{
    int b = mj_name2id(m, mjOBJ_BODY, body);
    if (b < 0 || m->body_jntnum[b] < 1)
        return -1;
    return m->jnt_qposadr[m->body_jntadr[b]];
}

static double maxdiff(const double *a, const double *b, int n)
{
    double md = 0;
    for (int i = 0; i < n; i++) {
        double v = fabs(a[i] - b[i]);
        if (!(v <= md)) /* NaN propagates */
            md = isnan(v) ? INFINITY : v;
    }
    return md;
}

static double norm3d(const double *a, const double *b)
{
    return sqrt((a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) + (a[2] - b[2]) * (a[2] - b[2]));
}

/* The documented success criterion (docs/multitask.md, the tasks' table) computed from one
 * observation alone: 1 if it holds. */
static int obs_success(int h, const double *o)
{
    const double *tcp = o, *obj = o + 4, *q = o + 7, *goal = o + 36;
    switch (h) {
    case T_REACH: return norm3d(tcp, goal) <= 0.05;
    case T_PUSH: return norm3d(obj, goal) <= 0.05;
    case T_PICK: return norm3d(obj, goal) <= 0.07;
    case T_DOOR: { /* the door turns about z: quaternion (cos(a/2), 0, 0, sin(a/2)), opened = -a */
        double a = 2 * atan2(q[3], q[0]);
        return -a >= 1.49;
    }
    case T_DRAWER_OPEN: return norm3d(obj, goal) <= 0.01;
    case T_DRAWER_CLOSE: return norm3d(obj, goal) <= 0.03;
    case T_BUTTON: return fabs(obj[2] - goal[2]) <= 0.02;
    case T_PEG: { /* head = center - 0.12 x (the peg's x axis); y and z errors count double */
        double w = q[0], x = q[1], y = q[2], z = q[3];
        double u[3] = {1 - 2 * (y * y + z * z), 2 * (x * y + w * z), 2 * (x * z - w * y)};
        double hd[3] = {obj[0] - 0.12 * u[0], obj[1] - 0.12 * u[1], obj[2] - 0.12 * u[2]};
        double dx = hd[0] - goal[0], dy = 2 * (hd[1] - goal[1]), dz = 2 * (hd[2] - goal[2]);
        return sqrt(dx * dx + dy * dy + dz * dz) <= 0.07;
    }
    case T_WIN_OPEN: return fabs(obj[0] - goal[0]) <= 0.01;
    case T_WIN_CLOSE: return fabs(obj[0] - goal[0]) <= 0.04;
    }
    return 0;
}

static void zero_act(void *ctx, const double *obs, double *a)
{
    (void)ctx, (void)obs;
    a[0] = a[1] = a[2] = a[3] = 0;
}

/* ---------------------------------------------------------------- 1. table and build errors */

static void test_table(void)
{
    for (int h = 0; h < K10; h++)
        is_str(fm_mt_task_name(h), MT10[h], "task %d is Meta-World MT-10's %s", h, MT10[h]);
    ok(fm_mt_task_name(-1) == NULL, "task -1 has no name");
    ok(fm_mt_task_name(10) == NULL, "task 10 has no name");
    is_int(FM_MT_NTASK, 10, "the table holds 10 tasks");
}

static void test_build_errors(void)
{
    struct {
        int K, horizon, hold;
        double noise;
        const char *what;
    } bad[] = {{0, 150, 3, 0.1, "K = 0"},       {11, 150, 3, 0.1, "K = 11"},       {10, 0, 3, 0.1, "horizon 0"},
               {10, 150, -1, 0.1, "hold -1"},   {10, 150, 3, -0.1, "noise -0.1"}, {10, 150, 3, NAN, "noise NaN"},
               {10, 150, 3, INFINITY, "noise +inf"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fm_multitask en;
        fm_err err;
        fm_err_clear(&err);
        fm_status st = fm_multitask_build_explicit(bad[i].K, bad[i].horizon, bad[i].hold, 1, bad[i].noise, &en, &err);
        ok(st != FM_OK && err.msg[0] != '\0' && en.scene == NULL, "build with %s fails with a message: %s", bad[i].what,
           err.msg);
        if (st == FM_OK)
            fm_multitask_free(&en);
    }
    /* obs dim with and without the one-hot; without it nothing is written past slot 39 */
    fm_multitask en2;
    fm_err err;
    fm_err_clear(&err);
    if (fm_multitask_build_explicit(2, 20, 0, 0, 0.0, &en2, &err) != FM_OK) {
        ok(0, "K = 2 without task id builds: %s", err.msg);
        return;
    }
    is_int(fm_multitask_obs_dim(&en2), 39, "obs dim 39 without the task id");
    fm_mt_episode *e = open_ep(&en2, 1, 5);
    if (e) {
        double o[PDIM];
        for (int i = 0; i < PDIM; i++)
            o[i] = 12345.0;
        fm_mt_observe(e, o);
        int untouched = 1;
        for (int i = FM_MT_OBS_DIM; i < PDIM; i++)
            untouched &= o[i] == 12345.0;
        ok(untouched, "without the task id the observation writes 39 values only");
        fm_mt_episode_close(e);
    }
    fm_rng r;
    fm_rng_seed(&r, 1, 0, 1);
    fm_mt_episode *e2 = NULL;
    fm_err_clear(&err);
    ok(fm_mt_episode_open(&en2, 2, &r, &e2, &err) != FM_OK && e2 == NULL && err.msg[0],
       "opening task 2 of a K = 2 suite fails: %s", err.msg);
    fm_err_clear(&err);
    ok(fm_mt_episode_open(&en2, -1, &r, &e2, &err) != FM_OK && e2 == NULL, "opening task -1 fails: %s", err.msg);
    fm_multitask_free(&en2);
    is_int(fm_multitask_obs_dim(&env), 49, "obs dim 39 + 10 with the task id");
}

/* ---------------------------------------------------------------- 2. experts */

static void test_experts(void)
{
    for (int h = 0; h < K10; h++) {
        int succ = 0, steps[5], bounded = 1;
        for (int s = 0; s < 5; s++) {
            fm_rng r;
            fm_rng_seed(&r, (uint64_t)(1 + s), (uint64_t)h, 1);
            fm_episode_score sc;
            fm_multitask_episode(&env, h, NULL, &r, &sc);
            succ += sc.balanced;
            steps[s] = sc.steps;
            bounded &= sc.steps >= 1 + HOLD && sc.steps <= HORIZON;
        }
        ok(succ == 5, "%s: the expert succeeds on %d of 5 fixed seeds (actions %d %d %d %d %d)", MT10[h], succ,
           steps[0], steps[1], steps[2], steps[3], steps[4]);
        ok(bounded, "%s: episodes last from hold + 1 to the horizon", MT10[h]);
    }
}

/* ---------------------------------------------------------------- 3. success checks */

static void test_noop(void)
{
    fm_policy_fn pi = {NULL, zero_act, NULL};
    for (int h = 0; h < K10; h++) {
        int succ = 0, full = 1;
        for (int s = 0; s < 3; s++) {
            fm_rng r;
            fm_rng_seed(&r, (uint64_t)(101 + s), (uint64_t)h, 1);
            fm_episode_score sc;
            fm_multitask_episode(&env, h, &pi, &r, &sc);
            succ += sc.balanced;
            full &= sc.steps == HORIZON && !sc.at_setpoint;
        }
        ok(succ == 0, "%s: a zero-action policy never succeeds (%d of 3 seeds did)", MT10[h], succ);
        ok(full, "%s: the zero-action episodes run to the horizon and end off the goal", MT10[h]);
    }
}

/* Set a named 1-dof joint and check success / distance. */
static void joint_state(int h, const char *joint, double q, int want, double want_dist)
{
    fm_mt_episode *e = open_ep(&env, h, 11);
    if (!e) {
        ok(0, "%s episode opens", MT10[h]);
        return;
    }
    mjModel *m;
    mjData *d;
    get_mj(e, &m, &d);
    int a = jq(m, joint);
    if (a < 0) {
        ok(0, "%s: joint '%s' exists", MT10[h], joint);
        fm_mt_episode_close(e);
        return;
    }
    d->qpos[a] = q;
    mj_forward(m, d);
    is_int(fm_mt_success_now(e), want, "%s: joint %s = %.3f -> success %d", MT10[h], joint, q, want);
    is_close(fm_mt_distance(e), want_dist, 1e-9, 0, "%s: joint %s = %.3f -> distance %.3f", MT10[h], joint, q,
             want_dist);
    fm_mt_episode_close(e);
}

/* Put a free body (puck or peg) at pos (identity orientation). */
static void set_free(mjModel *m, mjData *d, const char *body, const double pos[3])
{
    int a = bq(m, body);
    if (a < 0)
        return;
    d->qpos[a] = pos[0], d->qpos[a + 1] = pos[1], d->qpos[a + 2] = pos[2];
    d->qpos[a + 3] = 1, d->qpos[a + 4] = d->qpos[a + 5] = d->qpos[a + 6] = 0;
    memset(d->qvel + m->jnt_dofadr[m->body_jntadr[mj_name2id(m, mjOBJ_BODY, body)]], 0, 6 * sizeof(double));
}

static void puck_state(int h)
{
    fm_mt_episode *e = open_ep(&env, h, 12);
    if (!e) {
        ok(0, "%s episode opens", MT10[h]);
        return;
    }
    mjModel *m;
    mjData *d;
    get_mj(e, &m, &d);
    double o[PDIM], goal[3];
    fm_mt_observe(e, o);
    memcpy(goal, o + 36, sizeof goal);
    if (h == T_PUSH)
        is_close(goal[2], 0.02, 1e-12, 0, "push: the goal is on the table (z 0.02)");
    ok(bq(m, "obj") >= 0, "%s: body obj has a free joint", MT10[h]);
    ok(!fm_mt_success_now(e), "%s: not a success at the start", MT10[h]);
    set_free(m, d, "obj", goal);
    mj_forward(m, d);
    is_int(fm_mt_success_now(e), 1, "%s: the puck at the goal is a success", MT10[h]);
    is_close(fm_mt_distance(e), 0, 1e-9, 0, "%s: distance 0 there", MT10[h]);
    double away[3] = {goal[0] + 0.1, goal[1], goal[2]};
    set_free(m, d, "obj", away);
    mj_forward(m, d);
    is_int(fm_mt_success_now(e), 0, "%s: the puck 10 cm from the goal is not", MT10[h]);
    is_close(fm_mt_distance(e), 0.1, 1e-9, 0, "%s: distance 0.1 there", MT10[h]);
    fm_mt_episode_close(e);
}

static void test_handmade(void)
{
    joint_state(T_DRAWER_OPEN, "drawer", 0.16, 1, 0.0);
    joint_state(T_DRAWER_OPEN, "drawer", 0.10, 0, 0.06);
    joint_state(T_DRAWER_CLOSE, "drawer", 0.0, 1, 0.0);
    joint_state(T_DRAWER_CLOSE, "drawer", 0.05, 0, 0.05);
    joint_state(T_WIN_OPEN, "window", 0.2, 1, 0.0);
    joint_state(T_WIN_OPEN, "window", 0.15, 0, 0.05);
    joint_state(T_WIN_CLOSE, "window", 0.0, 1, 0.0);
    joint_state(T_WIN_CLOSE, "window", 0.1, 0, 0.1);
    joint_state(T_DOOR, "door", -1.5, 1, 0.0);
    joint_state(T_DOOR, "door", -1.0, 0, 0.49);
    joint_state(T_BUTTON, "button", 0.04, 1, 0.01);
    joint_state(T_BUTTON, "button", 0.0, 0, 0.05);
    puck_state(T_PUSH);
    puck_state(T_PICK);

    /* reach: hand (free joint) and mocap at the goal */
    fm_mt_episode *e = open_ep(&env, T_REACH, 13);
    if (e) {
        mjModel *m;
        mjData *d;
        get_mj(e, &m, &d);
        double o[PDIM], goal[3];
        fm_mt_observe(e, o);
        memcpy(goal, o + 36, sizeof goal);
        ok(!fm_mt_success_now(e), "reach: not a success at the start (distance %.3f)", fm_mt_distance(e));
        int a = bq(m, "hand"), mb = mj_name2id(m, mjOBJ_BODY, "mocap");
        ok(a >= 0 && mb >= 0 && m->body_mocapid[mb] >= 0, "reach: the hand has a free joint and a mocap body");
        if (a >= 0 && mb >= 0 && m->body_mocapid[mb] >= 0) {
            double *mp = d->mocap_pos + 3 * m->body_mocapid[mb];
            memcpy(d->qpos + a, goal, sizeof goal);
            memcpy(mp, goal, sizeof goal);
            mj_forward(m, d);
            is_int(fm_mt_success_now(e), 1, "reach: the hand at the goal is a success");
            is_close(fm_mt_distance(e), 0, 1e-9, 0, "reach: distance 0 there");
            double up[3] = {goal[0], goal[1], goal[2] + 0.1};
            memcpy(d->qpos + a, up, sizeof up);
            memcpy(mp, up, sizeof up);
            mj_forward(m, d);
            is_int(fm_mt_success_now(e), 0, "reach: 10 cm above the goal is not");
            is_close(fm_mt_distance(e), 0.1, 1e-9, 0, "reach: distance 0.1 there");
        }
        fm_mt_episode_close(e);
    }

    /* peg-insert-side: the head (center - 0.12 along x) at the goal */
    e = open_ep(&env, T_PEG, 14);
    if (e) {
        mjModel *m;
        mjData *d;
        get_mj(e, &m, &d);
        double o[PDIM], goal[3];
        fm_mt_observe(e, o);
        memcpy(goal, o + 36, sizeof goal);
        ok(!fm_mt_success_now(e), "peg-insert-side: not a success at the start");
        double c[3] = {goal[0] + 0.12, goal[1], goal[2]};
        set_free(m, d, "obj", c);
        mj_forward(m, d);
        int hs = mj_name2id(m, mjOBJ_SITE, "head");
        ok(hs >= 0 && maxdiff(d->site_xpos + 3 * hs, goal, 3) < 1e-12, "peg-insert-side: site head is at the goal");
        is_int(fm_mt_success_now(e), 1, "peg-insert-side: the head at the goal is a success");
        is_close(fm_mt_distance(e), 0, 1e-9, 0, "peg-insert-side: distance 0 there");
        c[0] += 0.1;
        set_free(m, d, "obj", c);
        mj_forward(m, d);
        is_int(fm_mt_success_now(e), 0, "peg-insert-side: 10 cm further +x is not");
        is_close(fm_mt_distance(e), 0.1, 1e-9, 0, "peg-insert-side: distance 0.1 there");
        /* y counts double: 2 cm off in y is 4 cm (success), 4 cm off is 8 cm (not) */
        c[0] -= 0.1, c[1] += 0.04;
        set_free(m, d, "obj", c);
        mj_forward(m, d);
        is_close(fm_mt_distance(e), 0.08, 1e-9, 0, "peg-insert-side: 4 cm off in y measures 8 cm");
        is_int(fm_mt_success_now(e), 0, "peg-insert-side: and is not a success");
        fm_mt_episode_close(e);
    }
}

/* ---------------------------------------------------------------- 4. observation layout */

/* First object per task (docs/multitask.md): a body's xpos + xquat or a site + its body's quat. */
static void first_object(int h, const mjModel *m, const mjData *d, double o7[7])
{
    const char *site = NULL, *body = "obj";
    if (h == T_DOOR || h == T_DRAWER_OPEN || h == T_DRAWER_CLOSE || h == T_WIN_OPEN || h == T_WIN_CLOSE)
        site = "handle", body = "move";
    else if (h == T_BUTTON)
        site = "button", body = "move";
    int b = mj_name2id(m, mjOBJ_BODY, body);
    for (int k = 0; k < 7; k++)
        o7[k] = NAN;
    if (b < 0)
        return;
    if (site) {
        int s = mj_name2id(m, mjOBJ_SITE, site);
        if (s >= 0)
            memcpy(o7, d->site_xpos + 3 * s, 3 * sizeof(double));
    } else {
        memcpy(o7, d->xpos + 3 * b, 3 * sizeof(double));
    }
    memcpy(o7 + 3, d->xquat + 4 * b, 4 * sizeof(double));
}

static void check_obs_state(int h, fm_mt_episode *e, const char *when)
{
    mjModel *m;
    mjData *d;
    get_mj(e, &m, &d);
    double o[PDIM + 1];
    o[PDIM] = 777.0;
    fm_mt_observe(e, o);
    ok(o[PDIM] == 777.0, "%s %s: observe writes 49 values", MT10[h], when);
    int tcp = mj_name2id(m, mjOBJ_SITE, "tcp"), goal = mj_name2id(m, mjOBJ_SITE, "goal");
    ok(tcp >= 0 && maxdiff(o, d->site_xpos + 3 * tcp, 3) < 1e-12, "%s %s: obs[0..2] = site tcp", MT10[h], when);
    double rf = d->qpos[jq(m, "rf")], lf = d->qpos[jq(m, "lf")], g = (rf + lf + 0.008) / 0.1;
    g = g < 0 ? 0 : g > 1 ? 1 : g;
    is_close(o[3], g, 1e-12, 0, "%s %s: obs[3] = (rf + lf + 0.008) / 0.1", MT10[h], when);
    double ref[7];
    first_object(h, m, d, ref);
    ok(maxdiff(o + 4, ref, 7) < 1e-12, "%s %s: obs[4..10] = the first object's position and quaternion", MT10[h],
       when);
    double qn = sqrt(o[7] * o[7] + o[8] * o[8] + o[9] * o[9] + o[10] * o[10]);
    is_close(qn, 1, 1e-9, 0, "%s %s: its quaternion has unit norm", MT10[h], when);
    int zeros = 1;
    for (int k = 11; k < 18; k++)
        zeros &= o[k] == 0;
    ok(zeros, "%s %s: obs[11..17] (second object) are zeros", MT10[h], when);
    ok(goal >= 0 && maxdiff(o + 36, d->site_xpos + 3 * goal, 3) < 1e-12, "%s %s: obs[36..38] = site goal", MT10[h],
       when);
    int hot = 1;
    for (int k = 0; k < K10; k++)
        hot &= o[39 + k] == (k == h ? 1.0 : 0.0);
    ok(hot, "%s %s: one-hot task id at obs[39 + %d]", MT10[h], when, h);
}

static void test_obs_layout(void)
{
    for (int h = 0; h < K10; h++) {
        fm_mt_episode *e = open_ep(&env, h, 21);
        if (!e) {
            ok(0, "%s episode opens", MT10[h]);
            continue;
        }
        is_int(fm_mt_task(e), h, "%s: the episode's task", MT10[h]);
        is_int(fm_mt_steps(e), 0, "%s: no steps at the start", MT10[h]);
        is_int(fm_mt_first_success(e), -1, "%s: no success at the start", MT10[h]);
        check_obs_state(h, e, "at reset");
        double o[PDIM];
        fm_mt_observe(e, o);
        ok(!memcmp(o + 18, o, 18 * sizeof(double)), "%s at reset: obs[18..35] = obs[0..17]", MT10[h]);
        /* the hand starts at the nominal point + U[-0.02, 0.02] per axis */
        double nom[3] = {0, (h == T_BUTTON || h == T_WIN_OPEN || h == T_WIN_CLOSE) ? 0.4 : 0.6, 0.2};
        ok(maxdiff(o, nom, 3) <= 0.02 + 1e-9, "%s: the tcp starts within 2 cm per axis of (0, %.1f, 0.2)", MT10[h],
           nom[1]);
        is_close(o[3], 0.88, 1e-9, 0, "%s: the gripper starts open (0.88)", MT10[h]);

        /* 10 expert steps: every new obs[18..35] is the previous obs[0..17], bit for bit */
        int prev_ok = 1, moved = 0, bad_step = -1;
        for (int t = 0; t < 10; t++) {
            double a[FM_MT_ACT_DIM], o2[PDIM];
            fm_mt_expert(e, o, a);
            if (fm_mt_step(e, a)) {
                prev_ok = 0;
                bad_step = t;
                break;
            }
            fm_mt_observe(e, o2);
            if (memcmp(o2 + 18, o, 18 * sizeof(double))) {
                prev_ok = 0;
                bad_step = t;
            }
            moved |= memcmp(o2, o, 18 * sizeof(double)) != 0;
            memcpy(o, o2, sizeof o);
        }
        ok(prev_ok && moved, "%s: after each of 10 expert steps obs[18..35] = the previous obs[0..17] (bad step %d)",
           MT10[h], bad_step);
        is_int(fm_mt_steps(e), 10, "%s: 10 steps counted", MT10[h]);
        check_obs_state(h, e, "after 10 steps");
        fm_mt_episode_close(e);
    }

    /* documented reset ranges of the puck tasks (5 seeds each) */
    for (int h = T_REACH; h <= T_PICK; h++) {
        int in = 1;
        for (int s = 0; s < 5; s++) {
            fm_mt_episode *e = open_ep(&env, h, (uint64_t)(40 + s));
            if (!e) {
                in = 0;
                continue;
            }
            double o[PDIM];
            fm_mt_observe(e, o);
            const double *p = o + 4, *g = o + 36;
            in &= fabs(p[0]) <= 0.1 && p[1] >= 0.6 && p[1] <= 0.7 && fabs(g[0]) <= 0.1 && g[1] >= 0.8 && g[1] <= 0.9;
            in &= hypot(p[0] - g[0], p[1] - g[1]) >= 0.15;
            in &= h == T_PUSH ? g[2] == 0.02 : (g[2] >= 0.05 && g[2] <= 0.3);
            fm_mt_episode_close(e);
        }
        ok(in, "%s: puck and goal within the documented ranges, >= 15 cm apart in the plane", MT10[h]);
    }
}

/* The hand's frame: +x / +y / +z actions move the tcp ~1 cm per step along that axis. */
static void frame_axis(int axis)
{
    static const char *AX = "xyz";
    fm_mt_episode *e = open_ep(&env, T_PUSH, 31);
    if (!e) {
        ok(0, "push episode opens");
        return;
    }
    double a[FM_MT_ACT_DIM] = {0, 0, 0, -1}, o[PDIM], p[7][3];
    a[axis] = 1;
    fm_mt_observe(e, o);
    memcpy(p[0], o, sizeof p[0]);
    for (int t = 1; t <= 6; t++) {
        fm_mt_step(e, a);
        fm_mt_observe(e, o);
        memcpy(p[t], o, sizeof p[t]);
    }
    double lo = 1, hi = 0, off = 0;
    for (int t = 3; t <= 6; t++) {
        double dv = p[t][axis] - p[t - 1][axis];
        lo = fmin(lo, dv), hi = fmax(hi, dv);
    }
    for (int k = 0; k < 3; k++)
        if (k != axis)
            off = fmax(off, fabs(p[6][k] - p[0][k]));
    ok(lo >= 0.005 && hi <= 0.011, "action +%c: tcp %c grows 0.5 to 1.1 cm per step after two steps (%.4f to %.4f m)",
       AX[axis], AX[axis], lo, hi);
    ok(off < 0.003, "action +%c: the other axes move < 3 mm in 6 steps (%.4f m)", AX[axis], off);
    fm_mt_episode_close(e);
}

static void test_frame(void)
{
    for (int k = 0; k < 3; k++)
        frame_axis(k);
    /* the gripper: +1 closes (pads 8 mm apart: 0.08), -1 opens again (0.88) */
    fm_mt_episode *e = open_ep(&env, T_PUSH, 32);
    if (!e)
        return;
    double o[PDIM], close_a[FM_MT_ACT_DIM] = {0, 0, 0, 1}, open_a[FM_MT_ACT_DIM] = {0, 0, 0, -1};
    fm_mt_observe(e, o);
    double g0 = o[3];
    int tc = -1, to = -1;
    for (int t = 1; t <= 10; t++) {
        fm_mt_step(e, close_a);
        fm_mt_observe(e, o);
        if (tc < 0 && o[3] < 0.2)
            tc = t;
    }
    double gc = o[3];
    ok(tc > 0, "action g = +1 closes the gripper: %.3f -> %.3f in 10 steps (< 0.2 after %d)", g0, gc, tc);
    for (int t = 0; t < 30; t++)
        fm_mt_step(e, close_a);
    fm_mt_observe(e, o);
    is_close(o[3], 0.08, 0.005, 0, "closed pads are 8 mm apart (0.08)");
    for (int t = 1; t <= 10; t++) {
        fm_mt_step(e, open_a);
        fm_mt_observe(e, o);
        if (to < 0 && o[3] > 0.75)
            to = t;
    }
    ok(to > 0, "action g = -1 opens it again: %.3f after 10 steps (> 0.75 after %d)", o[3], to);
    fm_mt_episode_close(e);
}

/* ---------------------------------------------------------------- 5. determinism */

static fm_status gen(const fm_multitask *en, uint64_t seed, const int *tasks, int n, fm_demos *d, int *att)
{
    fm_rng r;
    fm_err err;
    fm_rng_seed(&r, seed, 0, 2);
    fm_err_clear(&err);
    fm_status st = fm_multitask_generate(en, tasks, n, &r, d, att, &err);
    if (st != FM_OK)
        printf("# generate: %s\n", err.msg);
    return st;
}

static int same_demos(const fm_demos *a, const fm_demos *b)
{
    if (a->n_traj != b->n_traj || a->horizon != b->horizon || a->obs_dim != b->obs_dim || a->act_dim != b->act_dim)
        return 0;
    size_t no = (size_t)a->n_traj * a->horizon * a->obs_dim, na = (size_t)a->n_traj * a->horizon * a->act_dim;
    return !memcmp(a->obs, b->obs, no * sizeof(double)) && !memcmp(a->act, b->act, na * sizeof(double)) &&
           !memcmp(a->length, b->length, (size_t)a->n_traj * sizeof(int)) &&
           !memcmp(a->task, b->task, (size_t)a->n_traj * sizeof(int));
}

/* Lengths, padding, tasks, and the end: the first recorded observation meeting the documented
 * criterion is `hold` steps before the end (when the horizon did not cut the demonstration). */
static void check_demos(const fm_demos *d, const int *tasks, int n, const char *what)
{
    int len_ok = 1, pad_ok = 1, task_ok = 1, end_ok = 1, bad = -1, bad_first = 0;
    for (int i = 0; i < n; i++) {
        int L = d->length[i];
        len_ok &= L >= 1 && L <= d->horizon;
        task_ok &= d->task[i] == tasks[i];
        for (int t = L; t < d->horizon; t++) {
            for (int k = 0; k < d->obs_dim; k++)
                pad_ok &= d->obs[((size_t)i * d->horizon + t) * d->obs_dim + k] == 0;
            for (int k = 0; k < d->act_dim; k++)
                pad_ok &= d->act[((size_t)i * d->horizon + t) * d->act_dim + k] == 0;
        }
        int first = -1;
        for (int t = 0; t < L && first < 0; t++)
            if (obs_success(tasks[i], d->obs + ((size_t)i * d->horizon + t) * d->obs_dim))
                first = t;
        int good = L < d->horizon ? first == L - HOLD : (first < 0 || first >= L - HOLD);
        if (!good && end_ok)
            bad = i, bad_first = first;
        end_ok &= good;
    }
    ok(len_ok, "%s: lengths in [1, horizon]", what);
    ok(task_ok, "%s: tasks recorded", what);
    ok(pad_ok, "%s: steps past the length are zero", what);
    if (!ok(end_ok, "%s: each demonstration ends %d steps after the first observation meeting its task's criterion",
            what, HOLD))
        printf("#   first failure: demonstration %d (%s): criterion first met at step %d, length %d\n", bad,
               MT10[tasks[bad]], bad_first, d->length[bad]);
}

static void test_determinism(fm_demos *clean, const int *tasks, int n)
{
    fm_demos b = {0}, c = {0};
    int att = 0;
    ok(gen(&env, 7, tasks, n, clean, &att) == FM_OK, "demonstrations of all 10 tasks generated");
    ok(gen(&env, 7, tasks, n, &b, NULL) == FM_OK, "again from the same seed");
    ok(gen(&env, 8, tasks, n, &c, NULL) == FM_OK, "and from another seed");
    if (clean->obs && b.obs && c.obs) {
        is_int(clean->obs_dim, 49, "demos obs dim 49");
        is_int(clean->act_dim, 4, "demos act dim 4");
        is_int(clean->horizon, HORIZON, "demos padded to the horizon");
        ok(att >= n, "attempts counted (%d for %d demonstrations)", att, n);
        ok(same_demos(clean, &b), "same seed: identical obs, act, length and task bytes");
        ok(memcmp(clean->obs, c.obs, (size_t)n * HORIZON * 49 * sizeof(double)) != 0, "another seed: different obs");
        check_demos(clean, tasks, n, "noise 0");
    }
    fm_demos_free(&b);
    fm_demos_free(&c);
}

/* ---------------------------------------------------------------- 6. DART */

static void test_dart(const fm_demos *clean, const int *tasks, int n)
{
    fm_multitask en;
    fm_err err;
    fm_err_clear(&err);
    if (fm_multitask_build_explicit(K10, HORIZON, HOLD, 1, 0.1, &en, &err) != FM_OK) {
        ok(0, "the DART suite builds: %s", err.msg);
        return;
    }
    fm_demos d = {0}, d2 = {0};
    ok(gen(&en, 7, tasks, n, &d, NULL) == FM_OK, "DART (noise 0.1) demonstrations generated");
    ok(gen(&en, 7, tasks, n, &d2, NULL) == FM_OK, "DART again from the same seed");
    if (d.obs && d2.obs) {
        ok(same_demos(&d, &d2), "DART: same seed, identical bytes");
        double worst = 0;
        int steps = 0;
        for (int i = 0; i < n; i++) {
            fm_mt_episode *e = open_ep(&en, d.task[i], 99);
            if (!e) {
                worst = INFINITY;
                continue;
            }
            for (int t = 0; t < d.length[i]; t++) {
                double a[FM_MT_ACT_DIM];
                const double *o = d.obs + ((size_t)i * d.horizon + t) * d.obs_dim;
                fm_mt_expert(e, o, a);
                worst = fmax(worst, maxdiff(a, d.act + ((size_t)i * d.horizon + t) * d.act_dim, FM_MT_ACT_DIM));
                steps++;
            }
            fm_mt_episode_close(e);
        }
        ok(worst <= 1e-12, "DART: every recorded label is the expert's action on the recorded observation "
           "(%d steps, max diff %.3g)", steps, worst);
        if (clean->obs)
            ok(memcmp(clean->obs, d.obs, (size_t)n * HORIZON * 49 * sizeof(double)) != 0,
               "DART: the observations differ from the noise-0 ones (the noise is executed)");
        /* demonstration 0 starts from the same scene (its draws come before any noise); its next
         * observation already differs (the noisy action ran) */
        if (clean->obs) {
            ok(!memcmp(clean->obs, d.obs, 49 * sizeof(double)),
               "DART: demonstration 0 starts from the noise-0 scene (the first observation is the same)");
            ok(memcmp(clean->obs + 49, d.obs + 49, 49 * sizeof(double)) != 0,
               "DART: its second observation differs (the perturbed action was executed)");
        }
        check_demos(&d, tasks, n, "DART");
    }
    fm_demos_free(&d);
    fm_demos_free(&d2);
    fm_multitask_free(&en);
}

/* ---------------------------------------------------------------- 7. non-finite actions */

static void test_nonfinite(void)
{
    const double NA[2][FM_MT_ACT_DIM] = {{NAN, NAN, NAN, NAN}, {INFINITY, -INFINITY, INFINITY, NAN}};
    const char *name[2] = {"NaN", "+-inf"};
    for (int c = 0; c < 2; c++) {
        fm_mt_episode *e = open_ep(&env, T_PUSH, 51 + (uint64_t)c);
        if (!e) {
            ok(0, "push episode opens");
            continue;
        }
        double o0[PDIM], o[PDIM];
        fm_mt_observe(e, o0);
        int unstable = 0;
        for (int t = 0; t < 5; t++)
            unstable |= fm_mt_step(e, NA[c]);
        fm_mt_observe(e, o);
        ok(!unstable, "%s actions: the simulation stays stable", name[c]);
        ok(maxdiff(o, o0, 3) < 1e-3, "%s actions count as 0: the tcp stays within 1 mm after 5 steps (%.2g m)",
           name[c], maxdiff(o, o0, 3));
        int finite = 1;
        for (int k = 0; k < PDIM; k++)
            finite &= isfinite(o[k]);
        ok(finite, "%s actions: the observation stays finite", name[c]);
        if (c == 0) { /* g = 0: both servos at 0.02 m, pads 4.8 cm apart (0.48) */
            for (int t = 0; t < 25; t++)
                fm_mt_step(e, NA[c]);
            fm_mt_observe(e, o);
            is_close(o[3], 0.48, 0.02, 0, "NaN gripper command counts as g = 0: opening settles at 0.48");
        }
        fm_mt_episode_close(e);
    }
}

int main(void)
{
    test_table();
    fm_err err;
    fm_err_clear(&err);
    if (fm_multitask_build_explicit(K10, HORIZON, HOLD, 1, 0.0, &env, &err) != FM_OK) {
        ok(0, "the MT-10 suite builds: %s", err.msg);
        return done_testing();
    }
    test_build_errors();
    test_experts();
    test_noop();
    test_handmade();
    test_obs_layout();
    test_frame();
    int tasks[K10];
    for (int h = 0; h < K10; h++)
        tasks[h] = h;
    fm_demos clean = {0};
    test_determinism(&clean, tasks, K10);
    test_dart(&clean, tasks, K10);
    fm_demos_free(&clean);
    test_nonfinite();
    fm_multitask_free(&env);
    return done_testing();
}
