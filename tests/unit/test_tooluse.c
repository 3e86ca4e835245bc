/* test_tooluse.c - the MuJoCo tool-use benchmark: tool definitions and their errors, the scene,
 * operational-space tracking and action clipping, point clouds (shape, frame, mask, noise),
 * the keypoint observation (shape, content, frame invariance, no random draws), success detectors
 * (no-op episodes stay unsolved, contact is required, scripted state changes fire), the keypoint
 * expert on fixed seeds of every family, and determinism of demonstrations. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"
#include "env/tooluse/tooluse_internal.h"
#include "tap.h"

#define NPTS 64

static fm_tooluse env4; /* one instance of every family: tasks 0..3 */

static int build_default(fm_tooluse *env, int K, int npoints, double noise)
{
    fm_tu_tool tools[16];
    for (int h = 0; h < K; h++)
        fm_tu_tool_default(h % FM_TU_NFAMILY, h / FM_TU_NFAMILY, &tools[h]);
    fm_err err;
    fm_err_clear(&err);
    fm_status st = fm_tooluse_build_tools(tools, K, 60, npoints, 1, noise, 7, env, &err);
    if (st != FM_OK)
        printf("# build error: %s\n", err.msg);
    return st == FM_OK;
}

static void test_tools(void)
{
    fm_err err;
    fm_tu_tool t;
    for (int f = 0; f < FM_TU_NFAMILY; f++)
        for (int i = 0; i < 4; i++) {
            fm_tu_tool_default(f, i, &t);
            fm_err_clear(&err);
            ok(fm_tu_tool_check(&t, &err) == FM_OK, "built-in tool %s passes its checks", t.name);
        }
    /* four instances of one family differ in handle length and head */
    fm_tu_tool a, b;
    fm_tu_tool_default(FM_TU_WRENCH, 0, &a);
    fm_tu_tool_default(FM_TU_WRENCH, 3, &b);
    ok(a.handle_len != b.handle_len && a.head[0] != b.head[0], "wrench-0 and wrench-3 differ in handle and head");

    fm_tu_tool_default(FM_TU_HAMMER, 1, &t);
    t.handle_len = -0.2;
    fm_err_clear(&err);
    ok(fm_tu_tool_check(&t, &err) == FM_EINVAL && strstr(err.msg, "hammer-1") && strstr(err.msg, "handle_len"),
       "negative handle length names the tool and the field: %s", err.msg);
    fm_tu_tool_default(FM_TU_KNIFE, 0, &t);
    t.obj[1] = 0.006;
    t.head[2] = 0.0035; /* blade thicker than half the gap */
    fm_err_clear(&err);
    ok(fm_tu_tool_check(&t, &err) == FM_EINVAL && strstr(err.msg, "knife-0") && strstr(err.msg, "gap"),
       "a blade that does not fit the gap is rejected: %s", err.msg);
    fm_tu_tool_default(FM_TU_SPATULA, 0, &t);
    t.obj[1] = t.obj[0] + 0.002;
    fm_err_clear(&err);
    ok(fm_tu_tool_check(&t, &err) == FM_EINVAL && strstr(err.msg, "undercut"), "a disc without undercut is rejected");
    fm_tu_tool_default(FM_TU_WRENCH, 2, &t);
    t.head[0] = NAN;
    fm_err_clear(&err);
    ok(fm_tu_tool_check(&t, &err) == FM_EINVAL && strstr(err.msg, "nut width"), "NaN nut width is rejected");
    t.family = 7;
    fm_err_clear(&err);
    ok(fm_tu_tool_check(&t, &err) == FM_EINVAL && strstr(err.msg, "family 7"), "unknown family is rejected");

    /* a malformed tool in a task list: the build fails naming the tool and the task, nothing leaks */
    fm_tu_tool tools[2];
    fm_tu_tool_default(FM_TU_HAMMER, 0, &tools[0]);
    fm_tu_tool_default(FM_TU_SPATULA, 0, &tools[1]);
    tools[1].head[1] = 5.0;
    fm_tooluse env;
    fm_err_clear(&err);
    ok(fm_tooluse_build_tools(tools, 2, 40, NPTS, 1, 0.0, 1, &env, &err) == FM_EINVAL &&
       strstr(err.msg, "spatula-0") && strstr(err.msg, "task 1") && env.task == NULL,
       "build with a malformed tool fails naming it: %s", err.msg);
    fm_err_clear(&err);
    ok(fm_tooluse_build_tools(tools, 1, 40, 63, 1, 0.0, 1, &env, &err) == FM_EINVAL && strstr(err.msg, "even"),
       "an odd number of points is rejected");
}

static void test_config(void)
{
    fm_config cfg;
    fm_err err;
    const char *good = "experiment:\n  name: t\npolicy:\n  arch: mlp\nenv:\n  kind: tooluse\n  num_tasks: 4\n"
                       "  horizon: 30\n  tu_points: 32\n";
    fm_err_clear(&err);
    ok(fm_cfg_load_string(good, "cfg.yaml", &cfg, &err) == FM_OK, "tooluse config loads: %s", err.msg);
    is_int(cfg.env.tu_points, 32, "env.tu_points");
    is_int(cfg.env.tu_proprio, 1, "env.tu_proprio defaults to true");
    is_int(cfg.policy.enc_layers, 2, "policy.enc_layers default");
    fm_tooluse env;
    fm_err_clear(&err);
    ok(fm_tooluse_build(&cfg, &env, &err) == FM_OK && env.K == 4 && fm_tooluse_obs_dim(&env) == 32 * 4 + 12,
       "built from the config: 4 tasks, obs dim 32 * 4 + 12");
    is_str(fm_tooluse_tool(&env, 2)->name, "spatula-0", "task 2 is the first spatula");
    fm_tooluse_free(&env);
    const char *kp = "experiment:\n  name: t\npolicy:\n  arch: mlp\nenv:\n  kind: tooluse\n  num_tasks: 4\n"
                     "  tu_points: 32\n  tu_obs: keypoints\n";
    fm_err_clear(&err);
    ok(fm_cfg_load_string(kp, "cfg.yaml", &cfg, &err) == FM_OK && cfg.env.tu_obs == FM_TU_OBS_KEYPOINTS,
       "env.tu_obs: keypoints loads: %s", err.msg);
    fm_err_clear(&err);
    ok(fm_tooluse_build(&cfg, &env, &err) == FM_OK && fm_tooluse_obs_dim(&env) == FM_TU_KP_DIM + 12,
       "keypoint observation from the config: 35 + 12 values");
    fm_tooluse_free(&env);
    const char *bad = "experiment:\n  name: t\npolicy:\n  arch: mlp\nenv:\n  kind: tooluse\n  tu_obs: voxels\n";
    fm_err_clear(&err);
    ok(fm_cfg_load_string(bad, "cfg.yaml", &cfg, &err) == FM_ECONFIG && strstr(err.msg, "cfg.yaml:7") &&
       strstr(err.msg, "env.tu_obs") && strstr(err.msg, "keypoints"), "an unknown env.tu_obs names the choices: %s",
       err.msg);
    const char *odd = "experiment:\n  name: t\npolicy:\n  arch: mlp\nenv:\n  kind: tooluse\n  tu_points: 33\n";
    fm_err_clear(&err);
    ok(fm_cfg_load_string(odd, "cfg.yaml", &cfg, &err) == FM_ECONFIG && strstr(err.msg, "cfg.yaml:7") &&
       strstr(err.msg, "env.tu_points"), "odd env.tu_points is a config error at its line: %s", err.msg);
}

static double dist3(const double *a, const double *b)
{
    return sqrt((a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) + (a[2] - b[2]) * (a[2] - b[2]));
}

static void test_tracking(void)
{
    fm_rng r;
    fm_err err;
    fm_tu_episode *e = NULL;
    fm_rng_seed(&r, 11, 0, FM_STREAM_EVAL);
    fm_err_clear(&err);
    ok(fm_tu_episode_open(&env4, 0, &r, &e, &err) == FM_OK, "episode opens");
    if (!e)
        return;
    double p0[3], R0[9], p1[3], R1[9], rv[3];
    fm_tu_ee_pose(e, p0, R0);
    const double a[6] = {0.05, -0.03, 0.04, 0.0, 0.0, 0.3};
    ok(fm_tu_step(e, a) == 0, "step is stable");
    fm_tu_ee_pose(e, p1, R1);
    double want[3] = {p0[0] + 0.05, p0[1] - 0.03, p0[2] + 0.04}, Rw[9];
    ok(dist3(p1, want) < 0.002, "position tracked to %.2f mm after 0.32 s", 1e3 * dist3(p1, want));
    fm_tu_rot_apply(a + 3, R0, Rw);
    fm_tu_rot_error(Rw, R1, rv);
    ok(sqrt(rv[0] * rv[0] + rv[1] * rv[1] + rv[2] * rv[2]) < 0.02, "orientation tracked to %.4f rad",
       sqrt(rv[0] * rv[0] + rv[1] * rv[1] + rv[2] * rv[2]));
    /* actions beyond the bounds are clipped to +-0.08 m / +-0.6 rad, non-finite ones count as 0 */
    fm_tu_ee_pose(e, p0, R0);
    const double big[6] = {1.0, NAN, 0.0, 0, 0, 0};
    fm_tu_step(e, big);
    fm_tu_ee_pose(e, p1, R1);
    ok(fabs(p1[0] - p0[0] - FM_TU_MAX_DPOS) < 0.003 && fabs(p1[1] - p0[1]) < 0.003,
       "x moved by the bound (%.4f m), NaN y did not move (%.4f m)", p1[0] - p0[0], p1[1] - p0[1]);
    fm_tu_episode_close(e);
}

static void test_points(void)
{
    fm_rng r, rn;
    fm_err err;
    fm_tu_episode *e = NULL;
    int od = fm_tooluse_obs_dim(&env4);
    is_int(od, NPTS * FM_TU_CHANNELS + FM_TU_PROPRIO_DIM, "obs dim = points x 4 + 12");
    double *o0 = calloc((size_t)od, sizeof *o0), *o1 = calloc((size_t)od, sizeof *o1);
    fm_rng_seed(&r, 12, 0, FM_STREAM_EVAL);
    fm_rng_seed(&rn, 13, 0, FM_STREAM_EVAL);
    fm_err_clear(&err);
    if (fm_tu_episode_open(&env4, 1, &r, &e, &err) != FM_OK || !o0 || !o1) {
        ok(0, "episode opens");
        free(o0), free(o1);
        return;
    }
    fm_tu_observe(e, &rn, o0);
    int mask_ok = 1;
    for (int i = 0; i < NPTS; i++)
        mask_ok &= o0[4 * i + 3] == (i < NPTS / 2 ? 1.0 : 0.0);
    ok(mask_ok, "first half of the points carry mask 1 (tool), the rest 0 (object)");
    double pe[3], Re[9];
    fm_tu_ee_pose(e, pe, Re);
    int prop_ok = 1;
    for (int i = 0; i < 3; i++)
        prop_ok &= o0[4 * NPTS + i] == pe[i];
    for (int i = 0; i < 9; i++)
        prop_ok &= o0[4 * NPTS + 3 + i] == Re[i];
    ok(prop_ok, "proprioception = end-effector position and rotation");
    double maxr = 0;
    for (int i = 0; i < NPTS / 2; i++)
        maxr = fmax(maxr, sqrt(o0[4 * i] * o0[4 * i] + o0[4 * i + 1] * o0[4 * i + 1] + o0[4 * i + 2] * o0[4 * i + 2]));
    ok(maxr < 0.45, "tool points lie within the tool's reach of the end effector (%.3f m)", maxr);
    /* move the arm (no contact): tool points are fixed in the end-effector frame; object points
     * mapped back to the world do not move (point noise is 0 in env4) */
    const double a[6] = {0.03, 0.02, 0.05, 0.1, -0.1, 0.2};
    fm_tu_step(e, a);
    fm_tu_observe(e, &rn, o1);
    double dtool = 0, dobj = 0, pe1[3], Re1[9];
    fm_tu_ee_pose(e, pe1, Re1);
    for (int i = 0; i < NPTS; i++) {
        if (i < NPTS / 2) {
            dtool = fmax(dtool, dist3(o0 + 4 * i, o1 + 4 * i));
            continue;
        }
        double w0[3], w1[3];
        for (int k = 0; k < 3; k++) {
            w0[k] = pe[k] + Re[3 * k] * o0[4 * i] + Re[3 * k + 1] * o0[4 * i + 1] + Re[3 * k + 2] * o0[4 * i + 2];
            w1[k] = pe1[k] + Re1[3 * k] * o1[4 * i] + Re1[3 * k + 1] * o1[4 * i + 1] + Re1[3 * k + 2] * o1[4 * i + 2];
        }
        dobj = fmax(dobj, dist3(w0, w1));
    }
    ok(dtool < 1e-9, "tool points are fixed in the end-effector frame (max change %.2g m)", dtool);
    ok(dobj < 1e-6, "object points are world-fixed after mapping back (max change %.2g m)", dobj);
    ok(dist3(pe, pe1) > 0.03, "the arm did move (%.3f m)", dist3(pe, pe1));
    fm_tu_episode_close(e);
    free(o0), free(o1);

    /* with noise: the per-coordinate standard deviation matches */
    fm_tooluse envn;
    if (!build_default(&envn, 1, 512, 0.004)) {
        ok(0, "noisy env builds");
        return;
    }
    od = fm_tooluse_obs_dim(&envn);
    double *a0 = calloc((size_t)od, sizeof *a0), *a1 = calloc((size_t)od, sizeof *a1);
    fm_rng_seed(&r, 14, 0, FM_STREAM_EVAL);
    e = NULL;
    if (a0 && a1 && fm_tu_episode_open(&envn, 0, &r, &e, &err) == FM_OK) {
        fm_tu_observe(e, &rn, a0);
        fm_tu_observe(e, &rn, a1);
        double s2 = 0;
        for (int i = 0; i < 512; i++)
            for (int k = 0; k < 3; k++)
                s2 += (a0[4 * i + k] - a1[4 * i + k]) * (a0[4 * i + k] - a1[4 * i + k]);
        double sd = sqrt(s2 / (512 * 3) / 2); /* difference of two draws has variance 2 sd^2 */
        ok(fabs(sd - 0.004) < 0.0004, "point noise std %.5f m (configured 0.004)", sd);
    }
    fm_tu_episode_close(e);
    free(a0), free(a1);
    fm_tooluse_free(&envn);
}

/* World point of a position v given in the end-effector frame (pe, Re): pe + Re v. */
static void from_ee(const double pe[3], const double Re[9], const double *v, double *w)
{
    for (int k = 0; k < 3; k++)
        w[k] = pe[k] + Re[3 * k] * v[0] + Re[3 * k + 1] * v[1] + Re[3 * k + 2] * v[2];
}

/* The keypoint observation against the episode's own draws (object placement and yaw), rigid-body
 * facts (tool keypoints fixed in the hand, the object fixed in the world while the arm moves
 * without contact) and the layout of tooluse.h. */
static void test_keypoints(void)
{
    env4.obs = FM_TU_OBS_KEYPOINTS;
    int od = fm_tooluse_obs_dim(&env4);
    is_int(od, FM_TU_KP_DIM + FM_TU_PROPRIO_DIM, "keypoint obs dim = 35 + 12");
    double o0[FM_TU_KP_DIM + FM_TU_PROPRIO_DIM], o1[FM_TU_KP_DIM + FM_TU_PROPRIO_DIM];
    for (int h = 0; h < FM_TU_NFAMILY; h++) {
        fm_rng r, rn, rc;
        fm_err err;
        fm_tu_episode *e = NULL;
        fm_rng_seed(&r, 40 + h, 0, FM_STREAM_EVAL);
        fm_rng_seed(&rn, 50, 0, FM_STREAM_EVAL);
        fm_err_clear(&err);
        if (fm_tu_episode_open(&env4, h, &r, &e, &err) != FM_OK) {
            ok(0, "episode opens: %s", err.msg);
            continue;
        }
        rc = rn;
        fm_tu_observe(e, &rn, o0);
        ok(fm_rng_u64(&rn) == fm_rng_u64(&rc), "task %d: the keypoint observation draws no noise", h);
        int hot = 1;
        for (int f = 0; f < FM_TU_NFAMILY; f++)
            hot &= o0[31 + f] == (f == h ? 1.0 : 0.0);
        ok(hot, "task %d: values 31-34 are the family one-hot", h);
        double pe[3], Re[9], pe1[3], Re1[9], w[3], w1[3];
        fm_tu_ee_pose(e, pe, Re);
        int prop = 1;
        for (int i = 0; i < 3; i++)
            prop &= o0[FM_TU_KP_DIM + i] == pe[i];
        for (int i = 0; i < 9; i++)
            prop &= o0[FM_TU_KP_DIM + 3 + i] == Re[i];
        ok(prop, "task %d: proprioception follows the keypoints", h);
        /* the object base, mapped back to the world, is where the episode placed it */
        from_ee(pe, Re, o0 + 12, w);
        ok(fabs(w[0] - e->obj_pos[0]) < 1e-9 && fabs(w[1] - e->obj_pos[1]) < 1e-9,
           "task %d: object base at the drawn placement (%.4f, %.4f)", h, w[0], w[1]);
        double Rw[9]; /* world from object = Re (E from object) */
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                Rw[3 * i + j] = Re[3 * i] * o0[15 + j] + Re[3 * i + 1] * o0[18 + j] + Re[3 * i + 2] * o0[21 + j];
        ok(fabs(atan2(Rw[3], Rw[0]) - e->obj_yaw) < 1e-9 && fabs(Rw[8] - 1.0) < 1e-9,
           "task %d: object orientation = the drawn yaw about the vertical", h);
        ok(o0[30] == fm_tu_progress(e) && fabs(o0[30]) < 1e-3, "task %d: progress %.2g at the start", h, o0[30]);
        /* the head keypoint against MuJoCo's own local-to-global map of the tool body (another path
         * than the observation's rotation: a transposed tool rotation fails here) */
        void *vm, *vd;
        fm_tu_episode_mj(e, &vm, &vd);
        mjtNum kp[3] = {e->t->kp[0][0], e->t->kp[0][1], e->t->kp[0][2]}, kw[3], kxm[9];
        mj_local2Global((mjData *)vd, kw, kxm, kp, NULL, mj_name2id((mjModel *)vm, mjOBJ_BODY, "tool"), 0);
        from_ee(pe, Re, o0, w);
        ok(dist3(w, kw) < 1e-9, "task %d: the head keypoint maps back to MuJoCo's world point (%.1g m)", h, dist3(w, kw));
        double head_tail = dist3(o0, o0 + 3);
        ok(head_tail > 0.05 && head_tail < 0.5, "task %d: head and tail %.3f m apart", h, head_tail);
        double parts = dist3(o0 + 24, o0 + 27);
        ok(h == FM_TU_KNIFE ? parts > 0.01 : parts == 0.0, "task %d: moving parts %.3f m apart (two only for the knife)",
           h, parts);
        /* move the arm: tool keypoints are fixed in E, the object is fixed in the world */
        const double a[6] = {-0.02, 0.03, 0.06, 0.1, 0.1, -0.2};
        fm_tu_step(e, a);
        fm_tu_observe(e, &rn, o1);
        fm_tu_ee_pose(e, pe1, Re1);
        double dtool = 0, dobj = 0;
        for (int k = 0; k < 4; k++)
            dtool = fmax(dtool, dist3(o0 + 3 * k, o1 + 3 * k));
        for (int k = 0; k < 3; k++) { /* base and both moving parts */
            const int at[3] = {12, 24, 27};
            from_ee(pe, Re, o0 + at[k], w);
            from_ee(pe1, Re1, o1 + at[k], w1);
            dobj = fmax(dobj, dist3(w, w1));
        }
        ok(dist3(pe, pe1) > 0.03 && dtool < 1e-9 && dobj < (h == FM_TU_SPATULA ? 1e-3 : 1e-5), /* the free disc settles */
           "task %d: arm moved %.3f m; tool keypoints changed %.1g m in E, object %.1g m in the world", h,
           dist3(pe, pe1), dtool, dobj);
        fm_tu_episode_close(e);
    }
    /* demonstrations in keypoint mode: the expert's plan does not depend on the observation */
    fm_demos d = {0};
    fm_rng r;
    fm_err err;
    int tasks[4] = {0, 1, 2, 3};
    fm_rng_seed(&r, 60, 0, FM_STREAM_DATA);
    fm_err_clear(&err);
    ok(fm_tooluse_generate(&env4, tasks, 4, &r, &d, NULL, &err) == FM_OK && d.obs_dim == od,
       "keypoint demonstrations of every family, obs dim %d: %s", d.obs_dim, err.msg);
    fm_demos_free(&d);
    env4.obs = FM_TU_OBS_POINTS;
}

/* env.tu_demo_end: success. The first demonstration of each family from the same stream is a
 * prefix of the whole-plan one (same draws until it stops); for the hammer it is shorter (the
 * retreat after the pin is down is gone) and ends with a strike, the step that drove the pin. */
static void test_demo_end(void)
{
    for (int h = 0; h < FM_TU_NFAMILY; h++) {
        fm_demos a = {0}, b = {0};
        fm_rng r;
        fm_err err;
        int task = h;
        env4.demo_end = FM_TU_END_PLAN;
        fm_rng_seed(&r, 70, 0, FM_STREAM_DATA);
        fm_status sa = fm_tooluse_generate(&env4, &task, 1, &r, &a, NULL, &err);
        env4.demo_end = FM_TU_END_SUCCESS;
        fm_rng_seed(&r, 70, 0, FM_STREAM_DATA);
        fm_status sb = fm_tooluse_generate(&env4, &task, 1, &r, &b, NULL, &err);
        env4.demo_end = FM_TU_END_PLAN;
        if (sa != FM_OK || sb != FM_OK) {
            ok(0, "task %d: demonstrations generate: %s", h, err.msg);
            continue;
        }
        int la = a.length[0], lb = b.length[0], od = a.obs_dim, same = lb <= la;
        for (int t = 0; same && t < lb; t++)
            same = !memcmp(a.obs + (size_t)t * od, b.obs + (size_t)t * od, sizeof(double) * od) &&
                   !memcmp(a.act + (size_t)t * 6, b.act + (size_t)t * 6, sizeof(double) * 6);
        ok(same, "task %d: the demonstration that stops at success (%d steps) is a prefix of the whole plan (%d)",
           h, lb, la);
        if (h == FM_TU_HAMMER)
            ok(lb < la && b.act[(size_t)(lb - 1) * 6 + 2] < -0.06,
               "hammer: %d steps instead of %d, the last label a strike (dz %.3f m)", lb, la,
               b.act[(size_t)(lb - 1) * 6 + 2]);
        fm_demos_free(&a), fm_demos_free(&b);
    }
}

/* Zero actions for 10 steps: nothing moves, no family succeeds; forcing the success state
 * without contact does not count, with contact it does. */
static void test_detectors(void)
{
    for (int h = 0; h < FM_TU_NFAMILY; h++) {
        fm_rng r;
        fm_err err;
        fm_tu_episode *e = NULL;
        fm_rng_seed(&r, 20 + h, 0, FM_STREAM_EVAL);
        fm_err_clear(&err);
        if (fm_tu_episode_open(&env4, h, &r, &e, &err) != FM_OK) {
            ok(0, "episode opens");
            continue;
        }
        const char *name = fm_tooluse_tool(&env4, h)->name;
        const double zero[6] = {0};
        for (int t = 0; t < 10; t++)
            fm_tu_step(e, zero);
        ok(!fm_tu_success(e) && fabs(fm_tu_progress(e)) < 2e-3 && !fm_tu_touched(e),
           "%s: a no-op episode does not succeed (progress %.5f)", name, fm_tu_progress(e));
        /* scripted state: move the object joint past the threshold */
        mjModel *m = e->m;
        mjData *d = e->d;
        int a0 = m->jnt_qposadr[e->t->jnt_obj[0]];
        switch (h) {
        case FM_TU_HAMMER: d->qpos[a0] -= 0.012; break;
        case FM_TU_WRENCH: d->qpos[a0] += 0.45; break;
        case FM_TU_SPATULA: d->qpos[a0 + 2] += 0.06; break;
        case FM_TU_KNIFE: d->qpos[m->jnt_qposadr[e->t->jnt_obj[1]]] += 0.055; break;
        }
        ok(!fm_tu_success(e), "%s: the state criterion alone (no tool contact) is not a success", name);
        e->touched = 1;
        ok(fm_tu_success(e), "%s: state criterion + contact is a success (progress %.3f)", name, fm_tu_progress(e));
        fm_tu_episode_close(e);
    }
}

/* The keypoint expert on fixed scenes of every family (the benchmark's measured success rates over
 * 100 scenes are in docs/tooluse.md; here: a fixed set of seeds must succeed). */
static void test_expert(void)
{
    for (int h = 0; h < FM_TU_NFAMILY; h++) {
        int succ = 0, n = 6, contact = 1;
        for (int s = 0; s < n; s++) {
            fm_rng r;
            fm_rng_seed(&r, 300 + s, 0, FM_STREAM_EVAL);
            fm_episode_score sc;
            fm_tooluse_episode(&env4, h, NULL, &r, &sc);
            succ += sc.balanced;
            contact &= !sc.balanced || sc.at_setpoint;
        }
        ok(succ >= n - 1, "%s expert succeeds on %d of %d fixed scenes", fm_tooluse_tool(&env4, h)->name, succ, n);
        ok(contact, "%s: every success touched the object", fm_tooluse_tool(&env4, h)->name);
    }
}

static void test_demos(void)
{
    fm_rng r1, r2;
    fm_demos d1 = {0}, d2 = {0};
    fm_err err;
    int tasks[4] = {0, 1, 3, 0}, att = 0;
    fm_rng_seed(&r1, 40, 2, FM_STREAM_DATA);
    fm_rng_seed(&r2, 40, 2, FM_STREAM_DATA);
    fm_err_clear(&err);
    ok(fm_tooluse_generate(&env4, tasks, 4, &r1, &d1, &att, &err) == FM_OK, "demonstrations generated: %s", err.msg);
    ok(fm_tooluse_generate(&env4, tasks, 4, &r2, &d2, NULL, &err) == FM_OK, "again from the same seed");
    if (d1.obs && d2.obs) {
        size_t no = (size_t)d1.n_traj * d1.horizon * d1.obs_dim, na = (size_t)d1.n_traj * d1.horizon * d1.act_dim;
        ok(!memcmp(d1.obs, d2.obs, no * sizeof(double)) && !memcmp(d1.act, d2.act, na * sizeof(double)) &&
           !memcmp(d1.length, d2.length, 4 * sizeof(int)), "same seed, same demonstrations (bit for bit)");
        is_int(d1.obs_dim, fm_tooluse_obs_dim(&env4), "obs dim");
        is_int(d1.act_dim, 6, "action dim 6");
        ok(att >= 4, "attempts counted (%d)", att);
        int len_ok = 1, bound_ok = 1, pad_ok = 1;
        for (int i = 0; i < 4; i++) {
            len_ok &= d1.length[i] > 3 && d1.length[i] <= d1.horizon && d1.task[i] == tasks[i];
            for (int t = 0; t < d1.horizon; t++)
                for (int k = 0; k < 6; k++) {
                    double v = d1.act[((size_t)i * d1.horizon + t) * 6 + k];
                    bound_ok &= fabs(v) <= (k < 3 ? FM_TU_MAX_DPOS : FM_TU_MAX_DROT) + 1e-12;
                    if (t >= d1.length[i])
                        pad_ok &= v == 0;
                }
        }
        ok(len_ok, "lengths within the horizon and tasks recorded");
        /* issue 13: no recorded step whose observation is (up to point noise) the next one's while
         * its label is ~0 and the next label a skill's first move (the old settle step) */
        int conflict = 0;
        for (int i = 0; i < 4; i++)
            for (int t = 0; t + 1 < d1.length[i]; t++) {
                const double *a0 = d1.act + ((size_t)i * d1.horizon + t) * 6, *a1 = a0 + 6;
                double n0 = sqrt(a0[0] * a0[0] + a0[1] * a0[1] + a0[2] * a0[2]);
                double n1 = sqrt(a1[0] * a1[0] + a1[1] * a1[1] + a1[2] * a1[2]);
                conflict += n0 < 0.001 && n1 > 0.01;
            }
        is_int(conflict, 0, "no recorded standstill label before a skill's first move (the settle step is not recorded)");
        ok(bound_ok, "recorded actions respect the bounds");
        ok(pad_ok, "steps past the length are zero");
    }
    fm_demos_free(&d1);
    fm_demos_free(&d2);
    int bad[1] = {9};
    fm_err_clear(&err);
    ok(fm_tooluse_generate(&env4, bad, 1, &r1, &d1, NULL, &err) == FM_EINVAL && strstr(err.msg, "task 9"),
       "a task outside [0, K) is an error: %s", err.msg);
}

/* RMS over recorded consecutive steps of (end-effector move) - (recorded label), position part:
 * how far the executed action was from the label (plus the controller's tracking error). */
static double label_residual(const fm_demos *d, int npoints)
{
    double s = 0;
    long n = 0;
    int ip = npoints * FM_TU_CHANNELS;
    for (int i = 0; i < d->n_traj; i++)
        for (int t = 0; t + 1 < d->length[i]; t++) {
            const double *o0 = d->obs + ((size_t)i * d->horizon + t) * d->obs_dim, *o1 = o0 + d->obs_dim;
            const double *a = d->act + ((size_t)i * d->horizon + t) * d->act_dim;
            for (int k = 0; k < 3; k++)
                s += (o1[ip + k] - o0[ip + k] - a[k]) * (o1[ip + k] - o0[ip + k] - a[k]), n++;
        }
    return n ? sqrt(s / n) : NAN;
}

/* DART (env.tu_action_noise): the executed action is perturbed, the recorded label is the clean
 * expert action. Judged from the recorded data: (1) the first demonstration's first label, taken
 * in the same scene and observation with and without DART (the noise is drawn after it), is the
 * same bit for bit, and its second differs (the arm went elsewhere); a label recorded after the
 * perturbation differs already at step 0. (2) The end effector's moves depart from the labels by
 * about the noise (2 mm std here) more than the tracking error alone. Same seed, same bytes. */
static void test_dart(void)
{
    int tasks[6] = {0, 1, 2, 3, 0, 1};
    fm_demos d0 = {0}, d1 = {0}, d2 = {0};
    fm_rng r;
    fm_err err;
    fm_err_clear(&err);
    env4.action_noise = 0.0;
    fm_rng_seed(&r, 41, 0, FM_STREAM_DATA);
    ok(fm_tooluse_generate(&env4, tasks, 6, &r, &d0, NULL, &err) == FM_OK, "clean demonstrations (%s)", err.msg);
    env4.action_noise = 0.025;
    fm_rng_seed(&r, 41, 0, FM_STREAM_DATA);
    ok(fm_tooluse_generate(&env4, tasks, 6, &r, &d1, NULL, &err) == FM_OK, "DART demonstrations (%s)", err.msg);
    fm_rng_seed(&r, 41, 0, FM_STREAM_DATA);
    fm_tooluse_generate(&env4, tasks, 6, &r, &d2, NULL, &err);
    if (d0.obs && d1.obs && d2.obs) {
        double r0 = label_residual(&d0, NPTS), r1 = label_residual(&d1, NPTS);
        ok(r1 > r0 + 0.001, "executed moves depart from the clean labels by the noise: residual %.4f m vs %.4f "
           "without DART", r1, r0);
        ok(r1 < r0 + 0.02, "and not by more than a few noise std (%.4f m)", r1);
        ok(d0.task[0] == d1.task[0] && !memcmp(d0.act, d1.act, 6 * sizeof(double)),
           "the first label is the clean expert action, with or without DART");
        ok(memcmp(d0.act + 6, d1.act + 6, 6 * sizeof(double)) != 0, "the second differs: the perturbed action ran");
        int bound_ok = 1;
        for (size_t j = 0; j < (size_t)d1.n_traj * d1.horizon * 6; j++)
            bound_ok &= fabs(d1.act[j]) <= (j % 6 < 3 ? FM_TU_MAX_DPOS : FM_TU_MAX_DROT) + 1e-12;
        ok(bound_ok, "DART labels respect the bounds");
        size_t no = (size_t)d1.n_traj * d1.horizon * d1.obs_dim, na = (size_t)d1.n_traj * d1.horizon * d1.act_dim;
        ok(!memcmp(d1.obs, d2.obs, no * sizeof(double)) && !memcmp(d1.act, d2.act, na * sizeof(double)) &&
               !memcmp(d1.length, d2.length, 6 * sizeof(int)),
           "DART: same seed, same demonstrations (bit for bit)");
    }
    env4.action_noise = 0.0;
    fm_demos_free(&d0), fm_demos_free(&d1), fm_demos_free(&d2);
}

int main(void)
{
    test_tools();
    test_config();
    if (!build_default(&env4, 4, NPTS, 0.0))
        return ok(0, "tool-use env builds"), done_testing();
    test_tracking();
    test_points();
    test_keypoints();
    test_detectors();
    test_expert();
    test_demos();
    test_dart();
    test_demo_end();
    fm_tooluse_free(&env4);
    return done_testing();
}
