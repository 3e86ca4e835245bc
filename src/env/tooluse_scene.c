/* tooluse_scene.c - the scenes of the tool-use benchmark (tooluse.h, docs/tooluse.md): tool
 * definitions and their checks, the MJCF text of the arm, tool and object, and the tasks built
 * from it (compiled model, geom classes, sampled surface points, keypoints).
 * Episodes and control are in tooluse_sim.c, observations in tooluse_obs.c, the expert in
 * tooluse_expert.c. */
#include "env/tooluse.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <mujoco/mujoco.h>

#include "env/mjutil.h"
#include "env/tooluse_internal.h"

static const char *FAMILY_NAME[FM_TU_NFAMILY] = {"hammer", "wrench", "spatula", "knife"};

const char *fm_tu_family_name(int fam)
{
    return fam >= 0 && fam < FM_TU_NFAMILY ? FAMILY_NAME[fam] : "?";
}

/* Panda "ready"-like posture with the tool pointing forward and down (radians). */
const double FM_TU_HOME[FM_TU_NJOINT] = {0.0, -0.3, 0.0, -2.2, 0.0, 1.9, 0.0};

/* ---------------------------------------------------------------- tool definitions */

static double lerp4(double lo, double hi, int i) { return lo + (hi - lo) * (double)(i % 4) / 3.0; }

void fm_tu_tool_default(int fam, int inst, fm_tu_tool *t)
{
    memset(t, 0, sizeof *t);
    t->family = fam;
    snprintf(t->name, sizeof t->name, "%s-%d", fm_tu_family_name(fam), inst);
    /* handle lengths differ per instance; instances beyond 4 cycle with a shifted head */
    int j = inst % 4, k = inst / 4;
    t->handle_rad = 0.012;
    switch (fam) {
    case FM_TU_HAMMER:
        t->handle_len = lerp4(0.16, 0.25, j);
        t->head[0] = lerp4(0.016, 0.026, (j + k) % 4);
        t->head[1] = 0.035 + 0.005 * (j % 2);
        t->head[2] = (double)((j + k) % 2);
        t->obj[0] = 0.016 + 0.002 * (j % 3);
        break;
    case FM_TU_WRENCH:
        t->handle_len = lerp4(0.14, 0.22, j);
        t->head[0] = lerp4(0.018, 0.030, (j + k) % 4);
        t->head[1] = 0.0015; /* total: sub-millimetre per side, the hex must not turn inside the jaws */
        t->head[2] = 0.008;
        t->obj[0] = 0.014 + 0.002 * (j % 2);
        break;
    case FM_TU_SPATULA:
        t->handle_len = lerp4(0.14, 0.22, j);
        t->head[0] = lerp4(0.08, 0.11, (j + k) % 4);
        t->head[1] = lerp4(0.07, 0.09, (j + 1) % 4);
        t->head[2] = 0.35 + 0.1 * (j % 2);
        t->obj[0] = lerp4(0.028, 0.036, (j + 2) % 4);
        t->obj[1] = t->obj[0] - 0.012; /* a steep undercut: the blade edge wedges the disc up */
        t->obj[2] = 0.010;
        break;
    case FM_TU_KNIFE:
        t->handle_len = lerp4(0.14, 0.22, j);
        t->head[0] = lerp4(0.08, 0.12, (j + k) % 4);
        t->head[1] = lerp4(0.035, 0.05, (j + 1) % 4);
        t->head[2] = 0.002 + 0.001 * (j % 2);
        t->obj[0] = lerp4(0.022, 0.032, (j + 3) % 4);
        t->obj[1] = 0.010;
        t->obj[2] = lerp4(0.025, 0.035, j);
        break;
    default:
        break;
    }
}

typedef struct range { const char *field; double lo, hi; } range;

fm_status fm_tu_tool_check(const fm_tu_tool *t, fm_err *err)
{
    fm_status status = FM_OK;
    const char *name = t->name[0] ? t->name : "(unnamed)";
    FM_CHECK(t->family >= 0 && t->family < FM_TU_NFAMILY, FM_EINVAL,
             "tool %s: family %d is not one of hammer (0), wrench (1), spatula (2), knife (3)", name, t->family);
    const range common[2] = {{"handle_len", 0.10, 0.35}, {"handle_rad", 0.005, 0.025}};
    const double cv[2] = {t->handle_len, t->handle_rad};
    for (int i = 0; i < 2; i++)
        FM_CHECK(isfinite(cv[i]) && cv[i] >= common[i].lo && cv[i] <= common[i].hi, FM_EINVAL,
                 "tool %s (%s): %s = %g is outside [%g, %g] m", name, fm_tu_family_name(t->family),
                 common[i].field, cv[i], common[i].lo, common[i].hi);
    static const range R[FM_TU_NFAMILY][6] = {
        {{"head radius", 0.010, 0.040}, {"head half length", 0.02, 0.06}, {"head shape", 0, 1},
         {"pin-head radius", 0.010, 0.030}, {"obj[1]", 0, 0}, {"obj[2]", 0, 0}},
        {{"nut width", 0.012, 0.040}, {"jaw clearance", 0.0005, 0.006}, {"jaw thickness", 0.004, 0.012},
         {"nut height", 0.010, 0.025}, {"obj[1]", 0, 0}, {"obj[2]", 0, 0}},
        {{"blade length", 0.05, 0.14}, {"blade width", 0.04, 0.12}, {"blade angle", 0.2, 0.6},
         {"disc top radius", 0.02, 0.05}, {"disc bottom radius", 0.01, 0.045}, {"disc height", 0.006, 0.02}},
        {{"blade length", 0.05, 0.15}, {"blade height", 0.02, 0.06}, {"blade thickness", 0.001, 0.004},
         {"half-block length", 0.015, 0.04}, {"gap", 0.005, 0.02}, {"block height", 0.015, 0.045}},
    };
    const double v[6] = {t->head[0], t->head[1], t->head[2], t->obj[0], t->obj[1], t->obj[2]};
    for (int i = 0; i < 6; i++)
        FM_CHECK(isfinite(v[i]) && v[i] >= R[t->family][i].lo && v[i] <= R[t->family][i].hi, FM_EINVAL,
                 "tool %s (%s): %s = %g is outside [%g, %g]", name, fm_tu_family_name(t->family),
                 R[t->family][i].field, v[i], R[t->family][i].lo, R[t->family][i].hi);
    if (t->family == FM_TU_HAMMER)
        FM_CHECK(t->head[2] == 0 || t->head[2] == 1, FM_EINVAL,
                 "tool %s (hammer): head shape must be 0 (cylinder) or 1 (box), not %g", name, t->head[2]);
    if (t->family == FM_TU_SPATULA)
        FM_CHECK(t->obj[1] < t->obj[0], FM_EINVAL,
                 "tool %s (spatula): disc bottom radius %g must be below its top radius %g (the undercut "
                 "the blade slides under)", name, t->obj[1], t->obj[0]);
    if (t->family == FM_TU_WRENCH) /* corner-to-corner 2 W / sqrt(3) must exceed the jaw opening W + c */
        FM_CHECK(t->head[1] < 0.15 * t->head[0], FM_EINVAL,
                 "tool %s (wrench): jaw clearance %g must be below 0.15 x the nut width %g, or the nut turns "
                 "freely inside the jaws", name, t->head[1], t->head[0]);
    if (t->family == FM_TU_KNIFE)
        FM_CHECK(t->head[2] < 0.5 * t->obj[1], FM_EINVAL,
                 "tool %s (knife): blade thickness %g does not fit the gap %g with clearance (needs < gap / 2)",
                 name, t->head[2], t->obj[1]);
cleanup:
    return status;
}

/* ---------------------------------------------------------------- MJCF text */

typedef struct sbuf { char *s; size_t n, cap; int oom; } sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = 1;
            return;
        }
        if (b->s && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 16384;
        while (cap < b->n + (size_t)k + 1)
            cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

/* The arm: Panda modified-DH frames (a_{i-1}, d_i, alpha_{i-1}) as body offsets, published joint
 * limits and torque limits; link geometry is a coarse capsule approximation with the published
 * link masses (rounded). Arm geoms (class arm) only collide with objects. */
static void mjcf_arm(sbuf *b, const fm_tu_tool *t, const char *tool_geoms)
{
    const double fing = t->handle_rad + 0.007;
    sb_printf(b,
      "<body name=\"link1\" pos=\"0 0 0.333\">\n"
      " <joint name=\"j1\" range=\"-2.8973 2.8973\" armature=\"0.1\"/>\n"
      " <geom class=\"arm\" fromto=\"0 0 -0.24 0 0 -0.02\" size=\"0.06\" mass=\"4.97\"/>\n"
      " <body name=\"link2\" quat=\"0.70710678 -0.70710678 0 0\">\n"
      "  <joint name=\"j2\" range=\"-1.7628 1.7628\" armature=\"0.1\"/>\n"
      "  <geom class=\"arm\" fromto=\"0 0 0 0 -0.24 0\" size=\"0.06\" mass=\"0.65\"/>\n"
      "  <body name=\"link3\" pos=\"0 -0.316 0\" quat=\"0.70710678 0.70710678 0 0\">\n"
      "   <joint name=\"j3\" range=\"-2.8973 2.8973\" armature=\"0.1\"/>\n"
      "   <geom class=\"arm\" fromto=\"0 0 -0.12 0.0825 0 0\" size=\"0.055\" mass=\"3.23\"/>\n"
      "   <body name=\"link4\" pos=\"0.0825 0 0\" quat=\"0.70710678 0.70710678 0 0\">\n"
      "    <joint name=\"j4\" range=\"-3.0718 -0.0698\" armature=\"0.1\"/>\n"
      "    <geom class=\"arm\" fromto=\"0 0 0 -0.0825 0.12 0\" size=\"0.055\" mass=\"3.59\"/>\n"
      "    <body name=\"link5\" pos=\"-0.0825 0.384 0\" quat=\"0.70710678 -0.70710678 0 0\">\n"
      "     <joint name=\"j5\" range=\"-2.8973 2.8973\" armature=\"0.05\"/>\n"
      "     <geom class=\"arm\" fromto=\"0 0 -0.27 0 0 -0.06\" size=\"0.05\" mass=\"1.23\"/>\n"
      "     <body name=\"link6\" quat=\"0.70710678 0.70710678 0 0\">\n"
      "      <joint name=\"j6\" range=\"-0.0175 3.7525\" armature=\"0.05\"/>\n"
      "      <geom class=\"arm\" fromto=\"0 0 0 0.088 0 0\" size=\"0.05\" mass=\"1.67\"/>\n"
      "      <body name=\"link7\" pos=\"0.088 0 0\" quat=\"0.70710678 0.70710678 0 0\">\n"
      "       <joint name=\"j7\" range=\"-2.8973 2.8973\" armature=\"0.05\"/>\n"
      "       <geom class=\"arm\" fromto=\"0 0 -0.04 0 0 0.07\" size=\"0.045\" mass=\"0.74\"/>\n"
      "       <body name=\"hand\" pos=\"0 0 0.107\">\n"
      "        <geom class=\"arm\" type=\"box\" pos=\"0 0 0.03\" size=\"0.025 0.09 0.025\" mass=\"0.6\"/>\n"
      "        <geom class=\"arm\" type=\"box\" pos=\"0 %.5f 0.085\" size=\"0.01 0.006 0.03\" mass=\"0.05\"/>\n"
      "        <geom class=\"arm\" type=\"box\" pos=\"0 %.5f 0.085\" size=\"0.01 0.006 0.03\" mass=\"0.05\"/>\n"
      "        <site name=\"ee\" pos=\"0 0 0.1034\" size=\"0.005\"/>\n"
      "        <body name=\"tool\" pos=\"0 0 0.1034\">\n%s"
      "        </body>\n"
      "       </body>\n      </body>\n     </body>\n    </body>\n   </body>\n  </body>\n </body>\n"
      "</body>\n",
      fing + 0.006, -(fing + 0.006), tool_geoms);
}

/* Tool geoms in the tool frame (x along the handle, z down in the top-down poses). */
static void mjcf_tool(sbuf *b, const fm_tu_tool *t)
{
    const double L = t->handle_len, r = t->handle_rad;
    /* the spatula's handle ends in a thin neck so it clears the table when the blade lies flat; the
     * wrench's in a flat shank as thick as the jaws, so the round handle clears the bolt that sticks
     * out above the nut and the base plate below it (the plate reaches 5.7 cm from the nut axis) */
    double hl = t->family == FM_TU_SPATULA ? L - 0.05 : t->family == FM_TU_WRENCH ? L - 0.065 : L;
    sb_printf(b, "<geom class=\"tool\" name=\"handle\" type=\"capsule\" fromto=\"-0.04 0 0 %.5f 0 0\" "
                 "size=\"%.5f\" mass=\"0.12\"/>\n", hl, r);
    if (t->family == FM_TU_SPATULA)
        sb_printf(b, "<geom class=\"tool\" name=\"neck\" type=\"capsule\" fromto=\"%.5f 0 0 %.5f 0 0\" "
                     "size=\"0.004\" mass=\"0.02\"/>\n", hl, L);
    if (t->family == FM_TU_WRENCH)
        sb_printf(b, "<geom class=\"tool\" name=\"shank\" type=\"box\" pos=\"%.5f 0 0\" size=\"0.033 0.007 %.5f\" "
                     "mass=\"0.03\"/>\n", L - 0.037, 0.5 * t->head[2]);
    switch (t->family) {
    case FM_TU_HAMMER:
        if (t->head[2] == 0)
            sb_printf(b, "<geom class=\"tool\" name=\"head\" type=\"cylinder\" pos=\"%.5f 0 0\" size=\"%.5f %.5f\" "
                         "mass=\"0.35\"/>\n", L, t->head[0], t->head[1]);
        else
            sb_printf(b, "<geom class=\"tool\" name=\"head\" type=\"box\" pos=\"%.5f 0 0\" size=\"%.5f %.5f %.5f\" "
                         "mass=\"0.35\"/>\n", L, t->head[0], t->head[0], t->head[1]);
        break;
    case FM_TU_WRENCH: {
        double W = t->head[0], c = t->head[1], jt = t->head[2], pt = 0.006, depth = 1.3 * W;
        double yo = 0.5 * (W + c) + 0.5 * pt;
        sb_printf(b, "<geom class=\"tool\" name=\"jaw_back\" type=\"box\" pos=\"%.5f 0 0\" size=\"0.004 %.5f %.5f\" "
                     "mass=\"0.05\"/>\n", L - 0.004, yo + 0.5 * pt, 0.5 * jt);
        for (int s = -1; s <= 1; s += 2)
            sb_printf(b, "<geom class=\"tool\" name=\"jaw_%s\" type=\"box\" pos=\"%.5f %.5f 0\" "
                         "size=\"%.5f %.5f %.5f\" mass=\"0.04\"/>\n", s < 0 ? "l" : "r", L + 0.5 * depth, s * yo,
                      0.5 * depth, 0.5 * pt, 0.5 * jt);
        break;
    }
    case FM_TU_SPATULA: {
        double bl = t->head[0], bw = t->head[1], d = t->head[2];
        /* blade bent up from the handle by d (toward -z): flat on the table when the handle slopes down.
         * A thin (2 mm) smooth steel blade: priority 1 makes its friction (0.3) govern its contacts, so
         * the disc rides up the blade edge instead of gripping it (the randomized object friction
         * still applies between the disc and the table and the backstop) */
        double cx = L + 0.5 * bl * cos(d), cz = -0.5 * bl * sin(d);
        sb_printf(b, "<geom class=\"tool\" name=\"blade\" type=\"box\" pos=\"%.5f 0 %.5f\" "
                     "quat=\"%.6f 0 %.6f 0\" size=\"%.5f %.5f 0.001\" priority=\"1\" friction=\"0.3 0.005 0.0001\" "
                     "mass=\"0.06\"/>\n", cx, cz, cos(0.5 * d), sin(0.5 * d), 0.5 * bl, 0.5 * bw);
        break;
    }
    case FM_TU_KNIFE: {
        double bl = t->head[0], bh = t->head[1], th = t->head[2];
        sb_printf(b, "<geom class=\"tool\" name=\"blade\" type=\"box\" pos=\"%.5f 0 %.5f\" size=\"%.5f %.5f %.5f\" "
                     "mass=\"0.06\"/>\n", L + 0.5 * bl, 0.5 * bh, 0.5 * bl, 0.5 * th, 0.5 * bh);
        break;
    }
    default:
        break;
    }
}

/* Vertices of a prism with n sides: bottom polygon of radius r0 at z = 0, top of radius r1 at z = h. */
static void mjcf_prism(sbuf *b, const char *name, int n, double r0, double r1, double h, double phase)
{
    sb_printf(b, "<mesh name=\"%s\" vertex=\"", name);
    for (int z = 0; z < 2; z++)
        for (int i = 0; i < n; i++) {
            double a = phase + 2 * M_PI * i / n, r = z ? r1 : r0;
            sb_printf(b, "%.6f %.6f %.6f ", r * cos(a), r * sin(a), z ? h : 0.0);
        }
    sb_printf(b, "\"/>\n");
}

static void mjcf_object(sbuf *b, const fm_tu_tool *t)
{
    switch (t->family) {
    case FM_TU_HAMMER:
        /* housing (static) + pin on a prismatic joint; frictionloss with stiff friction
         * constraints so the pin holds until struck (PLATFORM.md) */
        sb_printf(b,
            "<body name=\"obj\" pos=\"0.5 0 0\">\n"
            " <geom class=\"obj\" name=\"housing\" type=\"box\" pos=\"0 0 0.03\" size=\"0.03 0.03 0.03\"/>\n"
            " <body name=\"pin\" pos=\"0 0 0.06\">\n"
            "  <joint name=\"pin\" type=\"slide\" axis=\"0 0 1\" range=\"-0.05 0.005\" frictionloss=\"100\" "
            "damping=\"1\" solimpfriction=\"0.9999 0.9999 0.001\" solreffriction=\"0.004 1\"/>\n"
            "  <geom class=\"obj\" name=\"shaft\" type=\"cylinder\" pos=\"0 0 0.0\" size=\"0.008 0.03\" mass=\"0.03\"/>\n"
            "  <geom class=\"obj\" name=\"pinhead\" type=\"cylinder\" pos=\"0 0 0.035\" size=\"%.5f 0.005\" mass=\"0.02\"/>\n"
            " </body>\n</body>\n", t->obj[0]);
        break;
    case FM_TU_WRENCH:
        sb_printf(b,
            "<body name=\"obj\" pos=\"0.5 0 0\">\n"
            " <geom class=\"obj\" name=\"plate\" type=\"box\" pos=\"0 0 0.01\" size=\"0.04 0.04 0.01\"/>\n"
            " <geom class=\"obj\" name=\"bolt\" type=\"cylinder\" pos=\"0 0 %.5f\" size=\"%.5f %.5f\"/>\n"
            " <body name=\"nut\" pos=\"0 0 0.02\">\n"
            "  <joint name=\"nut\" type=\"hinge\" axis=\"0 0 1\" armature=\"0.01\" frictionloss=\"0.3\" damping=\"0.02\" "
            "solimpfriction=\"0.9999 0.9999 0.001\" solreffriction=\"0.004 1\"/>\n"
            "  <geom class=\"obj\" name=\"nut\" type=\"mesh\" mesh=\"hexnut\" mass=\"0.05\"/>\n"
            " </body>\n</body>\n",
            0.02 + 0.5 * (t->obj[0] + 0.01), 0.22 * t->head[0], 0.5 * (t->obj[0] + 0.01));
        break;
    case FM_TU_SPATULA:
        sb_printf(b,
            "<body name=\"obj\" pos=\"0.5 0 0.0005\">\n"
            " <freejoint name=\"disc\"/>\n"
            " <geom class=\"obj\" name=\"disc\" type=\"mesh\" mesh=\"disc\" mass=\"0.06\"/>\n"
            "</body>\n"
            /* a backstop behind the disc (placed at reset) that the blade pushes it against */
            "<body name=\"backstop\" pos=\"0.6 0 0\">\n"
            " <geom name=\"backstop\" type=\"box\" pos=\"0.005 0 0.015\" size=\"0.005 0.07 0.015\" contype=\"1\" "
            "conaffinity=\"6\" rgba=\"0.5 0.5 0.5 1\"/>\n"
            "</body>\n");
        break;
    case FM_TU_KNIFE: {
        /* the gap runs along the object's y axis (tangential to the arm at yaw 0) and the halves
         * slide along x: the knife then lies across the workspace and its hand stays within reach
         * for every handle length (a gap pointing at the base puts the hand of a long knife either
         * against the base or beyond the arm's reach) */
        double bx = t->obj[0], g = t->obj[1], bh = t->obj[2], by = 0.03;
        sb_printf(b, "<body name=\"obj\" pos=\"0.5 0 0\">\n");
        for (int s = -1; s <= 1; s += 2)
            sb_printf(b,
                " <body name=\"half_%c\" pos=\"%.5f 0 %.5f\">\n"
                "  <joint name=\"half_%c\" type=\"slide\" axis=\"1 0 0\" range=\"-0.2 0.2\" frictionloss=\"3\" "
                "damping=\"2\" solimpfriction=\"0.9999 0.9999 0.001\" solreffriction=\"0.004 1\"/>\n"
                "  <geom class=\"obj\" name=\"half_%c\" type=\"box\" size=\"%.5f %.5f %.5f\" mass=\"0.08\"/>\n"
                " </body>\n", s < 0 ? 'a' : 'b', s * (0.5 * g + 0.5 * by), 0.5 * bh + 0.001,
                s < 0 ? 'a' : 'b', s < 0 ? 'a' : 'b', 0.5 * by, bx, 0.5 * bh);
        sb_printf(b, "</body>\n");
        break;
    }
    default:
        break;
    }
}

static char *mjcf_scene(const fm_tu_tool *t)
{
    sbuf tool = {0}, b = {0};
    mjcf_tool(&tool, t);
    if (tool.oom) {
        free(tool.s);
        return NULL;
    }
    sb_printf(&b,
        "<mujoco model=\"fleet_tooluse_%s\">\n"
        "<compiler autolimits=\"true\" angle=\"radian\"/>\n"
        "<option timestep=\"%g\" cone=\"elliptic\" integrator=\"Euler\">%s</option>\n"
        "<size njmax=\"600\" nconmax=\"150\"/>\n"
        "<visual><global offwidth=\"1280\" offheight=\"960\"/><quality shadowsize=\"2048\"/></visual>\n"
        "<default>\n"
        " <geom solref=\"0.005 1\" friction=\"0.8 0.005 0.0001\"/>\n"
        " <joint damping=\"0.5\"/>\n"
        " <default class=\"arm\"><geom type=\"capsule\" contype=\"8\" conaffinity=\"4\" rgba=\"0.92 0.92 0.92 1\"/></default>\n"
        " <default class=\"tool\"><geom contype=\"2\" conaffinity=\"5\" friction=\"0.3 0.005 0.0001\" rgba=\"0.85 0.45 0.1 1\"/></default>\n"
        " <default class=\"obj\"><geom contype=\"4\" conaffinity=\"15\" rgba=\"0.2 0.45 0.85 1\"/></default>\n"
        "</default>\n"
        "<asset>\n", t->name, FM_TU_DT,
        /* a mesh disc on a box blade or table gets a single contact point from the default convex
         * collision and rocks on it (it tilts and slides off the blade): multi-point contacts */
        t->family == FM_TU_SPATULA ? "<flag multiccd=\"enable\"/>" : "");
    if (t->family == FM_TU_WRENCH)
        mjcf_prism(&b, "hexnut", 6, t->head[0] / sqrt(3.0), t->head[0] / sqrt(3.0), t->obj[0], 0.0);
    if (t->family == FM_TU_SPATULA)
        mjcf_prism(&b, "disc", 24, t->obj[1], t->obj[0], t->obj[2], 0.0);
    sb_printf(&b,
        "</asset>\n<worldbody>\n"
        "<light pos=\"0.4 -0.6 1.6\" dir=\"-0.2 0.5 -1\" directional=\"true\" diffuse=\"0.7 0.7 0.7\"/>\n"
        "<camera name=\"overhead\" pos=\"0.5 0 1.1\" xyaxes=\"0 -1 0 1 0 0\"/>\n"
        "<camera name=\"front\" pos=\"1.3 0 0.55\" xyaxes=\"0 1 0 -0.35 0 0.94\"/>\n"
        "<geom name=\"table\" type=\"box\" pos=\"0.45 0 -0.02\" size=\"0.7 0.7 0.02\" contype=\"1\" conaffinity=\"6\" friction=\"0.3 0.005 0.0001\" "
        "rgba=\"0.55 0.45 0.35 1\"/>\n"
        "<geom name=\"base\" type=\"cylinder\" pos=\"0 0 0.05\" size=\"0.07 0.05\" contype=\"0\" conaffinity=\"0\" "
        "rgba=\"0.3 0.3 0.3 1\"/>\n");
    mjcf_arm(&b, t, tool.s);
    mjcf_object(&b, t);
    sb_printf(&b, "</worldbody>\n");
    /* the housing / plate + bolt are welded to the world, so MuJoCo's parent-child filter does not
     * apply: exclude them from the pin / nut explicitly (the solid nut mesh around the bolt would
     * otherwise spin the nut through penetration contacts) */
    if (t->family == FM_TU_HAMMER)
        sb_printf(&b, "<contact><exclude body1=\"obj\" body2=\"pin\"/></contact>\n");
    if (t->family == FM_TU_WRENCH)
        sb_printf(&b, "<contact><exclude body1=\"obj\" body2=\"nut\"/></contact>\n");
    sb_printf(&b, "<actuator>\n");
    static const double tau[FM_TU_NJOINT] = {87, 87, 87, 87, 12, 12, 12};
    for (int i = 0; i < FM_TU_NJOINT; i++)
        sb_printf(&b, " <motor joint=\"j%d\" ctrlrange=\"%g %g\"/>\n", i + 1, -tau[i], tau[i]);
    sb_printf(&b, "</actuator>\n</mujoco>\n");
    free(tool.s);
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

/* ---------------------------------------------------------------- tasks */

static fm_status task_build(const fm_tu_tool *tool, int npoints, fm_rng *r, fm_tu_task **out, fm_err *err)
{
    fm_status status = FM_OK;
    fm_tu_task *t = NULL;
    char *xml = NULL;
    char mjerr[1024] = "";
    FM_TRY(fm_tu_tool_check(tool, err));
    FM_ALLOC(t, 1);
    t->tool = *tool;
    xml = mjcf_scene(tool);
    FM_CHECK(xml, FM_ENOMEM, "out of memory writing the scene of tool %s", tool->name);
    t->m = fm_mj_load_xml(xml, mjerr, sizeof mjerr);
    FM_CHECK(t->m, FM_EINVAL, "tool %s: MuJoCo rejected the generated scene: %s", tool->name, mjerr);
    mjModel *m = t->m;
    t->site_ee = mj_name2id(m, mjOBJ_SITE, "ee");
    t->body_tool = mj_name2id(m, mjOBJ_BODY, "tool");
    t->body_obj = mj_name2id(m, mjOBJ_BODY, "obj");
    t->body_hand = mj_name2id(m, mjOBJ_BODY, "hand");
    t->body_stop = mj_name2id(m, mjOBJ_BODY, "backstop");
    FM_CHECK(t->site_ee >= 0 && t->body_tool >= 0 && t->body_obj >= 0, FM_EINVAL,
             "tool %s: scene lacks the ee site or the tool/obj bodies", tool->name);
    FM_CHECK(tool->family != FM_TU_SPATULA || t->body_stop >= 0, FM_EINVAL, "tool %s: scene lacks the backstop",
             tool->name);
    t->jnt_obj[0] = t->jnt_obj[1] = -1;
    static const char *JN[FM_TU_NFAMILY][2] = {{"pin", NULL}, {"nut", NULL}, {"disc", NULL}, {"half_a", "half_b"}};
    for (int k = 0; k < 2; k++)
        if (JN[tool->family][k]) {
            t->jnt_obj[k] = mj_name2id(m, mjOBJ_JOINT, JN[tool->family][k]);
            FM_CHECK(t->jnt_obj[k] >= 0, FM_EINVAL, "tool %s: scene lacks joint %s", tool->name, JN[tool->family][k]);
        }
    FM_CHECK(m->nu == FM_TU_NJOINT && m->njnt >= FM_TU_NJOINT, FM_EINVAL, "tool %s: arm not found", tool->name);
    for (int j = 0; j < FM_TU_NJOINT; j++)
        FM_CHECK(m->jnt_dofadr[j] == j && m->jnt_qposadr[j] == j, FM_EINVAL, "tool %s: arm joints must come first",
                 tool->name);
    /* geom classes: 1 tool (in the tool body), 2 object (the obj body tree) */
    FM_ALLOC(t->geom_class, m->ngeom);
    for (int g = 0; g < m->ngeom; g++) {
        int b = m->geom_bodyid[g];
        if (b == t->body_tool)
            t->geom_class[g] = 1;
        else if (b > 0 && m->body_rootid[b] == t->body_obj)
            t->geom_class[g] = 2;
    }
    t->npoints = npoints;
    int half = npoints / 2;
    FM_ALLOC(t->pts, 3 * npoints);
    FM_ALLOC(t->pts_geom, npoints);
    FM_TRY(fm_tu_sample_points(m, t->geom_class, 1, half, r, t->pts, t->pts_geom, err));
    FM_TRY(fm_tu_sample_points(m, t->geom_class, 2, npoints - half, r, t->pts + 3 * half, t->pts_geom + half, err));
    fm_tu_keypoints(&t->tool, t->kp);
    *out = t;
    t = NULL;
cleanup:
    if (t) {
        if (t->m)
            mj_deleteModel(t->m);
        free(t->geom_class);
        free(t->pts);
        free(t->pts_geom);
        free(t);
    }
    free(xml);
    return status;
}

static void task_free(fm_tu_task *t)
{
    if (!t)
        return;
    if (t->m)
        mj_deleteModel(t->m);
    free(t->geom_class);
    free(t->pts);
    free(t->pts_geom);
    free(t);
}

fm_status fm_tooluse_build_tools(const fm_tu_tool *tools, int K, int horizon, int npoints, int proprio,
                                 double point_noise, uint64_t seed, fm_tooluse *env, fm_err *err)
{
    fm_status status = FM_OK;
    memset(env, 0, sizeof *env);
    FM_CHECK(K >= 1, FM_EINVAL, "tool use needs at least one task, got %d", K);
    FM_CHECK(npoints >= 2 && npoints % 2 == 0, FM_EINVAL, "tool use: points per observation must be even and "
             ">= 2 (half tool, half object), got %d", npoints);
    FM_CHECK(horizon >= 1, FM_EINVAL, "tool use: horizon must be >= 1, got %d", horizon);
    FM_CHECK(isfinite(point_noise) && point_noise >= 0, FM_EINVAL, "tool use: point noise must be >= 0");
    fm_mj_quiet_warnings();
    env->K = K;
    env->horizon = horizon;
    env->npoints = npoints;
    env->proprio = proprio;
    env->point_noise = point_noise;
    FM_ALLOC(env->task, K);
    fm_rng r;
    fm_rng_seed(&r, seed, FM_RANK_SHARED, FM_STREAM_SYSTEM);
    for (int h = 0; h < K; h++) {
        status = task_build(&tools[h], npoints, &r, &env->task[h], err);
        if (status != FM_OK) { /* say which task the tool belongs to */
            char msg[sizeof err->msg];
            int k = snprintf(msg, 32, "task %d: ", h);
            memcpy(msg + k, err->msg, sizeof msg - (size_t)k - 1);
            msg[sizeof msg - 1] = '\0';
            memcpy(err->msg, msg, sizeof msg);
            fm_err_at(err, __FILE__, __LINE__);
            goto cleanup;
        }
    }
cleanup:
    if (status != FM_OK)
        fm_tooluse_free(env);
    return status;
}

fm_status fm_tooluse_build(const fm_config *cfg, fm_tooluse *env, fm_err *err)
{
    fm_status status = FM_OK;
    fm_tu_tool *tools = NULL;
    memset(env, 0, sizeof *env);
    FM_CHECK(cfg->env.kind == FM_ENV_TOOLUSE, FM_EINVAL, "env.kind is not tooluse");
    int K = cfg->env.num_tasks;
    FM_ALLOC(tools, K);
    for (int h = 0; h < K; h++)
        fm_tu_tool_default(h % FM_TU_NFAMILY, h / FM_TU_NFAMILY, &tools[h]);
    FM_TRY(fm_tooluse_build_tools(tools, K, cfg->env.horizon, cfg->env.tu_points, cfg->env.tu_proprio,
                                  cfg->env.tu_point_noise, (uint64_t)cfg->experiment.seed, env, err));
    env->action_noise = cfg->env.tu_action_noise;
    env->obs = cfg->env.tu_obs;
    env->demo_end = cfg->env.tu_demo_end;
cleanup:
    free(tools);
    return status;
}

void fm_tooluse_free(fm_tooluse *env)
{
    if (env->task)
        for (int h = 0; h < env->K; h++)
            task_free(env->task[h]);
    free(env->task);
    memset(env, 0, sizeof *env);
}

int fm_tooluse_obs_dim(const fm_tooluse *env)
{
    int base = env->obs == FM_TU_OBS_KEYPOINTS ? FM_TU_KP_DIM : env->npoints * FM_TU_CHANNELS;
    return base + (env->proprio ? FM_TU_PROPRIO_DIM : 0);
}

const fm_tu_tool *fm_tooluse_tool(const fm_tooluse *env, int h) { return &env->task[h]->tool; }

