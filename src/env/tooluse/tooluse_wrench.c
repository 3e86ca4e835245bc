/* tooluse_wrench.c - the wrench family of the tool-use benchmark (docs/tooluse.md): open jaws slide
 * over a hex nut on a bolt and turn it by 0.4 rad. */
#include <math.h>
#include <string.h>

#include "env/tooluse/tooluse_internal.h"

/* the turn about the nut axis, in WRENCH_STEPS actions of WRENCH_TURN rad */
#define WRENCH_STEPS 4
#define WRENCH_TURN 0.22

static void wrench_default(int j, int k, fm_tu_tool *t)
{
    t->handle_len = fm_tu_lerp4(0.14, 0.22, j);
    t->head[0] = fm_tu_lerp4(0.018, 0.030, (j + k) % 4);
    t->head[1] = 0.0015; /* total: sub-millimetre per side, the hex must not turn inside the jaws */
    t->head[2] = 0.008;
    t->obj[0] = 0.014 + 0.002 * (j % 2);
}

/* corner-to-corner 2 W / sqrt(3) must exceed the jaw opening W + c */
static fm_status wrench_check(const fm_tu_tool *t, const char *name, fm_err *err)
{
    fm_status status = FM_OK;
    FM_CHECK(t->head[1] < 0.15 * t->head[0], FM_EINVAL,
             "tool %s (wrench): jaw clearance %g must be below 0.15 x the nut width %g, or the nut turns "
             "freely inside the jaws", name, t->head[1], t->head[0]);
cleanup:
    return status;
}

/* the handle ends in a flat shank as thick as the jaws, so the round handle clears the bolt that
 * sticks out above the nut and the base plate below it (the plate reaches 5.7 cm from the nut axis) */
static void wrench_geoms(fm_tu_sbuf *b, const fm_tu_tool *t)
{
    const double L = t->handle_len;
    fm_tu_sb_printf(b, "<geom class=\"tool\" name=\"shank\" type=\"box\" pos=\"%.5f 0 0\" size=\"0.033 0.007 %.5f\" "
                       "mass=\"0.03\"/>\n", L - 0.037, 0.5 * t->head[2]);
    double W = t->head[0], c = t->head[1], jt = t->head[2], pt = 0.006, depth = 1.3 * W;
    double yo = 0.5 * (W + c) + 0.5 * pt;
    fm_tu_sb_printf(b, "<geom class=\"tool\" name=\"jaw_back\" type=\"box\" pos=\"%.5f 0 0\" size=\"0.004 %.5f %.5f\" "
                       "mass=\"0.05\"/>\n", L - 0.004, yo + 0.5 * pt, 0.5 * jt);
    for (int s = -1; s <= 1; s += 2)
        fm_tu_sb_printf(b, "<geom class=\"tool\" name=\"jaw_%s\" type=\"box\" pos=\"%.5f %.5f 0\" "
                           "size=\"%.5f %.5f %.5f\" mass=\"0.04\"/>\n", s < 0 ? "l" : "r", L + 0.5 * depth, s * yo,
                        0.5 * depth, 0.5 * pt, 0.5 * jt);
}

static void wrench_assets(fm_tu_sbuf *b, const fm_tu_tool *t)
{
    fm_tu_mjcf_prism(b, "hexnut", 6, t->head[0] / sqrt(3.0), t->head[0] / sqrt(3.0), t->obj[0], 0.0);
}

static void wrench_object(fm_tu_sbuf *b, const fm_tu_tool *t)
{
    fm_tu_sb_printf(b,
        "<body name=\"obj\" pos=\"0.5 0 0\">\n"
        " <geom class=\"obj\" name=\"plate\" type=\"box\" pos=\"0 0 0.01\" size=\"0.04 0.04 0.01\"/>\n"
        " <geom class=\"obj\" name=\"bolt\" type=\"cylinder\" pos=\"0 0 %.5f\" size=\"%.5f %.5f\"/>\n"
        " <body name=\"nut\" pos=\"0 0 0.02\">\n"
        "  <joint name=\"nut\" type=\"hinge\" axis=\"0 0 1\" armature=\"0.01\" frictionloss=\"0.3\" damping=\"0.02\" "
        "solimpfriction=\"0.9999 0.9999 0.001\" solreffriction=\"0.004 1\"/>\n"
        "  <geom class=\"obj\" name=\"nut\" type=\"mesh\" mesh=\"hexnut\" mass=\"0.05\"/>\n"
        " </body>\n</body>\n",
        0.02 + 0.5 * (t->obj[0] + 0.01), 0.22 * t->head[0], 0.5 * (t->obj[0] + 0.01));
}

/* how far the nut turned, either way */
static double wrench_progress(const fm_tu_episode *e)
{
    return fabs(e->d->qpos[e->m->jnt_qposadr[e->t->jnt_obj[0]]]);
}

/* centre of the jaw opening (where the nut's axis goes) */
static void wrench_keypoints(const fm_tu_tool *t, double kp[FM_TU_NKP][3])
{
    const double L = t->handle_len;
    kp[0][0] = L + t->head[0] / sqrt(3.0) + 0.002; /* a hex corner clears the back wall */
    kp[2][0] = L, kp[2][1] = 0.5 * (t->head[0] + t->head[1]) + 0.006;
}

/* the jaw centre on the nut's mid-height, jaws flat, the slot along a vertex direction of the hex:
 * six candidates, one per flat */
static int wrench_actuation(fm_tu_episode *e, fm_tu_ik_prob cand[FM_TU_MAX_CAND], double dirs[FM_TU_MAX_CAND][3],
                            double objp[3], double *lift)
{
    (void)dirs;
    const fm_tu_task *t = e->t;
    const mjData *d = e->d;
    int tb = t->body_tool, ncand = 0, nut = e->m->jnt_bodyid[t->jnt_obj[0]];
    double mid[3] = {0, 0, 0.5 * t->tool.obj[0]};
    fm_tu_body_point(d, nut, mid, objp);
    const mjtNum *Rn = d->xmat + 9 * nut;
    double yaw = atan2(Rn[3], Rn[0]);
    for (int k = 0; k < 6; k++) {
        fm_tu_ik_prob *c = &cand[ncand++];
        double a = yaw + k * M_PI / 3;
        c->npt = 1;
        c->pt[0].body = tb;
        memcpy(c->pt[0].loc, t->kp[0], sizeof c->pt[0].loc);
        memcpy(c->pt[0].tgt, objp, sizeof c->pt[0].tgt);
        c->nvec = 2;
        fm_tu_vec_target(&c->vec[0], tb, 0, 0, 1, 0, 0, -1);
        fm_tu_vec_target(&c->vec[1], tb, 1, 0, 0, cos(a), sin(a), 0);
        c->nvia = 2; /* halfway through and at the end of the turn */
        c->via[0][3] = 0.5 * WRENCH_STEPS * WRENCH_TURN;
        c->via[1][3] = WRENCH_STEPS * WRENCH_TURN;
    }
    *lift = 0.05;
    return ncand;
}

/* down onto the nut, turn about its axis, lift */
static void wrench_skill(fm_tu_episode *e, const double objp[3], const double pa[3], const double Ra[9],
                         const double pp[3])
{
    (void)pp;
    double p1[3], R1[9];
    fm_tu_push_line(e, pa, Ra, 0.025, 0.3);
    double c[3] = {objp[0], objp[1], pa[2]};
    for (int k = 1; k <= WRENCH_STEPS; k++) {
        fm_tu_rotate_about_z(c, WRENCH_TURN * k, pa, Ra, p1, R1);
        fm_tu_push_wp(e, p1, R1, -1);
    }
    double p2[3];
    fm_tu_shifted(p1, 0, 0, 0.06, p2);
    fm_tu_push_wp(e, p2, R1, -1);
}

const fm_tu_family_def FM_TU_WRENCH_DEF = {
    .name = "wrench",
    .tool_default = wrench_default,
    .range = {{"nut width", 0.012, 0.040}, {"jaw clearance", 0.0005, 0.006}, {"jaw thickness", 0.004, 0.012},
              {"nut height", 0.010, 0.025}, {"obj[1]", 0, 0}, {"obj[2]", 0, 0}},
    .tool_check = wrench_check,
    .handle_cut = 0.065,
    .tool_geoms = wrench_geoms,
    .option = "",
    .assets = wrench_assets,
    .object = wrench_object,
    .exclude = "nut",
    .joint = {"nut", NULL},
    .progress = wrench_progress,
    .success_at = 0.4,
    .keypoints = wrench_keypoints,
    .actuation = wrench_actuation,
    .skill = wrench_skill,
};
