/* cfg_schema.c - the schema table: every config key (section.key, type, field, default, range or
 * choices, flags, meaning), in the order fm_cfg_dump prints them, and the lookups by name.
 * Parsing, defaults, range and choice checks, fm_cfg_dump and fm_cfg_enum_name all walk it, and
 * docs/config.md mirrors it. Adding a key: an entry here, CFG_NKEYS in cfg_internal.h, docs/config.md.
 */
#include "config/cfg_internal.h"

#include <string.h>

/* ---- the schema ---- */

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
const cfg_key cfg_keys[] = {
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
_Static_assert(sizeof cfg_keys / sizeof cfg_keys[0] == CFG_NKEYS,
               "CFG_NKEYS (cfg_internal.h) must be the number of entries of cfg_keys[]");

/* ---- looking keys up ---- */

size_t cfg_section_len(const char *key)
{
    const char *dot = strchr(key, '.');
    return dot ? (size_t)(dot - key) : strlen(key);
}

int cfg_is_section(const char *s, size_t n)
{
    for (size_t i = 0; i < CFG_NKEYS; i++)
        if (cfg_section_len(cfg_keys[i].key) == n && memcmp(cfg_keys[i].key, s, n) == 0)
            return 1;
    return 0;
}

int cfg_find_key(const char *sec, const char *s, size_t n)
{
    size_t sl = strlen(sec);
    for (size_t i = 0; i < CFG_NKEYS; i++) {
        const char *key = cfg_keys[i].key;
        if (cfg_section_len(key) == sl && memcmp(key, sec, sl) == 0 && cfg_text_is(s, n, key + sl + 1))
            return (int)i;
    }
    return -1;
}

int cfg_key_index(const char *key)
{
    for (size_t i = 0; i < CFG_NKEYS; i++)
        if (strcmp(cfg_keys[i].key, key) == 0)
            return (int)i;
    return -1;
}
