/* fleet_render.c - `fleet render`: PNG frames of one tool-use or MT-10 episode (the expert or a
 * saved policy) through OSMesa offscreen rendering, for inspection (docs/tooluse.md,
 * docs/multitask.md). Serial. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "env/multitask/multitask.h"
#include "env/render.h"
#include "env/tooluse/tooluse.h"
#include "fleet/fleet.h"
#include "fleet/fleet_model.h"
#include "io/h5io.h"
#include "nn/nn.h"

/* The config: from a results file's /config, or a config file itself. */
static fm_status load_source(const char *src, fm_config *cfg, int *is_results, fm_err *err)
{
    fm_status status = FM_OK;
    char *text = NULL;
    size_t n = strlen(src);
    *is_results = n > 3 && !strcmp(src + n - 3, ".h5");
    if (*is_results) {
        FM_TRY(fm_h5_read_text(src, "/config", &text, err));
        FM_TRY(fm_cfg_load_string(text, src, cfg, err));
    } else {
        FM_TRY(fm_cfg_load_file(src, cfg, err));
    }
    FM_CHECK(cfg->env.kind == FM_ENV_TOOLUSE || cfg->env.kind == FM_ENV_MULTITASK, FM_EINVAL,
             "%s: env.kind is %s; fleet render shows tool-use and multitask episodes", src,
             fm_cfg_enum_name("env.kind", cfg->env.kind));
cleanup:
    free(text);
    return status;
}

/* "pooled", "merged/<method>" or "local/<robot>" -> HDF5 group and row. */
static fm_status policy_group(const char *policy, char *group, size_t cap, int *row, fm_err *err)
{
    fm_status status = FM_OK;
    *row = -1;
    if (!strcmp(policy, "pooled")) {
        snprintf(group, cap, "/models/pooled");
    } else if (!strncmp(policy, "merged/", 7) && policy[7]) {
        snprintf(group, cap, "/models/%s", policy);
    } else if (!strncmp(policy, "local/", 6) && policy[6]) {
        char *end;
        long r = strtol(policy + 6, &end, 10);
        FM_CHECK(*end == '\0' && r >= 0 && r < 100000, FM_EINVAL, "--policy %s: expected local/<robot index>", policy);
        snprintf(group, cap, "/models/local");
        *row = (int)r;
    } else {
        FM_CHECK(0, FM_EINVAL, "--policy %s: expected expert, pooled, merged/<method> or local/<robot>", policy);
    }
cleanup:
    return status;
}

/* The saved policy o->policy of the results file, checked against the environment's observation. */
static fm_status load_policy(const fm_render_opts *o, int obs_dim, const char *what, fm_model *model,
                             fm_nn_runner **run, fm_err *err)
{
    fm_status status = FM_OK;
    char group[256];
    int row;
    FM_TRY(policy_group(o->policy, group, sizeof group, &row, err));
    fm_err lerr;
    fm_err_clear(&lerr);
    FM_CHECK(fm_model_load(o->source, group, row, model, &lerr) == FM_OK, FM_EINVAL,
             "--policy %s: %s has no such policy (%s)", o->policy, o->source, lerr.msg);
    FM_CHECK(fm_nn_obs_dim(&model->spec) == obs_dim, FM_EDATA,
             "%s %s: the policy observes %d values, the config's %s observation has %d", o->source, group,
             fm_nn_obs_dim(&model->spec), what, obs_dim);
    FM_TRY(fm_nn_runner_create(model, run, err));
    fm_nn_runner_reset(*run);
cleanup:
    return status;
}

static fm_status make_out_dir(const char *dir, fm_err *err)
{
    fm_status status = FM_OK;
    errno = 0;
    FM_CHECK(mkdir(dir, 0777) == 0 || errno == EEXIST, FM_EIO, "%s: cannot create the directory: %s", dir,
             strerror(errno));
cleanup:
    return status;
}

/* One frame: the scene camera o->camera, or a free camera at look / distance / azimuth / elevation. */
static fm_status frame(const fm_render_opts *o, fm_renderer *ren, void *mm, void *md, const double look[3],
                       double dist, double az, double el, unsigned char *rgb, int t, fm_err *err)
{
    fm_status status = FM_OK;
    char path[4200];
    if (o->camera[0])
        FM_TRY(fm_render_frame_camera(ren, mm, md, o->camera, rgb, err));
    else
        FM_TRY(fm_render_frame(ren, mm, md, look, dist, az, el, rgb, err));
    snprintf(path, sizeof path, "%s/frame_%04d.png", o->out_dir, t);
    FM_TRY(fm_png_write(path, rgb, o->width, o->height, err));
cleanup:
    return status;
}

/* An MT-10 episode: the expert or the policy until the episode is over (the hold after the first
 * success, or the horizon), from a camera behind the robot's side of the table. */
static fm_status render_multitask(const fm_render_opts *o, const fm_config *cfg, int expert, fm_err *err)
{
    fm_status status = FM_OK;
    fm_multitask env = {0};
    fm_mt_episode *e = NULL;
    fm_renderer *ren = NULL;
    fm_model model = {0};
    fm_nn_runner *run = NULL;
    unsigned char *rgb = NULL;
    double *obs = NULL;
    FM_TRY(fm_multitask_build(cfg, &env, err));
    FM_CHECK(o->task >= 0 && o->task < env.K, FM_EINVAL, "--task %d: the config has tasks 0..%d", o->task, env.K - 1);
    if (!expert)
        FM_TRY(load_policy(o, fm_multitask_obs_dim(&env), "multitask", &model, &run, err));
    FM_TRY(make_out_dir(o->out_dir, err));
    fm_rng r;
    fm_rng_seed(&r, (uint64_t)o->seed, FM_RANK_SHARED, FM_STREAM_EVAL);
    FM_TRY(fm_mt_episode_open(&env, o->task, &r, &e, err));
    void *mm, *md;
    fm_mt_episode_mj(e, &mm, &md);
    FM_TRY(fm_render_open(&ren, mm, o->width, o->height, err));
    FM_ALLOC(rgb, (size_t)o->width * o->height * 3);
    FM_ALLOC(obs, fm_multitask_obs_dim(&env));
    const double look[3] = {0.0, 0.72, 0.08};
    int frames = 0;
    for (int t = 0;; t++) {
        FM_TRY(frame(o, ren, mm, md, look, 1.0, 90.0, -28.0, rgb, t, err));
        frames++;
        int over = fm_mt_steps(e) >= env.horizon ||
                   (fm_mt_first_success(e) >= 0 && fm_mt_steps(e) >= fm_mt_first_success(e) + env.hold);
        if (over)
            break;
        double a[FM_MT_ACT_DIM];
        fm_mt_observe(e, obs);
        if (expert)
            fm_mt_expert(e, obs, a);
        else
            fm_nn_runner_act(run, obs, a);
        if (fm_mt_step(e, a))
            break;
    }
    if (!o->quiet)
        printf("%s, task %d (%s), seed %lld: %d frames in %s/, %s after %d actions (distance %.4f)\n",
               expert ? "expert" : o->policy, o->task, fm_mt_task_name(o->task), (long long)o->seed, frames,
               o->out_dir, fm_mt_first_success(e) >= 0 ? "success" : "no success", fm_mt_steps(e),
               fm_mt_distance(e));
cleanup:
    free(rgb), free(obs);
    fm_render_close(ren);
    fm_mt_episode_close(e);
    fm_nn_runner_free(run);
    fm_model_free(&model);
    fm_multitask_free(&env);
    return status;
}

fm_status fm_fleet_render(const fm_render_opts *o, fm_err *err)
{
    fm_status status = FM_OK;
    fm_config *cfg = NULL;
    fm_tooluse env = {0};
    fm_tu_episode *e = NULL;
    fm_renderer *ren = NULL;
    fm_model model = {0};
    fm_nn_runner *run = NULL;
    unsigned char *rgb = NULL;
    double *obs = NULL;
    int is_results = 0, expert = !o->policy || !strcmp(o->policy, "expert");
    FM_ALLOC(cfg, 1);
    FM_TRY(load_source(o->source, cfg, &is_results, err));
    FM_CHECK(o->width >= 16 && o->width <= 1280 && o->height >= 16 && o->height <= 960, FM_EINVAL,
             "--size %dx%d: width must be in [16, 1280] and height in [16, 960]", o->width, o->height);
    FM_CHECK(expert || is_results, FM_EINVAL, "--policy %s needs a results file (.h5), not a config", o->policy);
    if (cfg->env.kind == FM_ENV_MULTITASK) {
        status = render_multitask(o, cfg, expert, err);
        goto cleanup;
    }
    FM_TRY(fm_tooluse_build(cfg, &env, err));
    FM_CHECK(o->task >= 0 && o->task < env.K, FM_EINVAL, "--task %d: the config has tasks 0..%d", o->task, env.K - 1);
    if (!expert)
        FM_TRY(load_policy(o, fm_tooluse_obs_dim(&env), "tool-use", &model, &run, err));
    FM_TRY(make_out_dir(o->out_dir, err));
    fm_rng r;
    fm_rng_seed(&r, (uint64_t)o->seed, FM_RANK_SHARED, FM_STREAM_EVAL);
    FM_TRY(fm_tu_episode_open(&env, o->task, &r, &e, err));
    if (expert)
        FM_TRY(fm_tu_expert_plan(e, err));
    void *mm, *md;
    fm_tu_episode_mj(e, &mm, &md);
    FM_TRY(fm_render_open(&ren, mm, o->width, o->height, err));
    FM_ALLOC(rgb, (size_t)o->width * o->height * 3);
    FM_ALLOC(obs, fm_tooluse_obs_dim(&env));
    int frames = 0, success = 0;
    const double look[3] = {0.45, 0.0, 0.1};
    for (int t = 0; t <= env.horizon; t++) {
        FM_TRY(frame(o, ren, mm, md, look, 1.3, 150.0, -25.0, rgb, t, err));
        frames++;
        if (t == env.horizon || success)
            break;
        double a[FM_TU_ACT_DIM];
        fm_tu_observe(e, &r, obs);
        if (expert) {
            if (!fm_tu_expert_act(e, a))
                break;
        } else {
            fm_nn_runner_act(run, obs, a);
        }
        if (fm_tu_step(e, a))
            break;
        success = fm_tu_success(e);
    }
    if (!o->quiet)
        printf("%s, task %d (%s), seed %lld: %d frames in %s/, %s after %d actions (progress %.4f)\n",
               expert ? "expert" : o->policy, o->task, fm_tooluse_tool(&env, o->task)->name, (long long)o->seed,
               frames, o->out_dir, success ? "success" : "no success", frames - 1, fm_tu_progress(e));
cleanup:
    free(rgb), free(obs), free(cfg);
    fm_render_close(ren);
    fm_tu_episode_close(e);
    fm_nn_runner_free(run);
    fm_model_free(&model);
    fm_tooluse_free(&env);
    return status;
}
