/* cfg.h - fleetmerge configuration: YAML (libyaml) -> typed, validated fm_config.
 *
 * One schema table in cfg_schema.c lists every key (section.key, type, default, range or
 * choices, required, meaning); docs/config.md documents the same table.
 * fm_config is plain data with fixed capacity (no pointers), so rank 0 can parse and
 * validate it and broadcast it as bytes.
 */
#ifndef FM_CFG_H
#define FM_CFG_H

#include <stdint.h>

#include "core/core.h"

#define FM_CFG_STR 256
#define FM_CFG_MAT_MAX 4096
/* Longest experiment.name (characters). */
#define FM_CFG_NAME_MAX 128
/* Longest default results path <output_dir>/<name>[/<I>]/results.h5, checked at load time:
 * Open MPI's MPI-IO layer fails on longer file names (fleet_common.c refuses them too). */
#define FM_CFG_RESULTS_PATH_MAX 195

/* A matrix given in YAML as a list of rows (list of lists of numbers). rows == 0: not given. */
typedef struct fm_cfg_matrix {
    int rows, cols;
    double v[FM_CFG_MAT_MAX]; /* row-major */
} fm_cfg_matrix;

#define FM_MT_TABLE 10 /* tasks in the multitask table (env/multitask/multitask.h FM_MT_NTASK) */

typedef enum fm_env_kind {
    FM_ENV_LQG = 0,   /* "lqg":      linear-quadratic control (Appendix G, docs/linear.md) */
    FM_ENV_CARTPOLE,  /* "cartpole": partially observed cart-pole with set-points (docs/cartpole.md) */
    FM_ENV_TOOLUSE,   /* "tooluse":  tool-use manipulation in MuJoCo (docs/tooluse.md) */
    FM_ENV_MULTITASK, /* "multitask": the MT-10 manipulation suite in MuJoCo (docs/multitask.md) */
    FM_ENV_SUPERVISED, /* "supervised": labelled-image classification, one client per rank (docs/supervised.md) */
    FM_ENV_COUNT
} fm_env_kind;

/* Built-in open-loop systems (docs/config.md gives the matrices). */
typedef enum fm_system {
    FM_SYS_MILD_UNSTABLE = 0, /* "mild_unstable": n = 4, m = 2, spectral radius 1.05 */
    FM_SYS_STABLE,            /* "stable":        n = 4, m = 2, spectral radius 0.9  */
    FM_SYS_ODD_UNSTABLE,      /* "odd_unstable":  n = 3, m = 2, the paper's A_unstab (App. G.5) */
    FM_SYS_CUSTOM,            /* "custom":        env.A and env.B from the config */
    FM_SYS_COUNT
} fm_system;

typedef enum fm_obs_kind {
    FM_OBS_STATE = 0, /* "state":     y = x (C = I, no observation noise): LQR */
    FM_OBS_PROJECTED, /* "projected": y = C x + v, C in R^{p x n} Gaussian: LQG */
    FM_OBS_COUNT
} fm_obs_kind;

typedef enum fm_arch {
    FM_ARCH_STATIC_LINEAR = 0, /* "static_linear":  u = K y (Algorithm 3) */
    FM_ARCH_DYNAMIC_LINEAR,    /* "dynamic_linear": x' = A x + B y, u = C x' (Eq. G.8, Algorithm 2) */
    FM_ARCH_MLP,               /* "mlp": feed-forward network on one observation (Eq. 2.1) */
    FM_ARCH_RNN,               /* "rnn": multi-layer Elman network (Eq. 2.2) */
    FM_ARCH_CNN,               /* "cnn": conv layers + 2x2 max pooling, then an mlp head (supervised) */
    FM_ARCH_COUNT
} fm_arch;

typedef enum fm_merge_method {
    FM_MERGE_AVERAGE = 0, /* "average" */
    FM_MERGE_LINEAR_PERM, /* "linear_perm": Eq. G.10-G.12 */
    FM_MERGE_LINEAR_GL,   /* "linear_gl":   Eq. G.14 */
    FM_MERGE_GIT_REBASIN, /* "git_rebasin": weight matching, MergeMany (neural policies) */
    FM_MERGE_SINKHORN_REBASIN, /* "sinkhorn_rebasin": SoftUpdate against robot 0 (Eq. 3.1) */
    FM_MERGE_FLEET_MERGE, /* "fleet_merge": Algorithm 1 */
    FM_MERGE_FLEET_MERGE_SOFT,    /* "fleet_merge_soft": no hard projection (App. F ablation) */
    FM_MERGE_FLEET_MERGE_SIMPLEX, /* "fleet_merge_simplex": gradient at a random point of the hull */
    FM_MERGE_FLEET_MERGE_AVERAGE, /* "fleet_merge_average": gradient at the plain average */
    FM_MERGE_SINKHORN_DATA, /* "sinkhorn_data": MergeMany with SoftUpdate re-matches, logits kept (App. F) */
    FM_MERGE_COUNT
} fm_merge_method;

typedef enum fm_gl_start {
    FM_GL_START_ANCHOR = 0,   /* "anchor": robot 0's policy, each P_i solved exactly against it */
    FM_GL_START_IDENTITY,     /* "identity": P_i = I, the plain average */
    FM_GL_START_PERMUTATION,  /* "permutation": linear_perm's merge, P_i = T_i' (its permutations) */
    FM_GL_START_COUNT
} fm_gl_start;
typedef enum fm_gl_norm {
    FM_GL_NORM_NONE = 0,      /* "none" */
    FM_GL_NORM_DETERMINANT,   /* "determinant": geometric mean of |det P_i|^(1/k) kept at 1 */
    FM_GL_NORM_FROBENIUS,     /* "frobenius": mean ||P_i||_F^2 / k kept at 1 */
    FM_GL_NORM_COUNT
} fm_gl_norm;
typedef enum fm_gl_select {
    FM_GL_SELECT_NONE = 0,    /* "none": the last step's merge */
    FM_GL_SELECT_BC_LOSS,     /* "bc_loss": the checked merge with the lowest BC loss on the robots' data */
    FM_GL_SELECT_COUNT
} fm_gl_select;
typedef enum fm_lr_schedule { FM_LR_CONSTANT = 0, FM_LR_COSINE, FM_LR_STEP, FM_LR_COUNT } fm_lr_schedule;
/* train.batch_unit: what one minibatch entry is */
typedef enum fm_batch_unit { FM_BATCH_TRAJ = 0, FM_BATCH_STEPS, FM_BATCH_UNIT_COUNT } fm_batch_unit;
/* env.tu_obs: the tool-use observation (env/tooluse/tooluse.h) */
/* env.sv_kind: what a supervised client's data are (env/supervised/classify.h) */
typedef enum fm_sv_kind { FM_SV_IMAGES = 0, FM_SV_TEXT, FM_SV_COUNT } fm_sv_kind;
typedef enum fm_tu_obs_kind { FM_TU_OBS_POINTS = 0, FM_TU_OBS_KEYPOINTS, FM_TU_OBS_COUNT } fm_tu_obs_kind;
/* env.tu_demo_end: where a tool-use demonstration stops being recorded */
typedef enum fm_tu_demo_end { FM_TU_END_PLAN = 0, FM_TU_END_SUCCESS, FM_TU_END_COUNT } fm_tu_demo_end;
typedef enum fm_partition { FM_PARTITION_DIRICHLET = 0, FM_PARTITION_ONE_TASK, FM_PARTITION_COUNT } fm_partition;
typedef enum fm_local_policy { FM_LOCAL_TRAINED = 0, FM_LOCAL_EXPERT, FM_LOCAL_COUNT } fm_local_policy;
typedef enum fm_optimizer { FM_OPT_ADAM = 0, FM_OPT_SGD, FM_OPT_COUNT } fm_optimizer;
typedef enum fm_pooled_ls { FM_POOLED_NORMAL = 0, FM_POOLED_SCALAPACK, FM_POOLED_COUNT } fm_pooled_ls;
/* rl.baseline: what REINFORCE subtracts from the returns-to-go (docs/rl.md) */
typedef enum fm_rl_baseline {
    FM_RL_BASELINE_NONE = 0, /* "none": A_t = G_t */
    FM_RL_BASELINE_RUNNING,  /* "running": A_t = G_t - b_t, b_t a running mean of earlier episodes' G_t */
    FM_RL_BASELINE_EPISODE,  /* "episode": A_t = (G_t - mean G) / std G over the episode's steps */
    FM_RL_BASELINE_COUNT
} fm_rl_baseline;
/* rl.observation: what the policy sees */
typedef enum fm_rl_obs { FM_RL_OBS_STATE = 0, FM_RL_OBS_POMDP, FM_RL_OBS_COUNT } fm_rl_obs;

typedef struct fm_config {
    char source[1024];       /* file the config came from (for messages) */
    struct {
        char name[FM_CFG_STR];
        char description[FM_CFG_STR];
        int64_t seed;
        char output_dir[FM_CFG_STR];
        char time_limit[32];  /* Slurm --time of the run's array job ("" = not set) */
    } experiment;
    struct {
        int kind;             /* fm_env_kind */
        int system;           /* fm_system */
        int obs;              /* fm_obs_kind */
        int obs_dim;          /* p, used when obs = projected */
        int obs_per_task;     /* bool: a different C for every task */
        int num_tasks;        /* K */
        double q_log_min;     /* Q_h = a_h I, a_h = logspace(q_log_min, q_log_max, K) */
        double q_log_max;
        double r_scale;       /* R = r_scale I */
        double process_noise; /* Sigma_w = process_noise * I (variance) */
        double obs_noise;     /* Sigma_v = obs_noise * I (variance), projected only */
        double init_std;      /* x_0 ~ N(0, init_std^2 I) */
        int horizon;          /* demonstration length T */
        fm_cfg_matrix A, B, C; /* optional overrides; A, B required for system = custom */
        /* kind = cartpole only (docs/cartpole.md); ranges are [min, max], min <= max */
        double cp_dt;           /* control period (s); RK4 with 4 substeps per period */
        double cp_length_min;   /* half pole length l (m) */
        double cp_length_max;
        double cp_pole_mass_min; /* pole mass m_p (kg) */
        double cp_pole_mass_max;
        double cp_cart_mass_min; /* cart mass m_c (kg) */
        double cp_cart_mass_max;
        double cp_setpoint_max; /* cart set-points x*_h ~ U[-cp_setpoint_max, cp_setpoint_max] (m) */
        double cp_force_max;    /* actions clipped to [-cp_force_max, cp_force_max] (N) */
        double cp_obs_noise;    /* std of the noise on the observed x and theta */
        double cp_action_noise; /* demonstrations: executed-action noise std / cp_force_max */
        /* kind = tooluse only (docs/tooluse.md) */
        int tu_points;          /* points per observation (half tool, half object) */
        double tu_point_noise;  /* std of the point noise (m) */
        double tu_action_noise; /* demonstrations (DART): executed-action noise std / action bound */
        int tu_proprio;         /* bool: append the end-effector pose (12 values) */
        int tu_obs;             /* fm_tu_obs_kind: points or keypoints */
        int tu_demo_end;        /* fm_tu_demo_end: demonstrations end with the plan or at success */
        /* kind = multitask only (docs/multitask.md) */
        int mt_hold;            /* actions an episode continues after its first success */
        int mt_task_id;         /* bool: append a one-hot task id to the observation */
        double mt_action_noise; /* demonstrations (DART): executed-action noise std (actions in [-1, 1]) */
        char sv_data[FM_CFG_STR]; /* supervised: directory of the IDX files (train-*, t10k-*), or the text file */
        int sv_train;           /* supervised: training examples used (images: the first ones; text: windows) */
        int sv_kind;            /* fm_sv_kind: images (IDX) or text (next-character prediction) */
        int sv_window;          /* supervised text: characters read before each prediction (LEAF: 80) */
    } env;
    struct {
        int robots;           /* 0 = number of MPI ranks; otherwise must equal it */
        double alpha;         /* Dirichlet concentration */
        int partition;        /* fm_partition: Dirichlet task mixtures, or one task per robot */
        int local_policy;     /* fm_local_policy: trained by BC, or (lqg) the exact expert of its task */
        int demos_per_robot;  /* trajectories generated per robot */
        char data[FM_CFG_STR]; /* "" = generate; else a demonstrations HDF5 file */
        int shared_init;      /* bool: every robot starts from one initialization */
        double sign_flip_fraction; /* fraction of robots whose local policy is stored as (A, -B, -C) */
        int shared_data;      /* bool: every robot generates robot 0's demonstrations */
        int rounds;           /* 0 = one-shot merge; else merging rounds (iterative, FedAvg-style) */
        int local_epochs;     /* rounds: local epochs M between merges */
        double participation; /* rounds: fraction of robots merged each round (at least one) */
        int reset_optimizer;  /* rounds: bool, reset Adam moments after every merge */
    } fleet;
    struct {
        int arch;             /* fm_arch */
        int hidden_dim;       /* dynamic policy state dimension; 0 = env state dimension */
        double init_scale;    /* std of initial B, C entries; 0 = 1/sqrt(input dim of the matrix) */
        int layers;           /* mlp/rnn: hidden layers */
        int width;            /* mlp/rnn: units per hidden layer */
        int activation;       /* mlp/rnn: 0 tanh, 1 relu (fm_nn_act) */
        int conv_nlayers;     /* cnn: conv layers (entries of conv_channels) */
        int conv_channels[8]; /* cnn: output channels of each conv layer (FM_NN_MAX_LAYERS) */
        int conv_kernel;      /* cnn: odd kernel size of every conv layer */
        int enc_layers;       /* tooluse: per-point encoder layers (ReLU) before max pooling */
        int enc_width;        /* tooluse: their width (the pooled feature size) */
    } policy;
    struct {
        int optimizer;        /* fm_optimizer */
        int steps;            /* full-batch gradient steps (dynamic policies) */
        double lr;
        int lr_schedule;      /* fm_lr_schedule over each training call */
        double lr_decay;      /* step schedule: lr factor at 1/2 and again at 3/4 of the steps */
        double grad_clip;     /* 0 = off; else clip the global gradient norm */
        double ridge;         /* ridge added to static least squares (0 = plain) */
        int pooled_ls;        /* fm_pooled_ls */
        int epochs;           /* mlp/rnn: passes over the robot's data */
        int batch_size;       /* mlp/rnn: trajectories (or windows, or steps) per minibatch */
        int batch_unit;       /* mlp/rnn: fm_batch_unit, trajectories or steps */
        int nn_steps;         /* mlp/rnn: > 0: optimizer steps per training call instead of epochs */
        int window;           /* mlp/rnn: 0 = whole trajectories, else windows of this length */
        double weight_decay;  /* mlp/rnn: decoupled weight decay (AdamW) */
    } train;
    struct {
        int num_methods;
        int methods[FM_MERGE_COUNT]; /* fm_merge_method, in config order, no duplicates */
        int perm_iters;       /* linear_perm alternations */
        int gl_steps;         /* linear_gl alternating gradient steps */
        double gl_lr;
        int gl_start;         /* fm_gl_start */
        int gl_normalize;     /* fm_gl_norm: scale of the P_i after every step */
        double gl_tol;        /* linear_gl: stop when the objective falls by less than this (relative)
                               * over FM_GL_TOL_WINDOW steps; 0 = run all gl_steps */
        int gl_select;        /* fm_gl_select: which iterate linear_gl returns */
        int wm_passes;        /* weight matching passes over the permutation groups */
        int mm_sweeps;        /* MergeMany sweeps over the robots */
        int fm_epochs;        /* fleet_merge E */
        int fm_steps;         /* soft-permutation steps T */
        double fm_subset;     /* fraction of robots updated per epoch */
        double fm_tau;        /* Sinkhorn entropy weight */
        int fm_sinkhorn_iters;
        double fm_lr;         /* Adam on the permutation logits */
        double fm_noise;      /* logit noise at the start of an update */
        double fm_start_mass; /* starting soft permutation's mass on the hard assignment, per row */
        int fm_batch;         /* trajectories per soft-permutation step */
        int fm_init;          /* 0 weight_matching, 1 identity */
    } merge;
    struct {
        int rollouts;         /* empirical rollouts per task and policy */
        int horizon;          /* 0 = env.horizon */
        int barrier_points;   /* 0 = off; else lambda points of the barrier curves between robots 0 and 1 */
        int finetune_demos;   /* warm start: 0 = off; else held-out trajectories to fine-tune on */
        int finetune_epochs;  /* warm start: epochs of fine-tuning (and of training from scratch) */
        int task_specific;    /* neural runs: bool, also train and score one policy per task */
        int val_demos;        /* neural runs: held-out demonstrations per robot (own mixture) for the
                               * held-out BC loss; 0 = none */
        int round_rollouts;   /* rounds: episodes per task for the per-round score (0 = none) */
    } eval;
    struct {                  /* online RL (REINFORCE) on the cart-pole dynamics, docs/rl.md */
        int enabled;          /* bool: `fleet run` trains by REINFORCE instead of demonstrations + BC */
        int episodes;         /* training episodes per robot */
        int merge_every;      /* average the fleet's policies every k episodes; 0 = never */
        int batch;            /* episodes per Adam step */
        double lr;            /* Adam step size */
        double gamma;         /* discount of the returns-to-go */
        int horizon;          /* steps per episode (the most reward an episode can earn) */
        int baseline;         /* fm_rl_baseline */
        double baseline_rate; /* running baseline: b_t += rate (G_t - b_t) */
        int observation;      /* fm_rl_obs: full state, or the cart-pole's partial observation */
        double force;         /* N: the two actions push the cart with -force or +force */
        int eval_episodes;    /* episodes per robot to score the final policies */
        int log_every;        /* progress line every this many episodes (0 = none) */
    } rl;
    struct {                  /* not config keys: filled by the loader from the `sweep` section */
        int count;            /* points of the sweep (1 without a sweep section) */
        int index;            /* the point this config is, -1 = the base config */
        char overrides[4096]; /* the point's values, "key=value key=value" ("..." ends a cut one) */
    } sweep;
} fm_config;

/* Parse and validate a YAML file. On failure returns FM_ECONFIG (FM_EIO only for read errors
 * after opening) with every problem listed in err->msg, one per line, each formatted
 * `file:line:col: key: message`; a file that cannot be opened, is not a regular file or is
 * larger than 1 MiB is FM_ECONFIG too (a usage error, exit code 2). Lists and mappings may
 * nest at most 64 deep (checked before libyaml builds the document). `out` is fully written
 * (defaults filled) on success. */
fm_status fm_cfg_load_file(const char *path, fm_config *out, fm_err *err);
/* Load point `index` of the file's `sweep` section (index -1: the base config, as
 * fm_cfg_load_file). The sweep section lists `section.key: [values]` (cartesian product, the
 * last key varying fastest), `seeds: [...]` (experiment.seed) and `zip: [{k1: [...], k2: [...]},
 * ...]` groups of equal-length lists that vary together; every value is validated like the key's
 * own value, at its line:col. out->sweep gets the count, the index and the point's overrides.
 * An index out of range is an FM_ECONFIG error naming the count. */
fm_status fm_cfg_load_point(const char *path, int index, fm_config *out, fm_err *err);
/* The command line's overrides, `section.key=VALUE` each (`fleet run CONFIG --set K=V ...`):
 * every later fm_cfg_load_file / fm_cfg_load_point applies them after the file's sections (a
 * later one of the same key wins), each VALUE read as YAML and validated exactly like the file's
 * value, errors reported as `FILE: --set K=V: key: message`; a swept key cannot be overridden.
 * fm_cfg_load_string (a stored resolved config) does not apply them. Process-wide, set once
 * before loading; `sets` must outlive the loads. */
void fm_cfg_set_overrides(const char *const *sets, int n);
/* Same, from text in memory (at most 1 MiB); `name` stands for the file in messages. */
fm_status fm_cfg_load_string(const char *text, const char *name, fm_config *out, fm_err *err);
/* Fill `out` with every default (no required key set). */
void fm_cfg_defaults(fm_config *out);
/* Resolved config as YAML text (every key, defaults filled), re-loadable by fm_cfg_load_string.
 * Returns the number of bytes needed (like snprintf). */
int fm_cfg_dump(const fm_config *cfg, char *buf, int cap);
/* The same into a malloc'ed string (*out, free it). */
fm_status fm_cfg_dump_alloc(const fm_config *cfg, char **out, fm_err *err);
/* Names of enum values, e.g. fm_cfg_enum_name("merge.methods", FM_MERGE_LINEAR_GL) = "linear_gl". */
const char *fm_cfg_enum_name(const char *key, int value);

#endif
