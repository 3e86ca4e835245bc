#!/usr/bin/env python3
"""rl_report.py - the Figure 11 analog (Appendix E, docs/rl.md) from online RL results files.

Reads every results.h5 under the given directories (runs of `fleet run` with rl.enabled), groups
them by variant (fleet size and rl.merge_every), and writes
  --png  return vs episodes: for every variant the fleet's mean return per episode (mean over the
         robots, a moving average over 100 episodes of the fleet's experience), mean over seeds
         with a band of +- one standard deviation; the x axis counts the episodes of experience
         the whole fleet collected (robots x per-robot episodes), so one robot with N x the
         episodes spans the same axis as the N-robot fleet;
  --md   a table of final returns (mean +- std over seeds): the training return of the last 10%
         of the episodes, the mean training return over all episodes (learning speed), the final
         evaluation of each robot's own policy and of the fleet's average (sampled actions).
usage: analysis/rl_report.py DIR... [--png FILE] [--md FILE]
"""
import argparse
import glob
import os
import sys

import h5py
import numpy as np
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fmcommon import pyplot, savefig, text, write_text  # noqa: E402

SMOOTH_TOTAL = 100  # episodes of fleet experience in the moving average


def load_run(path):
    with h5py.File(path, "r") as f:
        if "rl" not in f:
            return None
        cfg = yaml.safe_load(text(f["config"][()]))
        return {
            "path": path,
            "robots": int(f.attrs["num_robots"]),
            "merge_every": int(cfg["rl"]["merge_every"]),
            "seed": int(cfg["experiment"]["seed"]),
            "horizon": int(cfg["rl"]["horizon"]),
            "returns": f["rl/returns"][:],  # [robots, episodes]
            "eval_local": f["rl/eval_return_local"][:],
            "eval_merged": f["rl/eval_return"][:],
        }


def variant_of(run):
    n, k = run["robots"], run["merge_every"]
    if n == 1:
        return (2, 0, "1 robot, %d episodes" % run["returns"].shape[1])
    if k == 0:
        return (0, 0, "%d robots, no merging" % n)
    return (1, k, "%d robots, average every %d" % (n, k))


def smooth(y, w):
    if w <= 1 or len(y) < w:
        return y
    c = np.cumsum(np.insert(y, 0, 0.0))
    head = c[1:w] / np.arange(1, w)  # growing window at the start
    return np.concatenate([head, (c[w:] - c[:-w]) / w])


def curve(run):
    """x: fleet experience after each per-robot episode; y: smoothed fleet mean return."""
    r = run["returns"]
    n, e = r.shape
    y = smooth(r.mean(axis=0), max(1, SMOOTH_TOTAL // n))
    return n * np.arange(1, e + 1), y


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+")
    ap.add_argument("--png")
    ap.add_argument("--md")
    a = ap.parse_args(argv)
    runs = []
    for d in a.dirs:
        for p in sorted(glob.glob(os.path.join(d, "**", "results.h5"), recursive=True)):
            r = load_run(p)
            if r is not None:
                runs.append(r)
    if not runs:
        print("rl_report.py: no online RL results under %s" % ", ".join(a.dirs), file=sys.stderr)
        return 2
    groups = {}
    for r in runs:
        groups.setdefault(variant_of(r), []).append(r)
    rows = []
    for key in sorted(groups):
        g = groups[key]
        e = g[0]["returns"].shape[1]
        tail = max(1, e // 10)
        final = [r["returns"][:, -tail:].mean() for r in g]
        overall = [r["returns"].mean() for r in g]
        local = [r["eval_local"][0] for r in g]
        merged = [r["eval_merged"][0] for r in g]
        rows.append((key[2], len(g), final, overall, local, merged))
    ms = lambda v: "%.1f +- %.1f" % (np.mean(v), np.std(v))
    lines = ["| variant | seeds | last 10% of training | all training episodes | eval: own policies | eval: fleet average |",
             "|---|---|---|---|---|---|"]
    for name, n, final, overall, local, merged in rows:
        lines.append("| %s | %d | %s | %s | %s | %s |" % (name, n, ms(final), ms(overall), ms(local), ms(merged)))
    h = runs[0]["horizon"]
    note = ("Return = steps balanced (at most %d). Training columns: the fleet's mean undiscounted return per "
            "episode (mean over robots); eval columns: %s episodes per robot with sampled actions after "
            "training, each robot's own final policy and the average of all robots' final policies; "
            "mean +- std over seeds." % (h, "rl.eval_episodes"))
    table = "\n".join(lines) + "\n\n" + note + "\n"
    print(table)
    if a.md:
        write_text(a.md, "# Figure 11 analog: online RL fleet (REINFORCE on the cart-pole)\n\n" + table)
    if a.png:
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(7.5, 4.5))
        for key in sorted(groups):
            xs, ys = zip(*(curve(r) for r in groups[key]))
            m = min(len(y) for y in ys)
            Y = np.array([y[:m] for y in ys])
            mu, sd = Y.mean(axis=0), Y.std(axis=0)
            line, = ax.plot(xs[0][:m], mu, label="%s (%d seeds)" % (key[2], len(ys)),
                            linestyle="--" if key[0] == 2 else "-")
            ax.fill_between(xs[0][:m], mu - sd, mu + sd, color=line.get_color(), alpha=0.15)
        ax.set_xlabel("episodes of experience in the fleet (robots x episodes per robot)")
        ax.set_ylabel("return (steps balanced, mean over robots)")
        ax.set_ylim(0, h * 1.05)
        ax.set_title("REINFORCE on the cart-pole: averaging every k episodes (Fig. 11 analog)")
        ax.legend(fontsize=8, loc="lower right")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        savefig(fig, a.png, dpi=120)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
