#!/usr/bin/python3
"""Tool-use benchmark report for fleetmerge (issue 7, docs/tooluse.md; pipelines/tooluse.sh).

Reads results.h5 files written by `fleet run` with env.kind = tooluse and writes
  - a Markdown report (--md, default results/tooluse.md):
      * one-shot runs (fleet.rounds = 0, configs/tooluse.yaml): per fleet.alpha, the success rate
        (mean over the K tasks; then mean [min-max] over seeds) of every merge method of
        merge.methods, pooled (= joint training on all robots' data, the upper bound), the robots'
        own policies (local: mean over robots per task) and the expert; worst task, tool contact
        (touched), shortfall and BC loss beside it; then the same success rates per tool family
        (hammer, wrench, spatula, knife: mean over the family's tasks, family from /system/tasks);
      * iterative runs (fleet.rounds > 0, configs/tooluse_rounds.yaml): per merge method and
        M = fleet.local_epochs, the final merged policy's success (/eval/<method>/success,
        eval.rollouts episodes per task), the last round's quick score (/rounds/merged_success,
        eval.round_rollouts episodes), the final merged BC loss (/rounds/merged_bc_loss[-1]) and
        joint training's success and BC loss in the same runs; per family as well;
      * wall times (/timing/phase_seconds), the machine (uname, CPU model from /proc/cpuinfo), the
        date, the seeds and the files;
  - a PNG (--png, default: the --md path with .png): (a) success vs alpha per policy, mean over
    seeds with min-max error bars; (b) the merged policy's success after every round of the
    iterative runs (x = local epochs done = round x M), mean over seeds, band = min-max.
One-shot runs are grouped by experiment name (tag "_a<alpha>_s<seed>" removed) and alpha,
iterative runs by experiment name (tag "_m<M>_<method>_s<seed>" removed), method, M and alpha;
alpha, seed, M and the methods are read from the resolved config stored in each file (/config).
Every number comes from the files. A missing file, or a file that is not a tool-use results file,
is an error (exit 2).

usage: /usr/bin/python3 analysis/tooluse_report.py RESULTS.h5 ... [--md OUT.md] [--png OUT.png]
"""
import argparse
import datetime
import math
import os
import platform
import re
import sys
import textwrap

import h5py
import numpy as np

FAMILIES = ("hammer", "wrench", "spatula", "knife")  # /system/tasks column "family": 0..3
FIXED = ("pooled", "local", "expert")  # after the merge methods, in this order
JOINT = "pooled"
LABEL = {"pooled": "pooled (joint)", "local": "local (mean)", "expert": "expert",
         "average": "average", "git_rebasin": "git_rebasin", "fleet_merge": "fleet_merge"}
ROUND_LABEL = {"average": "average (FedAvg)", "fleet_merge": "fleet_merge"}
COLOR = {"average": "#7f7f7f", "git_rebasin": "#1f77b4", "sinkhorn_rebasin": "#ff7f0e",
         "fleet_merge": "#d62728", "local": "#2ca02c", "pooled": "#9467bd", "expert": "#8c564b"}
MARKER = {"average": "s", "git_rebasin": "^", "fleet_merge": "o", "pooled": "D", "local": "v", "expert": "*"}
SCORES = ("success", "touched", "shortfall")
PROG = "tooluse_report.py"


def die(msg):
    print(f"{PROG}: {msg}", file=sys.stderr)
    sys.exit(2)


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def parse_config(config_text):
    """The keys this report needs from the resolved /config YAML."""
    want = {("experiment", "seed"): int, ("fleet", "alpha"): float, ("fleet", "rounds"): int,
            ("fleet", "local_epochs"): int, ("fleet", "participation"): float, ("fleet", "demos_per_robot"): int,
            ("merge", "methods"): list, ("eval", "rollouts"): int, ("eval", "round_rollouts"): int,
            ("train", "epochs"): int, ("env", "kind"): str, ("env", "tu_points"): int, ("env", "horizon"): int}
    out = {}
    try:
        import yaml
        cfg = yaml.safe_load(config_text) or {}
        for (sec, key), typ in want.items():
            v = (cfg.get(sec) or {}).get(key)
            out[key] = [text(m) for m in v] if typ is list and v is not None else \
                (typ(v) if v is not None else None)
    except ImportError:  # the dump is simple enough for regular expressions
        section = None
        for line in config_text.splitlines():
            m = re.match(r"^(\w+):\s*$", line)
            if m:
                section = m.group(1)
                continue
            m = re.match(r"^  (\w+): *(.*?)\s*(#.*)?$", line)
            if m and (section, m.group(1)) in want:
                typ, v = want[(section, m.group(1))], m.group(2)
                if typ is list:
                    out[m.group(1)] = [x.strip() for x in v.strip("[]").split(",") if x.strip()]
                else:
                    out[m.group(1)] = typ(v.strip('"'))
    return out


def read_run(path):
    """One results file: config values, per-task scores per policy, families, losses, rounds, timings."""
    if not os.path.isfile(path):
        die(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        die(f"{path}: cannot open as HDF5 ({e})")
    with f:
        if text(f.attrs.get("kind", "")) != "fleetmerge-results":
            die(f"{path}: not a fleetmerge results file")
        env = text(f.attrs.get("env", "?"))
        if env != "tooluse":
            die(f"{path}: env is {env}, not tooluse (this report reads env.kind: tooluse runs)")
        for need in ("config", "eval", "system/tasks", "fleet"):
            if need not in f:
                die(f"{path}: no /{need}")
        exp = text(f.attrs["experiment"])
        cfg = parse_config(text(f["config"][()]))
        K, N = int(f.attrs["num_tasks"]), int(f.attrs["num_robots"])
        cols = text(f["system/tasks"].attrs.get("columns", "")).split(",")
        if "family" not in cols:
            die(f"{path}: /system/tasks has no family column ({cols})")
        family = np.array(f["system/tasks"][:, cols.index("family")], dtype=float).round().astype(int)
        if family.shape != (K,) or family.min() < 0 or family.max() >= len(FAMILIES):
            die(f"{path}: /system/tasks family column {family.tolist()} does not fit {K} tasks of families 0..3")
        iterative = (cfg.get("rounds") or 0) > 0
        if iterative and "rounds" not in f:
            die(f"{path}: fleet.rounds = {cfg['rounds']} but no /rounds group")
        methods = [m for m in (cfg.get("methods") or []) if f"eval/{m}" in f] or \
            [p for p in f["eval"] if p not in FIXED]
        tag = re.search(r"_m\d+_[a-z_]+_s\d+$" if iterative else r"(_a[0-9.eE+-]+)?_s\d+$", exp)
        run = dict(path=path, exp=exp, name=exp[:tag.start()] if tag else exp, seed=cfg.get("seed"),
                   alpha=cfg.get("alpha"), m=cfg.get("local_epochs"), rounds=cfg.get("rounds") or 0,
                   iterative=iterative, methods=methods, K=K, N=N, family=family, cfg=cfg,
                   scores={}, loss={}, rd={}, phases=None, mtime=os.path.getmtime(path))
        for pol in methods + [p for p in FIXED if f"eval/{p}" in f]:
            s = {}
            for k in SCORES:
                if f"eval/{pol}/{k}" not in f:
                    die(f"{path}: no /eval/{pol}/{k}")
                v = np.array(f[f"eval/{pol}/{k}"], dtype=float)
                if pol == "local":  # [N, K]: mean over robots per task
                    v = v.mean(axis=0)
                if v.shape != (K,):
                    die(f"{path}: /eval/{pol}/{k} has shape {v.shape}, expected ({K},)")
                s[k] = v
            run["scores"][pol] = s
        for pol in methods:
            g = f.get(f"models/merged/{pol}")
            run["loss"][pol] = float(g.attrs["bc_loss"]) if g is not None and "bc_loss" in g.attrs else math.nan
        run["loss"][JOINT] = float(f["fleet"].attrs.get("pooled_bc_loss", math.nan))
        if iterative:
            if len(methods) != 1:
                die(f"{path}: expected one merge method with rounds, got {methods}")
            for k in ("merged_success", "merged_bc_loss", "merged_shortfall", "participants"):
                if f"rounds/{k}" in f:
                    run["rd"][k] = np.array(f[f"rounds/{k}"], dtype=float)
            for k in ("merged_success", "merged_bc_loss"):
                if k not in run["rd"] or run["rd"][k].shape != (run["rounds"],):
                    die(f"{path}: /rounds/{k} missing or not of length fleet.rounds = {run['rounds']}")
        if "timing/phase_seconds" in f:
            run["phases"] = np.array(f["timing/phase_seconds"], dtype=float)
    if run["seed"] is None or run["alpha"] is None:
        die(f"{path}: /config has no experiment.seed or fleet.alpha")
    return run


# ---------------------------------------------------------------- grouping and helpers

def check_seeds(key, runs):
    seeds = [r["seed"] for r in runs]
    if len(set(seeds)) != len(seeds):
        die(f"{key}: a seed is given twice ({[r['path'] for r in runs]})")


def group_oneshot(runs):
    """One-shot runs grouped by (name, alpha), sorted by alpha; each group's runs by seed."""
    groups = {}
    for r in runs:
        groups.setdefault((r["name"], r["alpha"]), []).append(r)
    out = []
    for key in sorted(groups, key=lambda k: (k[1], k[0])):
        rs = sorted(groups[key], key=lambda r: r["seed"])
        check_seeds(f"{key[0]} alpha {fa(key[1])}", rs)
        out.append(dict(name=key[0], alpha=key[1], runs=rs, seeds=[r["seed"] for r in rs],
                        methods=list(dict.fromkeys(m for r in rs for m in r["methods"]))))
    return out


def group_rounds(runs):
    """Iterative runs grouped by (name, alpha, method, M)."""
    order = {"fleet_merge": 0, "average": 1}
    groups = {}
    for r in runs:
        groups.setdefault((r["name"], r["alpha"], r["methods"][0], r["m"]), []).append(r)
    out = []
    for key in sorted(groups, key=lambda k: (k[0], k[1], order.get(k[2], 9), k[2], k[3])):
        rs = sorted(groups[key], key=lambda r: r["seed"])
        check_seeds(f"{key[0]} alpha {fa(key[1])} {key[2]} M = {key[3]}", rs)
        out.append(dict(name=key[0], alpha=key[1], method=key[2], m=key[3], runs=rs, seeds=[r["seed"] for r in rs],
                        rounds=sorted({r["rounds"] for r in rs})))
    return out


def policies(g):
    return g["methods"] + [p for p in FIXED if all(p in r["scores"] for r in g["runs"])]


def score(r, pol, key="success", fam=None, worst=False):
    """Mean over the tasks (of family fam, if given), or the worst task; NaN if absent."""
    s = r["scores"].get(pol)
    if s is None:
        return math.nan
    v = s[key]
    if fam is not None:
        v = v[r["family"] == fam]
        if v.size == 0:
            return math.nan
    if worst:
        return float(v.max() if key == "shortfall" else v.min())
    return float(v.mean())


def pct(v):
    return "n/a" if v is None or math.isnan(v) else f"{100 * v:.1f}%"


def num(v, d=3):
    return "n/a" if v is None or math.isnan(v) else f"{v:.{d}f}"


def fa(a):
    return f"{a:g}"


def label(p):
    return LABEL.get(p, p)


def mean_range(vals, fmt):
    v = np.array([x for x in vals if not math.isnan(x)])
    if v.size == 0:
        return "n/a"
    if v.size == 1:
        return fmt(float(v[0]))
    return f"{fmt(v.mean())} [{fmt(v.min())}-{fmt(v.max())}]"


def mean_or_nan(vals):
    v = [x for x in vals if not math.isnan(x)]
    return float(np.mean(v)) if v else math.nan


def families_in(runs):
    return sorted({int(x) for r in runs for x in r["family"]})


def seeds_text(seeds):
    return " ".join(str(s) for s in seeds)


# ---------------------------------------------------------------- markdown

def oneshot_markdown(groups):
    lines = ["## One-shot merge (configs/tooluse.yaml)", "",
             "Every robot clones its own policy on its own Dirichlet(alpha) task mixture; the fleet is merged once",
             "by every method. Success = mean over the K tasks of the fraction of eval.rollouts episodes that",
             "succeeded, then mean over seeds [min-max over seeds]. `pooled (joint)` = one policy trained on all",
             "robots' data (the upper bound); `local (mean)` = every robot's own policy, mean over robots per task.",
             ""]
    runs = [r for g in groups for r in g["runs"]]
    several = len({g["name"] for g in groups}) > 1
    setting = lambda key: "/".join(str(v) for v in sorted({r[key] for r in runs}))
    pols = list(dict.fromkeys(p for g in groups for p in policies(g)))
    lines += [f"### Success rate per alpha ({', '.join(sorted({g['name'] for g in groups}))}: {setting('N')} robots, "
              f"{setting('K')} tasks, {'/'.join(str(v) for v in sorted({r['cfg'].get('rollouts') for r in runs}))} "
              "episode(s) per task)", "",
              "| policy | " + " | ".join(f"alpha = {fa(g['alpha'])}{' ' + g['name'] if several else ''} "
                                        f"(seeds {seeds_text(g['seeds'])})" for g in groups) + " |",
              "|---|" + "---|" * len(groups)]
    for p in pols:
        lines.append(f"| {label(p)} | " + " | ".join(mean_range([score(r, p) for r in g["runs"]], pct)
                                                    for g in groups) + " |")
    lines.append("")
    for g in groups:
        runs = g["runs"]
        lines += [f"### alpha = {fa(g['alpha'])} ({g['name']}, seeds {seeds_text(g['seeds'])})", "",
                  "Worst task = lowest task success, mean over seeds [min]; touched = episodes in which the tool",
                  "touched the object; shortfall = 1 - min(progress / success threshold, 1), 0 on success (mean",
                  "over tasks); BC loss = per-step loss on all the fleet's data (merged methods and pooled), mean",
                  "over seeds.", "",
                  "| policy | success | worst task | touched | shortfall | BC loss |", "|---|---|---|---|---|---|"]
        for p in policies(g):
            wb = [score(r, p, worst=True) for r in runs]
            loss = [r["loss"].get(p, math.nan) for r in runs]
            lines.append(f"| {label(p)} | {mean_range([score(r, p) for r in runs], pct)} | "
                         f"{pct(mean_or_nan(wb))} [{pct(min(wb))}] | "
                         f"{pct(mean_or_nan([score(r, p, 'touched') for r in runs]))} | "
                         f"{num(mean_or_nan([score(r, p, 'shortfall') for r in runs]))} | "
                         f"{num(mean_or_nan(loss), 4)} |")
        lines.append("")
    lines += ["### Per tool family", "",
              "Success rate over the tasks of each family (task h = family h % 4, instance h / 4), then mean",
              "[min-max] over seeds; `tasks` = how many of the K tasks belong to the family.", ""]
    for g in groups:
        fams = families_in(g["runs"])
        counts = [int(np.sum(g["runs"][0]["family"] == fm)) for fm in fams]
        lines += [f"alpha = {fa(g['alpha'])} ({g['name']}, seeds {seeds_text(g['seeds'])}):", "",
                  "| policy | " + " | ".join(f"{FAMILIES[fm]} ({c} task{'s' if c != 1 else ''})" for fm, c in zip(fams, counts)) + " |",
                  "|---|" + "---|" * len(fams)]
        for p in policies(g):
            lines.append(f"| {label(p)} | " + " | ".join(mean_range([score(r, p, fam=fm) for r in g["runs"]], pct)
                                                        for fm in fams) + " |")
        lines.append("")
    return lines


def rounds_markdown(groups):
    r0 = groups[0]["runs"][0]
    lines = ["## Iterative merging (configs/tooluse_rounds.yaml)", ""] + textwrap.wrap(
        "Every robot trains M = fleet.local_epochs epochs on its own data, the robots are merged (average = "
        "FedAvg, or fleet_merge: one Algorithm 1 epoch per round), every robot restarts from the merged model; "
        "rounds x M epochs in total. Final merged success = the final merged policy scored like the one-shot "
        f"policies (eval.rollouts = {r0['cfg'].get('rollouts')} episode(s) per task, mean over tasks, then mean "
        "[min-max] over seeds); last round = /rounds/merged_success[-1] (eval.round_rollouts = "
        f"{r0['cfg'].get('round_rollouts')} episode(s) per task: a quick, noisy score); final merged BC loss = "
        "/rounds/merged_bc_loss[-1] on all the fleet's data; joint = the same runs' pooled policy (as many epochs "
        "in total).", 100) + ["",
             "| method | M | rounds | alpha | seeds | final merged success | last round (quick) | final merged BC loss "
             "| joint success | joint BC loss | merged / joint (success) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for g in groups:
        runs, m = g["runs"], g["method"]
        ms = [score(r, m) for r in runs]
        js = [score(r, JOINT) for r in runs]
        last = [float(r["rd"]["merged_success"][-1]) for r in runs]
        loss = [float(r["rd"]["merged_bc_loss"][-1]) for r in runs]
        jl = [r["loss"].get(JOINT, math.nan) for r in runs]
        ratio = mean_or_nan(ms) / mean_or_nan(js) if mean_or_nan(js) > 0 else math.nan
        lines.append(f"| {ROUND_LABEL.get(m, m)} | {g['m']} | {'/'.join(map(str, g['rounds']))} | {fa(g['alpha'])} | "
                     f"{seeds_text(g['seeds'])} | {mean_range(ms, pct)} | {mean_range(last, pct)} | "
                     f"{mean_range(loss, lambda v: num(v, 4))} | {mean_range(js, pct)} | "
                     f"{num(mean_or_nan(jl), 4)} | {num(ratio, 2)} |")
    lines.append("")
    fams = families_in([r for g in groups for r in g["runs"]])
    lines += ["Final merged success per tool family (mean [min-max] over seeds):", "",
              "| method | M | " + " | ".join(FAMILIES[fm] for fm in fams) + " |", "|---|---|" + "---|" * len(fams)]
    for g in groups:
        lines.append(f"| {ROUND_LABEL.get(g['method'], g['method'])} | {g['m']} | " +
                     " | ".join(mean_range([score(r, g["method"], fam=fm) for r in g["runs"]], pct) for fm in fams)
                     + " |")
    lines.append("")
    return lines


def timing_markdown(oneshot, rounds):
    lines = ["## Wall times", "",
             "Seconds per run (sum of /timing/phase_seconds: data, local training, merging, baselines, evaluation,",
             "write; max over ranks), mean [min-max] over seeds; demonstrations and evaluation are the phases the",
             "MuJoCo simulation dominates. The ranks share the machine's cores, so these are indicative only.", "",
             "| runs | whole run | data (demonstrations) | local training | merging | evaluation |",
             "|---|---|---|---|---|---|"]
    f1 = lambda v: f"{v:.1f}"
    for tag, runs in ([(f"one-shot, alpha {fa(g['alpha'])}", g["runs"]) for g in oneshot] +
                      [(f"iterative, {g['method']}, M = {g['m']}", g["runs"]) for g in rounds]):
        ph = [r["phases"] for r in runs if r["phases"] is not None and len(r["phases"]) >= 5]
        if not ph:
            lines.append(f"| {tag} | n/a | n/a | n/a | n/a | n/a |")
            continue
        lines.append(f"| {tag} | {mean_range([float(p.sum()) for p in ph], f1)} | "
                     + " | ".join(mean_range([float(p[i]) for p in ph], f1) for i in (0, 1, 2, 4)) + " |")
    lines.append("")
    return lines


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
    except OSError:
        return "unknown (no /proc/cpuinfo)"
    model = re.search(r"^model name\s*:\s*(.*)$", info, re.M)
    n = len(re.findall(r"^processor\s*:", info, re.M))
    return f"{model.group(1).strip() if model else 'unknown'} ({n} logical CPUs)"


def machine_markdown(runs):
    u = platform.uname()
    seeds = sorted({r["seed"] for r in runs})
    t0 = datetime.datetime.fromtimestamp(min(r["mtime"] for r in runs)).strftime("%Y-%m-%d %H:%M")
    t1 = datetime.datetime.fromtimestamp(max(r["mtime"] for r in runs)).strftime("%Y-%m-%d %H:%M")
    return ["## Machine, date, seeds", "",
            f"- machine: `{u.system} {u.node} {u.release} {u.version} {u.machine}`",
            f"- CPU: {cpu_model()}",
            f"- report written: {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}; results files written "
            f"{t0} to {t1}",
            f"- seeds: {seeds_text(seeds)}",
            ""]


# ---------------------------------------------------------------- figure

def plot(oneshot, rounds, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(14, 5.8))
    ax = axes[0]
    if oneshot:
        alphas = sorted({g["alpha"] for g in oneshot})
        pols = list(dict.fromkeys(p for g in oneshot for p in policies(g)))
        logx = min(alphas) > 0 and max(alphas) / min(alphas) > 4
        for j, p in enumerate(pols):
            xs, mean, lo, hi = [], [], [], []
            for g in oneshot:
                v = np.array([score(r, p) for r in g["runs"]])
                v = v[~np.isnan(v)]
                if v.size == 0:
                    continue
                off = (j - (len(pols) - 1) / 2) * 0.035
                xs.append(g["alpha"] * 10 ** off if logx else g["alpha"] + off * (max(alphas) - min(alphas) or 1))
                mean.append(v.mean()), lo.append(v.min()), hi.append(v.max())
            if not xs:
                continue
            mean, lo, hi = map(np.array, (mean, lo, hi))
            ax.errorbar(xs, mean, yerr=[mean - lo, hi - mean], color=COLOR.get(p), marker=MARKER.get(p, "o"),
                        markersize=7 if p == "expert" else 5, linewidth=1.6, capsize=3,
                        linestyle="--" if p in FIXED else "-", label=label(p))
        if logx:
            ax.set_xscale("log")
        ax.set_xticks(alphas)
        ax.set_xticklabels([fa(a) for a in alphas])
        ax.minorticks_off()
        ax.set_xlabel("Dirichlet concentration alpha (small = heterogeneous robots)")
        ax.legend(fontsize=8.5, loc="best")
        allr = [r for g in oneshot for r in g["runs"]]
        nk = lambda key: "/".join(str(v) for v in sorted({r[key] for r in allr}))
        seeds = sorted({r["seed"] for r in allr})
        ax.set_title(f"(a) one-shot merge: {nk('N')} robots, {nk('K')} tasks, seeds {seeds_text(seeds)}\n"
                     "mean over tasks; point = mean over seeds, bars = min-max", fontsize=10)
    else:
        ax.text(0.5, 0.5, "no one-shot runs", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylim(-0.03, 1.05)
    ax.set_ylabel("success rate (mean over tasks)")
    ax.grid(alpha=0.3)
    ax = axes[1]
    if rounds:
        styles = ["-", "--", ":", "-."]
        ms = sorted({g["m"] for g in rounds})
        for g in rounds:
            succ = np.array([r["rd"]["merged_success"] for r in g["runs"]])
            ep = np.arange(1, succ.shape[1] + 1) * g["m"]
            name = ROUND_LABEL.get(g["method"], g["method"])
            ax.plot(ep, succ.mean(axis=0), color=COLOR.get(g["method"]), linestyle=styles[ms.index(g["m"]) % 4],
                    marker=MARKER.get(g["method"], "o"), markersize=4 if len(ep) < 20 else 2.5, linewidth=1.5,
                    label=f"{name}, M = {g['m']}" + (f", alpha {fa(g['alpha'])}" if len({x['alpha'] for x in rounds}) > 1
                                                    else ""))
            if succ.shape[0] > 1:
                ax.fill_between(ep, succ.min(axis=0), succ.max(axis=0), color=COLOR.get(g["method"]), alpha=0.1,
                                linewidth=0)
        js = [score(r, JOINT) for g in rounds for r in g["runs"]]
        total = sorted({g["m"] * r["rounds"] for g in rounds for r in g["runs"]})
        ax.axhline(mean_or_nan(js), color=COLOR[JOINT], linestyle="--", linewidth=1.5,
                   label=f"joint (pooled) after {'/'.join(map(str, total))} epochs, eval.rollouts episodes")
        ax.set_xlabel("local epochs done (round x M)")
        ax.set_xlim(0, max(total) + 1)
        ax.legend(fontsize=8.5, loc="best")
        rr = rounds[0]["runs"][0]["cfg"].get("round_rollouts")
        seeds = sorted({r["seed"] for g in rounds for r in g["runs"]})
        ax.set_title(f"(b) iterative merging: merged policy after every round (seeds {seeds_text(seeds)})\n"
                     f"mean over seeds, band = min-max; {rr} episode(s) per task per round", fontsize=10)
    else:
        ax.text(0.5, 0.5, "no iterative runs", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylim(-0.03, 1.05)
    ax.set_ylabel("merged policy's success rate (mean over tasks)")
    ax.grid(alpha=0.3)
    fig.suptitle("fleetmerge tool use (MuJoCo, point-cloud policies): success rate", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv):
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[1:]))
    ap.add_argument("files", nargs="+", metavar="RESULTS.h5",
                    help="results files of tool-use runs (one-shot and iterative, told apart by fleet.rounds)")
    ap.add_argument("--md", default="results/tooluse.md", help="output Markdown report (default: %(default)s)")
    ap.add_argument("--png", help="output figure (default: the --md path with .png)")
    args = ap.parse_args(argv)
    png = args.png or os.path.splitext(args.md)[0] + ".png"
    runs = [read_run(p) for p in dict.fromkeys(args.files)]
    oneshot = group_oneshot([r for r in runs if not r["iterative"]])
    rounds = group_rounds([r for r in runs if r["iterative"]])
    lines = ["# Tool use (MuJoCo): merging point-cloud policies of a robot fleet", "",
             "Tasks: 4 tool families (hammer, wrench, spatula, knife) x instances; success = pin driven down 1 cm /",
             "nut turned 0.4 rad / object lifted 5 cm / halves 5 cm apart, with tool contact (docs/tooluse.md).",
             "Methods: `average` (plain mean), `git_rebasin` (MergeMany weight matching), `fleet_merge`",
             "(Algorithm 1 started from weight matching). Every number below is computed from the results files.",
             ""]
    if oneshot:
        lines += oneshot_markdown(oneshot)
    else:
        lines += ["## One-shot merge", "", "No one-shot runs (fleet.rounds = 0) among the files.", ""]
    if rounds:
        lines += rounds_markdown(rounds)
    else:
        lines += ["## Iterative merging", "", "No iterative runs (fleet.rounds > 0) among the files.", ""]
    lines += timing_markdown(oneshot, rounds)
    lines += machine_markdown(runs)
    lines += [f"Figure: `{png}`.", "", "Files: " + ", ".join(f"`{r['path']}`" for r in runs), ""]
    for out in (args.md, png):
        if os.path.dirname(out):
            os.makedirs(os.path.dirname(out), exist_ok=True)
    plot(oneshot, rounds, png)
    with open(args.md, "w") as out:
        out.write("\n".join(lines))
    print(f"{PROG}: wrote {args.md} and {png} ({len(runs)} runs)")


if __name__ == "__main__":
    main(sys.argv[1:])
