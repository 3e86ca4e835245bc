#!/usr/bin/python3
"""MT-10 manipulation benchmark report for fleetmerge (issue 14, docs/multitask.md; pipelines/mt10.sh).

Reads results.h5 files written by `fleet run` with env.kind = multitask (the points of the sweeps
configs/sweeps/mt10_oneshot.yaml, mt10_barrier.yaml, mt10_rounds.yaml, mt10_rounds_alpha.yaml and
mt10_participation.yaml, <output_dir>/<name>/<I>/results.h5, or any other multitask run) and writes
  - a Markdown report (--md, default results/mt10.md):
      * one-shot runs (fleet.rounds = 0; paper Figure 3 d): per alpha, the success rate (mean over
        the K tasks, then mean [min-max] over seeds) of every merge method of merge.methods, pooled
        (joint), task_specific, the robots' own policies from /eval/local/success [N, K] (local
        (mean) = random pick, robot 0, best local) and the expert; per group the worst task, at_end,
        distance, BC loss and held-out BC loss (/eval/heldout_bc_loss, mean over the robots); the
        success of every policy per task (names: /system/tasks attribute names);
      * per task at alpha 1 (paper Figure 10): pooled (joint), task_specific, fleet_merge and the
        robots' own policies (local (mean)), one row per task, for every one-shot experiment with an
        alpha-1 group of robots on their own data (fleet.shared_data false);
      * warm start (runs with eval.finetune_demos), if any;
      * barriers (eval.barrier_points; mt10_barrier, paper Figure 3 b): per method, the loss and
        success barriers between robots 0 and 1 (attributes loss_barrier and balance_barrier of
        /barrier/<method>) and the success at the end points;
      * iterative runs (fleet.rounds > 0; paper Figure 4): the final merged success and BC loss of
        every method (fleet_merge, average = FedAvg) beside joint training (the pooled policy of the
        same runs) against M = fleet.local_epochs, against fleet.alpha and against
        fleet.participation; an experiment's groups go into the table of each of these settings
        that varies between them (into the M table when none does), one table per value of the
        others; then one row per group (with the last round's quick score) and the final merged
        success per task;
      * communication: the bytes a robot sent (one-shot: /merge/<method>/bytes_sent; iterative:
        /rounds/bytes_sent summed over the rounds) beside its demonstrations' bytes
        (/fleet/robot_stats data_bytes) and the ratio;
      * wall times (/timing/phase_seconds), the machine, the date, the seeds and the files;
    a part without runs is left out;
  - a PNG (--png, default: the --md path with .png), one panel per
      * one-shot experiment of robots on their own data: success vs alpha per policy (robot 0 and
        best local left out), mean over seeds with min-max bars (Figure 3 d);
      * Figure 10 table: per task, grouped bars of the same policies, mean over seeds, min-max bars;
      * barrier group: success along lambda between robots 0 and 1 per method;
      * iterative setting that varies (M, alpha, participation): the final merged success per method
        and joint training's against it; and, with M tables, the merged policy's success after every
        round of those runs (x = local epochs done);
    a panel without data is left out.
The points of a sweep share one experiment name and differ in config values, all read from the
resolved config stored in each file (/config): one-shot runs are grouped by (name, fleet.alpha),
iterative runs by (name, fleet.alpha, the merge method, fleet.local_epochs, fleet.participation,
fleet.robots). Every number comes from the files. A missing file, a file that is not an MT-10
results file (root attribute env = multitask), or a seed given twice in one group, is an error
(exit 2). The reading, grouping, tables and panels are shared with analysis/tooluse_report.py
(analysis/fmreport.py).

usage: /usr/bin/python3 analysis/mt10_report.py RESULTS.h5 ... [--md OUT.md] [--png OUT.png]
"""
import math
import sys
import textwrap

import numpy as np

import fmcommon as fc
import fmreport as fm
from fmcommon import fa, mean_range, pct, score, seeds_text
from fmreport import JOINT, label

PROG = "mt10_report.py"
FIG10 = ("pooled", "task_specific", "fleet_merge", "local")  # the policies of the per-task comparison
FIG10_NEEDS = {"task_specific": " (runs with eval.task_specific: true)",
               "fleet_merge": " (fleet_merge in merge.methods)"}
METHOD_ORDER = {"fleet_merge": 0, "average": 1}
# The iterative settings the tables and panels run against: header, axis label, heading, log axis.
AXES = {"m": ("M", "communication epochs M = fleet.local_epochs (local epochs between merges)",
              "against M (communication epochs; paper Figure 4 a)", True),
        "alpha": ("alpha", "Dirichlet concentration alpha (small = heterogeneous robots)",
                  "against alpha (paper Figure 4 b)", True),
        "participation": ("participation", "fleet.participation (fraction of the robots merged each round)",
                          "against participation (paper Figure 4 c)", False)}
SETTINGS = ("m", "alpha", "participation", "N")  # what tells an experiment's iterative groups apart, besides method


def read_tasks(f, path, K):
    """Each task's name (/system/tasks attribute names, comma-separated), as the part of the per-task tables."""
    names = [n.strip() for n in fc.text(f["system/tasks"].attrs.get("names", "")).split(",")]
    if len(names) != K or not all(names) or len(set(names)) != K:
        fc.die(f"{path}: /system/tasks attribute names {','.join(names)!r} does not name {K} distinct tasks")
    return np.array(names), names


# ---------------------------------------------------------------- per task at alpha 1 (Figure 10)

def fig10_groups(oneshot):
    """Every one-shot experiment's alpha-1 group of robots on their own data."""
    return [g for g in oneshot if g["alpha"] == 1 and fm.shared_data(g["runs"]) is False]


def fig10_policies(g):
    return [p for p in FIG10 if all(p in r["scores"] for r in g["runs"])]


def fig10_markdown(oneshot):
    todo = fig10_groups(oneshot)
    if not todo:
        return []
    lines = ["## Success per task at alpha = 1 (paper Figure 10)", ""] + textwrap.wrap(
        "Success rate of every task (names from /system/tasks) for joint training (pooled), the task-specific "
        "policies (one per task, trained on every robot's data of that task), the fleet_merge merged policy and "
        "the robots' own policies (local (mean): mean over the robots), each the fraction of eval.rollouts "
        "episodes that succeeded, then mean [min-max] over seeds; last row: mean over the tasks (as in the "
        "one-shot tables).", 100) + [""]
    for g in todo:
        pols, runs = fig10_policies(g), g["runs"]
        missing = [p for p in FIG10 if p not in pols]
        lines += [f"{fm.group_text(g)} (seeds {seeds_text(g['seeds'])}, {fm.cfg_text(runs, 'rollouts')} "
                  "episode(s) per task):", "",
                  "| task | " + " | ".join(label(p) for p in pols) + " |", "|---|" + "---|" * len(pols)]
        for t in fm.parts_in(runs):
            lines.append(f"| {t} | " + " | ".join(mean_range([score(r, p, part=t) for r in runs], pct)
                                                   for p in pols) + " |")
        lines.append("| mean over tasks | " + " | ".join(mean_range([score(r, p) for r in runs], pct) for p in pols)
                     + " |")
        if missing:
            lines += ["", "Not in every file of the group: " + "; ".join(
                f"{label(p)}{FIG10_NEEDS.get(p, '')}" for p in missing) + "."]
        lines.append("")
    return lines


def spread(vals):
    """Mean, min and max of the values that are not NaN (NaN, NaN, NaN without any)."""
    v = np.array([x for x in vals if not math.isnan(x)])
    return (float(v.mean()), float(v.min()), float(v.max())) if v.size else (math.nan,) * 3


def plot_tasks(ax, g, tag):
    """Grouped bars: one group per task, one bar per policy, mean over seeds, min-max bars."""
    pols, runs = fig10_policies(g), g["runs"]
    tasks = fm.parts_in(runs)
    x = np.arange(len(tasks))
    width = 0.8 / max(1, len(pols))
    for j, p in enumerate(pols):
        mean, lo, hi = map(np.array, zip(*[spread([score(r, p, part=t) for r in runs]) for t in tasks]))
        ax.bar(x + (j - (len(pols) - 1) / 2) * width, mean, width, yerr=[mean - lo, hi - mean],
               color=fc.COLOR.get(p), label=label(p), capsize=2, error_kw=dict(linewidth=0.8))
    ax.set_xticks(x)
    ax.set_xticklabels(tasks, rotation=35, ha="right", fontsize=8)
    ax.set_xlim(-0.6, len(tasks) - 0.4)
    ax.set_ylabel("success rate")
    ax.legend(fontsize=8.5, loc="best")
    ax.set_title(f"{tag} per task, {fm.group_text(g)}: seeds {seeds_text(g['seeds'])}\n"
                 f"{fm.cfg_text(runs, 'rollouts')} episode(s) per task; bar = mean over seeds, whiskers = min-max",
                 fontsize=10)


# ---------------------------------------------------------------- iterative runs against M, alpha, participation

def series(rounds, axis):
    """The iterative groups to show against axis: per experiment name whose groups differ in axis (for M also
    the names whose groups differ in none of M, alpha, participation), one series per value of the other
    settings: dict(name, fixed = {setting: value}, groups)."""
    out = []
    for name in dict.fromkeys(g["name"] for g in rounds):
        gs = [g for g in rounds if g["name"] == name]
        vary = [a for a in AXES if len({g[a] for g in gs}) > 1]
        if axis not in vary and (axis != "m" or vary):
            continue
        rest = [k for k in SETTINGS if k != axis]
        subs = {}
        for g in gs:
            subs.setdefault(tuple(g[k] for k in rest), []).append(g)
        out += [dict(name=name, fixed=dict(zip(rest, key)), groups=sub) for key, sub in subs.items()]
    return out


def setting_text(key, v):
    return {"m": f"M = {v}", "alpha": f"alpha {fa(v)}", "participation": f"participation {fa(v)}",
            "N": f"{v} robots"}[key]


def series_text(s):
    return f"{s['name']}: " + ", ".join(setting_text(k, v) for k, v in s["fixed"].items())


def axis_value(axis, v):
    return str(v) if axis == "m" else fa(v)


def methods_of(groups):
    return sorted({g["method"] for g in groups}, key=lambda m: (METHOD_ORDER.get(m, 9), m))


def seeds_cell(gs):
    """The seeds of the groups at one value: one list, or one per method when they differ."""
    if len({tuple(g["seeds"]) for g in gs}) == 1:
        return seeds_text(gs[0]["seeds"])
    return "; ".join(f"{g['method']}: {seeds_text(g['seeds'])}" for g in sorted(gs, key=lambda g: METHOD_ORDER.get(
        g["method"], 9)))


def final_loss(r):
    return float(r["rd"]["merged_bc_loss"][-1])


def pivot_markdown(axis, ss):
    """One table per series: a row per value of axis, every method's final merged success and BC loss, joint's."""
    head, _, heading, _ = AXES[axis]
    lines = [f"### Final merged success {heading}", ""]
    for s in ss:
        ms = methods_of(s["groups"])
        lines += [f"{series_text(s)}:", "",
                  f"| {head} | rounds | seeds | " + " | ".join(f"{fm.ROUND_LABEL.get(m, m)} success" for m in ms) +
                  " | joint (pooled) success | " + " | ".join(f"{m} final merged BC loss" for m in ms) +
                  " | joint BC loss |", "|" + "---|" * (2 * len(ms) + 5)]
        for x in sorted({g[axis] for g in s["groups"]}):
            gx = [g for g in s["groups"] if g[axis] == x]
            by = {g["method"]: g["runs"] for g in gx}
            runs = [r for g in gx for r in g["runs"]]
            cell = lambda m, f, fmt: mean_range([f(r, m) for r in by[m]], fmt) if m in by else "-"
            rounds = "/".join(map(str, sorted({n for g in gx for n in g["rounds"]})))
            cells = [axis_value(axis, x), rounds, seeds_cell(gx)] + [cell(m, score, pct) for m in ms] + \
                [mean_range([score(r, JOINT) for r in runs], pct)] + \
                [cell(m, lambda r, _: final_loss(r), fm.loss4) for m in ms] + \
                [mean_range([r["loss"].get(JOINT, math.nan) for r in runs], fm.loss4)]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def iterative_markdown(rounds):
    lines = fm.rounds_intro(rounds, KIND)
    for axis in AXES:
        ss = series(rounds, axis)
        if ss:
            lines += pivot_markdown(axis, ss)
    return lines + ["### Every iterative group", ""] + fm.rounds_details(rounds, KIND)


def plot_axis(ax, data, tag):
    """The final merged success against one setting per method, joint training's beside it (dashed)."""
    axis, ss = data
    head, xlabel, heading, log = AXES[axis]
    xs = sorted({g[axis] for s in ss for g in s["groups"]})
    logx = log and min(xs) > 0 and max(xs) / min(xs) > 4
    styles = ["-", ":", "-.", (0, (5, 1))]
    for k, s in enumerate(ss):
        suffix = f" ({series_text(s)})" if len(ss) > 1 else ""
        for m in methods_of(s["groups"]):
            gs = sorted((g for g in s["groups"] if g["method"] == m), key=lambda g: g[axis])
            mean, lo, hi = map(np.array, zip(*[spread([score(r, m) for r in g["runs"]]) for g in gs]))
            ax.errorbar([g[axis] for g in gs], mean, yerr=[mean - lo, hi - mean], color=fc.COLOR.get(m),
                        marker=fc.MARKER.get(m, "o"), linewidth=1.6, capsize=3, linestyle=styles[k % len(styles)],
                        label=fm.ROUND_LABEL.get(m, m) + suffix)
        sx = sorted({g[axis] for g in s["groups"]})
        mean, lo, hi = map(np.array, zip(*[spread([score(r, JOINT) for g in s["groups"] if g[axis] == x
                                                   for r in g["runs"]]) for x in sx]))
        ax.errorbar(sx, mean, yerr=[mean - lo, hi - mean], color=fc.COLOR[JOINT], marker=fc.MARKER[JOINT],
                    linewidth=1.4, capsize=3, linestyle="--", label="joint (pooled), same runs" + suffix)
    fm.label_axes(ax, xs, [axis_value(axis, x) for x in xs], logx, xlabel,
                  "final merged policy's success (mean over tasks)")
    runs = [r for s in ss for g in s["groups"] for r in g["runs"]]
    title = series_text(ss[0]) if len(ss) == 1 else ", ".join(sorted({s["name"] for s in ss}))
    ax.set_title(f"{tag} iterative merging {heading.split(' (')[0]}, {title}\n{fm.tasks_text(runs)}, seeds "
                 f"{seeds_text(sorted({r['seed'] for r in runs}))}; {fm.cfg_text(runs, 'rollouts')} episode(s) per "
                 "task; mean over seeds, bars = min-max", fontsize=10)


# ---------------------------------------------------------------- the report

def compose(oneshot, rounds, runs, png):
    tasks = fm.parts_in(runs)
    lines = ["# MT-10 (MuJoCo): merging task-conditioned policies of a robot fleet", ""] + textwrap.wrap(
        f"Tasks (/system/tasks): {', '.join(tasks)}: Meta-World's MT-10 in fleetmerge's MuJoCo suite "
        "(docs/multitask.md); success = the task's criterion held after some step of an episode, at_end = it "
        "held at the last step, distance = the task's measure at the end (m; rad for door-open).", 100) + \
        fm.METHODS_TEXT + [""]
    if oneshot:
        lines += fm.oneshot_markdown(oneshot, KIND) + fig10_markdown(oneshot) + fm.warmstart_markdown(oneshot) + \
            fm.barrier_markdown(oneshot, KIND)
    if rounds:
        lines += iterative_markdown(rounds)
    return lines + fm.traffic_markdown(oneshot, rounds, KIND) + fm.timing_markdown(oneshot, rounds, KIND) + \
        fc.machine_markdown(runs) + fm.tail_markdown(runs, png)


def panels(oneshot, rounds):
    out = fm.oneshot_panels([g for g in oneshot if fm.shared_data(g["runs"]) is not True])
    out += [(plot_tasks, g) for g in fig10_groups(oneshot)] + fm.barrier_panels(oneshot)
    out += [(plot_axis, (axis, series(rounds, axis))) for axis in AXES if series(rounds, axis)]
    per_round = [g for s in series(rounds, "m") for g in s["groups"]]
    return out + ([(fm.plot_rounds, per_round)] if per_round else [])


def round_text(g):
    return f"{g['name']}, {fm.round_text(g)}, participation {fa(g['participation'])}, {g['N']} robots"


KIND = fm.Kind(
    prog=PROG, env="multitask", doc=__doc__, default_md="results/mt10.md",
    files_help="results files of MT-10 runs (env.kind: multitask; one-shot and iterative, told apart by fleet.rounds)",
    scores=("success", "at_end", "distance"),
    score_text="at_end = episodes in which the task's criterion held at the last step; distance = the task's "
               "measure at the end (m; rad for door-open; success = distance within the task's threshold), mean "
               "over tasks",
    read_parts=read_tasks, part_header=lambda name, count: name,
    parts_intro=["### Per task", "", "Success rate of every task (names from /system/tasks), then mean [min-max] over "
                 "seeds.", ""],
    oneshot_heading="## One-shot merge (configs/sweeps/mt10_oneshot.yaml; paper Figure 3 d)",
    barrier_heading="## Loss and success barriers (configs/sweeps/mt10_barrier.yaml; paper Figure 3 b)",
    rounds_heading="## Iterative merging (configs/sweeps/mt10_rounds.yaml, mt10_rounds_alpha.yaml, "
                   "mt10_participation.yaml; paper Figure 4)",
    rounds_note="With fleet.participation p < 1 every round merges max(1, round(p N)) robots drawn at random "
                "(/rounds/participants); the others keep training and receive the merged model. The tables "
                "against M, alpha and participation hold, per experiment, the groups that differ only in that "
                "setting; their joint column = the pooled policy of every run at that value, whichever method it "
                "merged with (mean [min-max] over those runs).",
    round_cols=["sweep", "method", "M", "rounds", "alpha", "participation", "robots"],
    round_parts_title="Final merged success per task (mean [min-max] over seeds):",
    round_part_cols=["sweep", "method", "M", "alpha", "participation"], round_text=round_text,
    compose=compose, panels=panels,
    suptitle=lambda runs: "fleetmerge MT-10 (MuJoCo manipulation, task-conditioned policies): success rate")


if __name__ == "__main__":
    fm.run(KIND, sys.argv[1:])
