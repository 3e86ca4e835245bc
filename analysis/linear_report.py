#!/usr/bin/python3
"""Figure 13 analog for fleetmerge's linear-control runs.

Reads one or more results.h5 files written by `fleet run` (docs/schema.md) and writes a
PNG bar chart (closed-loop cost relative to the optimal controller, mean over tasks, one
panel per run) and a Markdown table. Unstable policies (infinite cost) are drawn as
hatched bars reaching the top of the panel and marked "unstable".

usage: /usr/bin/python3 analysis/linear_report.py RESULTS.h5 [...] --png OUT.png --md OUT.md
"""
import argparse
import math
import sys

import h5py
import numpy as np

ORDER = ["average", "linear_perm", "linear_gl", "pooled", "task_specific", "local"]
LABEL = {"average": "average", "linear_perm": "permutation", "linear_gl": "GL(n) gradient",
         "pooled": "pooled (multi-task)", "task_specific": "task-specific",
         "local": "single-dataset (local)"}


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def summarize(path):
    """Return (title, rows) with rows[name] = dict(mean, worst, unstable, total, rollout)."""
    with h5py.File(path, "r") as f:
        if text(f.attrs.get("kind", "")) != "fleetmerge-results":
            raise SystemExit(f"{path}: not a fleetmerge results file")
        title = text(f.attrs["experiment"])
        arch = text(f["models"].attrs["arch"])
        rows = {}
        for name in ORDER:
            if f"eval/{name}" not in f:
                continue
            ex = np.array(f[f"eval/{name}/rel_exact"])
            ro = np.array(f[f"eval/{name}/rel_rollout"])
            if ex.ndim == 2:  # local: one row per robot -> mean over robots of task means
                total = ex.size
                unstable = int(np.sum(~np.isfinite(ex)))
                worst = float(np.max(ex))
                mean = float(np.mean(np.mean(ex, axis=1)))
                roll = float(np.mean(ro))
            else:
                ok = ~np.isnan(ex)
                total = int(ok.sum())
                unstable = int(np.sum(np.isinf(ex[ok])))
                worst = float(np.max(ex[ok])) if total else math.nan
                mean = float(np.mean(ex[ok])) if total else math.nan
                roll = float(np.mean(ro[~np.isnan(ro)])) if total else math.nan
            rows[name] = dict(mean=mean, worst=worst, unstable=unstable, total=total, rollout=roll)
        n = int(f.attrs["num_robots"])
    return f"{title} ({arch}, {n} robots)", rows


def fmt(v):
    return "unstable" if math.isinf(v) else ("n/a" if math.isnan(v) else f"{v:.4f}")


def write_markdown(results, path):
    lines = ["# Linear control (paper Appendix G): closed-loop cost / optimal cost", "",
             "Exact infinite-horizon cost from a Lyapunov equation, mean over tasks (1 = optimal);",
             "`unstable` = the policy does not stabilize at least one task.", ""]
    for title, rows in results:
        lines += [f"## {title}", "", "| policy | mean | worst task | unstable tasks | rollout mean |",
                  "|---|---|---|---|---|"]
        for name, r in rows.items():
            lines.append(f"| {LABEL[name]} | {fmt(r['mean'])} | {fmt(r['worst'])} | "
                         f"{r['unstable']}/{r['total']} | {fmt(r['rollout'])} |")
        lines.append("")
    with open(path, "w") as out:
        out.write("\n".join(lines))


def plot(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 4.0), squeeze=False)
    colors = plt.get_cmap("tab10")
    for ax, (title, rows) in zip(axes[0], results):
        names = list(rows)
        vals = [rows[n]["mean"] for n in names]
        finite = [v for v in vals if math.isfinite(v)]
        top = max(finite) * 1.6 if finite else 2.0
        top = max(top, 1.2)
        for i, (n, v) in enumerate(zip(names, vals)):
            bad = not math.isfinite(v)
            ax.bar(i, top if bad else v, color=colors(i), hatch="//" if bad else None,
                   alpha=0.35 if bad else 0.9, edgecolor="black", linewidth=0.5)
            ax.text(i, (top if bad else v) * 1.01, "unstable" if bad else f"{v:.2f}",
                    ha="center", va="bottom", fontsize=7, rotation=90 if bad else 0)
        ax.axhline(1.0, color="gray", linestyle="--", linewidth=0.8)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels([LABEL[n] for n in names], rotation=35, ha="right", fontsize=8)
        ax.set_ylim(0, top * 1.25)
        ax.set_title(title, fontsize=9)
        ax.set_ylabel("cost / optimal (mean over tasks)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", help="results.h5 files of `fleet run`")
    ap.add_argument("--png", required=True, help="output PNG figure")
    ap.add_argument("--md", required=True, help="output Markdown table")
    args = ap.parse_args(argv)
    results = [summarize(p) for p in args.results]
    write_markdown(results, args.md)
    plot(results, args.png)


if __name__ == "__main__":
    main(sys.argv[1:])
