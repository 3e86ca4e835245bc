#!/usr/bin/python3
"""Tool-use benchmark report for fleetmerge (issue 7, docs/tooluse.md; pipelines/tooluse.sh).

Reads results.h5 files written by `fleet run` with env.kind = tooluse and writes
  - a Markdown report (--md, default results/tooluse.md):
      * one-shot runs (fleet.rounds = 0: configs/tooluse_kp.yaml, its barrier and 16-task variants,
        configs/tooluse.yaml): per group, the success rate (mean over the K tasks; then mean
        [min-max] over seeds) of every merge method of merge.methods, pooled (= joint training on
        all robots' data, the upper bound), task_specific (one policy per task, scored on its task;
        tasks without data left out), the answers without merging read from /eval/local/success
        [N, K] (local (mean) = random pick: every robot's own policy, mean over robots per task;
        robot 0: robot 0's own policy; best local: the robot whose own policy has the highest mean
        success) and the expert; worst task, tool contact (touched), shortfall, BC loss and the
        held-out BC loss (/eval/heldout_bc_loss, mean over the robots) beside it; then the same
        success rates per tool family (hammer, wrench, spatula, knife: mean over the family's
        tasks, family from /system/tasks);
      * warm start (paper Figure 3 c; runs with eval.finetune_demos): per group and merge method,
        the merged policy's success and held-out BC loss before and after fine-tuning
        (/eval/finetuned_<method>), beside a fresh policy fine-tuned on the same set (/eval/scratch);
      * barriers (paper Figure 3 a; runs with eval.barrier_points): per group and method (average =
        plain interpolation), the loss and success barriers between robots 0 and 1 (attributes
        loss_barrier and balance_barrier of /barrier/<method>) and the success at the end points,
        with the setting (fleet.shared_data);
      * iterative runs (fleet.rounds > 0, configs/tooluse_kp_rounds.yaml): per merge method and
        M = fleet.local_epochs, the final merged policy's success (/eval/<method>/success,
        eval.rollouts episodes per task), the last round's quick score (/rounds/merged_success,
        eval.round_rollouts episodes), the final merged BC loss (/rounds/merged_bc_loss[-1]) and
        joint training's success and BC loss in the same runs; per family as well;
      * communication: per group, the bytes a robot sends (one-shot: per method from
        /merge/<method>/bytes_sent, or one model per robot per merge, /fleet/robot_stats model_bytes,
        in files without it; iterative: /rounds/bytes_sent summed over the rounds) beside
        the bytes of its demonstrations (/fleet/robot_stats data_bytes), mean over robots, and the
        ratio sent / data;
      * wall times (/timing/phase_seconds), the machine (uname, CPU model from /proc/cpuinfo), the
        date, the seeds and the files;
  - a PNG (--png, default: the --md path with .png), one panel per
      * one-shot experiment name: success vs alpha per policy (robot 0 and best local left out),
        mean over seeds with min-max error bars;
      * set of iterative runs: the merged policy's success after every round (x = local epochs
        done = round x M), mean over seeds, band = min-max; and, with several M, the final merged
        policy's success against M per method with joint training as a line (paper Figure 4 a);
      * barrier group: success along lambda between robots 0 and 1 (/barrier/<method>/success) per
        method, mean over seeds, band = min-max;
    a panel without data is left out.
One-shot runs are grouped by experiment name (tag "_a<alpha>_s<seed>" removed) and alpha,
iterative runs by experiment name (tag "_m<M>_<method>_s<seed>" removed), method, M, alpha,
participation and robots; alpha, seed, M, participation and the methods are read from the resolved
config stored in each file (/config). Every number comes from the files. A missing file, or a file
that is not a tool-use results file, is an error (exit 2), and so is a seed given twice in one group.
The reading, grouping, tables and panels are shared with analysis/mt10_report.py (analysis/fmreport.py).

usage: /usr/bin/python3 analysis/tooluse_report.py RESULTS.h5 ... [--md OUT.md] [--png OUT.png]
"""
import sys

import numpy as np

import fmcommon as fc
import fmreport as fm

FAMILIES = ("hammer", "wrench", "spatula", "knife")  # /system/tasks column "family": 0..3
OBS = {"keypoints": "keypoint", "points": "point-cloud"}  # env.tu_obs (default points)
PROG = "tooluse_report.py"


def read_families(f, path, K):
    """Each task's tool family (/system/tasks column "family"), as the part of the per-family tables."""
    cols = fc.text(f["system/tasks"].attrs.get("columns", "")).split(",")
    if "family" not in cols:
        fc.die(f"{path}: /system/tasks has no family column ({cols})")
    family = np.array(f["system/tasks"][:, cols.index("family")], dtype=float).round().astype(int)
    if family.shape != (K,) or family.min() < 0 or family.max() >= len(FAMILIES):
        fc.die(f"{path}: /system/tasks family column {family.tolist()} does not fit {K} tasks of families 0..3")
    return np.array([FAMILIES[i] for i in family]), FAMILIES


def obs_text(runs):
    return "/".join(sorted({OBS.get(o, o) for o in (r["cfg"].get("tu_obs") or "points" for r in runs)}))


def compose(oneshot, rounds, runs, png):
    lines = [f"# Tool use (MuJoCo): merging {obs_text(runs)} policies of a robot fleet", "",
             "Tasks: 4 tool families (hammer, wrench, spatula, knife) x instances; success = pin driven down 1 cm /",
             "nut turned 0.4 rad / object lifted 5 cm / halves 5 cm apart, with tool contact (docs/tooluse.md)."] + \
        fm.METHODS_TEXT + [""]
    if oneshot:
        lines += fm.oneshot_markdown(oneshot, KIND) + fm.warmstart_markdown(oneshot) + \
            fm.barrier_markdown(oneshot, KIND)
    else:
        lines += ["## One-shot merge", "", "No one-shot runs (fleet.rounds = 0) among the files.", ""]
    if rounds:
        lines += fm.rounds_markdown(rounds, KIND)
    else:
        lines += ["## Iterative merging", "", "No iterative runs (fleet.rounds > 0) among the files.", ""]
    return lines + fm.traffic_markdown(oneshot, rounds, KIND) + fm.timing_markdown(oneshot, rounds, KIND) + \
        fc.machine_markdown(runs) + fm.tail_markdown(runs, png)


def panels(oneshot, rounds):
    """One panel per one-shot experiment name, one for the iterative runs (and one against M with several M),
    one per barrier group."""
    return fm.oneshot_panels(oneshot) + ([(fm.plot_rounds, rounds)] if rounds else []) + \
        ([(fm.plot_rounds_final, rounds)] if len({g["m"] for g in rounds}) > 1 else []) + fm.barrier_panels(oneshot)


KIND = fm.Kind(
    prog=PROG, env="tooluse", doc=__doc__, default_md="results/tooluse.md",
    files_help="results files of tool-use runs (one-shot and iterative, told apart by fleet.rounds)",
    scores=("success", "touched", "shortfall"),
    score_text="touched = episodes in which the tool touched the object; shortfall = 1 - min(progress / success "
               "threshold, 1), 0 on success (mean over tasks)",
    read_parts=read_families,
    part_header=lambda name, count: f"{name} ({count} task{'s' if count != 1 else ''})",
    parts_intro=["### Per tool family", "",
                 "Success rate over the tasks of each family (task h = family h % 4, instance h / 4), then mean",
                 "[min-max] over seeds; `tasks` = how many of the K tasks belong to the family.", ""],
    oneshot_heading="## One-shot merge (configs/tooluse_kp.yaml and variants)",
    barrier_heading="## Loss and success barriers (paper Figure 3 a)",
    rounds_heading="## Iterative merging (configs/tooluse_kp_rounds.yaml and variants)", rounds_note="",
    round_cols=["method", "M", "rounds", "alpha"],
    round_parts_title="Final merged success per tool family (mean [min-max] over seeds):",
    round_part_cols=["method", "M"], round_text=fm.round_text,
    compose=compose, panels=panels,
    suptitle=lambda runs: f"fleetmerge tool use (MuJoCo, {obs_text(runs)} policies): success rate")


if __name__ == "__main__":
    fm.run(KIND, sys.argv[1:])
