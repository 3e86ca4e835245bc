#!/usr/bin/python3
"""Iterative merging rounds report for fleetmerge's cart-pole runs (issue 5, paper Figure 4 analogs).

Reads results.h5 files written by `fleet run` with fleet.rounds > 0 (pipelines/rounds.sh) and writes
  - one PNG per sweep present in the files (--png-dir DIR: DIR/rounds_epochs.png,
    DIR/rounds_alpha.png, DIR/rounds_participation.png): the merged policy's balance rate (mean over
    tasks) and cost per merge method against the swept variable, mean over seeds with min-max
    whiskers, joint training (the run's `pooled` policy: data-parallel over all robots' data, same
    total epochs) as the reference line (band = min-max over seeds); the epochs figure also has the
    merged policy's BC loss after every round (/rounds/merged_bc_loss) against the local epochs done;
  - a Markdown report (--md): per sweep and method, balance (mean over tasks, then seeds), worst task,
    cost, merged BC loss, joint's balance and cost, the ratio method / joint, the communication (bytes
    sent per robot over the whole run, mean over robots, from /rounds/bytes_sent, against the robot's
    demonstrations, /fleet/robot_stats data_bytes), the issue's target evaluated from the numbers, a
    determinism check between sweeps that ran the same config, and the wall times.
The sweep is detected from the run tag of the experiment name (pipelines/rounds.sh):
  <name>_m<M>_<method>_s<seed>                epochs sweep (fleet.local_epochs at a fixed total)
  <name>_a<alpha>_<method>_s<seed>            alpha sweep (fleet.alpha)
  <name>_n<N>_p<participation>_<method>_s<seed>   participation sweep (fleet.participation)
The values themselves are read from the resolved config stored in each file (/config) and checked
against the tag.

Target (issue 5): at M = 10 and participation 0.5, fleet_merge rounds reach >= 90% of joint
training's balance rate (average reported beside it).

usage: /usr/bin/python3 analysis/rounds_report.py RESULTS.h5 ... [--png-dir DIR] [--md OUT.md]
"""
import functools
import math
import re
import sys

import h5py
import numpy as np

import fmcommon as fc
from fmcommon import num, pct, score, text

SCORES = ("balance", "setpoint", "cost")
JOINT = "pooled"
FM, AVG = "fleet_merge", "average"
LABEL = {AVG: "average (FedAvg)", FM: "fleet_merge", JOINT: "joint (pooled)", "local": "local (mean)"}
COLOR = dict(fc.COLOR, average="#1f77b4", git_rebasin="#7f7f7f")  # FedAvg in blue, as in the paper's Figure 4
MARKER = {AVG: "s", FM: "o"}  # any other method: a circle
TARGET_M, TARGET_PART, TARGET_FRACTION = 10, 0.5, 0.90
EPS = 1e-12

# sweep kind -> (regex on the experiment name, config key of the swept value, axis label, title)
TAGS = {
    "participation": re.compile(r"_n(?P<n>\d+)_p(?P<v>[0-9.eE+-]+)_(?P<method>[a-z_]+)_s(?P<seed>\d+)$"),
    "epochs": re.compile(r"_m(?P<v>\d+)_(?P<method>[a-z_]+)_s(?P<seed>\d+)$"),
    "alpha": re.compile(r"_a(?P<v>[0-9.eE+-]+)_(?P<method>[a-z_]+)_s(?P<seed>\d+)$"),
}
SWEEPS = ("epochs", "alpha", "participation")
XKEY = {"epochs": "local_epochs", "alpha": "alpha", "participation": "participation"}
XLABEL = {"epochs": "local epochs M between merges (rounds = total / M)",
          "alpha": "Dirichlet concentration alpha (small = heterogeneous robots)",
          "participation": "participation (fraction of robots merged per round)"}
XSYM = {"epochs": "M", "alpha": "alpha", "participation": "participation"}


# The keys this report needs from the resolved /config YAML.
CONFIG = {("experiment", "seed"): int, ("fleet", "alpha"): float, ("fleet", "rounds"): int,
          ("fleet", "local_epochs"): int, ("fleet", "participation"): float, ("fleet", "robots"): int,
          ("fleet", "demos_per_robot"): int, ("merge", "methods"): list, ("eval", "rollouts"): int,
          ("eval", "round_rollouts"): int, ("fleet", "reset_optimizer"): str, ("train", "epochs"): int}
mean_range = functools.partial(fc.mean_range, same=" (all seeds)")  # equal seeds: the value, once


def read_run(path):
    """One results file of a rounds run: config values, scores, per-round metrics, communication."""
    with h5py.File(path, "r") as f:
        fc.check_results(f, path, "cartpole")
        if "rounds" not in f:
            raise SystemExit(f"{path}: no /rounds group (fleet.rounds = 0: not a merging-rounds run)")
        exp = text(f.attrs["experiment"])
        cfg = fc.parse_config(text(f["config"][()]), CONFIG)
        kind = tag = None
        for k, rx in TAGS.items():
            tag = rx.search(exp)
            if tag:
                kind = k
                break
        if kind is None:
            raise SystemExit(f"{path}: experiment name '{exp}' has no sweep tag "
                             "(_m<M>_, _a<alpha>_ or _n<N>_p<participation>_ then _<method>_s<seed>)")
        methods = cfg.get("methods") or []
        if len(methods) != 1:
            raise SystemExit(f"{path}: expected one merge method with rounds, got {methods}")
        method = methods[0]
        run = dict(path=path, exp=exp, name=exp[:tag.start()], kind=kind, method=method,
                   seed=cfg["seed"], alpha=cfg["alpha"], m=cfg["local_epochs"], rounds=cfg["rounds"],
                   part=cfg["participation"], robots=int(f.attrs["num_robots"]), tasks=int(f.attrs["num_tasks"]),
                   rollouts=cfg.get("rollouts"), round_rollouts=cfg.get("round_rollouts"),
                   demos=cfg.get("demos_per_robot"), reset=cfg.get("reset_optimizer"))
        # the tag must say what the config says
        tv = float(tag.group("v"))
        cv = float(cfg[XKEY[kind]])
        problems = []
        if abs(tv - cv) > 1e-9 * max(1.0, abs(cv)):
            problems.append(f"tag value {tag.group('v')} but fleet.{XKEY[kind]} = {cv:g}")
        if tag.group("method") != method:
            problems.append(f"tag method {tag.group('method')} but merge.methods = [{method}]")
        if int(tag.group("seed")) != run["seed"]:
            problems.append(f"tag seed {tag.group('seed')} but experiment.seed = {run['seed']}")
        if kind == "participation" and int(tag.group("n")) != run["robots"]:
            problems.append(f"tag N = {tag.group('n')} but the file has {run['robots']} robots")
        if problems:
            raise SystemExit(f"{path}: " + "; ".join(problems))
        run["x"] = cv
        scores = {}
        for pol in (method, JOINT, "expert", "local"):
            if f"eval/{pol}" not in f:
                continue
            scores[pol] = fc.eval_scores(f, pol, SCORES)
        if method not in scores or JOINT not in scores:
            raise SystemExit(f"{path}: missing /eval/{method} or /eval/{JOINT}")
        run["scores"] = scores
        run["loss"] = fc.merged_loss(f, method)
        run["joint_loss"] = float(f["fleet"].attrs.get("pooled_bc_loss", math.nan))
        rd = {k: np.array(f[f"rounds/{k}"], dtype=float) for k in
              ("participants", "merged_bc_loss", "merged_balance", "merged_cost", "bytes_sent",
               "bytes_received", "left_out") if f"rounds/{k}" in f}
        run["rd"] = rd
        rs = f["fleet/robot_stats"]
        cols = text(rs.attrs.get("columns", "")).split(",")
        if "data_bytes" not in cols:
            raise SystemExit(f"{path}: /fleet/robot_stats has no data_bytes column ({cols})")
        stats = np.array(rs, dtype=float)
        data = stats[:, cols.index("data_bytes")]
        sent = rd["bytes_sent"].sum(axis=1) if "bytes_sent" in rd else np.full(run["robots"], math.nan)
        recv = rd["bytes_received"].sum(axis=1) if "bytes_received" in rd else np.full(run["robots"], math.nan)
        run["comm"] = dict(sent=float(sent.mean()), recv=float(recv.mean()), data=float(data.mean()),
                           ratio=float(np.mean(sent / data)), sent_max=float(sent.max()),
                           model=float(stats[:, cols.index("model_bytes")].mean()) if "model_bytes" in cols
                           else math.nan,
                           left_out=float(rd["left_out"].sum()) if "left_out" in rd else 0.0)
        run["phases"] = np.array(f["timing/phase_seconds"], dtype=float) if "timing/phase_seconds" in f else None
    return run


# ---------------------------------------------------------------- helpers

def mb(v):
    return "n/a" if v is None or math.isnan(v) else f"{v / 1e6:.3g} MB"


def fx(v):
    return f"{v:g}"


def label(m):
    return LABEL.get(m, m)


def collect(runs):
    """sweep kind -> dict(xs, methods, series {(method, x): [runs by seed]}, joint {x: {seed: run}}, fixed)."""
    out = {}
    for r in runs:
        s = out.setdefault(r["kind"], dict(series={}, joint={}, names=set(), fixed={}))
        lst = s["series"].setdefault((r["method"], r["x"]), [])
        if any(q["seed"] == r["seed"] for q in lst):
            raise SystemExit(f"{r['kind']} sweep: {r['method']} {XSYM[r['kind']]} = {fx(r['x'])} seed {r['seed']} given "
                             f"twice ({[q['path'] for q in lst if q['seed'] == r['seed']] + [r['path']]})")
        lst.append(r)
        s["joint"].setdefault(r["x"], {}).setdefault(r["seed"], []).append(r)
        s["names"].add(r["name"])
        # what the sweep keeps fixed must be the same in every run of the sweep
        fixed = dict(robots=r["robots"], alpha=r["alpha"], m=r["m"], part=r["part"],
                     total=r["m"] * r["rounds"], tasks=r["tasks"])
        del fixed[{"epochs": "m", "alpha": "alpha", "participation": "part"}[r["kind"]]]
        for k, v in fixed.items():
            s["fixed"].setdefault(k, set()).add(v)
    for kind, s in out.items():
        for k, v in s["fixed"].items():
            if len(v) > 1:
                raise SystemExit(f"{kind} sweep: runs disagree on {k} ({sorted(v)}); give one sweep's files at a time")
        s["fixed"] = {k: next(iter(v)) for k, v in s["fixed"].items()}
        if len(s["names"]) > 1:
            raise SystemExit(f"{kind} sweep: runs of several experiments ({sorted(s['names'])})")
        s["name"] = next(iter(s["names"]))
        s["xs"] = sorted(s["joint"])
        order = [AVG, FM]
        ms = {m for m, _ in s["series"]}
        s["methods"] = [m for m in order if m in ms] + sorted(ms - set(order))
        for lst in s["series"].values():
            lst.sort(key=lambda r: r["seed"])
    return out


def joint_values(s, x, key, worst=False):
    """Joint (pooled) score per seed at x; the runs of different methods of one seed train the same joint
    policy, so their values agree (checked in joint_consistency)."""
    return [score(rs[0], JOINT, key, worst=worst) for _, rs in sorted(s["joint"][x].items())]


def joint_consistency(s):
    """Largest difference between the joint scores of runs that should have the same joint policy."""
    worst = 0.0
    for x, by_seed in s["joint"].items():
        for rs in by_seed.values():
            for r in rs[1:]:
                for k in ("balance", "cost"):
                    worst = max(worst, float(np.max(np.abs(r["scores"][JOINT][k] - rs[0]["scores"][JOINT][k]))))
    return worst


def fixed_text(kind, fx_):
    parts = [f"{fx_['robots']} robots"]
    if kind != "alpha":
        parts.append(f"alpha = {fx(fx_['alpha'])}")
    if kind != "epochs":
        parts.append(f"M = {fx_['m']} local epochs x {fx_['total'] // fx_['m']} rounds")
    if kind != "participation":
        parts.append(f"participation {fx(fx_['part'])}")
    parts.append(f"{fx_['total']} epochs in total")
    return ", ".join(parts)


def merged_per_round(n, part):
    """Robots merged per round as the code draws them: max(1, round(participation N)), half up."""
    return max(1, min(n, int(math.floor(part * n + 0.5))))


# ---------------------------------------------------------------- markdown

def sweep_markdown(kind, s):
    fxd = s["fixed"]
    sym = XSYM[kind]
    lines = [f"## {kind} sweep ({s['name']}: {fixed_text(kind, fxd)}; seeds "
             f"{' '.join(str(q) for q in sorted({r['seed'] for lst in s['series'].values() for r in lst}))})", ""]
    if kind == "epochs":
        lines += ["Fixed total of local epochs, so fewer local epochs per round = more rounds = more communication.",
                  "M = total is a single merge of independently trained robots (one-shot).", ""]
    for m in s["methods"]:
        lines += [f"### {label(m)}", "",
                  f"| {sym} | rounds | merged per round | seeds | balance | worst task | cost | merged BC loss "
                  f"| joint balance | joint cost | ratio {m} / joint (balance) | local balance | round 1 balance "
                  f"| sent per robot | per merged robot and round | data per robot | sent / data |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for x in s["xs"]:
            runs = s["series"].get((m, x), [])
            if not runs:
                continue
            bal = [score(r, m, "balance") for r in runs]
            wb = [score(r, m, "balance", worst=True) for r in runs]
            jb = [score(r, JOINT, "balance") for r in runs]
            jc = [score(r, JOINT, "cost") for r in runs]
            ratios = [b / j if j > EPS else math.nan for b, j in zip(bal, jb)]
            ratio = np.mean(bal) / np.mean(jb) if np.mean(jb) > EPS else math.nan
            parts = sorted({int(p) for r in runs for p in r["rd"].get("participants", [])})
            sent = [r["comm"]["sent"] for r in runs]
            data = [r["comm"]["data"] for r in runs]
            per = [r["comm"]["sent"] * r["robots"] / max(1.0, float(np.sum(r["rd"]["participants"]))) for r in runs]
            lines.append(
                f"| {fx(x)} | {runs[0]['rounds']} | {'/'.join(map(str, parts))} of {runs[0]['robots']} | "
                f"{' '.join(str(r['seed']) for r in runs)} | {mean_range(bal, pct)} | {pct(float(np.mean(wb)))} "
                f"[min {pct(min(wb))}] | {mean_range([score(r, m, 'cost') for r in runs], num)} | "
                f"{num(float(np.mean([r['loss'] for r in runs])), 4)} | {mean_range(jb, pct)} | "
                f"{num(float(np.mean(jc)))} | {num(ratio)} (seeds {', '.join(num(v) for v in ratios)}) | "
                f"{pct(float(np.mean([score(r, 'local', 'balance') for r in runs])))} | "
                f"{pct(float(np.mean([r['rd']['merged_balance'][0] for r in runs])))} | "
                f"{mb(float(np.mean(sent)))} | {mb(float(np.mean(per)))} | {mb(float(np.mean(data)))} | "
                f"{num(float(np.mean([r['comm']['ratio'] for r in runs])), 2)}x |")
        lines.append("")
    jd = joint_consistency(s)
    lines += [f"Joint (pooled) trains on all robots' data for {fxd['total']} epochs, independent of the merge "
              "method; the runs of both methods for one seed and setting "
              + ("give the same joint scores (checked)." if jd == 0 else
                 f"differ in their joint scores by up to {jd:.3g} (expected 0)."), ""]
    return lines


def comm_notes(sweeps):
    """How the bytes are counted, from one run's numbers."""
    r = next(r for s in sweeps.values() for lst in s["series"].values() for r in lst)
    return ["Columns: `round 1 balance` = the merged policy's quick score after the first round",
            f"(/rounds/merged_balance[0], eval.round_rollouts = {r['round_rollouts']} episodes per task, mean over seeds);",
            "`merged per round` = robots merged per round as drawn, max(1, round(participation x N)) (0.5 x 5 = 2.5",
            "-> 3). Communication: `sent per robot` = /rounds/bytes_sent summed over the rounds, mean over robots:",
            "the wire bytes of the merge's collectives among the round's participants (float32 means as a",
            "reduce-scatter + all-gather, broadcasts as a binomial tree, MergeMany's deltas: docs/merging.md) plus",
            "the broadcast of the merged float32 model to the robots that did not take part; robots not merged in",
            "a round send nothing that round but still receive the merged model. `per merged robot and round` = all",
            "robots' bytes sent / the sum of /rounds/participants. `data per robot` = its demonstrations",
            f"(/fleet/robot_stats data_bytes: {r['demos']} trajectories, {mb(r['comm']['data'])}); one policy is "
            f"{mb(r['comm']['model'])} (float32). `sent / data` = mean over robots of the ratio.", ""]


def target_markdown(sweeps):
    head = (f"**Target (issue 5)**: at M = {TARGET_M} and participation {fx(TARGET_PART)}, fleet_merge rounds reach "
            f">= {100 * TARGET_FRACTION:.0f}% of joint training's balance rate (average beside it, for information).")
    rows, verdict_rows, settings = [], [], []
    for kind in SWEEPS:
        s = sweeps.get(kind)
        if s is None:
            continue
        for x in s["xs"]:
            fm_runs = s["series"].get((FM, x), [])
            av_runs = {r["seed"]: r for r in s["series"].get((AVG, x), [])}
            cand = fm_runs or list(av_runs.values())
            if not cand or cand[0]["m"] != TARGET_M or abs(cand[0]["part"] - TARGET_PART) > 1e-9:
                continue
            setting = f"{kind} sweep: {XSYM[kind]} = {fx(x)}, {cand[0]['robots']} robots" + \
                ("" if kind == "alpha" else f", alpha {fx(cand[0]['alpha'])}")
            ok_here, fr_all = [], []
            for r in fm_runs:
                fb, jb = score(r, FM, "balance"), score(r, JOINT, "balance")
                fr = fb / jb if jb > EPS else math.nan
                ok = (not math.isnan(fr)) and fb >= TARGET_FRACTION * jb - EPS
                ok_here.append(ok), fr_all.append(fr)
                a = av_runs.get(r["seed"])
                ab = score(a, AVG, "balance") if a else math.nan
                rows.append(f"| {setting} | {r['seed']} | {pct(fb)} | {pct(jb)} | {num(fr)} | "
                            f"{'yes' if ok else 'NO'} | {pct(ab)} | {num(ab / jb if jb > EPS else math.nan)} |")
            if not fm_runs:
                rows.append(f"| {setting} | - | no fleet_merge runs | | | NO | | |")
                ok_here = [False]
            else:
                fbm = np.mean([score(r, FM, "balance") for r in fm_runs])
                jbm = np.mean([score(r, JOINT, "balance") for r in fm_runs])
                abm = np.mean([score(a, AVG, "balance") for a in av_runs.values()]) if av_runs else math.nan
                jam = np.mean([score(a, JOINT, "balance") for a in av_runs.values()]) if av_runs else math.nan
                mean_ok = fbm >= TARGET_FRACTION * jbm - EPS
                rows.append(f"| {setting} | mean | {pct(fbm)} | {pct(jbm)} | {num(fbm / jbm if jbm > EPS else math.nan)} "
                            f"| {'yes' if mean_ok else 'NO'} | {pct(abm)} | "
                            f"{num(abm / jam if jam > EPS else math.nan)} |")
            verdict_rows += ok_here
            settings.append((setting, all(ok_here), len(ok_here)))
    out = [head, ""]
    if not settings:
        return out + [f"Verdict: **NOT EVALUATED** (no runs at M = {TARGET_M} and participation {fx(TARGET_PART)}).", ""]
    out += ["| setting | seed | fleet_merge balance | joint balance | ratio | >= 90% | average balance | "
            "average / joint |", "|---|---|---|---|---|---|---|---|"] + rows
    n_ok = sum(verdict_rows)
    verdict = "MET" if all(verdict_rows) else "NOT MET"
    out += ["", f"Verdict: **{verdict}**: {n_ok}/{len(verdict_rows)} fleets (setting x seed) at M = {TARGET_M}, "
            f"participation {fx(TARGET_PART)} have fleet_merge >= {100 * TARGET_FRACTION:.0f}% of joint's balance; "
            + (f"every seed of all {len(settings)} settings" if all(ok for _, ok, _ in settings) else
               "; ".join(f"{st}: {'every seed' if ok else 'NOT every seed'}" for st, ok, _ in settings)) + ".", ""]
    return out


def determinism_markdown(runs):
    """Runs of different sweeps with the same config apart from the name must give the same numbers."""
    key = lambda r: (r["method"], r["seed"], r["robots"], r["m"], r["rounds"], round(r["alpha"], 12),
                     round(r["part"], 12), r["demos"], r["rollouts"], r["round_rollouts"], r["reset"])
    groups = {}
    for r in runs:
        groups.setdefault(key(r), []).append(r)
    pairs = [(g[0], q) for g in groups.values() if len(g) > 1 for q in g[1:] if q["kind"] != g[0]["kind"]]
    if not pairs:
        return []
    diffs = []
    for a, b in pairs:
        d = max(float(np.max(np.abs(a["scores"][p][k] - b["scores"][p][k]))) for p in (a["method"], JOINT)
                for k in SCORES)
        d = max(d, abs(a["loss"] - b["loss"]))
        diffs.append((a, b, d))
    same = sum(1 for *_, d in diffs if d == 0)
    lines = ["## Determinism check", "",
             f"{len(diffs)} runs of one sweep have the same config as a run of another sweep (only the name differs); "
             f"{same} of them give identical scores and BC loss"
             + ("." if same == len(diffs) else ", the others differ: " +
                "; ".join(f"{a['exp']} vs {b['exp']}: {d:.3g}" for a, b, d in diffs if d != 0) + "."), ""]
    return lines


def timing_markdown(sweeps):
    lines = ["## Wall times", "",
             "Seconds per run, mean [min-max] over seeds: the whole run (sum of /timing/phase_seconds: data, local",
             "baseline training, merging rounds, joint training, evaluation, write) and the merging rounds alone",
             "(phase 3); max over ranks. 2 cores shared by all ranks (oversubscribed), so indicative only.", ""]
    for kind in SWEEPS:
        s = sweeps.get(kind)
        if s is None:
            continue
        lines += [f"| {kind}: {XSYM[kind]} | " + " | ".join(f"{label(m)} whole run | {label(m)} rounds" for m in s["methods"])
                  + " |", "|---|" + "---|---|" * len(s["methods"])]
        for x in s["xs"]:
            cells = []
            for m in s["methods"]:
                rs = s["series"].get((m, x), [])
                tot = [float(np.sum(r["phases"])) if r["phases"] is not None else math.nan for r in rs]
                rd = [float(r["phases"][2]) if r["phases"] is not None else math.nan for r in rs]
                f1 = lambda v: f"{v:.1f}"
                cells += [mean_range(tot, f1), mean_range(rd, f1)]
            lines.append(f"| {fx(x)} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


# ---------------------------------------------------------------- figures

def plot_sweep(kind, s, path):
    plt = fc.pyplot()
    from matplotlib.lines import Line2D
    xs = s["xs"]
    logx = kind in ("epochs", "alpha") and min(xs) > 0 and max(xs) / min(xs) > 4
    if kind == "epochs":  # (a) (b) on top, the per-round BC loss below across the width
        fig = plt.figure(figsize=(13, 10.5))
        gs = fig.add_gridspec(2, 2, height_ratios=(1, 1.05))
        axes = [fig.add_subplot(gs[0, 0]), fig.add_subplot(gs[0, 1]), fig.add_subplot(gs[1, :])]
    else:
        fig, axes = plt.subplots(1, 2, figsize=(13, 5.8))
    nm = len(s["methods"])

    def shift(x, j, sel, cat):  # spread the methods' whiskers a little
        off = (j - (nm - 1) / 2) * 0.06
        if cat:
            return sel.index(x) + off
        if logx:
            return x * (1 + off)
        span = (max(sel) - min(sel)) or 1.0
        return x + off * 0.25 * span

    def means(key, x):  # every method's and joint's mean over seeds at x
        v = [np.mean([score(r, m, key) for r in s["series"].get((m, x), [])]) for m in s["methods"]
             if s["series"].get((m, x))]
        return v + [float(np.mean(joint_values(s, x, key)))]

    def draw(ax, key, sel, numbers, fs, cat=False):
        """Joint band and line, each method's mean with min-max whiskers over the x values sel;
        numbers: the x values whose means are written next to the points; cat: evenly spaced x."""
        pos = [float(i) for i in range(len(sel))] if cat else sel
        jm = np.array([np.mean(joint_values(s, x, key)) for x in sel])
        jlo = np.array([np.min(joint_values(s, x, key)) for x in sel])
        jhi = np.array([np.max(joint_values(s, x, key)) for x in sel])
        if len(sel) > 1:
            ax.plot(pos, jm, color=COLOR[JOINT], linestyle="--", linewidth=1.8, marker="D", markersize=4, zorder=2)
            ax.fill_between(pos, jlo, jhi, color=COLOR[JOINT], alpha=0.12, linewidth=0, zorder=1)
        else:
            ax.axhline(jm[0], color=COLOR[JOINT], linestyle="--", linewidth=1.8)
        for j, m in enumerate(s["methods"]):
            px, mean, lo, hi, xv = [], [], [], [], []
            for x in sel:
                rs = s["series"].get((m, x), [])
                if not rs:
                    continue
                v = np.array([score(r, m, key) for r in rs])
                px.append(shift(x, j, sel, cat)), mean.append(v.mean()), lo.append(v.min()), hi.append(v.max())
                xv.append(x)
            mean, lo, hi = map(np.array, (mean, lo, hi))
            ax.errorbar(px, mean, yerr=[mean - lo, hi - mean], color=COLOR.get(m), marker=MARKER.get(m, "o"),
                        markersize=6, linewidth=1.8, capsize=4, elinewidth=1.2, zorder=3)
            for x, xx, v in zip(xv, px, mean):  # first method's numbers below left, the others' above right
                if x not in numbers:
                    continue
                t = f"{100 * v:.1f}" if key == "balance" else f"{v:.3f}"
                first = j == 0 and nm > 1
                below = first and not (key == "balance" and v < 0.1)  # not under the x axis
                ax.annotate(t, (xx, v), textcoords="offset points", xytext=(-6 if first else 6, -9 if below else 9),
                            ha="right" if first else "left", va="center", fontsize=fs, color=COLOR.get(m),
                            fontweight="bold", zorder=5,
                            bbox=dict(boxstyle="round,pad=0.12", fc="white", ec="none", alpha=0.75))
        if logx and not cat:
            ax.set_xscale("log")
        ax.set_xticks(pos)
        ax.set_xticklabels([fx(x) for x in sel])
        ax.minorticks_off()
        ax.grid(alpha=0.3)
        if cat:
            ax.set_xlim(-0.4, len(sel) - 0.6)
        elif logx:
            ax.set_xlim(min(sel) / 1.5, max(sel) * 1.5)
        else:
            span = max(sel) - min(sel) or 1.0
            ax.set_xlim(min(sel) - 0.12 * span, max(sel) + 0.12 * span)

    for ax, key in zip(axes[:2], ("balance", "cost")):
        # a few settings far off (e.g. M = total: one merge of independent robots) squash the others:
        # those get a zoomed inset with their numbers
        if key == "balance":
            near = [x for x in xs if min(means(key, x)) >= 0.8]
        else:
            top = max(max(jh for jh in joint_values(s, x, key)) for x in xs)
            near = [x for x in xs if max(means(key, x)) <= 1.3 * top]
        inset = 2 <= len(near) < len(xs)
        draw(ax, key, xs, [x for x in xs if not inset or x not in near], 8)
        ax.set_xlabel(XLABEL[kind], fontsize=9)
        if inset:
            far = [x for x in xs if x not in near]
            right = np.mean([xs.index(x) for x in far]) >= (len(xs) - 1) / 2  # outliers right: inset left
            high = key == "cost"  # costs go up, balance down: the inset goes where the curves are not
            box = [0.53 if not right else 0.07, 0.38 if high else 0.1, 0.44, 0.5]
            ia = ax.inset_axes(box)
            draw(ia, key, near, near, 7, cat=True)
            vals = [v for x in near for m in s["methods"] for r in s["series"].get((m, x), [])
                    for v in [score(r, m, key)]] + [v for x in near for v in joint_values(s, x, key)]
            pad = 0.25 * (max(vals) - min(vals) or 0.01)
            ia.set_ylim(min(vals) - pad, max(vals) + pad)
            ia.tick_params(labelsize=7)
            ia.set_title(f"zoom: {XSYM[kind]} = {', '.join(fx(x) for x in near)}", fontsize=8)
            ia.set_facecolor("#fbfbfb")
    allb = [score(r, m, "balance") for lst in s["series"].values() for r in lst for m in (r["method"], JOINT)]
    zoom = min(allb) >= 0.5  # everything near the top: zoom in, say so
    lo_b = math.floor((min(allb) - 0.02) * 20) / 20 if zoom else -0.03
    axes[0].set_ylim(lo_b, 1.008 if zoom else 1.06)
    axes[0].set_ylabel("balance rate of the merged policy (mean over tasks)")
    axes[0].set_title("(a) balance rate (number = mean over seeds, %)" +
                      (f"; y axis from {lo_b:g}" if zoom else ""), fontsize=10)
    axes[1].set_ylabel("quadratic cost per step (mean over tasks)")
    axes[1].set_title("(b) cost, lower is better (failed episodes end early: not comparable)", fontsize=10)
    handles = [Line2D([], [], color=COLOR.get(m), marker=MARKER.get(m, "o"), linewidth=1.8) for m in s["methods"]]
    names = [f"{label(m)} rounds: mean over seeds, whiskers min-max" for m in s["methods"]]
    handles.append(Line2D([], [], color=COLOR[JOINT], linestyle="--", marker="D", markersize=4, linewidth=1.8))
    names.append(f"joint training (pooled, data-parallel, {s['fixed']['total']} epochs): mean, band min-max")
    if kind == "epochs":
        ax = axes[2]
        styles = ["-", "--", ":", "-."]
        marks = ["o", "s", "^", "v", "D", "P"]
        for j, m in enumerate(s["methods"]):
            for i, x in enumerate(xs):
                rs = s["series"].get((m, x), [])
                if not rs:
                    continue
                losses = np.array([r["rd"]["merged_bc_loss"] for r in rs])
                ep = np.arange(1, losses.shape[1] + 1) * int(x)
                ax.plot(ep, losses.mean(axis=0), color=COLOR.get(m), linestyle=styles[i % 4], linewidth=1.5,
                        marker=marks[i % len(marks)], markersize=4 if len(ep) < 20 else 2.5,
                        label=f"{label(m)}, M = {fx(x)}")
        jl = [r["joint_loss"] for lst in s["series"].values() for r in lst]
        ax.axhline(np.mean(jl), color=COLOR[JOINT], linestyle="--", linewidth=1.5,
                   label=f"joint (pooled) after {s['fixed']['total']} epochs")
        ax.set_xlabel("local epochs done (round x M)", fontsize=9)
        ax.set_ylabel("merged policy's BC loss on all data (mean over seeds)")
        ax.set_title("(c) merged BC loss after every round", fontsize=10)
        lo = min(min(jl), min(float(np.min(r["rd"]["merged_bc_loss"])) for lst in s["series"].values() for r in lst))
        # the first rounds of averaging independently initialized robots are far above: clip the axis
        late = [float(v) for lst in s["series"].values() for r in lst for v in r["rd"]["merged_bc_loss"][len(r["rd"]["merged_bc_loss"]) // 2:]]
        hi = max(max(late), lo * 1.3)
        ax.set_ylim(lo - 0.05 * (hi - lo), hi + 0.35 * (hi - lo))
        ax.set_xlim(0, s["fixed"]["total"] + 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8.5, ncol=len(s["methods"]) + 1, loc="upper center", bbox_to_anchor=(0.5, -0.1),
                  frameon=False)
    runs = [r for lst in s["series"].values() for r in lst]
    seeds = " ".join(str(q) for q in sorted({r["seed"] for r in runs}))
    fig.suptitle(f"fleetmerge merging rounds, cart-pole RNN: {kind} sweep ({s['name']})\n{fixed_text(kind, s['fixed'])};"
                 f" seeds {seeds}; {runs[0]['tasks']} tasks x {runs[0]['rollouts']} episodes", fontsize=11)
    if kind == "epochs":  # legend of (a) and (b) between the rows
        fig.tight_layout(rect=(0, 0, 1, 1), h_pad=6.0)
        top = axes[0].get_position()
        fig.legend(handles, names, loc="upper center", bbox_to_anchor=(0.5, top.y0 - 0.045), ncol=2, fontsize=9,
                   frameon=False)
    else:
        fig.legend(handles, names, loc="lower center", ncol=2, fontsize=9, frameon=False)
        fig.tight_layout(rect=(0, 0.08, 1, 1))
    fc.savefig(fig, path, dpi=110)


def main(argv):
    ap = fc.argparser(__doc__)
    ap.add_argument("files", nargs="+", metavar="RESULTS.h5", help="results of pipelines/rounds.sh runs")
    ap.add_argument("--png-dir", help="write rounds_<sweep>.png here for every sweep present")
    ap.add_argument("--md", help="output Markdown report")
    args = ap.parse_args(argv)
    if not (args.md or args.png_dir):
        ap.error("nothing to write: give --md and/or --png-dir")
    runs = [read_run(p) for p in dict.fromkeys(args.files)]
    sweeps = collect(runs)
    if args.png_dir:
        for kind in SWEEPS:
            if kind in sweeps:
                plot_sweep(kind, sweeps[kind], f"{args.png_dir}/rounds_{kind}.png")
    if args.md:
        lines = ["# Merging rounds (issue 5, paper Figure 4 analogs)", "",
                 "Every robot trains M local epochs on its own data, the round's participants are merged (`average`",
                 "= FedAvg; `fleet_merge` = one Algorithm 1 epoch per round), every robot restarts from the merged",
                 "model. Joint = the run's pooled policy (data-parallel training on every robot's data, as many",
                 "epochs as the rounds in total): the upper bound. Balance = pole up and cart on the track for the",
                 "whole episode, mean over tasks, then mean over seeds [min-max over seeds]; worst task = lowest",
                 "task balance, mean over seeds [min]; cost = mean quadratic cost per step; merged BC loss = per-step",
                 "loss of the final merged policy on all the fleet's data; local = each robot's own policy trained",
                 "for the same total epochs on its own data, mean over robots. Every number is computed from the",
                 "results files.", ""]
        lines += target_markdown(sweeps)
        for kind in SWEEPS:
            if kind in sweeps:
                lines += sweep_markdown(kind, sweeps[kind])
        lines += comm_notes(sweeps)
        lines += determinism_markdown(runs)
        lines += timing_markdown(sweeps)
        lines += ["Files: " + ", ".join(f"`{r['path']}`" for r in runs), ""]
        with open(args.md, "w") as out:
            out.write("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:])
