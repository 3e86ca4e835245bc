#!/usr/bin/python3
"""Merged balance rate and cost against the number of robots N (paper Appendix F analog).

Reads results.h5 files of `fleet run` on the cart-pole benchmark (docs/schema.md), takes N
from the root attribute num_robots, and for every policy under /eval (merge methods, local
mean over robots, pooled) writes the balance rate and cost (mean over tasks, then mean and
min-max over seeds) as a Markdown table and a line plot.

usage: /usr/bin/python3 analysis/nmodels_report.py RESULTS.h5 [...] --png OUT.png --md OUT.md
"""
import collections

import h5py
import numpy as np

import fmcommon as fc

SKIP = {"expert"}


def load(paths):
    """scores[policy][N] = list over seeds of (balance, cost)."""
    scores = collections.defaultdict(lambda: collections.defaultdict(list))
    for p in paths:
        with h5py.File(p, "r") as f:
            n = int(f.attrs["num_robots"])
            for pol in f["eval"]:
                if pol in SKIP:
                    continue
                b = np.array(f[f"eval/{pol}/balance"], dtype=float)
                c = np.array(f[f"eval/{pol}/cost"], dtype=float)
                scores[pol][n].append((float(b.mean()), float(c.mean())))
    return scores


def main():
    a = fc.png_md_args(__doc__)
    scores = load(a.results)
    ns = sorted({n for pol in scores.values() for n in pol})
    order = [p for p in ["average", "git_rebasin", "sinkhorn_rebasin", "fleet_merge", "fleet_merge_soft",
                         "fleet_merge_simplex", "fleet_merge_average", "local", "pooled"] if p in scores]
    lines = ["# Merged policies vs number of robots (Appendix F analog)", "",
             "Balance rate (mean over tasks; mean [min-max] over seeds) and cost per step.", "",
             "| policy | " + " | ".join(f"N = {n}" for n in ns) + " |", "|---|" + "---|" * len(ns)]
    for pol in order:
        cells = []
        for n in ns:
            v = scores[pol].get(n, [])
            if not v:
                cells.append("n/a")
                continue
            b = np.array([x[0] for x in v]) * 100
            c = np.mean([x[1] for x in v])
            cells.append(f"{b.mean():.1f}% [{b.min():.1f}-{b.max():.1f}], cost {c:.3f}")
        lines.append(f"| {pol} | " + " | ".join(cells) + " |")
    with open(a.md, "w") as out:
        out.write("\n".join(lines) + "\n")
    plt = fc.pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    for pol in order:
        x = [n for n in ns if scores[pol].get(n)]
        bal = [100 * np.mean([v[0] for v in scores[pol][n]]) for n in x]
        cost = [np.mean([v[1] for v in scores[pol][n]]) for n in x]
        ax[0].plot(x, bal, marker="o", label=pol)
        ax[1].plot(x, cost, marker="o", label=pol)
    ax[0].set_xlabel("robots N"), ax[0].set_ylabel("balance rate (%)"), ax[0].set_xscale("log")
    ax[1].set_xlabel("robots N"), ax[1].set_ylabel("cost per step"), ax[1].set_xscale("log")
    ax[0].set_xticks(ns), ax[0].set_xticklabels(ns), ax[1].set_xticks(ns), ax[1].set_xticklabels(ns)
    ax[1].legend(fontsize=7)
    fig.suptitle("cart-pole RNN merges vs number of robots")
    fig.tight_layout()
    fc.savefig(fig, a.png, dpi=120)


if __name__ == "__main__":
    main()
