/* tooluse_spatula.c - the spatula family of the tool-use benchmark (docs/tooluse.md): the blade
 * slides under an undercut disc pushed against a backstop, scoops it and lifts it by 5 cm. */
#include <math.h>
#include <string.h>

#include "env/tooluse/tooluse_internal.h"

/* The blade tip starts SPATULA_BACK behind the disc rim and is pushed spatula_push() toward the
 * backstop (3 mm beyond the rim, spatula_reset), stopping 4 mm short of it. */
#define SPATULA_BACK 0.012
static double spatula_push(const fm_tu_tool *tl) { return 2 * tl->obj[0] + SPATULA_BACK + 0.003 - 0.004; }

static void spatula_default(int j, int k, fm_tu_tool *t)
{
    t->handle_len = fm_tu_lerp4(0.14, 0.22, j);
    t->head[0] = fm_tu_lerp4(0.08, 0.11, (j + k) % 4);
    t->head[1] = fm_tu_lerp4(0.07, 0.09, (j + 1) % 4);
    t->head[2] = 0.35 + 0.1 * (j % 2);
    t->obj[0] = fm_tu_lerp4(0.028, 0.036, (j + 2) % 4);
    t->obj[1] = t->obj[0] - 0.012; /* a steep undercut: the blade edge wedges the disc up */
    t->obj[2] = 0.010;
}

static fm_status spatula_check(const fm_tu_tool *t, const char *name, fm_err *err)
{
    fm_status status = FM_OK;
    FM_CHECK(t->obj[1] < t->obj[0], FM_EINVAL,
             "tool %s (spatula): disc bottom radius %g must be below its top radius %g (the undercut "
             "the blade slides under)", name, t->obj[1], t->obj[0]);
cleanup:
    return status;
}

/* the handle ends in a thin neck so it clears the table when the blade lies flat */
static void spatula_geoms(fm_tu_sbuf *b, const fm_tu_tool *t)
{
    const double L = t->handle_len, hl = L - 0.05;
    fm_tu_sb_printf(b, "<geom class=\"tool\" name=\"neck\" type=\"capsule\" fromto=\"%.5f 0 0 %.5f 0 0\" "
                       "size=\"0.004\" mass=\"0.02\"/>\n", hl, L);
    double bl = t->head[0], bw = t->head[1], d = t->head[2];
    /* blade bent up from the handle by d (toward -z): flat on the table when the handle slopes down.
     * A thin (2 mm) smooth steel blade: priority 1 makes its friction (0.3) govern its contacts, so
     * the disc rides up the blade edge instead of gripping it (the randomized object friction
     * still applies between the disc and the table and the backstop) */
    double cx = L + 0.5 * bl * cos(d), cz = -0.5 * bl * sin(d);
    fm_tu_sb_printf(b, "<geom class=\"tool\" name=\"blade\" type=\"box\" pos=\"%.5f 0 %.5f\" "
                       "quat=\"%.6f 0 %.6f 0\" size=\"%.5f %.5f 0.001\" priority=\"1\" friction=\"0.3 0.005 0.0001\" "
                       "mass=\"0.06\"/>\n", cx, cz, cos(0.5 * d), sin(0.5 * d), 0.5 * bl, 0.5 * bw);
}

static void spatula_assets(fm_tu_sbuf *b, const fm_tu_tool *t)
{
    fm_tu_mjcf_prism(b, "disc", 24, t->obj[1], t->obj[0], t->obj[2], 0.0);
}

static void spatula_object(fm_tu_sbuf *b, const fm_tu_tool *t)
{
    (void)t;
    fm_tu_sb_printf(b,
        "<body name=\"obj\" pos=\"0.5 0 0.0005\">\n"
        " <freejoint name=\"disc\"/>\n"
        " <geom class=\"obj\" name=\"disc\" type=\"mesh\" mesh=\"disc\" mass=\"0.06\"/>\n"
        "</body>\n"
        /* a backstop behind the disc (placed at reset) that the blade pushes it against */
        "<body name=\"backstop\" pos=\"0.6 0 0\">\n"
        " <geom name=\"backstop\" type=\"box\" pos=\"0.005 0 0.015\" size=\"0.005 0.07 0.015\" contype=\"1\" "
        "conaffinity=\"6\" rgba=\"0.5 0.5 0.5 1\"/>\n"
        "</body>\n");
}

static void spatula_reset(fm_tu_episode *e, double ox, double oy, double yaw)
{
    const fm_tu_task *t = e->t;
    mjModel *m = e->m;
    /* backstop 3 mm beyond the disc rim, tangentially (perpendicular to the direction from the
     * base) on the side away from y = 0: the blade then pushes across the workspace, with the
     * hand at a comfortable distance from the base for every handle length (a radial push puts
     * the hand of a long spatula against the base), and the disc has little room to gain speed
     * or slip sideways before it is held */
    int bs = t->body_stop;
    double a = atan2(oy, ox) + (oy >= 0 ? 0.5 * M_PI : -0.5 * M_PI), off = t->tool.obj[0] + 0.003;
    m->body_pos[3 * bs] = ox + off * cos(a);
    m->body_pos[3 * bs + 1] = oy + off * sin(a);
    fm_tu_yaw_quat(a, m->body_quat + 4 * bs);
    /* free joint: position + orientation in qpos */
    int q = m->jnt_qposadr[t->jnt_obj[0]];
    e->d->qpos[q] = ox;
    e->d->qpos[q + 1] = oy;
    e->d->qpos[q + 2] = 0.0005;
    fm_tu_yaw_quat(yaw, e->d->qpos + q + 3);
}

/* the disc's height */
static double spatula_progress(const fm_tu_episode *e)
{
    return e->d->qpos[e->m->jnt_qposadr[e->t->jnt_obj[0]] + 2];
}

/* blade tip */
static void spatula_keypoints(const fm_tu_tool *t, double kp[FM_TU_NKP][3])
{
    const double L = t->handle_len;
    kp[0][0] = L + t->head[0] * cos(t->head[2]), kp[0][2] = -t->head[0] * sin(t->head[2]);
    kp[2][0] = L, kp[2][1] = 0.5 * t->head[1];
}

/* one approach: the blade tip SPATULA_BACK behind the disc rim, pushing along the backstop's normal
 * (an oblique blade catches the backstop with a corner and lets the disc slip sideways) */
static int spatula_actuation(fm_tu_episode *e, fm_tu_ik_prob cand[FM_TU_MAX_CAND], double dirs[FM_TU_MAX_CAND][3],
                             double objp[3], double *lift)
{
    const fm_tu_task *t = e->t;
    const fm_tu_tool *tl = &t->tool;
    const mjModel *m = e->m;
    int tb = t->body_tool, disc = m->jnt_bodyid[t->jnt_obj[0]], bs = t->body_stop;
    double c0[3] = {0, 0, 0};
    fm_tu_body_point(e->d, disc, c0, objp);
    double a = atan2(m->body_pos[3 * bs + 1] - objp[1], m->body_pos[3 * bs] - objp[0]);
    double u[3] = {cos(a), sin(a), 0}, back = tl->obj[0] + SPATULA_BACK, be = tl->head[2], dn = 0.05;
    double D = spatula_push(tl);
    fm_tu_ik_prob *c = &cand[0];
    c->npt = 1;
    c->pt[0].body = tb;
    memcpy(c->pt[0].loc, t->kp[0], sizeof c->pt[0].loc);
    c->pt[0].tgt[0] = objp[0] - back * u[0];
    c->pt[0].tgt[1] = objp[1] - back * u[1];
    c->pt[0].tgt[2] = 0.003;
    /* blade axis along u, tip down by 0.05 rad (Eq. 4.3, alpha = 1); blade width horizontal */
    c->nvec = 2;
    fm_tu_vec_target(&c->vec[0], tb, cos(be), 0, -sin(be), cos(dn) * u[0], cos(dn) * u[1], -sin(dn));
    fm_tu_vec_target(&c->vec[1], tb, 0, 1, 0, 0, 0, 1);
    c->vec[1].scalar = 1;
    /* the end of the push and the lifted pose must be reachable from here */
    c->nvia = 2;
    for (int i = 0; i < 3; i++)
        c->via[0][i] = c->via[1][i] = D * u[i];
    c->via[1][2] = 0.11;
    memcpy(dirs[0], u, sizeof u);
    *lift = 0.05;
    return 1;
}

/* down, push slowly under the disc, lift gently, scoop, lift */
static void spatula_skill(fm_tu_episode *e, const double objp[3], const double pa[3], const double Ra[9],
                          const double pp[3])
{
    (void)pp;
    const fm_tu_tool *tl = &e->t->tool;
    double p1[3];
    memcpy(p1, pa, sizeof p1);
    fm_tu_push_line(e, p1, Ra, 0.025, 0.3);
    double D = spatula_push(tl), p2[3];
    fm_tu_shifted(p1, D * e->dir[0], D * e->dir[1], 0, p2);
    /* push slowly (1 cm per action): the disc rides up the blade edge instead of being kicked */
    fm_tu_push_line(e, p2, Ra, 0.01, 0.3);
    /* lift gently, tip the blade up 0.15 rad about its middle (scoop), lift to 10 cm */
    fm_tu_shifted(p2, 0, 0, 0.02, p1);
    fm_tu_push_line(e, p1, Ra, 0.01, 0.3);
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
    fm_tu_push_line(e, p3, Rt, 0.01, 0.05);
    fm_tu_shifted(p3, 0, 0, 0.09, p1);
    fm_tu_push_line(e, p1, Rt, 0.02, 0.3);
    fm_tu_push_wp(e, p1, Rt, -1);
}

const fm_tu_family_def FM_TU_SPATULA_DEF = {
    .name = "spatula",
    .tool_default = spatula_default,
    .range = {{"blade length", 0.05, 0.14}, {"blade width", 0.04, 0.12}, {"blade angle", 0.2, 0.6},
              {"disc top radius", 0.02, 0.05}, {"disc bottom radius", 0.01, 0.045}, {"disc height", 0.006, 0.02}},
    .tool_check = spatula_check,
    .handle_cut = 0.05,
    .tool_geoms = spatula_geoms,
    /* a mesh disc on a box blade or table gets a single contact point from the default convex
     * collision and rocks on it (it tilts and slides off the blade): multi-point contacts */
    .option = "<flag multiccd=\"enable\"/>",
    .assets = spatula_assets,
    .object = spatula_object,
    .joint = {"disc", NULL},
    .backstop = 1,
    .reset = spatula_reset,
    .progress = spatula_progress,
    .success_at = 0.05,
    .keypoints = spatula_keypoints,
    .actuation = spatula_actuation,
    .skill = spatula_skill,
};
