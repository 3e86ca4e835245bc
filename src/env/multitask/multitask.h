/* multitask.h - a Meta-World-style multitask manipulation suite (MT-10) on the MuJoCo 2.2.2 C
 * library (issue 14, docs/multitask.md). The task names, success criteria, randomization ranges,
 * the 39-value observation and the 4-value action follow Meta-World's published v2 task
 * definitions (Yu et al., CoRL 2019); the scenes, experts and checks are written here.
 *
 * World: Meta-World's frame: x to the right, y away from the robot, z up, the table top at z = 0.
 * End effector: a two-finger parallel-jaw hand on a free joint, welded to a mocap body, as
 * Meta-World drives its Sawyer hand (the arm's joints carry no task information there: its
 * actions are end-effector displacements and its observations hand positions). No arm means
 * ~10x fewer degrees of freedom per step than the tool-use arm, so simulation stays cheap. The
 * hand keeps a fixed top-down orientation (the weld holds it); its tool center point (tcp, site
 * "tcp") lies between the finger pads.
 *
 * Action (4 values in [-1, 1]; non-finite values count as 0): (dx, dy, dz) moves the mocap target
 * by 0.01 m x the value per axis (clipped to the workspace x in [-0.5, 0.5], y in [0.35, 1.0],
 * z in [0.0, 0.45] for the tcp, and to within 0.03 m of the hand so a blocked hand does not wind
 * up force); g commands the fingers: -1 open (pads 8.8 cm apart), +1 closed (position servos). One
 * action lasts FM_MT_SUBSTEPS physics steps of FM_MT_DT: 12.5 ms, 80 Hz as Meta-World.
 *
 * Observation (FM_MT_OBS_DIM = 39 values, Meta-World's order; + env.num_tasks one-hot with
 * env.mt_task_id):
 *   [0, 3)   tcp position (world, m)
 *   [3]      gripper opening: distance between the pads / 0.1, clipped to [0, 1]
 *   [4, 7)   first object position, [7, 11) its orientation quaternion (w, x, y, z)
 *   [11, 14) second object position, [14, 18) its quaternion; zeros when a task has one object
 *   [18, 36) the previous step's [0, 18) (at the start: the same values as the current ones)
 *   [36, 39) goal position (world, m)
 * Which body is "first object" / "second object" / goal is listed per task in docs/multitask.md.
 *
 * Episodes: at most env.horizon actions; an episode ends env.mt_hold actions after the first step
 * that succeeds (the hold) or at the horizon. Success = the task's criterion held after some step.
 */
#ifndef FM_MULTITASK_H
#define FM_MULTITASK_H

#include "config/cfg.h"
#include "core/core.h"
#include "data/data.h"
#include "env/env.h"

#define FM_MT_OBS_DIM 39
#define FM_MT_ACT_DIM 4
#define FM_MT_DT 0.0025     /* s, physics step */
#define FM_MT_SUBSTEPS 5    /* physics steps per action */
#define FM_MT_MOVE 0.01     /* m per unit action, per axis */
#define FM_MT_NTASK FM_MT_TABLE /* tasks in the table (MT-10; config/cfg.h) */

typedef struct fm_mt_scene fm_mt_scene; /* one compiled task scene (multitask.c) */

typedef struct fm_multitask {
    int K;               /* tasks: the first K entries of the task table */
    int horizon;         /* actions per episode at most */
    int hold;            /* actions after the first success before the episode ends */
    int task_id;         /* 1: append a K-value one-hot task id to the observation */
    double action_noise; /* demonstrations (DART): executed action + N(0, action_noise^2) per value */
    fm_mt_scene **scene; /* [K], owned */
} fm_multitask;

/* The task table: name of task h (0 <= h < FM_MT_NTASK), e.g. "reach", "drawer-open"; NULL if out
 * of range. */
const char *fm_mt_task_name(int h);

/* Build from cfg (env.kind must be multitask): the first env.num_tasks tasks of the table. */
fm_status fm_multitask_build(const fm_config *cfg, fm_multitask *env, fm_err *err);
/* Build explicitly (tests): K tasks, horizon, hold, task_id, DART noise. */
fm_status fm_multitask_build_explicit(int K, int horizon, int hold, int task_id, double action_noise,
                                      fm_multitask *env, fm_err *err);
void fm_multitask_free(fm_multitask *env);
/* FM_MT_OBS_DIM + (task_id ? K : 0). */
int fm_multitask_obs_dim(const fm_multitask *env);

typedef struct fm_mt_episode fm_mt_episode; /* one running episode (opaque) */

/* Start an episode of task h with draws from r (per task in docs/multitask.md: object and goal
 * positions, then the object geoms' friction U[0.6, 1.0] x their nominal value, the moving objects'
 * mass scale U[0.8, 1.25], the hand's start (0, 0.6, 0.2) + U[-0.02, 0.02] per axis). */
fm_status fm_mt_episode_open(const fm_multitask *env, int h, fm_rng *r, fm_mt_episode **out, fm_err *err);
void fm_mt_episode_close(fm_mt_episode *e);
/* The current observation (fm_multitask_obs_dim values). */
void fm_mt_observe(const fm_mt_episode *e, double *obs);
/* Apply one action. Returns 1 if the simulation became unstable (MuJoCo's bad qpos / qvel / qacc
 * warning; the episode is over and fails), else 0. Updates the previous-step slots and success. */
int fm_mt_step(fm_mt_episode *e, const double action[FM_MT_ACT_DIM]);
/* 1 if the task's criterion holds in the current state (and the simulation is stable). */
int fm_mt_success_now(const fm_mt_episode *e);
/* The task's distance to its goal (m or rad, per task; success is distance <= threshold). */
double fm_mt_distance(const fm_mt_episode *e);
/* Steps taken; the first step after which the task succeeded (-1: not yet). */
int fm_mt_steps(const fm_mt_episode *e);
int fm_mt_first_success(const fm_mt_episode *e);
/* The scripted expert: a deterministic function of the observation alone (Markov, so no two
 * identical observations get different labels), phases chosen from the state (docs/multitask.md). */
void fm_mt_expert(const fm_mt_episode *e, const double *obs, double action[FM_MT_ACT_DIM]);
/* Internal access for rendering and tests: the episode's mjModel* and mjData* (as void*). */
void fm_mt_episode_mj(fm_mt_episode *e, void **model, void **data);
/* The task index of an episode. */
int fm_mt_task(const fm_mt_episode *e);

/* One episode of task h: the expert (pi = NULL) or a policy. out->balanced = success,
 * out->at_setpoint = the criterion holds at the last step, out->steps = actions taken,
 * out->setpoint_err = the task distance at the end, out->cost = min(distance / threshold, 1) at
 * the end (0 if the criterion holds then). */
void fm_multitask_episode(const fm_multitask *env, int h, const fm_policy_fn *pi, fm_rng *r,
                          fm_episode_score *out);

/* Demonstrations: trajectory i runs task tasks[i] with the expert, DART noise on the executed
 * action (the clean label recorded), until the hold after success or the horizon; a failed expert
 * episode is re-drawn from the continuing stream (up to 10 tries, then FM_ENUMERIC naming the
 * task). obs_dim = fm_multitask_obs_dim, act_dim 4. attempts (if non-NULL) receives the scenes tried. */
fm_status fm_multitask_generate(const fm_multitask *env, const int *tasks, int n_traj, fm_rng *r,
                                fm_demos *out, int *attempts, fm_err *err);

#endif
