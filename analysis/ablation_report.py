#!/usr/bin/python3
"""Appendix F algorithm ablation report (paper Fig. 7 e analog) for fleetmerge's cart-pole one-shot merge.

Reads the results.h5 files of pipelines/ablation_f.sh (env.kind = cartpole, one run per fleet.alpha and
seed, every merge method of merge.methods in each run) and writes
  - a Markdown report (--md): per alpha, the balance rate (episodes balanced for the whole horizon,
    mean over tasks) of every merged policy and of the trivial answers -- robot 0's own policy, the
    best robot's own policy (chosen per seed, with hindsight), the mean over robots of their own
    policies, the pooled policy (data-parallel training on all the data) and the expert --
    as mean +- sd over seeds (sample sd) with the per-seed values; then the merge diagnostics and
    wall times of analysis/merge_report.py;
  - a PNG (--png): one panel per alpha, a bar per policy (mean over seeds), whiskers = sd (cut at 0 and 1),
    dots = seeds.
Runs are grouped by experiment name (the "_a<alpha>_s<seed>" tag removed) and alpha; alpha and seed come
from the resolved config stored in each file (/config).

usage: /usr/bin/python3 analysis/ablation_report.py RESULTS.h5 ... --md OUT.md [--png OUT.png]
"""
import math
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmcommon as fc  # noqa: E402  (score, formatting, colours, savefig)
import merge_report as mr  # noqa: E402  (read_run, group_runs, diagnostics and timing tables)

TRIVIAL = ("robot0", "best_local", "mean_local", "pooled", "expert")
LABEL = {"robot0": "robot 0's own policy", "best_local": "best local (per seed, hindsight)",
         "mean_local": "mean local (over robots)", "pooled": "pooled (all data)", "expert": "expert (full state)",
         "average": "average (plain)"}
COLOR = dict(fc.COLOR, sinkhorn_data="#bcbd22", fleet_merge_soft="#e377c2", fleet_merge_simplex="#17becf",
             fleet_merge_average="#ff9896", robot0="#98df8a", best_local="#2ca02c", mean_local="#c5e0b4",
             pooled="#9467bd", expert="#8c564b")


def local_scores(path, key):
    """Per-robot score (mean over tasks) of every robot's own policy: /eval/local/<key> [N, K]."""
    with h5py.File(path, "r") as f:
        return np.array(f[f"eval/local/{key}"], dtype=float).mean(axis=1)


def values(g, key):
    """{policy: [score per seed]} for the merge methods and the trivial answers of one (name, alpha) group;
    key = balance (higher is better) or cost (lower is better: the best local is the lowest)."""
    out = {}
    for m in g["methods"]:
        out[m] = [fc.score(r, m, key) for r in g["runs"]]
    loc = [local_scores(r["path"], key) for r in g["runs"]]
    out["robot0"] = [float(v[0]) for v in loc]
    out["best_local"] = [float(v.min() if key == "cost" else v.max()) for v in loc]
    out["mean_local"] = [float(v.mean()) for v in loc]
    for p in ("pooled", "expert"):
        if all(p in r["scores"] for r in g["runs"]):
            out[p] = [fc.score(r, p, key) for r in g["runs"]]
    return out


def balances(g):
    return values(g, "balance")


def mean_sd(v):
    v = np.array([x for x in v if not math.isnan(x)])
    if v.size == 0:
        return math.nan, math.nan
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def cell(v, scale=100, d=1):
    m, s = mean_sd(v)
    if math.isnan(m):
        return "n/a"
    return f"{scale * m:.{d}f} ± {scale * s:.{d}f}"


def seeds_cell(v, scale=100, d=1):
    return " / ".join("n/a" if math.isnan(x) else f"{scale * x:.{d}f}" for x in v)


def table(groups, key="balance"):
    """Method x alpha: mean +- sd over seeds and the per-seed values (balance in %, cost as is)."""
    scale, d = (100, 1) if key == "balance" else (1, 3)
    vals = [values(g, key) for g in groups]
    pols = list(dict.fromkeys(m for g in groups for m in g["methods"])) + \
        [p for p in TRIVIAL if any(p in v for v in vals)]
    head = "| policy | " + " | ".join(f"alpha = {fc.fa(g['alpha'])}: mean ± sd | per seed ({' / '.join(f's{s}' for s in g['seeds'])})"
                                     for g in groups) + " |"
    lines = [head, "|---|" + "---|---|" * len(groups)]
    for p in pols:
        if p == TRIVIAL[0]:
            lines.append("| *trivial answers* |" + " | |" * len(groups))
        cells = []
        for v in vals:
            cells += [cell(v[p], scale, d), seeds_cell(v[p], scale, d)] if p in v else ["n/a", "n/a"]
        lines.append(f"| {LABEL.get(p, p)} | " + " | ".join(cells) + " |")
    return lines, pols, vals


def reading(groups, vals):
    """Sentences computed from the numbers: best merge, merges above the best local / robot 0."""
    out = []
    for g, v in zip(groups, vals):
        ms = [m for m in g["methods"] if m in v]
        means = {m: mean_sd(v[m])[0] for m in ms}
        best = max(ms, key=lambda m: means[m])
        bl, r0, ml = (mean_sd(v[p])[0] for p in ("best_local", "robot0", "mean_local"))
        above_best = [m for m in ms if means[m] > bl]
        above_r0 = [m for m in ms if means[m] > r0]
        out.append(f"- alpha = {fc.fa(g['alpha'])}: highest merge on the seed means: `{best}` "
                   f"({100 * means[best]:.1f}%); mean local {100 * ml:.1f}%, robot 0 {100 * r0:.1f}%, best local "
                   f"{100 * bl:.1f}%. Merges above the best local policy: "
                   f"{', '.join(f'`{m}`' for m in above_best) or 'none'}; above robot 0's own: "
                   f"{', '.join(f'`{m}`' for m in above_r0) or 'none'}.")
        if "sinkhorn_data" in means and "fleet_merge" in means:
            d = [a - b for a, b in zip(v["sinkhorn_data"], v["fleet_merge"])]
            out.append(f"  sinkhorn_data - fleet_merge per seed: {', '.join(f'{100 * x:+.1f}' for x in d)} points.")
    return out


def bc_loss_table(groups):
    """BC loss of every merged policy (and pooled) on all the fleet's data: mean +- sd over seeds, per seed."""
    lines = ["| policy | " + " | ".join(f"alpha = {fc.fa(g['alpha'])}: mean ± sd | per seed" for g in groups) + " |",
             "|---|" + "---|---|" * len(groups)]
    pols = list(dict.fromkeys(m for g in groups for m in g["methods"])) + ["pooled"]
    for p in pols:
        cells = []
        for g in groups:
            v = [r["loss"].get(p, math.nan) for r in g["runs"]]
            cells += [cell(v, 1, 4), seeds_cell(v, 1, 4)]
        lines.append(f"| {LABEL.get(p, p)} | " + " | ".join(cells) + " |")
    return lines


def soft_diag(path, method):
    """Per epoch (per sweep for sinkhorn_data) of one run: rowmax_first, rowmax_last, changed, interp loss."""
    with h5py.File(path, "r") as f:
        g = f.get(f"merge/{method}")
        if g is None or "rowmax_first" not in g:
            return None
        return {k: np.array(g[k], dtype=float) for k in ("rowmax_first", "rowmax_last", "changed", "interp_loss")}


def sharpness_table(groups):
    """Mean over seeds, per epoch / sweep, of the soft permutations' starting and final sharpness (mean largest
    entry per unit), the assignments changed and the interpolated BC loss, for the methods that log them."""
    lines = ["| alpha | method | epoch / sweep | rowmax first -> last | changed | interp BC loss |",
             "|---|---|---|---|---|---|"]
    for g in groups:
        for m in g["methods"]:
            ds = [soft_diag(r["path"], m) for r in g["runs"]]
            if any(d is None for d in ds) or len({len(d["changed"]) for d in ds}) != 1:
                continue
            for e in range(len(ds[0]["changed"])):
                mean = {k: float(np.mean([d[k][e] for d in ds])) for k in ds[0]}
                lines.append(f"| {fc.fa(g['alpha'])} | {m} | {e + 1} | {mean['rowmax_first']:.3f} -> "
                             f"{mean['rowmax_last']:.3f} | {mean['changed']:.0f} | {mean['interp_loss']:.4f} |")
    return lines


def plot(groups, pols, vals, path):
    plt = fc.pyplot()
    fig, axes = plt.subplots(1, len(groups), figsize=(max(7, 0.55 * len(pols)) * len(groups), 5.8), sharey=True,
                             squeeze=False)
    for ax, g, v in zip(axes[0], groups, vals):
        xs = np.arange(len(pols))
        for x, p in zip(xs, pols):
            if p not in v:
                continue
            a = np.array(v[p])
            m, s = mean_sd(a)
            ax.bar(x, m, 0.75, color=COLOR.get(p, "#7f7f7f"), edgecolor="black", linewidth=0.5,
                   hatch="//" if p in TRIVIAL else None)
            hi = min(1.0, m + s)  # a rate: the whisker stops at 1
            ax.errorbar(x, m, yerr=[[min(s, m)], [hi - m]], color="black", capsize=3, linewidth=0.9)
            ax.plot(np.full(a.size, x) + np.linspace(-0.18, 0.18, a.size), a, "o", color="black", markersize=3)
            ax.text(x, max(a.max(), hi) + 0.015, f"{100 * m:.0f}", ha="center", va="bottom", fontsize=8)
        ax.axvline(len(g["methods"]) - 0.5, color="gray", linestyle=":", linewidth=1)
        ax.set_xticks(xs)
        ax.set_xticklabels([LABEL.get(p, p) for p in pols], rotation=55, ha="right", fontsize=8.5)
        ax.set_ylim(0, 1.16)
        ax.set_yticks(np.arange(0, 1.01, 0.2))
        ax.grid(axis="y", alpha=0.3)
        ax.set_title(f"alpha = {fc.fa(g['alpha'])} ({g['robots']} robots, {g['tasks']} tasks, seeds {mr.seeds_text(g)})",
                     fontsize=10)
    axes[0][0].set_ylabel("balance rate (mean over tasks)")
    fig.suptitle("fleetmerge App. F ablation, cart-pole RNN one-shot merge: bar = mean over seeds, whiskers = sd (cut at 1), "
                 "dots = seeds; hatched = trivial answers", fontsize=10.5)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    fc.savefig(fig, path, dpi=120)


def main(argv):
    ap = fc.argparser(__doc__)
    ap.add_argument("files", nargs="+", metavar="RESULTS.h5", help="results of pipelines/ablation_f.sh")
    ap.add_argument("--md", required=True, help="output Markdown report")
    ap.add_argument("--png", help="output PNG")
    a = ap.parse_args(argv)
    groups = mr.group_runs(a.files, by_alpha=True)
    groups.sort(key=lambda g: -g["alpha"])
    lines, pols, vals = table(groups)
    g0 = groups[0]
    doc = ["# Appendix F ablation on the cart-pole one-shot merge (Fig. 7 e analog)", "",
           f"{g0['robots']} robots each clone an RNN from their own Dirichlet(alpha) task mixture over {g0['tasks']} "
           "tasks from their own initialization; the fleet is merged once by every method. Balance rate in % (episodes "
           "balanced for the whole horizon, mean over tasks): mean ± sample sd over seeds, then the per-seed values. "
           "Trivial answers: robot 0's own policy; the best robot's own policy (picked per seed with hindsight, so an "
           "upper reference no robot can pick without evaluation); the mean over robots of their own policies; "
           "the pooled policy trained on all the data (data-parallel); the expert. Every number is read from the "
           "results files listed at the end.", ""]
    doc += lines + ["", "Reading (computed from the table):", ""] + reading(groups, vals) + [""]
    cost, _, _ = table(groups, "cost")
    doc += ["## Cost", "",
            "Quadratic cost per step (lower is better), mean over tasks: mean ± sd over seeds, per seed. Failed "
            "episodes end early, so a cost is comparable only between policies that balance; best local = the "
            "robot with the lowest cost.", ""] + cost + [""]
    doc += ["## BC loss of the merged policy", "",
            "Per-step behavior-cloning loss on all the fleet's data (/models/merged/<m> attribute bc_loss; pooled: "
            "the pooled policy's).", ""] + bc_loss_table(groups) + [""]
    doc += ["## Soft permutations per epoch (per sweep for sinkhorn_data)", "",
            "Mean over seeds: the mean largest entry per unit of P_soft at the first and last soft step, the hard "
            "assignments changed (summed over the robots that updated) and the mean interpolated BC loss. "
            "fleet_merge* restart every epoch from the hard permutations (first = merge.fm_start_mass); "
            "sinkhorn_data's robots keep their logits, so its sweep k + 1 starts where sweep k ended.", ""]
    doc += sharpness_table(groups) + [""]
    doc += mr.diag_markdown([("one-shot", groups)])
    doc += ["For sinkhorn_data, `changed` is per sweep and \"MergeMany k sweeps, distance\" are its own sweeps and "
            "final spread (it does not run weight-matching sweeps; its start is weight matching to robot 0). For "
            "git_rebasin and the fleet_merge* start, the sweeps are capped by merge.mm_sweeps.", ""]
    doc += mr.timing_markdown([("one-shot", groups)])
    doc += ["Files: " + ", ".join(f"`{r['path']}`" for g in groups for r in g["runs"]), ""]
    with open(a.md, "w") as out:
        out.write("\n".join(doc))
    if a.png:
        plot(groups, pols, vals, a.png)


if __name__ == "__main__":
    main(sys.argv[1:])
