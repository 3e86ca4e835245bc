/* cfg_check.c - the checks after the pass over the document: required keys, then the rules that
 * involve several keys (matrix shapes, observation, ranges, noise, results path, architecture,
 * merging rounds, online RL), each reported at the key the user should change.
 */
#include "config/cfg_internal.h"

#include <stdio.h>
#include <string.h>

/* ---- checks after the pass ---- */

static void check_required(cfg_loader *ld)
{
    if (ld->root_bad)
        return;
    for (size_t i = 0; i < CFG_NKEYS; i++) {
        const cfg_key *k = &cfg_keys[i];
        if (!(k->flags & CFG_REQUIRED) || ld->seen[i])
            continue;
        cfg_section *sec = cfg_find_section(ld, k->key, cfg_section_len(k->key));
        if (sec && sec->bad)
            continue;
        cfg_pos at = { 1, 1 };
        cfg_report(ld, sec ? sec->at : at, k->key, "missing required key");
    }
}

/* Where to report key i: the key if given, else its section, else 1:1. */
static cfg_pos where(cfg_loader *ld, int i)
{
    cfg_pos at = { 1, 1 };
    if (ld->seen[i])
        return ld->key_at[i];
    const char *key = cfg_keys[i].key;
    cfg_section *sec = cfg_find_section(ld, key, cfg_section_len(key));
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
    int sys = cfg_key_index("env.system"), ia = cfg_key_index("env.A"), ib = cfg_key_index("env.B");
    const fm_cfg_matrix *a = &c->env.A, *b = &c->env.B;
    if (!ld->bad[sys]) {
        for (int j = 0; j < 2; j++) {
            int i = j ? ib : ia;
            const fm_cfg_matrix *m = j ? b : a;
            if (c->env.system == FM_SYS_CUSTOM && !ld->bad[i] && m->rows == 0)
                cfg_report(ld, where(ld, i), cfg_keys[i].key, "required with system: custom");
            if (c->env.system != FM_SYS_CUSTOM && m->rows > 0)
                cfg_report(ld, where(ld, i), cfg_keys[i].key, "only allowed with system: custom");
        }
    }
    if (a->rows > 0 && a->rows != a->cols)
        cfg_report(ld, where(ld, ia), "env.A", "got a %d x %d matrix, expected a square one", a->rows, a->cols);
    if (a->rows > 0 && b->rows > 0 && b->rows != a->rows)
        cfg_report(ld, where(ld, ib), "env.B", "got a %d x %d matrix, expected %d rows (the rows of env.A)", b->rows,
                   b->cols, a->rows);
}

static void check_observation(cfg_loader *ld)
{
    const fm_config *c = ld->out;
    int ic = cfg_key_index("env.C"), obs = cfg_key_index("env.obs"), per = cfg_key_index("env.obs_per_task");
    int sys = cfg_key_index("env.system");
    const fm_cfg_matrix *m = &c->env.C;
    if (m->rows == 0)
        return;
    if (!ld->bad[obs] && c->env.obs != FM_OBS_PROJECTED)
        cfg_report(ld, where(ld, ic), "env.C", "only allowed with obs: projected");
    if (!ld->bad[per] && c->env.obs_per_task)
        cfg_report(ld, where(ld, ic), "env.C", "not allowed with obs_per_task: true (each task draws its own C)");
    int n = ld->bad[sys] ? 0 : state_dim(c);
    if (n > 0 && m->cols != n)
        cfg_report(ld, where(ld, ic), "env.C", "got a %d x %d matrix, expected %d columns (the state dimension)",
                   m->rows, m->cols, n);
}

static double key_double(const fm_config *cfg, int i)
{
    double v = 0;
    memcpy(&v, cfg_cfield(cfg, &cfg_keys[i]), sizeof v);
    return v;
}

/* The double keys lo_key <= hi_key. The message goes to the lower bound unless only the upper
 * one was given (then the upper one is the value the user got wrong). */
static void check_order(cfg_loader *ld, const char *lo_key, const char *hi_key)
{
    int lo = cfg_key_index(lo_key), hi = cfg_key_index(hi_key);
    double a = key_double(ld->out, lo), b = key_double(ld->out, hi);
    if (ld->bad[lo] || ld->bad[hi] || a <= b)
        return;
    if (ld->seen[lo] || !ld->seen[hi])
        cfg_report(ld, where(ld, lo), lo_key, "got %g, expected a value <= %s (%g)", a, hi_key, b);
    else
        cfg_report(ld, where(ld, hi), hi_key, "got %g, expected a value >= %s (%g)", b, lo_key, a);
}

/* Linear policies belong to the linear-control benchmark, neural ones to the others. */
static void check_arch(cfg_loader *ld)
{
    fm_config *c = ld->out;
    int ia = cfg_key_index("policy.arch"), ik = cfg_key_index("env.kind"), im = cfg_key_index("merge.methods");
    if (!ld->bad[ik] && c->env.kind != FM_ENV_LQG && !ld->seen[im]) {
        c->merge.num_methods = 1; /* kind-dependent default: the linear merges need lqg */
        memset(c->merge.methods, 0, sizeof c->merge.methods);
        c->merge.methods[0] = FM_MERGE_AVERAGE;
    }
    if (!ld->bad[ik] && !ld->bad[im] && c->env.kind != FM_ENV_LQG)
        for (int j = 0; j < c->merge.num_methods; j++)
            if (c->merge.methods[j] == FM_MERGE_LINEAR_PERM || c->merge.methods[j] == FM_MERGE_LINEAR_GL)
                cfg_report(ld, where(ld, im), "merge.methods", "got %s, which merges linear policies only "
                           "(kind: lqg)", fm_cfg_enum_name("merge.methods", c->merge.methods[j]));
    if (!ld->bad[ik] && !ld->bad[im] && c->env.kind == FM_ENV_LQG)
        for (int j = 0; j < c->merge.num_methods; j++)
            if (c->merge.methods[j] > FM_MERGE_LINEAR_GL)
                cfg_report(ld, where(ld, im), "merge.methods", "got %s, which merges neural policies only "
                           "(not kind: lqg)", fm_cfg_enum_name("merge.methods", c->merge.methods[j]));
    int il = cfg_key_index("fleet.local_policy");
    if (!ld->bad[ik] && !ld->bad[il] && c->env.kind != FM_ENV_LQG && c->fleet.local_policy == FM_LOCAL_EXPERT)
        cfg_report(ld, where(ld, il), "fleet.local_policy",
                   "got expert, which exists for kind: lqg only (got kind: %s)",
                   fm_cfg_enum_name("env.kind", c->env.kind));
    int io = cfg_key_index("env.obs"), ih = cfg_key_index("policy.hidden_dim");
    if (!ld->bad[ik] && !ld->bad[il] && !ld->bad[ia] && !ld->bad[io] && !ld->bad[ih] && c->env.kind == FM_ENV_LQG &&
        c->fleet.local_policy == FM_LOCAL_EXPERT) { /* the experts' class: static K (LQR), dynamic in R^n (LQG) */
        int lqr = c->env.obs == FM_OBS_STATE;
        if (lqr ? c->policy.arch != FM_ARCH_STATIC_LINEAR
                : c->policy.arch != FM_ARCH_DYNAMIC_LINEAR || c->policy.hidden_dim != 0)
            cfg_report(ld, where(ld, il), "fleet.local_policy", "got expert, whose %s; use %s",
                       lqr ? "LQR experts are static (u = K y)" : "LQG experts are dynamic with the system's state dimension",
                       lqr ? "policy.arch: static_linear" : "policy.arch: dynamic_linear with policy.hidden_dim: 0");
    }
    if (ld->bad[ia] || ld->bad[ik] || !ld->seen[ia] || !ld->seen[ik])
        return;
    int linear = c->policy.arch == FM_ARCH_STATIC_LINEAR || c->policy.arch == FM_ARCH_DYNAMIC_LINEAR;
    if (c->env.kind == FM_ENV_LQG && !linear)
        cfg_report(ld, where(ld, ia), "policy.arch", "got %s, expected static_linear or dynamic_linear for kind: lqg",
                   fm_cfg_enum_name("policy.arch", c->policy.arch));
    if (c->env.kind != FM_ENV_LQG && c->env.kind != FM_ENV_SUPERVISED && c->policy.arch == FM_ARCH_CNN)
        cfg_report(ld, where(ld, ia), "policy.arch", "got cnn, expected mlp or rnn for kind: %s (cnn needs image "
                   "observations: env.kind supervised)", fm_cfg_enum_name("env.kind", c->env.kind));
    if (c->env.kind != FM_ENV_LQG && linear)
        cfg_report(ld, where(ld, ia), "policy.arch", "got %s, expected mlp or rnn for kind: %s",
                   fm_cfg_enum_name("policy.arch", c->policy.arch), fm_cfg_enum_name("env.kind", c->env.kind));
    int iu = cfg_key_index("train.batch_unit"), iw = cfg_key_index("train.window");
    if (!ld->bad[iu] && c->train.batch_unit == FM_BATCH_STEPS && c->policy.arch == FM_ARCH_RNN)
        cfg_report(ld, where(ld, iu), "train.batch_unit", "got steps, which needs policy.arch: mlp (an rnn trains on "
                   "sequences; use train.window for shorter ones)");
    if (!ld->bad[iu] && !ld->bad[iw] && c->train.batch_unit == FM_BATCH_STEPS && c->train.window > 0)
        cfg_report(ld, where(ld, iw), "train.window", "got %d, expected 0 with train.batch_unit: steps (a minibatch "
                   "entry is one step)", c->train.window);
    int iv = cfg_key_index("eval.val_demos"), id = cfg_key_index("fleet.data");
    if (!ld->bad[iv] && !ld->bad[id] && c->eval.val_demos > 0 && c->fleet.data[0])
        cfg_report(ld, where(ld, iv), "eval.val_demos", "got %d, expected 0 with fleet.data (held-out demonstrations "
                   "are generated by the run; hold some out in the file instead)", c->eval.val_demos);
}

/* Merging rounds: neural policies, one merge method. */
static void check_rounds(cfg_loader *ld)
{
    const fm_config *c = ld->out;
    int ir = cfg_key_index("fleet.rounds"), im = cfg_key_index("merge.methods");
    if (ld->bad[ir] || c->fleet.rounds == 0)
        return;
    if (c->env.kind == FM_ENV_LQG)
        cfg_report(ld, where(ld, ir), "fleet.rounds", "got %d, expected 0: merging rounds need neural policies", c->fleet.rounds);
    if (!ld->bad[im] && c->merge.num_methods != 1)
        cfg_report(ld, where(ld, im), "merge.methods", "got %d methods, expected one with fleet.rounds > 0",
                   c->merge.num_methods);
    int is = cfg_key_index("train.nn_steps");
    if (!ld->bad[is] && c->train.nn_steps > 0)
        cfg_report(ld, where(ld, is), "train.nn_steps", "got %d, expected 0 with fleet.rounds > 0 (rounds count "
                   "fleet.local_epochs per round)", c->train.nn_steps);
}

/* Online RL: the cart-pole dynamics, an MLP, no demonstrations or merging rounds; whole batches. */
static void check_rl(cfg_loader *ld)
{
    const fm_config *c = ld->out;
    int ie = cfg_key_index("rl.enabled"), ik = cfg_key_index("env.kind"), ia = cfg_key_index("policy.arch");
    if (ld->bad[ie] || !c->rl.enabled)
        return;
    if (!ld->bad[ik] && ld->seen[ik] && c->env.kind != FM_ENV_CARTPOLE)
        cfg_report(ld, where(ld, ie), "rl.enabled", "got true with env.kind %s, expected env.kind cartpole (online RL "
                   "runs on the cart-pole dynamics)", fm_cfg_enum_name("env.kind", c->env.kind));
    if (!ld->bad[ia] && ld->seen[ia] && c->policy.arch != FM_ARCH_MLP)
        cfg_report(ld, where(ld, ia), "policy.arch", "got %s, expected mlp with rl.enabled",
                   fm_cfg_enum_name("policy.arch", c->policy.arch));
    int ir = cfg_key_index("fleet.rounds"), id = cfg_key_index("fleet.data");
    if (!ld->bad[ir] && c->fleet.rounds > 0)
        cfg_report(ld, where(ld, ir), "fleet.rounds", "got %d, expected 0 with rl.enabled (rl.merge_every sets how "
                   "often the policies are averaged)", c->fleet.rounds);
    if (!ld->bad[id] && c->fleet.data[0])
        cfg_report(ld, where(ld, id), "fleet.data", "got a demonstrations file, expected \"\" with rl.enabled (online "
                   "RL collects its own episodes)");
    int ib = cfg_key_index("rl.batch"), im = cfg_key_index("rl.merge_every"), in = cfg_key_index("rl.episodes");
    if (!ld->bad[ib] && !ld->bad[im] && c->rl.merge_every % c->rl.batch != 0)
        cfg_report(ld, where(ld, im), "rl.merge_every", "got %d, expected a multiple of rl.batch (%d): policies are "
                   "averaged between Adam steps", c->rl.merge_every, c->rl.batch);
    if (!ld->bad[ib] && !ld->bad[in] && c->rl.episodes % c->rl.batch != 0)
        cfg_report(ld, where(ld, in), "rl.episodes", "got %d, expected a multiple of rl.batch (%d)", c->rl.episodes,
                   c->rl.batch);
    int iff = cfg_key_index("rl.force"), icf = cfg_key_index("env.cp_force_max");
    if (!ld->bad[iff] && !ld->bad[icf] && c->rl.force > c->env.cp_force_max)
        cfg_report(ld, where(ld, iff), "rl.force", "got %g, expected at most env.cp_force_max (%g N)", c->rl.force,
                   c->env.cp_force_max);
}

/* Noise-free dynamics only with full-state observations: the Kalman filter of an unstable
 * system has no stabilizing solution without process noise. */
static void check_noise(cfg_loader *ld)
{
    const fm_config *c = ld->out;
    int ik = cfg_key_index("env.kind"), io = cfg_key_index("env.obs"), ip = cfg_key_index("env.process_noise");
    if (ld->bad[ik] || ld->bad[io] || ld->bad[ip] || c->env.kind != FM_ENV_LQG || c->env.obs != FM_OBS_PROJECTED)
        return;
    if (c->env.process_noise == 0.0)
        cfg_report(ld, where(ld, ip), "env.process_noise",
                   "got 0, expected a value > 0 with obs: projected (the Kalman filter needs process noise)");
}

/* The default results path <output_dir>/<name>[/<I>]/results.h5 fits FM_CFG_RESULTS_PATH_MAX. */
static void check_results_path(cfg_loader *ld)
{
    const fm_config *c = ld->out;
    int in = cfg_key_index("experiment.name"), id = cfg_key_index("experiment.output_dir");
    if (ld->bad[in] || ld->bad[id] || !ld->seen[in])
        return;
    size_t len = strlen(c->experiment.output_dir) + 1 + strlen(c->experiment.name) + strlen("/results.h5");
    if (ld->sweep) /* "/<I>", I up to count - 1 */
        len += (size_t)snprintf(NULL, 0, "/%d", c->sweep.count > 1 ? c->sweep.count - 1 : 0);
    if (len <= FM_CFG_RESULTS_PATH_MAX)
        return;
    int at = ld->seen[id] ? id : in;
    cfg_report(ld, where(ld, at), cfg_keys[at].key,
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
    int tp = cfg_key_index("env.tu_points");
    if (!ld->bad[tp] && ld->out->env.tu_points % 2 != 0)
        cfg_report(ld, where(ld, tp), "env.tu_points",
                   "got %d, expected an even number (half tool, half object points)", ld->out->env.tu_points);
    int nt = cfg_key_index("env.num_tasks"), kd = cfg_key_index("env.kind");
    if (!ld->bad[nt] && !ld->bad[kd] && ld->out->env.kind == FM_ENV_MULTITASK && ld->out->env.num_tasks > FM_MT_TABLE)
        cfg_report(ld, where(ld, nt), "env.num_tasks", "got %d, expected at most %d with env.kind multitask (the MT-10 "
                   "table has %d tasks)", ld->out->env.num_tasks, FM_MT_TABLE, FM_MT_TABLE);
    if (!ld->bad[kd] && ld->out->env.kind == FM_ENV_SUPERVISED) { /* what classification has no use for */
        const fm_config *c = ld->out;
        int ia = cfg_key_index("policy.arch"), iv = cfg_key_index("eval.val_demos");
        int iff = cfg_key_index("eval.finetune_demos");
        if (!ld->bad[nt] && c->env.num_tasks > 256)
            cfg_report(ld, where(ld, nt), "env.num_tasks",
                       "got %d classes, expected at most 256 with env.kind supervised", c->env.num_tasks);
        int text = c->env.sv_kind == FM_SV_TEXT;
        if (!ld->bad[ia] && !ld->bad[cfg_key_index("env.sv_kind")] &&
            (text ? c->policy.arch != FM_ARCH_RNN : c->policy.arch != FM_ARCH_MLP && c->policy.arch != FM_ARCH_CNN))
            cfg_report(ld, where(ld, ia), "policy.arch", "got %s, expected %s with env.kind supervised (%s)",
                       fm_cfg_enum_name("policy.arch", c->policy.arch), text ? "rnn" : "mlp or cnn", text ? "text" : "images");
        int ik2 = cfg_key_index("policy.conv_kernel");
        if (!ld->bad[ia] && !ld->bad[ik2] && c->policy.arch == FM_ARCH_CNN && c->policy.conv_kernel % 2 == 0)
            cfg_report(ld, where(ld, ik2), "policy.conv_kernel", "got %d, expected an odd size ('same' padding "
                       "conv_kernel / 2)", c->policy.conv_kernel);
        if (!ld->bad[iv] && c->eval.val_demos > 0)
            cfg_report(ld, where(ld, iv), "eval.val_demos", "got %d, expected 0 with env.kind supervised (the test set "
                       "is the held-out evaluation)", c->eval.val_demos);
        if (!ld->bad[iff] && c->eval.finetune_demos > 0)
            cfg_report(ld, where(ld, iff), "eval.finetune_demos", "got %d, expected 0 with env.kind supervised",
                       c->eval.finetune_demos);
    }
}

/* Every check after the pass, in this order; each one reports into the loader's error list. */
void cfg_check_all(cfg_loader *ld)
{
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
}
