/* tooluse_internal.h - structures shared by the files of the tool-use benchmark: tooluse_scene.c
 * (tools, MJCF, tasks), tooluse_obs.c (point samples, observations), tooluse_sim.c (episodes,
 * control, success) and tooluse_expert.c (keypoint expert). Not part of the public interface. */
#ifndef FM_TOOLUSE_INTERNAL_H
#define FM_TOOLUSE_INTERNAL_H

#include <mujoco/mujoco.h>

#include "env/tooluse.h"

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

#endif
