#!/usr/bin/python3
"""Mode-connectivity and one-shot merge report for fleetmerge's neural cart-pole runs (issue 4).

Reads results.h5 files written by `fleet run` (env.kind = cartpole) and writes
  - with --pair FILES (pipelines/merge_pair.sh, two robots, same data, /barrier/<method>/...):
    a PNG (--png-pair) with the BC loss and the balance rate along the straight line between
    robot 0 and robot 1 (lambda = 0 .. 1), one line per method (average = plain interpolation,
    the others after aligning robot 1 to robot 0), mean over seeds, shaded min-max over seeds;
  - with --oneshot FILES (pipelines/merge_oneshot.sh, 5 robots, fleet.alpha swept): a PNG
    (--png-oneshot) with, per alpha, grouped bars of the balance rate (mean over tasks, bar = mean
    over seeds, whiskers = min-max over seeds) of every merge method, the robots' own policies
    (local, mean over robots), pooled and the expert; second panel the cost;
  - a Markdown report (--md): barrier tables, one-shot score tables per alpha, the issue's two
    targets evaluated from these numbers, the merge diagnostics (/merge/<method>/changed:
    assignments changed per epoch, 0 = a no-op; MergeMany sweeps and distance) and the merge wall
    times (/timing/merge_seconds, in the order of merge.methods) next to the local training time
    (/timing/phase_seconds[1]).
Runs are grouped by experiment name with the "_a<alpha>_s<seed>" / "_s<seed>" tag removed;
alpha and seed are read from the resolved config stored in each file (/config).

Targets (issue 4):
  (a) barrier after fleet_merge <= 10% of the plain-interpolation barrier (BC loss and balance);
  (b) one-shot N = 5, alpha in {1, 10}, every seed: fleet_merge balance >= 85% of the locals'
      mean AND above git_rebasin's, with lower cost than git_rebasin.

usage: /usr/bin/python3 analysis/merge_report.py [--pair RESULTS.h5 ...] [--oneshot RESULTS.h5 ...]
           [--png-pair OUT.png] [--png-oneshot OUT.png] --md OUT.md
"""
import functools
import math
import re
import sys

import h5py
import numpy as np

import fmcommon as fc
from fmcommon import COLOR, fa, num, pct, score, text

SCORES = ("balance", "setpoint", "cost")
FIXED = ("local", "pooled", "expert")  # drawn after the merge methods, in this order
LABEL = {"local": "local (mean)", "pooled": "pooled", "expert": "expert (full state)",
         "average": "average (plain)"}
PLAIN, FM, GIT = "average", "fleet_merge", "git_rebasin"
BARRIER_RATIO = 0.10     # target (a)
LOCAL_FRACTION = 0.85    # target (b)
TARGET_ALPHAS = (1.0, 10.0)
TARGET_ROBOTS = 5
EPS = 1e-12


CONFIG = {("experiment", "seed"): int, ("fleet", "alpha"): float, ("merge", "methods"): list, ("eval", "rollouts"): int}
mean_range = functools.partial(fc.mean_range, short=False)  # one seed too as mean [min-max]


def parse_config(config_text):
    """experiment.seed, fleet.alpha, merge.methods and eval.rollouts from the resolved /config YAML."""
    c = fc.parse_config(config_text, CONFIG)
    return (c["seed"] if c["seed"] is not None else -1, c["alpha"] if c["alpha"] is not None else math.nan,
            c["methods"] or [], c["rollouts"] if c["rollouts"] is not None else -1)


def read_run(path):
    """One results file: scores, losses, barriers, merge diagnostics and timings."""
    with h5py.File(path, "r") as f:
        fc.check_results(f, path, "cartpole")
        exp = text(f.attrs["experiment"])
        seed, alpha, methods, rollouts = parse_config(text(f["config"][()]))
        m = re.search(r"(_a[0-9.eE+-]+)?_s\d+$", exp)
        run = dict(path=path, exp=exp, name=exp[:m.start()] if m else exp, seed=seed, alpha=alpha, rollouts=rollouts,
                   robots=int(f.attrs["num_robots"]), tasks=int(f.attrs["num_tasks"]),
                   methods=[p for p in methods if f"eval/{p}" in f] or
                   [p for p in f["eval"] if p not in FIXED],
                   scores={}, loss={}, barrier={}, diag={}, timing={})
        for pol in run["methods"] + [p for p in FIXED if p in f["eval"]]:
            run["scores"][pol] = fc.eval_scores(f, pol, SCORES)
        read_losses(f, run)
        for pol in run["methods"]:
            g = f.get(f"barrier/{pol}")
            if g is None:
                continue
            run["barrier"][pol] = dict(
                {k: np.array(g[k], dtype=float) for k in ("lambda", "loss", "balance", "cost")},
                loss_barrier=float(g.attrs["loss_barrier"]), balance_barrier=float(g.attrs["balance_barrier"]))
        for pol in run["methods"]:
            g = f.get(f"merge/{pol}")
            if g is None:
                continue
            d = {k: np.array(g[k], dtype=float) for k in
                 ("changed", "updaters", "interp_loss", "rowmax_first", "rowmax_last", "mm_distance") if k in g}
            d["mm_sweeps"] = int(g.attrs.get("mm_sweeps", 0))
            run["diag"][pol] = d
        if "timing/merge_seconds" in f:
            ms = np.array(f["timing/merge_seconds"], dtype=float)
            run["timing"]["merge"] = dict(zip(run["methods"], ms)) if len(ms) == len(run["methods"]) else {}
        if "timing/phase_seconds" in f:
            run["timing"]["phases"] = np.array(f["timing/phase_seconds"], dtype=float)
    return run


def read_losses(f, run):
    """BC losses on all the fleet's data: every merged policy's and pooled's; local = each robot's loss on its
    own data (/fleet/robot_stats local_bc_loss), mean over the robots, when the file has it."""
    for pol in run["methods"]:
        run["loss"][pol] = fc.merged_loss(f, pol)
    run["loss"]["pooled"] = float(f["fleet"].attrs.get("pooled_bc_loss", math.nan))
    local = fc.robot_stat(f, "local_bc_loss")
    if local is not None:
        run["loss"]["local"] = float(np.mean(local))


def group_runs(paths, by_alpha):
    """Runs grouped by (name, alpha) or name, each group sorted by seed."""
    groups = {}
    for p in paths:
        r = read_run(p)
        key = (r["name"], r["alpha"]) if by_alpha else (r["name"],)
        groups.setdefault(key, []).append(r)
    out = []
    for key in sorted(groups, key=lambda k: tuple(str(x) if isinstance(x, str) else x for x in k)):
        runs = sorted(groups[key], key=lambda r: r["seed"])
        seeds = [r["seed"] for r in runs]
        if len(set(seeds)) != len(seeds):
            raise SystemExit(f"{key}: seed given twice ({[r['path'] for r in runs]})")
        methods = list(dict.fromkeys(m for r in runs for m in r["methods"]))
        out.append(dict(name=key[0], alpha=key[1] if by_alpha else runs[0]["alpha"], runs=runs,
                        seeds=seeds, methods=methods, robots=runs[0]["robots"], tasks=runs[0]["tasks"]))
    return out


def label(pol):
    return LABEL.get(pol, pol)


def policies(g):
    return g["methods"] + [p for p in FIXED if all(p in r["scores"] for r in g["runs"])]


def seeds_text(g):
    return " ".join(map(str, g["seeds"]))


# ---------------------------------------------------------------- mode connectivity (pair)

def holds(fm, plain):
    """fm barrier <= 10% of the plain barrier (a plain barrier of 0 then needs fm <= 0)."""
    return fm <= BARRIER_RATIO * plain + EPS


def ratio(fm, plain):
    return fm / plain if plain > EPS else math.nan


def pair_markdown(groups):
    lines = ["## Mode connectivity (Fig. 3 a/b analog, pipelines/merge_pair.sh)", "",
             "Two robots clone an RNN from the same demonstrations (`fleet.shared_data`) from different",
             "initializations. Along theta(lambda) = (1 - lambda) theta_0 + lambda P(theta_1), lambda = 0 .. 1,",
             "the BC loss is measured on all the data and the balance rate over `eval.rollouts` episodes per",
             "task. `average` = plain interpolation (P = identity); the other methods first align robot 1",
             "to robot 0. Loss barrier = max_lambda L(lambda) - (L(0) + L(1)) / 2; balance barrier =",
             "max_lambda (B(0) + B(1)) / 2 - B(lambda) (both >= 0; 0 = linearly mode connected).",
             "Ratio = method's barrier / the plain-interpolation barrier (per seed, and of the seed means).", ""]
    verdicts = []
    for g in groups:
        runs, methods = g["runs"], [m for m in g["methods"] if all(m in r["barrier"] for r in g["runs"])]
        lines += [f"### {g['name']} ({g['robots']} robots, {g['tasks']} tasks, seeds {seeds_text(g)})", ""]
        if not methods:
            lines += ["No /barrier data in these files (eval.barrier_points = 0 or fewer than 2 robots).", ""]
            continue
        hdr = " | ".join(f"s{s}" for s in g["seeds"])
        lines += [f"| method | loss barrier mean | {hdr} | loss ratio (of means) | balance barrier mean | {hdr} "
                  f"| balance ratio (of means) | loss at lambda=0.5 | balance at lambda=0.5 |",
                  "|---|---|" + "---|" * len(runs) + "---|---|" + "---|" * len(runs) + "---|---|---|"]
        for m in methods:
            lb = np.array([r["barrier"][m]["loss_barrier"] for r in runs])
            bb = np.array([r["barrier"][m]["balance_barrier"] for r in runs])
            if PLAIN in methods:
                plb = np.array([r["barrier"][PLAIN]["loss_barrier"] for r in runs])
                pbb = np.array([r["barrier"][PLAIN]["balance_barrier"] for r in runs])
                lr = ", ".join(num(ratio(a, b), 2) for a, b in zip(lb, plb)) + f" ({num(ratio(lb.mean(), plb.mean()), 2)})"
                br = ", ".join(num(ratio(a, b), 2) for a, b in zip(bb, pbb)) + f" ({num(ratio(bb.mean(), pbb.mean()), 2)})"
            else:
                lr = br = "n/a"
            mid = [int(np.argmin(np.abs(r["barrier"][m]["lambda"] - 0.5))) for r in runs]
            lm = np.mean([r["barrier"][m]["loss"][i] for r, i in zip(runs, mid)])
            bm = np.mean([r["barrier"][m]["balance"][i] for r, i in zip(runs, mid)])
            lines.append(f"| {label(m)} | {num(lb.mean(), 4)} | " + " | ".join(num(v, 4) for v in lb) +
                         f" | {lr} | {num(bb.mean(), 3)} | " + " | ".join(num(v, 3) for v in bb) +
                         f" | {br} | {num(lm, 4)} | {pct(bm)} |")
        r0 = runs[0]["barrier"][methods[0]]
        ends_l = [(r["barrier"][methods[0]]["loss"][0], r["barrier"][methods[0]]["loss"][-1]) for r in runs]
        ends_b = [(r["barrier"][methods[0]]["balance"][0], r["barrier"][methods[0]]["balance"][-1]) for r in runs]
        lines += ["", f"End points (robot 0, robot 1; {len(r0['lambda'])} points): " +
                  "; ".join(f"s{s} loss {num(a, 4)}, {num(b, 4)}, balance {pct(c)}, {pct(d)}"
                            for s, (a, b), (c, d) in zip(g["seeds"], ends_l, ends_b)) + ".", ""]
        # merged policies of the pair runs themselves (2 robots, same data)
        lines += ["Merged policies of these 2-robot runs (balance: mean over tasks, mean [min-max] over seeds):", "",
                  "| policy | balance | cost | BC loss |", "|---|---|---|---|"]
        for pol in policies(g):
            lines.append(f"| {label(pol)} | {mean_range([score(r, pol, 'balance') for r in runs], pct)} | "
                         f"{num(np.mean([score(r, pol, 'cost') for r in runs]))} | "
                         f"{num(np.nanmean([r['loss'].get(pol, math.nan) for r in runs]) if any(not math.isnan(r['loss'].get(pol, math.nan)) for r in runs) else math.nan, 4)} |")
        lines.append("")
        verdicts.append(target_a(g, methods))
    return lines, verdicts


def target_a(g, methods):
    """Target (a) from the numbers: per seed and on the seed means, for loss and balance."""
    head = (f"**Target (a)** ({g['name']}): barrier after fleet_merge <= {100 * BARRIER_RATIO:.0f}% of the "
            "plain-interpolation barrier (BC loss and balance rate)")
    if FM not in methods or PLAIN not in methods:
        return [head + ": cannot be evaluated (needs both `average` and `fleet_merge` barriers).", ""]
    runs = g["runs"]
    out = [head + ":", "", "| seed | loss: fleet_merge / plain | ratio | holds | balance: fleet_merge / plain | ratio | holds |",
           "|---|---|---|---|---|---|---|"]
    ok_l, ok_b = [], []
    rows = [(f"s{r['seed']}", r["barrier"][FM]["loss_barrier"], r["barrier"][PLAIN]["loss_barrier"],
             r["barrier"][FM]["balance_barrier"], r["barrier"][PLAIN]["balance_barrier"]) for r in runs]
    for name, fl, pl, fb, pb in rows:
        ok_l.append(holds(fl, pl)), ok_b.append(holds(fb, pb))
    mean = ("mean over seeds", *(float(np.mean([row[q] for row in rows])) for q in (1, 2, 3, 4)))
    for name, fl, pl, fb, pb in rows + [mean]:
        out.append(f"| {name} | {num(fl, 4)} / {num(pl, 4)} | {num(ratio(fl, pl), 3)} | "
                   f"{'yes' if holds(fl, pl) else 'NO'} | {num(fb, 3)} / {num(pb, 3)} | {num(ratio(fb, pb), 3)} | "
                   f"{'yes' if holds(fb, pb) else 'NO'} |")
    mean_ok = holds(mean[1], mean[2]) and holds(mean[3], mean[4])
    every = all(ok_l) and all(ok_b)
    verdict = ("MET in every seed" if every else
               "MET on the seed means, not in every seed" if mean_ok else "NOT MET")
    out += ["", f"Verdict (a): **{verdict}**: loss part holds in {sum(ok_l)}/{len(runs)} seeds "
            f"({'holds' if holds(mean[1], mean[2]) else 'fails'} on the means), balance part in "
            f"{sum(ok_b)}/{len(runs)} seeds ({'holds' if holds(mean[3], mean[4]) else 'fails'} on the means).", ""]
    return out


def plot_pair(groups, path):
    plt = fc.pyplot()
    g = groups[0]
    runs = g["runs"]
    methods = [m for m in g["methods"] if all(m in r["barrier"] for r in runs)]
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.6))
    handles = []
    for ax, key, ylab in ((axes[0], "loss", "BC loss (all data, normalized units)"),
                          (axes[1], "balance", "balance rate (mean over tasks)")):
        for m in methods:
            lam = runs[0]["barrier"][m]["lambda"]
            v = np.array([r["barrier"][m][key] for r in runs])
            c = COLOR.get(m)
            line, = ax.plot(lam, v.mean(axis=0), marker="o", markersize=4, color=c, linewidth=1.8,
                            linestyle="--" if m == PLAIN else "-")
            ax.fill_between(lam, v.min(axis=0), v.max(axis=0), color=c, alpha=0.15, linewidth=0)
            if key == "loss":
                lb = np.array([r["barrier"][m]["loss_barrier"] for r in runs])
                bb = np.array([r["barrier"][m]["balance_barrier"] for r in runs])
                handles.append((line, f"{label(m)}: loss barrier {lb.mean():.3f} [{lb.min():.3f}-{lb.max():.3f}], "
                                      f"balance barrier {bb.mean():.3f} [{bb.min():.3f}-{bb.max():.3f}]"))
        ax.set_xlabel("lambda  (0 = robot 0, 1 = robot 1 after alignment)")
        ax.set_ylabel(ylab)
        ax.set_xlim(0, 1)
        ax.set_xticks(np.linspace(0, 1, 11))
        ax.grid(alpha=0.3)
    axes[1].set_ylim(-0.02, 1.05)
    axes[1].set_yticks(np.arange(0, 1.01, 0.1))
    lo = min(float(np.min([r["barrier"][m]["loss"] for r in runs])) for m in methods)
    hi = max(float(np.max([r["barrier"][m]["loss"] for r in runs])) for m in methods)
    axes[0].set_ylim(lo - 0.08 * (hi - lo), hi + 0.08 * (hi - lo))
    fig.legend([h for h, _ in handles], [t for _, t in handles], loc="lower center", ncol=2, fontsize=8.5,
               title="method (interpolating robot 0 and the aligned robot 1): barrier mean [min-max over seeds]",
               title_fontsize=8.5, frameon=False)
    axes[0].set_title("(a) BC loss along the interpolation path", fontsize=10)
    axes[1].set_title(f"(b) balance rate along the path ({runs[0]['tasks']} tasks x {runs[0]['rollouts']} episodes)",
                      fontsize=10)
    fig.suptitle(f"fleetmerge mode connectivity, cart-pole RNN: {g['name']}, {g['robots']} robots on the same data, "
                 f"seeds {seeds_text(g)}; line = mean over seeds, band = min-max over seeds", fontsize=10.5)
    fig.tight_layout(rect=(0, 0.13, 1, 1))
    fc.savefig(fig, path, dpi=120)


# ---------------------------------------------------------------- one-shot merge

def oneshot_markdown(groups):
    lines = ["## One-shot merge (Fig. 3 d analog, pipelines/merge_oneshot.sh)", "",
             "Each robot clones an RNN from its own Dirichlet task mixture (concentration alpha) from its own",
             "initialization; the fleet's policies are merged once. Columns: balance = mean over tasks, then",
             "mean over seeds [min-max over seeds]; worst task = lowest task balance, mean over seeds [min];",
             "cost = mean quadratic cost per step, mean over tasks then seeds (failed episodes end early, so",
             "their cost is not comparable); BC loss = per-step loss of the merged policy on all the fleet's",
             "data (/models/merged/<m> attribute bc_loss), mean over seeds; for `local` it is each robot's",
             "loss on its own data, mean over robots; `local (mean)` scores every robot's own policy,",
             "averaged over robots per task.", ""]
    for g in groups:
        runs = g["runs"]
        lines += [f"### {g['name']}, alpha = {fa(g['alpha'])} ({g['robots']} robots, {g['tasks']} tasks, "
                  f"seeds {seeds_text(g)})", "",
                  "| policy | balance | worst task | cost | BC loss |", "|---|---|---|---|---|"]
        for pol in policies(g):
            wb = [score(r, pol, "balance", worst=True) for r in runs]
            losses = [r["loss"].get(pol, math.nan) for r in runs]
            loss = float(np.mean(losses)) if not any(math.isnan(x) for x in losses) else math.nan
            lines.append(f"| {label(pol)} | {mean_range([score(r, pol, 'balance') for r in runs], pct)} | "
                         f"{pct(float(np.mean(wb)))} [{pct(min(wb))}] | "
                         f"{num(float(np.mean([score(r, pol, 'cost') for r in runs])))} | {num(loss, 4)} |")
        lines.append("")
    return lines


def target_b(groups):
    """Target (b) per fleet (alpha, seed) for alpha in TARGET_ALPHAS, with an overall verdict."""
    head = (f"**Target (b)**: one-shot N = {TARGET_ROBOTS}, alpha in {{{', '.join(fa(a) for a in TARGET_ALPHAS)}}}, "
            f"every seed: fleet_merge balance >= {100 * LOCAL_FRACTION:.0f}% of the locals' mean (part 1) AND "
            "above git_rebasin's (part 2), with lower cost than git_rebasin (part 3). Rows for other alphas are "
            "shown for information and do not enter the verdict.")
    out = [head, "", "| alpha | seed | fleet_merge balance | 85% of local mean | part 1 | git_rebasin balance | part 2 "
           "| fleet_merge cost | git_rebasin cost | part 3 | all |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    verdict_rows, missing = [], []
    for g in groups:
        for r in g["runs"]:
            if any(p not in r["scores"] for p in (FM, GIT, "local")):
                out.append(f"| {fa(g['alpha'])} | {r['seed']} | missing fleet_merge, git_rebasin or local scores "
                           "| | | | | | | | NO |")
                if any(abs(g["alpha"] - a) < 1e-9 for a in TARGET_ALPHAS):
                    verdict_rows.append(False)
                continue
            fb, gb, lb = (score(r, p, "balance") for p in (FM, GIT, "local"))
            fmc, gc = score(r, FM, "cost"), score(r, GIT, "cost")
            p1, p2, p3 = fb >= LOCAL_FRACTION * lb - EPS, fb > gb + EPS, fmc < gc - EPS
            ok = p1 and p2 and p3
            counted = any(abs(g["alpha"] - a) < 1e-9 for a in TARGET_ALPHAS) and r["robots"] == TARGET_ROBOTS
            if counted:
                verdict_rows.append(ok)
            yn = lambda b: "yes" if b else "NO"
            out.append(f"| {fa(g['alpha'])}{'' if counted else ' (info)'} | {r['seed']} | {pct(fb)} | "
                       f"{pct(LOCAL_FRACTION * lb)} (local {pct(lb)}) | {yn(p1)} | {pct(gb)} | {yn(p2)} | "
                       f"{num(fmc)} | {num(gc)} | {yn(p3)} | **{yn(ok)}** |")
    have = {round(g["alpha"], 9) for g in groups if g["robots"] == TARGET_ROBOTS}
    missing = [a for a in TARGET_ALPHAS if round(a, 9) not in have]
    if missing:
        verdict = f"NOT EVALUATED for alpha {', '.join(fa(a) for a in missing)} (no runs)"
        if verdict_rows and not all(verdict_rows):
            verdict = "NOT MET" + f" (and no runs for alpha {', '.join(fa(a) for a in missing)})"
    else:
        verdict = "MET" if all(verdict_rows) else "NOT MET"
    out += ["", f"Verdict (b): **{verdict}**: {sum(verdict_rows)}/{len(verdict_rows)} target fleets satisfy all "
            "three parts.", ""]
    return out


def plot_oneshot(groups, path):
    plt = fc.pyplot()
    pols = list(dict.fromkeys(p for g in groups for p in policies(g)))
    fig, axes = plt.subplots(2, 1, figsize=(max(11, 2.0 + 0.5 * len(pols) * len(groups)), 9.5), sharex=True)
    width = 0.85 / len(pols)
    costs = [score(r, p, "cost") for g in groups for r in g["runs"] for p in pols]
    costs = [c for c in costs if c > 0 and not math.isnan(c)]
    logcost = bool(costs) and max(costs) / min(costs) > 30
    if logcost:
        axes[1].set_yscale("log")
    for ax, key in zip(axes, ("balance", "cost")):
        for gi, g in enumerate(groups):
            for j, pol in enumerate(pols):
                v = np.array([score(r, pol, key) for r in g["runs"]])
                if np.isnan(v).all():
                    continue
                x = gi + (j - (len(pols) - 1) / 2) * width
                ax.bar(x, v.mean(), width * 0.9, color=COLOR.get(pol), edgecolor="black", linewidth=0.5,
                       label=label(pol) if gi == 0 else None)
                ax.errorbar(x, v.mean(), yerr=[[v.mean() - v.min()], [v.max() - v.mean()]], color="black",
                            capsize=2.5, linewidth=0.8)
                txt = f"{100 * v.mean():.0f}" if key == "balance" else f"{v.mean():.2g}"
                y = v.max() + 0.012 if key == "balance" else v.max() * 1.04 if logcost else v.max() + 0.01 * max(costs)
                ax.text(x, y, txt, ha="center", va="bottom", fontsize=8)
            if key == "balance" and all("local" in r["scores"] for r in g["runs"]):
                lb = np.mean([score(r, "local", "balance") for r in g["runs"]])
                ax.hlines(LOCAL_FRACTION * lb, gi - 0.45, gi + 0.45, colors="#2ca02c", linestyles=":",
                          linewidth=1.3, label=f"{100 * LOCAL_FRACTION:.0f}% of local mean" if gi == 0 else None)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylim(0, 1.15)
    axes[0].set_yticks(np.arange(0, 1.01, 0.2))
    axes[0].set_ylabel("balance rate (mean over tasks)")
    axes[0].set_title("(1) balance rate: episodes balanced for the whole horizon (number = mean in %)",
                      fontsize=9.5)
    handles, labels = axes[0].get_legend_handles_labels()
    order = [labels.index(label(p)) for p in pols if label(p) in labels] + \
        [i for i, t in enumerate(labels) if t not in [label(p) for p in pols]]
    fig.legend([handles[i] for i in order], [labels[i] for i in order], loc="lower center",
               ncol=(len(order) + 1) // 2 if len(order) > 5 else len(order), fontsize=9, frameon=False)
    if logcost:
        axes[1].set_ylabel("quadratic cost per step (log scale)")
    else:
        axes[1].set_ylim(0, max(costs) * 1.15 if costs else 1)
        axes[1].set_ylabel("quadratic cost per step (mean over tasks)")
    axes[1].set_title("(2) cost (lower is better; failed episodes end early, so their cost is not comparable)",
                      fontsize=9.5)
    axes[1].set_xticks(range(len(groups)))
    axes[1].set_xticklabels([f"alpha = {fa(g['alpha'])}\n({g['name']}, seeds {seeds_text(g)})" for g in groups],
                            fontsize=9)
    g0 = groups[0]
    fig.suptitle(f"fleetmerge one-shot merge, cart-pole RNN: {g0['robots']} robots, {g0['tasks']} tasks, "
                 "Dirichlet(alpha) task mixtures\nbar = mean over seeds (of the mean over tasks), "
                 "whiskers = min-max over seeds", fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fc.savefig(fig, path, dpi=120)


# ---------------------------------------------------------------- diagnostics and timings

def diag_cell(d, pol):
    if d is None:
        return "n/a"
    parts = []
    if "changed" in d:
        ch = d["changed"]
        upd = d.get("updaters")
        s = "changed " + " / ".join(f"{c:g}" for c in ch)
        if upd is not None and len(upd):
            s += f" (robots updating: {'/'.join(f'{u:g}' for u in upd)})"
        zero = [i + 1 for i, c in enumerate(ch) if c == 0]
        if len(zero) == len(ch):
            s += " **NO-OP**"
        elif zero:
            s += f" (epoch {', '.join(map(str, zero))} no-op)"
        parts.append(s)
    if d.get("mm_sweeps", 0) > 0:
        dist = d.get("mm_distance")
        parts.append(f"MergeMany {d['mm_sweeps']} sweeps, distance {dist[0]:.4g}" if dist is not None and len(dist)
                     else f"MergeMany {d['mm_sweeps']} sweeps")
    if not parts:
        parts.append("no alignment (plain mean)" if pol == PLAIN else "no alignment logged")
    return "; ".join(parts)


def diag_markdown(all_groups):
    lines = ["## Merge diagnostics", "",
             "`changed` = hard-assignment changes summed over the robots that updated, per fleet_merge epoch (or the",
             "single SoftUpdate of sinkhorn_rebasin); 0 means the soft update left every permutation as it was",
             "(a no-op). MergeMany = weight-matching sweeps over the robots and the final",
             "sum_i ||P_i(theta_i) - mean||^2 (git_rebasin, and fleet_merge's starting point).", ""]
    noop = []
    for kind, groups in all_groups:
        methods = list(dict.fromkeys(m for g in groups for m in g["methods"]))
        lines += [f"| {kind} run | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
        for g in groups:
            for r in g["runs"]:
                tag = f"{g['name']} alpha {fa(g['alpha'])} s{r['seed']}" if kind == "one-shot" else f"{g['name']} s{r['seed']}"
                cells = [diag_cell(r["diag"].get(m), m) for m in methods]
                for m in methods:
                    d = r["diag"].get(m)
                    if d is not None and "changed" in d and len(d["changed"]) and (d["changed"] == 0).all():
                        noop.append(f"{m} in {tag}")
                lines.append(f"| {tag} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["No-ops (every logged `changed` = 0): " + (", ".join(noop) if noop else "none") + ".", ""]
    return lines


def timing_markdown(all_groups):
    lines = ["## Wall times", "",
             "Seconds, mean [min-max] over seeds: local training (/timing/phase_seconds[1]) and each merge method",
             "(/timing/merge_seconds, in the order of merge.methods), all max over ranks; ratio = merge / training.",
             "The machine is shared (2 cores, ranks oversubscribed), so these are indicative only.", ""]
    for kind, groups in all_groups:
        methods = list(dict.fromkeys(m for g in groups for m in g["methods"]))
        lines += [f"| {kind} | local training | " + " | ".join(methods) + " | whole run (all phases) |",
                  "|---|---|" + "---|" * len(methods) + "---|"]
        for g in groups:
            runs = g["runs"]
            train = [r["timing"]["phases"][1] if "phases" in r["timing"] else math.nan for r in runs]
            total = [float(np.sum(r["timing"]["phases"])) if "phases" in r["timing"] else math.nan for r in runs]
            cells = []
            for m in methods:
                t = [r["timing"].get("merge", {}).get(m, math.nan) for r in runs]
                rt = np.nanmean(t) / np.nanmean(train) if not np.isnan(t).all() else math.nan
                cells.append(f"{mean_range(t, lambda v: f'{v:.3g}')} ({num(rt, 2)}x)")
            tag = f"alpha {fa(g['alpha'])}" if kind == "one-shot" else g["name"]
            lines.append(f"| {tag} | {mean_range(train, lambda v: f'{v:.3g}')} | " + " | ".join(cells) +
                         f" | {mean_range(total, lambda v: f'{v:.3g}')} |")
        lines.append("")
    return lines


def main(argv):
    ap = fc.argparser(__doc__)
    ap.add_argument("--pair", nargs="+", default=[], metavar="RESULTS.h5",
                    help="results of the mode-connectivity runs (pipelines/merge_pair.sh)")
    ap.add_argument("--oneshot", nargs="+", default=[], metavar="RESULTS.h5",
                    help="results of the one-shot merge runs (pipelines/merge_oneshot.sh)")
    ap.add_argument("--png-pair", help="output PNG: loss and balance along the interpolation path")
    ap.add_argument("--png-oneshot", help="output PNG: one-shot balance and cost per alpha")
    ap.add_argument("--md", help="output Markdown report")
    args = ap.parse_args(argv)
    if not args.pair and not args.oneshot:
        ap.error("give --pair and/or --oneshot results files")
    if args.png_pair and not args.pair:
        ap.error("--png-pair needs --pair files")
    if args.png_oneshot and not args.oneshot:
        ap.error("--png-oneshot needs --oneshot files")
    if not (args.md or args.png_pair or args.png_oneshot):
        ap.error("nothing to write: give --md, --png-pair and/or --png-oneshot")
    pair = group_runs(args.pair, by_alpha=False) if args.pair else []
    oneshot = group_runs(args.oneshot, by_alpha=True) if args.oneshot else []
    if args.png_pair:
        plot_pair(pair, args.png_pair)
    if args.png_oneshot:
        plot_oneshot(oneshot, args.png_oneshot)
    if args.md:
        lines = ["# Merging neural policies (issue 4): mode connectivity and one-shot merge", "",
                 "Methods: `average` (plain mean, no alignment), `git_rebasin` (MergeMany weight matching),",
                 "`sinkhorn_rebasin` (SoftUpdate against robot 0), `fleet_merge` (Algorithm 1 started from",
                 "weight matching). Balance = the pole stayed up and the cart on the track for the whole",
                 "episode (docs/cartpole.md). Every number below is computed from the results files.", ""]
        verdicts = []
        if pair:
            pl, verdicts = pair_markdown(pair)
            lines += pl
        if oneshot:
            lines += oneshot_markdown(oneshot)
        lines += ["## Targets", ""]
        for v in verdicts:
            lines += v
        if not pair:
            lines += ["**Target (a)**: not evaluated (no --pair files).", ""]
        lines += target_b(oneshot) if oneshot else ["**Target (b)**: not evaluated (no --oneshot files).", ""]
        kinds = [(k, g) for k, g in (("pair", pair), ("one-shot", oneshot)) if g]
        lines += diag_markdown(kinds) + timing_markdown(kinds)
        lines += ["Files: " + ", ".join(f"`{r['path']}`" for _, gs in kinds for g in gs for r in g["runs"]), ""]
        with open(args.md, "w") as out:
            out.write("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:])
