/* tooluse_scene.c - the scenes of the tool-use benchmark (tooluse.h, docs/tooluse.md): the table
 * of tool families, tool definitions and their checks, the MJCF text of the arm, tool and object
 * (the family's parts come from its fm_tu_family_def), and the tasks built from it (compiled model,
 * geom classes, sampled surface points, keypoints). Episodes and control are in tooluse_sim.c,
 * observations in tooluse_obs.c, the expert in tooluse_expert.c, each family in its own file. */
#include "env/tooluse/tooluse.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <mujoco/mujoco.h>

#include "env/mjutil.h"
#include "env/tooluse/tooluse_internal.h"

/* The tool families, indexed by fm_tu_family: a new family is one file with its fm_tu_family_def
 * and one entry here (and in the fm_tu_family enum). */
const fm_tu_family_def *const FM_TU_FAMILIES[FM_TU_NFAMILY] = {
    [FM_TU_HAMMER] = &FM_TU_HAMMER_DEF,
    [FM_TU_WRENCH] = &FM_TU_WRENCH_DEF,
    [FM_TU_SPATULA] = &FM_TU_SPATULA_DEF,
    [FM_TU_KNIFE] = &FM_TU_KNIFE_DEF,
};

const char *fm_tu_family_name(int fam)
{
    return fam >= 0 && fam < FM_TU_NFAMILY ? FM_TU_FAMILIES[fam]->name : "?";
}

/* Panda "ready"-like posture with the tool pointing forward and down (radians). */
const double FM_TU_HOME[FM_TU_NJOINT] = {0.0, -0.3, 0.0, -2.2, 0.0, 1.9, 0.0};

/* ---------------------------------------------------------------- tool definitions */

void fm_tu_tool_default(int fam, int inst, fm_tu_tool *t)
{
    memset(t, 0, sizeof *t);
    t->family = fam;
    snprintf(t->name, sizeof t->name, "%s-%d", fm_tu_family_name(fam), inst);
    /* handle lengths differ per instance; instances beyond 4 cycle with a shifted head */
    int j = inst % 4, k = inst / 4;
    t->handle_rad = 0.012;
    if (fam >= 0 && fam < FM_TU_NFAMILY)
        FM_TU_FAMILIES[fam]->tool_default(j, k, t);
}

fm_status fm_tu_tool_check(const fm_tu_tool *t, fm_err *err)
{
    fm_status status = FM_OK;
    const char *name = t->name[0] ? t->name : "(unnamed)";
    FM_CHECK(t->family >= 0 && t->family < FM_TU_NFAMILY, FM_EINVAL,
             "tool %s: family %d is not one of hammer (0), wrench (1), spatula (2), knife (3)", name, t->family);
    const fm_tu_range common[2] = {{"handle_len", 0.10, 0.35}, {"handle_rad", 0.005, 0.025}};
    const double cv[2] = {t->handle_len, t->handle_rad};
    for (int i = 0; i < 2; i++)
        FM_CHECK(isfinite(cv[i]) && cv[i] >= common[i].lo && cv[i] <= common[i].hi, FM_EINVAL,
                 "tool %s (%s): %s = %g is outside [%g, %g] m", name, fm_tu_family_name(t->family),
                 common[i].field, cv[i], common[i].lo, common[i].hi);
    const fm_tu_family_def *fam = FM_TU_FAMILIES[t->family];
    const double v[6] = {t->head[0], t->head[1], t->head[2], t->obj[0], t->obj[1], t->obj[2]};
    for (int i = 0; i < 6; i++)
        FM_CHECK(isfinite(v[i]) && v[i] >= fam->range[i].lo && v[i] <= fam->range[i].hi, FM_EINVAL,
                 "tool %s (%s): %s = %g is outside [%g, %g]", name, fam->name, fam->range[i].field, v[i],
                 fam->range[i].lo, fam->range[i].hi);
    if (fam->tool_check)
        FM_TRY(fam->tool_check(t, name, err));
cleanup:
    return status;
}

/* ---------------------------------------------------------------- MJCF text */

void fm_tu_sb_printf(fm_tu_sbuf *b, const char *fmt, ...)
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
static void mjcf_arm(fm_tu_sbuf *b, const fm_tu_tool *t, const char *tool_geoms)
{
    const double fing = t->handle_rad + 0.007;
    fm_tu_sb_printf(b,
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

/* Tool geoms in the tool frame (x along the handle, z down in the top-down poses): the handle, then
 * the family's geoms. */
static void mjcf_tool(fm_tu_sbuf *b, const fm_tu_tool *t)
{
    const fm_tu_family_def *fam = FM_TU_FAMILIES[t->family];
    double hl = t->handle_len - fam->handle_cut;
    fm_tu_sb_printf(b, "<geom class=\"tool\" name=\"handle\" type=\"capsule\" fromto=\"-0.04 0 0 %.5f 0 0\" "
                       "size=\"%.5f\" mass=\"0.12\"/>\n", hl, t->handle_rad);
    fam->tool_geoms(b, t);
}

void fm_tu_mjcf_prism(fm_tu_sbuf *b, const char *name, int n, double r0, double r1, double h, double phase)
{
    fm_tu_sb_printf(b, "<mesh name=\"%s\" vertex=\"", name);
    for (int z = 0; z < 2; z++)
        for (int i = 0; i < n; i++) {
            double a = phase + 2 * M_PI * i / n, r = z ? r1 : r0;
            fm_tu_sb_printf(b, "%.6f %.6f %.6f ", r * cos(a), r * sin(a), z ? h : 0.0);
        }
    fm_tu_sb_printf(b, "\"/>\n");
}

static char *mjcf_scene(const fm_tu_tool *t)
{
    const fm_tu_family_def *fam = FM_TU_FAMILIES[t->family];
    fm_tu_sbuf tool = {0}, b = {0};
    mjcf_tool(&tool, t);
    if (tool.oom) {
        free(tool.s);
        return NULL;
    }
    fm_tu_sb_printf(&b,
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
        "<asset>\n", t->name, FM_TU_DT, fam->option);
    if (fam->assets)
        fam->assets(&b, t);
    fm_tu_sb_printf(&b,
        "</asset>\n<worldbody>\n"
        "<light pos=\"0.4 -0.6 1.6\" dir=\"-0.2 0.5 -1\" directional=\"true\" diffuse=\"0.7 0.7 0.7\"/>\n"
        "<camera name=\"overhead\" pos=\"0.5 0 1.1\" xyaxes=\"0 -1 0 1 0 0\"/>\n"
        "<camera name=\"front\" pos=\"1.3 0 0.55\" xyaxes=\"0 1 0 -0.35 0 0.94\"/>\n"
        "<geom name=\"table\" type=\"box\" pos=\"0.45 0 -0.02\" size=\"0.7 0.7 0.02\" contype=\"1\" conaffinity=\"6\" friction=\"0.3 0.005 0.0001\" "
        "rgba=\"0.55 0.45 0.35 1\"/>\n"
        "<geom name=\"base\" type=\"cylinder\" pos=\"0 0 0.05\" size=\"0.07 0.05\" contype=\"0\" conaffinity=\"0\" "
        "rgba=\"0.3 0.3 0.3 1\"/>\n");
    mjcf_arm(&b, t, tool.s);
    fam->object(&b, t);
    fm_tu_sb_printf(&b, "</worldbody>\n");
    /* the housing / plate + bolt are welded to the world, so MuJoCo's parent-child filter does not
     * apply: exclude them from the pin / nut explicitly (the solid nut mesh around the bolt would
     * otherwise spin the nut through penetration contacts) */
    if (fam->exclude)
        fm_tu_sb_printf(&b, "<contact><exclude body1=\"obj\" body2=\"%s\"/></contact>\n", fam->exclude);
    fm_tu_sb_printf(&b, "<actuator>\n");
    static const double tau[FM_TU_NJOINT] = {87, 87, 87, 87, 12, 12, 12};
    for (int i = 0; i < FM_TU_NJOINT; i++)
        fm_tu_sb_printf(&b, " <motor joint=\"j%d\" ctrlrange=\"%g %g\"/>\n", i + 1, -tau[i], tau[i]);
    fm_tu_sb_printf(&b, "</actuator>\n</mujoco>\n");
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
    const fm_tu_family_def *fam = FM_TU_FAMILIES[tool->family];
    FM_CHECK(!fam->backstop || t->body_stop >= 0, FM_EINVAL, "tool %s: scene lacks the backstop", tool->name);
    t->jnt_obj[0] = t->jnt_obj[1] = -1;
    for (int k = 0; k < 2; k++)
        if (fam->joint[k]) {
            t->jnt_obj[k] = mj_name2id(m, mjOBJ_JOINT, fam->joint[k]);
            FM_CHECK(t->jnt_obj[k] >= 0, FM_EINVAL, "tool %s: scene lacks joint %s", tool->name, fam->joint[k]);
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

