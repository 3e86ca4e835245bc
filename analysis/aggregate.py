#!/usr/bin/python3
"""Aggregate the points of a fleetmerge sweep into one tidy CSV (optionally a Markdown table and a PNG).

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
                                                   and /eval/<policy>/cost;
                                                   tool use (env tooluse): success_<policy> and
                                                   shortfall_<policy> likewise; MT-10 (multitask):
                                                   success_ and distance_; classification
                                                   (supervised): accuracy_ and xent_.
For the per-robot policy `local` ([N, K]) the mean is over robots and tasks. NaN entries (e.g. a
task-specific policy of a task without data) are left out of the mean; a score a point does not
have is an empty cell.

usage: /usr/bin/python3 analysis/aggregate.py RESULTS_DIR --csv OUT.csv [--md OUT.md] [--png OUT.png]
                                                [--expect N] [--allow-partial]

  --expect N   the sweep has N points: also note every index in 0..N-1 without results
  --allow-partial  exit 0 although points are missing (default: exit 3)
  --png F      also draw the sweep: one panel per score group (rel_exact_*, log y; balance_*;
               cost_*). Points that differ only in experiment.seed are the seeds of one setting:
               markers are their mean, error bars their min-max. x = the first varied key other
               than experiment.seed (categorical unless every value is a number; keys that vary
               together with it, e.g. a zip partner, are added to its tick labels), one colour per
               policy, one line style per value of any further varied key. A mean that is inf
               (some seed did not stabilize) is a triangle in the "unstable" row at the top of
               the panel (filled: every seed, hollow: some). With nothing but the seed varied,
               x = the policy (bars). Needs python3-matplotlib (only for --png).
Exit status: 0 when at least one point was aggregated, every results file present could be read
and no point is missing; 1 when some file could not be read or nothing was aggregated (the
readable points are still written); 3 when points are missing (gaps in the indices found, or in
0..N-1 with --expect; the outputs are written and sweep.md names them) unless --allow-partial;
2 on bad arguments. Outputs are written to a .tmp name and renamed.
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

import fmcommon as fc
from fmcommon import attr_value

ROOT_ATTRS = ("experiment", "env", "num_robots", "num_tasks")
# score datasets per environment: (dataset under /eval/<policy>/, column prefix)
SCORES = {"lqg": ("rel_exact",), "cartpole": ("balance", "cost"), "tooluse": ("success", "shortfall"),
          "multitask": ("success", "distance"), "supervised": ("accuracy", "xent")}


def note(msg):
    print(f"aggregate: {msg}", file=sys.stderr)


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
            attrs[a] = attr_value(f.attrs[a]) if a in f.attrs else None
        if "config" not in f:
            raise ValueError("no /config dataset")
        cfg = yaml.safe_load(attr_value(f["config"][()])) or {}
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


SEED = "experiment.seed"
GROUP_TITLES = {"rel_exact": ("rel_exact: exact cost / optimal cost", "mean over tasks (1 = optimal)"),
                "balance": ("balance: episodes balanced", "fraction (higher is better)"),
                "cost": ("cost: quadratic cost per step", "mean over tasks (lower is better)"),
                "success": ("success: episodes solved", "fraction (higher is better)"),
                "shortfall": ("shortfall: 1 - progress / threshold", "mean over tasks (lower is better)"),
                "distance": ("distance: the task's measure at the end", "mean over tasks (lower is better)"),
                "accuracy": ("accuracy: test examples classified right", "fraction (higher is better)"),
                "xent": ("xent: cross-entropy on the test examples", "mean over classes (lower is better)")}
LINESTYLES = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"), ((0, (5, 1, 1, 1)), "v"),
              ((0, (1, 3)), "P")]


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def seed_stats(vals):
    """(mean, min, max, number of inf, number of values) of one setting's seeds; None if empty.
    NaN and None are left out; any +inf makes the mean inf (not stabilized)."""
    vals = [float(v) for v in vals if v is not None and not math.isnan(float(v))]
    if not vals:
        return None
    n_inf = sum(1 for v in vals if v == math.inf)
    fin = [v for v in vals if math.isfinite(v)]
    if n_inf or not fin:
        return (math.inf, math.nan, math.nan, n_inf, len(vals))
    return (float(np.mean(fin)), min(fin), max(fin), 0, len(vals))


def plot_png(path, rows, varied, score_cols):
    """One panel per score group, x = first non-seed varied key; see the module docstring."""
    plt = fc.pyplot()
    from matplotlib.lines import Line2D

    order = list(dict.fromkeys(s for v in SCORES.values() for s in v))  # each metric once
    groups = []  # (metric, [(policy, column)])
    for m in order:
        cols = [(c[len(m) + 1:], c) for c in score_cols if c.startswith(m + "_")]
        if cols:
            groups.append((m, cols))
    if not groups:
        raise ValueError("no score columns to plot")
    policies = []
    for _, cols in groups:
        for p, _ in cols:
            if p not in policies:
                policies.append(p)
    cmap = plt.get_cmap("tab10" if len(policies) <= 10 else "tab20")
    colour = {p: cmap(i % cmap.N) for i, p in enumerate(policies)}

    cfgs = [r[2] for r in rows]
    keys = [k for k in varied if k != SEED]
    seeds = {fmt(c.get(SEED)) for c in cfgs}
    experiments = list(dict.fromkeys(str(r[1]["experiment"]) for r in rows))
    envs = list(dict.fromkeys(str(r[1]["env"]) for r in rows))
    title = (f"{', '.join(experiments)} ({', '.join(envs)}): {len(rows)} points, "
             f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''}"
             + (f" x {len(rows) // len(seeds)} settings" if keys and len(rows) % len(seeds) == 0
                else ""))
    subtitle = ("mean over seeds, error bars min-max" if len(seeds) > 1 else "one seed")

    npanel = len(groups)
    # a thin "unstable" strip above every panel when some mean is inf (a seed not stabilized)
    any_unstable = any(r[3].get(c) == math.inf for r in rows for _, cols in groups for _, c in cols)
    handles_extra = []

    def panels(width, height):
        fig = plt.figure(figsize=(width * npanel, height + (0.45 if any_unstable else 0)))
        gs = fig.add_gridspec(2 if any_unstable else 1, npanel,
                              height_ratios=[1, 11] if any_unstable else None, hspace=0.04)
        out = []
        for j in range(npanel):
            ax = fig.add_subplot(gs[-1, j])
            sax = fig.add_subplot(gs[0, j], sharex=ax) if any_unstable else None
            out.append((ax, sax))
        return fig, out

    if not keys:  # only the seed varies: one bar per policy
        fig, axes = panels(max(4.5, 0.6 * len(policies) + 2.5), 4.6)
        for (ax, sax), (m, cols) in zip(axes, groups):
            unstable = []
            for j, (p, c) in enumerate(cols):
                st = seed_stats([r[3].get(c) for r in rows])
                if st is None:
                    continue
                mean, lo, hi, n_inf, n = st
                if n_inf:
                    unstable.append((j, p, n_inf, n))
                    continue
                ax.bar(j, mean, width=0.7, color=colour[p],
                       yerr=[[mean - lo], [hi - mean]] if n > 1 else None, capsize=4,
                       ecolor="0.2")
            style_axis(ax, sax, m, unstable, colour)
            ax.set_xticks(range(len(cols)))
            ax.set_xticklabels([p for p, _ in cols], rotation=30, ha="right")
            ax.set_xlim(-0.6, len(cols) - 0.4)
            ax.set_xlabel("policy")
        handles = []
    else:
        xkey, others = keys[0], keys[1:]
        xs = [c.get(xkey) for c in cfgs]
        numeric = all(is_number(v) for v in xs)
        levels = list(dict.fromkeys(fmt(v) for v in xs))
        value_of = {fmt(v): v for v in xs}
        if numeric:
            levels.sort(key=lambda l: float(value_of[l]))
        # keys fixed by the x value (a zip partner): shown in the tick labels, not as lines
        companions = [k for k in others
                      if all(len({fmt(c.get(k)) for c in cfgs if fmt(c.get(xkey)) == l}) == 1
                             for l in levels)]
        style_keys = [k for k in others if k not in companions]
        styles = list(dict.fromkeys(tuple(fmt(c.get(k)) for k in style_keys) for c in cfgs))
        vals = [float(value_of[l]) for l in levels] if numeric else None
        logx = bool(numeric and len(levels) > 2 and min(vals) > 0 and max(vals) / min(vals) >= 20)

        def tx(v):
            return math.log10(v) if logx else v

        if numeric:
            tpos = [tx(v) for v in vals]
            gap = min((b - a for a, b in zip(tpos, tpos[1:])), default=1.0) or 1.0
        else:
            tpos, gap = list(range(len(levels))), 1.0

        labels = []
        for l in levels:
            lab = l if l != "" else "(unset)"
            for k in companions:
                comp = next(fmt(c.get(k)) for c in cfgs if fmt(c.get(xkey)) == l)
                lab += f"\n{k.split('.')[-1]}={comp}"
            labels.append(lab)

        fig, axes = panels(max(6.5, min(10.0, 3.0 + 1.5 * len(levels))), 4.8)
        for (ax, sax), (m, cols) in zip(axes, groups):
            series = [(p, c, st) for p, c in cols for st in styles]
            nser = len(series)
            span = (0.4 if numeric else 0.7) * gap if nser > 1 else 0.0
            unstable = []
            for si, (p, c, st) in enumerate(series):
                ls, mk = LINESTYLES[styles.index(st) % len(LINESTYLES)] if style_keys else ("-", "o")
                off = (si / (nser - 1) - 0.5) * span if nser > 1 else 0.0
                pos, mean, lo, hi = [], [], [], []
                for li, l in enumerate(levels):
                    sel = [r for r in rows if fmt(r[2].get(xkey)) == l
                           and tuple(fmt(r[2].get(k)) for k in style_keys) == st]
                    stt = seed_stats([r[3].get(c) for r in sel])
                    x = tpos[li] + off
                    x = 10 ** x if logx else x
                    pos.append(x)
                    if stt is None:
                        mean.append(math.nan), lo.append(math.nan), hi.append(math.nan)
                        continue
                    mu, a, b, n_inf, n = stt
                    if n_inf:
                        unstable.append((x, p, n_inf, n))
                        mean.append(math.nan), lo.append(math.nan), hi.append(math.nan)
                        continue
                    mean.append(mu), lo.append(a), hi.append(b)
                mean, lo, hi = np.array(mean), np.array(lo), np.array(hi)
                if np.all(np.isnan(mean)):
                    continue
                ax.errorbar(pos, mean, yerr=[mean - lo, hi - mean], color=colour[p], ls=ls,
                            marker=mk, ms=5, lw=1.5, capsize=3, elinewidth=1)
            style_axis(ax, sax, m, unstable, colour)
            if logx:
                ax.set_xscale("log")
            ticks = [10 ** t if logx else t for t in tpos]
            if len(levels) <= 15 or not numeric:
                ax.set_xticks(ticks)
                ax.set_xticklabels(labels)
                if logx:
                    ax.minorticks_off()
            lo_t, hi_t = tpos[0] - 0.5 * gap, tpos[-1] + 0.5 * gap
            ax.set_xlim(10 ** lo_t if logx else lo_t, 10 ** hi_t if logx else hi_t)
            ax.set_xlabel(xkey + (" (log)" if logx else ""))
        handles = [Line2D([], [], color=colour[p], lw=2.5, label=p) for p in policies]
        if style_keys:
            handles.append(Line2D([], [], ls="none", label="\n" + ", ".join(style_keys) + ":"))
            for st in styles:
                ls, mk = LINESTYLES[styles.index(st) % len(LINESTYLES)]
                handles.append(Line2D([], [], color="0.3", ls=ls, marker=mk, lw=1.5,
                                      label=", ".join(st)))
    if any_unstable:
        handles_extra = [Line2D([], [], ls="none", marker="^", color="0.3", ms=8,
                                label="unstable (all seeds inf)"),
                         Line2D([], [], ls="none", marker="^", color="0.3", mfc="none", ms=8,
                                label="unstable (k/n seeds inf)")]
    handles = handles + handles_extra
    fig.suptitle(f"{title}\n{subtitle}", fontsize=11)
    fig.subplots_adjust(left=0.09 if npanel == 1 else 0.06, right=0.97, wspace=0.28,
                        top=0.85 if any_unstable else 0.86)
    if handles:
        fig.legend(handles=handles, loc="center left", bbox_to_anchor=(0.98, 0.5), frameon=False,
                   fontsize=9, title="policy" if keys else None)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fc.savefig(fig, path, dpi=120, bbox_inches="tight")


def style_axis(ax, sax, metric, unstable, colour):
    """Titles, y scale (log for rel_exact, plain tick labels) and the "unstable" strip sax."""
    from matplotlib.ticker import FuncFormatter, NullFormatter
    head, ylabel = GROUP_TITLES.get(metric, (metric, "mean over tasks"))
    (sax or ax).set_title(head, fontsize=10)
    ax.set_ylabel(ylabel)
    ax.grid(True, axis="y", which="major", alpha=0.3)
    has_data = bool(ax.lines or ax.patches or ax.collections)
    if metric == "rel_exact" and has_data:
        ax.set_yscale("log")
        ax.relim()
        ax.autoscale_view()
        b, t = ax.get_ylim()
        plain = FuncFormatter(lambda v, _: f"{v:g}")
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(plain if t / b < 30 else NullFormatter())
        ax.grid(True, axis="y", which="minor", alpha=0.12)
    elif not has_data:
        ax.set_yticks([])
    if sax is None:
        return
    sax.set_ylim(0, 1)
    sax.set_yticks([0.5])
    sax.set_yticklabels(["unstable"], fontsize=8, style="italic")
    sax.tick_params(axis="y", length=0)
    sax.tick_params(axis="x", labelbottom=False, length=0)
    for side in ("top", "right", "bottom", "left"):
        sax.spines[side].set_color("0.75")
    sax.set_facecolor("0.96")
    for x, p, n_inf, n in unstable:
        allinf = n_inf == n
        sax.plot([x], [0.5], ls="none", marker="^", ms=8, color=colour[p],
                 mfc=colour[p] if allinf else "white", mew=1.5, clip_on=False)
        if not allinf:
            sax.annotate(f"{n_inf}/{n}", (x, 0.5), xytext=(6, 0), textcoords="offset points",
                         fontsize=7, va="center", color=colour[p])


def main():
    ap = argparse.ArgumentParser(
        description="One tidy CSV row per completed point of a fleetmerge sweep "
                    "(RESULTS_DIR/<I>/results.h5).")
    ap.add_argument("results_dir", metavar="RESULTS_DIR",
                    help="the sweep's directory <experiment.output_dir>/<experiment.name>")
    ap.add_argument("--csv", required=True, metavar="OUT.csv", help="tidy CSV to write")
    ap.add_argument("--md", metavar="OUT.md", help="also write a Markdown table")
    ap.add_argument("--png", metavar="OUT.png",
                    help="also draw the sweep: one panel per score group, x = the first varied "
                         "key other than experiment.seed, mean over seeds with min-max bars")
    ap.add_argument("--expect", type=int, metavar="N",
                    help="the sweep's number of points: note every missing index in 0..N-1")
    ap.add_argument("--allow-partial", action="store_true",
                    help="exit 0 when points are missing (default: exit 3 after writing the outputs)")
    args = ap.parse_args()

    if not os.path.isdir(args.results_dir):
        note(f"{args.results_dir}: not a directory")
        return 1
    found = find_points(args.results_dir)
    indices = sorted(set(found) | set(range(args.expect or 0)))
    rows, bad, missing = [], 0, []
    for i in indices:
        path = os.path.join(args.results_dir, str(i), "results.h5")
        if not os.path.isfile(path):
            note(f"point {i}: no {path} (not run, running or failed), skipped")
            missing.append(i)
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
    order = list(dict.fromkeys(s for v in SCORES.values() for s in v))  # each metric once
    score_cols.sort(key=lambda c: next((n for n, s in enumerate(order) if c.startswith(s + "_")),
                                       len(order)))

    header = ["index", *ROOT_ATTRS, *varied, *score_cols]
    table = []
    for i, attrs, cfg, scores in rows:
        table.append([i, *(attrs[a] for a in ROOT_ATTRS), *(cfg.get(k) for k in varied),
                      *(scores.get(c) for c in score_cols)])

    os.makedirs(os.path.dirname(os.path.abspath(args.csv)), exist_ok=True)
    with open(args.csv + ".tmp", "w", newline="") as out:
        w = csv.writer(out, lineterminator="\n")
        w.writerow(header)
        for r in table:
            w.writerow([fmt(v) for v in r])
    os.replace(args.csv + ".tmp", args.csv)
    if args.md:
        os.makedirs(os.path.dirname(os.path.abspath(args.md)), exist_ok=True)
        with open(args.md + ".tmp", "w") as out:
            total = f" of {args.expect}" if args.expect else ""
            out.write(f"# Sweep {args.results_dir}: {len(table)} points{total}\n\n")
            if missing:
                out.write(f"**Partial: {len(missing)} point(s) without results: "
                          f"{', '.join(map(str, missing))}** (not run, running or failed).\n\n")
            out.write("| " + " | ".join(header) + " |\n")
            out.write("|" + "---|" * len(header) + "\n")
            for r in table:
                out.write("| " + " | ".join(fmt_md(v) for v in r) + " |\n")
        os.replace(args.md + ".tmp", args.md)
    drawn = False
    if args.png:
        try:
            plot_png(args.png, rows, varied, score_cols)
            drawn = True
        except (ImportError, ValueError, OSError) as e:
            note(f"cannot draw {args.png}: {e}")
            bad += 1
    note(f"{len(table)} points -> {args.csv}" + (f", {args.md}" if args.md else "")
         + (f", {args.png}" if drawn else ""))
    if bad:
        return 1
    if missing and not args.allow_partial:
        note(f"partial: {len(missing)} of {len(indices)} points have no results ({', '.join(map(str, missing))}); "
             "exit 3 (--allow-partial accepts it)")
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
