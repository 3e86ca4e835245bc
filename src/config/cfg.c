/* cfg.c - fleetmerge configuration: YAML (libyaml document API) -> typed, validated fm_config.
 *
 * Everything is driven by one schema table, cfg_keys[] below: parsing, defaults, range and
 * choice checks, fm_cfg_dump and fm_cfg_enum_name all walk it, and docs/config.md mirrors it.
 * Loading is: size limit -> a pass over libyaml's parse events (nesting depth limit, explicit
 * tags recorded) -> defaults -> one pass over the YAML document (type, tag, range, choice,
 * duplicate and unknown-key errors, each at the line:col of the key or value) -> required keys
 * -> checks that involve several keys. Every error of a pass is collected into err->msg, one per
 * line.
 */
#define _POSIX_C_SOURCE 200809L /* fstat, fileno */
#include "config/cfg.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <yaml.h>

/* ---- the schema ---- */

typedef enum cfg_type {
    CFG_INT = 0,   /* int or int64_t field; YAML integer literal */
    CFG_DOUBLE,    /* double; YAML int, decimal or exponent literal, finite */
    CFG_BOOL,      /* int 0/1; true/false/yes/no/on/off */
    CFG_STRING,    /* char[FM_CFG_STR] */
    CFG_ENUM,      /* int, index into choices */
    CFG_ENUM_LIST, /* int[], YAML sequence of choices, count in count_offset */
    CFG_MATRIX,    /* fm_cfg_matrix, YAML list of rows of numbers */
    CFG_INT_LIST,  /* int[], YAML sequence of integers in [min, max], count in count_offset */
    CFG_TYPE_COUNT
} cfg_type;

enum { CFG_LO_OPEN = 1, CFG_HI_OPEN = 2 };  /* cfg_key.open: bound excluded */
enum {                                      /* cfg_key.flags */
    CFG_REQUIRED = 1,
    CFG_DIRNAME = 2,  /* CFG_STRING: a directory name, [A-Za-z0-9._-], not . or .. */
    CFG_DIRPATH = 4,  /* CFG_STRING: a directory path, not "" */
    CFG_ZERO_OK = 8,  /* CFG_DOUBLE: 0 is allowed besides [min, max] */
    CFG_SLURMTIME = 16, /* CFG_STRING: "" or a Slurm time limit (sbatch --time's formats) */
};
#define CFG_MAX_CHOICES 12

typedef struct cfg_key {
    const char *key;       /* "section.name" */
    cfg_type type;
    size_t offset, size;   /* of the field in fm_config */
    size_t count_offset;   /* CFG_ENUM_LIST, CFG_INT_LIST: offset of the int element count */
    const char *def;       /* default as YAML text ("[a, b]" for lists); NULL: no default */
    double min, max;       /* CFG_INT, CFG_DOUBLE: allowed range; CFG_STRING: max = longest (0: the field) */
    int open;              /* CFG_LO_OPEN | CFG_HI_OPEN */
    const char *choices[CFG_MAX_CHOICES + 1]; /* enums: names in the order of the C enum, NULL-ended */
    int flags;             /* CFG_REQUIRED | CFG_DIRNAME | CFG_DIRPATH | CFG_ZERO_OK */
    const char *meaning;   /* one line; docs/config.md says the same */
} cfg_key;

#define CFG_FIELD(m) offsetof(fm_config, m), sizeof(((fm_config *)0)->m)
#define CFG_NUM(k, t, m, def, lo, hi, open, doc) \
    { k, t, CFG_FIELD(m), 0, def, lo, hi, open, { NULL }, 0, doc }
#define CFG_NUM_FLAGS(k, t, m, def, lo, hi, open, flags, doc) \
    { k, t, CFG_FIELD(m), 0, def, lo, hi, open, { NULL }, flags, doc }
#define CFG_SCALAR(k, t, m, def, flags, doc) { k, t, CFG_FIELD(m), 0, def, 0, 0, 0, { NULL }, flags, doc }
#define CFG_STRING_MAX(k, m, def, maxlen, flags, doc) \
    { k, CFG_STRING, CFG_FIELD(m), 0, def, 0, maxlen, 0, { NULL }, flags, doc }
#define CFG_CHOICE(k, m, def, flags, doc, ...) \
    { k, CFG_ENUM, CFG_FIELD(m), 0, def, 0, 0, 0, { __VA_ARGS__, NULL }, flags, doc }
#define CFG_CHOICE_LIST(k, m, count, def, doc, ...)                                            \
    { k, CFG_ENUM_LIST, CFG_FIELD(m), offsetof(fm_config, count), def, 0, 0, 0, { __VA_ARGS__, NULL }, \
      0, doc }

#define CFG_INT_LIST_KEY(k, m, count, def, lo, hi, doc) \
    { k, CFG_INT_LIST, CFG_FIELD(m), offsetof(fm_config, count), def, lo, hi, 0, { NULL }, 0, doc }

#define CFG_INT32_MAX 2147483647.0

/* Keys are grouped by section, in the order fm_cfg_dump prints them. */
static const cfg_key cfg_keys[] = {
    CFG_STRING_MAX("experiment.name", experiment.name, NULL, FM_CFG_NAME_MAX, CFG_REQUIRED | CFG_DIRNAME,
                   "run name; becomes a directory under output_dir, so only [A-Za-z0-9._-], at most 128"),
    CFG_SCALAR("experiment.description", CFG_STRING, experiment.description, "", 0,
               "free text stored with the results"),
    CFG_NUM("experiment.seed", CFG_INT, experiment.seed, "0", 0, CFG_INT32_MAX, 0,
            "master seed; every random stream is derived from (seed, rank, stream)"),
    CFG_SCALAR("experiment.output_dir", CFG_STRING, experiment.output_dir, "results", CFG_DIRPATH,
               "directory that receives <output_dir>/<name>/; not empty (\".\" is the current one)"),
    CFG_SCALAR("experiment.time_limit", CFG_STRING, experiment.time_limit, "", CFG_SLURMTIME,
               "Slurm time limit of this run when slurm/submit_sweep.sh submits it (its array job's --time; "
               "sweep it with the keys that vary the work); sbatch's formats MM, MM:SS, HH:MM:SS, D-HH, "
               "D-HH:MM, D-HH:MM:SS; \"\" (default): submit_sweep.sh's -t or the job template's; "
               "`fleet run` itself ignores it"),

    CFG_CHOICE("env.kind", env.kind, NULL, CFG_REQUIRED,
               "benchmark family: lqg (linear control), cartpole (partially observed cart-pole), tooluse "
               "(tool-use manipulation in MuJoCo) or multitask (the MT-10 manipulation suite in MuJoCo)",
               "lqg", "cartpole", "tooluse", "multitask", "supervised"),
    CFG_CHOICE("env.system", env.system, "mild_unstable", 0,
               "open-loop system (A, B): a built-in one or custom (env.A, env.B)",
               "mild_unstable", "stable", "odd_unstable", "custom"),
    CFG_CHOICE("env.obs", env.obs, "projected", 0,
               "state: y = x (LQR); projected: y = C x + v with Gaussian C (LQG)", "state", "projected"),
    CFG_NUM("env.obs_dim", CFG_INT, env.obs_dim, "50", 1, 1024, 0,
            "observation dimension p (rows of C) for obs: projected"),
    CFG_SCALAR("env.obs_per_task", CFG_BOOL, env.obs_per_task, "false", 0,
               "draw a different C for every task instead of one shared C"),
    CFG_NUM("env.num_tasks", CFG_INT, env.num_tasks, "10", 1, 1000, 0,
            "number of tasks K in the Dirichlet mixture (lqg: cost weights Q_h; cartpole: physics + set-point)"),
    CFG_NUM("env.q_log_min", CFG_DOUBLE, env.q_log_min, "-2", -10, 10, 0,
            "Q_h = a_h I with a_h = logspace(q_log_min, q_log_max, K): smallest exponent"),
    CFG_NUM("env.q_log_max", CFG_DOUBLE, env.q_log_max, "2", -10, 10, 0,
            "largest exponent of a_h; must be >= q_log_min"),
    CFG_NUM("env.r_scale", CFG_DOUBLE, env.r_scale, "1", 1e-4, 1e6, 0,
            "input cost R = r_scale I (with q_log in [-10, 10], q / r stays within [1e-16, 1e14])"),
    CFG_NUM_FLAGS("env.process_noise", CFG_DOUBLE, env.process_noise, "0.01", 1e-8, 1e6, 0, CFG_ZERO_OK,
                  "process noise variance: Sigma_w = process_noise I; 0 (noise-free) only with obs: state"),
    CFG_NUM("env.obs_noise", CFG_DOUBLE, env.obs_noise, "0.01", 1e-8, 1e6, 0,
            "observation noise variance: Sigma_v = obs_noise I (projected only)"),
    CFG_NUM("env.init_std", CFG_DOUBLE, env.init_std, "1", 1e-6, 1e6, 0,
            "initial state x_0 ~ N(0, init_std^2 I)"),
    CFG_NUM("env.horizon", CFG_INT, env.horizon, "100", 1, 100000, 0, "demonstration length T (steps)"),
    CFG_SCALAR("env.A", CFG_MATRIX, env.A, NULL, 0, "n x n state matrix; only with system: custom"),
    CFG_SCALAR("env.B", CFG_MATRIX, env.B, NULL, 0, "n x m input matrix; only with system: custom"),
    CFG_SCALAR("env.C", CFG_MATRIX, env.C, NULL, 0,
               "fixed p x n observation matrix instead of a random one (obs: projected, shared C)"),
    CFG_NUM("env.cp_dt", CFG_DOUBLE, env.cp_dt, "0.02", 1e-4, 1, 0,
            "cartpole: control period in s (zero-order hold, RK4 with 4 substeps per period)"),
    CFG_NUM("env.cp_length_min", CFG_DOUBLE, env.cp_length_min, "0.3", 0, 10, CFG_LO_OPEN,
            "cartpole: smallest half pole length l in m; tasks draw l ~ U[min, max]"),
    CFG_NUM("env.cp_length_max", CFG_DOUBLE, env.cp_length_max, "0.8", 0, 10, CFG_LO_OPEN,
            "cartpole: largest half pole length in m; must be >= cp_length_min"),
    CFG_NUM("env.cp_pole_mass_min", CFG_DOUBLE, env.cp_pole_mass_min, "0.05", 0, 100, CFG_LO_OPEN,
            "cartpole: smallest pole mass m_p in kg; tasks draw m_p ~ U[min, max]"),
    CFG_NUM("env.cp_pole_mass_max", CFG_DOUBLE, env.cp_pole_mass_max, "0.3", 0, 100, CFG_LO_OPEN,
            "cartpole: largest pole mass in kg; must be >= cp_pole_mass_min"),
    CFG_NUM("env.cp_cart_mass_min", CFG_DOUBLE, env.cp_cart_mass_min, "0.5", 0, 1000, CFG_LO_OPEN,
            "cartpole: smallest cart mass m_c in kg; tasks draw m_c ~ U[min, max]"),
    CFG_NUM("env.cp_cart_mass_max", CFG_DOUBLE, env.cp_cart_mass_max, "2", 0, 1000, CFG_LO_OPEN,
            "cartpole: largest cart mass in kg; must be >= cp_cart_mass_min"),
    CFG_NUM("env.cp_setpoint_max", CFG_DOUBLE, env.cp_setpoint_max, "1", 0, 2, 0,
            "cartpole: tasks' cart set-points x*_h ~ U[-cp_setpoint_max, cp_setpoint_max] in m"),
    CFG_NUM("env.cp_force_max", CFG_DOUBLE, env.cp_force_max, "20", 0, 1000, CFG_LO_OPEN,
            "cartpole: actions (force on the cart, N) are clipped to [-cp_force_max, cp_force_max]"),
    CFG_NUM("env.cp_obs_noise", CFG_DOUBLE, env.cp_obs_noise, "0.01", 0, 1, 0,
            "cartpole: standard deviation of the Gaussian noise on the observed x (m) and theta (rad)"),
    CFG_NUM("env.cp_action_noise", CFG_DOUBLE, env.cp_action_noise, "0.1", 0, 10, 0,
            "cartpole: demonstrations execute expert + noise of this std times cp_force_max (label stays clean)"),
    CFG_NUM("env.tu_points", CFG_INT, env.tu_points, "1024", 2, 65536, 0,
            "tooluse: points per observation, even (half on the tool, half on the object)"),
    CFG_NUM("env.tu_point_noise", CFG_DOUBLE, env.tu_point_noise, "0.002", 0, 0.1, 0,
            "tooluse: standard deviation (m) of the Gaussian noise on every point coordinate"),
    CFG_NUM("env.tu_action_noise", CFG_DOUBLE, env.tu_action_noise, "0", 0, 1, 0,
            "tooluse: demonstrations execute expert + noise of this std times the action bound (DART; label stays clean)"),
    CFG_SCALAR("env.tu_proprio", CFG_BOOL, env.tu_proprio, "true", 0,
               "tooluse: append the end-effector position and rotation matrix (12 values) to the observation"),
    CFG_CHOICE("env.tu_obs", env.tu_obs, "points", 0,
               "tooluse: observation, a point cloud (faithful) or the tools' and objects' keypoints (privileged state)",
               "points", "keypoints"),
    CFG_CHOICE("env.tu_demo_end", env.tu_demo_end, "plan", 0,
               "tooluse demonstrations: record the expert's whole plan (retreat included) or stop at the step that succeeds",
               "plan", "success"),
    CFG_NUM("env.mt_hold", CFG_INT, env.mt_hold, "3", 0, 1000, 0,
            "multitask: actions an episode (and a demonstration) continues after its first successful step"),
    CFG_SCALAR("env.mt_task_id", CFG_BOOL, env.mt_task_id, "true", 0,
               "multitask: append a one-hot task id (env.num_tasks values) to the 39-value observation"),
    CFG_NUM("env.mt_action_noise", CFG_DOUBLE, env.mt_action_noise, "0.1", 0, 1, 0,
            "multitask demonstrations (DART): executed action + Gaussian noise of this std per value (actions in "
            "[-1, 1], 1 = 1 cm), clipped; the clean expert action is recorded"),
    CFG_SCALAR("env.sv_data", CFG_STRING, env.sv_data, "/usr/share/datasets/fashion-mnist", CFG_DIRPATH,
               "supervised: directory of the IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte, "
               "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (each may end in .gz; Debian's "
               "dataset-fashion-mnist by default)"),
    CFG_NUM("env.sv_train", CFG_INT, env.sv_train, "60000", 1, CFG_INT32_MAX, 0,
            "supervised: training examples used, the first ones of the file (all when larger; text: training "
            "windows, evenly spaced over the corpus), split among the robots by class with Dirichlet(fleet.alpha) "
            "shares"),
    CFG_CHOICE("env.sv_kind", env.sv_kind, "images", 0,
               "supervised: labelled images (IDX files in env.sv_data) or text for next-character prediction "
               "(env.sv_data: a file of 'BookC:V text' lines as `bible -f` prints; tasks = groups of books)",
               "images", "text"),
    CFG_NUM("env.sv_window", CFG_INT, env.sv_window, "80", 1, 1000, 0,
            "supervised text: characters an example reads, one step each, before the character it predicts "
            "(LEAF's Shakespeare task: 80)"),

    CFG_NUM("fleet.robots", CFG_INT, fleet.robots, "0", 0, 100000, 0,
            "number of robots N; 0 = one per MPI rank, otherwise must equal the rank count"),
    CFG_NUM("fleet.alpha", CFG_DOUBLE, fleet.alpha, "1", 0, 1e6, CFG_LO_OPEN,
            "Dirichlet concentration of each robot's task mixture (small = heterogeneous)"),
    CFG_CHOICE("fleet.partition", fleet.partition, "dirichlet", 0,
               "robots' tasks: a Dirichlet(alpha) mixture each, or one task each (robot i: task i mod K)",
               "dirichlet", "one_task"),
    CFG_CHOICE("fleet.local_policy", fleet.local_policy, "trained", 0,
               "lqg: robots' local policies are trained by BC, or the exact expert of the robot's main task (oracle)",
               "trained", "expert"),
    CFG_NUM("fleet.demos_per_robot", CFG_INT, fleet.demos_per_robot, "20", 1, 10000000, 0,
            "demonstration trajectories generated per robot"),
    CFG_SCALAR("fleet.data", CFG_STRING, fleet.data, "", 0,
               "\"\" = generate demonstrations; else read them from this HDF5 file"),
    CFG_SCALAR("fleet.shared_init", CFG_BOOL, fleet.shared_init, "false", 0,
               "every robot starts from the same policy initialization"),
    CFG_SCALAR("fleet.shared_data", CFG_BOOL, fleet.shared_data, "false", 0,
               "every robot generates robot 0's demonstrations (same data, e.g. for mode connectivity)"),
    CFG_NUM("fleet.rounds", CFG_INT, fleet.rounds, "0", 0, 100000, 0,
            "0 = train, then merge once; else this many rounds of local training and merging (neural runs)"),
    CFG_NUM("fleet.local_epochs", CFG_INT, fleet.local_epochs, "10", 1, 1000000, 0,
            "rounds: local epochs M on the robot's own data between merges"),
    CFG_NUM("fleet.participation", CFG_DOUBLE, fleet.participation, "1", 0, 1, CFG_LO_OPEN,
            "rounds: fraction of robots merged each round (drawn with a seed shared by all ranks, at least one)"),
    CFG_SCALAR("fleet.reset_optimizer", CFG_BOOL, fleet.reset_optimizer, "true", 0,
               "rounds: reset the Adam moments when a robot restarts from the merged model"),
    CFG_NUM("fleet.sign_flip_fraction", CFG_DOUBLE, fleet.sign_flip_fraction, "0", 0, 1, 0,
            "fraction of robots whose local policy is stored as the equivalent (A, -B, -C)"),

    CFG_CHOICE("policy.arch", policy.arch, NULL, CFG_REQUIRED,
               "static_linear: u = K y; dynamic_linear: x' = A x + B y, u = C x'; mlp; rnn (Elman); cnn (conv "
               "layers then an mlp head; env.kind supervised only)",
               "static_linear", "dynamic_linear", "mlp", "rnn", "cnn"),
    CFG_NUM("policy.hidden_dim", CFG_INT, policy.hidden_dim, "0", 0, 1024, 0,
            "dynamic policy state dimension; 0 = the system's state dimension"),
    CFG_NUM("policy.init_scale", CFG_DOUBLE, policy.init_scale, "0", 0, 1e3, 0,
            "std of the initial B, C entries; 0 = 1/sqrt(input dimension of the matrix)"),
    CFG_NUM("policy.layers", CFG_INT, policy.layers, "2", 1, 7, 0, "mlp/rnn/cnn: hidden layers (a cnn's head, after its conv layers)"),
    CFG_NUM("policy.width", CFG_INT, policy.width, "64", 1, 4096, 0, "mlp/rnn/cnn: units per hidden layer"),
    CFG_CHOICE("policy.activation", policy.activation, "tanh", 0, "mlp/rnn/cnn: hidden activation (of the head; conv layers use ReLU)", "tanh",
               "relu"),
    CFG_INT_LIST_KEY("policy.conv_channels", policy.conv_channels, policy.conv_nlayers, "[32, 64]", 1, 1024,
                     "cnn: output channels of each conv layer (1 to 8 layers; each conv_kernel x conv_kernel, "
                     "'same' padding, ReLU, 2x2 max pooling)"),
    CFG_NUM("policy.conv_kernel", CFG_INT, policy.conv_kernel, "5", 1, 15, 0,
            "cnn: kernel size of every conv layer, odd (padding conv_kernel / 2 keeps the map size)"),
    CFG_NUM("policy.enc_layers", CFG_INT, policy.enc_layers, "2", 1, 7, 0,
            "tooluse: layers of the shared per-point encoder (ReLU) before max pooling over the points"),
    CFG_NUM("policy.enc_width", CFG_INT, policy.enc_width, "64", 1, 4096, 0,
            "tooluse: width of every encoder layer (the pooled feature size)"),

    CFG_CHOICE("train.optimizer", train.optimizer, "adam", 0, "optimizer for gradient training", "adam",
               "sgd"),
    CFG_NUM("train.steps", CFG_INT, train.steps, "300", 0, 10000000, 0,
            "full-batch gradient steps (dynamic policies)"),
    CFG_NUM("train.lr", CFG_DOUBLE, train.lr, "0.01", 0, 10, CFG_LO_OPEN, "learning rate"),
    CFG_CHOICE("train.lr_schedule", train.lr_schedule, "constant", 0,
               "learning rate over each training call: constant, cosine (to 0), step (x lr_decay at 1/2 and 3/4)",
               "constant", "cosine", "step"),
    CFG_NUM("train.lr_decay", CFG_DOUBLE, train.lr_decay, "0.1", 0, 1, CFG_LO_OPEN,
            "step schedule: factor applied to the learning rate at 1/2 and again at 3/4 of the steps"),
    CFG_NUM("train.grad_clip", CFG_DOUBLE, train.grad_clip, "0", 0, 1e9, 0,
            "clip the global gradient norm to this value; 0 = off"),
    CFG_NUM("train.ridge", CFG_DOUBLE, train.ridge, "0", 0, 1e9, 0,
            "ridge term added to static least squares; 0 = plain least squares"),
    CFG_CHOICE("train.pooled_ls", train.pooled_ls, "normal", 0,
               "pooled least squares: normal equations (allreduce) or distributed ScaLAPACK", "normal",
               "scalapack"),
    CFG_NUM("train.epochs", CFG_INT, train.epochs, "50", 0, 1000000, 0,
            "mlp/rnn: passes over the robot's demonstrations"),
    CFG_NUM("train.batch_size", CFG_INT, train.batch_size, "16", 1, 100000, 0,
            "mlp/rnn: trajectories (or windows, or steps with batch_unit: steps) per minibatch"),
    CFG_CHOICE("train.batch_unit", train.batch_unit, "trajectories", 0,
               "mlp/rnn: minibatches of whole trajectories (or windows), or of single steps (mlp only, no padding)",
               "trajectories", "steps"),
    CFG_NUM("train.nn_steps", CFG_INT, train.nn_steps, "0", 0, 100000000, 0,
            "mlp/rnn: > 0 = optimizer steps per training call (epochs then ignored, rounds excepted); 0 = epochs"),
    CFG_NUM("train.window", CFG_INT, train.window, "0", 0, 1000000, 0,
            "mlp/rnn: 0 = backpropagate through whole trajectories; else random windows of this length"),
    CFG_NUM("train.weight_decay", CFG_DOUBLE, train.weight_decay, "0", 0, 10, 0,
            "mlp/rnn: decoupled weight decay (AdamW) or L2 (SGD)"),

    CFG_CHOICE_LIST("merge.methods", merge.methods, merge.num_methods, "[average, linear_perm, linear_gl]",
                    "merge methods to run and compare, in this order, no repeats", "average",
                    "linear_perm", "linear_gl", "git_rebasin", "sinkhorn_rebasin", "fleet_merge",
                    "fleet_merge_soft", "fleet_merge_simplex", "fleet_merge_average", "sinkhorn_data"),
    CFG_NUM("merge.perm_iters", CFG_INT, merge.perm_iters, "50", 1, 100000, 0,
            "linear_perm: alternations of mean / assignment"),
    CFG_NUM("merge.gl_steps", CFG_INT, merge.gl_steps, "100000", 1, 10000000, 0,
            "linear_gl: alternating gradient steps on Eq. G.14 (the most, with gl_tol)"),
    CFG_NUM("merge.gl_lr", CFG_DOUBLE, merge.gl_lr, "0.5", 0, 10, CFG_LO_OPEN, "linear_gl: step size as a fraction of 1/L (L: Lipschitz bound of each block)"),
    CFG_CHOICE("merge.gl_start", merge.gl_start, "identity", 0,
               "linear_gl: initial P_i: aligned to robot 0's policy, I, or linear_perm's permutations", "anchor",
               "identity", "permutation"),
    CFG_CHOICE("merge.gl_normalize", merge.gl_normalize, "none", 0,
               "linear_gl: rescaling of the P_i after every step (the scale symmetry of Eq. G.14)", "none",
               "determinant", "frobenius"),
    CFG_NUM("merge.gl_tol", CFG_DOUBLE, merge.gl_tol, "0.0001", 0, 1, 0,
            "linear_gl: stop when the objective fell by less than this fraction over the last 100 steps; 0 = off"),
    CFG_CHOICE("merge.gl_select", merge.gl_select, "bc_loss", 0,
               "linear_gl: return the last iterate, or the one (checked every 100 steps) with the lowest BC loss "
               "on the robots' own data", "none", "bc_loss"),

    CFG_NUM("merge.wm_passes", CFG_INT, merge.wm_passes, "100", 1, 100000, 0,
            "weight matching: coordinate-descent passes over the permutation groups"),
    CFG_NUM("merge.mm_sweeps", CFG_INT, merge.mm_sweeps, "20", 1, 100000, 0,
            "git_rebasin (MergeMany): sweeps over the robots, each matching one robot to the mean of the others"),
    CFG_NUM("merge.fm_epochs", CFG_INT, merge.fm_epochs, "3", 1, 64, 0, "fleet_merge: epochs E (Algorithm 1)"),
    CFG_NUM("merge.fm_steps", CFG_INT, merge.fm_steps, "100", 1, 1000000, 0,
            "fleet_merge / sinkhorn_rebasin: soft-permutation steps T per update"),
    CFG_NUM("merge.fm_subset", CFG_DOUBLE, merge.fm_subset, "1", 0, 1, CFG_LO_OPEN,
            "fleet_merge: fraction of robots that update their permutation each epoch (at least one)"),
    CFG_NUM("merge.fm_tau", CFG_DOUBLE, merge.fm_tau, "0.3", 1e-6, 1e3, 0, "Sinkhorn entropy weight tau (Eq. 3.2)"),
    CFG_NUM("merge.fm_sinkhorn_iters", CFG_INT, merge.fm_sinkhorn_iters, "20", 1, 10000, 0,
            "Sinkhorn iterations (log domain, fixed count)"),
    CFG_NUM("merge.fm_lr", CFG_DOUBLE, merge.fm_lr, "0.1", 0, 100, CFG_LO_OPEN, "Adam step on the permutation logits"),
    CFG_NUM("merge.fm_noise", CFG_DOUBLE, merge.fm_noise, "0.1", 0, 100, 0,
            "logits start at s * one-hot(P_hard) + fm_noise * N(0, 1)"),
    CFG_NUM("merge.fm_start_mass", CFG_DOUBLE, merge.fm_start_mass, "0.31", 0, 1, CFG_LO_OPEN | CFG_HI_OPEN,
            "share of each row's mass the starting soft permutation puts on the hard assignment, at every width"),
    CFG_NUM("merge.fm_batch", CFG_INT, merge.fm_batch, "16", 1, 100000, 0,
            "trajectories of the robot's own data per soft-permutation step"),
    CFG_CHOICE("merge.fm_init", merge.fm_init, "weight_matching", 0,
               "fleet_merge: initial hard permutations", "weight_matching", "identity"),

    CFG_NUM("eval.rollouts", CFG_INT, eval.rollouts, "20", 1, 1000000, 0,
            "empirical rollouts per task and policy"),
    CFG_NUM("eval.horizon", CFG_INT, eval.horizon, "0", 0, 1000000, 0, "rollout length; 0 = env.horizon"),
    CFG_NUM("eval.barrier_points", CFG_INT, eval.barrier_points, "0", 0, 1001, 0,
            "neural runs: 0 = off; else loss and performance barriers between robots 0 and 1 at this many lambdas"),
    CFG_NUM("eval.finetune_demos", CFG_INT, eval.finetune_demos, "0", 0, 1000000, 0,
            "neural runs, warm start: 0 = off; else fine-tune every merge (and a fresh policy) on this many held-out demos"),
    CFG_SCALAR("eval.task_specific", CFG_BOOL, eval.task_specific, "false", 0,
               "neural runs: also train one policy per task on every robot's data of that task (data-parallel)"),
    CFG_NUM("eval.val_demos", CFG_INT, eval.val_demos, "0", 0, 1000000, 0,
            "neural runs: held-out demonstrations per robot (its own task mixture) for a held-out BC loss; 0 = none"),
    CFG_NUM("eval.round_rollouts", CFG_INT, eval.round_rollouts, "2", 0, 1000000, 0,
            "rounds: episodes per task for the merged model's score after every round (0 = none)"),
    CFG_NUM("eval.finetune_epochs", CFG_INT, eval.finetune_epochs, "5", 0, 1000000, 0,
            "warm start: epochs of fine-tuning, and of training the fresh policy"),

    CFG_SCALAR("rl.enabled", CFG_BOOL, rl.enabled, "false", 0,
               "online RL: every robot trains by REINFORCE on its own cart-pole episodes (env.kind cartpole, "
               "policy.arch mlp) instead of demonstrations + BC"),
    CFG_NUM("rl.episodes", CFG_INT, rl.episodes, "500", 1, 100000000, 0, "rl: training episodes per robot"),
    CFG_NUM("rl.merge_every", CFG_INT, rl.merge_every, "10", 0, 100000000, 0,
            "rl: average the robots' policies (one allreduce) after every k local episodes; 0 = never"),
    CFG_NUM("rl.batch", CFG_INT, rl.batch, "1", 1, 100000, 0, "rl: episodes per Adam step"),
    CFG_NUM("rl.lr", CFG_DOUBLE, rl.lr, "0.01", 0, 10, CFG_LO_OPEN, "rl: Adam learning rate"),
    CFG_NUM("rl.gamma", CFG_DOUBLE, rl.gamma, "0.99", 0, 1, 0, "rl: discount of the returns-to-go"),
    CFG_NUM("rl.horizon", CFG_INT, rl.horizon, "200", 1, 1000000, 0,
            "rl: steps per episode; reward 1 per step until the pole falls, so the return is at most this"),
    CFG_CHOICE("rl.baseline", rl.baseline, "running", 0,
               "rl: none (A_t = G_t), running (G_t minus a running mean of earlier episodes' G_t at step t) or "
               "episode (G_t standardized over the episode)", "none", "running", "episode"),
    CFG_NUM("rl.baseline_rate", CFG_DOUBLE, rl.baseline_rate, "0.1", 0, 1, CFG_LO_OPEN,
            "rl, running baseline: b_t += rate (G_t - b_t) after every episode that reached step t"),
    CFG_CHOICE("rl.observation", rl.observation, "state", 0,
               "rl: the policy sees the full state (x, x_dot, theta, theta_dot) or the cart-pole's partial "
               "observation (x + n, theta + n, x*)", "state", "pomdp"),
    CFG_NUM("rl.force", CFG_DOUBLE, rl.force, "10", 0, 1000, CFG_LO_OPEN,
            "rl: the two actions push the cart with -force or +force (N); at most env.cp_force_max"),
    CFG_NUM("rl.eval_episodes", CFG_INT, rl.eval_episodes, "20", 1, 1000000, 0,
            "rl: episodes per robot that score the final local and merged policies"),
    CFG_NUM("rl.log_every", CFG_INT, rl.log_every, "100", 0, 100000000, 0,
            "rl: a progress line every this many episodes (0 = none)"),
};

#define CFG_NKEYS (sizeof cfg_keys / sizeof cfg_keys[0])
#define CFG_MAX_SECTIONS 16
#define CFG_GOT_MAX 60       /* characters of a bad value quoted in a message */
#define CFG_LINE_MAX 1024    /* one error line */
#define CFG_MSG_RESERVE 40   /* room kept in err->msg for "... (N more errors)" */
#define CFG_FILE_MAX (1L << 20) /* bytes of a config (file or string) */
#define CFG_DEPTH_MAX 64     /* nesting of lists and mappings, counted from the top-level mapping */
#define CFG_TAG_TEXT 40      /* characters of a tag kept for messages */
#define CFG_MAT_ABS_MAX 1e6  /* largest magnitude of a matrix entry */

static const char cfg_dump_header[] = "# resolved fleetmerge config (defaults filled)\n";

/* ---- text output: a growing count of needed bytes, written while room lasts ---- */

typedef struct cfg_buf {
    char *p;
    size_t cap, len; /* len: bytes needed so far (may exceed cap) */
} cfg_buf;

static void buf_printf(cfg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(cfg_buf *b, const char *fmt, ...)
{
    va_list ap;
    char dummy[1];
    int room = b->len < b->cap;
    va_start(ap, fmt);
    int n = vsnprintf(room ? b->p + b->len : dummy, room ? b->cap - b->len : sizeof dummy, fmt, ap);
    va_end(ap);
    if (n > 0)
        b->len += (size_t)n;
}

static void buf_putc(cfg_buf *b, char c)
{
    if (b->len + 1 < b->cap) {
        b->p[b->len] = c;
        b->p[b->len + 1] = '\0';
    } else if (b->len < b->cap) {
        b->p[b->len] = '\0'; /* truncated: keep the string terminated */
    }
    b->len++;
}

/* The body of a YAML double-quoted scalar (no quotes), at most `max` input bytes then "...". */
static void buf_escaped(cfg_buf *b, const char *s, size_t n, size_t max)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i == max) {
            buf_printf(b, "...");
            return;
        }
        if (c == '"' || c == '\\')
            buf_printf(b, "\\%c", c);
        else if (c == '\n')
            buf_printf(b, "\\n");
        else if (c == '\t')
            buf_printf(b, "\\t");
        else if (c == '\r')
            buf_printf(b, "\\r");
        else if (c < 0x20 || c == 0x7f)
            buf_printf(b, "\\x%02x", c);
        else
            buf_putc(b, (char)c);
    }
}

/* "[a, b, c]" of an enum's choices. */
static void buf_choices(cfg_buf *b, const cfg_key *k)
{
    buf_putc(b, '[');
    for (int i = 0; k->choices[i]; i++)
        buf_printf(b, "%s%s", i ? ", " : "", k->choices[i]);
    buf_putc(b, ']');
}

/* ---- the loader: positions, seen keys and the error list of one load ---- */

typedef struct cfg_pos {
    int line, col; /* 1-based */
} cfg_pos;

/* Explicit YAML tags. libyaml's document API replaces a missing tag by the default one, so the
 * tags as written are recorded from the parse events (scan_events) and looked up by the node's
 * start position and kind. */
typedef enum cfg_tag_id {
    TAG_NONE = 0, /* untagged */
    TAG_STR, TAG_INT, TAG_FLOAT, TAG_BOOL, TAG_NULL, TAG_SEQ, TAG_MAP,
    TAG_OTHER,    /* any other tag: !foo, !, !!binary, ... */
    TAG_COUNT
} cfg_tag_id;
#define TAGS(id) (1u << (id))

static const char *const tag_names[TAG_COUNT] = {
    "", "!!str", "!!int", "!!float", "!!bool", "!!null", "!!seq", "!!map", "",
};

typedef struct cfg_tag {
    size_t index;             /* start_mark.index of the tagged node (characters) */
    int kind;                 /* yaml_node_type_t of the node */
    int id;                   /* cfg_tag_id */
    char text[CFG_TAG_TEXT];  /* the tag for messages: "!!str", "!foo" */
} cfg_tag;

typedef struct cfg_section {
    const char *name; /* points into the YAML document */
    cfg_pos at;       /* the section's value (its mapping) */
    int bad;          /* not a mapping: its keys are not reported missing */
} cfg_section;

typedef struct cfg_loader {
    const char *name; /* file name used in messages */
    const char *text; /* the config's bytes (for the positions of encoding errors) */
    size_t len;
    fm_err *err;
    yaml_document_t *doc;
    fm_config *out;
    int nerr;     /* errors reported */
    int dropped;  /* errors that did not fit in err->msg */
    int owns_msg; /* err->msg holds our first error (err was clear) */
    size_t msglen;
    int root_bad; /* top level is not a mapping */
    unsigned char seen[CFG_NKEYS], bad[CFG_NKEYS];
    cfg_pos key_at[CFG_NKEYS];
    int nsec;
    cfg_section sec[CFG_MAX_SECTIONS];
    const yaml_node_t *sweep; /* the sweep section's mapping, if any */
    int point;                /* sweep point to load, -1 = none */
    cfg_tag *tags;            /* explicit tags, sorted by index (malloc'ed) */
    size_t ntags, tags_cap;
    int use_sets;             /* apply the command line's --set overrides (file loads) */
    const char *set_label;    /* while an override is applied: its "KEY=VALUE" (messages) */
    int set_of[CFG_NKEYS];    /* 1 + the override that set key i, 0 = none */
} cfg_loader;

/* The command line's --set KEY=VALUE overrides (fm_cfg_set_overrides): process-wide, set once. */
static const char *const *cfg_sets;
static int cfg_nsets;

void fm_cfg_set_overrides(const char *const *sets, int n)
{
    cfg_sets = sets;
    cfg_nsets = n > 0 && sets ? n : 0;
}

static cfg_pos pos_of(const yaml_node_t *node)
{
    cfg_pos p = { 1, 1 };
    if (node) {
        p.line = (int)node->start_mark.line + 1;
        p.col = (int)node->start_mark.column + 1;
    }
    return p;
}

static void add_line(cfg_loader *ld, const char *line)
{
    fm_err *err = ld->err;
    ld->nerr++;
    if (!err)
        return;
    if (ld->nerr == 1) {
        ld->owns_msg = err->code == FM_OK;
        fm_fail(err, FM_ECONFIG, "%s", line);
        ld->msglen = strlen(err->msg);
        return;
    }
    if (!ld->owns_msg)
        return;
    size_t n = strlen(line);
    if (ld->dropped || ld->msglen + 1 + n + CFG_MSG_RESERVE >= sizeof err->msg) {
        ld->dropped++;
        return;
    }
    err->msg[ld->msglen] = '\n';
    memcpy(err->msg + ld->msglen + 1, line, n + 1);
    ld->msglen += 1 + n;
}

/* Record `FILE:LINE:COL: KEY: MESSAGE`. */
static void report(cfg_loader *ld, cfg_pos at, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void report(cfg_loader *ld, cfg_pos at, const char *key, const char *fmt, ...)
{
    char line[CFG_LINE_MAX];
    va_list ap;
    /* a key set on the command line is reported as its override (line -1 - s: override s) */
    const char *set = ld->set_label ? ld->set_label : at.line < 0 ? cfg_sets[-1 - at.line] : NULL;
    int n = set ? snprintf(line, sizeof line, "%s: --set %s: %s: ", ld->name, set, key)
                : snprintf(line, sizeof line, "%s:%d:%d: %s: ", ld->name, at.line, at.col, key);
    if (n >= 0 && (size_t)n < sizeof line) {
        va_start(ap, fmt);
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
        va_end(ap);
    }
    add_line(ld, line);
}

/* Close the list: "... (N more errors)" if some did not fit. */
static void finish_errors(cfg_loader *ld)
{
    fm_err *err = ld->err;
    if (!err || !ld->owns_msg || !ld->dropped)
        return;
    snprintf(err->msg + ld->msglen, sizeof err->msg - ld->msglen, "\n... (%d more errors)", ld->dropped);
}

/* ---- explicit tags ---- */

/* The tag of node n as written (TAG_NONE if untagged); *text gets its name for messages. */
static int node_tag(const cfg_loader *ld, const yaml_node_t *n, const char **text)
{
    size_t lo = 0, hi = ld->ntags, at = n->start_mark.index;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ld->tags[mid].index < at)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < ld->ntags && ld->tags[lo].index == at; lo++)
        if (ld->tags[lo].kind == (int)n->type) {
            *text = ld->tags[lo].text;
            return ld->tags[lo].id;
        }
    *text = "";
    return TAG_NONE;
}

/* An explicit tag on n must be one of `allowed` (TAGS() bits): else report "PREFIXgot tag T,
 * expected WHAT (untagged or ...)" at n and return 0. *id gets the tag (TAG_NONE if none). */
static int tag_ok(cfg_loader *ld, const yaml_node_t *n, unsigned allowed, const char *key, const char *prefix,
                  const char *what, int *id)
{
    const char *text = "";
    *id = node_tag(ld, n, &text);
    if (*id == TAG_NONE || (allowed & TAGS(*id)))
        return 1;
    char list[96];
    cfg_buf b = { list, sizeof list, 0 };
    int count = 0, shown = 0;
    list[0] = '\0';
    for (int t = TAG_STR; t < TAG_OTHER; t++)
        count += (allowed & TAGS(t)) != 0;
    buf_printf(&b, "untagged");
    for (int t = TAG_STR; t < TAG_OTHER; t++)
        if (allowed & TAGS(t))
            buf_printf(&b, "%s%s", ++shown == count ? " or " : ", ", tag_names[t]);
    report(ld, pos_of(n), key, "%sgot tag %s, expected %s (%s)", prefix, text, what, list);
    return 0;
}

/* ---- scalars ---- */

static int is_plain(const yaml_node_t *n)
{
    return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE || n->data.scalar.style == YAML_ANY_SCALAR_STYLE;
}

static int text_is(const char *s, size_t n, const char *word)
{
    return strlen(word) == n && memcmp(s, word, n) == 0;
}

static int is_null_text(const char *s, size_t n)
{
    return n == 0 || text_is(s, n, "~") || text_is(s, n, "null") || text_is(s, n, "Null") ||
           text_is(s, n, "NULL");
}

/* What a node is, for "got ...": "\"text\"", "null", "a list", "a mapping". */
static void describe(cfg_buf *b, const yaml_node_t *n)
{
    if (!n) {
        buf_printf(b, "null");
    } else if (n->type == YAML_SEQUENCE_NODE) {
        buf_printf(b, "a list");
    } else if (n->type == YAML_MAPPING_NODE) {
        buf_printf(b, "a mapping");
    } else {
        const char *s = (const char *)n->data.scalar.value;
        size_t len = n->data.scalar.length;
        if (is_plain(n) && is_null_text(s, len)) {
            buf_printf(b, "null");
        } else {
            buf_putc(b, '"');
            buf_escaped(b, s, len, CFG_GOT_MAX);
            buf_putc(b, '"');
        }
    }
}

/* Integer literal: [+-]?[0-9]+ that fits in int64. */
static int parse_int(const char *s, size_t n, long long *v)
{
    size_t i = (n > 0 && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
    if (i == n)
        return 0;
    for (size_t j = i; j < n; j++)
        if (s[j] < '0' || s[j] > '9')
            return 0;
    errno = 0;
    char *end = NULL;
    *v = strtoll(s, &end, 10);
    return errno == 0 && end == s + n;
}

/* YAML 1.2 core float without .inf/.nan: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static int parse_double(const char *s, size_t n, double *v)
{
    size_t i = 0, digits = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, digits++;
    }
    if (digits == 0)
        return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t exp_digits = 0;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, exp_digits++;
        if (exp_digits == 0)
            return 0;
    }
    if (i != n)
        return 0;
    char *end = NULL;
    *v = strtod(s, &end); /* underflow (to a subnormal or 0): see is_tiny */
    return end == s + n && isfinite(*v);
}

/* A parsed number literal that is subnormal or underflowed to 0 (nonzero digits before the
 * exponent). Such values are never meant and break the solvers, so they are rejected. */
static int is_tiny(const char *s, size_t n, double v)
{
    if (v != 0.0)
        return fabs(v) < DBL_MIN;
    for (size_t i = 0; i < n && s[i] != 'e' && s[i] != 'E'; i++)
        if (s[i] >= '1' && s[i] <= '9')
            return 1;
    return 0;
}

static int parse_bool(const char *s, size_t n, int *v)
{
    static const char *const yes[] = { "true", "True", "yes", "Yes", "on", "On" };
    static const char *const no[] = { "false", "False", "no", "No", "off", "Off" };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (text_is(s, n, yes[i])) {
            *v = 1;
            return 1;
        }
        if (text_is(s, n, no[i])) {
            *v = 0;
            return 1;
        }
    }
    return 0;
}

static int choice_index(const cfg_key *k, const char *s, size_t n)
{
    for (int i = 0; k->choices[i]; i++)
        if (text_is(s, n, k->choices[i]))
            return i;
    return -1;
}

static const char *type_expect(cfg_type t)
{
    switch (t) {
    case CFG_INT: return "an integer";
    case CFG_DOUBLE: return "a number";
    case CFG_BOOL: return "a boolean";
    case CFG_STRING: return "a string";
    case CFG_ENUM_LIST: return "a list";
    case CFG_MATRIX: return "a list of rows of numbers";
    case CFG_INT_LIST: return "a list of integers";
    default: return "a value";
    }
}

static void *field(fm_config *cfg, const cfg_key *k)
{
    return (char *)cfg + k->offset;
}

static const void *cfield(const fm_config *cfg, const cfg_key *k)
{
    return (const char *)cfg + k->offset;
}

static void store_int(fm_config *cfg, const cfg_key *k, long long v)
{
    if (k->size == sizeof(int64_t)) {
        int64_t x = (int64_t)v;
        memcpy(field(cfg, k), &x, sizeof x);
    } else {
        int x = (int)v;
        memcpy(field(cfg, k), &x, sizeof x);
    }
}

static long long load_int(const fm_config *cfg, const cfg_key *k)
{
    if (k->size == sizeof(int64_t)) {
        int64_t x;
        memcpy(&x, cfield(cfg, k), sizeof x);
        return (long long)x;
    }
    int x;
    memcpy(&x, cfield(cfg, k), sizeof x);
    return x;
}

/* "got TEXT, expected [0 or ]a value in [lo, hi]" unless v is in range. */
static int check_range(const cfg_key *k, double v, const char *text, size_t n, cfg_buf *msg)
{
    int lo_ok = (k->open & CFG_LO_OPEN) ? v > k->min : v >= k->min;
    int hi_ok = (k->open & CFG_HI_OPEN) ? v < k->max : v <= k->max;
    if ((lo_ok && hi_ok) || (v == 0.0 && (k->flags & CFG_ZERO_OK)))
        return 1;
    buf_printf(msg, "got ");
    buf_escaped(msg, text, n, CFG_GOT_MAX);
    char lo = (k->open & CFG_LO_OPEN) ? '(' : '[', hi = (k->open & CFG_HI_OPEN) ? ')' : ']';
    const char *zero = (k->flags & CFG_ZERO_OK) ? "0 or " : "";
    if (k->type == CFG_INT)
        buf_printf(msg, ", expected %sa value in %c%lld, %lld%c", zero, lo, (long long)k->min, (long long)k->max,
                   hi);
    else
        buf_printf(msg, ", expected %sa value in %c%g, %g%c", zero, lo, k->min, k->max, hi);
    return 0;
}

static void tiny_message(cfg_buf *msg, const char *s, size_t n)
{
    buf_printf(msg, "got ");
    buf_escaped(msg, s, n, CFG_GOT_MAX);
    buf_printf(msg, ", expected 0 or a magnitude of at least %.17g (no subnormal numbers)", DBL_MIN);
}

/* A Slurm time limit as sbatch --time takes it: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS
 * (every field one or more digits), or "" (unset). */
static int check_slurm_time(const char *s, size_t n, cfg_buf *msg)
{
    size_t fields = 0, digits = 0;
    int day = 0, ok = n == 0;
    for (size_t i = 0; i <= n && n > 0; i++) {
        char c = i < n ? s[i] : '\0';
        if (c >= '0' && c <= '9') {
            digits++;
            continue;
        }
        if (digits == 0 || digits > 6 || (c != ':' && c != '-' && c != '\0') || (c == '-' && (day || fields)))
            break;
        day |= c == '-';
        fields++, digits = 0;
        if (c == '\0')
            ok = fields <= (day ? 4u : 3u);
    }
    if (ok)
        return 1;
    buf_printf(msg, "got \"");
    buf_escaped(msg, s, n, CFG_GOT_MAX);
    buf_printf(msg, "\", expected a Slurm time limit (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS) or \"\"");
    return 0;
}

static int check_dirname(const char *s, size_t n, cfg_buf *msg)
{
    if (n == 0) {
        buf_printf(msg, "got \"\", expected a non-empty name");
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-')) {
            buf_printf(msg, "got \"");
            buf_escaped(msg, s, n, CFG_GOT_MAX);
            buf_printf(msg, "\", expected only letters, digits, '.', '_' and '-' (it names a directory)");
            return 0;
        }
    }
    if (text_is(s, n, ".") || text_is(s, n, "..")) {
        buf_printf(msg, "got \"%.*s\", expected a directory name other than \".\" and \"..\"", (int)n, s);
        return 0;
    }
    return 1;
}

/* Parse scalar text for key k into cfg. `quoted`: the YAML scalar was quoted (a string).
 * On failure writes "got ..., expected ..." into msg and returns 0. */
static int set_scalar(const cfg_key *k, const char *s, size_t n, int quoted, fm_config *cfg, cfg_buf *msg)
{
    long long iv = 0;
    double dv = 0;
    int bv = 0;
    if (!quoted && is_null_text(s, n)) {
        buf_printf(msg, "got null, expected %s", k->type == CFG_ENUM ? "one of " : type_expect(k->type));
        if (k->type == CFG_ENUM)
            buf_choices(msg, k);
        return 0;
    }
    int ok = 1;
    switch (k->type) {
    case CFG_INT:
        ok = !quoted && parse_int(s, n, &iv);
        if (ok && !check_range(k, (double)iv, s, n, msg))
            return 0;
        if (ok)
            store_int(cfg, k, iv);
        break;
    case CFG_DOUBLE:
        ok = !quoted && parse_double(s, n, &dv);
        if (ok && is_tiny(s, n, dv)) {
            tiny_message(msg, s, n);
            return 0;
        }
        if (ok && !check_range(k, dv, s, n, msg))
            return 0;
        if (ok)
            memcpy(field(cfg, k), &dv, sizeof dv);
        break;
    case CFG_BOOL:
        ok = !quoted && parse_bool(s, n, &bv);
        if (ok)
            memcpy(field(cfg, k), &bv, sizeof bv);
        break;
    case CFG_STRING:
        if (memchr(s, '\0', n)) {
            buf_printf(msg, "got a string with a NUL character, expected text");
            return 0;
        }
        size_t longest = k->max > 0 ? (size_t)k->max : k->size - 1;
        if (n > longest) {
            buf_printf(msg, "got a string of %zu bytes, expected at most %zu", n, longest);
            return 0;
        }
        if ((k->flags & CFG_DIRPATH) && n == 0) {
            buf_printf(msg, "got \"\", expected a directory (write \".\" for the current one)");
            return 0;
        }
        if ((k->flags & CFG_DIRNAME) && !check_dirname(s, n, msg))
            return 0;
        if ((k->flags & CFG_SLURMTIME) && !check_slurm_time(s, n, msg))
            return 0;
        memset(field(cfg, k), 0, k->size);
        memcpy(field(cfg, k), s, n);
        break;
    case CFG_ENUM:
        iv = choice_index(k, s, n);
        if (iv < 0 && !quoted && strcmp(k->key, "merge.gl_normalize") == 0 && parse_bool(s, n, &bv))
            iv = bv ? FM_GL_NORM_DETERMINANT : FM_GL_NORM_NONE; /* the boolean of results files before issue 12 */
        if (iv < 0) {
            buf_printf(msg, "got \"");
            buf_escaped(msg, s, n, CFG_GOT_MAX);
            buf_printf(msg, "\", expected one of ");
            buf_choices(msg, k);
            return 0;
        }
        store_int(cfg, k, iv);
        break;
    default:
        ok = 0;
        break;
    }
    if (!ok) {
        buf_printf(msg, "got \"");
        buf_escaped(msg, s, n, CFG_GOT_MAX);
        buf_printf(msg, "\", expected %s%s", type_expect(k->type), quoted ? " (remove the quotes)" : "");
        return 0;
    }
    return 1;
}

/* ---- lists and matrices (need the document, report at the element) ---- */

static yaml_node_t *item(cfg_loader *ld, const yaml_node_t *seq, size_t i)
{
    return yaml_document_get_node(ld->doc, seq->data.sequence.items.start[i]);
}

static size_t seq_len(const yaml_node_t *seq)
{
    return (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
}

/* Report "got <node>, expected <what>" at node. */
static void report_got(cfg_loader *ld, const yaml_node_t *node, const char *key, const char *prefix,
                       const char *what)
{
    char text[256];
    cfg_buf b = { text, sizeof text, 0 };
    text[0] = '\0';
    describe(&b, node);
    report(ld, pos_of(node), key, "%sgot %s, expected %s", prefix, text, what);
}

static int set_enum_list(cfg_loader *ld, const cfg_key *k, const yaml_node_t *node)
{
    char choices[200], expect[256];
    cfg_buf c = { choices, sizeof choices, 0 };
    buf_choices(&c, k);
    snprintf(expect, sizeof expect, "one of %s", choices);
    if (node->type != YAML_SEQUENCE_NODE) {
        report_got(ld, node, k->key, "", "a list");
        return 0;
    }
    size_t n = seq_len(node), cap = k->size / sizeof(int);
    if (n == 0) {
        report(ld, pos_of(node), k->key, "got an empty list, expected at least one of %s", choices);
        return 0;
    }
    int *vals = field(ld->out, k), count = 0, ok = 1, tag = TAG_NONE;
    memset(vals, 0, k->size);
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *it = item(ld, node, i);
        int v = -1;
        if (!tag_ok(ld, it, TAGS(TAG_STR), k->key, "", "one of the choices", &tag)) {
            ok = 0;
            continue;
        }
        if (it->type == YAML_SCALAR_NODE)
            v = choice_index(k, (const char *)it->data.scalar.value, it->data.scalar.length);
        if (v < 0) {
            report_got(ld, it, k->key, "", expect);
            ok = 0;
            continue;
        }
        int dup = 0;
        for (int j = 0; j < count; j++)
            dup |= vals[j] == v;
        if (dup) {
            report(ld, pos_of(it), k->key, "got \"%s\" twice, expected each at most once", k->choices[v]);
            ok = 0;
            continue;
        }
        if ((size_t)count < cap) /* cannot overflow: no duplicates among cap choices */
            vals[count++] = v;
    }
    memcpy((char *)ld->out + k->count_offset, &count, sizeof count);
    return ok;
}

/* A non-empty list of integers, each in [min, max], at most as many as the field holds. */
static int set_int_list(cfg_loader *ld, const cfg_key *k, const yaml_node_t *node)
{
    if (node->type != YAML_SEQUENCE_NODE) {
        report_got(ld, node, k->key, "", type_expect(CFG_INT_LIST));
        return 0;
    }
    size_t n = seq_len(node), cap = k->size / sizeof(int);
    if (n == 0 || n > cap) {
        report(ld, pos_of(node), k->key, "got %zu entries, expected a list of 1 to %zu integers", n, cap);
        return 0;
    }
    int *vals = field(ld->out, k), count = 0, ok = 1;
    memset(vals, 0, k->size);
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *it = item(ld, node, i);
        char prefix[48], msg[256];
        cfg_buf b = { msg, sizeof msg, 0 };
        long long v = 0;
        int tag = TAG_NONE;
        snprintf(prefix, sizeof prefix, "entry %zu: ", i + 1);
        msg[0] = '\0';
        if (!tag_ok(ld, it, TAGS(TAG_INT), k->key, prefix, "an integer", &tag)) {
            ok = 0;
            continue;
        }
        const char *s = it->type == YAML_SCALAR_NODE ? (const char *)it->data.scalar.value : "";
        size_t len = it->type == YAML_SCALAR_NODE ? it->data.scalar.length : 0;
        if (it->type != YAML_SCALAR_NODE || (tag == TAG_NONE && !is_plain(it)) || !parse_int(s, len, &v)) {
            report_got(ld, it, k->key, prefix, "an integer");
            ok = 0;
            continue;
        }
        if (!check_range(k, (double)v, s, len, &b)) {
            report(ld, pos_of(it), k->key, "%s%s", prefix, msg);
            ok = 0;
            continue;
        }
        vals[count++] = (int)v;
    }
    memcpy((char *)ld->out + k->count_offset, &count, sizeof count);
    return ok;
}

/* Shape of a list of rows; reports the first problem. */
static int matrix_shape(cfg_loader *ld, const cfg_key *k, const yaml_node_t *node, int *rows, int *cols)
{
    if (node->type != YAML_SEQUENCE_NODE) {
        report_got(ld, node, k->key, "", type_expect(CFG_MATRIX));
        return 0;
    }
    size_t n = seq_len(node), m = 0;
    if (n == 0) {
        report(ld, pos_of(node), k->key, "got an empty list, expected %s", type_expect(CFG_MATRIX));
        return 0;
    }
    if (item(ld, node, 0)->type == YAML_SCALAR_NODE) {
        report(ld, pos_of(node), k->key, "got a list of numbers, expected %s (e.g. [[1, 0], [0, 1]])",
               type_expect(CFG_MATRIX));
        return 0;
    }
    for (size_t r = 0; r < n; r++) {
        const yaml_node_t *row = item(ld, node, r);
        char prefix[48];
        int tag = TAG_NONE;
        snprintf(prefix, sizeof prefix, "row %zu: ", r + 1);
        if (!tag_ok(ld, row, TAGS(TAG_SEQ), k->key, prefix, "a list of numbers", &tag))
            return 0;
        if (row->type != YAML_SEQUENCE_NODE) {
            report_got(ld, row, k->key, prefix, "a list of numbers");
            return 0;
        }
        size_t len = seq_len(row);
        if (len == 0) {
            report(ld, pos_of(row), k->key, "%sgot an empty list, expected a list of numbers", prefix);
            return 0;
        }
        if (r == 0) {
            m = len;
        } else if (len != m) {
            report(ld, pos_of(row), k->key, "%sgot length %zu, expected length %zu like row 1", prefix, len, m);
            return 0;
        }
    }
    if (n > FM_CFG_MAT_MAX || m > FM_CFG_MAT_MAX / n) {
        report(ld, pos_of(node), k->key, "got %zu x %zu = %zu entries, expected at most %d", n, m, n * m,
               FM_CFG_MAT_MAX);
        return 0;
    }
    *rows = (int)n;
    *cols = (int)m;
    return 1;
}

static int set_matrix(cfg_loader *ld, const cfg_key *k, const yaml_node_t *node)
{
    int rows = 0, cols = 0;
    fm_cfg_matrix *mat = field(ld->out, k);
    memset(mat, 0, sizeof *mat);
    if (!matrix_shape(ld, k, node, &rows, &cols))
        return 0;
    for (int r = 0; r < rows; r++) {
        const yaml_node_t *row = item(ld, node, (size_t)r);
        char prefix[48];
        snprintf(prefix, sizeof prefix, "row %d: ", r + 1);
        for (int c = 0; c < cols; c++) {
            const yaml_node_t *x = item(ld, row, (size_t)c);
            double v = 0;
            int tag = TAG_NONE;
            if (!tag_ok(ld, x, TAGS(TAG_INT) | TAGS(TAG_FLOAT), k->key, prefix, "a number", &tag)) {
                memset(mat, 0, sizeof *mat);
                return 0;
            }
            const char *s = x->type == YAML_SCALAR_NODE ? (const char *)x->data.scalar.value : "";
            size_t n = x->type == YAML_SCALAR_NODE ? x->data.scalar.length : 0;
            if (x->type != YAML_SCALAR_NODE || (tag == TAG_NONE && !is_plain(x)) || !parse_double(s, n, &v)) {
                report_got(ld, x, k->key, prefix, "a number");
                memset(mat, 0, sizeof *mat);
                return 0;
            }
            if (is_tiny(s, n, v) || fabs(v) > CFG_MAT_ABS_MAX) {
                char what[96];
                snprintf(what, sizeof what, "a number of magnitude 0 or in [%.17g, %g]", DBL_MIN, CFG_MAT_ABS_MAX);
                report_got(ld, x, k->key, prefix, what);
                memset(mat, 0, sizeof *mat);
                return 0;
            }
            mat->v[r * cols + c] = v;
        }
    }
    mat->rows = rows;
    mat->cols = cols;
    return 1;
}

/* The explicit tags allowed on a value of type t (TAGS() bits). */
static unsigned type_tags(cfg_type t)
{
    switch (t) {
    case CFG_INT: return TAGS(TAG_INT);
    case CFG_DOUBLE: return TAGS(TAG_INT) | TAGS(TAG_FLOAT);
    case CFG_BOOL: return TAGS(TAG_BOOL);
    case CFG_STRING:
    case CFG_ENUM: return TAGS(TAG_STR);
    default: return TAGS(TAG_SEQ);
    }
}

static int set_value(cfg_loader *ld, const cfg_key *k, const yaml_node_t *node)
{
    int tag = TAG_NONE;
    if (!tag_ok(ld, node, type_tags(k->type), k->key, "",
                k->type == CFG_ENUM ? "one of the choices" : type_expect(k->type), &tag))
        return 0;
    if (k->type == CFG_ENUM_LIST)
        return set_enum_list(ld, k, node);
    if (k->type == CFG_MATRIX)
        return set_matrix(ld, k, node);
    if (k->type == CFG_INT_LIST)
        return set_int_list(ld, k, node);
    if (node->type != YAML_SCALAR_NODE) {
        if (k->type == CFG_ENUM) {
            char expect[256];
            cfg_buf e = { expect, sizeof expect, 0 };
            buf_printf(&e, "one of ");
            buf_choices(&e, k);
            report_got(ld, node, k->key, "", expect);
        } else {
            report_got(ld, node, k->key, "", type_expect(k->type));
        }
        return 0;
    }
    const char *s = (const char *)node->data.scalar.value;
    size_t n = node->data.scalar.length;
    long long iv = 0;
    if (tag == TAG_INT && k->type == CFG_DOUBLE && !parse_int(s, n, &iv)) {
        char text[CFG_GOT_MAX + 8];
        cfg_buf t = { text, sizeof text, 0 };
        text[0] = '\0';
        buf_escaped(&t, s, n, CFG_GOT_MAX);
        report(ld, pos_of(node), k->key, "got !!int \"%s\", expected an integer literal (or no tag)", text);
        return 0;
    }
    char msg[512];
    cfg_buf b = { msg, sizeof msg, 0 };
    msg[0] = '\0';
    /* a standard tag says how to read the text: !!str as a string, the others as plain */
    int quoted = tag == TAG_STR ? 1 : tag != TAG_NONE ? 0 : !is_plain(node);
    if (set_scalar(k, s, n, quoted, ld->out, &b))
        return 1;
    report(ld, pos_of(node), k->key, "%s", msg);
    return 0;
}

/* ---- walking the document ---- */

static size_t section_len(const char *key)
{
    const char *dot = strchr(key, '.');
    return dot ? (size_t)(dot - key) : strlen(key);
}

static int is_section(const char *s, size_t n)
{
    for (size_t i = 0; i < CFG_NKEYS; i++)
        if (section_len(cfg_keys[i].key) == n && memcmp(cfg_keys[i].key, s, n) == 0)
            return 1;
    return 0;
}

static int find_key(const char *sec, const char *s, size_t n)
{
    size_t sl = strlen(sec);
    for (size_t i = 0; i < CFG_NKEYS; i++) {
        const char *key = cfg_keys[i].key;
        if (section_len(key) == sl && memcmp(key, sec, sl) == 0 && text_is(s, n, key + sl + 1))
            return (int)i;
    }
    return -1;
}

static int key_index(const char *key)
{
    for (size_t i = 0; i < CFG_NKEYS; i++)
        if (strcmp(cfg_keys[i].key, key) == 0)
            return (int)i;
    return -1;
}

static cfg_section *find_section(cfg_loader *ld, const char *s, size_t n)
{
    for (int i = 0; i < ld->nsec; i++)
        if (text_is(s, n, ld->sec[i].name))
            return &ld->sec[i];
    return NULL;
}

/* "section.key" (escaped) for messages about a key that may not exist. */
static void key_label(char *out, size_t cap, const char *sec, const yaml_node_t *key)
{
    cfg_buf b = { out, cap, 0 };
    out[0] = '\0';
    if (sec)
        buf_printf(&b, "%s.", sec);
    buf_escaped(&b, (const char *)key->data.scalar.value, key->data.scalar.length, CFG_GOT_MAX);
}

static void load_section(cfg_loader *ld, const char *sec, const yaml_node_t *map)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        const yaml_node_t *key = yaml_document_get_node(ld->doc, p->key);
        const yaml_node_t *val = yaml_document_get_node(ld->doc, p->value);
        char label[160];
        int tag = TAG_NONE;
        if (!tag_ok(ld, key, TAGS(TAG_STR), sec, "", "a key name", &tag))
            continue;
        if (key->type != YAML_SCALAR_NODE) {
            report_got(ld, key, sec, "key ", "a key name");
            continue;
        }
        int i = find_key(sec, (const char *)key->data.scalar.value, key->data.scalar.length);
        if (i < 0) {
            key_label(label, sizeof label, sec, key);
            report(ld, pos_of(key), label, "unknown key");
            continue;
        }
        if (ld->seen[i]) {
            report(ld, pos_of(key), cfg_keys[i].key, "duplicate key");
            continue;
        }
        ld->seen[i] = 1;
        ld->key_at[i] = pos_of(key);
        if (!set_value(ld, &cfg_keys[i], val))
            ld->bad[i] = 1;
    }
}

static void load_root(cfg_loader *ld, const yaml_node_t *root)
{
    int tag = TAG_NONE;
    if (!root) /* empty document: like an empty mapping */
        return;
    if (!tag_ok(ld, root, TAGS(TAG_MAP), "config", "", "a mapping", &tag)) {
        ld->root_bad = 1;
        return;
    }
    if (root->type != YAML_MAPPING_NODE) {
        report(ld, pos_of(root), "config", "expected a mapping");
        ld->root_bad = 1;
        return;
    }
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        const yaml_node_t *key = yaml_document_get_node(ld->doc, p->key);
        const yaml_node_t *val = yaml_document_get_node(ld->doc, p->value);
        char label[160];
        if (!tag_ok(ld, key, TAGS(TAG_STR), "config", "", "a section name", &tag))
            continue;
        if (key->type != YAML_SCALAR_NODE) {
            report_got(ld, key, "config", "key ", "a section name");
            continue;
        }
        const char *name = (const char *)key->data.scalar.value;
        size_t n = key->data.scalar.length;
        int sweep = text_is(name, n, "sweep");
        key_label(label, sizeof label, NULL, key);
        if (!sweep && !is_section(name, n)) {
            report(ld, pos_of(key), label, "unknown section");
            continue;
        }
        if (find_section(ld, name, n)) {
            report(ld, pos_of(key), label, "duplicate key");
            continue;
        }
        if (ld->nsec == CFG_MAX_SECTIONS) /* cannot happen: sections are unique and few */
            continue;
        cfg_section *sec = &ld->sec[ld->nsec++];
        sec->name = name;
        sec->at = pos_of(val);
        sec->bad = 0;
        if (sweep) { /* read after the sections (sweep values override them) */
            ld->sweep = val;
            continue;
        }
        if (!tag_ok(ld, val, TAGS(TAG_MAP), label, "", "a mapping", &tag)) {
            sec->bad = 1;
            continue;
        }
        if (val->type == YAML_SCALAR_NODE && is_plain(val) &&
            is_null_text((const char *)val->data.scalar.value, val->data.scalar.length))
            continue; /* "section:" with nothing under it */
        if (val->type != YAML_MAPPING_NODE) {
            report(ld, pos_of(val), label, "expected a mapping");
            sec->bad = 1;
            continue;
        }
        load_section(ld, name, val);
    }
}

/* ---- command-line overrides ---- */

/* One `--set KEY=VALUE`: VALUE is read as a YAML value (a scalar or a flow list such as [a, b])
 * and set exactly as the file's value of KEY would be, after the file (so it replaces the file's
 * value; a later --set of the same key wins). Explicit tags are not read in overrides. */
static void load_set(cfg_loader *ld, int s)
{
    const char *arg = cfg_sets[s], *eq = strchr(arg, '=');
    yaml_parser_t parser;
    yaml_document_t doc;
    char key[160];
    ld->set_label = arg;
    if (!eq || eq == arg) {
        report(ld, (cfg_pos){1, 1}, "--set", "expected KEY=VALUE, e.g. fleet.alpha=0.1");
        goto done;
    }
    snprintf(key, sizeof key, "%.*s", (int)((size_t)(eq - arg) < 150 ? eq - arg : 150), arg);
    int i = key_index(key);
    if (i < 0) {
        report(ld, (cfg_pos){1, 1}, key, "not a config key (expected section.key, e.g. fleet.alpha)");
        goto done;
    }
    if (!yaml_parser_initialize(&parser)) {
        report(ld, (cfg_pos){1, 1}, key, "cannot create a YAML parser");
        goto done;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)(eq + 1), strlen(eq + 1));
    int have = yaml_parser_load(&parser, &doc);
    const yaml_node_t *root = have ? yaml_document_get_root_node(&doc) : NULL;
    if (!have)
        report(ld, (cfg_pos){1, 1}, key, "not a YAML value: %s", parser.problem ? parser.problem : "parse error");
    else if (!root)
        report(ld, (cfg_pos){1, 1}, key, "expected a value after '='");
    else {
        yaml_document_t *file_doc = ld->doc;
        size_t ntags = ld->ntags;
        ld->doc = &doc, ld->ntags = 0; /* the override's own document; the file's tags do not apply */
        ld->seen[i] = 1;
        ld->key_at[i] = (cfg_pos){-1 - s, 0};
        ld->set_of[i] = s + 1;
        ld->bad[i] = !set_value(ld, &cfg_keys[i], root);
        ld->doc = file_doc, ld->ntags = ntags;
    }
    if (have)
        yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
done:
    ld->set_label = NULL;
}

static void load_sets(cfg_loader *ld)
{
    if (!ld->use_sets || ld->root_bad)
        return;
    for (int s = 0; s < cfg_nsets; s++)
        load_set(ld, s);
}

/* ---- sweeps ---- */

enum { SWEEP_MAX_POINTS = 10000000 };

/* The sweep's axes: a key with its list of values, or a zip group of keys whose lists vary
 * together. A key is swept at most once, so there are at most CFG_NKEYS keys and axes in all:
 * fixed arrays of that size hold any sweep, nothing is dropped. Axis a owns the keys
 * key[first .. first + nkeys). */
typedef struct sweep_axis {
    size_t len;      /* values of each of its keys */
    int first, nkeys;
} sweep_axis;

typedef struct sweep_plan {
    int naxes, nkeys;
    sweep_axis axis[CFG_NKEYS];
    int key[CFG_NKEYS];                 /* index into cfg_keys */
    const yaml_node_t *seq[CFG_NKEYS];  /* the key's list of values */
} sweep_plan;

/* A non-empty list of values for key i, each valid for the key (checked on a scratch config). */
static int sweep_values(cfg_loader *ld, int i, const yaml_node_t *seq, const char *label)
{
    int tag = TAG_NONE;
    if (!tag_ok(ld, seq, TAGS(TAG_SEQ), label, "", "a non-empty list of values", &tag))
        return 0;
    if (seq->type != YAML_SEQUENCE_NODE || seq_len(seq) == 0) {
        report_got(ld, seq, label, "", "a non-empty list of values");
        return 0;
    }
    fm_config *scratch = malloc(sizeof *scratch), *real = ld->out;
    if (!scratch) {
        report(ld, pos_of(seq), label, "out of memory checking the values");
        return 0;
    }
    int good = 1;
    ld->out = scratch;
    for (size_t v = 0; v < seq_len(seq); v++) {
        memcpy(scratch, real, sizeof *scratch);
        good &= set_value(ld, &cfg_keys[i], item(ld, seq, v));
    }
    ld->out = real;
    free(scratch);
    return good;
}

/* One entry `key: [values]` (or `seeds: [...]`) of the axis being built, plan->axis[naxes]. */
static int sweep_key(cfg_loader *ld, const yaml_node_t *key, const yaml_node_t *val, sweep_plan *plan,
                     unsigned char *used)
{
    char name[160], label[200];
    int tag = TAG_NONE;
    if (!tag_ok(ld, key, TAGS(TAG_STR), "sweep", "", "a key name", &tag))
        return 0;
    if (key->type != YAML_SCALAR_NODE) {
        report_got(ld, key, "sweep", "key ", "a key name");
        return 0;
    }
    size_t n = key->data.scalar.length;
    snprintf(name, sizeof name, "%.*s", (int)(n < 150 ? n : 150), (const char *)key->data.scalar.value);
    int i = text_is(name, strlen(name), "seeds") ? key_index("experiment.seed") : key_index(name);
    snprintf(label, sizeof label, "sweep.%s", name);
    if (i < 0) {
        report(ld, pos_of(key), label, "not a config key (expected section.key, e.g. fleet.alpha)");
        return 0;
    }
    if (used[i]) {
        report(ld, pos_of(key), label, "swept twice");
        return 0;
    }
    used[i] = 1;
    if (ld->set_of[i]) {
        report(ld, pos_of(key), label, "also set by --set %s: a swept key takes its values from the sweep",
               cfg_sets[ld->set_of[i] - 1]);
        return 0;
    }
    if (!sweep_values(ld, i, val, label))
        return 0;
    sweep_axis *ax = &plan->axis[plan->naxes];
    if (ax->nkeys > 0 && seq_len(val) != ax->len) {
        report(ld, pos_of(val), label, "got %zu values, expected %zu like the rest of its zip group",
               seq_len(val), ax->len);
        return 0;
    }
    /* used[] makes every key unique, so the plan cannot be full here */
    ax->len = seq_len(val);
    plan->key[plan->nkeys] = i, plan->seq[plan->nkeys] = val;
    plan->nkeys++, ax->nkeys++;
    return 1;
}

/* Start axis plan->axis[naxes]; end_axis keeps it if it has keys and all were good. */
static void begin_axis(sweep_plan *plan)
{
    plan->axis[plan->naxes] = (sweep_axis){ .len = 0, .first = plan->nkeys, .nkeys = 0 };
}

static void end_axis(sweep_plan *plan, int good)
{
    sweep_axis *ax = &plan->axis[plan->naxes];
    if (good && ax->nkeys > 0)
        plan->naxes++;
    else
        plan->nkeys = ax->first;
}

/* A `zip: [{k1: [...], k2: [...]}, ...]` entry: one axis per group. */
static int sweep_zip(cfg_loader *ld, const yaml_node_t *val, sweep_plan *plan, unsigned char *used)
{
    int good = 1, tag = TAG_NONE;
    if (!tag_ok(ld, val, TAGS(TAG_SEQ), "sweep.zip", "", "a list of mappings of equal-length lists", &tag))
        return 0;
    if (val->type != YAML_SEQUENCE_NODE) {
        report_got(ld, val, "sweep.zip", "", "a list of mappings of equal-length lists");
        return 0;
    }
    for (size_t g = 0; g < seq_len(val); g++) {
        const yaml_node_t *grp = item(ld, val, g);
        if (!tag_ok(ld, grp, TAGS(TAG_MAP), "sweep.zip", "", "a mapping of equal-length lists", &tag)) {
            good = 0;
            continue;
        }
        if (grp->type != YAML_MAPPING_NODE) {
            report_got(ld, grp, "sweep.zip", "", "a mapping of equal-length lists");
            good = 0;
            continue;
        }
        int ok_grp = 1;
        begin_axis(plan);
        for (yaml_node_pair_t *q = grp->data.mapping.pairs.start; q < grp->data.mapping.pairs.top; q++)
            ok_grp &= sweep_key(ld, yaml_document_get_node(ld->doc, q->key),
                                yaml_document_get_node(ld->doc, q->value), plan, used);
        end_axis(plan, ok_grp);
        good &= ok_grp;
    }
    return good;
}

/* The axes of the sweep section into plan; 0 after reporting problems. */
static int sweep_axes(cfg_loader *ld, sweep_plan *plan)
{
    unsigned char used[CFG_NKEYS] = {0};
    int good = 1, tag = TAG_NONE;
    const yaml_node_t *m = ld->sweep;
    plan->naxes = plan->nkeys = 0;
    if (!tag_ok(ld, m, TAGS(TAG_MAP), "sweep", "", "a mapping", &tag))
        return 0;
    if (m->type != YAML_MAPPING_NODE) {
        report(ld, pos_of(m), "sweep", "expected a mapping");
        return 0;
    }
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        const yaml_node_t *key = yaml_document_get_node(ld->doc, p->key);
        const yaml_node_t *val = yaml_document_get_node(ld->doc, p->value);
        if (key->type == YAML_SCALAR_NODE &&
            text_is((const char *)key->data.scalar.value, key->data.scalar.length, "zip")) {
            if (tag_ok(ld, key, TAGS(TAG_STR), "sweep", "", "a key name", &tag))
                good &= sweep_zip(ld, val, plan, used);
            else
                good = 0;
            continue;
        }
        begin_axis(plan);
        int ok = sweep_key(ld, key, val, plan, used);
        end_axis(plan, ok);
        good &= ok;
    }
    return good;
}

/* A value as flow-style text: scalars as written, lists as [a, b] (nested), mappings as {...}. */
static void flow_text(cfg_loader *ld, const yaml_node_t *v, cfg_buf *b)
{
    if (v->type == YAML_SCALAR_NODE) {
        buf_escaped(b, (const char *)v->data.scalar.value, v->data.scalar.length, 200);
    } else if (v->type == YAML_SEQUENCE_NODE) {
        buf_putc(b, '[');
        for (size_t i = 0; i < seq_len(v); i++) {
            if (i)
                buf_printf(b, ", ");
            flow_text(ld, item(ld, v, i), b);
        }
        buf_putc(b, ']');
    } else {
        buf_printf(b, "{...}");
    }
}

/* Apply point ld->point's values to ld->out; its overrides text ends with "..." if cut. */
static void apply_point(cfg_loader *ld, const sweep_plan *plan)
{
    fm_config *c = ld->out;
    cfg_buf ov = { c->sweep.overrides, sizeof c->sweep.overrides, 0 };
    size_t idx = (size_t)ld->point, digit[CFG_NKEYS];
    for (int a = plan->naxes - 1; a >= 0; a--) /* the last axis varies fastest */
        digit[a] = idx % plan->axis[a].len, idx /= plan->axis[a].len;
    for (int a = 0; a < plan->naxes; a++)
        for (int j = plan->axis[a].first; j < plan->axis[a].first + plan->axis[a].nkeys; j++) {
            int i = plan->key[j];
            const yaml_node_t *v = item(ld, plan->seq[j], digit[a]);
            ld->seen[i] = 1;
            ld->key_at[i] = pos_of(v);
            ld->bad[i] = !set_value(ld, &cfg_keys[i], v);
            buf_printf(&ov, "%s%s=", ov.len ? " " : "", cfg_keys[i].key);
            flow_text(ld, v, &ov);
        }
    if (ov.len >= ov.cap)
        memcpy(c->sweep.overrides + ov.cap - 4, "...", 4);
    c->sweep.index = ld->point;
}

/* Count the points, validate every value, and apply point ld->point's values to ld->out. */
static void load_sweep(cfg_loader *ld)
{
    sweep_plan *plan = NULL;
    fm_config *c = ld->out;
    c->sweep.count = 1, c->sweep.index = -1, c->sweep.overrides[0] = '\0';
    if (!ld->sweep) {
        if (ld->point >= 0)
            report(ld, (cfg_pos){1, 1}, "sweep", "got --sweep-index %d, but the config has no sweep section", ld->point);
        return;
    }
    plan = malloc(sizeof *plan);
    if (!plan) {
        report(ld, pos_of(ld->sweep), "sweep", "out of memory reading the sweep section");
        return;
    }
    if (!sweep_axes(ld, plan))
        goto done;
    double count = 1;
    for (int a = 0; a < plan->naxes; a++)
        count *= (double)plan->axis[a].len;
    if (count > SWEEP_MAX_POINTS) {
        report(ld, pos_of(ld->sweep), "sweep", "got %.0f points, expected at most %d", count, SWEEP_MAX_POINTS);
        goto done;
    }
    c->sweep.count = (int)count;
    if (ld->point < 0)
        goto done;
    if (ld->point >= c->sweep.count) {
        report(ld, pos_of(ld->sweep), "sweep", "got index %d, expected an index in [0, %d)", ld->point, c->sweep.count);
        goto done;
    }
    apply_point(ld, plan);
done:
    free(plan);
}

/* ---- checks after the pass ---- */

static void check_required(cfg_loader *ld)
{
    if (ld->root_bad)
        return;
    for (size_t i = 0; i < CFG_NKEYS; i++) {
        const cfg_key *k = &cfg_keys[i];
        if (!(k->flags & CFG_REQUIRED) || ld->seen[i])
            continue;
        cfg_section *sec = find_section(ld, k->key, section_len(k->key));
        if (sec && sec->bad)
            continue;
        cfg_pos at = { 1, 1 };
        report(ld, sec ? sec->at : at, k->key, "missing required key");
    }
}

/* Where to report key i: the key if given, else its section, else 1:1. */
static cfg_pos where(cfg_loader *ld, int i)
{
    cfg_pos at = { 1, 1 };
    if (ld->seen[i])
        return ld->key_at[i];
    const char *key = cfg_keys[i].key;
    cfg_section *sec = find_section(ld, key, section_len(key));
    return sec ? sec->at : at;
}

/* State dimension n of the system, 0 if unknown (bad or missing A). */
static int state_dim(const fm_config *c)
{
    switch (c->env.system) {
    case FM_SYS_MILD_UNSTABLE:
    case FM_SYS_STABLE: return 4;
    case FM_SYS_ODD_UNSTABLE: return 3;
    case FM_SYS_CUSTOM: return c->env.A.rows == c->env.A.cols ? c->env.A.rows : 0;
    default: return 0;
    }
}

static void check_matrices(cfg_loader *ld)
{
    const fm_config *c = ld->out;
    int sys = key_index("env.system"), ia = key_index("env.A"), ib = key_index("env.B");
    const fm_cfg_matrix *a = &c->env.A, *b = &c->env.B;
    if (!ld->bad[sys]) {
        for (int j = 0; j < 2; j++) {
            int i = j ? ib : ia;
            const fm_cfg_matrix *m = j ? b : a;
            if (c->env.system == FM_SYS_CUSTOM && !ld->bad[i] && m->rows == 0)
                report(ld, where(ld, i), cfg_keys[i].key, "required with system: custom");
            if (c->env.system != FM_SYS_CUSTOM && m->rows > 0)
                report(ld, where(ld, i), cfg_keys[i].key, "only allowed with system: custom");
        }
    }
    if (a->rows > 0 && a->rows != a->cols)
        report(ld, where(ld, ia), "env.A", "got a %d x %d matrix, expected a square one", a->rows, a->cols);
    if (a->rows > 0 && b->rows > 0 && b->rows != a->rows)
        report(ld, where(ld, ib), "env.B", "got a %d x %d matrix, expected %d rows (the rows of env.A)", b->rows,
               b->cols, a->rows);
}

static void check_observation(cfg_loader *ld)
{
    const fm_config *c = ld->out;
    int ic = key_index("env.C"), obs = key_index("env.obs"), per = key_index("env.obs_per_task");
    int sys = key_index("env.system");
    const fm_cfg_matrix *m = &c->env.C;
    if (m->rows == 0)
        return;
    if (!ld->bad[obs] && c->env.obs != FM_OBS_PROJECTED)
        report(ld, where(ld, ic), "env.C", "only allowed with obs: projected");
    if (!ld->bad[per] && c->env.obs_per_task)
        report(ld, where(ld, ic), "env.C", "not allowed with obs_per_task: true (each task draws its own C)");
    int n = ld->bad[sys] ? 0 : state_dim(c);
    if (n > 0 && m->cols != n)
        report(ld, where(ld, ic), "env.C", "got a %d x %d matrix, expected %d columns (the state dimension)",
               m->rows, m->cols, n);
}

static double key_double(const fm_config *cfg, int i)
{
    double v = 0;
    memcpy(&v, cfield(cfg, &cfg_keys[i]), sizeof v);
    return v;
}

/* The double keys lo_key <= hi_key. The message goes to the lower bound unless only the upper
 * one was given (then the upper one is the value the user got wrong). */
static void check_order(cfg_loader *ld, const char *lo_key, const char *hi_key)
{
    int lo = key_index(lo_key), hi = key_index(hi_key);
    double a = key_double(ld->out, lo), b = key_double(ld->out, hi);
    if (ld->bad[lo] || ld->bad[hi] || a <= b)
        return;
    if (ld->seen[lo] || !ld->seen[hi])
        report(ld, where(ld, lo), lo_key, "got %g, expected a value <= %s (%g)", a, hi_key, b);
    else
        report(ld, where(ld, hi), hi_key, "got %g, expected a value >= %s (%g)", b, lo_key, a);
}

/* Linear policies belong to the linear-control benchmark, neural ones to the others. */
static void check_arch(cfg_loader *ld)
{
    fm_config *c = ld->out;
    int ia = key_index("policy.arch"), ik = key_index("env.kind"), im = key_index("merge.methods");
    if (!ld->bad[ik] && c->env.kind != FM_ENV_LQG && !ld->seen[im]) {
        c->merge.num_methods = 1; /* kind-dependent default: the linear merges need lqg */
        memset(c->merge.methods, 0, sizeof c->merge.methods);
        c->merge.methods[0] = FM_MERGE_AVERAGE;
    }
    if (!ld->bad[ik] && !ld->bad[im] && c->env.kind != FM_ENV_LQG)
        for (int j = 0; j < c->merge.num_methods; j++)
            if (c->merge.methods[j] == FM_MERGE_LINEAR_PERM || c->merge.methods[j] == FM_MERGE_LINEAR_GL)
                report(ld, where(ld, im), "merge.methods", "got %s, which merges linear policies only "
                       "(kind: lqg)", fm_cfg_enum_name("merge.methods", c->merge.methods[j]));
    if (!ld->bad[ik] && !ld->bad[im] && c->env.kind == FM_ENV_LQG)
        for (int j = 0; j < c->merge.num_methods; j++)
            if (c->merge.methods[j] > FM_MERGE_LINEAR_GL)
                report(ld, where(ld, im), "merge.methods", "got %s, which merges neural policies only "
                       "(not kind: lqg)", fm_cfg_enum_name("merge.methods", c->merge.methods[j]));
    int il = key_index("fleet.local_policy");
    if (!ld->bad[ik] && !ld->bad[il] && c->env.kind != FM_ENV_LQG && c->fleet.local_policy == FM_LOCAL_EXPERT)
        report(ld, where(ld, il), "fleet.local_policy", "got expert, which exists for kind: lqg only (got kind: %s)",
               fm_cfg_enum_name("env.kind", c->env.kind));
    int io = key_index("env.obs"), ih = key_index("policy.hidden_dim");
    if (!ld->bad[ik] && !ld->bad[il] && !ld->bad[ia] && !ld->bad[io] && !ld->bad[ih] && c->env.kind == FM_ENV_LQG &&
        c->fleet.local_policy == FM_LOCAL_EXPERT) { /* the experts' class: static K (LQR), dynamic in R^n (LQG) */
        int lqr = c->env.obs == FM_OBS_STATE;
        if (lqr ? c->policy.arch != FM_ARCH_STATIC_LINEAR
                : c->policy.arch != FM_ARCH_DYNAMIC_LINEAR || c->policy.hidden_dim != 0)
            report(ld, where(ld, il), "fleet.local_policy", "got expert, whose %s; use %s",
                   lqr ? "LQR experts are static (u = K y)" : "LQG experts are dynamic with the system's state dimension",
                   lqr ? "policy.arch: static_linear" : "policy.arch: dynamic_linear with policy.hidden_dim: 0");
    }
    if (ld->bad[ia] || ld->bad[ik] || !ld->seen[ia] || !ld->seen[ik])
        return;
    int linear = c->policy.arch == FM_ARCH_STATIC_LINEAR || c->policy.arch == FM_ARCH_DYNAMIC_LINEAR;
    if (c->env.kind == FM_ENV_LQG && !linear)
        report(ld, where(ld, ia), "policy.arch", "got %s, expected static_linear or dynamic_linear for kind: lqg",
               fm_cfg_enum_name("policy.arch", c->policy.arch));
    if (c->env.kind != FM_ENV_LQG && c->env.kind != FM_ENV_SUPERVISED && c->policy.arch == FM_ARCH_CNN)
        report(ld, where(ld, ia), "policy.arch", "got cnn, expected mlp or rnn for kind: %s (cnn needs image "
               "observations: env.kind supervised)", fm_cfg_enum_name("env.kind", c->env.kind));
    if (c->env.kind != FM_ENV_LQG && linear)
        report(ld, where(ld, ia), "policy.arch", "got %s, expected mlp or rnn for kind: %s",
               fm_cfg_enum_name("policy.arch", c->policy.arch), fm_cfg_enum_name("env.kind", c->env.kind));
    int iu = key_index("train.batch_unit"), iw = key_index("train.window");
    if (!ld->bad[iu] && c->train.batch_unit == FM_BATCH_STEPS && c->policy.arch == FM_ARCH_RNN)
        report(ld, where(ld, iu), "train.batch_unit", "got steps, which needs policy.arch: mlp (an rnn trains on "
               "sequences; use train.window for shorter ones)");
    if (!ld->bad[iu] && !ld->bad[iw] && c->train.batch_unit == FM_BATCH_STEPS && c->train.window > 0)
        report(ld, where(ld, iw), "train.window", "got %d, expected 0 with train.batch_unit: steps (a minibatch "
               "entry is one step)", c->train.window);
    int iv = key_index("eval.val_demos"), id = key_index("fleet.data");
    if (!ld->bad[iv] && !ld->bad[id] && c->eval.val_demos > 0 && c->fleet.data[0])
        report(ld, where(ld, iv), "eval.val_demos", "got %d, expected 0 with fleet.data (held-out demonstrations "
               "are generated by the run; hold some out in the file instead)", c->eval.val_demos);
}

/* Merging rounds: neural policies, one merge method. */
static void check_rounds(cfg_loader *ld)
{
    const fm_config *c = ld->out;
    int ir = key_index("fleet.rounds"), im = key_index("merge.methods");
    if (ld->bad[ir] || c->fleet.rounds == 0)
        return;
    if (c->env.kind == FM_ENV_LQG)
        report(ld, where(ld, ir), "fleet.rounds", "got %d, expected 0: merging rounds need neural policies", c->fleet.rounds);
    if (!ld->bad[im] && c->merge.num_methods != 1)
        report(ld, where(ld, im), "merge.methods", "got %d methods, expected one with fleet.rounds > 0",
               c->merge.num_methods);
    int is = key_index("train.nn_steps");
    if (!ld->bad[is] && c->train.nn_steps > 0)
        report(ld, where(ld, is), "train.nn_steps", "got %d, expected 0 with fleet.rounds > 0 (rounds count "
               "fleet.local_epochs per round)", c->train.nn_steps);
}

/* Online RL: the cart-pole dynamics, an MLP, no demonstrations or merging rounds; whole batches. */
static void check_rl(cfg_loader *ld)
{
    const fm_config *c = ld->out;
    int ie = key_index("rl.enabled"), ik = key_index("env.kind"), ia = key_index("policy.arch");
    if (ld->bad[ie] || !c->rl.enabled)
        return;
    if (!ld->bad[ik] && ld->seen[ik] && c->env.kind != FM_ENV_CARTPOLE)
        report(ld, where(ld, ie), "rl.enabled", "got true with env.kind %s, expected env.kind cartpole (online RL "
               "runs on the cart-pole dynamics)", fm_cfg_enum_name("env.kind", c->env.kind));
    if (!ld->bad[ia] && ld->seen[ia] && c->policy.arch != FM_ARCH_MLP)
        report(ld, where(ld, ia), "policy.arch", "got %s, expected mlp with rl.enabled",
               fm_cfg_enum_name("policy.arch", c->policy.arch));
    int ir = key_index("fleet.rounds"), id = key_index("fleet.data");
    if (!ld->bad[ir] && c->fleet.rounds > 0)
        report(ld, where(ld, ir), "fleet.rounds", "got %d, expected 0 with rl.enabled (rl.merge_every sets how "
               "often the policies are averaged)", c->fleet.rounds);
    if (!ld->bad[id] && c->fleet.data[0])
        report(ld, where(ld, id), "fleet.data", "got a demonstrations file, expected \"\" with rl.enabled (online "
               "RL collects its own episodes)");
    int ib = key_index("rl.batch"), im = key_index("rl.merge_every"), in = key_index("rl.episodes");
    if (!ld->bad[ib] && !ld->bad[im] && c->rl.merge_every % c->rl.batch != 0)
        report(ld, where(ld, im), "rl.merge_every", "got %d, expected a multiple of rl.batch (%d): policies are "
               "averaged between Adam steps", c->rl.merge_every, c->rl.batch);
    if (!ld->bad[ib] && !ld->bad[in] && c->rl.episodes % c->rl.batch != 0)
        report(ld, where(ld, in), "rl.episodes", "got %d, expected a multiple of rl.batch (%d)", c->rl.episodes,
               c->rl.batch);
    int iff = key_index("rl.force"), icf = key_index("env.cp_force_max");
    if (!ld->bad[iff] && !ld->bad[icf] && c->rl.force > c->env.cp_force_max)
        report(ld, where(ld, iff), "rl.force", "got %g, expected at most env.cp_force_max (%g N)", c->rl.force,
               c->env.cp_force_max);
}

/* Noise-free dynamics only with full-state observations: the Kalman filter of an unstable
 * system has no stabilizing solution without process noise. */
static void check_noise(cfg_loader *ld)
{
    const fm_config *c = ld->out;
    int ik = key_index("env.kind"), io = key_index("env.obs"), ip = key_index("env.process_noise");
    if (ld->bad[ik] || ld->bad[io] || ld->bad[ip] || c->env.kind != FM_ENV_LQG || c->env.obs != FM_OBS_PROJECTED)
        return;
    if (c->env.process_noise == 0.0)
        report(ld, where(ld, ip), "env.process_noise",
               "got 0, expected a value > 0 with obs: projected (the Kalman filter needs process noise)");
}

/* The default results path <output_dir>/<name>[/<I>]/results.h5 fits FM_CFG_RESULTS_PATH_MAX. */
static void check_results_path(cfg_loader *ld)
{
    const fm_config *c = ld->out;
    int in = key_index("experiment.name"), id = key_index("experiment.output_dir");
    if (ld->bad[in] || ld->bad[id] || !ld->seen[in])
        return;
    size_t len = strlen(c->experiment.output_dir) + 1 + strlen(c->experiment.name) + strlen("/results.h5");
    if (ld->sweep) /* "/<I>", I up to count - 1 */
        len += (size_t)snprintf(NULL, 0, "/%d", c->sweep.count > 1 ? c->sweep.count - 1 : 0);
    if (len <= FM_CFG_RESULTS_PATH_MAX)
        return;
    int at = ld->seen[id] ? id : in;
    report(ld, where(ld, at), cfg_keys[at].key,
           "got a results path <output_dir>/<name>%s/results.h5 of %zu characters, expected at most %d "
           "(an MPI-IO limit; shorten output_dir or name)", ld->sweep ? "/<I>" : "", len, FM_CFG_RESULTS_PATH_MAX);
}

/* Ranges: checked for every env.kind (an empty range is wrong whether or not it is used). */
static void check_ranges(cfg_loader *ld)
{
    check_order(ld, "env.q_log_min", "env.q_log_max");
    check_order(ld, "env.cp_length_min", "env.cp_length_max");
    check_order(ld, "env.cp_pole_mass_min", "env.cp_pole_mass_max");
    check_order(ld, "env.cp_cart_mass_min", "env.cp_cart_mass_max");
    int tp = key_index("env.tu_points");
    if (!ld->bad[tp] && ld->out->env.tu_points % 2 != 0)
        report(ld, where(ld, tp), "env.tu_points", "got %d, expected an even number (half tool, half object points)",
               ld->out->env.tu_points);
    int nt = key_index("env.num_tasks"), kd = key_index("env.kind");
    if (!ld->bad[nt] && !ld->bad[kd] && ld->out->env.kind == FM_ENV_MULTITASK && ld->out->env.num_tasks > FM_MT_TABLE)
        report(ld, where(ld, nt), "env.num_tasks", "got %d, expected at most %d with env.kind multitask (the MT-10 "
               "table has %d tasks)", ld->out->env.num_tasks, FM_MT_TABLE, FM_MT_TABLE);
    if (!ld->bad[kd] && ld->out->env.kind == FM_ENV_SUPERVISED) { /* what classification has no use for */
        const fm_config *c = ld->out;
        int ia = key_index("policy.arch"), iv = key_index("eval.val_demos"), iff = key_index("eval.finetune_demos");
        if (!ld->bad[nt] && c->env.num_tasks > 256)
            report(ld, where(ld, nt), "env.num_tasks", "got %d classes, expected at most 256 with env.kind supervised",
                   c->env.num_tasks);
        int text = c->env.sv_kind == FM_SV_TEXT;
        if (!ld->bad[ia] && !ld->bad[key_index("env.sv_kind")] &&
            (text ? c->policy.arch != FM_ARCH_RNN : c->policy.arch != FM_ARCH_MLP && c->policy.arch != FM_ARCH_CNN))
            report(ld, where(ld, ia), "policy.arch", "got %s, expected %s with env.kind supervised (%s)",
                   fm_cfg_enum_name("policy.arch", c->policy.arch), text ? "rnn" : "mlp or cnn", text ? "text" : "images");
        int ik2 = key_index("policy.conv_kernel");
        if (!ld->bad[ia] && !ld->bad[ik2] && c->policy.arch == FM_ARCH_CNN && c->policy.conv_kernel % 2 == 0)
            report(ld, where(ld, ik2), "policy.conv_kernel", "got %d, expected an odd size ('same' padding "
                   "conv_kernel / 2)", c->policy.conv_kernel);
        if (!ld->bad[iv] && c->eval.val_demos > 0)
            report(ld, where(ld, iv), "eval.val_demos", "got %d, expected 0 with env.kind supervised (the test set "
                   "is the held-out evaluation)", c->eval.val_demos);
        if (!ld->bad[iff] && c->eval.finetune_demos > 0)
            report(ld, where(ld, iff), "eval.finetune_demos", "got %d, expected 0 with env.kind supervised",
                   c->eval.finetune_demos);
    }
}

/* ---- loading ---- */

static void copy_source(fm_config *out, const char *name)
{
    size_t n = strlen(name);
    if (n >= sizeof out->source)
        n = sizeof out->source - 1; /* messages use the full name; `source` keeps a prefix */
    memset(out->source, 0, sizeof out->source);
    memcpy(out->source, name, n);
}

/* Line and column (1-based; columns count characters, like libyaml's marks) of byte `offset`. */
static cfg_pos pos_of_offset(const char *text, size_t len, size_t offset)
{
    cfg_pos at = { 1, 1 };
    size_t i = (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) ? 3 : 0; /* libyaml skips a BOM */
    if (offset > len)
        offset = len;
    for (; i < offset; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '\n' || (c == '\r' && (i + 1 == len || text[i + 1] != '\n')))
            at.line++, at.col = 1;
        else if ((c & 0xc0) != 0x80 && c != '\r') /* not a UTF-8 continuation byte */
            at.col++;
    }
    return at;
}

static void report_yaml(cfg_loader *ld, const yaml_parser_t *parser)
{
    const char *problem = parser->problem ? parser->problem : "cannot parse the document";
    if (parser->error == YAML_READER_ERROR) { /* encoding errors: no problem_mark, a byte offset */
        cfg_pos at = pos_of_offset(ld->text, ld->len, parser->problem_offset);
        if (parser->problem_value >= 0)
            report(ld, at, "yaml", "%s (byte 0x%02x)", problem, (unsigned)parser->problem_value);
        else
            report(ld, at, "yaml", "%s", problem);
        return;
    }
    cfg_pos at = { (int)parser->problem_mark.line + 1, (int)parser->problem_mark.column + 1 };
    report(ld, at, "yaml", "%s", problem);
}

/* TAG_* of a resolved tag ("tag:yaml.org,2002:int" for !!int). */
static int tag_id(const char *tag)
{
    static const char core[] = "tag:yaml.org,2002:";
    if (strncmp(tag, core, sizeof core - 1) != 0)
        return TAG_OTHER;
    for (int t = TAG_STR; t < TAG_OTHER; t++)
        if (strcmp(tag + sizeof core - 1, tag_names[t] + 2) == 0)
            return t;
    return TAG_OTHER;
}

/* Record the explicit tag (NULL: none) of a node of `kind` that starts at `mark`. */
static fm_status add_tag(cfg_loader *ld, const yaml_char_t *tag, yaml_mark_t mark, int kind, fm_err *err)
{
    static const char core[] = "tag:yaml.org,2002:";
    fm_status status = FM_OK;
    if (!tag)
        goto cleanup;
    if (ld->ntags == ld->tags_cap) {
        size_t cap = ld->tags_cap ? 2 * ld->tags_cap : 16;
        cfg_tag *grown = realloc(ld->tags, cap * sizeof *grown);
        FM_CHECK(grown, FM_ENOMEM, "%s: out of memory reading YAML tags", ld->name);
        ld->tags = grown, ld->tags_cap = cap;
    }
    cfg_tag *t = &ld->tags[ld->ntags++];
    const char *s = (const char *)tag;
    cfg_buf b = { t->text, sizeof t->text, 0 };
    t->index = mark.index, t->kind = kind, t->id = tag_id(s);
    t->text[0] = '\0';
    if (strncmp(s, core, sizeof core - 1) == 0) { /* shown as written: !!name */
        buf_printf(&b, "!!");
        s += sizeof core - 1;
    }
    buf_escaped(&b, s, strlen(s), CFG_TAG_TEXT - 8);
cleanup:
    return status;
}

static int tag_order(const void *a, const void *b)
{
    const cfg_tag *x = a, *y = b;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* A pass over the parse events before yaml_parser_load builds the document. It reports YAML
 * errors, refuses lists and mappings nested deeper than CFG_DEPTH_MAX at the first level too
 * deep (libyaml's scanner is quadratic in the nesting depth; the pass stops there, after
 * ~1 KB of look-ahead, not at the end of the file), and records the explicit tags. *ok = 0
 * after reporting a problem; the status is FM_ENOMEM or FM_OK. */
static fm_status scan_events(cfg_loader *ld, int *ok, fm_err *err)
{
    fm_status status = FM_OK;
    yaml_parser_t parser;
    yaml_event_t ev;
    int have_parser = 0, have_event = 0, depth = 0, done = 0;
    *ok = 1;
    FM_CHECK(yaml_parser_initialize(&parser), FM_ENOMEM, "%s: cannot create a YAML parser", ld->name);
    have_parser = 1;
    yaml_parser_set_input_string(&parser, (const unsigned char *)ld->text, ld->len);
    while (!done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            FM_CHECK(parser.error != YAML_MEMORY_ERROR, FM_ENOMEM, "%s: out of memory parsing YAML", ld->name);
            report_yaml(ld, &parser);
            *ok = 0;
            break;
        }
        have_event = 1;
        if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT) {
            int seq = ev.type == YAML_SEQUENCE_START_EVENT;
            if (++depth > CFG_DEPTH_MAX) {
                cfg_pos at = { (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1 };
                report(ld, at, "yaml", "got lists and mappings nested %d deep, expected at most %d", depth,
                       CFG_DEPTH_MAX);
                *ok = 0;
                done = 1;
            } else {
                FM_TRY(add_tag(ld, seq ? ev.data.sequence_start.tag : ev.data.mapping_start.tag, ev.start_mark,
                               seq ? YAML_SEQUENCE_NODE : YAML_MAPPING_NODE, err));
            }
        } else if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT) {
            depth--;
        } else if (ev.type == YAML_SCALAR_EVENT) {
            FM_TRY(add_tag(ld, ev.data.scalar.tag, ev.start_mark, YAML_SCALAR_NODE, err));
        } else if (ev.type == YAML_STREAM_END_EVENT) {
            done = 1;
        }
        yaml_event_delete(&ev);
        have_event = 0;
    }
    if (ld->ntags > 1) /* already in document order; sorted for the binary search all the same */
        qsort(ld->tags, ld->ntags, sizeof *ld->tags, tag_order);
cleanup:
    if (have_event)
        yaml_event_delete(&ev);
    if (have_parser)
        yaml_parser_delete(&parser);
    return status;
}

/* Load the document from `parser` into ld->out and run every check. Problems with the config go
 * to the loader's error list; the return value is FM_ENOMEM or FM_OK. The checks run before the
 * document is freed: the loader's section names point into it. */
static fm_status load_document(cfg_loader *ld, yaml_parser_t *parser, fm_err *err)
{
    fm_status status = FM_OK;
    yaml_document_t doc, extra;
    int have_doc = 0, have_extra = 0;

    have_doc = yaml_parser_load(parser, &doc);
    FM_CHECK(have_doc || parser->error != YAML_MEMORY_ERROR, FM_ENOMEM, "%s: out of memory parsing YAML",
             ld->name);
    if (!have_doc) {
        report_yaml(ld, parser);
        goto cleanup;
    }
    ld->doc = &doc;
    load_root(ld, yaml_document_get_root_node(&doc));
    load_sets(ld);
    load_sweep(ld);
    have_extra = yaml_parser_load(parser, &extra); /* must be the end of the stream */
    FM_CHECK(have_extra || parser->error != YAML_MEMORY_ERROR, FM_ENOMEM, "%s: out of memory parsing YAML",
             ld->name);
    if (!have_extra)
        report_yaml(ld, parser);
    else if (yaml_document_get_root_node(&extra))
        report(ld, pos_of(yaml_document_get_root_node(&extra)), "yaml",
               "expected one document, found a second one");
    check_required(ld);
    if (ld->out->env.kind != FM_ENV_CARTPOLE) { /* cartpole ignores the linear system's keys */
        check_matrices(ld);
        check_observation(ld);
    }
    check_ranges(ld);
    check_noise(ld);
    check_results_path(ld);
    check_arch(ld);
    check_rounds(ld);
    check_rl(ld);

cleanup:
    ld->doc = NULL;
    if (have_extra)
        yaml_document_delete(&extra);
    if (have_doc)
        yaml_document_delete(&doc);
    return status;
}

static fm_status cfg_load(const char *text, size_t len, const char *name, int point, int use_sets,
                          fm_config *out, fm_err *err)
{
    fm_status status = FM_OK;
    yaml_parser_t parser;
    int have_parser = 0, ok = 0;
    cfg_loader ld;

    memset(&ld, 0, sizeof ld);
    ld.point = point;
    ld.use_sets = use_sets;
    ld.name = name;
    ld.text = text;
    ld.len = len;
    ld.err = err;
    ld.out = out;
    fm_cfg_defaults(out);
    copy_source(out, name);

    FM_CHECK(len <= (size_t)CFG_FILE_MAX, FM_ECONFIG,
             "%s: got %zu bytes, expected a config of at most %ld bytes (1 MiB)", name, len, CFG_FILE_MAX);
    FM_TRY(scan_events(&ld, &ok, err));
    if (ok) {
        FM_CHECK(yaml_parser_initialize(&parser), FM_ENOMEM, "%s: cannot create a YAML parser", name);
        have_parser = 1;
        yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
        FM_TRY(load_document(&ld, &parser, err));
    }
    if (ld.nerr > 0) {
        finish_errors(&ld);
        status = FM_ECONFIG;
        fm_err_at(err, __FILE__, __LINE__);
    }

cleanup:
    if (have_parser)
        yaml_parser_delete(&parser);
    free(ld.tags);
    return status;
}

fm_status fm_cfg_load_string(const char *text, const char *name, fm_config *out, fm_err *err)
{
    fm_status status = FM_OK;
    FM_CHECK(text && out, FM_EINVAL, "fm_cfg_load_string: NULL %s", text ? "out" : "text");
    FM_TRY(cfg_load(text, strlen(text), name ? name : "<string>", -1, 0, out, err));
cleanup:
    return status;
}

static const char *file_kind(mode_t mode)
{
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISFIFO(mode))
        return "a pipe";
    return "a special file";
}

/* Whole file into a malloc'd buffer (*text, *len). A config is a regular file of at most
 * CFG_FILE_MAX bytes: anything else is a config error (exit code 2), said before reading. */
static fm_status read_file(const char *path, char **text, size_t *len, fm_err *err)
{
    fm_status status = FM_OK;
    size_t cap = 0, n = 0;
    char *buf = NULL;
    struct stat st;
    FILE *f = NULL;
    *text = NULL;
    /* a FIFO would block fopen before fstat could refuse it: look first (fstat below still decides) */
    FM_CHECK(stat(path, &st) != 0 || S_ISREG(st.st_mode), FM_ECONFIG,
             "cannot read config '%s': not a regular file (%s)", path, file_kind(st.st_mode));
    f = fopen(path, "rb");
    /* a config that cannot be opened is a usage error (exit code 2), not an I/O failure */
    FM_CHECK(f, FM_ECONFIG, "cannot open config '%s': %s", path, strerror(errno));
    FM_CHECK(fstat(fileno(f), &st) == 0, FM_EIO, "cannot read config '%s': %s", path, strerror(errno));
    FM_CHECK(S_ISREG(st.st_mode), FM_ECONFIG, "cannot read config '%s': not a regular file (%s)", path,
             file_kind(st.st_mode));
    FM_CHECK(st.st_size <= CFG_FILE_MAX, FM_ECONFIG,
             "cannot read config '%s': got %lld bytes, expected at most %ld (1 MiB)", path, (long long)st.st_size,
             CFG_FILE_MAX);
    cap = (size_t)st.st_size + 1; /* one more: a file that grew since fstat is noticed */
    buf = malloc(cap + 1);
    FM_CHECK(buf, FM_ENOMEM, "out of memory reading config '%s'", path);
    for (;;) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
        if (n == cap) { /* it grew: read on, up to one byte more than the limit */
            FM_CHECK(cap <= (size_t)CFG_FILE_MAX, FM_ECONFIG,
                     "cannot read config '%s': got more than %ld bytes, expected at most %ld (1 MiB)", path,
                     CFG_FILE_MAX, CFG_FILE_MAX);
            size_t ncap = 2 * cap > (size_t)CFG_FILE_MAX + 1 ? (size_t)CFG_FILE_MAX + 1 : 2 * cap;
            char *nb = realloc(buf, ncap + 1);
            FM_CHECK(nb, FM_ENOMEM, "out of memory reading config '%s'", path);
            buf = nb, cap = ncap;
        }
    }
    FM_CHECK(!ferror(f), FM_EIO, "cannot read config '%s': %s", path, strerror(errno));
    buf[n] = '\0';
    *text = buf;
    *len = n;
    buf = NULL;
cleanup:
    free(buf);
    if (f)
        fclose(f);
    return status;
}

fm_status fm_cfg_load_point(const char *path, int index, fm_config *out, fm_err *err)
{
    fm_status status = FM_OK;
    char *text = NULL;
    size_t len = 0;
    FM_CHECK(path && out, FM_EINVAL, "fm_cfg_load_file: NULL %s", path ? "out" : "path");
    FM_TRY(read_file(path, &text, &len, err));
    FM_TRY(cfg_load(text, len, path, index, 1, out, err));
cleanup:
    free(text);
    return status;
}

fm_status fm_cfg_load_file(const char *path, fm_config *out, fm_err *err)
{
    return fm_cfg_load_point(path, -1, out, err);
}

/* ---- defaults, dump, names ---- */

/* Default of an enum list, written "[a, b, c]". */
static void default_list(const cfg_key *k, fm_config *out)
{
    int *vals = field(out, k), count = 0, cap = (int)(k->size / sizeof(int));
    const char *s = k->def;
    while (*s && count < cap) {
        while (*s == '[' || *s == ' ' || *s == ',')
            s++;
        size_t n = strcspn(s, ",]");
        int v = k->type == CFG_INT_LIST ? atoi(s) : choice_index(k, s, n);
        if (n == 0)
            break;
        if (v >= 0)
            vals[count++] = v;
        s += n;
        if (*s == ']')
            break;
    }
    memcpy((char *)out + k->count_offset, &count, sizeof count);
}

void fm_cfg_defaults(fm_config *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    out->sweep.count = 1, out->sweep.index = -1;
    for (size_t i = 0; i < CFG_NKEYS; i++) {
        const cfg_key *k = &cfg_keys[i];
        char scratch[256];
        cfg_buf msg = { scratch, sizeof scratch, 0 };
        if (!k->def)
            continue;
        if (k->type == CFG_ENUM_LIST || k->type == CFG_INT_LIST)
            default_list(k, out);
        else /* defaults are valid by construction; test_config checks every one */
            (void)set_scalar(k, k->def, strlen(k->def), k->type == CFG_STRING, out, &msg);
    }
}

/* Length of a fixed-size string field (it always holds a NUL, but do not trust it). */
static size_t field_strlen(const char *s, size_t cap)
{
    const char *nul = memchr(s, '\0', cap);
    return nul ? (size_t)(nul - s) : cap;
}

static void dump_value(cfg_buf *b, const cfg_key *k, const fm_config *cfg)
{
    const void *p = cfield(cfg, k);
    int iv = 0;
    double dv = 0;
    switch (k->type) {
    case CFG_INT: buf_printf(b, "%lld", load_int(cfg, k)); break;
    case CFG_DOUBLE:
        memcpy(&dv, p, sizeof dv);
        buf_printf(b, "%.17g", dv); /* 17 digits: re-loading gives the same bits */
        break;
    case CFG_BOOL:
        memcpy(&iv, p, sizeof iv);
        buf_printf(b, "%s", iv ? "true" : "false");
        break;
    case CFG_STRING:
        buf_putc(b, '"');
        buf_escaped(b, p, field_strlen(p, k->size), k->size);
        buf_putc(b, '"');
        break;
    case CFG_ENUM: {
        const char *name = fm_cfg_enum_name(k->key, (int)load_int(cfg, k));
        if (name)
            buf_printf(b, "%s", name);
        else /* corrupt value: printed so it shows, and so the dump does not re-load */
            buf_printf(b, "%lld", load_int(cfg, k));
        break;
    }
    case CFG_ENUM_LIST: {
        int count = 0;
        memcpy(&count, (const char *)cfg + k->count_offset, sizeof count);
        buf_putc(b, '[');
        for (int i = 0; i < count && i < (int)(k->size / sizeof(int)); i++) {
            memcpy(&iv, (const char *)p + (size_t)i * sizeof(int), sizeof iv);
            const char *name = fm_cfg_enum_name(k->key, iv);
            if (name)
                buf_printf(b, "%s%s", i ? ", " : "", name);
            else
                buf_printf(b, "%s%d", i ? ", " : "", iv);
        }
        buf_putc(b, ']');
        break;
    }
    case CFG_INT_LIST: {
        int count = 0;
        memcpy(&count, (const char *)cfg + k->count_offset, sizeof count);
        buf_putc(b, '[');
        for (int i = 0; i < count && i < (int)(k->size / sizeof(int)); i++) {
            memcpy(&iv, (const char *)p + (size_t)i * sizeof(int), sizeof iv);
            buf_printf(b, "%s%d", i ? ", " : "", iv);
        }
        buf_putc(b, ']');
        break;
    }
    case CFG_MATRIX: {
        const fm_cfg_matrix *m = p;
        buf_putc(b, '[');
        for (int r = 0; r < m->rows; r++) {
            buf_printf(b, "%s[", r ? ", " : "");
            for (int c = 0; c < m->cols; c++)
                buf_printf(b, "%s%.17g", c ? ", " : "", m->v[r * m->cols + c]);
            buf_putc(b, ']');
        }
        buf_putc(b, ']');
        break;
    }
    default: break;
    }
}

int fm_cfg_dump(const fm_config *cfg, char *buf, int cap)
{
    cfg_buf b = { buf, (buf && cap > 0) ? (size_t)cap : 0, 0 };
    const char *section = NULL;
    size_t section_n = 0;
    if (b.cap)
        buf[0] = '\0';
    if (!cfg)
        return 0;
    buf_printf(&b, "%s", cfg_dump_header);
    for (size_t i = 0; i < CFG_NKEYS; i++) {
        const cfg_key *k = &cfg_keys[i];
        size_t n = section_len(k->key);
        if (k->type == CFG_MATRIX && ((const fm_cfg_matrix *)cfield(cfg, k))->rows <= 0)
            continue; /* not given */
        if (!section || n != section_n || memcmp(section, k->key, n) != 0) {
            section = k->key;
            section_n = n;
            buf_printf(&b, "%.*s:\n", (int)n, k->key);
        }
        buf_printf(&b, "  %s: ", k->key + n + 1);
        dump_value(&b, k, cfg);
        buf_putc(&b, '\n');
    }
    return b.len > (size_t)0x7fffffff ? 0x7fffffff : (int)b.len;
}

const char *fm_cfg_enum_name(const char *key, int value)
{
    if (!key || value < 0)
        return NULL;
    int i = key_index(key);
    if (i < 0 || (cfg_keys[i].type != CFG_ENUM && cfg_keys[i].type != CFG_ENUM_LIST))
        return NULL;
    for (int j = 0; cfg_keys[i].choices[j]; j++)
        if (j == value)
            return cfg_keys[i].choices[j];
    return NULL;
}

fm_status fm_cfg_dump_alloc(const fm_config *cfg, char **out, fm_err *err)
{
    fm_status status = FM_OK;
    *out = NULL;
    int need = fm_cfg_dump(cfg, NULL, 0) + 1;
    FM_ALLOC(*out, need);
    fm_cfg_dump(cfg, *out, need);
cleanup:
    return status;
}
