/* tooluse.h - the tool-use manipulation benchmark (FLEET-TOOLS, paper Sec. 4 and Appendix C) on the
 * MuJoCo 2.2.2 C library (issue 7, docs/tooluse.md).
 *
 * Scene: a 7-DoF arm with the Franka Panda's published kinematics (modified DH) and joint limits on a
 * table (top at z = 0, arm base at the origin); the tool is rigidly attached to the hand (tool geoms
 * live in a joint-less child body, so arm + tool form one kinematic chain). Four tool families, each
 * with instances of different geometry, and one object per family:
 *   hammer  - a pin on a prismatic joint held by frictionloss; success: pin driven down >= 1 cm;
 *   wrench  - a hex nut on a hinge (armature, frictionloss); success: nut turned >= 0.4 rad;
 *   spatula - a flat disc with an undercut rim (free body) next to a fixed backstop that the blade
 *             pushes it against; success: lifted >= 5 cm;
 *   knife   - two halves on slide joints with a narrow gap; success: separated > 5 cm more than
 *             at the start.
 * Every success also requires that the tool touched the object during the episode.
 *
 * Tool frame: x along the handle (grasp point -> head), z = the hand's approach axis (points down
 * in the top-down poses the experts use), y = z x x. The end-effector frame E is the nominal grasp
 * point on the hand (site "ee", tool frame without the randomized tool-in-hand offset, which
 * therefore shows in the point cloud).
 *
 * Control: an action is a bounded relative end-effector motion a = (dp, dr): dp in m (world axes,
 * each clipped to +-0.08), dr a rotation vector in rad (world axes, each component clipped to
 * +-0.6). The target pose is the measured end-effector pose composed with a (p + dp, exp(dr) R);
 * an operational-space controller on the joint torques tracks it for 0.32 s (160 steps of 2 ms).
 *
 * Observation (obs = points, the faithful mode): npoints points (npoints / 2 on the tool,
 * npoints / 2 on the object) as [point][x, y, z, mask] in the end-effector frame (m; mask 1 = tool,
 * 0 = object), sampled once per task on the surfaces of the tool and object geometry, moved with
 * the current geometry and perturbed by N(0, point_noise^2) per coordinate; then, with proprio, the
 * end-effector position (3, world) and rotation matrix (9, row-major, world from E).
 * Observation (obs = keypoints, privileged state, exact, FM_TU_KP_DIM = 35 values; issue 13), all
 * positions in m and in the end-effector frame E:
 *   [0, 12)  the tool's keypoints head, tail, side, head-up (3 each; they carry the tool's
 *            geometry and its randomized offset in the hand);
 *   [12, 15) the object's base position (body "obj": the pin's housing, the nut's post, the disc's
 *            placement, the knife's block);
 *   [15, 24) its orientation, E from the object (row-major 3x3);
 *   [24, 30) the positions of the object's moving parts: the body of the first object joint (pin,
 *            nut, disc, first knife half) and of the second (second knife half; else the first again);
 *   [30]     progress so far (fm_tu_progress: m or rad since the start);
 *   [31, 35) the tool family, one-hot (hammer, wrench, spatula, knife): the task conditioning a
 *            point cloud carries in the tool's shape;
 * then, with proprio, the same 12 proprioceptive values as in points mode. No draws from r.
 *
 * Expert (Eq. 4.1-4.4, C.8-C.10): keypoints on the tool (head, tail, side) and object; the
 * actuation pose is the joint vector minimizing the keypoint residuals (head-to-object distance,
 * axis alignments, Eq. 4.2-4.3) through MuJoCo forward kinematics and Jacobians (damped
 * Gauss-Newton within the joint limits, several seeds and symmetric candidates, keeping the
 * feasible solution closest to the current joints); a straight joint-space path (C.8-C.9) leads to
 * the pre-actuation pose, then Cartesian keyframes (C.10) perform the skill and retreat. The
 * recorded action is the clipped difference between the next waypoint and the measured pose.
 */
#ifndef FM_TOOLUSE_H
#define FM_TOOLUSE_H

#include "config/cfg.h"
#include "core/core.h"
#include "data/data.h"
#include "env/env.h"

#define FM_TU_ACT_DIM 6
#define FM_TU_PROPRIO_DIM 12
#define FM_TU_CHANNELS 4        /* x, y, z, mask */
#define FM_TU_DT 0.002          /* s, physics step */
#define FM_TU_SUBSTEPS 160      /* physics steps per action: 0.32 s */
#define FM_TU_MAX_DPOS 0.08     /* m per action, per axis */
#define FM_TU_MAX_DROT 0.6      /* rad per action, per axis */
#define FM_TU_NJOINT 7
#define FM_TU_MAX_TRIES 50      /* scenes tried per demonstration (the wrench-2 expert succeeds in ~1 of 2 under DART 0.025) */
#define FM_TU_KP_DIM 35         /* keypoint observation without proprio (fm_tu_observe) */

typedef enum fm_tu_family {
    FM_TU_HAMMER = 0,
    FM_TU_WRENCH,
    FM_TU_SPATULA,
    FM_TU_KNIFE,
    FM_TU_NFAMILY
} fm_tu_family;

/* One tool instance and the object it is used on (all lengths in m). Field meaning per family:
 *   hammer:  head[0] radius (or half width) of the head, head[1] half length of the head along the
 *            tool z axis, head[2] 0 = cylinder head, 1 = box head; obj[0] pin-head radius.
 *   wrench:  head[0] nut flat-to-flat width W, head[1] jaw clearance (total, < 0.15 W so the hex
 *            cannot turn inside the jaws), head[2] jaw thickness; obj[0] nut height.
 *   spatula: head[0] blade length, head[1] blade width, head[2] blade angle to the handle (rad, bent
 *            toward -z: the handle slopes down by about this much when the blade lies flat; the
 *            blade is 2 mm thick with friction 0.3 on all its contacts);
 *            obj[0] disc top radius, obj[1] disc bottom radius (< top: the undercut), obj[2] disc height.
 *   knife:   head[0] blade length, head[1] blade height, head[2] blade thickness;
 *            obj[0] half-block length along the gap (the object's y axis; the halves slide along its
 *            x axis), obj[1] gap between the halves, obj[2] block height. */
typedef struct fm_tu_tool {
    int family;         /* fm_tu_family */
    char name[32];      /* e.g. "hammer-2" */
    double handle_len;  /* grasp point to the head */
    double handle_rad;
    double head[3];
    double obj[3];
} fm_tu_tool;

typedef struct fm_tu_task fm_tu_task; /* compiled scene + keypoints + point samples (tooluse_scene.c) */

typedef struct fm_tooluse {
    int K;              /* tasks = families x instances, task h = family h % 4, instance h / 4 */
    int horizon;        /* action steps per episode */
    int npoints;        /* points per observation (even) */
    int proprio;        /* 1: append FM_TU_PROPRIO_DIM proprioceptive values */
    int obs;            /* fm_tu_obs_kind (points after a build; fm_tooluse_build follows env.tu_obs) */
    int demo_end;       /* fm_tu_demo_end: demonstrations run the whole plan (default) or stop at success */
    double point_noise; /* m */
    double action_noise;/* demonstrations (DART): executed action + N(0, (action_noise x bound)^2) per
                         * value, the clean expert action recorded; 0 = off */
    fm_tu_task **task;  /* [K], owned */
} fm_tooluse;

/* The built-in instance `inst` (0-based) of family `fam`: geometry interpolated over documented
 * ranges (docs/tooluse.md), deterministic. */
void fm_tu_tool_default(int fam, int inst, fm_tu_tool *out);
/* Check a tool definition: family in range, every size finite and within its documented range.
 * The message names the tool and the field. */
fm_status fm_tu_tool_check(const fm_tu_tool *t, fm_err *err);

/* Build from cfg (env.kind must be tooluse): K = env.num_tasks tasks; task h is family h % 4 with
 * instance h / 4. Compiles one MuJoCo model per task and samples its point clouds from the shared
 * system stream. */
fm_status fm_tooluse_build(const fm_config *cfg, fm_tooluse *env, fm_err *err);
/* Build from explicit tool definitions (tests, custom tool sets). */
fm_status fm_tooluse_build_tools(const fm_tu_tool *tools, int K, int horizon, int npoints, int proprio,
                                 double point_noise, uint64_t seed, fm_tooluse *env, fm_err *err);
void fm_tooluse_free(fm_tooluse *env);

/* Observation length: npoints * 4 (points) or FM_TU_KP_DIM (keypoints), + 12 with proprio. */
int fm_tooluse_obs_dim(const fm_tooluse *env);
const fm_tu_tool *fm_tooluse_tool(const fm_tooluse *env, int h);

/* Episode-level randomization (drawn in this order at reset): object position x ~ U[0.45, 0.60],
 * y ~ U[-0.12, 0.12], yaw ~ U[-pi/4, pi/4]; friction coefficient of the object geoms U[0.6, 1.0]
 * (the spatula blade's own friction 0.3 governs the blade's contacts); object mass scale
 * U[0.8, 1.25]; tool-in-hand offset along the handle U[-0.01, 0.01] and along z U[-0.004, 0.004];
 * initial joints = home + U[-0.08, 0.08] per joint. The spatula's backstop follows the disc: 3 mm
 * beyond its rim, tangentially (perpendicular to the direction from the arm base, on the side away
 * from y = 0), so the blade pushes across the workspace. */
typedef struct fm_tu_episode fm_tu_episode; /* one running episode (opaque) */

/* Start an episode of task h with draws from r. */
fm_status fm_tu_episode_open(const fm_tooluse *env, int h, fm_rng *r, fm_tu_episode **out, fm_err *err);
void fm_tu_episode_close(fm_tu_episode *e);
/* Current observation (obs_dim doubles; draws the point noise from r). */
void fm_tu_observe(fm_tu_episode *e, fm_rng *r, double *obs);
/* Apply one action (clipped to the bounds; non-finite components count as 0). Returns 1 if the
 * simulation became unstable (MuJoCo's bad qpos / qvel / qacc warning: MuJoCo then resets the
 * state, so the episode is over), else 0. */
int fm_tu_step(fm_tu_episode *e, const double action[FM_TU_ACT_DIM]);
/* Success detector of the task family: state criterion, tool-object contact so far, and a stable
 * simulation (no MuJoCo bad-state warning in this episode). */
int fm_tu_success(const fm_tu_episode *e);
/* The task-specific progress measure: pin depth (m), nut angle (rad), lift (m), separation gain (m). */
double fm_tu_progress(const fm_tu_episode *e);
/* 1 once any tool geom has touched any object geom in this episode. */
int fm_tu_touched(const fm_tu_episode *e);
/* End-effector pose (world): position and 3x3 rotation (row-major, world from E). */
void fm_tu_ee_pose(const fm_tu_episode *e, double pos[3], double rot[9]);
/* Arm joint angles (7). */
void fm_tu_joints(const fm_tu_episode *e, double q[FM_TU_NJOINT]);
/* Internal access for rendering: the episode's mjModel* and mjData* (as void*). */
void fm_tu_episode_mj(fm_tu_episode *e, void **model, void **data);

/* The expert: plan (keypoint IK + trajectory) at the episode's current state. FM_ENUMERIC if no
 * feasible actuation pose is found. After planning, fm_tu_expert_act gives the next action and
 * returns 1, or 2 for an action to execute but not to record in demonstrations (the settle step
 * before a skill), or 0 when the plan is finished. */
fm_status fm_tu_expert_plan(fm_tu_episode *e, fm_err *err);
int fm_tu_expert_act(fm_tu_episode *e, double action[FM_TU_ACT_DIM]);

/* One episode of task h: the expert (pi = NULL) or a policy, for at most env->horizon actions,
 * stopping at success. out->balanced = success, out->at_setpoint = the tool touched the object,
 * out->steps = actions taken, out->setpoint_err = the progress measure, out->cost = shortfall =
 * 1 - min(max(progress / success threshold, 0), 1) (0 on success). A scene whose expert finds no
 * plan scores as a failure. */
void fm_tooluse_episode(const fm_tooluse *env, int h, const fm_policy_fn *pi, fm_rng *r,
                        fm_episode_score *out);

/* Demonstrations: trajectory i runs task tasks[i] with the expert; failed expert episodes are
 * re-drawn from the continuing stream (up to FM_TU_MAX_TRIES, then FM_ENUMERIC naming the task). The
 * recorded length is the expert's plan length (<= horizon), or with demo_end = success the steps
 * up to and including the one after which the task has succeeded (evaluation episodes stop
 * there too, so no label past the success threshold is recorded); obs_dim = fm_tooluse_obs_dim, act_dim 6.
 * If attempts is non-NULL it receives the number of scenes tried (on success only). */
fm_status fm_tooluse_generate(const fm_tooluse *env, const int *tasks, int n_traj, fm_rng *r,
                              fm_demos *out, int *attempts, fm_err *err);

#endif
