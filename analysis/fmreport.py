"""Shared engine of the manipulation benchmarks' reports (analysis/tooluse_report.py, analysis/mt10_report.py).

Not a program: the entry points import it, describe their benchmark in a Kind (the env.kind they read, its
three score names, how the tasks break down into parts, the headings and the report's composition) and call
run(kind, argv). Everything the two reports share lives here, once (the helpers of every analysis script,
formatting, the plot style and the results files' checks, are in fmcommon.py):
  - reading results.h5 files (open_results, read_run: config values from the resolved /config YAML, per-task
    scores per policy, /eval/local as local (mean) / robot 0 / best local, BC and held-out BC losses,
    barriers, traffic, rounds, timings); a missing file or a file of another env.kind is an error (exit 2);
  - grouping: one-shot runs by (experiment name, fleet.alpha); iterative runs by (experiment name,
    fleet.alpha, the merge method, fleet.local_epochs, fleet.participation, fleet.robots); the tag
    "_a<alpha>_s<seed>" or "_m<M>_<method>_s<seed>" is removed from the name (the tool-use pipelines'
    names; the points of a sweep share one name and differ in these config values); a seed given twice in
    one group is an error (exit 2);
  - the Markdown sections: one-shot summary, per-group details and per-part tables (Kind.read_parts: tool
    families or tasks), warm start, barriers, iterative runs (intro, one row per group, per part),
    communication, wall times, machine; every number mean [min-max] over seeds;
  - the figure: one PNG of panels (one-shot success vs alpha, iterative curves, final success vs M, barrier
    curves; the entry points add their own), panels without data left out.
"""
import dataclasses
import math
import os
import re
import textwrap

import h5py
import numpy as np

import fmcommon as fc
from fmcommon import COLOR, MARKER, die, fa, mean_or_nan, mean_range, num, pct, score, seeds_text, text

FIXED = ("pooled", "task_specific", "local", "expert")  # /eval groups read besides the merge methods
DERIVED = ("robot 0", "best local")  # rows computed from /eval/local [N, K]
ROWS = ("pooled", "task_specific", "local", "robot 0", "best local", "expert")  # after the methods, in this order
JOINT = "pooled"
SCRATCH, FINETUNED = "scratch", "finetuned_"  # warm start: /eval/scratch and /eval/finetuned_<method>
LABEL = {"pooled": "pooled (joint)", "local": "local (mean) = random pick", "expert": "expert",
         "average": "average", "git_rebasin": "git_rebasin", "fleet_merge": "fleet_merge"}
ROUND_LABEL = {"average": "average (FedAvg)", "fleet_merge": "fleet_merge"}
BARRIER_LABEL = {"average": "average (plain interpolation)"}
SETTING = {True: "policies cloned from one dataset", False: "robots 0 and 1 on their own data",
           None: "fleet.shared_data differs between the seeds"}
METHODS_TEXT = ["Methods: `average` (plain mean), `git_rebasin` (MergeMany weight matching), `sinkhorn_rebasin`",
                "(soft permutations against robot 0, Pena et al. 2022), `fleet_merge` (Algorithm 1 started from",
                "weight matching). Every number below is computed from the results files."]


@dataclasses.dataclass
class Kind:
    """What differs between the benchmarks' reports; the entry points fill it in."""
    prog: str  # program name in messages
    env: str  # the root attribute env (= env.kind) of the files it reads
    doc: str  # the entry point's docstring: first line = description, the rest = --help epilog
    default_md: str  # --md default
    files_help: str  # help of the positional argument
    scores: tuple  # /eval/<policy>/<score>: success, then two more (second: a rate; third: a measure)
    score_text: str  # what the two other scores mean, for the per-group tables' paragraph
    read_parts: object  # (f, path, K) -> (labels [K] of the tasks' parts, the parts' order)
    part_header: object  # (label, count of the group's tasks in it) -> column header of the per-part table
    parts_intro: list  # heading and paragraph of the one-shot per-part tables
    oneshot_heading: str
    barrier_heading: str
    rounds_heading: str
    rounds_note: str  # appended to the iterative intro paragraph ("" = nothing)
    round_cols: list  # keys of ROUND_COLS: the columns before "seeds" of the iterative table
    round_parts_title: str  # line above the iterative per-part table
    round_part_cols: list  # keys of ROUND_COLS: its columns before the parts
    round_text: object  # g -> an iterative group in the communication and wall-time tables
    compose: object  # (oneshot, rounds, runs, png) -> the report's lines
    panels: object  # (oneshot, rounds) -> [(draw(ax, data, tag), data)]
    suptitle: object  # runs -> the figure's title


# The keys this report needs from the resolved /config YAML.
CONFIG = {("experiment", "seed"): int, ("fleet", "alpha"): float, ("fleet", "rounds"): int,
          ("fleet", "local_epochs"): int, ("fleet", "participation"): float, ("fleet", "demos_per_robot"): int,
          ("fleet", "shared_data"): fc.flag, ("merge", "methods"): list, ("eval", "rollouts"): int,
          ("eval", "round_rollouts"): int, ("eval", "barrier_points"): int, ("eval", "finetune_demos"): int,
          ("eval", "finetune_epochs"): int, ("eval", "val_demos"): int, ("train", "epochs"): int,
          ("env", "kind"): str, ("env", "tu_points"): int, ("env", "tu_obs"): str, ("env", "horizon"): int}


def open_results(path, kind):
    """The results file of a run of kind.env, opened; exit 2 if it is missing or anything else."""
    if not os.path.isfile(path):
        die(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        die(f"{path}: cannot open as HDF5 ({e})")
    fc.check_results(f, path, kind.env, die, f" (this report reads env.kind: {kind.env} runs)")
    for need in ("config", "eval", "system/tasks", "fleet"):
        if need not in f:
            die(f"{path}: no /{need}")
    return f


def read_scores(f, path, pol, shape, scores):
    """/eval/<pol>/<score> for the kind's scores (success first), each of the given shape."""
    s = {}
    for k in scores:
        name = f"eval/{pol}/{k}"
        if name not in f:
            die(f"{path}: no /{name}")
        v = np.array(f[name], dtype=float)
        if v.shape != shape:
            die(f"{path}: /{name} has shape {v.shape}, expected {shape}")
        s[k] = v
    return s


def local_rows(s):
    """The robots' own policies [N, K] as three rows: local (mean over robots per task), robot 0, and
    best local (the robot with the highest mean success; ties go to the lower index)."""
    best = int(np.argmax(s["success"].mean(axis=1)))
    return {"local": {k: v.mean(axis=0) for k, v in s.items()}, "robot 0": {k: v[0] for k, v in s.items()},
            "best local": {k: v[best] for k, v in s.items()}}


def read_heldout(f, path, N):
    """Fleet mean of /eval/heldout_bc_loss per column (policy name), without the all-NaN columns (the
    expert); and the attribute demos_per_robot. ({}, None) when the file has none."""
    if "eval/heldout_bc_loss" not in f:
        return {}, None
    d = f["eval/heldout_bc_loss"]
    cols = text(d.attrs.get("columns", "")).split(",")
    v = np.array(d, dtype=float)
    if v.shape != (N, len(cols)):
        die(f"{path}: /eval/heldout_bc_loss has shape {v.shape}, but {N} robots and columns {cols}")
    demos = d.attrs.get("demos_per_robot")
    return ({c: float(v[:, j].mean()) for j, c in enumerate(cols) if not np.all(np.isnan(v[:, j]))},
            int(demos) if demos is not None else None)


def read_barrier(f, path, methods):
    """/barrier/<method>: lambda, loss, success [P] and the two barriers, methods in merge.methods order."""
    if "barrier" not in f:
        return {}
    out = {}
    for m in [m for m in methods if m in f["barrier"]] + [m for m in f["barrier"] if m not in methods]:
        g = f["barrier"][m]
        curve = {}
        for k in ("lambda", "loss", "success"):
            if k not in g:
                die(f"{path}: no /barrier/{m}/{k}")
            curve[k] = np.array(g[k], dtype=float)
            if curve[k].shape != curve["lambda"].shape:
                die(f"{path}: /barrier/{m}/{k} has shape {curve[k].shape}, /barrier/{m}/lambda {curve['lambda'].shape}")
        curve["loss_barrier"] = float(g.attrs.get("loss_barrier", math.nan))
        curve["success_barrier"] = float(g.attrs.get("balance_barrier", math.nan))  # the historical name
        out[m] = curve
    return out


def read_traffic(f, path, N, rounds):
    """Per robot, mean over the robots: demonstrations, their bytes, the model's bytes (/fleet/robot_stats)
    and the bytes sent: one model for a one-shot merge, /rounds/bytes_sent summed over the rounds."""
    if "fleet/robot_stats" not in f:
        return None
    d = f["fleet/robot_stats"]
    cols = text(d.attrs.get("columns", "")).split(",")
    v = np.array(d, dtype=float)
    need = ("num_demos", "data_bytes", "model_bytes")
    if v.shape != (N, len(cols)) or any(c not in cols for c in need):
        die(f"{path}: /fleet/robot_stats has shape {v.shape} and columns {cols}, expected [{N}, ...] with {need}")
    t = {c: float(v[:, cols.index(c)].mean()) for c in need}
    t["sent"] = t["model_bytes"]
    t["per_method"] = {}  # one-shot: /merge/<method>/bytes_sent [N], the merge's collectives as counted
    for m in (f["merge"] if "merge" in f and not rounds else []):
        if f"merge/{m}/bytes_sent" in f:
            t["per_method"][m] = float(np.array(f[f"merge/{m}/bytes_sent"], dtype=float).mean())
    if rounds:
        if "rounds/bytes_sent" not in f:
            die(f"{path}: fleet.rounds = {rounds} but no /rounds/bytes_sent")
        sent = np.array(f["rounds/bytes_sent"], dtype=float)
        if sent.shape != (N, rounds):
            die(f"{path}: /rounds/bytes_sent has shape {sent.shape}, expected ({N}, {rounds})")
        t["sent"] = float(sent.sum(axis=1).mean())
    return t


def read_rounds(f, path, run, scores):
    """/rounds/merged_success, merged_bc_loss [R] (required), merged_<third score>, participants."""
    for k in ("merged_success", "merged_bc_loss", f"merged_{scores[2]}", "participants"):
        if f"rounds/{k}" in f:
            run["rd"][k] = np.array(f[f"rounds/{k}"], dtype=float)
    for k in ("merged_success", "merged_bc_loss"):
        if k not in run["rd"] or run["rd"][k].shape != (run["rounds"],):
            die(f"{path}: /rounds/{k} missing or not of length fleet.rounds = {run['rounds']}")


def read_run(path, kind):
    """One results file: config values, per-task scores per policy, the tasks' parts (kind.read_parts),
    losses, held-out losses, barriers, traffic, rounds, timings."""
    with open_results(path, kind) as f:
        exp = text(f.attrs["experiment"])
        cfg = fc.parse_config(text(f["config"][()]), CONFIG)
        K, N = int(f.attrs["num_tasks"]), int(f.attrs["num_robots"])
        part, part_order = kind.read_parts(f, path, K)
        iterative = (cfg.get("rounds") or 0) > 0
        if iterative and "rounds" not in f:
            die(f"{path}: fleet.rounds = {cfg['rounds']} but no /rounds group")
        methods = [m for m in (cfg.get("methods") or []) if f"eval/{m}" in f] or \
            [p for p in f["eval"] if isinstance(f["eval"][p], h5py.Group) and p not in FIXED and p != SCRATCH
             and not p.startswith(FINETUNED)]
        tag = re.search(r"_m\d+_[a-z_]+_s\d+$" if iterative else r"(_a[0-9.eE+-]+)?_s\d+$", exp)
        run = dict(path=path, exp=exp, name=exp[:tag.start()] if tag else exp, seed=cfg.get("seed"),
                   alpha=cfg.get("alpha"), m=cfg.get("local_epochs"), rounds=cfg.get("rounds") or 0,
                   participation=cfg.get("participation"), iterative=iterative, methods=methods, K=K, N=N,
                   part=np.asarray(part), part_order=list(part_order), cfg=cfg,
                   scores={}, loss={}, rd={}, phases=None, mtime=os.path.getmtime(path))
        warm = [FINETUNED + m for m in methods if f"eval/{FINETUNED}{m}" in f] + \
            ([SCRATCH] if f"eval/{SCRATCH}" in f else [])
        for pol in methods + [p for p in FIXED if p != "local" and f"eval/{p}" in f] + warm:
            run["scores"][pol] = read_scores(f, path, pol, (K,), kind.scores)
        if "eval/local" in f:
            run["scores"].update(local_rows(read_scores(f, path, "local", (N, K), kind.scores)))
        for pol in methods:
            g = f.get(f"models/merged/{pol}")
            run["loss"][pol] = float(g.attrs["bc_loss"]) if g is not None and "bc_loss" in g.attrs else math.nan
        run["loss"][JOINT] = float(f["fleet"].attrs.get("pooled_bc_loss", math.nan))
        run["heldout"], run["heldout_demos"] = read_heldout(f, path, N)
        run["barrier"] = read_barrier(f, path, methods)
        run["traffic"] = read_traffic(f, path, N, run["rounds"])
        if iterative:
            if len(methods) != 1:
                die(f"{path}: expected one merge method with rounds, got {methods}")
            read_rounds(f, path, run, kind.scores)
        if "timing/phase_seconds" in f:
            run["phases"] = np.array(f["timing/phase_seconds"], dtype=float)
    if run["seed"] is None or run["alpha"] is None:
        die(f"{path}: /config has no experiment.seed or fleet.alpha")
    return run


# ---------------------------------------------------------------- grouping and helpers

def check_seeds(key, runs):
    seeds = [r["seed"] for r in runs]
    if len(set(seeds)) != len(seeds):
        die(f"{key}: a seed is given twice ({[r['path'] for r in runs]})")


def group_oneshot(runs):
    """One-shot runs grouped by (name, alpha), sorted by alpha; each group's runs by seed."""
    groups = {}
    for r in runs:
        groups.setdefault((r["name"], r["alpha"]), []).append(r)
    out = []
    for key in sorted(groups, key=lambda k: (k[1], k[0])):
        rs = sorted(groups[key], key=lambda r: r["seed"])
        check_seeds(f"{key[0]} alpha {fa(key[1])}", rs)
        out.append(dict(name=key[0], alpha=key[1], runs=rs, seeds=[r["seed"] for r in rs],
                        methods=list(dict.fromkeys(m for r in rs for m in r["methods"]))))
    return out


def group_rounds(runs):
    """Iterative runs grouped by (name, alpha, method, M, participation, robots)."""
    order = {"fleet_merge": 0, "average": 1}
    groups = {}
    for r in runs:
        groups.setdefault((r["name"], r["alpha"], r["methods"][0], r["m"], r["participation"] or 0.0, r["N"]),
                          []).append(r)
    out = []
    for key in sorted(groups, key=lambda k: (k[0], k[1], order.get(k[2], 9), k[2], k[3], k[4], k[5])):
        rs = sorted(groups[key], key=lambda r: r["seed"])
        check_seeds(f"{key[0]} alpha {fa(key[1])} {key[2]} M = {key[3]} participation {fa(key[4])} {key[5]} robots",
                    rs)
        out.append(dict(name=key[0], alpha=key[1], method=key[2], m=key[3], participation=key[4], N=key[5], runs=rs,
                        seeds=[r["seed"] for r in rs], rounds=sorted({r["rounds"] for r in rs})))
    return out


def policies(g):
    return g["methods"] + [p for p in ROWS if all(p in r["scores"] for r in g["runs"])]


def label(p):
    return LABEL.get(p, p)


def parts_in(runs):
    """The parts the runs' tasks belong to, in the kind's order (then in order of appearance)."""
    seen = {p for r in runs for p in r["part"]}
    order = dict.fromkeys(p for r in runs for p in list(r["part_order"]) + list(r["part"]))
    return [p for p in order if p in seen]


def loss4(v):
    return num(v, 4)


def kb(v):
    return num(v / 1e3, 1)


def cfg_text(runs, key):
    """A config value of the runs, or its values joined by '/' when they differ."""
    return "/".join(str(v) for v in sorted({r["cfg"].get(key) for r in runs}, key=str))


def tasks_text(runs):
    ks = sorted({r["K"] for r in runs})
    return f"{'/'.join(map(str, ks))} task{'' if ks == [1] else 's'}"


def group_text(g):
    """A one-shot group in headings, table rows and panel titles: name, alpha and task count."""
    return f"{g['name']}, alpha {fa(g['alpha'])}, {tasks_text(g['runs'])}"


def round_text(g):
    """An iterative group: method, M, rounds and alpha."""
    rounds = "/".join(map(str, g["rounds"]))
    return (f"{ROUND_LABEL.get(g['method'], g['method'])}, M = {g['m']}, "
            f"{rounds} round{'' if rounds == '1' else 's'}, alpha {fa(g['alpha'])}")


def heldout_cell(runs, pol):
    """The fleet-mean held-out BC loss of pol, mean [min-max] over seeds; '-' when no file has it."""
    vals = [r["heldout"].get(pol, math.nan) for r in runs]
    return "-" if all(math.isnan(v) for v in vals) else mean_range(vals, loss4)


def barrier_runs(g):
    return [r for r in g["runs"] if r["barrier"]]


def barrier_methods(runs):
    return list(dict.fromkeys(m for r in runs for m in r["barrier"]))


def shared_data(runs):
    """fleet.shared_data of the runs: True, False, or None when the seeds differ."""
    v = {bool(r["cfg"].get("shared_data")) for r in runs}
    return v.pop() if len(v) == 1 else None


# ---------------------------------------------------------------- markdown

def oneshot_markdown(groups, kind):
    lines = [kind.oneshot_heading, ""] + textwrap.wrap(
        "Every robot clones its own policy on its own Dirichlet(alpha) task mixture; the fleet is merged once by "
        "every method. Success = mean over the K tasks of the fraction of eval.rollouts episodes that succeeded, "
        "then mean over seeds [min-max over seeds]. `pooled (joint)` = one policy trained on all robots' data (the "
        "upper bound); `task_specific` = for every task, one policy trained on every robot's data of that task and "
        "scored on that task (tasks of which no robot has data are left out of the mean). The answers without "
        "merging, from /eval/local/success [N, K]: `local (mean) = random pick` = every robot's own policy, mean "
        "over robots per task (the expected success of a robot's policy picked at random); `robot 0` = robot 0's "
        "own policy; `best local` = the robot whose own policy has the highest mean success (picked on this "
        "evaluation itself, so an optimistic choice).", 100) + [""]
    lines += oneshot_summary(groups) + oneshot_details(groups, kind) + parts_markdown(groups, kind)
    return lines


def oneshot_summary(groups):
    """Success of every policy, one column per group."""
    runs = [r for g in groups for r in g["runs"]]
    several = len({g["name"] for g in groups}) > 1
    setting = lambda key: "/".join(str(v) for v in sorted({r[key] for r in runs}))
    pols = list(dict.fromkeys(p for g in groups for p in policies(g)))
    lines = [f"### Success rate per alpha ({', '.join(sorted({g['name'] for g in groups}))}: {setting('N')} robots, "
             f"{setting('K')} tasks, {cfg_text(runs, 'rollouts')} episode(s) per task)", "",
             "| policy | " + " | ".join(f"alpha = {fa(g['alpha'])}"
                                       f"{' ' + g['name'] + ', ' + tasks_text(g['runs']) if several else ''} "
                                       f"(seeds {seeds_text(g['seeds'])})" for g in groups) + " |",
             "|---|" + "---|" * len(groups)]
    for p in pols:
        lines.append(f"| {label(p)} | " + " | ".join(mean_range([score(r, p) for r in g["runs"]], pct)
                                                    for g in groups) + " |")
    return lines + [""]


def oneshot_details(groups, kind):
    """Per group: success, worst task, the two other scores, BC loss and held-out BC loss of every policy."""
    runs = [r for g in groups for r in g["runs"]]
    val = sorted({r["heldout_demos"] for r in runs if r["heldout_demos"] is not None})
    lines = textwrap.wrap(
        f"Per group below: worst task = lowest task success, mean over seeds [min]; {kind.score_text}; BC loss = "
        "per-step loss on all the fleet's data (merged methods and pooled), mean over seeds; held "
        "out = /eval/heldout_bc_loss, every robot's per-step BC loss on "
        f"{'/'.join(map(str, val)) or 'eval.val_demos'} held-out demonstrations of its own mixture that it never "
        "trained on, mean over the robots (`local` row: each robot's own policy on its own held-out data), then "
        "mean [min-max] over seeds; `-` = the files hold no fleet-wide held-out loss of that policy.", 100) + [""]
    for g in groups:
        lines += [f"### alpha = {fa(g['alpha'])} ({g['name']}, {tasks_text(g['runs'])}, "
                  f"seeds {seeds_text(g['seeds'])})", "",
                  f"| policy | success | worst task | {kind.scores[1]} | {kind.scores[2]} | BC loss | held out |",
                  "|---|---|---|---|---|---|---|"]
        lines += [detail_row(g["runs"], p, kind.scores) for p in policies(g)] + [""]
    return lines


def detail_row(runs, p, scores):
    """One policy's row of the per-group table: success, worst task, scores[1] (a rate), scores[2] (a measure)."""
    wb = [v for v in (score(r, p, worst=True) for r in runs) if not math.isnan(v)]
    loss = [r["loss"].get(p, math.nan) for r in runs]
    return (f"| {label(p)} | {mean_range([score(r, p) for r in runs], pct)} | "
            f"{pct(mean_or_nan(wb))} [{pct(min(wb, default=math.nan))}] | "
            f"{pct(mean_or_nan([score(r, p, scores[1]) for r in runs]))} | "
            f"{num(mean_or_nan([score(r, p, scores[2]) for r in runs]))} | "
            f"{loss4(mean_or_nan(loss))} | {heldout_cell(runs, p)} |")


def parts_markdown(groups, kind):
    """Per group: every policy's success over the tasks of each part (tool family, task)."""
    lines = list(kind.parts_intro)
    for g in groups:
        parts = parts_in(g["runs"])
        counts = [int(np.sum(g["runs"][0]["part"] == p)) for p in parts]
        lines += [f"alpha = {fa(g['alpha'])} ({g['name']}, seeds {seeds_text(g['seeds'])}):", "",
                  "| policy | " + " | ".join(kind.part_header(p, c) for p, c in zip(parts, counts)) + " |",
                  "|---|" + "---|" * len(parts)]
        for pol in policies(g):
            lines.append(f"| {label(pol)} | " + " | ".join(mean_range([score(r, pol, part=p) for r in g["runs"]], pct)
                                                          for p in parts) + " |")
        lines.append("")
    return lines


def warmstart_markdown(groups):
    """Paper Figure 3 c: every merged policy before and after fine-tuning, beside scratch; [] without runs
    that fine-tuned."""
    todo = [(g, [m for m in g["methods"] if all(FINETUNED + m in r["scores"] for r in g["runs"])]) for g in groups]
    todo = [(g, ms) for g, ms in todo if ms]
    if not todo:
        return []
    runs = [r for g, _ in todo for r in g["runs"]]
    lines = ["## Warm start: fine-tuning the merged policies (paper Figure 3 c)", ""] + textwrap.wrap(
        "Every merged policy, and a fresh policy (scratch), is trained for eval.finetune_epochs = "
        f"{cfg_text(runs, 'finetune_epochs')} epochs on the same eval.finetune_demos = "
        f"{cfg_text(runs, 'finetune_demos')} expert demonstrations (tasks in turn) and scored like the other "
        "policies (/eval/finetuned_<method>, /eval/scratch). Success = mean over tasks; held-out loss = fleet mean "
        "of /eval/heldout_bc_loss as in the one-shot tables; both mean [min-max] over seeds. Before fine-tuning = "
        "the one-shot merged policy.", 100) + [""]
    for g, ms in todo:
        lines += [f"{group_text(g)} (seeds {seeds_text(g['seeds'])}):", "",
                  "| start | before fine-tuning: success | held-out loss | after fine-tuning: success "
                  "| held-out loss |", "|---|---|---|---|---|"]
        lines += [warm_row(g["runs"], label(m), m, FINETUNED + m) for m in ms]
        if all(SCRATCH in r["scores"] for r in g["runs"]):
            lines.append(warm_row(g["runs"], "scratch (fresh policy)", None, SCRATCH))
        lines.append("")
    return lines


def warm_row(runs, name, before, after):
    """One start point: the policy before fine-tuning (None: nothing to score) and after it."""
    cells = ["-", "-"] if before is None else [mean_range([score(r, before) for r in runs], pct),
                                              heldout_cell(runs, before)]
    cells += [mean_range([score(r, after) for r in runs], pct), heldout_cell(runs, after)]
    return f"| {name} | " + " | ".join(cells) + " |"


def barrier_markdown(groups, kind):
    """Loss and success barriers between robots 0 and 1; [] without /barrier."""
    todo = [g for g in groups if barrier_runs(g)]
    if not todo:
        return []
    lines = [kind.barrier_heading, ""] + textwrap.wrap(
        "Along theta(lambda) = (1 - lambda) theta_0 + lambda theta_1 between the policies of robots 0 and 1, "
        "after each method's alignment of the pair (average = plain interpolation, no alignment), at "
        "eval.barrier_points evenly spaced lambdas. Loss barrier = max over lambda of the BC loss on the fleet's "
        "data minus the mean of the two end points' losses; success barrier = max over lambda of the mean of the "
        "end points' success minus the success at lambda (eval.rollouts episodes per task), in success-rate "
        "points (attributes loss_barrier and balance_barrier of /barrier/<method>); 0 = no barrier. End points = "
        "mean success at lambda = 0 and 1 (/barrier/<method>/success). Mean [min-max] over seeds.", 100) + [""]
    end = lambda c: (c["success"][0] + c["success"][-1]) / 2  # mean success of robots 0 and 1
    for g in todo:
        runs = barrier_runs(g)
        lines += [f"{group_text(g)} (seeds {seeds_text([r['seed'] for r in runs])}, "
                  f"{cfg_text(runs, 'barrier_points')} lambdas, {cfg_text(runs, 'rollouts')} episode(s) per task):", "",
                  "| method | loss barrier | success barrier | success at the end points |", "|---|---|---|---|"]
        for m in barrier_methods(runs):
            cs = [r["barrier"][m] for r in runs if m in r["barrier"]]
            lines.append(f"| {BARRIER_LABEL.get(m, label(m))} | {mean_range([c['loss_barrier'] for c in cs], loss4)} | "
                         f"{mean_range([c['success_barrier'] for c in cs], pct)} | "
                         f"{mean_range([end(c) for c in cs], pct)} |")
        lines += ["", barrier_sentence(runs), ""]
    return lines


def barrier_sentence(runs):
    s = shared_data(runs)
    detail = {True: " (fleet.shared_data = true: every robot trains on robot 0's demonstrations).",
              False: " (fleet.shared_data = false).", None: "."}[s]
    return f"Setting: {SETTING[s]}{detail}"


def rounds_markdown(groups, kind):
    """The iterative runs: intro, one row per group, final success per part."""
    return rounds_intro(groups, kind) + rounds_details(groups, kind)


def rounds_intro(groups, kind):
    r0 = groups[0]["runs"][0]
    return [kind.rounds_heading, ""] + textwrap.wrap(
        "Every robot trains M = fleet.local_epochs epochs on its own data, the robots are merged (average = "
        "FedAvg, or fleet_merge: one Algorithm 1 epoch per round), every robot restarts from the merged model; "
        "rounds x M epochs in total. Final merged success = the final merged policy scored like the one-shot "
        f"policies (eval.rollouts = {r0['cfg'].get('rollouts')} episode(s) per task, mean over tasks, then mean "
        "[min-max] over seeds); last round = /rounds/merged_success[-1] (eval.round_rollouts = "
        f"{r0['cfg'].get('round_rollouts')} episode(s) per task: a quick, noisy score); final merged BC loss = "
        "/rounds/merged_bc_loss[-1] on all the fleet's data; joint = the same runs' pooled policy (as many epochs "
        "in total)." + (" " + kind.rounds_note if kind.rounds_note else ""), 100) + [""]


# The columns that tell iterative groups apart, by header (Kind.round_cols, Kind.round_part_cols).
ROUND_COLS = {"sweep": lambda g: g["name"], "method": lambda g: ROUND_LABEL.get(g["method"], g["method"]),
              "M": lambda g: str(g["m"]), "rounds": lambda g: "/".join(map(str, g["rounds"])),
              "alpha": lambda g: fa(g["alpha"]), "participation": lambda g: fa(g["participation"]),
              "robots": lambda g: str(g["N"])}


def round_cells(g, cols):
    return " | ".join(ROUND_COLS[c](g) for c in cols)


def rounds_details(groups, kind):
    """One row per iterative group, then its final merged success per part."""
    cols = kind.round_cols
    lines = ["| " + " | ".join(cols) + " | seeds | final merged success | last round (quick) | final merged BC loss "
             "| joint success | joint BC loss | merged / joint (success) |", "|" + "---|" * (len(cols) + 7)]
    for g in groups:
        runs, m = g["runs"], g["method"]
        ms = [score(r, m) for r in runs]
        js = [score(r, JOINT) for r in runs]
        last = [float(r["rd"]["merged_success"][-1]) for r in runs]
        loss = [float(r["rd"]["merged_bc_loss"][-1]) for r in runs]
        jl = [r["loss"].get(JOINT, math.nan) for r in runs]
        ratio = mean_or_nan(ms) / mean_or_nan(js) if mean_or_nan(js) > 0 else math.nan
        lines.append(f"| {round_cells(g, cols)} | "
                     f"{seeds_text(g['seeds'])} | {mean_range(ms, pct)} | {mean_range(last, pct)} | "
                     f"{mean_range(loss, loss4)} | {mean_range(js, pct)} | "
                     f"{loss4(mean_or_nan(jl))} | {num(ratio, 2)} |")
    lines.append("")
    parts, cols = parts_in([r for g in groups for r in g["runs"]]), kind.round_part_cols
    lines += [kind.round_parts_title, "",
              "| " + " | ".join(cols + parts) + " |", "|" + "---|" * (len(cols) + len(parts))]
    for g in groups:
        lines.append(f"| {round_cells(g, cols)} | " +
                     " | ".join(mean_range([score(r, g["method"], part=p) for r in g["runs"]], pct) for p in parts)
                     + " |")
    lines.append("")
    return lines


def per_method_rows(tag, runs):
    """(tag, runs) as is, or one (tag + method, runs with that method's bytes as "sent") per method when
    every run records /merge/<method>/bytes_sent."""
    methods = [m for m in runs[0]["traffic"]["per_method"] if all(m in r["traffic"]["per_method"] for r in runs)]
    if not methods:
        return [(tag, runs)]
    return [(f"{tag}: {m}", [dict(r, traffic=dict(r["traffic"], sent=r["traffic"]["per_method"][m])) for r in runs])
            for m in methods]


def traffic_markdown(oneshot, rounds, kind):
    """Bytes a robot sends against its demonstrations' bytes, per group; [] without /fleet/robot_stats."""
    todo = [(f"one-shot, {group_text(g)}", g["runs"]) for g in oneshot] + \
        [(f"iterative, {kind.round_text(g)}", g["runs"]) for g in rounds]
    todo = [(tag, [r for r in runs if r["traffic"]]) for tag, runs in todo]
    todo = [(tag, runs) for tag, runs in todo if runs]
    todo = [row for tag, runs in todo for row in per_method_rows(tag, runs)]
    if not todo:
        return []
    lines = ["## Communication", ""] + textwrap.wrap(
        "Bytes one robot sends, beside the bytes of its own demonstrations (/fleet/robot_stats data_bytes: what "
        "pooling the data for joint training would move instead); each mean over the robots, then mean [min-max] "
        "over seeds; kB = 1000 bytes. Counting rule: a one-shot merge costs one model's bytes per robot per merge "
        "(/fleet/robot_stats model_bytes, the float32 parameters) where the file records no more; files that "
        "record each method's traffic (/merge/<method>/bytes_sent: the alignment's own collectives too, "
        "MergeMany's re-matches, fleet_merge's epochs) get one row per method. Iterative runs: /rounds/bytes_sent summed "
        "over the rounds (the merge's collectives as counted in docs/merging.md). sent / data = the ratio per "
        "run (below 1: sending the model is cheaper than sending the data).", 100) + ["",
             "| runs | demonstrations per robot | data per robot (kB) | model (kB) | sent per robot (kB) "
             "| sent / data |", "|---|---|---|---|---|---|"]
    for tag, runs in todo:
        t = [r["traffic"] for r in runs]
        ratio = [x["sent"] / x["data_bytes"] if x["data_bytes"] > 0 else math.nan for x in t]
        lines.append(f"| {tag} | {mean_range([x['num_demos'] for x in t], lambda v: num(v, 1))} | "
                     f"{mean_range([x['data_bytes'] for x in t], kb)} | "
                     f"{mean_range([x['model_bytes'] for x in t], kb)} | {mean_range([x['sent'] for x in t], kb)} | "
                     f"{mean_range(ratio, lambda v: num(v, 2))} |")
    return lines + [""]


def timing_markdown(oneshot, rounds, kind):
    lines = ["## Wall times", "",
             "Seconds per run (sum of /timing/phase_seconds: data, local training, merging, baselines, evaluation,",
             "write; max over ranks), mean [min-max] over seeds; demonstrations and evaluation are the phases the",
             "MuJoCo simulation dominates. The ranks share the machine's cores, so these are indicative only.", "",
             "| runs | whole run | data (demonstrations) | local training | merging | evaluation |",
             "|---|---|---|---|---|---|"]
    f1 = lambda v: f"{v:.1f}"
    for tag, runs in ([(f"one-shot, {group_text(g)}", g["runs"]) for g in oneshot] +
                      [(f"iterative, {kind.round_text(g)}", g["runs"]) for g in rounds]):
        ph = [r["phases"] for r in runs if r["phases"] is not None and len(r["phases"]) >= 5]
        if not ph:
            lines.append(f"| {tag} | n/a | n/a | n/a | n/a | n/a |")
            continue
        lines.append(f"| {tag} | {mean_range([float(p.sum()) for p in ph], f1)} | "
                     + " | ".join(mean_range([float(p[i]) for p in ph], f1) for i in (0, 1, 2, 4)) + " |")
    lines.append("")
    return lines


# ---------------------------------------------------------------- figure

def oneshot_panels(oneshot):
    """One success-vs-alpha panel per one-shot experiment name."""
    return [(plot_oneshot, [g for g in oneshot if g["name"] == n]) for n in sorted({g["name"] for g in oneshot})]


def barrier_panels(oneshot):
    """One barrier panel per one-shot group with /barrier."""
    return [(plot_barrier, g) for g in oneshot if barrier_runs(g)]


def plot(panels, title, path):
    """The panels [(draw(ax, data, tag), data)] in rows of at most 3, tagged (a), (b), ...; success axes from 0 to
    1. Nothing is written without panels."""
    if not panels:
        return
    plt = fc.pyplot()
    ncol = min(3, len(panels))
    nrow = -(-len(panels) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(7 * ncol, 5.8 * nrow), squeeze=False)
    for i, (draw, data) in enumerate(panels):
        ax = axes.flat[i]
        draw(ax, data, f"({chr(ord('a') + i)})")
        ax.set_ylim(-0.03, 1.05)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(panels):]:
        fig.delaxes(ax)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.04 / nrow))
    fc.savefig(fig, path, dpi=110)


def label_axes(ax, ticks, ticklabels, logx, xlabel, ylabel):
    """x ticks at the swept values (log scale if logx), axis labels and the legend."""
    if logx:
        ax.set_xscale("log")
    ax.set_xticks(ticks)
    ax.set_xticklabels(ticklabels)
    ax.minorticks_off()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8.5, loc="best")


def plot_oneshot(ax, groups, tag):
    """Success vs alpha per policy for the groups of one experiment name (robot 0 and best local left out)."""
    alphas = sorted({g["alpha"] for g in groups})
    pols = [p for p in dict.fromkeys(p for g in groups for p in policies(g)) if p not in DERIVED]
    logx = min(alphas) > 0 and max(alphas) / min(alphas) > 4
    for j, p in enumerate(pols):
        xs, mean, lo, hi = [], [], [], []
        for g in groups:
            v = np.array([score(r, p) for r in g["runs"]])
            v = v[~np.isnan(v)]
            if v.size == 0:
                continue
            off = (j - (len(pols) - 1) / 2) * 0.035
            xs.append(g["alpha"] * 10 ** off if logx else g["alpha"] + off * (max(alphas) - min(alphas) or 1))
            mean.append(v.mean()), lo.append(v.min()), hi.append(v.max())
        if not xs:
            continue
        mean, lo, hi = map(np.array, (mean, lo, hi))
        ax.errorbar(xs, mean, yerr=[mean - lo, hi - mean], color=COLOR.get(p), marker=MARKER.get(p, "o"),
                    markersize=7 if p == "expert" else 5, linewidth=1.6, capsize=3,
                    linestyle="--" if p in FIXED else "-", label=label(p))
    label_axes(ax, alphas, [fa(a) for a in alphas], logx, "Dirichlet concentration alpha (small = heterogeneous robots)",
               "success rate (mean over tasks)")
    allr = [r for g in groups for r in g["runs"]]
    nk = lambda key: "/".join(str(v) for v in sorted({r[key] for r in allr}))
    seeds = sorted({r["seed"] for r in allr})
    ax.set_title(f"{tag} one-shot merge, {groups[0]['name']}: {nk('N')} robots, {tasks_text(allr)}, "
                 f"seeds {seeds_text(seeds)}\nmean over tasks; point = mean over seeds, bars = min-max", fontsize=10)


def plot_rounds(ax, rounds, tag):
    """The merged policy's success after every round, per method and M."""
    styles = ["-", "--", ":", "-."]
    ms = sorted({g["m"] for g in rounds})
    for g in rounds:
        succ = np.array([r["rd"]["merged_success"] for r in g["runs"]])
        ep = np.arange(1, succ.shape[1] + 1) * g["m"]
        name = ROUND_LABEL.get(g["method"], g["method"])
        ax.plot(ep, succ.mean(axis=0), color=COLOR.get(g["method"]), linestyle=styles[ms.index(g["m"]) % 4],
                marker=MARKER.get(g["method"], "o"), markersize=4 if len(ep) < 20 else 2.5, linewidth=1.5,
                label=f"{name}, M = {g['m']}" + (f", alpha {fa(g['alpha'])}" if len({x['alpha'] for x in rounds}) > 1
                                                else ""))
        if succ.shape[0] > 1:
            ax.fill_between(ep, succ.min(axis=0), succ.max(axis=0), color=COLOR.get(g["method"]), alpha=0.1,
                            linewidth=0)
    js = [score(r, JOINT) for g in rounds for r in g["runs"]]
    total = sorted({g["m"] * r["rounds"] for g in rounds for r in g["runs"]})
    ax.axhline(mean_or_nan(js), color=COLOR[JOINT], linestyle="--", linewidth=1.5,
               label=f"joint (pooled) after {'/'.join(map(str, total))} epochs, eval.rollouts episodes")
    ax.set_xlabel("local epochs done (round x M)")
    ax.set_xlim(0, max(total) + 1)
    ax.set_ylabel("merged policy's success rate (mean over tasks)")
    ax.legend(fontsize=8.5, loc="best")
    allr = [r for g in rounds for r in g["runs"]]
    seeds = sorted({r["seed"] for r in allr})
    ax.set_title(f"{tag} iterative merging, {', '.join(sorted({g['name'] for g in rounds}))}: {tasks_text(allr)}, "
                 f"seeds {seeds_text(seeds)}\nmerged policy after every round ({cfg_text(allr, 'round_rollouts')} "
                 "episode(s) per task); mean over seeds, band = min-max", fontsize=10)


def plot_rounds_final(ax, rounds, tag):
    """The final merged policy's success (eval.rollouts episodes) against M, per method (Figure 4 a)."""
    ms = sorted({g["m"] for g in rounds})
    for method in dict.fromkeys(g["method"] for g in rounds):
        gs = sorted((g for g in rounds if g["method"] == method), key=lambda g: g["m"])
        v = [np.array([score(r, method) for r in g["runs"]]) for g in gs]
        mean = np.array([x.mean() for x in v])
        ax.errorbar([g["m"] for g in gs], mean, yerr=[mean - [x.min() for x in v], [x.max() for x in v] - mean],
                    color=COLOR.get(method), marker=MARKER.get(method, "o"), linewidth=1.6, capsize=3,
                    label=ROUND_LABEL.get(method, method))
    js = [score(r, JOINT) for g in rounds for r in g["runs"]]
    ax.axhline(mean_or_nan(js), color=COLOR[JOINT], linestyle="--", linewidth=1.5, label="joint (pooled), same epochs")
    label_axes(ax, ms, [str(m) for m in ms], True, "communication epochs M (local epochs between merges)",
               "final merged policy's success (mean over tasks)")
    allr = [r for g in rounds for r in g["runs"]]
    ax.set_title(f"{tag} iterative merging vs M, {tasks_text(allr)}, seeds {seeds_text(sorted({r['seed'] for r in allr}))}"
                 f"\nfinal merged policy, {cfg_text(allr, 'rollouts')} episodes per task; mean over seeds, bars = min-max",
                 fontsize=10)


def plot_barrier(ax, g, tag):
    """Success along lambda between robots 0 and 1 per method, mean over seeds, band = min-max."""
    runs = barrier_runs(g)
    for m in barrier_methods(runs):
        cs = [r["barrier"][m] for r in runs if m in r["barrier"]]
        lam = cs[0]["lambda"]
        if any(c["lambda"].shape != lam.shape or not np.allclose(c["lambda"], lam) for c in cs):
            die(f"{group_text(g)}: /barrier/{m}/lambda differs between the seeds")
        succ = np.array([c["success"] for c in cs])
        ax.plot(lam, succ.mean(axis=0), color=COLOR.get(m), marker=MARKER.get(m, "o"), markersize=4, linewidth=1.6,
                label=BARRIER_LABEL.get(m, label(m)))
        if len(cs) > 1:
            ax.fill_between(lam, succ.min(axis=0), succ.max(axis=0), color=COLOR.get(m), alpha=0.1, linewidth=0)
    ax.set_xlabel("lambda: (1 - lambda) robot 0 + lambda robot 1, after the method's alignment")
    ax.set_ylabel("success rate (mean over tasks)")
    ax.legend(fontsize=8.5, loc="best")
    ax.set_title(f"{tag} barrier, {group_text(g)}: {SETTING[shared_data(runs)]}\n"
                 f"seeds {seeds_text([r['seed'] for r in runs])}; mean over seeds, band = min-max; "
                 f"{cfg_text(runs, 'rollouts')} episode(s) per task per point", fontsize=10)


def tail_markdown(runs, png):
    return [f"Figure: `{png}`.", "", "Files: " + ", ".join(f"`{r['path']}`" for r in runs), ""]


def run(kind, argv):
    """The entry points' main: read the files, group them, write kind.compose's Markdown and kind.panels' PNG."""
    fc.PROG = kind.prog
    ap = fc.argparser(kind.doc, prog=kind.prog)
    ap.add_argument("files", nargs="+", metavar="RESULTS.h5", help=kind.files_help)
    ap.add_argument("--md", default=kind.default_md, help="output Markdown report (default: %(default)s)")
    ap.add_argument("--png", help="output figure (default: the --md path with .png)")
    args = ap.parse_args(argv)
    png = args.png or os.path.splitext(args.md)[0] + ".png"
    runs = [read_run(p, kind) for p in dict.fromkeys(args.files)]
    oneshot = group_oneshot([r for r in runs if not r["iterative"]])
    rounds = group_rounds([r for r in runs if r["iterative"]])
    lines = kind.compose(oneshot, rounds, runs, png)
    for out in (args.md, png):
        if os.path.dirname(out):
            os.makedirs(os.path.dirname(out), exist_ok=True)
    plot(kind.panels(oneshot, rounds), kind.suptitle(runs), png)
    with open(args.md, "w") as out:
        out.write("\n".join(lines))
    print(f"{fc.PROG}: wrote {args.md} and {png} ({len(runs)} runs)")
