/* test_config.c - config module: defaults, every key, every error message (with file:line:col),
 * sweep skipping, dump/load round trip, files, enum names. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config/cfg.h"
#include "tap.h"

/* The three required keys, nothing else: 6 lines, env last so tests can append env keys at line 7. */
#define BASE "experiment:\n  name: run1\npolicy:\n  arch: static_linear\nenv:\n  kind: lqg\n"

/* Every key set to a value other than its default (obs stays projected: C needs it). */
static const char FULL[] =
    "experiment:\n"
    "  name: full-run_1.x\n"
    "  description: \"all keys \\\"set\\\"\\tand escaped \\\\ \\u00e9\"\n"
    "  seed: 123456789\n"
    "  output_dir: /tmp/fleet out\n"
    "env:\n"
    "  kind: lqg\n"
    "  system: custom\n"
    "  obs: projected\n"
    "  obs_dim: 2\n"
    "  obs_per_task: no\n"
    "  num_tasks: 7\n"
    "  q_log_min: -1.5\n"
    "  q_log_max: 1e0\n"
    "  r_scale: 0.1\n"
    "  process_noise: 1e-3\n"
    "  obs_noise: 0.5\n"
    "  init_std: 2.5\n"
    "  horizon: 64\n"
    "  A: [[1.1, 0.03, -0.02], [0.01, 0.47, 4.7], [0.02, -0.06, 0.40]]\n"
    "  B:\n"
    "    - [0.01, 0.99]\n"
    "    - [-3.44, 1.66]\n"
    "    - [-0.83, .44]\n"
    "  C: [[1, 0, 0], [0, -1e-300, 0]]\n"
    "  cp_dt: 0.01\n"
    "  cp_length_min: 0.25\n"
    "  cp_length_max: 1.5\n"
    "  cp_pole_mass_min: 0.1\n"
    "  cp_pole_mass_max: 0.5\n"
    "  cp_cart_mass_min: 0.75\n"
    "  cp_cart_mass_max: 3\n"
    "  cp_setpoint_max: 0.5\n"
    "  cp_force_max: 15\n"
    "  cp_obs_noise: 0.05\n"
    "  cp_action_noise: 0\n"
    "fleet:\n"
    "  robots: 8\n"
    "  alpha: 0.05\n"
    "  partition: one_task\n"
    "  demos_per_robot: 40\n"
    "  data: demos/lqg.h5\n"
    "  shared_init: Yes\n"
    "  sign_flip_fraction: 0.5\n"
    "policy:\n"
    "  arch: dynamic_linear\n"
    "  hidden_dim: 3\n"
    "  init_scale: 0.3\n"
    "train:\n"
    "  optimizer: sgd\n"
    "  steps: 1000\n"
    "  lr: 0.003\n"
    "  lr_schedule: cosine\n"
    "  lr_decay: 0.5\n"
    "  grad_clip: 10\n"
    "  ridge: 1e-6\n"
    "  pooled_ls: scalapack\n"
    "merge:\n"
    "  methods: [linear_gl, average]\n"
    "  perm_iters: 7\n"
    "  gl_steps: 500\n"
    "  gl_lr: 0.05\n"
    "  gl_start: permutation\n"
    "  gl_normalize: frobenius\n"
    "  gl_tol: 0.001\n"
    "  gl_select: none\n"
    "eval:\n"
    "  rollouts: 50\n"
    "  horizon: 200\n";

/* fm_config is ~100 KB: keep the working copies off the stack. */
static fm_config cfg_a, cfg_b;
static char dump_buf[1 << 17];

static fm_status load(const char *text, fm_config *cfg, fm_err *err)
{
    fm_err_clear(err);
    return fm_cfg_load_string(text, "cfg.yaml", cfg, err);
}

/* Load `text`, expect FM_ECONFIG and exactly `want` as the message. */
static void expect_error(const char *text, const char *want, const char *what)
{
    fm_err err;
    fm_status st = load(text, &cfg_a, &err);
    is_int(st, FM_ECONFIG, "%s: status", what);
    is_int(err.code, FM_ECONFIG, "%s: err->code", what);
    is_str(err.msg, want, "%s: message", what);
}

static void expect_ok(const char *text, const char *what)
{
    fm_err err;
    fm_status st = load(text, &cfg_a, &err);
    if (!ok(st == FM_OK, "%s: loads", what))
        printf("#   %s\n", err.msg);
}

static void test_defaults(void)
{
    fm_err err;
    fm_config *c = &cfg_a;
    is_int(load(BASE, c, &err), FM_OK, "minimal config loads");
    is_str(c->source, "cfg.yaml", "source is the name");
    is_str(c->experiment.name, "run1", "experiment.name");
    is_str(c->experiment.description, "", "experiment.description default");
    is_int(c->experiment.seed, 0, "experiment.seed default");
    is_str(c->experiment.output_dir, "results", "experiment.output_dir default");
    is_int(c->env.kind, FM_ENV_LQG, "env.kind");
    is_int(c->env.system, FM_SYS_MILD_UNSTABLE, "env.system default");
    is_int(c->env.obs, FM_OBS_PROJECTED, "env.obs default");
    is_int(c->env.obs_dim, 50, "env.obs_dim default");
    is_int(c->env.obs_per_task, 0, "env.obs_per_task default");
    is_int(c->env.num_tasks, 10, "env.num_tasks default");
    ok(c->env.q_log_min == -2.0, "env.q_log_min default");
    ok(c->env.q_log_max == 2.0, "env.q_log_max default");
    ok(c->env.r_scale == 1.0, "env.r_scale default");
    ok(c->env.process_noise == 0.01, "env.process_noise default");
    ok(c->env.obs_noise == 0.01, "env.obs_noise default");
    ok(c->env.init_std == 1.0, "env.init_std default");
    is_int(c->env.horizon, 100, "env.horizon default");
    ok(c->env.A.rows == 0 && c->env.B.rows == 0 && c->env.C.rows == 0, "env.A/B/C not given");
    ok(c->env.cp_dt == 0.02, "env.cp_dt default");
    ok(c->env.cp_length_min == 0.3 && c->env.cp_length_max == 0.8, "env.cp_length_min/max defaults");
    ok(c->env.cp_pole_mass_min == 0.05 && c->env.cp_pole_mass_max == 0.3, "env.cp_pole_mass_min/max defaults");
    ok(c->env.cp_cart_mass_min == 0.5 && c->env.cp_cart_mass_max == 2.0, "env.cp_cart_mass_min/max defaults");
    ok(c->env.cp_setpoint_max == 1.0, "env.cp_setpoint_max default");
    ok(c->env.cp_force_max == 20.0, "env.cp_force_max default");
    ok(c->env.cp_obs_noise == 0.01, "env.cp_obs_noise default");
    ok(c->env.cp_action_noise == 0.1, "env.cp_action_noise default");
    is_int(c->fleet.robots, 0, "fleet.robots default");
    ok(c->fleet.alpha == 1.0, "fleet.alpha default");
    is_int(c->fleet.demos_per_robot, 20, "fleet.demos_per_robot default");
    is_str(c->fleet.data, "", "fleet.data default");
    is_int(c->fleet.shared_init, 0, "fleet.shared_init default");
    ok(c->fleet.sign_flip_fraction == 0.0, "fleet.sign_flip_fraction default");
    is_int(c->policy.arch, FM_ARCH_STATIC_LINEAR, "policy.arch");
    is_int(c->policy.hidden_dim, 0, "policy.hidden_dim default");
    ok(c->policy.init_scale == 0.0, "policy.init_scale default");
    is_int(c->train.optimizer, FM_OPT_ADAM, "train.optimizer default");
    is_int(c->train.steps, 300, "train.steps default");
    ok(c->train.lr == 0.01, "train.lr default");
    ok(c->train.grad_clip == 0.0, "train.grad_clip default");
    ok(c->train.ridge == 0.0, "train.ridge default");
    is_int(c->train.pooled_ls, FM_POOLED_NORMAL, "train.pooled_ls default");
    is_int(c->merge.num_methods, 3, "merge.num_methods default");
    ok(c->merge.methods[0] == FM_MERGE_AVERAGE && c->merge.methods[1] == FM_MERGE_LINEAR_PERM &&
           c->merge.methods[2] == FM_MERGE_LINEAR_GL,
       "merge.methods default order");
    is_int(c->merge.perm_iters, 50, "merge.perm_iters default");
    is_int(c->merge.gl_steps, 100000, "merge.gl_steps default");
    ok(c->merge.gl_lr == 0.5, "merge.gl_lr default");
    is_int(c->merge.gl_start, FM_GL_START_IDENTITY, "merge.gl_start default");
    is_int(c->merge.gl_normalize, FM_GL_NORM_NONE, "merge.gl_normalize default");
    ok(c->merge.gl_tol == 1e-4, "merge.gl_tol default");
    is_int(c->merge.gl_select, FM_GL_SELECT_BC_LOSS, "merge.gl_select default");
    is_int(c->fleet.partition, FM_PARTITION_DIRICHLET, "fleet.partition default");
    is_int(c->fleet.local_policy, FM_LOCAL_TRAINED, "fleet.local_policy default");
    is_int(c->train.lr_schedule, FM_LR_CONSTANT, "train.lr_schedule default");
    ok(c->train.lr_decay == 0.1, "train.lr_decay default");
    is_int(c->eval.rollouts, 20, "eval.rollouts default");
    is_int(c->eval.horizon, 0, "eval.horizon default");

    /* fm_cfg_defaults gives the same bytes apart from the required keys and source */
    fm_cfg_defaults(&cfg_b);
    strcpy(cfg_b.experiment.name, "run1");
    memset(c->source, 0, sizeof c->source);
    ok(memcmp(c, &cfg_b, sizeof *c) == 0, "fm_cfg_defaults matches the minimal config");
}

static void test_full(void)
{
    fm_err err;
    fm_config *c = &cfg_a;
    fm_status st = load(FULL, c, &err);
    if (!ok(st == FM_OK, "full config loads"))
        printf("#   %s\n", err.msg);
    is_str(c->experiment.name, "full-run_1.x", "experiment.name");
    is_str(c->experiment.description, "all keys \"set\"\tand escaped \\ \xc3\xa9", "experiment.description");
    is_int(c->experiment.seed, 123456789, "experiment.seed");
    is_str(c->experiment.output_dir, "/tmp/fleet out", "experiment.output_dir");
    is_int(c->env.kind, FM_ENV_LQG, "env.kind");
    is_int(c->env.system, FM_SYS_CUSTOM, "env.system");
    is_int(c->env.obs, FM_OBS_PROJECTED, "env.obs");
    is_int(c->env.obs_dim, 2, "env.obs_dim");
    is_int(c->env.obs_per_task, 0, "env.obs_per_task");
    is_int(c->env.num_tasks, 7, "env.num_tasks");
    ok(c->env.q_log_min == -1.5, "env.q_log_min");
    ok(c->env.q_log_max == 1.0, "env.q_log_max");
    ok(c->env.r_scale == 0.1, "env.r_scale");
    ok(c->env.process_noise == 1e-3, "env.process_noise");
    ok(c->env.obs_noise == 0.5, "env.obs_noise");
    ok(c->env.init_std == 2.5, "env.init_std");
    is_int(c->env.horizon, 64, "env.horizon");
    ok(c->env.A.rows == 3 && c->env.A.cols == 3, "env.A is 3 x 3");
    ok(c->env.A.v[0] == 1.1 && c->env.A.v[5] == 4.7 && c->env.A.v[8] == 0.40, "env.A row-major entries");
    ok(c->env.B.rows == 3 && c->env.B.cols == 2, "env.B is 3 x 2 (block style rows)");
    ok(c->env.B.v[2] == -3.44 && c->env.B.v[5] == 0.44, "env.B entries");
    ok(c->env.C.rows == 2 && c->env.C.cols == 3 && c->env.C.v[4] == -1e-300, "env.C");
    ok(c->env.cp_dt == 0.01, "env.cp_dt");
    ok(c->env.cp_length_min == 0.25 && c->env.cp_length_max == 1.5, "env.cp_length_min/max");
    ok(c->env.cp_pole_mass_min == 0.1 && c->env.cp_pole_mass_max == 0.5, "env.cp_pole_mass_min/max");
    ok(c->env.cp_cart_mass_min == 0.75 && c->env.cp_cart_mass_max == 3.0, "env.cp_cart_mass_min/max");
    ok(c->env.cp_setpoint_max == 0.5, "env.cp_setpoint_max");
    ok(c->env.cp_force_max == 15.0, "env.cp_force_max");
    ok(c->env.cp_obs_noise == 0.05, "env.cp_obs_noise");
    ok(c->env.cp_action_noise == 0.0, "env.cp_action_noise");
    is_int(c->fleet.robots, 8, "fleet.robots");
    ok(c->fleet.alpha == 0.05, "fleet.alpha");
    is_int(c->fleet.demos_per_robot, 40, "fleet.demos_per_robot");
    is_str(c->fleet.data, "demos/lqg.h5", "fleet.data");
    is_int(c->fleet.shared_init, 1, "fleet.shared_init");
    ok(c->fleet.sign_flip_fraction == 0.5, "fleet.sign_flip_fraction");
    is_int(c->policy.arch, FM_ARCH_DYNAMIC_LINEAR, "policy.arch");
    is_int(c->policy.hidden_dim, 3, "policy.hidden_dim");
    ok(c->policy.init_scale == 0.3, "policy.init_scale");
    is_int(c->train.optimizer, FM_OPT_SGD, "train.optimizer");
    is_int(c->train.steps, 1000, "train.steps");
    ok(c->train.lr == 0.003, "train.lr");
    ok(c->train.grad_clip == 10.0, "train.grad_clip");
    ok(c->train.ridge == 1e-6, "train.ridge");
    is_int(c->train.pooled_ls, FM_POOLED_SCALAPACK, "train.pooled_ls");
    is_int(c->merge.num_methods, 2, "merge.num_methods");
    ok(c->merge.methods[0] == FM_MERGE_LINEAR_GL && c->merge.methods[1] == FM_MERGE_AVERAGE &&
           c->merge.methods[2] == 0,
       "merge.methods in config order, rest zero");
    is_int(c->merge.perm_iters, 7, "merge.perm_iters");
    is_int(c->merge.gl_steps, 500, "merge.gl_steps");
    ok(c->merge.gl_lr == 0.05, "merge.gl_lr");
    is_int(c->merge.gl_start, FM_GL_START_PERMUTATION, "merge.gl_start");
    is_int(c->merge.gl_normalize, FM_GL_NORM_FROBENIUS, "merge.gl_normalize");
    ok(c->merge.gl_tol == 0.001, "merge.gl_tol");
    is_int(c->merge.gl_select, FM_GL_SELECT_NONE, "merge.gl_select");
    is_int(c->fleet.partition, FM_PARTITION_ONE_TASK, "fleet.partition");
    is_int(c->train.lr_schedule, FM_LR_COSINE, "train.lr_schedule");
    ok(c->train.lr_decay == 0.5, "train.lr_decay");
    is_int(c->eval.rollouts, 50, "eval.rollouts");
    is_int(c->eval.horizon, 200, "eval.horizon");
}

static void test_scalar_syntax(void)
{
    static const char *bools[] = { "true", "True", "yes", "Yes", "on", "On" };
    static const char *nots[] = { "false", "False", "no", "No", "off", "Off" };
    char text[512];
    for (int i = 0; i < 6; i++) {
        snprintf(text, sizeof text, BASE "fleet:\n  shared_init: %s\n  reset_optimizer: %s\n", bools[i],
                 nots[i]);
        fm_err err;
        fm_status st = load(text, &cfg_a, &err);
        ok(st == FM_OK && cfg_a.fleet.shared_init == 1 && cfg_a.fleet.reset_optimizer == 0, "bools %s / %s",
           bools[i], nots[i]);
    }
    expect_error(BASE "fleet:\n  shared_init: TRUE\n",
                 "cfg.yaml:8:16: fleet.shared_init: got \"TRUE\", expected a boolean", "upper-case bool rejected");
    expect_error(BASE "fleet:\n  shared_init: 1\n",
                 "cfg.yaml:8:16: fleet.shared_init: got \"1\", expected a boolean", "1 is not a bool");

    /* doubles: ints, decimals, exponents, signs */
    static const struct { const char *text; double want; } nums[] = {
        { "3", 3.0 }, { "0.25", 0.25 }, { ".5", 0.5 }, { "+2.", 2.0 }, { "1e-3", 1e-3 }, { "2.5E-2", 0.025 },
    };
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        snprintf(text, sizeof text, BASE "train:\n  lr: %s\n", nums[i].text);
        fm_err err;
        fm_status st = load(text, &cfg_a, &err);
        ok(st == FM_OK && cfg_a.train.lr == nums[i].want, "double literal %s", nums[i].text);
    }
    static const char *bad_nums[] = { ".nan", ".inf", "-.inf", "nan", "inf", "0x10", "1e999", "1e", "1,5", "e3" };
    for (size_t i = 0; i < sizeof bad_nums / sizeof bad_nums[0]; i++) {
        char want[256];
        snprintf(text, sizeof text, BASE "train:\n  lr: %s\n", bad_nums[i]);
        snprintf(want, sizeof want, "cfg.yaml:8:7: train.lr: got \"%s\", expected a number", bad_nums[i]);
        expect_error(text, want, bad_nums[i]);
    }

    /* ints: sign, no decimals, no overflow */
    expect_ok(BASE "train:\n  steps: +5\n", "int with a plus sign");
    is_int(cfg_a.train.steps, 5, "+5 parsed");
    static const char *bad_ints[] = { "1.5", "abc", "1e3", "99999999999999999999", "0x10", "1_000", "5.0" };
    for (size_t i = 0; i < sizeof bad_ints / sizeof bad_ints[0]; i++) {
        char want[256];
        snprintf(text, sizeof text, BASE "train:\n  steps: %s\n", bad_ints[i]);
        snprintf(want, sizeof want, "cfg.yaml:8:10: train.steps: got \"%s\", expected an integer", bad_ints[i]);
        expect_error(text, want, bad_ints[i]);
    }
    /* 64-bit seed above INT_MAX is a range error, not a type error */
    expect_error("experiment:\n  name: a\n  seed: 2147483648\nenv:\n  kind: lqg\npolicy:\n  arch: static_linear\n",
                 "cfg.yaml:3:9: experiment.seed: got 2147483648, expected a value in [0, 2147483647]",
                 "seed above 2^31-1");
    /* quoted numbers are strings */
    expect_error(BASE "  horizon: \"100\"\n",
                 "cfg.yaml:7:12: env.horizon: got \"100\", expected an integer (remove the quotes)",
                 "quoted integer");
    /* enum and string values may be quoted; a plain scalar is a string too */
    expect_ok("experiment:\n  name: \"q\"\n  description: 42\nenv:\n  kind: 'lqg'\npolicy:\n  arch: \"static_linear\"\n",
              "quoted enums and strings");
    is_str(cfg_a.experiment.description, "42", "plain 42 as a string");
    expect_error(BASE "fleet:\n  data:\n", "cfg.yaml:8:8: fleet.data: got null, expected a string", "null string");
    expect_error(BASE "train:\n  optimizer: ~\n",
                 "cfg.yaml:8:14: train.optimizer: got null, expected one of [adam, sgd]", "null enum");
    expect_ok(BASE "fleet:\n  data: \"\"\n", "empty quoted string");
    /* a null section is an empty one */
    expect_ok(BASE "eval:\ntrain:\n", "empty sections");
}

static void test_error_kinds(void)
{
    expect_error(BASE "  foo: 1\n", "cfg.yaml:7:3: env.foo: unknown key", "unknown key");
    expect_error("bogus: 1\n" BASE, "cfg.yaml:1:1: bogus: unknown section", "unknown section");
    expect_error("experiment:\n  name: a\nenv:\n  kind: lqg\n  horizon: abc\npolicy:\n  arch: static_linear\n",
                 "cfg.yaml:5:12: env.horizon: got \"abc\", expected an integer", "wrong type: integer");
    expect_error(BASE "fleet:\n  alpha: big\n", "cfg.yaml:8:10: fleet.alpha: got \"big\", expected a number",
                 "wrong type: number");
    expect_error(BASE "fleet:\n  reset_optimizer: maybe\n",
                 "cfg.yaml:8:20: fleet.reset_optimizer: got \"maybe\", expected a boolean", "wrong type: boolean");
    expect_error(BASE "merge:\n  gl_normalize: maybe\n",
                 "cfg.yaml:8:17: merge.gl_normalize: got \"maybe\", expected one of [none, determinant, frobenius]",
                 "gl_normalize is a choice (none / determinant / frobenius)");
    expect_ok(BASE "merge:\n  gl_normalize: true\n", "gl_normalize: true (the boolean of older results files)");
    is_int(cfg_a.merge.gl_normalize, FM_GL_NORM_DETERMINANT, "gl_normalize: true reads as determinant");
    expect_ok(BASE "merge:\n  gl_normalize: false\n", "gl_normalize: false");
    is_int(cfg_a.merge.gl_normalize, FM_GL_NORM_NONE, "gl_normalize: false reads as none");
    expect_error(BASE "merge:\n  gl_normalize: \"true\"\n",
                 "cfg.yaml:8:17: merge.gl_normalize: got \"true\", expected one of [none, determinant, frobenius]",
                 "a quoted \"true\" is not the legacy boolean");
    expect_error(BASE "merge:\n  gl_tol: 2\n", "cfg.yaml:8:11: merge.gl_tol: got 2, expected a value in [0, 1]",
                 "gl_tol out of range");
    expect_error(BASE "train:\n  lr_decay: 0\n", "cfg.yaml:8:13: train.lr_decay: got 0, expected a value in (0, 1]",
                 "lr_decay out of range");
    expect_error("experiment:\n  name: run1\npolicy:\n  arch: rnn\nenv:\n  kind: cartpole\nfleet:\n  local_policy: expert\n",
                 "cfg.yaml:8:3: fleet.local_policy: got expert, which exists for kind: lqg only (got kind: cartpole)",
                 "expert local policies need lqg");
    expect_error(BASE "experiment:\n  description: [a, b]\n", "cfg.yaml:7:1: experiment: duplicate key",
                 "experiment twice is a duplicate section");
    expect_error("experiment:\n  name: a\n  description: [a, b]\nenv:\n  kind: lqg\npolicy:\n  arch: static_linear\n",
                 "cfg.yaml:3:16: experiment.description: got a list, expected a string", "wrong type: string");
    expect_error(BASE "fleet:\n  robots: {a: 1}\n", "cfg.yaml:8:11: fleet.robots: got a mapping, expected an integer",
                 "mapping where a number goes");
    expect_error(BASE "merge:\n  methods: average\n", "cfg.yaml:8:12: merge.methods: got \"average\", expected a list",
                 "wrong type: list");
    expect_error(BASE "  system: custom\n  A: 3\n  B: [[1]]\n",
                 "cfg.yaml:8:6: env.A: got \"3\", expected a list of rows of numbers", "wrong type: matrix");
    expect_error("experiment:\n  name: a\nenv:\n  kind: lqg\n  horizon: 0\npolicy:\n  arch: static_linear\n",
                 "cfg.yaml:5:12: env.horizon: got 0, expected a value in [1, 100000]", "out of range: int");
    expect_error(BASE "fleet:\n  alpha: 0\n", "cfg.yaml:8:10: fleet.alpha: got 0, expected a value in (0, 1e+06]",
                 "out of range: open lower bound");
    expect_error(BASE "train:\n  lr: 10.5\n", "cfg.yaml:8:7: train.lr: got 10.5, expected a value in (0, 10]",
                 "out of range: above");
    expect_error(BASE "fleet:\n  sign_flip_fraction: -0.25\n",
                 "cfg.yaml:8:23: fleet.sign_flip_fraction: got -0.25, expected a value in [0, 1]",
                 "out of range: negative");
    expect_ok(BASE "  r_scale: 1e6\n  q_log_min: -10\n  q_log_max: 10\n", "closed bounds are included");
    expect_ok(BASE "  r_scale: 1e-4\n", "r_scale at its minimum");
    expect_error("experiment:\n  name: a\nenv:\n  kind: lqx\npolicy:\n  arch: static_linear\n",
                 "cfg.yaml:4:9: env.kind: got \"lqx\", expected one of [lqg, cartpole, tooluse, multitask, supervised]", "bad enum");
    expect_error(BASE "merge:\n  methods: [average, fedavg]\n",
                 "cfg.yaml:8:22: merge.methods: got \"fedavg\", expected one of [average, linear_perm, linear_gl, git_rebasin, sinkhorn_rebasin, fleet_merge, fleet_merge_soft, fleet_merge_simplex, fleet_merge_average, sinkhorn_data]",
                 "bad enum in a list");
    expect_error(BASE "merge:\n  methods: [average, linear_gl, average]\n",
                 "cfg.yaml:8:33: merge.methods: got \"average\" twice, expected each at most once",
                 "duplicate in a list");
    expect_error(BASE "merge:\n  methods: []\n",
                 "cfg.yaml:8:12: merge.methods: got an empty list, expected at least one of [average, linear_perm, "
                 "linear_gl, git_rebasin, sinkhorn_rebasin, fleet_merge, fleet_merge_soft, fleet_merge_simplex, fleet_merge_average, "
                 "sinkhorn_data]",
                 "empty list");
    expect_error("experiment:\n  name: a\nenv:\n  kind: lqg\n",
                 "cfg.yaml:1:1: policy.arch: missing required key", "missing required key, no section");
    expect_error("experiment:\n  name: a\nenv:\n  kind: lqg\npolicy:\n  hidden_dim: 3\n",
                 "cfg.yaml:6:3: policy.arch: missing required key", "missing required key, at the section");
    expect_error("experiment:\n  name: a\nenv:\n  kind: lqg\n  horizon: 5\n  horizon: 6\npolicy:\n  arch: static_linear\n",
                 "cfg.yaml:6:3: env.horizon: duplicate key", "duplicate key");
    expect_error("experiment:\n  name: [a\n", "cfg.yaml:3:1: yaml: did not find expected ',' or ']'", "yaml syntax");
    expect_error("env:\n  kind: lqg\n horizon: 3\n", "cfg.yaml:3:2: yaml: did not find expected key",
                 "yaml indentation");
    expect_error("- a\n- b\n", "cfg.yaml:1:1: config: expected a mapping", "top level not a mapping");
    expect_error(BASE "train: 3\n", "cfg.yaml:7:8: train: expected a mapping", "section not a mapping");
    /* a section that is not a mapping does not also report its required keys */
    expect_error("experiment:\n  name: a\nenv: [lqg]\npolicy:\n  arch: static_linear\n",
                 "cfg.yaml:3:6: env: expected a mapping", "no missing-key cascade");
    expect_error("", "cfg.yaml:1:1: experiment.name: missing required key\n"
                     "cfg.yaml:1:1: env.kind: missing required key\n"
                     "cfg.yaml:1:1: policy.arch: missing required key",
                 "empty file");
    expect_error(BASE "---\na: 1\n", "cfg.yaml:8:1: yaml: expected one document, found a second one",
                 "two documents");
}

static void test_name(void)
{
    expect_error("experiment:\n  name: a/b\nenv:\n  kind: lqg\npolicy:\n  arch: static_linear\n",
                 "cfg.yaml:2:9: experiment.name: got \"a/b\", expected only letters, digits, '.', '_' and '-' "
                 "(it names a directory)",
                 "name with a slash");
    expect_error("experiment:\n  name: \"\"\nenv:\n  kind: lqg\npolicy:\n  arch: static_linear\n",
                 "cfg.yaml:2:9: experiment.name: got \"\", expected a non-empty name", "empty name");
    expect_error("experiment:\n  name: ..\nenv:\n  kind: lqg\npolicy:\n  arch: static_linear\n",
                 "cfg.yaml:2:9: experiment.name: got \"..\", expected a directory name other than \".\" and \"..\"",
                 "name ..");
    char text[1024], want[512];
    char long_name[300];
    memset(long_name, 'x', 129);
    long_name[129] = '\0';
    snprintf(text, sizeof text, "experiment:\n  name: %s\nenv:\n  kind: lqg\npolicy:\n  arch: static_linear\n",
             long_name);
    snprintf(want, sizeof want, "cfg.yaml:2:9: experiment.name: got a string of 129 bytes, expected at most 128");
    expect_error(text, want, "name of 129 characters");
    long_name[128] = '\0';
    snprintf(text, sizeof text, "experiment:\n  name: %s\nenv:\n  kind: lqg\npolicy:\n  arch: static_linear\n",
             long_name);
    expect_ok(text, "name of 128 characters");
}

/* experiment.output_dir and the results path <output_dir>/<name>[/<I>]/results.h5 (at most
 * FM_CFG_RESULTS_PATH_MAX characters: MPI-IO's limit, checked when the config is loaded). */
static void test_paths(void)
{
    expect_error("experiment:\n  name: a\n  output_dir: \"\"\nenv:\n  kind: lqg\npolicy:\n  arch: static_linear\n",
                 "cfg.yaml:3:15: experiment.output_dir: got \"\", expected a directory (write \".\" for the current "
                 "one)", "empty output_dir");
    expect_ok("experiment:\n  name: a\n  output_dir: .\nenv:\n  kind: lqg\npolicy:\n  arch: static_linear\n",
              "output_dir .");
    char dir[200], name[200], text[1024], want[512];
    /* 55 + 1 + 128 + 11 = 195 characters: the longest path that works */
    memset(dir, 'd', 55), dir[55] = '\0';
    memset(name, 'n', 128), name[128] = '\0';
    snprintf(text, sizeof text, "experiment:\n  name: %s\n  output_dir: %s\nenv:\n  kind: lqg\npolicy:\n  arch: "
             "static_linear\n", name, dir);
    expect_ok(text, "results path of 195 characters");
    dir[55] = 'd', dir[56] = '\0';
    snprintf(text, sizeof text, "experiment:\n  name: %s\n  output_dir: %s\nenv:\n  kind: lqg\npolicy:\n  arch: "
             "static_linear\n", name, dir);
    expect_error(text, "cfg.yaml:3:3: experiment.output_dir: got a results path <output_dir>/<name>/results.h5 of "
                 "196 characters, expected at most 195 (an MPI-IO limit; shorten output_dir or name)",
                 "results path of 196 characters");
    /* a sweep adds /<I> to the path: 12 points, /0 ... /11, 3 more characters */
    dir[53] = '\0';
    snprintf(text, sizeof text, "experiment:\n  name: %s\n  output_dir: %s\nenv:\n  kind: lqg\npolicy:\n  arch: "
             "static_linear\nsweep:\n  seeds: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]\n", name, dir);
    snprintf(want, sizeof want, "cfg.yaml:3:3: experiment.output_dir: got a results path "
             "<output_dir>/<name>/<I>/results.h5 of 196 characters, expected at most 195 (an MPI-IO limit; shorten "
             "output_dir or name)");
    expect_error(text, want, "sweep point paths of 196 characters");
    /* the default output_dir always fits a 128-character name */
    char big[300];
    memset(big, 'n', 128), big[128] = '\0';
    snprintf(text, sizeof text, "experiment:\n  name: %s\nenv:\n  kind: lqg\npolicy:\n  arch: static_linear\n", big);
    expect_ok(text, "default output_dir with a 128-character name");
}

static void test_matrices(void)
{
    expect_error(BASE "  system: custom\n  A: [[1, 2], [3]]\n  B: [[1], [1]]\n",
                 "cfg.yaml:8:15: env.A: row 2: got length 1, expected length 2 like row 1", "ragged rows");
    expect_error(BASE "  system: custom\n  A: [1, 2]\n  B: [[1], [1]]\n",
                 "cfg.yaml:8:6: env.A: got a list of numbers, expected a list of rows of numbers (e.g. [[1, 0], "
                 "[0, 1]])",
                 "flat list");
    expect_error(BASE "  system: custom\n  A: [[1, x]]\n  B: [[1]]\n",
                 "cfg.yaml:8:11: env.A: row 1: got \"x\", expected a number", "non-number entry");
    expect_error(BASE "  system: custom\n  A: [[1, .nan]]\n  B: [[1]]\n",
                 "cfg.yaml:8:11: env.A: row 1: got \".nan\", expected a number", "nan entry");
    expect_error(BASE "  system: custom\n  A: [[]]\n  B: [[1]]\n",
                 "cfg.yaml:8:7: env.A: row 1: got an empty list, expected a list of numbers", "empty row");

    /* 65 x 65 = 4225 > 4096 entries */
    size_t cap = 65 * 65 * 3 + 512;
    char *text = malloc(cap);
    ok(text != NULL, "allocate a big config");
    if (!text)
        return;
    size_t n = (size_t)snprintf(text, cap, BASE "  system: custom\n  A: [");
    for (int r = 0; r < 65; r++) {
        n += (size_t)snprintf(text + n, cap - n, "%s[", r ? ", " : "");
        for (int c = 0; c < 65; c++)
            n += (size_t)snprintf(text + n, cap - n, "%s%d", c ? "," : "", r == c);
        n += (size_t)snprintf(text + n, cap - n, "]");
    }
    snprintf(text + n, cap - n, "]\n  B: [[1]]\n");
    expect_error(text, "cfg.yaml:8:6: env.A: got 65 x 65 = 4225 entries, expected at most 4096", "too many entries");
    free(text);
}

static void test_cross_checks(void)
{
    expect_error(BASE "  system: custom\n",
                 "cfg.yaml:6:3: env.A: required with system: custom\n"
                 "cfg.yaml:6:3: env.B: required with system: custom",
                 "custom needs A and B");
    expect_error(BASE "  system: custom\n  A: [[1, 0]]\n  B: [[1]]\n",
                 "cfg.yaml:8:3: env.A: got a 1 x 2 matrix, expected a square one", "A not square");
    expect_error(BASE "  system: custom\n  A: [[1, 0], [0, 1]]\n  B: [[1]]\n",
                 "cfg.yaml:9:3: env.B: got a 1 x 1 matrix, expected 2 rows (the rows of env.A)", "B rows != A rows");
    expect_error(BASE "  A: [[1, 0], [0, 1]]\n", "cfg.yaml:7:3: env.A: only allowed with system: custom",
                 "A without custom");
    expect_error(BASE "  system: stable\n  B: [[1]]\n", "cfg.yaml:8:3: env.B: only allowed with system: custom",
                 "B without custom");
    expect_error(BASE "  C: [[1, 0, 0]]\n", "cfg.yaml:7:3: env.C: got a 1 x 3 matrix, expected 4 columns (the state dimension)",
                 "C columns vs built-in n = 4");
    expect_ok(BASE "  system: odd_unstable\n  C: [[1, 0, 0]]\n", "C with 3 columns for odd_unstable");
    expect_ok(BASE "  system: custom\n  A: [[1, 0], [0, 1]]\n  B: [[1], [0]]\n  C: [[1, 1]]\n",
              "C columns = custom A rows");
    expect_error(BASE "  obs: state\n  C: [[1, 0, 0, 0]]\n", "cfg.yaml:8:3: env.C: only allowed with obs: projected",
                 "C with obs: state");
    expect_error(BASE "  obs_per_task: true\n  C: [[1, 0, 0, 0]]\n",
                 "cfg.yaml:8:3: env.C: not allowed with obs_per_task: true (each task draws its own C)",
                 "C with obs_per_task");
    expect_error(BASE "  q_log_min: 3\n", "cfg.yaml:7:3: env.q_log_min: got 3, expected a value <= env.q_log_max (2)",
                 "q_log_min > q_log_max");
    expect_error(BASE "  q_log_max: -3\n",
                 "cfg.yaml:7:3: env.q_log_max: got -3, expected a value >= env.q_log_min (-2)",
                 "q_log_max < default q_log_min");
    /* a bad system value does not cascade into matrix errors */
    expect_error(BASE "  system: wobbly\n  A: [[1]]\n",
                 "cfg.yaml:7:11: env.system: got \"wobbly\", expected one of [mild_unstable, stable, odd_unstable, "
                 "custom]",
                 "no cascade from a bad system");
}

/* The cart-pole keys: ranges, the min <= max rules, and which lqg rules do not apply. */
#define CP_BASE "experiment:\n  name: run1\npolicy:\n  arch: rnn\nenv:\n  kind: cartpole\n"

static void test_cartpole_keys(void)
{
    expect_ok(CP_BASE, "cartpole with defaults");
    is_int(cfg_a.env.kind, FM_ENV_CARTPOLE, "env.kind: cartpole");
    static const struct { const char *key, *lo, *hi; } pairs[] = {
        { "cp_length", "0.3", "0.8" }, { "cp_pole_mass", "0.05", "0.3" }, { "cp_cart_mass", "0.5", "2" },
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        char text[512], want[256];
        const char *k = pairs[i].key;
        snprintf(text, sizeof text, CP_BASE "  %s_min: 5\n", k);
        snprintf(want, sizeof want, "cfg.yaml:7:3: env.%s_min: got 5, expected a value <= env.%s_max (%s)", k, k,
                 pairs[i].hi);
        expect_error(text, want, k);
        snprintf(text, sizeof text, CP_BASE "  %s_max: 0.01\n", k);
        snprintf(want, sizeof want, "cfg.yaml:7:3: env.%s_max: got 0.01, expected a value >= env.%s_min (%s)", k, k,
                 pairs[i].lo);
        expect_error(text, want, k);
        snprintf(text, sizeof text, CP_BASE "  %s_min: 0.7\n  %s_max: 0.6\n", k, k);
        snprintf(want, sizeof want, "cfg.yaml:7:3: env.%s_min: got 0.7, expected a value <= env.%s_max (0.6)", k, k);
        expect_error(text, want, k);
        snprintf(text, sizeof text, CP_BASE "  %s_min: 0.7\n  %s_max: 0.7\n", k, k);
        expect_ok(text, "min == max is allowed");
    }
    /* the range rules hold for every kind */
    expect_error(BASE "  cp_length_min: 1\n",
                 "cfg.yaml:7:3: env.cp_length_min: got 1, expected a value <= env.cp_length_max (0.8)",
                 "cp ranges checked with kind: lqg too");
    expect_error(CP_BASE "  q_log_min: 3\n",
                 "cfg.yaml:7:3: env.q_log_min: got 3, expected a value <= env.q_log_max (2)",
                 "q_log range checked with kind: cartpole too");
    /* the linear system's rules (A, B, C) do not apply to cartpole: those keys are ignored */
    expect_ok(CP_BASE "  A: [[1, 0], [0, 1]]\n  C: [[1, 0, 0]]\n", "cartpole ignores A and C");
    expect_ok(CP_BASE "  system: custom\n", "cartpole ignores system: custom without A, B");
}

/* Ranges of the single cart-pole keys. */
static void test_cartpole_ranges(void)
{
    expect_error(CP_BASE "  cp_dt: 0\n", "cfg.yaml:7:10: env.cp_dt: got 0, expected a value in [0.0001, 1]", "cp_dt 0");
    expect_error(CP_BASE "  cp_length_max: 11\n",
                 "cfg.yaml:7:18: env.cp_length_max: got 11, expected a value in (0, 10]", "cp_length_max 11");
    expect_error(CP_BASE "  cp_pole_mass_min: 0\n",
                 "cfg.yaml:7:21: env.cp_pole_mass_min: got 0, expected a value in (0, 100]", "cp_pole_mass_min 0");
    expect_error(CP_BASE "  cp_cart_mass_max: 1001\n",
                 "cfg.yaml:7:21: env.cp_cart_mass_max: got 1001, expected a value in (0, 1000]",
                 "cp_cart_mass_max 1001");
    expect_error(CP_BASE "  cp_setpoint_max: 2.5\n",
                 "cfg.yaml:7:20: env.cp_setpoint_max: got 2.5, expected a value in [0, 2]", "cp_setpoint_max 2.5");
    expect_error(CP_BASE "  cp_force_max: 0\n",
                 "cfg.yaml:7:17: env.cp_force_max: got 0, expected a value in (0, 1000]", "cp_force_max 0");
    expect_error(CP_BASE "  cp_obs_noise: -0.1\n",
                 "cfg.yaml:7:17: env.cp_obs_noise: got -0.1, expected a value in [0, 1]", "cp_obs_noise < 0");
    expect_error(CP_BASE "  cp_action_noise: 11\n",
                 "cfg.yaml:7:20: env.cp_action_noise: got 11, expected a value in [0, 10]", "cp_action_noise 11");
    expect_ok(CP_BASE "  cp_dt: 1\n  cp_setpoint_max: 0\n  cp_obs_noise: 0\n  cp_action_noise: 10\n",
              "closed bounds are included");
    expect_error(CP_BASE "  cp_force_max: big\n", "cfg.yaml:7:17: env.cp_force_max: got \"big\", expected a number",
                 "cp_force_max type");
}

static void test_many_errors(void)
{
    expect_error("experiment:\n"
                 "  name: run1\n"
                 "  seed: -1\n"
                 "env:\n"
                 "  kind: lqx\n"
                 "  horizon: 1.5\n"
                 "  foo: 2\n"
                 "policy:\n"
                 "  hidden_dim: 3\n",
                 "cfg.yaml:3:9: experiment.seed: got -1, expected a value in [0, 2147483647]\n"
                 "cfg.yaml:5:9: env.kind: got \"lqx\", expected one of [lqg, cartpole, tooluse, multitask, supervised]\n"
                 "cfg.yaml:6:12: env.horizon: got \"1.5\", expected an integer\n"
                 "cfg.yaml:7:3: env.foo: unknown key\n"
                 "cfg.yaml:9:3: policy.arch: missing required key",
                 "five errors in one file");

    /* more errors than err->msg holds: the list ends with a count of the rest */
    char *text = malloc(64 * 1024);
    ok(text != NULL, "allocate a config with 200 unknown keys");
    if (!text)
        return;
    size_t n = (size_t)snprintf(text, 64 * 1024, BASE "eval:\n");
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(text + n, 64 * 1024 - n, "  unknown_key_%03d: %d\n", i, i);
    fm_err err;
    fm_status st = load(text, &cfg_a, &err);
    is_int(st, FM_ECONFIG, "200 errors: status");
    is_str(strstr(err.msg, "cfg.yaml:8:3: "), err.msg, "first error first");
    int lines = 1;
    for (const char *p = err.msg; *p; p++)
        lines += *p == '\n';
    const char *tail = strrchr(err.msg, '\n');
    int more = -1;
    ok(tail && sscanf(tail, "\n... (%d more errors)", &more) == 1, "message ends with the count of the rest");
    is_int(lines - 1 + more, 200, "listed + counted = 200");
    ok(strlen(err.msg) < sizeof err.msg - 1, "message fits");
    free(text);

    /* an error already in err is kept; the load still fails */
    fm_err_clear(&err);
    fm_fail(&err, FM_EIO, "earlier failure");
    st = fm_cfg_load_string(BASE "  foo: 1\n", "cfg.yaml", &cfg_a, &err);
    is_int(st, FM_ECONFIG, "fails with an earlier error in err");
    is_str(err.msg, "earlier failure", "earlier message kept");
}

/* Load point `index` of a sweep config given as text (through a temporary file). */
static fm_status load_point_text(const char *text, int index, fm_config *out, fm_err *err)
{
    char path[] = "/tmp/fm_test_sweep_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return FM_EIO;
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    fm_err_clear(err);
    fm_status st = fm_cfg_load_point(path, index, out, err);
    char *at; /* report messages with the name cfg.yaml (every line) */
    while ((at = strstr(err->msg, path)) != NULL) {
        char rest[sizeof err->msg];
        snprintf(rest, sizeof rest, "cfg.yaml%s", at + strlen(path));
        snprintf(at, sizeof err->msg - (size_t)(at - err->msg), "%s", rest);
    }
    unlink(path);
    return st;
}

/* --set KEY=VALUE (fm_cfg_set_overrides): applied after the file's sections, validated like its
 * values, errors naming the override; never applied to a stored config (a string load). */
static void test_overrides(void)
{
    fm_err err;
    const char *sets[] = {"fleet.alpha=0.25", "merge.methods=[average, linear_gl]", "train.steps=7",
                          "train.steps=9", "experiment.description=x=y"};
    fm_cfg_set_overrides(sets, 5);
    is_int(load_point_text(BASE "fleet:\n  alpha: 3\ntrain:\n  steps: 4\n", -1, &cfg_b, &err), FM_OK,
           "a file with --set overrides loads");
    ok(cfg_b.fleet.alpha == 0.25, "--set fleet.alpha=0.25 replaces the file's 3");
    ok(cfg_b.merge.num_methods == 2 && cfg_b.merge.methods[0] == FM_MERGE_AVERAGE &&
           cfg_b.merge.methods[1] == FM_MERGE_LINEAR_GL, "a flow list value");
    is_int(cfg_b.train.steps, 9, "the last --set of a key wins");
    is_str(cfg_b.experiment.description, "x=y", "the text after the first '=' is the value");
    int n = fm_cfg_dump(&cfg_b, dump_buf, (int)sizeof dump_buf);
    ok(n > 0 && strstr(dump_buf, "  alpha: 0.25\n") && strstr(dump_buf, "  steps: 9\n"),
       "the resolved config (the results' /config) holds the overridden values");
    is_int(load(BASE "fleet:\n  alpha: 3\n", &cfg_a, &err), FM_OK, "a config from a string (a stored one)");
    ok(cfg_a.fleet.alpha == 3, "is not overridden");
    is_int(load_point_text(BASE "sweep:\n  train.lr: [0.1, 0.2]\n", 1, &cfg_b, &err), FM_OK,
           "a sweep point with overrides of other keys");
    ok(cfg_b.train.lr == 0.2 && cfg_b.fleet.alpha == 0.25, "has the point's value and the override");

    const char *bad[] = {"fleet.alpha=0", "fleet.bogus=1", "noequals", "train.lr=[1", "env.horizon=",
                         "=5"};
    fm_cfg_set_overrides(bad, 6);
    is_int(load_point_text(BASE, -1, &cfg_b, &err), FM_ECONFIG, "bad overrides: FM_ECONFIG (exit code 2)");
    is_str(err.msg,
           "cfg.yaml: --set fleet.alpha=0: fleet.alpha: got 0, expected a value in (0, 1e+06]\n"
           "cfg.yaml: --set fleet.bogus=1: fleet.bogus: not a config key (expected section.key, e.g. fleet.alpha)\n"
           "cfg.yaml: --set noequals: --set: expected KEY=VALUE, e.g. fleet.alpha=0.1\n"
           "cfg.yaml: --set train.lr=[1: train.lr: not a YAML value: did not find expected ',' or ']'\n"
           "cfg.yaml: --set env.horizon=: env.horizon: expected a value after '='\n"
           "cfg.yaml: --set =5: --set: expected KEY=VALUE, e.g. fleet.alpha=0.1",
           "every bad override listed, each named");
    const char *swept[] = {"fleet.alpha=2"};
    fm_cfg_set_overrides(swept, 1);
    is_int(load_point_text(BASE "sweep:\n  fleet.alpha: [0.1, 1]\n", 0, &cfg_b, &err), FM_ECONFIG,
           "overriding a swept key is an error");
    is_str(err.msg, "cfg.yaml:8:3: sweep.fleet.alpha: also set by --set fleet.alpha=2: a swept key takes its values "
           "from the sweep", "naming both");
    const char *cross[] = {"fleet.rounds=2"};
    fm_cfg_set_overrides(cross, 1);
    is_int(load_point_text(BASE, -1, &cfg_b, &err), FM_ECONFIG, "a cross-key rule broken by an override");
    has_str(err.msg, "cfg.yaml: --set fleet.rounds=2: fleet.rounds: got 2, expected 0: merging rounds need neural "
            "policies\n", "is reported at the override");
    fm_cfg_set_overrides(NULL, 0);
    is_int(load_point_text(BASE "fleet:\n  alpha: 3\n", -1, &cfg_b, &err), FM_OK, "overrides cleared");
    ok(cfg_b.fleet.alpha == 3, "the file's value again");
}

/* experiment.time_limit: "" or sbatch --time's formats, checked field by field. */
static void test_time_limit(void)
{
    static const char *good[] = {"\"\"", "90", "\"01:00:00\"", "5:30", "1-12", "2-0:30", "\"1-12:30:00\""};
    static const char *bad[] = {"2h", "1:2:3:4", "1-2-3", "\"12:\"", "\":30\"", "1234567", "-5", "1-2:3:4:5"};
    char text[256];
    fm_err err;
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        snprintf(text, sizeof text, "experiment:\n  name: run1\n  time_limit: %s\npolicy:\n  arch: static_linear\n"
                 "env:\n  kind: lqg\n", good[i]);
        expect_ok(text, good[i]);
    }
    is_int(load("experiment:\n  name: run1\n  time_limit: 1-12:30\npolicy:\n  arch: static_linear\nenv:\n  kind: lqg\n",
                &cfg_a, &err), FM_OK, "a time limit loads");
    is_str(cfg_a.experiment.time_limit, "1-12:30", "as written");
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(text, sizeof text, "experiment:\n  name: run1\n  time_limit: %s\npolicy:\n  arch: static_linear\n"
                 "env:\n  kind: lqg\n", bad[i]);
        is_int(load(text, &cfg_a, &err), FM_ECONFIG, "time_limit %s is refused", bad[i]);
        has_str(err.msg, "cfg.yaml:3:15: experiment.time_limit: got ", "at the value");
        has_str(err.msg, "expected a Slurm time limit (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS) or \"\"",
                "naming the formats");
    }
}

static void test_sweep(void)
{
    fm_err err;
    const char *grid = BASE "sweep:\n  fleet.alpha: [0.1, 1, 10]\n  seeds: [4, 5]\n"
                            "  zip:\n    - {train.steps: [10, 20], train.lr: [0.1, 0.2]}\n";
    is_int(load(grid, &cfg_a, &err), FM_OK, "a sweep config loads as its base");
    is_int(cfg_a.sweep.count, 12, "3 alphas x 2 seeds x a zip group of 2 = 12 points");
    is_int(cfg_a.sweep.index, -1, "the base config is no point");
    is_int(load_point_text(grid, 0, &cfg_b, &err), FM_OK, "point 0 loads");
    ok(cfg_b.fleet.alpha == 0.1 && cfg_b.experiment.seed == 4 && cfg_b.train.steps == 10 && cfg_b.train.lr == 0.1,
       "point 0 = the first value of every axis");
    is_int(load_point_text(grid, 11, &cfg_b, &err), FM_OK, "point 11 loads");
    ok(cfg_b.fleet.alpha == 10 && cfg_b.experiment.seed == 5 && cfg_b.train.steps == 20 && cfg_b.train.lr == 0.2,
       "point 11 = the last value of every axis");
    is_int(load_point_text(grid, 1, &cfg_b, &err), FM_OK, "point 1 loads");
    ok(cfg_b.train.steps == 20 && cfg_b.experiment.seed == 4 && cfg_b.fleet.alpha == 0.1,
       "the last axis (the zip group) varies fastest, its keys together");
    is_str(cfg_b.sweep.overrides, "fleet.alpha=0.1 experiment.seed=4 train.steps=20 train.lr=0.2", "overrides text");
    int n = fm_cfg_dump(&cfg_b, dump_buf, (int)sizeof dump_buf);
    ok(n > 0 && strstr(dump_buf, "  steps: 20\n") && !strstr(dump_buf, "\nsweep:"),
       "the point's resolved config has its values and no sweep section");
    is_int(load_point_text(grid, 12, &cfg_b, &err), FM_ECONFIG, "index 12 of 12 is an error");
    has_str(err.msg, "sweep: got index 12, expected an index in [0, 12)", "naming the range");
    is_int(load_point_text(BASE, 0, &cfg_b, &err), FM_ECONFIG, "an index without a sweep section is an error");
    has_str(err.msg, "sweep: got --sweep-index 0, but the config has no sweep section", "and says so");
    expect_error(BASE "sweep:\n  fleet.bogus: [1, 2]\n", "cfg.yaml:8:3: sweep.fleet.bogus: not a config key "
                 "(expected section.key, e.g. fleet.alpha)", "unknown sweep key");
    expect_error(BASE "sweep:\n  fleet.alpha: [1, 0, 2]\n",
                 "cfg.yaml:8:20: fleet.alpha: got 0, expected a value in (0, 1e+06]", "a swept value out of range");
    expect_error(BASE "sweep:\n  fleet.alpha: 1\n", "cfg.yaml:8:16: sweep.fleet.alpha: got \"1\", expected a "
                 "non-empty list of values", "a swept key without a list");
    expect_error(BASE "sweep:\n  zip:\n    - {train.steps: [1, 2], train.lr: [0.1]}\n",
                 "cfg.yaml:9:39: sweep.train.lr: got 1 values, expected 2 like the rest of its zip group",
                 "zip lists of different lengths");
    expect_error(BASE "sweep:\n  fleet.alpha: [1]\n  seeds: [1]\n  experiment.seed: [2]\n",
                 "cfg.yaml:10:3: sweep.experiment.seed: swept twice", "a key swept twice");
    expect_error(BASE "sweep: 1\nsweep: 2\n", "cfg.yaml:8:1: sweep: duplicate key\ncfg.yaml:7:8: sweep: expected a mapping",
                 "sweep twice");
}

/* Sweeps with many keys: a zip group of 20 keys and 40 axes; nothing is dropped. */
static void test_sweep_limits(void)
{
    static const char *zip_keys[] = {
        "fleet.alpha", "train.lr", "merge.gl_lr", "train.steps", "merge.gl_steps", "eval.rollouts",
        "env.num_tasks", "env.horizon", "fleet.demos_per_robot", "train.grad_clip", "train.ridge",
        "merge.perm_iters", "env.process_noise", "env.obs_noise", "env.init_std", "env.r_scale",
        "policy.init_scale", "env.obs_dim", "policy.hidden_dim", "eval.horizon",
    };
    static const struct { const char *key, *value; } axes[] = {
        { "experiment.seed", "1" }, { "env.obs_dim", "8" }, { "env.num_tasks", "3" }, { "env.q_log_min", "-1" },
        { "env.q_log_max", "1" }, { "env.r_scale", "1" }, { "env.process_noise", "0.1" },
        { "env.obs_noise", "0.1" }, { "env.init_std", "1" }, { "env.horizon", "10" }, { "env.cp_dt", "0.02" },
        { "env.cp_length_min", "0.3" }, { "env.cp_length_max", "0.8" }, { "env.cp_pole_mass_min", "0.1" },
        { "env.cp_pole_mass_max", "0.2" }, { "env.cp_cart_mass_min", "1" }, { "env.cp_cart_mass_max", "2" },
        { "env.cp_setpoint_max", "1" }, { "env.cp_force_max", "10" }, { "env.cp_obs_noise", "0.01" },
        { "env.cp_action_noise", "0.1" }, { "env.tu_points", "64" }, { "env.tu_point_noise", "0.001" },
        { "fleet.robots", "0" }, { "fleet.alpha", "1" }, { "fleet.demos_per_robot", "5" },
        { "fleet.sign_flip_fraction", "0" }, { "fleet.local_epochs", "2" }, { "fleet.participation", "1" },
        { "policy.hidden_dim", "0" }, { "policy.init_scale", "0" }, { "train.steps", "10" },
        { "train.lr", "0.1" }, { "train.grad_clip", "0" }, { "train.ridge", "0" }, { "merge.perm_iters", "5" },
        { "merge.gl_steps", "5" }, { "merge.gl_lr", "0.1" }, { "eval.rollouts", "2" }, { "eval.horizon", "0, 7" },
    };
    size_t nz = sizeof zip_keys / sizeof zip_keys[0], na = sizeof axes / sizeof axes[0], cap = 8192, n;
    char *text = malloc(cap);
    fm_err err;
    ok(text != NULL, "allocate sweep configs");
    if (!text)
        return;
    n = (size_t)snprintf(text, cap, BASE "sweep:\n  zip:\n    - {");
    for (size_t i = 0; i < nz; i++)
        n += (size_t)snprintf(text + n, cap - n, "%s%s: [1, 2]", i ? ", " : "", zip_keys[i]);
    snprintf(text + n, cap - n, "}\n");
    fm_status st = load(text, &cfg_a, &err);
    if (!ok(st == FM_OK, "a zip group of %zu keys loads", nz))
        printf("#   %s\n", err.msg);
    is_int(cfg_a.sweep.count, 2, "a zip group of %zu keys is one axis of 2 points", nz);
    is_int(load_point_text(text, 1, &cfg_b, &err), FM_OK, "its point 1 loads");
    ok(cfg_b.fleet.alpha == 2 && cfg_b.train.lr == 2 && cfg_b.policy.hidden_dim == 2 && cfg_b.eval.horizon == 2,
       "point 1 sets every key of the group, the 20th too");
    has_str(cfg_b.sweep.overrides, " policy.hidden_dim=2 eval.horizon=2", "point 1's overrides name the 20th key");

    n = (size_t)snprintf(text, cap, BASE "sweep:\n");
    for (size_t i = 0; i < na; i++)
        n += (size_t)snprintf(text + n, cap - n, "  %s: [%s]\n", axes[i].key, axes[i].value);
    st = load(text, &cfg_a, &err);
    if (!ok(st == FM_OK, "a sweep of %zu axes loads", na))
        printf("#   %s\n", err.msg);
    is_int(cfg_a.sweep.count, 2, "%zu axes, the last of 2 values: 2 points", na);
    is_int(load_point_text(text, 1, &cfg_b, &err), FM_OK, "point 1 of %zu axes loads", na);
    ok(cfg_b.train.lr == 0.1 && cfg_b.merge.gl_lr == 0.1 && cfg_b.eval.horizon == 7,
       "axes 33 to 40 are applied (train.lr, merge.gl_lr, eval.horizon)");
    ok(strlen(cfg_b.sweep.overrides) < sizeof cfg_b.sweep.overrides, "overrides text fits its buffer");

    /* a point whose overrides do not fit: cut, and the cut is shown */
    n = (size_t)snprintf(text, cap, BASE "sweep:\n  env.C: [[");
    for (int r = 0; r < 400; r++)
        n += (size_t)snprintf(text + n, cap - n, "%s[1, 0, 0, 0]", r ? ", " : "");
    snprintf(text + n, cap - n, "]]\n");
    st = load_point_text(text, 0, &cfg_b, &err);
    if (!ok(st == FM_OK, "a point with a 400 x 4 matrix loads"))
        printf("#   %s\n", err.msg);
    size_t len = strlen(cfg_b.sweep.overrides);
    ok(cfg_b.env.C.rows == 400 && len == sizeof cfg_b.sweep.overrides - 1 &&
           strcmp(cfg_b.sweep.overrides + len - 3, "...") == 0,
       "its overrides text is cut and ends with \"...\"");
    free(text);
}

/* Nesting depth and size are limited before libyaml builds the document. */
static void test_nesting(void)
{
    size_t n = 200 * 1024;
    char *text = malloc(n + 1);
    fm_err err;
    ok(text != NULL, "allocate 200 KB");
    if (!text)
        return;
    memset(text, '[', n);
    text[n] = '\0';
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fm_status st = load(text, &cfg_a, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    is_int(st, FM_ECONFIG, "200 KB of '[': a config error");
    is_str(err.msg, "cfg.yaml:1:65: yaml: got lists and mappings nested 65 deep, expected at most 64",
           "200 KB of '[': reported at the 65th level");
    if (!ok(secs < 0.5, "200 KB of '[' fails fast"))
        printf("#   took %.3f s\n", secs);
    /* block nesting: "- - - ..." on one line; the 65th sequence starts at column 1 + 2 * 64 */
    size_t m = 0;
    for (int i = 0; i < 100; i++)
        m += (size_t)snprintf(text + m, n - m, "- ");
    snprintf(text + m, n - m, "x\n");
    expect_error(text, "cfg.yaml:1:129: yaml: got lists and mappings nested 65 deep, expected at most 64",
                 "block nesting: reported at the 65th level");
    /* 64 levels are fine for the parser (the key then has the wrong type) */
    m = (size_t)snprintf(text, n, BASE "  horizon: ");
    for (int i = 0; i < 62; i++)
        text[m++] = '[';
    for (int i = 0; i < 62; i++)
        text[m++] = ']';
    snprintf(text + m, n - m, "\n");
    expect_error(text, "cfg.yaml:7:12: env.horizon: got a list, expected an integer", "64 levels parse");
    /* more than 1 MiB: refused before parsing */
    free(text);
    n = (1u << 20) + 1;
    text = malloc(n + 1);
    ok(text != NULL, "allocate 1 MiB + 1");
    if (!text)
        return;
    memset(text, ' ', n);
    memcpy(text, BASE, strlen(BASE));
    text[n] = '\0';
    expect_error(text, "cfg.yaml: got 1048577 bytes, expected a config of at most 1048576 bytes (1 MiB)",
                 "a config larger than 1 MiB");
    text[n - 1] = '\0';
    expect_ok(text, "a config of exactly 1 MiB");
    free(text);
}

/* Encoding errors at their line:col; files that are not regular files or too large. */
static void test_encoding_and_files(void)
{
    expect_error("experiment:\n  name: a\n  description: \"ab\xff" "c\"\nenv:\n  kind: lqg\npolicy:\n  arch: static_linear\n",
                 "cfg.yaml:3:19: yaml: invalid leading UTF-8 octet (byte 0xff)", "invalid UTF-8 at its line:col");
    /* the wrong byte is the '"' after a lone lead byte: column 19, since the 2-byte character
     * before counts as one column */
    expect_error("experiment:\n  name: a\n  description: \"\xc3\xa9\xc3\"\n",
                 "cfg.yaml:3:19: yaml: invalid trailing UTF-8 octet (byte 0x22)",
                 "invalid UTF-8 after a 2-byte character: columns count characters");
    expect_error("experiment:\n  name: a\n  description: \"a\x01\"\n",
                 "cfg.yaml:3:18: yaml: control characters are not allowed (byte 0x01)", "control character");
    fm_err err;
    fm_err_clear(&err);
    is_int(fm_cfg_load_file("/tmp", &cfg_a, &err), FM_ECONFIG, "a directory: FM_ECONFIG (exit code 2)");
    is_str(err.msg, "cannot read config '/tmp': not a regular file (a directory)", "a directory: message");
    fm_err_clear(&err);
    is_int(fm_cfg_load_file("/dev/zero", &cfg_a, &err), FM_ECONFIG, "/dev/zero: FM_ECONFIG");
    is_str(err.msg, "cannot read config '/dev/zero': not a regular file (a character device)", "/dev/zero: message");
    char path[] = "/tmp/fm_test_big_XXXXXX";
    int fd = mkstemp(path);
    ok(fd >= 0, "mkstemp");
    if (fd < 0)
        return;
    ok(ftruncate(fd, (1 << 20) + 1) == 0, "a file of 1 MiB + 1 bytes");
    close(fd);
    fm_err_clear(&err);
    is_int(fm_cfg_load_file(path, &cfg_a, &err), FM_ECONFIG, "a file over 1 MiB: FM_ECONFIG");
    char want[256];
    snprintf(want, sizeof want, "cannot read config '%s': got 1048577 bytes, expected at most 1048576 (1 MiB)", path);
    is_str(err.msg, want, "a file over 1 MiB: message");
    unlink(path);
}

/* Numbers: no subnormals, ranges every value of which works (docs/config.md). */
static void test_number_ranges(void)
{
    expect_error(BASE "  r_scale: 1e-320\n",
                 "cfg.yaml:7:12: env.r_scale: got 1e-320, expected 0 or a magnitude of at least "
                 "2.2250738585072014e-308 (no subnormal numbers)", "subnormal r_scale");
    expect_error(BASE "  r_scale: 1e-400\n",
                 "cfg.yaml:7:12: env.r_scale: got 1e-400, expected 0 or a magnitude of at least "
                 "2.2250738585072014e-308 (no subnormal numbers)", "r_scale underflowing to 0");
    expect_error(BASE "fleet:\n  alpha: 4e-310\n",
                 "cfg.yaml:8:10: fleet.alpha: got 4e-310, expected 0 or a magnitude of at least "
                 "2.2250738585072014e-308 (no subnormal numbers)", "subnormal alpha");
    expect_ok(BASE "  obs: state\n  process_noise: 0.0e-400\n", "0 written with an exponent is 0");
    expect_error(BASE "  r_scale: 1e-5\n", "cfg.yaml:7:12: env.r_scale: got 1e-5, expected a value in [0.0001, 1e+06]",
                 "r_scale below 1e-4");
    expect_error(BASE "  process_noise: 1e-9\n",
                 "cfg.yaml:7:18: env.process_noise: got 1e-9, expected 0 or a value in [1e-08, 1e+06]",
                 "process_noise between 0 and 1e-8");
    expect_ok(BASE "  obs: state\n  process_noise: 0\n", "process_noise 0 with obs: state");
    expect_error(BASE "  process_noise: 0\n",
                 "cfg.yaml:7:3: env.process_noise: got 0, expected a value > 0 with obs: projected (the Kalman "
                 "filter needs process noise)", "process_noise 0 with obs: projected");
    expect_ok(CP_BASE "  process_noise: 0\n", "process_noise 0 is ignored by cartpole");
    expect_error(BASE "  obs_noise: 0\n", "cfg.yaml:7:14: env.obs_noise: got 0, expected a value in [1e-08, 1e+06]",
                 "obs_noise 0");
    expect_error(BASE "  init_std: 1e-7\n", "cfg.yaml:7:13: env.init_std: got 1e-7, expected a value in [1e-06, 1e+06]",
                 "init_std below 1e-6");
    expect_error(CP_BASE "  cp_dt: 1e-5\n", "cfg.yaml:7:10: env.cp_dt: got 1e-5, expected a value in [0.0001, 1]",
                 "cp_dt below 1e-4");
    expect_error(CP_BASE "merge:\n  fm_tau: 1e-7\n",
                 "cfg.yaml:8:11: merge.fm_tau: got 1e-7, expected a value in [1e-06, 1000]", "fm_tau below 1e-6");
    expect_error(BASE "  system: custom\n  A: [[1, 1e-310]]\n  B: [[1]]\n",
                 "cfg.yaml:8:11: env.A: row 1: got \"1e-310\", expected a number of magnitude 0 or in "
                 "[2.2250738585072014e-308, 1e+06]", "subnormal matrix entry");
    expect_error(BASE "  system: custom\n  A: [[1, -2e6]]\n  B: [[1]]\n",
                 "cfg.yaml:8:11: env.A: row 1: got \"-2e6\", expected a number of magnitude 0 or in "
                 "[2.2250738585072014e-308, 1e+06]", "huge matrix entry");
    expect_ok(BASE "  system: custom\n  A: [[1e6, -1e6], [0, 2.2250738585072014e-308]]\n  B: [[1], [1]]\n",
              "matrix entries at the bounds");
}

/* Explicit YAML tags: the standard one of the key's type is honoured, any other is an error. */
static void test_tags(void)
{
    expect_error("experiment:\n  name: a\n  seed: !!str 5\nenv:\n  kind: lqg\npolicy:\n  arch: static_linear\n",
                 "cfg.yaml:3:9: experiment.seed: got tag !!str, expected an integer (untagged or !!int)",
                 "!!str on an integer");
    expect_ok("experiment:\n  name: a\n  seed: !!int 5\nenv:\n  kind: lqg\npolicy:\n  arch: static_linear\n",
              "!!int on an integer");
    is_int(cfg_a.experiment.seed, 5, "!!int 5 read");
    expect_ok("experiment:\n  name: a\n  seed: !!int \"6\"\nenv:\n  kind: lqg\npolicy:\n  arch: static_linear\n",
              "!!int on a quoted integer");
    is_int(cfg_a.experiment.seed, 6, "!!int \"6\" read as 6");
    expect_error(BASE "train:\n  steps: !!float 5\n",
                 "cfg.yaml:8:10: train.steps: got tag !!float, expected an integer (untagged or !!int)",
                 "!!float on an integer");
    expect_ok(BASE "train:\n  lr: !!float 0.5\n  grad_clip: !!int 3\n", "!!float and !!int on numbers");
    ok(cfg_a.train.lr == 0.5 && cfg_a.train.grad_clip == 3.0, "tagged numbers read");
    expect_error(BASE "train:\n  lr: !!int 0.5\n",
                 "cfg.yaml:8:7: train.lr: got !!int \"0.5\", expected an integer literal (or no tag)",
                 "!!int on a decimal");
    expect_error(BASE "train:\n  lr: !!bool 0.5\n",
                 "cfg.yaml:8:7: train.lr: got tag !!bool, expected a number (untagged, !!int or !!float)",
                 "!!bool on a number");
    expect_ok(BASE "fleet:\n  shared_init: !!bool yes\n  data: !!str 5\n", "!!bool and !!str");
    ok(cfg_a.fleet.shared_init == 1 && strcmp(cfg_a.fleet.data, "5") == 0, "tagged bool and string read");
    expect_ok(BASE "fleet:\n  data: !!str\n", "!!str with no text is the empty string");
    is_str(cfg_a.fleet.data, "", "!!str alone read as \"\"");
    expect_error("experiment:\n  name: a\n  description: !foo x\nenv:\n  kind: lqg\npolicy:\n  arch: static_linear\n",
                 "cfg.yaml:3:16: experiment.description: got tag !foo, expected a string (untagged or !!str)",
                 "custom tag");
    expect_error("experiment:\n  name: a\n  description: ! x\nenv:\n  kind: lqg\npolicy:\n  arch: static_linear\n",
                 "cfg.yaml:3:16: experiment.description: got tag !, expected a string (untagged or !!str)",
                 "non-specific tag");
    expect_error("experiment:\n  name: a\n  description: !!binary eA==\nenv:\n  kind: lqg\npolicy:\n  arch: "
                 "static_linear\n",
                 "cfg.yaml:3:16: experiment.description: got tag !!binary, expected a string (untagged or !!str)",
                 "!!binary");
    expect_ok("experiment: !!map\n  !!str name: a\nenv: !!map {kind: !!str lqg}\npolicy:\n  arch: static_linear\n"
              "merge:\n  methods: !!seq [!!str average]\n", "!!map, !!seq and !!str where they belong");
    expect_error(BASE "eval: !!seq {rollouts: 2}\n",
                 "cfg.yaml:7:7: eval: got tag !!seq, expected a mapping (untagged or !!map)", "!!seq on a section");
    expect_error(BASE "  !!int horizon: 5\n", "cfg.yaml:7:3: env: got tag !!int, expected a key name (untagged or !!str)",
                 "!!int on a key");
    expect_error(BASE "merge:\n  methods: [average, !!int linear_gl]\n",
                 "cfg.yaml:8:22: merge.methods: got tag !!int, expected one of the choices (untagged or !!str)",
                 "tag on a list item");
    expect_error(BASE "  system: custom\n  A: [[1, !!str 2]]\n  B: [[1]]\n",
                 "cfg.yaml:8:11: env.A: row 1: got tag !!str, expected a number (untagged, !!int or !!float)",
                 "tag on a matrix entry");
    expect_ok(BASE "  system: custom\n  A: !!seq [!!seq [!!float 1]]\n  B: [[!!int 1]]\n", "tags in a matrix");
    expect_error(BASE "sweep:\n  fleet.alpha: [1, !!str 2]\n",
                 "cfg.yaml:8:20: fleet.alpha: got tag !!str, expected a number (untagged, !!int or !!float)",
                 "tag in a sweep list");
    expect_error(BASE "sweep: !foo\n  seeds: [1]\n",
                 "cfg.yaml:7:8: sweep: got tag !foo, expected a mapping (untagged or !!map)", "tag on the sweep section");
    expect_error("!!seq\nexperiment:\n  name: a\n", "cfg.yaml:1:1: config: got tag !!seq, expected a mapping "
                 "(untagged or !!map)", "tag on the document");
}

static void test_round_trip(void)
{
    fm_err err;
    static const char *texts[] = { FULL, BASE, BASE "  C: [[2.2250738585072014e-308, -0, 3, 1e6]]\n",
                                   CP_BASE "  cp_dt: 0.1\n  cp_length_min: 0.7\n  cp_length_max: 0.7\n" };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        fm_status st = load(texts[i], &cfg_a, &err);
        is_int(st, FM_OK, "round trip %zu: load", i);
        int n = fm_cfg_dump(&cfg_a, dump_buf, (int)sizeof dump_buf);
        ok(n > 0 && n < (int)sizeof dump_buf, "round trip %zu: dump fits (%d bytes)", i, n);
        is_int(fm_cfg_dump(&cfg_a, NULL, 0), n, "round trip %zu: size query", i);
        ok(strncmp(dump_buf, "# resolved fleetmerge config (defaults filled)\n", 47) == 0,
           "round trip %zu: header", i);
        st = load(dump_buf, &cfg_b, &err);
        if (!ok(st == FM_OK, "round trip %zu: dump re-loads", i))
            printf("#   %s\n# dump:\n%s\n", err.msg, dump_buf);
        memset(cfg_a.source, 0, sizeof cfg_a.source);
        memset(cfg_b.source, 0, sizeof cfg_b.source);
        ok(memcmp(&cfg_a, &cfg_b, sizeof cfg_a) == 0, "round trip %zu: identical bytes", i);
    }
    is_int(load(FULL, &cfg_a, &err), FM_OK, "full config for dump details");
    fm_cfg_dump(&cfg_a, dump_buf, (int)sizeof dump_buf);
    has_str(dump_buf, "\nenv:\n  kind: lqg\n  system: custom\n", "sections and enum names");
    has_str(dump_buf, "  description: \"all keys \\\"set\\\"\\tand escaped \\\\ \xc3\xa9\"\n", "strings escaped");
    has_str(dump_buf, "  methods: [linear_gl, average]\n", "enum list in flow style");
    has_str(dump_buf, "  B: [[0.01, 0.98999999999999999], [-3.4399999999999999, 1.6599999999999999], "
                      "[-0.82999999999999996, 0.44]]\n",
            "matrix in flow style, 17 digits");
    has_str(dump_buf, "  gl_normalize: frobenius\n", "choice frobenius");
    is_int(load(BASE, &cfg_a, &err), FM_OK, "minimal config for dump details");
    fm_cfg_dump(&cfg_a, dump_buf, (int)sizeof dump_buf);
    ok(strstr(dump_buf, "  A:") == NULL && strstr(dump_buf, "  C:") == NULL, "omitted matrices not printed");
    has_str(dump_buf, "  lr: 0.01\n", "doubles with 17 digits");
    /* truncated output stays a terminated prefix */
    char small[40];
    int need = fm_cfg_dump(&cfg_a, small, (int)sizeof small);
    ok(need > (int)sizeof small && strlen(small) == sizeof small - 1 && strncmp(small, dump_buf, sizeof small - 1) == 0,
       "truncated dump is a prefix");
}

static void test_files(void)
{
    fm_err err;
    fm_err_clear(&err);
    fm_status st = fm_cfg_load_file("/nonexistent/fleet.yaml", &cfg_a, &err);
    is_int(st, FM_ECONFIG, "missing file: FM_ECONFIG (exit code 2)");
    is_str(err.msg, "cannot open config '/nonexistent/fleet.yaml': No such file or directory", "missing file message");

    char path[] = "/tmp/fm_test_config_XXXXXX";
    int fd = mkstemp(path);
    ok(fd >= 0, "mkstemp");
    if (fd < 0)
        return;
    size_t len = strlen(FULL);
    ok(write(fd, FULL, len) == (ssize_t)len, "write temp config");
    close(fd);
    fm_err_clear(&err);
    st = fm_cfg_load_file(path, &cfg_a, &err);
    if (!ok(st == FM_OK, "load from a file"))
        printf("#   %s\n", err.msg);
    is_str(cfg_a.source, path, "source is the path");
    is_int(load(FULL, &cfg_b, &err), FM_OK, "same text from a string");
    memset(cfg_a.source, 0, sizeof cfg_a.source);
    memset(cfg_b.source, 0, sizeof cfg_b.source);
    ok(memcmp(&cfg_a, &cfg_b, sizeof cfg_a) == 0, "file and string give the same config");

    /* errors from a file name the path */
    FILE *f = fopen(path, "w");
    ok(f != NULL, "rewrite temp config");
    if (f) {
        fputs(BASE "  bad: 1\n", f);
        fclose(f);
    }
    char want[256];
    snprintf(want, sizeof want, "%s:7:3: env.bad: unknown key", path);
    fm_err_clear(&err);
    st = fm_cfg_load_file(path, &cfg_a, &err);
    is_int(st, FM_ECONFIG, "bad file: FM_ECONFIG");
    is_str(err.msg, want, "bad file: message names the path");
    unlink(path);

}

static void test_enum_names(void)
{
    is_str(fm_cfg_enum_name("env.system", 2), "odd_unstable", "env.system 2");
    is_str(fm_cfg_enum_name("merge.methods", FM_MERGE_LINEAR_GL), "linear_gl", "merge.methods linear_gl");
    ok(fm_cfg_enum_name("env.nope", 0) == NULL, "unknown key -> NULL");
    ok(fm_cfg_enum_name("env.horizon", 0) == NULL, "not an enum -> NULL");
    ok(fm_cfg_enum_name("env.system", -1) == NULL, "negative -> NULL");
    ok(fm_cfg_enum_name(NULL, 0) == NULL, "NULL key -> NULL");
    /* the choices follow the C enums exactly */
    static const struct { const char *key; int value; const char *name; } names[] = {
        { "env.kind", FM_ENV_LQG, "lqg" },
        { "env.kind", FM_ENV_CARTPOLE, "cartpole" },
        { "env.system", FM_SYS_MILD_UNSTABLE, "mild_unstable" },
        { "env.system", FM_SYS_STABLE, "stable" },
        { "env.system", FM_SYS_ODD_UNSTABLE, "odd_unstable" },
        { "env.system", FM_SYS_CUSTOM, "custom" },
        { "env.obs", FM_OBS_STATE, "state" },
        { "env.obs", FM_OBS_PROJECTED, "projected" },
        { "policy.arch", FM_ARCH_STATIC_LINEAR, "static_linear" },
        { "policy.arch", FM_ARCH_DYNAMIC_LINEAR, "dynamic_linear" },
        { "policy.arch", FM_ARCH_MLP, "mlp" },
        { "policy.arch", FM_ARCH_RNN, "rnn" },
        { "policy.arch", FM_ARCH_CNN, "cnn" },
        { "policy.activation", 1, "relu" },
        { "train.optimizer", FM_OPT_ADAM, "adam" },
        { "train.optimizer", FM_OPT_SGD, "sgd" },
        { "train.pooled_ls", FM_POOLED_NORMAL, "normal" },
        { "train.pooled_ls", FM_POOLED_SCALAPACK, "scalapack" },
        { "merge.methods", FM_MERGE_AVERAGE, "average" },
        { "merge.methods", FM_MERGE_LINEAR_PERM, "linear_perm" },
        { "merge.methods", FM_MERGE_LINEAR_GL, "linear_gl" },
        { "merge.gl_start", FM_GL_START_ANCHOR, "anchor" },
        { "merge.gl_start", FM_GL_START_IDENTITY, "identity" },
        { "merge.gl_start", FM_GL_START_PERMUTATION, "permutation" },
        { "merge.gl_normalize", FM_GL_NORM_NONE, "none" },
        { "merge.gl_normalize", FM_GL_NORM_DETERMINANT, "determinant" },
        { "merge.gl_normalize", FM_GL_NORM_FROBENIUS, "frobenius" },
        { "train.lr_schedule", FM_LR_CONSTANT, "constant" },
        { "train.lr_schedule", FM_LR_COSINE, "cosine" },
        { "train.lr_schedule", FM_LR_STEP, "step" },
        { "fleet.partition", FM_PARTITION_DIRICHLET, "dirichlet" },
        { "fleet.partition", FM_PARTITION_ONE_TASK, "one_task" },
        { "fleet.local_policy", FM_LOCAL_TRAINED, "trained" },
        { "fleet.local_policy", FM_LOCAL_EXPERT, "expert" },
        { "merge.gl_select", FM_GL_SELECT_NONE, "none" },
        { "merge.gl_select", FM_GL_SELECT_BC_LOSS, "bc_loss" },
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        is_str(fm_cfg_enum_name(names[i].key, names[i].value), names[i].name, "%s %d", names[i].key,
               names[i].value);
    static const struct { const char *key; int count; } counts[] = {
        { "env.kind", FM_ENV_COUNT },         { "env.system", FM_SYS_COUNT },      { "env.obs", FM_OBS_COUNT },
        { "policy.arch", FM_ARCH_COUNT },     { "policy.activation", 2 },     { "train.optimizer", FM_OPT_COUNT }, { "train.pooled_ls", FM_POOLED_COUNT },
        { "merge.methods", FM_MERGE_COUNT }, { "merge.gl_start", FM_GL_START_COUNT },
        { "merge.gl_normalize", FM_GL_NORM_COUNT }, { "train.lr_schedule", FM_LR_COUNT },
        { "fleet.partition", FM_PARTITION_COUNT }, { "fleet.local_policy", FM_LOCAL_COUNT },
        { "merge.gl_select", FM_GL_SELECT_COUNT },
    };
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        ok(fm_cfg_enum_name(counts[i].key, counts[i].count - 1) != NULL &&
               fm_cfg_enum_name(counts[i].key, counts[i].count) == NULL,
           "%s has exactly %d choices", counts[i].key, counts[i].count);
}

/* Neural policy keys and the arch / env.kind pairing. */
static void test_neural_keys(void)
{
    expect_ok("experiment: {name: a}\nenv: {kind: cartpole}\npolicy: {arch: mlp}\n", "cartpole with an mlp");
    expect_ok(CP_BASE, "cartpole with an rnn");
    is_int(cfg_a.policy.layers, 2, "policy.layers default");
    is_int(cfg_a.policy.width, 64, "policy.width default");
    is_int(cfg_a.train.epochs, 50, "train.epochs default");
    is_int(cfg_a.train.batch_size, 16, "train.batch_size default");
    expect_ok("experiment: {name: a}\nenv: {kind: cartpole}\npolicy: {arch: rnn, layers: 3, width: 32, "
              "activation: relu}\ntrain: {epochs: 7, batch_size: 4, window: 20, weight_decay: 0.001}\n",
              "neural keys set");
    ok(cfg_a.policy.layers == 3 && cfg_a.policy.width == 32 && cfg_a.policy.activation == 1 &&
           cfg_a.train.epochs == 7 && cfg_a.train.batch_size == 4 && cfg_a.train.window == 20 &&
           cfg_a.train.weight_decay == 0.001, "neural keys read");
    expect_error("experiment: {name: a}\nenv: {kind: lqg}\npolicy: {arch: rnn}\n",
                 "cfg.yaml:3:10: policy.arch: got rnn, expected static_linear or dynamic_linear for kind: lqg",
                 "rnn on lqg");
    expect_error("experiment: {name: a}\nenv: {kind: cartpole}\npolicy: {arch: dynamic_linear}\n",
                 "cfg.yaml:3:10: policy.arch: got dynamic_linear, expected mlp or rnn for kind: cartpole",
                 "linear policy on cartpole");
    expect_error("experiment: {name: a}\nenv: {kind: cartpole}\npolicy: {arch: rnn, layers: 0}\n",
                 "cfg.yaml:3:29: policy.layers: got 0, expected a value in [1, 7]", "layers out of range");
}

/* The cnn policy: its keys (a list of channel counts, an odd kernel) and env.kind supervised only. */
static void test_cnn_keys(void)
{
#define SV "experiment: {name: a}\nenv: {kind: supervised}\n"
    expect_ok(SV "policy: {arch: cnn}\n", "supervised with a cnn");
    ok(cfg_a.policy.conv_nlayers == 2 && cfg_a.policy.conv_channels[0] == 32 && cfg_a.policy.conv_channels[1] == 64 &&
           cfg_a.policy.conv_kernel == 5, "cnn defaults: conv_channels [32, 64], conv_kernel 5");
    expect_ok(SV "policy: {arch: cnn, conv_channels: [16, 8, 4], conv_kernel: 3}\n", "cnn keys set");
    ok(cfg_a.policy.conv_nlayers == 3 && cfg_a.policy.conv_channels[0] == 16 && cfg_a.policy.conv_channels[2] == 4 &&
           cfg_a.policy.conv_kernel == 3, "cnn keys read");
    char *dump = NULL;
    fm_err err;
    fm_err_clear(&err);
    if (fm_cfg_dump_alloc(&cfg_a, &dump, &err) == FM_OK)
        has_str(dump, "  conv_channels: [16, 8, 4]\n", "the dump writes the channel list");
    free(dump);
    expect_error("experiment: {name: a}\nenv: {kind: cartpole}\npolicy: {arch: cnn}\n",
                 "cfg.yaml:3:10: policy.arch: got cnn, expected mlp or rnn for kind: cartpole (cnn needs image "
                 "observations: env.kind supervised)", "cnn on cartpole");
    expect_error(SV "policy: {arch: rnn}\n",
                 "cfg.yaml:3:10: policy.arch: got rnn, expected mlp or cnn with env.kind supervised (images)",
                 "rnn on supervised");
    expect_error(SV "policy: {arch: cnn, conv_channels: [16, 0]}\n",
                 "cfg.yaml:3:41: policy.conv_channels: entry 2: got 0, expected a value in [1, 1024]",
                 "a zero channel count");
    expect_error(SV "policy: {arch: cnn, conv_channels: []}\n",
                 "cfg.yaml:3:36: policy.conv_channels: got 0 entries, expected a list of 1 to 8 integers",
                 "an empty channel list");
    expect_error(SV "policy: {arch: cnn, conv_channels: [1, 2, 3, 4, 5, 6, 7, 8, 9]}\n",
                 "cfg.yaml:3:36: policy.conv_channels: got 9 entries, expected a list of 1 to 8 integers",
                 "too many conv layers");
    expect_error(SV "policy: {arch: cnn, conv_channels: 16}\n",
                 "cfg.yaml:3:36: policy.conv_channels: got \"16\", expected a list of integers", "a scalar channel list");
    expect_error(SV "policy: {arch: cnn, conv_channels: [8, 2.5]}\n",
                 "cfg.yaml:3:40: policy.conv_channels: entry 2: got \"2.5\", expected an integer", "a fractional channel count");
    expect_error(SV "policy: {arch: cnn, conv_kernel: 4}\n",
                 "cfg.yaml:3:21: policy.conv_kernel: got 4, expected an odd size ('same' padding conv_kernel / 2)",
                 "an even kernel");
#undef SV
}

int main(void)
{
    test_defaults();
    test_neural_keys();
    test_cnn_keys();
    test_full();
    test_scalar_syntax();
    test_error_kinds();
    test_name();
    test_paths();
    test_matrices();
    test_cross_checks();
    test_cartpole_keys();
    test_cartpole_ranges();
    test_many_errors();
    test_sweep();
    test_overrides();
    test_time_limit();
    test_sweep_limits();
    test_nesting();
    test_encoding_and_files();
    test_number_ranges();
    test_tags();
    test_round_trip();
    test_files();
    test_enum_names();
    return done_testing();
}
