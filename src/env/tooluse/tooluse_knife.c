/* tooluse_knife.c - the knife family of the tool-use benchmark (docs/tooluse.md): the blade goes
 * down into the gap between two blocks on slides and pushes one half 5 cm away from the other. */
#include <math.h>
#include <string.h>

#include "env/tooluse/tooluse_internal.h"

/* the blade pushes one half KNIFE_CUT m away from the other */
#define KNIFE_CUT 0.10

static void knife_default(int j, int k, fm_tu_tool *t)
{
    t->handle_len = fm_tu_lerp4(0.14, 0.22, j);
    t->head[0] = fm_tu_lerp4(0.08, 0.12, (j + k) % 4);
    t->head[1] = fm_tu_lerp4(0.035, 0.05, (j + 1) % 4);
    t->head[2] = 0.002 + 0.001 * (j % 2);
    t->obj[0] = fm_tu_lerp4(0.022, 0.032, (j + 3) % 4);
    t->obj[1] = 0.010;
    t->obj[2] = fm_tu_lerp4(0.025, 0.035, j);
}

static fm_status knife_check(const fm_tu_tool *t, const char *name, fm_err *err)
{
    fm_status status = FM_OK;
    FM_CHECK(t->head[2] < 0.5 * t->obj[1], FM_EINVAL,
             "tool %s (knife): blade thickness %g does not fit the gap %g with clearance (needs < gap / 2)",
             name, t->head[2], t->obj[1]);
cleanup:
    return status;
}

static void knife_geoms(fm_tu_sbuf *b, const fm_tu_tool *t)
{
    const double L = t->handle_len, bl = t->head[0], bh = t->head[1], th = t->head[2];
    fm_tu_sb_printf(b, "<geom class=\"tool\" name=\"blade\" type=\"box\" pos=\"%.5f 0 %.5f\" size=\"%.5f %.5f %.5f\" "
                       "mass=\"0.06\"/>\n", L + 0.5 * bl, 0.5 * bh, 0.5 * bl, 0.5 * th, 0.5 * bh);
}

/* the gap runs along the object's y axis (tangential to the arm at yaw 0) and the halves slide
 * along x: the knife then lies across the workspace and its hand stays within reach for every
 * handle length (a gap pointing at the base puts the hand of a long knife either against the base
 * or beyond the arm's reach) */
static void knife_object(fm_tu_sbuf *b, const fm_tu_tool *t)
{
    double bx = t->obj[0], g = t->obj[1], bh = t->obj[2], by = 0.03;
    fm_tu_sb_printf(b, "<body name=\"obj\" pos=\"0.5 0 0\">\n");
    for (int s = -1; s <= 1; s += 2)
        fm_tu_sb_printf(b,
            " <body name=\"half_%c\" pos=\"%.5f 0 %.5f\">\n"
            "  <joint name=\"half_%c\" type=\"slide\" axis=\"1 0 0\" range=\"-0.2 0.2\" frictionloss=\"3\" "
            "damping=\"2\" solimpfriction=\"0.9999 0.9999 0.001\" solreffriction=\"0.004 1\"/>\n"
            "  <geom class=\"obj\" name=\"half_%c\" type=\"box\" size=\"%.5f %.5f %.5f\" mass=\"0.08\"/>\n"
            " </body>\n", s < 0 ? 'a' : 'b', s * (0.5 * g + 0.5 * by), 0.5 * bh + 0.001,
            s < 0 ? 'a' : 'b', s < 0 ? 'a' : 'b', 0.5 * by, bx, 0.5 * bh);
    fm_tu_sb_printf(b, "</body>\n");
}

/* how far the halves moved apart */
static double knife_progress(const fm_tu_episode *e)
{
    const mjModel *m = e->m;
    const fm_tu_task *t = e->t;
    return e->d->qpos[m->jnt_qposadr[t->jnt_obj[1]]] - e->d->qpos[m->jnt_qposadr[t->jnt_obj[0]]];
}

/* middle of the cutting edge */
static void knife_keypoints(const fm_tu_tool *t, double kp[FM_TU_NKP][3])
{
    const double L = t->handle_len;
    kp[0][0] = L + 0.5 * t->head[0], kp[0][2] = t->head[1];
    kp[2][0] = L, kp[2][2] = t->head[1];
}

/* the edge's middle in the gap, blade vertical and across the gap: two candidates (either side) */
static int knife_actuation(fm_tu_episode *e, fm_tu_ik_prob cand[FM_TU_MAX_CAND], double dirs[FM_TU_MAX_CAND][3],
                           double objp[3], double *lift)
{
    const fm_tu_task *t = e->t;
    const mjData *d = e->d;
    int tb = t->body_tool, ncand = 0;
    int ha = e->m->jnt_bodyid[t->jnt_obj[0]], hb = e->m->jnt_bodyid[t->jnt_obj[1]];
    for (int i = 0; i < 2; i++)
        objp[i] = 0.5 * (d->xpos[3 * ha + i] + d->xpos[3 * hb + i]);
    objp[2] = 0.008;
    double n[3] = {d->xpos[3 * hb] - d->xpos[3 * ha], d->xpos[3 * hb + 1] - d->xpos[3 * ha + 1], 0};
    double nn = hypot(n[0], n[1]);
    n[0] /= nn, n[1] /= nn;
    for (int s = -1; s <= 1; s += 2) {
        fm_tu_ik_prob *c = &cand[ncand++];
        c->npt = 1;
        c->pt[0].body = tb;
        memcpy(c->pt[0].loc, t->kp[0], sizeof c->pt[0].loc);
        memcpy(c->pt[0].tgt, objp, sizeof c->pt[0].tgt);
        c->nvec = 2;
        fm_tu_vec_target(&c->vec[0], tb, 0, 0, 1, 0, 0, -1);
        fm_tu_vec_target(&c->vec[1], tb, 0, 1, 0, s * n[0], s * n[1], 0);
        c->nvia = 1; /* the end of the cut */
        for (int i = 0; i < 2; i++)
            c->via[0][i] = KNIFE_CUT * n[i];
    }
    memcpy(dirs[0], n, sizeof n);
    memcpy(dirs[1], n, sizeof n);
    *lift = t->tool.obj[2] + 0.03;
    return ncand;
}

/* down into the gap, push one half away, lift */
static void knife_skill(fm_tu_episode *e, const double objp[3], const double pa[3], const double Ra[9],
                        const double pp[3])
{
    (void)objp, (void)pp;
    double p1[3], p2[3];
    fm_tu_push_line(e, pa, Ra, 0.025, 0.3);
    fm_tu_shifted(pa, KNIFE_CUT * e->dir[0], KNIFE_CUT * e->dir[1], 0, p2);
    fm_tu_push_line(e, p2, Ra, 0.03, 0.3);
    fm_tu_shifted(p2, 0, 0, 0.08, p1);
    fm_tu_push_wp(e, p1, Ra, -1);
}

const fm_tu_family_def FM_TU_KNIFE_DEF = {
    .name = "knife",
    .tool_default = knife_default,
    .range = {{"blade length", 0.05, 0.15}, {"blade height", 0.02, 0.06}, {"blade thickness", 0.001, 0.004},
              {"half-block length", 0.015, 0.04}, {"gap", 0.005, 0.02}, {"block height", 0.015, 0.045}},
    .tool_check = knife_check,
    .handle_cut = 0,
    .tool_geoms = knife_geoms,
    .option = "",
    .object = knife_object,
    .joint = {"half_a", "half_b"},
    .progress = knife_progress,
    .success_at = 0.05,
    .success_strict = 1,
    .keypoints = knife_keypoints,
    .actuation = knife_actuation,
    .skill = knife_skill,
};
