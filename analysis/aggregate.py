#!/usr/bin/python3
"""Aggregate the points of a fleetmerge sweep into one tidy CSV (and optionally a Markdown table).

A sweep (`fleet sweep CONFIG --count`, `fleet run CONFIG --sweep-index I`, slurm/submit_sweep.sh)
writes point I to RESULTS_DIR/<I>/results.h5, where RESULTS_DIR is
<experiment.output_dir>/<experiment.name>. This script reads every completed point (a numeric
directory holding results.h5; a point without one, e.g. still running or failed, is skipped with
a note on stderr) and writes one row per point, ordered by index:

  index, experiment, env, num_robots, num_tasks   from the file's root attributes;
  section.key ...                                  every config key whose value differs between
                                                   the points (the sweep's varied values), read
                                                   from the resolved config stored under /config;
  scores                                           linear (env lqg): rel_exact_<policy> = mean over
                                                   tasks of /eval/<policy>/rel_exact (1 = optimal,
                                                   inf = some task not stabilized, kept as inf);
                                                   neural (env cartpole): balance_<policy> and
                                                   cost_<policy> = mean of /eval/<policy>/balance
                                                   and /eval/<policy>/cost.
For the per-robot policy `local` ([N, K]) the mean is over robots and tasks. NaN entries (e.g. a
task-specific policy of a task without data) are left out of the mean; a score a point does not
have is an empty cell.

usage: /usr/bin/python3 analysis/aggregate.py RESULTS_DIR --csv OUT.csv [--md OUT.md] [--expect N]

  --expect N   the sweep has N points: also note every index in 0..N-1 without results
Exit status: 0 when at least one point was aggregated and every results file present could be
read; 1 otherwise (the readable points are still written); 2 on bad arguments.
Needs Debian's python3-h5py, python3-numpy and python3-yaml (run it with /usr/bin/python3).
"""
import argparse
import csv
import math
import os
import sys

import h5py
import numpy as np
import yaml

ROOT_ATTRS = ("experiment", "env", "num_robots", "num_tasks")
# score datasets per environment: (dataset under /eval/<policy>/, column prefix)
SCORES = {"lqg": ("rel_exact",), "cartpole": ("balance", "cost")}


def note(msg):
    print(f"aggregate: {msg}", file=sys.stderr)


def text(v):
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.ndarray) and v.shape == ():
        return text(v[()])
    if isinstance(v, np.generic):
        return v.item()
    return v


def flatten(d, prefix=""):
    """{'fleet': {'alpha': 1}} -> {'fleet.alpha': 1}; lists and scalars are leaves."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def fmt(v):
    """One CSV cell: floats at full precision (inf, -inf, nan as such), YAML-like lists."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(fmt(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {fmt(x)}" for k, x in v.items()) + "}"
    return str(v)


def fmt_md(v):
    if isinstance(v, float) and math.isfinite(v):
        return f"{v:.4g}"
    return fmt(v).replace("|", "\\|")


def mean_score(ds):
    a = np.asarray(ds[()], dtype=np.float64).ravel()
    a = a[~np.isnan(a)]
    if a.size == 0:
        return float("nan")
    return float(np.mean(a))  # inf stays inf (a policy that does not stabilize some task)


def read_point(path):
    """(root attributes, flattened config, {column: score}) of one results file."""
    with h5py.File(path, "r") as f:
        attrs = {}
        for a in ROOT_ATTRS:
            attrs[a] = text(f.attrs[a]) if a in f.attrs else None
        if "config" not in f:
            raise ValueError("no /config dataset")
        cfg = yaml.safe_load(text(f["config"][()])) or {}
        if not isinstance(cfg, dict):
            raise ValueError("/config is not a YAML mapping")
        scores = {}
        env = attrs["env"]
        names = SCORES.get(env)
        if names is None:  # unknown environment: every score dataset that is present
            names = tuple(sorted({s for v in SCORES.values() for s in v}))
        if "eval" in f:
            for policy in f["eval"]:
                g = f["eval"][policy]
                if not isinstance(g, h5py.Group):
                    continue
                for s in names:
                    if s in g and isinstance(g[s], h5py.Dataset):
                        scores[f"{s}_{policy}"] = mean_score(g[s])
    return attrs, flatten(cfg), scores


def find_points(results_dir):
    """Sorted point indices: the numeric sub-directories of RESULTS_DIR."""
    idx = []
    for name in os.listdir(results_dir):
        if name.isdigit() and os.path.isdir(os.path.join(results_dir, name)):
            idx.append(int(name))
    return sorted(idx)


def main():
    ap = argparse.ArgumentParser(
        description="One tidy CSV row per completed point of a fleetmerge sweep "
                    "(RESULTS_DIR/<I>/results.h5).")
    ap.add_argument("results_dir", metavar="RESULTS_DIR",
                    help="the sweep's directory <experiment.output_dir>/<experiment.name>")
    ap.add_argument("--csv", required=True, metavar="OUT.csv", help="tidy CSV to write")
    ap.add_argument("--md", metavar="OUT.md", help="also write a Markdown table")
    ap.add_argument("--expect", type=int, metavar="N",
                    help="the sweep's number of points: note every missing index in 0..N-1")
    args = ap.parse_args()

    if not os.path.isdir(args.results_dir):
        note(f"{args.results_dir}: not a directory")
        return 1
    found = find_points(args.results_dir)
    indices = sorted(set(found) | set(range(args.expect or 0)))
    rows, bad = [], 0
    for i in indices:
        path = os.path.join(args.results_dir, str(i), "results.h5")
        if not os.path.isfile(path):
            note(f"point {i}: no {path} (not run, running or failed), skipped")
            continue
        try:
            attrs, cfg, scores = read_point(path)
        except (OSError, KeyError, ValueError, yaml.YAMLError) as e:
            note(f"point {i}: cannot read {path}: {e}")
            bad += 1
            continue
        rows.append((i, attrs, cfg, scores))
    if not rows:
        note(f"no completed point under {args.results_dir}")
        return 1

    # The varied keys: every config key whose value is not the same in all points (a key missing
    # from some point counts as a different value). Config order of the first point, then others.
    keys = []
    for _, _, cfg, _ in rows:
        for k in cfg:
            if k not in keys:
                keys.append(k)
    varied = [k for k in keys
              if len({fmt(r[2][k]) if k in r[2] else "\0missing" for r in rows}) > 1]
    score_cols = []
    for _, _, _, scores in rows:
        for c in scores:
            if c not in score_cols:
                score_cols.append(c)
    # scores grouped by metric (rel_exact_*, then balance_*, then cost_*), policies as first seen
    order = [s for v in SCORES.values() for s in v]
    score_cols.sort(key=lambda c: next((n for n, s in enumerate(order) if c.startswith(s + "_")),
                                       len(order)))

    header = ["index", *ROOT_ATTRS, *varied, *score_cols]
    table = []
    for i, attrs, cfg, scores in rows:
        table.append([i, *(attrs[a] for a in ROOT_ATTRS), *(cfg.get(k) for k in varied),
                      *(scores.get(c) for c in score_cols)])

    os.makedirs(os.path.dirname(os.path.abspath(args.csv)), exist_ok=True)
    with open(args.csv, "w", newline="") as out:
        w = csv.writer(out, lineterminator="\n")
        w.writerow(header)
        for r in table:
            w.writerow([fmt(v) for v in r])
    if args.md:
        os.makedirs(os.path.dirname(os.path.abspath(args.md)), exist_ok=True)
        with open(args.md, "w") as out:
            out.write(f"# Sweep {args.results_dir}: {len(table)} points\n\n")
            out.write("| " + " | ".join(header) + " |\n")
            out.write("|" + "---|" * len(header) + "\n")
            for r in table:
                out.write("| " + " | ".join(fmt_md(v) for v in r) + " |\n")
    note(f"{len(table)} points -> {args.csv}" + (f", {args.md}" if args.md else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
