#!/usr/bin/python3
"""Figure 13 analog for fleetmerge's linear-control runs.

Reads results.h5 files written by `fleet run` (docs/schema.md), groups them by experiment
name with a trailing "_s<seed>" removed (pipelines/linear_control.sh names runs that way),
and writes
  - a PNG bar chart: closed-loop cost relative to the optimal controller (mean over tasks),
    mean over seeds with min-max whiskers, one panel per experiment; a policy that is unstable
    on some task in some seed is drawn hatched with the count of unstable seeds;
  - a Markdown table with the same numbers.

usage: /usr/bin/python3 analysis/linear_report.py RESULTS.h5 [...] --png OUT.png --md OUT.md
"""
import math
import re
import sys

import h5py
import numpy as np

import fmcommon as fc
from fmcommon import text

ORDER = ["average", "linear_perm", "linear_gl", "pooled", "task_specific", "local"]
LABEL = {"average": "average", "linear_perm": "permutation (G.12)", "linear_gl": "GL(n) gradient (G.14)",
         "pooled": "pooled (multi-task)", "task_specific": "task-specific",
         "local": "single-dataset (local)"}


def run_summary(path):
    """Per policy: mean relative exact cost over tasks (inf if unstable anywhere) and rollout."""
    with h5py.File(path, "r") as f:
        fc.check_results(f, path)
        name = re.sub(r"_s\d+$", "", text(f.attrs["experiment"]))
        meta = dict(arch=text(f["models"].attrs["arch"]), robots=int(f.attrs["num_robots"]))
        rows = {}
        for pol in ORDER:
            if f"eval/{pol}" not in f:
                continue
            ex = np.array(f[f"eval/{pol}/rel_exact"], dtype=float)
            ro = np.array(f[f"eval/{pol}/rel_rollout"], dtype=float)
            if ex.ndim == 2:  # local policies: mean over robots of each robot's task mean
                rows[pol] = (float(np.mean(ex.mean(axis=1))), float(np.mean(ro)))
            else:
                ok = ~np.isnan(ex)
                rows[pol] = (float(np.mean(ex[ok])) if ok.any() else math.nan,
                             float(np.mean(ro[ok])) if ok.any() else math.nan)
    return name, meta, rows


def aggregate(paths):
    groups = {}
    for p in paths:
        name, meta, rows = run_summary(p)
        g = groups.setdefault(name, dict(meta=meta, runs=[]))
        g["runs"].append(rows)
    out = []
    for name, g in groups.items():
        stats = {}
        for pol in ORDER:
            vals = [r[pol][0] for r in g["runs"] if pol in r]
            rolls = [r[pol][1] for r in g["runs"] if pol in r]
            if not vals:
                continue
            fin = [v for v in vals if math.isfinite(v)]
            stats[pol] = dict(n=len(vals), unstable=len(vals) - len(fin),
                              mean=float(np.mean(fin)) if fin else math.inf,
                              lo=float(np.min(fin)) if fin else math.inf,
                              hi=float(np.max(fin)) if fin else math.inf,
                              std=float(np.std(fin)) if fin else math.nan,
                              rollout=float(np.median(rolls)))
        out.append((name, g["meta"], stats))
    return out


def fmt(v, d=3):
    return "unstable" if math.isinf(v) else ("n/a" if math.isnan(v) else f"{v:.{d}f}")


def write_markdown(groups, path):
    lines = ["# Linear control (paper Appendix G): closed-loop cost / optimal cost", "",
             "Exact infinite-horizon cost (Lyapunov equation) relative to each task's optimal controller,",
             "mean over tasks; then mean, std and range over seeds computed over the seeds where the policy",
             "stabilized every task. `unstable seeds` counts seeds where it failed on at least one task.", ""]
    for name, meta, stats in groups:
        n = max(s["n"] for s in stats.values())
        lines += [f"## {name} ({meta['arch']}, {meta['robots']} robots, {n} seeds)", "",
                  "| policy | mean | std | min | max | unstable seeds | rollout (median) |",
                  "|---|---|---|---|---|---|---|"]
        for pol, s in stats.items():
            lines.append(f"| {LABEL[pol]} | {fmt(s['mean'])} | {fmt(s['std'])} | {fmt(s['lo'])} | "
                         f"{fmt(s['hi'])} | {s['unstable']}/{s['n']} | {s['rollout']:.4g} |")
        lines.append("")
    with open(path, "w") as out:
        out.write("\n".join(lines))


def plot(groups, path):
    plt = fc.pyplot()
    fig, axes = plt.subplots(1, len(groups), figsize=(3.9 * len(groups), 4.2), squeeze=False)
    colors = plt.get_cmap("tab10")
    for ax, (name, meta, stats) in zip(axes[0], groups):
        pols = list(stats)
        fin = [s["hi"] for s in stats.values() if math.isfinite(s["hi"])]
        top = max(max(fin) * 1.3 if fin else 2.0, 1.5)
        for i, pol in enumerate(pols):
            s = stats[pol]
            bad = s["unstable"] > 0
            h = s["mean"] if math.isfinite(s["mean"]) else top
            ax.bar(i, h, color=colors(ORDER.index(pol)), hatch="//" if bad else None,
                   alpha=0.4 if bad else 0.9, edgecolor="black", linewidth=0.5)
            if math.isfinite(s["mean"]):
                ax.errorbar(i, s["mean"], yerr=[[s["mean"] - s["lo"]], [s["hi"] - s["mean"]]],
                            color="black", capsize=3, linewidth=0.8)
            label = f"{s['mean']:.2f}" if math.isfinite(s["mean"]) else ""
            if bad:
                label += f"\n{s['unstable']}/{s['n']} unstable"
            ax.text(i, min(h, top) * 1.02, label, ha="center", va="bottom", fontsize=7)
        ax.axhline(1.0, color="gray", linestyle="--", linewidth=0.8)
        ax.set_xticks(range(len(pols)))
        ax.set_xticklabels([LABEL[p] for p in pols], rotation=40, ha="right", fontsize=7)
        ax.set_ylim(0, top * 1.2)
        ax.set_title(f"{name} ({meta['arch']})", fontsize=9)
    axes[0][0].set_ylabel("cost / optimal (mean over tasks)")
    fig.suptitle("fleetmerge, linear control (App. G): mean over seeds, min-max whiskers", fontsize=10)
    fig.tight_layout()
    fc.savefig(fig, path, dpi=120)


def main(argv):
    args = fc.png_md_args(__doc__, argv, "results.h5 files of `fleet run`", "output PNG figure", "output Markdown table")
    groups = aggregate(args.results)
    write_markdown(groups, args.md)
    plot(groups, args.png)


if __name__ == "__main__":
    main(sys.argv[1:])
