/* multitask_internal.h - what the suite's core (multitask.c) and its task table
 * (multitask_tasks.c) share: the episode, and one table entry per task. Adding a task = one entry
 * in multitask_tasks.c: its bodies (MJCF), its reset draws, its objects, its success check and its
 * expert. Not part of the env/ interface. */
#ifndef FM_MULTITASK_INTERNAL_H
#define FM_MULTITASK_INTERNAL_H

#include <mujoco/mujoco.h>

#include "env/multitask/multitask.h"

/* Named parts a task may use (ids looked up at build; -1 if the scene has none). */
enum { MT_BODY_OBJ = 0, MT_BODY_BASE, MT_BODY_MOVE, MT_NBODY_SLOTS };

typedef struct mt_task_def {
    const char *name;
    /* MJCF inside <worldbody> after the table and the hand: bodies named "obj" (the first
     * object), "base" (a fixed body moved at reset) and "move" (a jointed moving part), each
     * optional; a site "goal" is added by the core. */
    const char *bodies;
    /* MJCF after </worldbody> (contact excludes ...), or "". */
    const char *extra;
    /* Draw the episode's positions (into e->p[] and e->goal) and place the bodies in e->m / e->d
     * (model positions of fixed bodies, qpos of jointed ones). Called before friction / mass draws. */
    void (*reset)(fm_mt_episode *e, fm_rng *r);
    /* First and second object: position + quaternion (w, x, y, z) each; zeros for no second. */
    void (*objects)(const fm_mt_episode *e, double o[14]);
    /* Distance to the goal in the task's own measure, and the success threshold on it. */
    double (*distance)(const fm_mt_episode *e);
    double threshold;
    double hand[3]; /* the hand's nominal start (tcp, world m); jittered by U[-0.02, 0.02] per axis */
    /* The expert: action from the 39-value observation alone. */
    void (*expert)(const double *obs, double a[FM_MT_ACT_DIM]);
} mt_task_def;

extern const mt_task_def fm_mt_tasks[FM_MT_NTASK];

struct fm_mt_scene {
    const mt_task_def *def;
    mjModel *m;
    int body[MT_NBODY_SLOTS]; /* MT_BODY_* ids or -1 */
    int site_tcp, site_goal, body_hand, body_mocap;
    int jnt_move;             /* the first joint of "move" or of "obj" (-1: none) */
    int act_r, act_l;         /* finger servos */
    int jnt_r, jnt_l;         /* finger joints */
    unsigned char *geom_obj;  /* [ngeom]: 1 for geoms of task bodies (friction jitter) */
};

struct fm_mt_episode {
    const fm_multitask *env;
    const fm_mt_scene *s;
    int h;
    mjModel *m; /* a copy with this episode's positions, friction and masses */
    mjData *d;
    double p[8];        /* task draws (meaning per task) */
    double goal[3];     /* world */
    double init[3];     /* a task's reference point at the start (e.g. the closed drawer's handle) */
    double prev[18];    /* the previous step's observation slots [0, 18) */
    int steps, first_success, unstable;
};

/* Helpers the table uses (multitask.c). */
double fm_mt_unif(fm_rng *r, double lo, double hi);
void fm_mt_body_pose(const fm_mt_episode *e, int slot, double o[7]);
void fm_mt_site_pos(const fm_mt_episode *e, const char *site, double p[3]);
double fm_mt_joint_q(const fm_mt_episode *e, int slot);
void fm_mt_set_free(fm_mt_episode *e, int slot, const double pos[3], double yaw);
void fm_mt_set_base(fm_mt_episode *e, int slot, const double pos[3]);
void fm_mt_tcp(const fm_mt_episode *e, double p[3]);

#endif
