/* multitask.c - the MT-10 suite's core (multitask.h, docs/multitask.md): the shared scene (table,
 * hand, mocap weld, finger servos, goal marker), compiling one scene per task, episodes (reset
 * draws, the action, the 39-value observation, success), whole expert / policy episodes and DART
 * demonstrations. The tasks themselves are table entries in multitask_tasks.c. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env/mjutil.h"
#include "env/multitask/multitask_internal.h"

/* The hand: the tcp is the hand body's origin, between the pads; pads 8 mm apart when closed,
 * each finger opens up to 4 cm (servo target = 0.02 (1 - g) per finger). The table top is the plane
 * z = 0 (a plane, not a box: MuJoCo 2.2.2 gives a cylinder one contact point on a box, and a puck
 * standing on one point tips over). */
static const char *SCENE_HEAD =
    "<mujoco model=\"mt10\">\n"
    " <compiler autolimits=\"true\" angle=\"radian\"/>\n"
    " <option timestep=\"0.0025\"/>\n"
    " <visual><global offwidth=\"640\" offheight=\"480\"/></visual>\n"
    " <worldbody>\n"
    "  <light pos=\"0 0.4 1.6\" dir=\"0 0.3 -1\" diffuse=\".8 .8 .8\"/>\n"
    "  <geom name=\"table\" type=\"plane\" pos=\"0 0.65 0\" size=\"0.7 0.5 0.02\" friction=\"0.5 0.005 0.0001\""
    " rgba=\".55 .45 .35 1\"/>\n"
    "  <body name=\"mocap\" mocap=\"true\" pos=\"0 0.6 0.2\"/>\n"
    "  <body name=\"hand\" pos=\"0 0.6 0.2\">\n"
    "   <freejoint name=\"hand\"/>\n"
    "   <site name=\"tcp\" pos=\"0 0 0\" size=\"0.004\" rgba=\"1 0 0 1\"/>\n"
    "   <geom name=\"palm\" type=\"box\" pos=\"0 0 0.056\" size=\"0.025 0.02 0.01\" mass=\"0.4\" rgba=\".3 .3 .35 1\"/>\n"
    "   <geom name=\"knuckle\" type=\"box\" pos=\"0 0 0.036\" size=\"0.008 0.004 0.01\" mass=\"0.01\" rgba=\".2 .2 .2 1\"/>\n"
    "   <body name=\"rf\">\n"
    "    <joint name=\"rf\" type=\"slide\" axis=\"0 1 0\" range=\"0 0.04\" damping=\"20\"/>\n"
    "    <geom name=\"rf\" type=\"box\" pos=\"0 0.008 0.018\" size=\"0.008 0.004 0.028\" mass=\"0.03\""
    " friction=\"1.5 0.02 0.0001\" condim=\"4\" rgba=\".2 .2 .2 1\"/>\n"
    "   </body>\n"
    "   <body name=\"lf\">\n"
    "    <joint name=\"lf\" type=\"slide\" axis=\"0 -1 0\" range=\"0 0.04\" damping=\"20\"/>\n"
    "    <geom name=\"lf\" type=\"box\" pos=\"0 -0.008 0.018\" size=\"0.008 0.004 0.028\" mass=\"0.03\""
    " friction=\"1.5 0.02 0.0001\" condim=\"4\" rgba=\".2 .2 .2 1\"/>\n"
    "   </body>\n"
    "  </body>\n"
    "  <site name=\"goal\" pos=\"0 0.8 0.1\" size=\"0.012\" rgba=\"0 .8 0 .4\"/>\n";

static const char *SCENE_TAIL =
    " <equality><weld body1=\"mocap\" body2=\"hand\" solref=\"0.01 1\"/></equality>\n"
    " <actuator>\n"
    "  <position name=\"rf\" joint=\"rf\" kp=\"400\" ctrlrange=\"0 0.04\"/>\n"
    "  <position name=\"lf\" joint=\"lf\" kp=\"400\" ctrlrange=\"0 0.04\"/>\n"
    " </actuator>\n";

static const double WS_LO[3] = {-0.5, 0.35, 0.0}, WS_HI[3] = {0.5, 1.0, 0.45}; /* tcp workspace */
#define MT_LEASH 0.03 /* the mocap target stays within this of the tcp, per axis */

/* ---------------------------------------------------------------- the task table */

const char *fm_mt_task_name(int h) { return h >= 0 && h < FM_MT_NTASK ? fm_mt_tasks[h].name : NULL; }

/* ---------------------------------------------------------------- scenes */

static void scene_free(fm_mt_scene *s)
{
    if (!s)
        return;
    if (s->m)
        mj_deleteModel(s->m);
    free(s->geom_obj);
    free(s);
}

static fm_status scene_build(const mt_task_def *def, fm_mt_scene **out, fm_err *err)
{
    fm_status status = FM_OK;
    fm_mt_scene *s = NULL;
    char *xml = NULL;
    FM_ALLOC(s, 1);
    s->def = def;
    size_t n = strlen(SCENE_HEAD) + strlen(def->bodies) + strlen(SCENE_TAIL) + strlen(def->extra) + 64;
    FM_ALLOC(xml, n);
    snprintf(xml, n, "%s%s </worldbody>\n%s%s</mujoco>\n", SCENE_HEAD, def->bodies, SCENE_TAIL, def->extra);
    char msg[512] = "";
    s->m = fm_mj_load_xml(xml, msg, sizeof msg);
    FM_CHECK(s->m, FM_EINVAL, "multitask %s: the scene does not compile: %s", def->name, msg);
    mjModel *m = s->m;
    static const char *SLOT[MT_NBODY_SLOTS] = {"obj", "base", "move"};
    for (int k = 0; k < MT_NBODY_SLOTS; k++)
        s->body[k] = mj_name2id(m, mjOBJ_BODY, SLOT[k]);
    s->site_tcp = mj_name2id(m, mjOBJ_SITE, "tcp");
    s->site_goal = mj_name2id(m, mjOBJ_SITE, "goal");
    s->body_hand = mj_name2id(m, mjOBJ_BODY, "hand");
    s->body_mocap = mj_name2id(m, mjOBJ_BODY, "mocap");
    s->act_r = mj_name2id(m, mjOBJ_ACTUATOR, "rf");
    s->act_l = mj_name2id(m, mjOBJ_ACTUATOR, "lf");
    s->jnt_r = mj_name2id(m, mjOBJ_JOINT, "rf");
    s->jnt_l = mj_name2id(m, mjOBJ_JOINT, "lf");
    int mover = s->body[MT_BODY_MOVE] >= 0 ? s->body[MT_BODY_MOVE] : s->body[MT_BODY_OBJ];
    s->jnt_move = mover >= 0 && m->body_jntnum[mover] > 0 ? m->body_jntadr[mover] : -1;
    FM_CHECK(s->site_tcp >= 0 && s->site_goal >= 0 && s->body_hand >= 0 && s->body_mocap >= 0 && s->act_r >= 0 &&
                 s->act_l >= 0 && s->jnt_r >= 0 && s->jnt_l >= 0,
             FM_EINVAL, "multitask %s: the scene lacks a part of the hand", def->name);
    FM_ALLOC(s->geom_obj, m->ngeom > 0 ? m->ngeom : 1);
    for (int g = 0; g < m->ngeom; g++) {
        int b = m->geom_bodyid[g];
        s->geom_obj[g] = b != 0 && m->body_rootid[b] != s->body_hand;
    }
    *out = s;
    s = NULL;
cleanup:
    free(xml);
    scene_free(s);
    return status;
}

fm_status fm_multitask_build_explicit(int K, int horizon, int hold, int task_id, double action_noise,
                                      fm_multitask *env, fm_err *err)
{
    fm_status status = FM_OK;
    memset(env, 0, sizeof *env);
    FM_CHECK(K >= 1 && K <= FM_MT_NTASK, FM_EINVAL, "multitask: %d tasks, the table has 1 to %d", K, FM_MT_NTASK);
    FM_CHECK(horizon >= 1, FM_EINVAL, "multitask: horizon must be >= 1, got %d", horizon);
    FM_CHECK(hold >= 0, FM_EINVAL, "multitask: hold must be >= 0, got %d", hold);
    FM_CHECK(isfinite(action_noise) && action_noise >= 0, FM_EINVAL, "multitask: action noise must be >= 0");
    fm_mj_quiet_warnings();
    env->K = K;
    env->horizon = horizon;
    env->hold = hold;
    env->task_id = task_id;
    env->action_noise = action_noise;
    FM_ALLOC(env->scene, K);
    for (int h = 0; h < K; h++)
        FM_TRY(scene_build(&fm_mt_tasks[h], &env->scene[h], err));
cleanup:
    if (status != FM_OK)
        fm_multitask_free(env);
    return status;
}

fm_status fm_multitask_build(const fm_config *cfg, fm_multitask *env, fm_err *err)
{
    fm_status status = FM_OK;
    memset(env, 0, sizeof *env);
    FM_CHECK(cfg->env.kind == FM_ENV_MULTITASK, FM_EINVAL, "env.kind is not multitask");
    FM_TRY(fm_multitask_build_explicit(cfg->env.num_tasks, cfg->env.horizon, cfg->env.mt_hold, cfg->env.mt_task_id,
                                       cfg->env.mt_action_noise, env, err));
cleanup:
    return status;
}

void fm_multitask_free(fm_multitask *env)
{
    if (env->scene)
        for (int h = 0; h < env->K; h++)
            scene_free(env->scene[h]);
    free(env->scene);
    memset(env, 0, sizeof *env);
}

int fm_multitask_obs_dim(const fm_multitask *env) { return FM_MT_OBS_DIM + (env->task_id ? env->K : 0); }

/* ---------------------------------------------------------------- helpers for the table */

double fm_mt_unif(fm_rng *r, double lo, double hi) { return lo + (hi - lo) * fm_rng_uniform(r); }

void fm_mt_body_pose(const fm_mt_episode *e, int slot, double o[7])
{
    int b = e->s->body[slot];
    if (b < 0) {
        memset(o, 0, 7 * sizeof *o);
        return;
    }
    memcpy(o, e->d->xpos + 3 * b, 3 * sizeof *o);
    memcpy(o + 3, e->d->xquat + 4 * b, 4 * sizeof *o);
}

void fm_mt_site_pos(const fm_mt_episode *e, const char *site, double p[3])
{
    int i = mj_name2id(e->m, mjOBJ_SITE, site);
    if (i < 0) {
        p[0] = p[1] = p[2] = 0;
        return;
    }
    memcpy(p, e->d->site_xpos + 3 * i, 3 * sizeof *p);
}

double fm_mt_joint_q(const fm_mt_episode *e, int slot)
{
    int b = e->s->body[slot];
    if (b < 0 || e->m->body_jntnum[b] < 1)
        return 0;
    return e->d->qpos[e->m->jnt_qposadr[e->m->body_jntadr[b]]];
}

void fm_mt_set_free(fm_mt_episode *e, int slot, const double pos[3], double yaw)
{
    int b = e->s->body[slot];
    if (b < 0 || e->m->body_jntnum[b] < 1)
        return;
    double *q = e->d->qpos + e->m->jnt_qposadr[e->m->body_jntadr[b]];
    q[0] = pos[0], q[1] = pos[1], q[2] = pos[2];
    q[3] = cos(0.5 * yaw), q[4] = 0, q[5] = 0, q[6] = sin(0.5 * yaw);
}

void fm_mt_set_base(fm_mt_episode *e, int slot, const double pos[3])
{
    int b = e->s->body[slot];
    if (b >= 0)
        memcpy(e->m->body_pos + 3 * b, pos, 3 * sizeof *pos);
}

void fm_mt_tcp(const fm_mt_episode *e, double p[3]) { memcpy(p, e->d->site_xpos + 3 * e->s->site_tcp, 3 * sizeof *p); }

/* ---------------------------------------------------------------- episodes */

/* The current slots [0, 18): tcp, opening, the two objects. */
static void current_slots(const fm_mt_episode *e, double o[18])
{
    fm_mt_tcp(e, o);
    const mjData *d = e->d;
    double gap = 0.008 + d->qpos[e->m->jnt_qposadr[e->s->jnt_r]] + d->qpos[e->m->jnt_qposadr[e->s->jnt_l]];
    double g = gap / 0.1;
    o[3] = g < 0 ? 0 : g > 1 ? 1 : g;
    e->s->def->objects(e, o + 4);
}

fm_status fm_mt_episode_open(const fm_multitask *env, int h, fm_rng *r, fm_mt_episode **out, fm_err *err)
{
    fm_status status = FM_OK;
    fm_mt_episode *e = NULL;
    double *qpos = NULL;
    FM_CHECK(h >= 0 && h < env->K, FM_EINVAL, "multitask task %d is outside [0, %d)", h, env->K);
    FM_ALLOC(e, 1);
    e->env = env;
    e->h = h;
    e->s = env->scene[h];
    e->first_success = -1;
    const fm_mt_scene *s = e->s;
    e->m = mj_copyModel(NULL, s->m);
    FM_CHECK(e->m, FM_ENOMEM, "out of memory copying the scene of %s", s->def->name);
    e->d = mj_makeData(e->m);
    FM_CHECK(e->d, FM_ENOMEM, "out of memory for the simulation data of %s", s->def->name);
    mjModel *m = e->m;
    mj_resetData(m, e->d);
    s->def->reset(e, r); /* positions first, in the task's documented order */
    double mu = fm_mt_unif(r, 0.6, 1.0), mscale = fm_mt_unif(r, 0.8, 1.25), start[3];
    for (int k = 0; k < 3; k++)
        start[k] = s->def->hand[k] + fm_mt_unif(r, -0.02, 0.02);
    for (int g = 0; g < m->ngeom; g++)
        if (s->geom_obj[g])
            m->geom_friction[3 * g] *= mu;
    for (int b = 1; b < m->nbody; b++)
        if (m->body_rootid[b] != s->body_hand && m->body_jntnum[b] > 0 && m->body_mass[b] > 0) {
            m->body_mass[b] *= mscale;
            for (int i = 0; i < 3; i++)
                m->body_inertia[3 * b + i] *= mscale;
        }
    memcpy(m->site_pos + 3 * s->site_goal, e->goal, sizeof e->goal);
    FM_ALLOC(qpos, m->nq);
    memcpy(qpos, e->d->qpos, sizeof(double) * (size_t)m->nq);
    mj_setConst(m, e->d); /* derived constants follow the randomized masses and moved bodies; it resets qpos */
    memcpy(e->d->qpos, qpos, sizeof(double) * (size_t)m->nq);
    int hq = m->jnt_qposadr[m->body_jntadr[s->body_hand]];
    memcpy(e->d->qpos + hq, start, sizeof start);
    memcpy(e->d->mocap_pos + 3 * m->body_mocapid[s->body_mocap], start, sizeof start);
    e->d->ctrl[s->act_r] = e->d->ctrl[s->act_l] = 0.04; /* open */
    e->d->qpos[m->jnt_qposadr[s->jnt_r]] = e->d->qpos[m->jnt_qposadr[s->jnt_l]] = 0.04;
    mj_forward(m, e->d);
    current_slots(e, e->prev); /* at the start the previous step is the current one */
    *out = e;
    e = NULL;
cleanup:
    free(qpos);
    fm_mt_episode_close(e);
    return status;
}

void fm_mt_episode_close(fm_mt_episode *e)
{
    if (!e)
        return;
    if (e->d)
        mj_deleteData(e->d);
    if (e->m)
        mj_deleteModel(e->m);
    free(e);
}

void fm_mt_episode_mj(fm_mt_episode *e, void **model, void **data)
{
    *model = e->m;
    *data = e->d;
}

int fm_mt_task(const fm_mt_episode *e) { return e->h; }
int fm_mt_steps(const fm_mt_episode *e) { return e->steps; }
int fm_mt_first_success(const fm_mt_episode *e) { return e->first_success; }

void fm_mt_observe(const fm_mt_episode *e, double *obs)
{
    current_slots(e, obs);
    memcpy(obs + 18, e->prev, sizeof e->prev);
    memcpy(obs + 36, e->goal, sizeof e->goal);
    if (e->env->task_id)
        for (int k = 0; k < e->env->K; k++)
            obs[FM_MT_OBS_DIM + k] = k == e->h;
}

double fm_mt_distance(const fm_mt_episode *e) { return e->s->def->distance(e); }

int fm_mt_success_now(const fm_mt_episode *e) { return !e->unstable && fm_mt_distance(e) <= e->s->def->threshold; }

static double clip1(double v) { return isfinite(v) ? (v < -1 ? -1 : v > 1 ? 1 : v) : 0.0; }

int fm_mt_step(fm_mt_episode *e, const double action[FM_MT_ACT_DIM])
{
    if (e->unstable)
        return 1;
    mjModel *m = e->m;
    mjData *d = e->d;
    const fm_mt_scene *s = e->s;
    current_slots(e, e->prev);
    double tcp[3], *mp = d->mocap_pos + 3 * m->body_mocapid[s->body_mocap];
    fm_mt_tcp(e, tcp);
    for (int k = 0; k < 3; k++) {
        double t = mp[k] + FM_MT_MOVE * clip1(action[k]);
        t = t < WS_LO[k] ? WS_LO[k] : t > WS_HI[k] ? WS_HI[k] : t;
        t = t < tcp[k] - MT_LEASH ? tcp[k] - MT_LEASH : t > tcp[k] + MT_LEASH ? tcp[k] + MT_LEASH : t;
        mp[k] = t;
    }
    d->ctrl[s->act_r] = d->ctrl[s->act_l] = 0.02 * (1.0 - clip1(action[3]));
    for (int k = 0; k < FM_MT_SUBSTEPS; k++) {
        mj_step(m, d);
        if (fm_mj_unstable(d)) { /* MuJoCo reset the state: the episode is over */
            e->unstable = 1;
            return 1;
        }
    }
    e->steps++;
    if (e->first_success < 0 && fm_mt_success_now(e))
        e->first_success = e->steps;
    return 0;
}

void fm_mt_expert(const fm_mt_episode *e, const double *obs, double action[FM_MT_ACT_DIM])
{
    e->s->def->expert(obs, action);
    for (int k = 0; k < FM_MT_ACT_DIM; k++)
        action[k] = clip1(action[k]);
}

/* The episode is over: unstable, past the horizon, or the hold after the first success is done. */
static int episode_over(const fm_mt_episode *e, int horizon)
{
    return e->unstable || e->steps >= horizon || (e->first_success >= 0 && e->steps >= e->first_success + e->env->hold);
}

static void score_episode(const fm_mt_episode *e, fm_episode_score *out)
{
    double dist = fm_mt_distance(e);
    int now = fm_mt_success_now(e);
    *out = (fm_episode_score){.balanced = e->first_success >= 0 && !e->unstable, .at_setpoint = now,
                              .steps = e->steps, .setpoint_err = dist, .cost = dist};
}

void fm_multitask_episode(const fm_multitask *env, int h, const fm_policy_fn *pi, fm_rng *r, fm_episode_score *out)
{
    fm_err err;
    fm_err_clear(&err);
    fm_mt_episode *e = NULL;
    double *obs = NULL, a[FM_MT_ACT_DIM];
    memset(out, 0, sizeof *out);
    out->cost = INFINITY;
    if (fm_mt_episode_open(env, h, r, &e, &err) != FM_OK) /* out of memory: scored a failure */
        return;
    obs = malloc(sizeof(double) * (size_t)fm_multitask_obs_dim(env));
    if (!obs)
        goto done;
    if (pi && pi->reset)
        pi->reset(pi->ctx);
    while (!episode_over(e, env->horizon)) {
        fm_mt_observe(e, obs);
        if (pi)
            pi->act(pi->ctx, obs, a);
        else
            fm_mt_expert(e, obs, a);
        fm_mt_step(e, a);
    }
done:
    if (e)
        score_episode(e, out);
    free(obs);
    fm_mt_episode_close(e);
}

fm_status fm_multitask_generate(const fm_multitask *env, const int *tasks, int n_traj, fm_rng *r, fm_demos *out,
                                int *attempts, fm_err *err)
{
    fm_status status = FM_OK;
    const int T = env->horizon, p = fm_multitask_obs_dim(env);
    fm_mt_episode *e = NULL;
    int tries_total = 0;
    FM_TRY(fm_demos_alloc(out, n_traj, T, p, FM_MT_ACT_DIM, err));
    for (int i = 0; i < n_traj; i++) {
        int h = tasks[i];
        FM_CHECK(h >= 0 && h < env->K, FM_EINVAL, "demonstration %d: task %d is outside [0, %d)", i, h, env->K);
        out->task[i] = h;
        int ok = 0;
        for (int attempt = 0; attempt < 10 && !ok; attempt++) {
            tries_total++;
            FM_TRY(fm_mt_episode_open(env, h, r, &e, err));
            double *obs = out->obs + (size_t)i * T * p, *act = out->act + (size_t)i * T * FM_MT_ACT_DIM;
            memset(obs, 0, sizeof(double) * (size_t)T * p);
            memset(act, 0, sizeof(double) * (size_t)T * FM_MT_ACT_DIM);
            int len = 0;
            while (!episode_over(e, T)) {
                double a[FM_MT_ACT_DIM];
                fm_mt_observe(e, obs + (size_t)len * p);
                fm_mt_expert(e, obs + (size_t)len * p, a);
                memcpy(act + (size_t)len++ * FM_MT_ACT_DIM, a, sizeof a);
                if (env->action_noise > 0) /* DART: the clean label is recorded, the noisy action executed */
                    for (int k = 0; k < FM_MT_ACT_DIM; k++)
                        a[k] = clip1(a[k] + env->action_noise * fm_rng_normal(r));
                fm_mt_step(e, a);
            }
            ok = e->first_success >= 0 && !e->unstable;
            if (ok)
                out->length[i] = len;
            fm_mt_episode_close(e);
            e = NULL;
        }
        FM_CHECK(ok, FM_ENUMERIC, "demonstration %d of task %d (%s): the expert failed 10 scenes in a row", i, h,
                 env->scene[h]->def->name);
    }
    if (attempts)
        *attempts = tries_total;
cleanup:
    fm_mt_episode_close(e);
    if (status != FM_OK)
        fm_demos_free(out);
    return status;
}
