/* multitask_tasks.c - the MT-10 task table (multitask_internal.h, docs/multitask.md). One entry
 * per task: its bodies (MJCF), reset draws, objects, success measure and expert. Ranges and success
 * criteria follow Meta-World v2's published task definitions (Yu et al. 2019; every deviation is
 * listed in docs/multitask.md); the geometry, the mechanics and the experts are ours.
 *
 * The experts are functions of the 39-value observation alone (tcp o[0..2], opening o[3], first
 * object o[4..6] + quaternion o[7..10], goal o[36..38]): each step picks its phase from the state,
 * as Meta-World's scripted policies do, so a demonstration never gives two labels to one
 * observation and the expert can act from any state a policy reaches. Movement toward a target is
 * proportional, 25 x the error in m (full speed 1 cm per step from 4 cm away). */
#include <math.h>
#include <string.h>

#include "env/multitask/multitask_internal.h"

enum { O_TCP = 0, O_GRIP = 3, O_OBJ = 4, O_QUAT = 7, O_PREV = 18, O_GOAL = 36 };
#define GAIN 25.0

/* ---------------------------------------------------------------- shared pieces */

static void toward(const double *tcp, const double t[3], double a[FM_MT_ACT_DIM])
{
    for (int k = 0; k < 3; k++)
        a[k] = GAIN * (t[k] - tcp[k]);
}

/* Go to (x, y) at height z; a hand lower than z - 0.03 rises first without moving sideways (it
 * would sweep objects otherwise). */
static void above(const double *tcp, double x, double y, double z, double a[FM_MT_ACT_DIM])
{
    double t[3] = {x, y, z};
    toward(tcp, t, a);
    if (tcp[2] < z - 0.03)
        a[0] = a[1] = 0;
}

static double dist_xy(const double *p, const double *q) { return hypot(p[0] - q[0], p[1] - q[1]); }

static double dist3(const double *p, const double *q)
{
    return sqrt((p[0] - q[0]) * (p[0] - q[0]) + (p[1] - q[1]) * (p[1] - q[1]) + (p[2] - q[2]) * (p[2] - q[2]));
}

/* World x axis of a body from its quaternion (w, x, y, z). */
static void quat_xaxis(const double q[4], double u[3])
{
    double w = q[0], x = q[1], y = q[2], z = q[3];
    u[0] = 1 - 2 * (y * y + z * z);
    u[1] = 2 * (x * y + w * z);
    u[2] = 2 * (x * z - w * y);
}

/* Rotation angle about z of a body that only turns about z. */
static double quat_yaw(const double q[4]) { return 2 * atan2(q[3], q[0]); }

static void rot_z(double th, double x, double y, double out[2])
{
    out[0] = x * cos(th) - y * sin(th);
    out[1] = x * sin(th) + y * cos(th);
}

static void objects_body(const fm_mt_episode *e, int slot, double o[14])
{
    memset(o, 0, 14 * sizeof *o);
    fm_mt_body_pose(e, slot, o);
}

static void objects_site(const fm_mt_episode *e, const char *site, int slot, double o[14])
{
    double pose[7];
    memset(o, 0, 14 * sizeof *o);
    fm_mt_body_pose(e, slot, pose);
    fm_mt_site_pos(e, site, o);
    memcpy(o + 3, pose + 3, 4 * sizeof *o);
}

/* Grasp the object whose grasp point is g (world) and whose closed grip reads an opening in
 * (lo, hi): above it, down with the fingers open, close, and report 1 once held (the caller
 * carries); a grip closed on nothing opens again. */
static int grasp(const double *o, const double g[3], double lo, double hi, double a[FM_MT_ACT_DIM])
{
    const double *tcp = o + O_TCP, open = o[O_GRIP];
    double d = dist_xy(tcp, g), dz = tcp[2] - g[2];
    if (d < 0.02 && fabs(dz) < 0.02 && open > lo && open < hi && fabs(open - o[O_PREV + O_GRIP]) < 0.02)
        return 1; /* closed on it and no longer closing (the previous step's opening, o[21], is the same) */
    if (open <= lo) { /* closed on nothing: open and lift a little */
        double t[3] = {g[0], g[1], g[2] + 0.03};
        toward(tcp, t, a);
        a[3] = -1;
    } else if (d > 0.012) {
        above(tcp, g[0], g[1], g[2] + 0.08, a);
        a[3] = -1;
    } else if (dz > 0.004 && open > 0.8) {
        toward(tcp, g, a);
        a[3] = -1;
    } else { /* at the grasp point: close, holding still */
        toward(tcp, g, a);
        a[3] = 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- puck: reach, push, pick-place */

/* The puck: an octagonal prism 4 cm across the flats and 4 cm tall (two boxes, one turned 45
 * degrees), 0.2 kg. Not Meta-World's cylinder: MuJoCo 2.2.2 gives a cylinder a single contact
 * point against a box (the finger pads), and a single point cannot hold it: squeezed, it rolled
 * out of the grip. Box-box contacts give a face several points. */
static const char PUCK[] =
    "  <body name=\"obj\" pos=\"0 0.6 0.02\">\n"
    "   <freejoint/>\n"
    "   <geom name=\"puck\" type=\"box\" size=\"0.02 0.02 0.02\" mass=\"0.1\" friction=\"1 0.005 0.0001\""
    " rgba=\".8 .25 .2 1\"/>\n"
    "   <geom type=\"box\" size=\"0.02 0.02 0.02\" euler=\"0 0 0.785398\" mass=\"0.1\" friction=\"1 0.005 0.0001\""
    " rgba=\".8 .25 .2 1\"/>\n"
    "  </body>\n";

/* Puck at U[-0.1, 0.1] x U[0.6, 0.7], goal x U[-0.1, 0.1], y U[0.8, 0.9], z U[zlo, zhi]; redrawn
 * (puck and goal) while they are closer than 0.15 in the plane, as Meta-World does. */
static void reset_puck(fm_mt_episode *e, fm_rng *r, double zlo, double zhi)
{
    double obj[3];
    for (int tries = 0; tries < 100; tries++) {
        obj[0] = fm_mt_unif(r, -0.1, 0.1), obj[1] = fm_mt_unif(r, 0.6, 0.7), obj[2] = 0.02;
        e->goal[0] = fm_mt_unif(r, -0.1, 0.1), e->goal[1] = fm_mt_unif(r, 0.8, 0.9);
        e->goal[2] = fm_mt_unif(r, zlo, zhi);
        if (dist_xy(obj, e->goal) >= 0.15)
            break;
    }
    fm_mt_set_free(e, MT_BODY_OBJ, obj, 0);
}

static void reset_reach(fm_mt_episode *e, fm_rng *r) { reset_puck(e, r, 0.05, 0.3); }
static void reset_push(fm_mt_episode *e, fm_rng *r) { reset_puck(e, r, 0.02, 0.02); }
static void reset_pick(fm_mt_episode *e, fm_rng *r) { reset_puck(e, r, 0.05, 0.3); }
static void objects_puck(const fm_mt_episode *e, double o[14]) { objects_body(e, MT_BODY_OBJ, o); }

static double distance_reach(const fm_mt_episode *e)
{
    double tcp[3];
    fm_mt_tcp(e, tcp);
    return dist3(tcp, e->goal);
}

static double distance_obj(const fm_mt_episode *e)
{
    double o[7];
    fm_mt_body_pose(e, MT_BODY_OBJ, o);
    return dist3(o, e->goal);
}

static void expert_reach(const double *o, double a[FM_MT_ACT_DIM])
{
    toward(o + O_TCP, o + O_GOAL, a);
    a[3] = 0;
}

/* The puck held (pads 4 to 4.3 cm apart across its flats or corners: opening 0.40 to 0.46),
 * carried so that its center goes to the goal. */
static void carry_puck(const double *o, int keep_z, double a[FM_MT_ACT_DIM])
{
    if (!grasp(o, o + O_OBJ, 0.3, 0.5, a))
        return;
    double t[3];
    for (int k = 0; k < 3; k++)
        t[k] = o[O_TCP + k] + o[O_GOAL + k] - o[O_OBJ + k];
    if (keep_z)
        t[2] = o[O_TCP + 2];
    toward(o + O_TCP, t, a);
    a[3] = 1;
}

static void expert_push(const double *o, double a[FM_MT_ACT_DIM]) { carry_puck(o, 1, a); }
static void expert_pick(const double *o, double a[FM_MT_ACT_DIM]) { carry_puck(o, 0, a); }

/* ---------------------------------------------------------------- drawer: open, close */

/* A cabinet (body "base", fixed) with a drawer on a slide along -y (open = toward the robot,
 * 0.16 m of travel) and a bar handle 5.5 cm in front of its face: the hand hooks into the 4.7 cm
 * pocket between bar and face to pull, or pushes the bar's front to close. Handle at z = 0.09. */
static const char DRAWER[] =
    "  <body name=\"base\" pos=\"0 0.9 0\">\n"
    "   <geom type=\"box\" pos=\"-0.11 0 0.084\" size=\"0.008 0.1 0.084\" rgba=\".45 .45 .55 1\"/>\n"
    "   <geom type=\"box\" pos=\"0.11 0 0.084\" size=\"0.008 0.1 0.084\" rgba=\".45 .45 .55 1\"/>\n"
    "   <geom type=\"box\" pos=\"0 0.092 0.084\" size=\"0.102 0.008 0.076\" rgba=\".45 .45 .55 1\"/>\n"
    "   <geom type=\"box\" pos=\"0 0 0.007\" size=\"0.102 0.1 0.007\" rgba=\".45 .45 .55 1\"/>\n"
    "   <geom type=\"box\" pos=\"0 0 0.16\" size=\"0.118 0.1 0.008\" rgba=\".45 .45 .55 1\"/>\n"
    "   <body name=\"move\" pos=\"0 0 0.09\">\n"
    "    <joint name=\"drawer\" type=\"slide\" axis=\"0 -1 0\" range=\"0 0.16\" damping=\"2\"/>\n"
    "    <geom type=\"box\" pos=\"0 -0.092 0\" size=\"0.1 0.008 0.052\" mass=\"0.3\" rgba=\".6 .5 .3 1\"/>\n"
    "    <geom type=\"box\" pos=\"0 -0.01 -0.05\" size=\"0.1 0.09 0.006\" mass=\"0.05\" rgba=\".6 .5 .3 1\"/>\n"
    "    <geom type=\"box\" pos=\"-0.094 -0.01 -0.01\" size=\"0.006 0.09 0.04\" mass=\"0.05\" rgba=\".6 .5 .3 1\"/>\n"
    "    <geom type=\"box\" pos=\"0.094 -0.01 -0.01\" size=\"0.006 0.09 0.04\" mass=\"0.05\" rgba=\".6 .5 .3 1\"/>\n"
    "    <geom type=\"box\" pos=\"-0.05 -0.125 0\" size=\"0.006 0.025 0.006\" mass=\"0.02\" rgba=\".2 .2 .2 1\"/>\n"
    "    <geom type=\"box\" pos=\"0.05 -0.125 0\" size=\"0.006 0.025 0.006\" mass=\"0.02\" rgba=\".2 .2 .2 1\"/>\n"
    "    <geom type=\"capsule\" fromto=\"-0.056 -0.155 0 0.056 -0.155 0\" size=\"0.008\" mass=\"0.02\""
    " rgba=\".2 .2 .2 1\"/>\n"
    "    <site name=\"handle\" pos=\"0 -0.155 0\" size=\"0.005\"/>\n"
    "   </body>\n"
    "  </body>\n";
static const char EXCLUDE_BASE_MOVE[] = " <contact><exclude body1=\"base\" body2=\"move\"/></contact>\n";

#define DRAWER_TRAVEL 0.16
#define POCKET 0.0315 /* pocket center behind the drawer's handle site (+y) */

/* The handle site's world position with the drawer open by q. */
static void drawer_handle_at(const double base[3], double q, double h[3])
{
    h[0] = base[0], h[1] = base[1] - 0.155 - q, h[2] = 0.09;
}

static void reset_drawer(fm_mt_episode *e, fm_rng *r, double q0, double qgoal)
{
    double base[3] = {fm_mt_unif(r, -0.1, 0.1), 0.9, 0};
    fm_mt_set_base(e, MT_BODY_BASE, base);
    e->d->qpos[e->m->jnt_qposadr[e->s->jnt_move]] = q0;
    drawer_handle_at(base, qgoal, e->goal);
}

static void reset_drawer_open(fm_mt_episode *e, fm_rng *r) { reset_drawer(e, r, 0, DRAWER_TRAVEL); }
static void reset_drawer_close(fm_mt_episode *e, fm_rng *r) { reset_drawer(e, r, 0.15, 0); }
static void objects_handle(const fm_mt_episode *e, double o[14]) { objects_site(e, "handle", MT_BODY_MOVE, o); }

static double distance_handle(const fm_mt_episode *e)
{
    double h[3];
    fm_mt_site_pos(e, "handle", h);
    return dist3(h, e->goal);
}

/* Into the pocket from above with closed fingers, then pull toward the robot. */
static void expert_drawer_open(const double *o, double a[FM_MT_ACT_DIM])
{
    const double *tcp = o + O_TCP, *h = o + O_OBJ;
    double p[3] = {h[0], h[1] + POCKET, h[2]}, dx = tcp[0] - p[0], dy = tcp[1] - p[1], dz = tcp[2] - p[2];
    a[3] = 1;
    if (fabs(dx) < 0.03 && dy > -0.04 && dy < 0.02 && fabs(dz) < 0.02) { /* hooked (behind the bar): pull */
        double t[3] = {p[0], p[1] - 0.06, p[2]};
        toward(tcp, t, a);
    } else if (fabs(dx) < 0.02 && fabs(dy) < 0.01) { /* over the pocket: down */
        toward(tcp, p, a);
    } else {
        above(tcp, p[0], p[1], p[2] + 0.07, a);
    }
}

/* Down in front of the bar, then push it in. */
static void expert_drawer_close(const double *o, double a[FM_MT_ACT_DIM])
{
    const double *tcp = o + O_TCP, *h = o + O_OBJ;
    double f[3] = {h[0], h[1] - 0.035, h[2]};
    a[3] = 1;
    if (tcp[1] < h[1] - 0.015 && fabs(tcp[0] - h[0]) < 0.04 && fabs(tcp[2] - h[2]) < 0.02) { /* push */
        double t[3] = {h[0], tcp[1] + 0.06, h[2]};
        toward(tcp, t, a);
    } else if (fabs(tcp[0] - f[0]) < 0.01 && fabs(tcp[1] - f[1]) < 0.01) {
        toward(tcp, f, a);
    } else {
        above(tcp, f[0], f[1], f[2] + 0.07, a);
    }
}

/* ---------------------------------------------------------------- door: open */

/* A door on a vertical hinge (body "move", hinge 18.5 cm left of the frame's center and 3 cm in
 * front of it), opening toward the robot (negative angle, range [-2, 0] rad as Meta-World's); a
 * bar handle 27-33 cm from the hinge with a 6.8 x 4.8 cm pocket behind it, at z = 0.15. */
static const char DOOR[] =
    "  <body name=\"base\" pos=\"0 0.9 0\">\n"
    "   <geom type=\"box\" pos=\"-0.2 0.02 0.15\" size=\"0.015 0.02 0.15\" rgba=\".45 .45 .55 1\"/>\n"
    "   <geom type=\"box\" pos=\"0.2 0.02 0.15\" size=\"0.015 0.02 0.15\" rgba=\".45 .45 .55 1\"/>\n"
    "   <geom type=\"box\" pos=\"0 0.02 0.31\" size=\"0.215 0.02 0.01\" rgba=\".45 .45 .55 1\"/>\n"
    "   <body name=\"move\" pos=\"-0.185 -0.03 0\">\n"
    "    <joint name=\"door\" type=\"hinge\" axis=\"0 0 1\" range=\"-2 0\" damping=\"2\"/>\n"
    "    <geom type=\"box\" pos=\"0.185 0 0.15\" size=\"0.18 0.01 0.13\" mass=\"1\" rgba=\".6 .5 .3 1\"/>\n"
    "    <geom type=\"box\" pos=\"0.26 -0.035 0.15\" size=\"0.006 0.025 0.006\" mass=\"0.02\" rgba=\".2 .2 .2 1\"/>\n"
    "    <geom type=\"box\" pos=\"0.34 -0.035 0.15\" size=\"0.006 0.025 0.006\" mass=\"0.02\" rgba=\".2 .2 .2 1\"/>\n"
    "    <geom type=\"capsule\" fromto=\"0.254 -0.066 0.15 0.346 -0.066 0.15\" size=\"0.008\" mass=\"0.02\""
    " rgba=\".2 .2 .2 1\"/>\n"
    "    <site name=\"handle\" pos=\"0.3 -0.066 0.15\" size=\"0.005\"/>\n"
    "   </body>\n"
    "  </body>\n";

#define DOOR_OPEN 1.49                    /* rad: Meta-World's success (handle x within 8 cm of door x - 0.3) */
static const double DOOR_H[2] = {0.3, -0.066}; /* handle site in the door's frame (hinge at 0) */
static const double DOOR_P[2] = {0.3, -0.034}; /* pocket center in the door's frame */
#define DOOR_DOWN 0.03 /* the tcp this far below the bar: the bar meets the knuckle between the pads */

static void reset_door(fm_mt_episode *e, fm_rng *r)
{
    double base[3] = {fm_mt_unif(r, 0, 0.1), fm_mt_unif(r, 0.85, 0.95), 0}, v[2];
    fm_mt_set_base(e, MT_BODY_BASE, base);
    rot_z(-0.5 * 3.14159265358979323846, DOOR_H[0], DOOR_H[1], v); /* the goal: the handle with the door open 90 degrees */
    e->goal[0] = base[0] - 0.185 + v[0], e->goal[1] = base[1] - 0.03 + v[1], e->goal[2] = 0.15;
}

static double distance_door(const fm_mt_episode *e)
{
    double opened = -fm_mt_joint_q(e, MT_BODY_MOVE);
    return opened >= DOOR_OPEN ? 0 : DOOR_OPEN - opened;
}

static void expert_door_open(const double *o, double a[FM_MT_ACT_DIM])
{
    const double *tcp = o + O_TCP, *h = o + O_OBJ;
    double th = quat_yaw(o + O_QUAT), v[2], hinge[2], p[2], l[2];
    rot_z(th, DOOR_H[0], DOOR_H[1], v);
    hinge[0] = h[0] - v[0], hinge[1] = h[1] - v[1];
    rot_z(th, DOOR_P[0], DOOR_P[1], v);
    p[0] = hinge[0] + v[0], p[1] = hinge[1] + v[1];
    rot_z(-th, tcp[0] - p[0], tcp[1] - p[1], l); /* the tcp in the pocket's frame */
    a[3] = 1;
    /* hooked: behind the bar (the bar, pressing the pads, pushes the tcp up to 3 cm toward it) */
    if (fabs(l[0]) < 0.03 && l[1] > -0.04 && l[1] < 0.02 && fabs(tcp[2] - h[2] + DOOR_DOWN) < 0.025) { /* swing */
        rot_z(th - 0.35, DOOR_P[0], DOOR_P[1], v);
        double t[3] = {hinge[0] + v[0], hinge[1] + v[1], h[2] - DOOR_DOWN};
        toward(tcp, t, a);
    } else if (fabs(l[0]) < 0.015 && fabs(l[1]) < 0.008) { /* down until the bar is at the knuckle */
        double t[3] = {p[0], p[1], h[2] - DOOR_DOWN};
        toward(tcp, t, a);
    } else {
        above(tcp, p[0], p[1], h[2] + 0.07, a);
    }
}

/* ---------------------------------------------------------------- button: press top-down */

/* A box (body "base", top at z = 0.1) with a cap on a spring-loaded vertical slide (body "move",
 * 5 cm of travel); the site "button" is the cap's top, 0.14 at rest. */
static const char BUTTON[] =
    "  <body name=\"base\" pos=\"0 0.85 0\">\n"
    "   <geom type=\"box\" pos=\"0 0 0.05\" size=\"0.06 0.06 0.05\" rgba=\".75 .6 .2 1\"/>\n"
    "   <body name=\"move\" pos=\"0 0 0.12\">\n"
    "    <joint name=\"button\" type=\"slide\" axis=\"0 0 -1\" range=\"0 0.05\" stiffness=\"100\" springref=\"-0.01\""
    " damping=\"1\"/>\n"
    "    <geom type=\"cylinder\" size=\"0.02 0.02\" mass=\"0.05\" rgba=\".85 .1 .1 1\"/>\n"
    "    <site name=\"button\" pos=\"0 0 0.02\" size=\"0.005\"/>\n"
    "   </body>\n"
    "  </body>\n";

static void reset_button(fm_mt_episode *e, fm_rng *r)
{
    double base[3] = {fm_mt_unif(r, -0.1, 0.1), fm_mt_unif(r, 0.8, 0.9), 0};
    fm_mt_set_base(e, MT_BODY_BASE, base);
    e->goal[0] = base[0], e->goal[1] = base[1], e->goal[2] = 0.14 - 0.05; /* the cap's top fully pressed */
}

static void objects_button(const fm_mt_episode *e, double o[14]) { objects_site(e, "button", MT_BODY_MOVE, o); }

static double distance_button(const fm_mt_episode *e)
{
    double b[3];
    fm_mt_site_pos(e, "button", b);
    return fabs(b[2] - e->goal[2]);
}

static void expert_button(const double *o, double a[FM_MT_ACT_DIM])
{
    const double *tcp = o + O_TCP, *b = o + O_OBJ;
    a[3] = 1;
    if (dist_xy(tcp, b) > 0.01) {
        above(tcp, b[0], b[1], b[2] + 0.06, a);
    } else { /* chase the cap down, as Meta-World's policy does */
        double t[3] = {b[0], b[1], b[2] - 0.03};
        toward(tcp, t, a);
    }
}

/* ---------------------------------------------------------------- window: open, close */

/* A frame (body "base") with a sash on a horizontal slide (body "move", +x = open, 0.2 m of
 * travel as Meta-World's) and a vertical bar handle 6 cm in front of the sash at z = 0.19. */
static const char WINDOW[] =
    "  <body name=\"base\" pos=\"0 0.8 0\">\n"
    "   <geom type=\"box\" pos=\"0 0 0.03\" size=\"0.25 0.03 0.03\" rgba=\".45 .45 .55 1\"/>\n"
    "   <geom type=\"box\" pos=\"0 0 0.33\" size=\"0.25 0.03 0.015\" rgba=\".45 .45 .55 1\"/>\n"
    "   <geom type=\"box\" pos=\"-0.235 0 0.19\" size=\"0.015 0.03 0.125\" rgba=\".45 .45 .55 1\"/>\n"
    "   <geom type=\"box\" pos=\"0.235 0 0.19\" size=\"0.015 0.03 0.125\" rgba=\".45 .45 .55 1\"/>\n"
    "   <geom type=\"box\" pos=\"0.11 0.012 0.19\" size=\"0.1 0.006 0.125\" rgba=\".6 .75 .85 .7\"/>\n"
    "   <body name=\"move\">\n"
    "    <joint name=\"window\" type=\"slide\" axis=\"1 0 0\" range=\"0 0.2\" damping=\"2\"/>\n"
    "    <geom type=\"box\" pos=\"-0.11 -0.012 0.19\" size=\"0.1 0.006 0.125\" mass=\"0.5\" rgba=\".6 .75 .85 .7\"/>\n"
    "    <geom type=\"capsule\" fromto=\"-0.03 -0.06 0.15 -0.03 -0.06 0.23\" size=\"0.008\" mass=\"0.02\""
    " rgba=\".2 .2 .2 1\"/>\n"
    "    <geom type=\"box\" pos=\"-0.03 -0.039 0.15\" size=\"0.006 0.021 0.006\" mass=\"0.01\" rgba=\".2 .2 .2 1\"/>\n"
    "    <geom type=\"box\" pos=\"-0.03 -0.039 0.23\" size=\"0.006 0.021 0.006\" mass=\"0.01\" rgba=\".2 .2 .2 1\"/>\n"
    "    <site name=\"handle\" pos=\"-0.03 -0.06 0.19\" size=\"0.005\"/>\n"
    "   </body>\n"
    "  </body>\n";

#define WINDOW_TRAVEL 0.2

/* Frame at x U[-0.1, 0.1], y U[0.7, 0.9] (Meta-World's window-open range; window-close draws y from
 * U[0.75, 0.9] and x = 0 there); the goal is the handle with the sash at qgoal. */
static void reset_window(fm_mt_episode *e, fm_rng *r, double xlo, double xhi, double ylo, double q0, double qgoal)
{
    double base[3] = {fm_mt_unif(r, xlo, xhi), fm_mt_unif(r, ylo, 0.9), 0};
    fm_mt_set_base(e, MT_BODY_BASE, base);
    e->d->qpos[e->m->jnt_qposadr[e->s->jnt_move]] = q0;
    e->goal[0] = base[0] - 0.03 + qgoal, e->goal[1] = base[1] - 0.06, e->goal[2] = 0.19;
}

static void reset_window_open(fm_mt_episode *e, fm_rng *r) { reset_window(e, r, -0.1, 0.1, 0.7, 0, WINDOW_TRAVEL); }
static void reset_window_close(fm_mt_episode *e, fm_rng *r) { reset_window(e, r, 0, 0, 0.75, WINDOW_TRAVEL, 0); }

/* Meta-World measures the window tasks along x only. */
static double distance_handle_x(const fm_mt_episode *e)
{
    double h[3];
    fm_mt_site_pos(e, "handle", h);
    return fabs(h[0] - e->goal[0]);
}

/* Down beside the handle (4 cm to the side away from the goal), then push along x. */
static void expert_window(const double *o, double dir, double a[FM_MT_ACT_DIM])
{
    const double *tcp = o + O_TCP, *h = o + O_OBJ;
    double s[3] = {h[0] - dir * 0.04, h[1], h[2]}, side = dir * (h[0] - tcp[0]);
    a[3] = 1;
    if (side > 0.01 && side < 0.06 && fabs(tcp[1] - h[1]) < 0.02 && fabs(tcp[2] - h[2]) < 0.03) { /* push */
        double t[3] = {tcp[0] + dir * 0.06, h[1], h[2]};
        toward(tcp, t, a);
    } else if (dist_xy(tcp, s) < 0.01) {
        toward(tcp, s, a);
    } else {
        above(tcp, s[0], s[1], h[2] + 0.08, a);
    }
}

static void expert_window_open(const double *o, double a[FM_MT_ACT_DIM]) { expert_window(o, 1, a); }
static void expert_window_close(const double *o, double a[FM_MT_ACT_DIM]) { expert_window(o, -1, a); }

/* ---------------------------------------------------------------- peg: insert side */

/* A 24 x 3 x 3 cm peg (body "obj", free) lying along x; a box (body "base", fixed) with a 6 x 6 cm
 * channel along x centered at z = 0.13, its mouth facing +x at 9.6 cm from the box's center
 * (Meta-World's sizes). The site "head" is the peg's end toward the box. */
static const char PEG[] =
    "  <body name=\"obj\" pos=\"0.1 0.6 0.015\">\n"
    "   <freejoint/>\n"
    "   <geom type=\"box\" size=\"0.12 0.015 0.015\" mass=\"0.1\" friction=\"1 0.005 0.0001\" rgba=\".2 .6 .25 1\"/>\n"
    "   <site name=\"head\" pos=\"-0.12 0 0\" size=\"0.005\"/>\n"
    "  </body>\n"
    "  <body name=\"base\" pos=\"-0.3 0.6 0\">\n"
    "   <geom type=\"box\" pos=\"0 0 0.05\" size=\"0.096 0.1 0.05\" rgba=\".45 .45 .55 1\"/>\n"
    "   <geom type=\"box\" pos=\"0 0 0.18\" size=\"0.096 0.1 0.02\" rgba=\".45 .45 .55 1\"/>\n"
    "   <geom type=\"box\" pos=\"0 0.065 0.13\" size=\"0.096 0.035 0.03\" rgba=\".45 .45 .55 1\"/>\n"
    "   <geom type=\"box\" pos=\"0 -0.065 0.13\" size=\"0.096 0.035 0.03\" rgba=\".45 .45 .55 1\"/>\n"
    "  </body>\n";

#define PEG_HALF 0.12
#define PEG_MOUTH 0.096 /* the channel's mouth: box x + 0.096 */

static void reset_peg(fm_mt_episode *e, fm_rng *r)
{
    double peg[3], box[3];
    for (int tries = 0; tries < 100; tries++) { /* Meta-World redraws while closer than 0.1 */
        peg[0] = fm_mt_unif(r, 0, 0.2), peg[1] = fm_mt_unif(r, 0.5, 0.7), peg[2] = 0.015;
        box[0] = fm_mt_unif(r, -0.35, -0.25), box[1] = fm_mt_unif(r, 0.4, 0.7), box[2] = 0;
        if (dist_xy(peg, box) >= 0.1)
            break;
    }
    fm_mt_set_free(e, MT_BODY_OBJ, peg, 0);
    fm_mt_set_base(e, MT_BODY_BASE, box);
    e->goal[0] = box[0] + 0.03, e->goal[1] = box[1], e->goal[2] = 0.13; /* 6.6 cm inside the mouth */
}

/* Meta-World's measure: the head's error with y and z counted twice. */
static double distance_peg(const fm_mt_episode *e)
{
    double h[3];
    fm_mt_site_pos(e, "head", h);
    double dx = h[0] - e->goal[0], dy = 2 * (h[1] - e->goal[1]), dz = 2 * (h[2] - e->goal[2]);
    return sqrt(dx * dx + dy * dy + dz * dz);
}

/* Grasp the peg at its middle (pads 3 cm apart: opening 0.30), bring its head 6 cm in front of
 * the mouth, aligned with the channel, then push it in. */
static void expert_peg(const double *o, double a[FM_MT_ACT_DIM])
{
    const double *tcp = o + O_TCP, *c = o + O_OBJ, *goal = o + O_GOAL;
    if (!grasp(o, c, 0.2, 0.34, a))
        return;
    double u[3], head[3], t[3];
    quat_xaxis(o + O_QUAT, u);
    for (int k = 0; k < 3; k++)
        head[k] = c[k] - PEG_HALF * u[k];
    double ey = head[1] - goal[1], ez = head[2] - goal[2], mouth = goal[0] + PEG_MOUTH - 0.03;
    int inside = head[0] < mouth + 0.005 && fabs(ey) < 0.02 && fabs(ez) < 0.02;
    if (inside || (fabs(ey) < 0.006 && fabs(ez) < 0.006 && head[0] < mouth + 0.08)) {
        for (int k = 0; k < 3; k++)
            t[k] = tcp[k] + goal[k] - head[k];
        t[0] -= 0.02;
    } else {
        double s[3] = {mouth + 0.06, goal[1], goal[2]};
        for (int k = 0; k < 3; k++)
            t[k] = tcp[k] + s[k] - head[k];
    }
    toward(tcp, t, a);
    a[3] = 1;
}

/* ---------------------------------------------------------------- the table */

const mt_task_def fm_mt_tasks[FM_MT_NTASK] = {
    {"reach", PUCK, "", reset_reach, objects_puck, distance_reach, 0.05, {0, 0.6, 0.2}, expert_reach},
    {"push", PUCK, "", reset_push, objects_puck, distance_obj, 0.05, {0, 0.6, 0.2}, expert_push},
    {"pick-place", PUCK, "", reset_pick, objects_puck, distance_obj, 0.07, {0, 0.6, 0.2}, expert_pick},
    {"door-open", DOOR, EXCLUDE_BASE_MOVE, reset_door, objects_handle, distance_door, 0, {0, 0.6, 0.2}, expert_door_open},
    {"drawer-open", DRAWER, EXCLUDE_BASE_MOVE, reset_drawer_open, objects_handle, distance_handle, 0.01, {0, 0.6, 0.2},
     expert_drawer_open},
    {"drawer-close", DRAWER, EXCLUDE_BASE_MOVE, reset_drawer_close, objects_handle, distance_handle, 0.03, {0, 0.6, 0.2},
     expert_drawer_close},
    {"button-press-topdown", BUTTON, EXCLUDE_BASE_MOVE, reset_button, objects_button, distance_button, 0.02, {0, 0.4, 0.2},
     expert_button},
    {"peg-insert-side", PEG, "", reset_peg, objects_puck, distance_peg, 0.07, {0, 0.6, 0.2}, expert_peg},
    {"window-open", WINDOW, EXCLUDE_BASE_MOVE, reset_window_open, objects_handle, distance_handle_x, 0.01, {0, 0.4, 0.2},
     expert_window_open},
    {"window-close", WINDOW, EXCLUDE_BASE_MOVE, reset_window_close, objects_handle, distance_handle_x, 0.04, {0, 0.4, 0.2},
     expert_window_close},
};
