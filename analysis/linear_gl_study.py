#!/usr/bin/python3
"""Is linear_gl's merge a merge? The tables of pipelines/linear_gl_study.sh (issue 12, item 6).

Reads the sweep directories DIR/<point>/results.h5 of configs/sweeps/linear_gl_study*.yaml and
linear_gl_oracle.yaml (docs/schema.md; each point's resolved config is in /config) and writes a
Markdown report and a figure. Per study and data partition:
  - the trivial answers and baselines, mean over seeds of the closed-loop cost relative to the
    optimal controller (mean over tasks; "unstable" when the policy destabilizes some task):
    robot 0's local policy, the best and the mean local policy, pooled training, average and
    linear_perm;
  - per linear_gl variant (start, normalization, steps / tolerance): its cost (mean, min-max,
    unstable seeds), the steps it ran, and its distance to robot 0's policy, to the nearest other
    robot's and to pooled, with the seeds in which robot 0 is the nearest local policy.
Distance between policies a, b: ||G_a - G_b|| / ||G_b|| over the first 60 impulse-response
(Markov) parameters G_j = C A^j B, which are invariant to every transform (T A T^-1, T B, C T^-1)
of Eq. G.9: it compares what the policies do, not their coordinates.

usage: /usr/bin/python3 analysis/linear_gl_study.py DIR [DIR...] --md OUT.md [--png OUT.png]
"""
import argparse
import glob
import math
import os
import sys

import h5py
import numpy as np
import yaml

import fmcommon as fc
from fmcommon import text

J = 60  # impulse-response terms compared


def markov(theta, k, p, m):
    A = theta[:k * k].reshape(k, k)
    B = theta[k * k:k * k + k * p].reshape(k, p)
    C = theta[k * k + k * p:].reshape(m, k)
    out, M = [], B.copy()
    for _ in range(J):
        out.append(C @ M)
        M = A @ M
    return np.array(out)


def dist(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def cost(f, path):
    """Mean relative exact cost over tasks; inf when unstable on some task."""
    x = np.array(f[path], dtype=float)
    return float(np.mean(x)) if np.all(np.isfinite(x)) else math.inf


def read_point(path):
    with h5py.File(path, "r") as f:
        fc.check_results(f, path)
        cfg = yaml.safe_load(text(f["config"][()]))
        mg, fl = cfg["merge"], cfg["fleet"]
        k = int(f["models/merged/linear_gl"].size)
        local = np.array(f["models/local"], dtype=float)
        p, m = int(cfg["env"]["obs_dim"]), int(np.array(f["system/B"]).shape[-1])
        n = int(np.array(f["system/A"]).shape[-1])
        k = int(cfg["policy"]["hidden_dim"]) or n
        G = [markov(t, k, p, m) for t in local]
        g = markov(np.array(f["models/merged/linear_gl"], dtype=float), k, p, m)
        gp = markov(np.array(f["models/pooled"], dtype=float), k, p, m)
        loc = np.array(f["eval/local/rel_exact"], dtype=float)
        loc_cost = [float(np.mean(r)) if np.all(np.isfinite(r)) else math.inf for r in loc]
        d_robot = [dist(g, x) for x in G]
        steps = mg["gl_steps"] if float(mg["gl_tol"]) == 0 else f"tol {mg['gl_tol']:g}"
        return dict(
            study=text(f.attrs["experiment"]), seed=int(cfg["experiment"]["seed"]),
            partition=fl.get("partition", "dirichlet"), local_policy=fl.get("local_policy", "trained"),
            variant=(mg["gl_start"], mg["gl_normalize"], str(steps), float(mg["gl_lr"]), mg.get("gl_select", "none")),
            gl=cost(f, "eval/linear_gl/rel_exact"), average=cost(f, "eval/average/rel_exact"),
            linear_perm=cost(f, "eval/linear_perm/rel_exact"), pooled=cost(f, "eval/pooled/rel_exact"),
            robot0=loc_cost[0], best=min(loc_cost), mean_local=float(np.mean(loc_cost)),
            iterations=int(f["merge/linear_gl"].attrs["iterations"]),
            selected=int(f["merge/linear_gl"].attrs.get("selected_step", f["merge/linear_gl"].attrs["iterations"])),
            d_r0=d_robot[0], d_other=min(d_robot[1:]), d_pooled=dist(g, gp),
            nearest_is_r0=int(np.argmin(d_robot)) == 0)


def fmt(x):
    return "unstable" if not math.isfinite(x) else f"{x:.3f}"


def summary(vals):
    fin = [v for v in vals if math.isfinite(v)]
    bad = len(vals) - len(fin)
    if not fin:
        return f"unstable ({bad}/{len(vals)})"
    s = f"{np.mean(fin):.3f} ({min(fin):.3f}-{max(fin):.3f})"
    return s + (f", unstable {bad}/{len(vals)}" if bad else "")


def variant_name(v):
    start, norm, steps, lr, select = v
    name = f"{start}, {norm}, {steps if steps.startswith('tol') else str(steps) + ' steps'}, lr {lr:g}"
    return name + (", best BC loss" if select == "bc_loss" else "")


def report(points):
    groups = {}
    for pt in points:
        groups.setdefault((pt["study"], pt["partition"], pt["local_policy"]), []).append(pt)
    lines = ["# linear_gl: merge or robot 0? (pipelines/linear_gl_study.sh)", "",
             "Closed-loop cost / optimal cost (1 = optimal; exact, mean over the tasks), mean over "
             "seeds (min-max). d(x): distance of linear_gl's merge to policy x over the first 60 "
             "impulse-response parameters (invariant to the GL(k) symmetry; 0 = the same policy). "
             "'nearest = robot 0': seeds in which robot 0's local policy is the local policy closest "
             "to the merge.", ""]
    for key in sorted(groups):
        pts = groups[key]
        study, part, lp = key
        seeds = sorted({p["seed"] for p in pts})
        lines += [f"## {study}: partition {part}, local policies {lp} ({len(seeds)} seeds)", ""]
        base = {c: [next(p[c] for p in pts if p["seed"] == s) for s in seeds]
                for c in ("robot0", "best", "mean_local", "pooled", "average", "linear_perm")}
        lines += ["| robot 0 | best local | mean local | pooled | average | linear_perm |",
                  "|---|---|---|---|---|---|",
                  "| " + " | ".join(summary(base[c]) for c in base) + " |", ""]
        lines += ["| linear_gl variant | cost | steps run (returned) | d(robot 0) | d(nearest other robot) | d(pooled) "
                  "| nearest = robot 0 |", "|---|---|---|---|---|---|---|"]
        variants = []
        for p in pts:
            if p["variant"] not in variants:
                variants.append(p["variant"])
        for v in variants:
            vp = [p for p in pts if p["variant"] == v]
            lines.append(f"| {variant_name(v)} | {summary([p['gl'] for p in vp])} "
                         f"| {np.mean([p['iterations'] for p in vp]):.0f} ({np.mean([p['selected'] for p in vp]):.0f}) "
                         f"| {np.mean([p['d_r0'] for p in vp]):.3f} | {np.mean([p['d_other'] for p in vp]):.3f} "
                         f"| {np.mean([p['d_pooled'] for p in vp]):.3f} "
                         f"| {sum(p['nearest_is_r0'] for p in vp)}/{len(vp)} |")
        lines.append("")
    return "\n".join(lines) + "\n", groups


def figure(groups, path):
    plt = fc.pyplot()
    keys = sorted(groups)
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 4.2), squeeze=False)
    for ax, key in zip(axes[0], keys):
        pts = groups[key]
        variants = []
        for p in pts:
            if p["variant"] not in variants:
                variants.append(p["variant"])
        vals = [[p["gl"] for p in pts if p["variant"] == v] for v in variants]
        means = [np.mean([x for x in v if math.isfinite(x)]) if any(map(math.isfinite, v)) else np.nan
                 for v in vals]
        ax.bar(range(len(variants)), means, color="tab:blue")
        for i, v in enumerate(vals):
            ax.scatter([i] * len(v), [x if math.isfinite(x) else np.nan for x in v], s=8, color="k", zorder=3)
        for c, col, lab in (("robot0", "tab:red", "robot 0"), ("pooled", "tab:green", "pooled"),
                            ("mean_local", "tab:gray", "mean local")):
            ax.axhline(np.mean([p[c] for p in pts if math.isfinite(p[c])]), color=col, ls="--", label=lab)
        ax.set_xticks(range(len(variants)))
        ax.set_xticklabels([f"{v[0][:4]}/{v[1][:4]}/{v[2]}" + ("/best BC" if v[4] == "bc_loss" else "")
                            for v in variants], rotation=60, ha="right",
                           fontsize=7)
        ax.set_title(f"{key[0]}\n{key[1]}, {key[2]}", fontsize=9)
        ax.set_ylabel("cost / optimal (mean over tasks)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fc.savefig(fig, path, dpi=110)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+", help="sweep directories holding <point>/results.h5")
    ap.add_argument("--md", required=True)
    ap.add_argument("--png")
    a = ap.parse_args()
    files = []
    for d in a.dirs:
        found = sorted(glob.glob(os.path.join(d, "*", "results.h5")),  # in point order: variants as listed
                       key=lambda f: (0, int(os.path.basename(os.path.dirname(f))), "")
                       if os.path.basename(os.path.dirname(f)).isdigit() else (1, 0, f))
        if not found:
            sys.exit(f"linear_gl_study.py: {d}: no <point>/results.h5 files")
        files += found
    md, groups = report([read_point(p) for p in files])
    tmp = a.md + ".tmp"
    with open(tmp, "w") as f:
        f.write(md)
    os.replace(tmp, a.md)
    if a.png:
        figure(groups, a.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
