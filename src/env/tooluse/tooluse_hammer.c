/* tooluse_hammer.c - the hammer family of the tool-use benchmark (docs/tooluse.md): a handle with a
 * cylinder or box head strikes a pin held by friction in a housing until it is 1 cm down. */
#include <math.h>
#include <string.h>

#include "env/tooluse/tooluse_internal.h"

static void hammer_default(int j, int k, fm_tu_tool *t)
{
    t->handle_len = fm_tu_lerp4(0.16, 0.25, j);
    t->head[0] = fm_tu_lerp4(0.016, 0.026, (j + k) % 4);
    t->head[1] = 0.035 + 0.005 * (j % 2);
    t->head[2] = (double)((j + k) % 2);
    t->obj[0] = 0.016 + 0.002 * (j % 3);
}

static fm_status hammer_check(const fm_tu_tool *t, const char *name, fm_err *err)
{
    fm_status status = FM_OK;
    FM_CHECK(t->head[2] == 0 || t->head[2] == 1, FM_EINVAL,
             "tool %s (hammer): head shape must be 0 (cylinder) or 1 (box), not %g", name, t->head[2]);
cleanup:
    return status;
}

static void hammer_geoms(fm_tu_sbuf *b, const fm_tu_tool *t)
{
    const double L = t->handle_len;
    if (t->head[2] == 0)
        fm_tu_sb_printf(b, "<geom class=\"tool\" name=\"head\" type=\"cylinder\" pos=\"%.5f 0 0\" size=\"%.5f %.5f\" "
                           "mass=\"0.35\"/>\n", L, t->head[0], t->head[1]);
    else
        fm_tu_sb_printf(b, "<geom class=\"tool\" name=\"head\" type=\"box\" pos=\"%.5f 0 0\" size=\"%.5f %.5f %.5f\" "
                           "mass=\"0.35\"/>\n", L, t->head[0], t->head[0], t->head[1]);
}

/* housing (static) + pin on a prismatic joint; frictionloss with stiff friction constraints so the
 * pin holds until struck (PLATFORM.md) */
static void hammer_object(fm_tu_sbuf *b, const fm_tu_tool *t)
{
    fm_tu_sb_printf(b,
        "<body name=\"obj\" pos=\"0.5 0 0\">\n"
        " <geom class=\"obj\" name=\"housing\" type=\"box\" pos=\"0 0 0.03\" size=\"0.03 0.03 0.03\"/>\n"
        " <body name=\"pin\" pos=\"0 0 0.06\">\n"
        "  <joint name=\"pin\" type=\"slide\" axis=\"0 0 1\" range=\"-0.05 0.005\" frictionloss=\"100\" "
        "damping=\"1\" solimpfriction=\"0.9999 0.9999 0.001\" solreffriction=\"0.004 1\"/>\n"
        "  <geom class=\"obj\" name=\"shaft\" type=\"cylinder\" pos=\"0 0 0.0\" size=\"0.008 0.03\" mass=\"0.03\"/>\n"
        "  <geom class=\"obj\" name=\"pinhead\" type=\"cylinder\" pos=\"0 0 0.035\" size=\"%.5f 0.005\" mass=\"0.02\"/>\n"
        " </body>\n</body>\n", t->obj[0]);
}

/* how far the pin went down */
static double hammer_progress(const fm_tu_episode *e)
{
    return -e->d->qpos[e->m->jnt_qposadr[e->t->jnt_obj[0]]];
}

/* face centre of the head, side of the head */
static void hammer_keypoints(const fm_tu_tool *t, double kp[FM_TU_NKP][3])
{
    const double L = t->handle_len;
    kp[0][0] = L, kp[0][2] = t->head[1];
    kp[2][0] = L, kp[2][1] = t->head[0];
}

/* the head's face on the pin head, head axis vertical, handle horizontal */
static int hammer_actuation(fm_tu_episode *e, fm_tu_ik_prob cand[FM_TU_MAX_CAND], double dirs[FM_TU_MAX_CAND][3],
                            double objp[3], double *lift)
{
    (void)dirs;
    const fm_tu_task *t = e->t;
    int tb = t->body_tool, pin = e->m->jnt_bodyid[t->jnt_obj[0]];
    double top[3] = {0, 0, 0.04};
    fm_tu_body_point(e->d, pin, top, objp);
    objp[2] += 0.001;
    fm_tu_ik_prob *c = &cand[0];
    c->npt = 1;
    c->pt[0].body = tb;
    memcpy(c->pt[0].loc, t->kp[0], sizeof c->pt[0].loc);
    memcpy(c->pt[0].tgt, objp, sizeof c->pt[0].tgt);
    c->nvec = 2;
    fm_tu_vec_target(&c->vec[0], tb, 0, 0, 1, 0, 0, -1);           /* head axis vertical, face down */
    fm_tu_vec_target(&c->vec[1], tb, 1, 0, 0, 0, 0, 1);            /* handle horizontal: z . x = 0 */
    c->vec[1].scalar = 1;
    *lift = 0.05;
    return 1;
}

/* up to 4 strikes (the plan skips to the retreat once the pin is down): a long handle far from the
 * base strikes a little softer and occasionally needs a fourth */
static void hammer_skill(fm_tu_episode *e, const double objp[3], const double pa[3], const double Ra[9],
                         const double pp[3])
{
    (void)objp;
    enum { STRIKES = 4 };
    double p1[3];
    int end_jump_slots[STRIKES], ns = 0;
    for (int s = 0; s < STRIKES; s++) {
        fm_tu_shifted(pa, 0, 0, -0.03, p1);
        fm_tu_push_wp(e, p1, Ra, -1);        /* strike: 8 cm in one action */
        fm_tu_push_wp(e, pp, Ra, -1);        /* back up */
        end_jump_slots[ns++] = e->nplan; /* next waypoint: checked for success */
    }
    fm_tu_shifted(pp, 0, 0, 0.05, p1);
    int fin = e->nplan;
    fm_tu_push_wp(e, p1, Ra, -1);
    for (int s = 0; s < ns; s++)
        if (end_jump_slots[s] < e->nplan)
            e->plan[end_jump_slots[s]].jump = fin;
}

const fm_tu_family_def FM_TU_HAMMER_DEF = {
    .name = "hammer",
    .tool_default = hammer_default,
    .range = {{"head radius", 0.010, 0.040}, {"head half length", 0.02, 0.06}, {"head shape", 0, 1},
              {"pin-head radius", 0.010, 0.030}, {"obj[1]", 0, 0}, {"obj[2]", 0, 0}},
    .tool_check = hammer_check,
    .handle_cut = 0,
    .tool_geoms = hammer_geoms,
    .option = "",
    .object = hammer_object,
    .exclude = "pin",
    .joint = {"pin", NULL},
    .progress = hammer_progress,
    .success_at = 0.01,
    .keypoints = hammer_keypoints,
    .actuation = hammer_actuation,
    .skill = hammer_skill,
};
