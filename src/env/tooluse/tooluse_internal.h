/* tooluse_internal.h - structures shared by the files of the tool-use benchmark: tooluse_scene.c
 * (tools, MJCF, tasks, the table of families), tooluse_obs.c (point samples, observations),
 * tooluse_sim.c (episodes, control, success), tooluse_expert.c (keypoint IK and plans) and one file
 * per tool family (tooluse_hammer.c, tooluse_wrench.c, tooluse_spatula.c, tooluse_knife.c: its
 * geometry, keypoints, skill and success check). Not part of the public interface. */
#ifndef FM_TOOLUSE_INTERNAL_H
#define FM_TOOLUSE_INTERNAL_H

#include <mujoco/mujoco.h>

#include "env/tooluse/tooluse.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#define FM_TU_NKP 4 /* tool keypoints: head, tail, side, head-up */

struct fm_tu_task {
    fm_tu_tool tool;
    mjModel *m;                /* compiled scene, never modified (episodes copy it) */
    int site_ee, body_tool, body_obj, body_hand;
    int body_stop;             /* spatula: the backstop body (placed at reset), else -1 */
    int jnt_obj[2];            /* object joints (hammer pin, nut, disc free joint, knife halves a/b) */
    int *geom_class;           /* [ngeom] 0 other, 1 tool, 2 object */
    int npoints;
    double *pts;               /* [npoints][3] surface samples in their geom's frame */
    int *pts_geom;             /* [npoints] the geom of each sample (tool first, then object) */
    double kp[FM_TU_NKP][3];   /* tool keypoints in the tool frame */
};

typedef struct fm_tu_waypoint {
    double p[3], R[9]; /* end-effector target pose (world) */
    int jump;          /* >= 0: if the task already succeeded when this waypoint is next, go there */
    int unrecorded;    /* executed but not recorded in demonstrations (the settle step, issue 13) */
} fm_tu_waypoint;

struct fm_tu_episode {
    const fm_tooluse *env;
    const fm_tu_task *t;
    int h;
    mjModel *m;          /* per-episode copy with the randomized object pose, friction, mass, tool offset */
    mjData *d, *dk;      /* simulation state; scratch data for the expert's kinematics */
    mjtNum *jac, *minvjt;/* controller scratch [6][nv] each (one allocation at jac) */
    double q_rest[FM_TU_NJOINT]; /* null-space posture */
    double obj_pos[2], obj_yaw, progress0; /* progress0: the progress measure at the start */
    double dir[3];       /* expert: push / sweep direction (world) */
    int touched, unstable, steps;
    fm_tu_waypoint *plan; /* expert plan */
    int nplan, iplan;
};

extern const double FM_TU_HOME[FM_TU_NJOINT];
const char *fm_tu_family_name(int fam);
/* Keypoints of a tool in its frame: head (the working point), tail, side, head-up. */
void fm_tu_keypoints(const fm_tu_tool *t, double kp[FM_TU_NKP][3]);
/* World-frame rotation vector e with exp([e]) R = Rt (|e| <= pi). */
void fm_tu_rot_error(const double Rt[9], const double R[9], double e[3]);
/* out = exp([w]) R. */
void fm_tu_rot_apply(const double w[3], const double R[9], double out[9]);
/* n points (area-weighted, uniform on the surfaces) over the geoms g of m with cls[g] == which
 * (1 tool, 2 object): pts[n][3] in each point's geom frame, gid[n] its geom. FM_EINVAL when no
 * geom of that class has surface. Draws from r. */
fm_status fm_tu_sample_points(const mjModel *m, const int *cls, int which, int n, fm_rng *r, double *pts,
                              int *gid, fm_err *err);

/* lo + (hi - lo) i / 3 for i = 0..3 (tool instances, cycling with i % 4). */
static inline double fm_tu_lerp4(double lo, double hi, int i) { return lo + (hi - lo) * (double)(i % 4) / 3.0; }
/* q = the quaternion of a rotation by yaw about z (tooluse_sim.c). */
void fm_tu_yaw_quat(double yaw, mjtNum q[4]);

/* ---------------------------------------------------------------- MJCF text (tooluse_scene.c) */

typedef struct fm_tu_sbuf { char *s; size_t n, cap; int oom; } fm_tu_sbuf; /* growing string, oom sticky */
void fm_tu_sb_printf(fm_tu_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* <mesh> of a prism with n sides: bottom polygon of radius r0 at z = 0, top of radius r1 at z = h. */
void fm_tu_mjcf_prism(fm_tu_sbuf *b, const char *name, int n, double r0, double r1, double h, double phase);

/* ---------------------------------------------------------------- expert (tooluse_expert.c) */

#define FM_TU_IK_MAX_PT 4
#define FM_TU_IK_MAX_VEC 3
#define FM_TU_IK_MAX_VIA 3
#define FM_TU_MAX_CAND 8 /* actuation candidates per plan */

typedef struct fm_tu_ik_pt { int body; double loc[3], tgt[3]; } fm_tu_ik_pt;
/* scalar = 0: R a = tgt (3 residuals); scalar = 1: tgt . (R a) = alpha (1 residual) */
typedef struct fm_tu_ik_vec { int body; double loc[3], tgt[3]; int scalar; double alpha; } fm_tu_ik_vec;
typedef struct fm_tu_ik_prob {
    fm_tu_ik_pt pt[FM_TU_IK_MAX_PT];
    int npt;
    fm_tu_ik_vec vec[FM_TU_IK_MAX_VEC];
    int nvec;
    /* keyframes of the skill, relative to the actuation end-effector pose: translation via[k][0..2],
     * then a rotation by via[k][3] rad about the vertical through pt[0].tgt; each must be reachable
     * too (ik_best) */
    double via[FM_TU_IK_MAX_VIA][4];
    int nvia;
} fm_tu_ik_prob;

/* w = the point loc of body b (body frame) in the world, from d's kinematics. */
void fm_tu_body_point(const mjData *d, int b, const double loc[3], double w[3]);
/* v: body-frame axis l of `body` should point along world t (scalar and alpha cleared). */
void fm_tu_vec_target(fm_tu_ik_vec *v, int body, double lx, double ly, double lz, double tx, double ty, double tz);
/* out = p + (dx, dy, dz). */
void fm_tu_shifted(const double p[3], double dx, double dy, double dz, double out[3]);
/* (po, Ro) = the pose (p, R) rotated by phi about the world vertical through c. */
void fm_tu_rotate_about_z(const double c[3], double phi, const double p[3], const double R[9], double po[3],
                          double Ro[9]);
/* Append the waypoint (p, R) to e's plan (jump: as fm_tu_waypoint); 0 when the plan is full. */
int fm_tu_push_wp(fm_tu_episode *e, const double p[3], const double R[9], int jump);
/* Straight Cartesian segment from the last waypoint to (p, R) in steps of at most dmax m / amax rad. */
void fm_tu_push_line(fm_tu_episode *e, const double p[3], const double R[9], double dmax, double amax);

/* ---------------------------------------------------------------- tool families */

typedef struct fm_tu_range { const char *field; double lo, hi; } fm_tu_range;

/* Everything that differs between tool families. Hooks marked "may be NULL" are skipped when NULL. */
typedef struct fm_tu_family_def {
    const char *name;
    /* geometry: the built-in instance (j = inst % 4 picks the shape, k = inst / 4 shifts the head;
     * family, name and handle_rad are set by the caller) and the checks of a definition */
    void (*tool_default)(int j, int k, fm_tu_tool *t);
    fm_tu_range range[6]; /* head[0..2], obj[0..2] */
    fm_status (*tool_check)(const fm_tu_tool *t, const char *name, fm_err *err); /* may be NULL */
    /* scene: the handle capsule ends handle_cut before handle_len; tool_geoms writes the rest of the
     * tool (tool frame); option goes into <option>; assets (may be NULL) writes meshes; object writes
     * the object's bodies (the root body is "obj"); exclude (may be NULL) names a body of obj whose
     * contacts with obj are excluded; joint[] the object joints (joint[1] may be NULL); backstop: the
     * scene has a body "backstop" */
    double handle_cut;
    void (*tool_geoms)(fm_tu_sbuf *b, const fm_tu_tool *t);
    const char *option;
    void (*assets)(fm_tu_sbuf *b, const fm_tu_tool *t);
    void (*object)(fm_tu_sbuf *b, const fm_tu_tool *t);
    const char *exclude;
    const char *joint[2];
    int backstop;
    /* episodes: reset (may be NULL) places what depends on the object's randomized pose (ox, oy,
     * yaw) in e->m and e->d before mj_forward; progress is the raw measure (fm_tu_progress
     * subtracts its start value); success: progress >= success_at (> when success_strict) */
    void (*reset)(fm_tu_episode *e, double ox, double oy, double yaw);
    double (*progress)(const fm_tu_episode *e);
    double success_at;
    int success_strict;
    /* expert: keypoints sets kp[0] (head) and kp[2] (side) in the tool frame (the rest is zero; tail
     * and head-up are common); actuation fills cand[] with the actuation constraints (Eq. 4.2-4.3),
     * dirs[c] the skill direction of candidate c, objp the object keypoint and *lift the height of
     * the pre-actuation pose above the actuation pose, and returns the number of candidates; skill
     * appends the actuation keyframes (C.10) from the actuation pose (pa, Ra), the pre-actuation
     * position pp and objp */
    void (*keypoints)(const fm_tu_tool *t, double kp[FM_TU_NKP][3]);
    int (*actuation)(fm_tu_episode *e, fm_tu_ik_prob cand[FM_TU_MAX_CAND], double dirs[FM_TU_MAX_CAND][3],
                     double objp[3], double *lift);
    void (*skill)(fm_tu_episode *e, const double objp[3], const double pa[3], const double Ra[9],
                  const double pp[3]);
} fm_tu_family_def;

extern const fm_tu_family_def FM_TU_HAMMER_DEF, FM_TU_WRENCH_DEF, FM_TU_SPATULA_DEF, FM_TU_KNIFE_DEF;
/* The table, indexed by fm_tu_family (tooluse_scene.c). */
extern const fm_tu_family_def *const FM_TU_FAMILIES[FM_TU_NFAMILY];

#endif
