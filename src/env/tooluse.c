/* tooluse.c - scene generation (MJCF written here), operational-space control, point clouds,
 * success detectors and episodes of the tool-use benchmark (tooluse.h, docs/tooluse.md).
 * The keypoint expert lives in tooluse_expert.c. */
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

/* ---------------------------------------------------------------- point sampling */

static double geom_area(const mjModel *m, int g)
{
    const mjtNum *s = m->geom_size + 3 * g;
    switch (m->geom_type[g]) {
    case mjGEOM_BOX: return 8 * (s[0] * s[1] + s[1] * s[2] + s[0] * s[2]);
    case mjGEOM_CYLINDER: return 4 * M_PI * s[0] * s[1] + 2 * M_PI * s[0] * s[0];
    case mjGEOM_CAPSULE: return 4 * M_PI * s[0] * s[1] + 4 * M_PI * s[0] * s[0];
    case mjGEOM_SPHERE: return 4 * M_PI * s[0] * s[0];
    case mjGEOM_MESH: {
        int id = m->geom_dataid[g];
        const float *v = m->mesh_vert + 3 * m->mesh_vertadr[id];
        const int *f = m->mesh_face + 3 * m->mesh_faceadr[id];
        double a = 0;
        for (int i = 0; i < m->mesh_facenum[id]; i++) {
            const float *p = v + 3 * f[3 * i], *q = v + 3 * f[3 * i + 1], *r = v + 3 * f[3 * i + 2];
            double u[3] = {q[0] - p[0], q[1] - p[1], q[2] - p[2]}, w[3] = {r[0] - p[0], r[1] - p[1], r[2] - p[2]};
            double c[3] = {u[1] * w[2] - u[2] * w[1], u[2] * w[0] - u[0] * w[2], u[0] * w[1] - u[1] * w[0]};
            a += 0.5 * sqrt(c[0] * c[0] + c[1] * c[1] + c[2] * c[2]);
        }
        return a;
    }
    default: return 0;
    }
}

static void unit_sphere(fm_rng *r, double v[3])
{
    double z = 2 * fm_rng_uniform(r) - 1, a = 2 * M_PI * fm_rng_uniform(r), s = sqrt(fmax(0, 1 - z * z));
    v[0] = s * cos(a);
    v[1] = s * sin(a);
    v[2] = z;
}

/* A uniform point on the surface of geom g, in the geom frame. */
static void geom_sample(const mjModel *m, int g, fm_rng *r, double p[3])
{
    const mjtNum *s = m->geom_size + 3 * g;
    switch (m->geom_type[g]) {
    case mjGEOM_BOX: {
        double a[3] = {s[1] * s[2], s[0] * s[2], s[0] * s[1]};
        double u = fm_rng_uniform(r) * (a[0] + a[1] + a[2]);
        int ax = u < a[0] ? 0 : u < a[0] + a[1] ? 1 : 2;
        for (int i = 0; i < 3; i++)
            p[i] = (2 * fm_rng_uniform(r) - 1) * s[i];
        p[ax] = fm_rng_uniform(r) < 0.5 ? -s[ax] : s[ax];
        break;
    }
    case mjGEOM_CYLINDER: {
        double side = 4 * M_PI * s[0] * s[1], cap = 2 * M_PI * s[0] * s[0];
        double a = 2 * M_PI * fm_rng_uniform(r);
        if (fm_rng_uniform(r) * (side + cap) < side) {
            p[0] = s[0] * cos(a);
            p[1] = s[0] * sin(a);
            p[2] = (2 * fm_rng_uniform(r) - 1) * s[1];
        } else {
            double rad = s[0] * sqrt(fm_rng_uniform(r));
            p[0] = rad * cos(a);
            p[1] = rad * sin(a);
            p[2] = fm_rng_uniform(r) < 0.5 ? -s[1] : s[1];
        }
        break;
    }
    case mjGEOM_CAPSULE: {
        double side = 4 * M_PI * s[0] * s[1], sph = 4 * M_PI * s[0] * s[0];
        if (fm_rng_uniform(r) * (side + sph) < side) {
            double a = 2 * M_PI * fm_rng_uniform(r);
            p[0] = s[0] * cos(a);
            p[1] = s[0] * sin(a);
            p[2] = (2 * fm_rng_uniform(r) - 1) * s[1];
        } else {
            unit_sphere(r, p);
            for (int i = 0; i < 3; i++)
                p[i] *= s[0];
            p[2] += p[2] >= 0 ? s[1] : -s[1];
        }
        break;
    }
    case mjGEOM_SPHERE:
        unit_sphere(r, p);
        for (int i = 0; i < 3; i++)
            p[i] *= s[0];
        break;
    case mjGEOM_MESH: {
        int id = m->geom_dataid[g];
        const float *v = m->mesh_vert + 3 * m->mesh_vertadr[id];
        const int *f = m->mesh_face + 3 * m->mesh_faceadr[id];
        int nf = m->mesh_facenum[id];
        double total = geom_area(m, g), u = fm_rng_uniform(r) * total, acc = 0;
        int k = nf - 1;
        for (int i = 0; i < nf; i++) {
            const float *a = v + 3 * f[3 * i], *b = v + 3 * f[3 * i + 1], *c = v + 3 * f[3 * i + 2];
            double e1[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]}, e2[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
            double x[3] = {e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2], e1[0] * e2[1] - e1[1] * e2[0]};
            acc += 0.5 * sqrt(x[0] * x[0] + x[1] * x[1] + x[2] * x[2]);
            if (u < acc) {
                k = i;
                break;
            }
        }
        const float *a = v + 3 * f[3 * k], *b = v + 3 * f[3 * k + 1], *c = v + 3 * f[3 * k + 2];
        double r1 = sqrt(fm_rng_uniform(r)), r2 = fm_rng_uniform(r);
        for (int i = 0; i < 3; i++)
            p[i] = (1 - r1) * a[i] + r1 * (1 - r2) * b[i] + r1 * r2 * c[i];
        break;
    }
    default:
        p[0] = p[1] = p[2] = 0;
        break;
    }
}

/* n points over the geoms of one class (1 tool, 2 object), area-weighted. */
static fm_status sample_class(const mjModel *m, const int *cls, int which, int n, fm_rng *r, double *pts,
                              int *gid, fm_err *err)
{
    fm_status status = FM_OK;
    double total = 0;
    for (int g = 0; g < m->ngeom; g++)
        if (cls[g] == which)
            total += geom_area(m, g);
    FM_CHECK(total > 0, FM_EINVAL, "tool-use scene has no %s geometry to sample points from",
             which == 1 ? "tool" : "object");
    for (int i = 0; i < n; i++) {
        double u = fm_rng_uniform(r) * total, acc = 0;
        int pick = -1;
        for (int g = 0; g < m->ngeom; g++) {
            if (cls[g] != which)
                continue;
            pick = g;
            acc += geom_area(m, g);
            if (u < acc)
                break;
        }
        gid[i] = pick;
        geom_sample(m, pick, r, pts + 3 * i);
    }
cleanup:
    return status;
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
    FM_TRY(sample_class(m, t->geom_class, 1, half, r, t->pts, t->pts_geom, err));
    FM_TRY(sample_class(m, t->geom_class, 2, npoints - half, r, t->pts + 3 * half, t->pts_geom + half, err));
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

/* ---------------------------------------------------------------- episodes */

static void yaw_quat(double yaw, mjtNum q[4])
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
    yaw_quat(yaw, m->body_quat + 4 * bo);
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
    if (t->tool.family == FM_TU_SPATULA) {
        /* backstop 3 mm beyond the disc rim, tangentially (perpendicular to the direction from the
         * base) on the side away from y = 0: the blade then pushes across the workspace, with the
         * hand at a comfortable distance from the base for every handle length (a radial push puts
         * the hand of a long spatula against the base), and the disc has little room to gain speed
         * or slip sideways before it is held */
        int bs = t->body_stop;
        double a = atan2(oy, ox) + (oy >= 0 ? 0.5 * M_PI : -0.5 * M_PI), off = t->tool.obj[0] + 0.003;
        m->body_pos[3 * bs] = ox + off * cos(a);
        m->body_pos[3 * bs + 1] = oy + off * sin(a);
        yaw_quat(a, m->body_quat + 4 * bs);
    }
    if (t->tool.family == FM_TU_SPATULA) { /* free joint: position + orientation in qpos */
        int a = m->jnt_qposadr[t->jnt_obj[0]];
        e->d->qpos[a] = ox;
        e->d->qpos[a + 1] = oy;
        e->d->qpos[a + 2] = 0.0005;
        yaw_quat(yaw, e->d->qpos + a + 3);
    }
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

/* v = Re^T (w - pe): a world point in the end-effector frame. */
static void to_ee(const double pe[3], const double Re[9], const double *w, double *v)
{
    double x[3] = {w[0] - pe[0], w[1] - pe[1], w[2] - pe[2]};
    for (int a = 0; a < 3; a++)
        v[a] = Re[a] * x[0] + Re[3 + a] * x[1] + Re[6 + a] * x[2];
}

/* The keypoint observation (layout in tooluse.h). */
static void observe_keypoints(const fm_tu_episode *e, const double pe[3], const double Re[9], double *obs)
{
    const fm_tu_task *t = e->t;
    const mjModel *m = e->m;
    const mjData *d = e->d;
    const mjtNum *tp = d->xpos + 3 * t->body_tool, *tr = d->xmat + 9 * t->body_tool;
    for (int k = 0; k < FM_TU_NKP; k++) {
        double w[3];
        for (int a = 0; a < 3; a++)
            w[a] = tp[a] + tr[3 * a] * t->kp[k][0] + tr[3 * a + 1] * t->kp[k][1] + tr[3 * a + 2] * t->kp[k][2];
        to_ee(pe, Re, w, obs + 3 * k);
    }
    int bo = t->body_obj;
    to_ee(pe, Re, d->xpos + 3 * bo, obs + 12);
    const mjtNum *Ro = d->xmat + 9 * bo;
    for (int i = 0; i < 3; i++) /* (Re^T Ro)[i][j] */
        for (int j = 0; j < 3; j++)
            obs[15 + 3 * i + j] = Re[i] * Ro[j] + Re[3 + i] * Ro[3 + j] + Re[6 + i] * Ro[6 + j];
    for (int k = 0; k < 2; k++) {
        int jn = t->jnt_obj[k] >= 0 ? t->jnt_obj[k] : t->jnt_obj[0];
        to_ee(pe, Re, d->xpos + 3 * m->jnt_bodyid[jn], obs + 24 + 3 * k);
    }
    obs[30] = fm_tu_progress(e); /* already relative to the start */
    for (int f = 0; f < FM_TU_NFAMILY; f++)
        obs[31 + f] = f == t->tool.family ? 1.0 : 0.0;
}

void fm_tu_observe(fm_tu_episode *e, fm_rng *r, double *obs)
{
    const fm_tu_task *t = e->t;
    const mjData *d = e->d;
    double pe[3], Re[9];
    fm_tu_ee_pose(e, pe, Re);
    if (e->env->obs == FM_TU_OBS_KEYPOINTS) {
        observe_keypoints(e, pe, Re, obs);
        if (e->env->proprio) {
            memcpy(obs + FM_TU_KP_DIM, pe, sizeof(double) * 3);
            memcpy(obs + FM_TU_KP_DIM + 3, Re, sizeof(double) * 9);
        }
        return;
    }
    int n = t->npoints, half = n / 2;
    double sd = e->env->point_noise;
    for (int i = 0; i < n; i++) {
        int g = t->pts_geom[i];
        const double *l = t->pts + 3 * i, *gp = d->geom_xpos + 3 * g, *gm = d->geom_xmat + 9 * g;
        double w[3], v[3];
        for (int a = 0; a < 3; a++)
            w[a] = gp[a] + gm[3 * a] * l[0] + gm[3 * a + 1] * l[1] + gm[3 * a + 2] * l[2];
        to_ee(pe, Re, w, v);
        double *o = obs + FM_TU_CHANNELS * i;
        for (int a = 0; a < 3; a++)
            o[a] = v[a] + sd * fm_rng_normal(r);
        o[3] = i < half ? 1.0 : 0.0;
    }
    if (e->env->proprio) {
        double *o = obs + FM_TU_CHANNELS * n;
        for (int a = 0; a < 3; a++)
            o[a] = pe[a];
        for (int a = 0; a < 9; a++)
            o[3 + a] = Re[a];
    }
}

double fm_tu_progress(const fm_tu_episode *e)
{
    const fm_tu_task *t = e->t;
    const mjModel *m = e->m;
    const mjData *d = e->d;
    double v = 0;
    switch (t->tool.family) {
    case FM_TU_HAMMER: v = -d->qpos[m->jnt_qposadr[t->jnt_obj[0]]]; break;
    case FM_TU_WRENCH: v = fabs(d->qpos[m->jnt_qposadr[t->jnt_obj[0]]]); break;
    case FM_TU_SPATULA: v = d->qpos[m->jnt_qposadr[t->jnt_obj[0]] + 2]; break;
    case FM_TU_KNIFE:
        v = d->qpos[m->jnt_qposadr[t->jnt_obj[1]]] - d->qpos[m->jnt_qposadr[t->jnt_obj[0]]];
        break;
    default: break;
    }
    return v - e->progress0;
}

static const double SUCCESS_AT[FM_TU_NFAMILY] = {0.01, 0.4, 0.05, 0.05};

int fm_tu_success(const fm_tu_episode *e)
{
    double p = fm_tu_progress(e), thr = SUCCESS_AT[e->t->tool.family];
    int ok = e->t->tool.family == FM_TU_KNIFE ? p > thr : p >= thr;
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
    double prog = fm_tu_progress(e), frac = prog / SUCCESS_AT[e->t->tool.family];
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
