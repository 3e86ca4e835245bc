#!/usr/bin/python3
"""Balance, cost and per-task figure for fleetmerge's cart-pole runs (issue 3, docs/cartpole.md).

Reads results.h5 files written by `fleet run` with env.kind = cartpole, groups them by
experiment name with a trailing "_s<seed>" removed (pipelines/cartpole.sh names runs that way),
and writes
  - a PNG with one row of panels: (1) balance rate per policy (mean over tasks; bars = mean over
    seeds, whiskers = min-max over seeds, marker = worst task, mean over seeds), experiments side
    by side; (2) the same for the quadratic cost (worst task = highest cost); (3) per-task
    balance rate of the pooled policy, mean over seeds; (4) the same scores against the task's
    pole half-length, one point per (seed, task), since task h is a different cart-pole in each
    seed;
  - a Markdown table per experiment and one line per experiment stating whether its pooled
    policy balanced >= 90% of the episodes on every task in every seed.
"local" is every robot's own policy; per task it is the mean over robots (as `fleet run` prints).

usage: /usr/bin/python3 analysis/cartpole_report.py RESULTS.h5 [...] --png OUT.png --md OUT.md
"""
import math
import re
import sys

import h5py
import numpy as np

import fmcommon as fc
from fmcommon import num, pct, text

SCORES = ("balance", "setpoint", "cost")
FIXED = ("local", "pooled", "expert")  # drawn after the merge methods, in this order
LABEL = {"local": "local (mean)", "pooled": "pooled", "expert": "expert (full state)"}
THRESHOLD = 0.9  # the balance target for the pooled RNN
POLICY = ("arch", "layers", "width", "activation")  # the policy.* keys in the headings
CONFIG = {("experiment", "seed"): int, **{("policy", k): text for k in POLICY}}


def read_run(path):
    """One results file: scores [K] per policy, BC losses, seed, tasks and policy config."""
    with h5py.File(path, "r") as f:
        fc.check_results(f, path, "cartpole")
        exp = text(f.attrs["experiment"])
        m = re.search(r"_s(\d+)$", exp)
        cfg = fc.parse_config(text(f["config"][()]), CONFIG)
        seed = cfg["seed"] if cfg["seed"] is not None else (int(m.group(1)) if m else -1)
        run = dict(name=exp[:m.start()] if m else exp, robots=int(f.attrs["num_robots"]),
                   tasks=int(f.attrs["num_tasks"]), policy={k: cfg[k] or "?" for k in POLICY},
                   seed=seed, scores={}, loss={}, path=path)
        merged = [p for p in f["eval"] if p not in FIXED]
        for pol in merged + [p for p in FIXED if p in f["eval"]]:
            run["scores"][pol] = fc.eval_scores(f, pol, SCORES)
        for pol in merged:
            run["loss"][pol] = fc.merged_loss(f, pol)
        run["loss"]["pooled"] = float(f["fleet"].attrs.get("pooled_bc_loss", math.nan))
        local = fc.robot_stat(f, "local_bc_loss")  # each robot's loss on its own data
        if local is not None:
            run["loss"]["local"] = float(np.mean(local))
        run["half_length"] = None
        if "system/tasks" in f:
            cols = text(f["system/tasks"].attrs.get("columns", "")).split(",")
            if "half_length" in cols:
                run["half_length"] = np.array(f["system/tasks"][:, cols.index("half_length")])
    return run


def summarize(runs):
    """Per policy over seeds: arrays [S] of task-mean and worst-task scores, and [S, K] per task."""
    stats = {}
    for pol in runs[0]["scores"]:
        have = [r for r in runs if pol in r["scores"]]
        per = {k: np.array([r["scores"][pol][k] for r in have]) for k in SCORES}  # [S, K]
        stats[pol] = dict(n=len(have), per_task=per,
                          mean={k: v.mean(axis=1) for k, v in per.items()},
                          worst=dict(balance=per["balance"].min(axis=1), setpoint=per["setpoint"].min(axis=1),
                                     cost=per["cost"].max(axis=1)),
                          loss=np.array([r["loss"].get(pol, math.nan) for r in have]))
    return stats


def aggregate(paths):
    groups = {}
    for p in paths:
        run = read_run(p)
        groups.setdefault(run["name"], []).append(run)
    out = []
    for name, runs in groups.items():
        runs.sort(key=lambda r: r["seed"])
        seeds = [r["seed"] for r in runs]
        if len(set(seeds)) != len(seeds):
            raise SystemExit(f"{name}: seed given twice ({seeds})")
        out.append(dict(name=name, runs=runs, seeds=seeds, stats=summarize(runs),
                        policy=runs[0]["policy"], robots=runs[0]["robots"], tasks=runs[0]["tasks"]))
    return out


def label(pol):
    return LABEL.get(pol, pol)


def desc(g):
    p = g["policy"]
    return f"{p['arch']} {p['layers']}x{p['width']} {p['activation']}"


def verdict(g):
    """One line: did the pooled policy balance >= THRESHOLD on every task in every seed?"""
    s = g["stats"].get("pooled")
    if s is None:
        return f"- {g['name']}: no pooled policy in the results."
    bal = s["per_task"]["balance"]  # [S, K]
    i, h = np.unravel_index(np.argmin(bal), bal.shape)
    below = [(g["seeds"][a], b, bal[a, b]) for a, b in zip(*np.nonzero(bal < THRESHOLD - 1e-9))]
    head = (f"- **{g['name']} ({g['policy']['arch']}), pooled: "
            f"{'YES' if not below else 'NO'}**, balance >= {100 * THRESHOLD:.0f}% on every task in every "
            f"seed: {bal.size - len(below)}/{bal.size} (seed, task) pairs reach it; lowest "
            f"{pct(bal[i, h])} (seed {g['seeds'][i]}, task {h}); per seed, mean / worst task: "
            + ", ".join(f"s{sd} {pct(bal[a].mean())} / {pct(bal[a].min())}" for a, sd in enumerate(g["seeds"])))
    if below:
        head += "; below: " + ", ".join(f"s{sd} task {b} {pct(v)}" for sd, b, v in below[:12]) \
            + (" ..." if len(below) > 12 else "")
    return head + "."


def write_markdown(groups, path):
    lines = ["# Partially observed cart-pole (issue 3, docs/cartpole.md)", "",
             "Claim: an RNN trained on pooled data keeps the pole up on >= 90% of episodes on every task;",
             "a single-frame MLP does clearly worse. Scores per task are rates over the evaluation episodes;",
             "`balance` = survived the whole episode, `set-point` = balanced and within 0.1 m of the set-point",
             "at the end, `cost` = mean stage cost (expert's Q, R) over the steps run (a failed episode stops",
             "early, so its cost is not comparable). Columns: balance = mean over tasks, then mean over seeds",
             "[min-max over seeds]; worst task = min over tasks, then min over seeds; set-point rate and cost",
             "= mean over tasks, then seeds; BC loss = mean per-step loss on all the fleet's data, mean over",
             "seeds (local: each robot's loss on its own data). `local (mean)` = every robot's own policy,",
             "averaged over robots per task. The expert is the per-task LQR with the full state.", ""]
    for g in groups:
        lines += [f"## {g['name']} ({desc(g)}, {g['robots']} robots, {g['tasks']} tasks, "
                  f"seeds {' '.join(map(str, g['seeds']))})", "",
                  "| policy | balance mean [seed range] | worst-task balance | set-point rate | cost | BC loss |",
                  "|---|---|---|---|---|---|"]
        for pol, s in g["stats"].items():
            b = s["mean"]["balance"]
            loss = s["loss"]
            lines.append(f"| {label(pol)} | {pct(b.mean())} [{pct(b.min())}-{pct(b.max())}] | "
                         f"{pct(s['worst']['balance'].min())} | {pct(s['mean']['setpoint'].mean())} | "
                         f"{num(s['mean']['cost'].mean())} | "
                         f"{num(float(np.mean(loss)), 4) if np.isfinite(loss).any() else 'n/a'} |")
        lines += ["", verdict(g), ""]
    with open(path, "w") as out:
        out.write("\n".join(lines))


def bars(ax, groups, pols, key, worst_label, colors):
    """Grouped bars: x = policy, one bar per experiment; whiskers min-max over seeds."""
    width = 0.8 / len(groups)
    for j, g in enumerate(groups):
        for i, pol in enumerate(pols):
            s = g["stats"].get(pol)
            if s is None:
                continue
            v, w = s["mean"][key], s["worst"][key]
            x = i + (j - (len(groups) - 1) / 2) * width
            ax.bar(x, v.mean(), width * 0.92, color=colors[j], edgecolor="black", linewidth=0.5,
                   label=f"{g['name']} ({g['policy']['arch']})" if i == 0 else None)
            ax.errorbar(x, v.mean(), yerr=[[v.mean() - v.min()], [v.max() - v.mean()]], color="black",
                        capsize=2.5, linewidth=0.8)
            ax.plot(x, w.mean(), marker="v" if key == "balance" else "^", color="black", markersize=5,
                    linestyle="none", label=worst_label if (i == 0 and j == 0) else None)
            fmt = f"{100 * v.mean():.0f}%" if key == "balance" else f"{v.mean():.2f}"
            ax.text(x, v.max() + 0.01, fmt, ha="center", va="bottom", fontsize=7.5)
    ax.set_xticks(range(len(pols)))
    ax.set_xticklabels([label(p) for p in pols], fontsize=8.5)


def plot(groups, path):
    plt = fc.pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(20, 4.8), gridspec_kw=dict(width_ratios=[1.1, 1.1, 1.2, 1.0]))
    colors = [plt.get_cmap("tab10")(j) for j in range(len(groups))]
    pols = list(dict.fromkeys(p for g in groups for p in g["stats"]))

    ax = axes[0]
    bars(ax, groups, pols, "balance", "worst task (mean over seeds)", colors)
    ax.axhline(THRESHOLD, color="gray", linestyle="--", linewidth=0.8)
    ax.set_ylim(0, 1.3)
    ax.set_yticks(np.arange(0, 1.01, 0.2))
    ax.set_ylabel("balance rate (mean over tasks)")
    ax.set_title("(1) episodes balanced for the whole horizon", fontsize=9)
    ax.legend(fontsize=7, loc="upper center", ncol=2)

    ax = axes[1]
    bars(ax, groups, pols, "cost", "worst task (mean over seeds)", colors)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.08)
    ax.set_ylabel("quadratic cost per step (mean over tasks)")
    ax.set_title("(2) cost (failed episodes end early)", fontsize=9)
    ax.legend(fontsize=7, loc="upper right")

    ax = axes[2]
    width = 0.8 / len(groups)
    for j, g in enumerate(groups):
        s = g["stats"].get("pooled")
        if s is None:
            continue
        bal = s["per_task"]["balance"]  # [S, K]
        x = np.arange(bal.shape[1]) + (j - (len(groups) - 1) / 2) * width
        ax.bar(x, bal.mean(axis=0), width * 0.92, color=colors[j], edgecolor="black", linewidth=0.5,
               label=f"{g['name']} pooled (mean over seeds)")
        ax.plot(x, bal.min(axis=0), "_", color="black", markersize=7, mew=1.2,
                label="min over seeds" if j == 0 else None)
    ax.axhline(THRESHOLD, color="gray", linestyle="--", linewidth=0.8, label=f"{100 * THRESHOLD:.0f}%")
    ax.set_xticks(range(max(g["tasks"] for g in groups)))
    ax.set_xlabel("task index h (a different cart-pole in each seed)")
    ax.set_ylabel("pooled policy balance rate")
    ax.set_ylim(0, 1.2)
    ax.set_yticks(np.arange(0, 1.01, 0.2))
    ax.set_title("(3) pooled policy per task", fontsize=9)
    ax.legend(fontsize=7, loc="upper center", ncol=2)

    ax = axes[3]
    lowest = 1.0
    for j, g in enumerate(groups):
        s = g["stats"].get("pooled")
        hl = [r["half_length"] for r in g["runs"]]
        if s is None or any(h is None for h in hl):
            continue
        # rates are multiples of 1/rollouts: offset the experiments a little so both stay visible
        bal = s["per_task"]["balance"].ravel()
        lowest = min(lowest, bal.min())
        ax.scatter(np.concatenate(hl), bal + (j - (len(groups) - 1) / 2) * 0.012, s=22,
                   color=colors[j], marker="os^Dv"[j % 5], alpha=0.8, edgecolor="black", linewidth=0.3,
                   label=f"{g['name']} pooled")
    ax.axhline(THRESHOLD, color="gray", linestyle="--", linewidth=0.8)
    ax.set_xlabel("pole half-length l (m)")
    ax.set_ylabel("pooled policy balance rate (offset per experiment)")
    ax.set_ylim(min(0.5, lowest - 0.05), 1.04)
    ax.set_title("(4) pooled policy: one point per (seed, task)", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")

    g0 = groups[0]
    seeds = sorted({s for g in groups for s in g["seeds"]})
    fig.suptitle(f"fleetmerge, partially observed cart-pole: {g0['robots']} robots, {g0['tasks']} tasks, "
                 f"seeds {' '.join(map(str, seeds))}; bars = mean over seeds, whiskers = min-max over seeds",
                 fontsize=10)
    fig.tight_layout()
    fc.savefig(fig, path, dpi=120)


def main(argv):
    args = fc.png_md_args(__doc__, argv, "results.h5 files of `fleet run` (env.kind: cartpole)", "output PNG figure",
                          "output Markdown table")
    groups = aggregate(args.results)
    write_markdown(groups, args.md)
    plot(groups, args.png)


if __name__ == "__main__":
    main(sys.argv[1:])
