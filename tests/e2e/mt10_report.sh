#!/usr/bin/env bash
# mt10_report.sh - analysis/mt10_report.py, the MT-10 report (env.kind: multitask, docs/multitask.md), end
# to end: a tiny one-shot sweep of 2 seeds laid out as the configs/sweeps/mt10_*.yaml points are
# (<output_dir>/<name>/<I>/results.h5, one experiment name, the seed read from /config) and a run with 2
# merging rounds, on 2 ranks; the report on them has the one-shot table over both seeds, the per-task
# table with the task names, the iterative table against M and the communication row, and writes the
# figure. A results file of another env.kind, a missing file and a file that is not HDF5 are refused with
# exit 2, and analysis/tooluse_report.py refuses the MT-10 file the same way.
set -euo pipefail
source "$(dirname "$0")/lib.bash"

# Tiny MT-10: 2 tasks (reach, push), 4 demos per robot, MLP 2x16, 2 epochs, 1 episode per task.
TINY_MT=(
    experiment.name=mtrep experiment.seed=1 experiment.output_dir=sw
    env.kind=multitask env.num_tasks=2 env.horizon=120
    fleet.demos_per_robot=4 fleet.alpha=1.0
    policy.arch=mlp policy.layers=2 policy.width=16 policy.activation=relu
    train.epochs=2 train.batch_unit=steps train.batch_size=32
    "merge.methods=[average, fleet_merge]" merge.fm_epochs=1 merge.fm_steps=5
    eval.rollouts=1 eval.val_demos=2
)
N=2
REPORT=("$PYTHON" "$ROOT/analysis/mt10_report.py")
MD=report/mt10.md

# ---- the runs ----

write_config oneshot.yaml "${TINY_MT[@]}" eval.task_specific=true "sweep.seeds=[1, 2]"
for i in 0 1; do
    run_fleet $N run oneshot.yaml --sweep-index $i --quiet
    check_rc "one-shot sweep point $i on $N ranks exits 0" 0
    check_exists "sweep point $i is written to sw/mtrep/$i/results.h5" "sw/mtrep/$i/results.h5"
done

write_config rounds.yaml "${TINY_MT[@]}" experiment.name=mtrep_rounds fleet.rounds=2 fleet.local_epochs=1 \
    "merge.methods=[fleet_merge]" eval.round_rollouts=1
run_fleet $N run rounds.yaml --quiet --output rounds.h5
check_rc "MT-10 run with 2 merging rounds exits 0" 0

write_config lqg.yaml "${TINY_LQG[@]}"
run_fleet $N run lqg.yaml --quiet --output lqg.h5
check_rc "tiny LQG run (a results file of another env.kind) exits 0" 0

# ---- the report ----

run_cmd "${REPORT[@]}" sw/mtrep/0/results.h5 sw/mtrep/1/results.h5 rounds.h5 --md "$MD"
check_rc "analysis/mt10_report.py on the two sweep points and the rounds run exits 0" 0
check_exists "the report is written" "$MD"
check_exists "the figure is written next to it" report/mt10.png
check_contains "one-shot table: one column for alpha 1 with both seeds (the points share one name)" "$MD" \
    "| policy | alpha = 1 (seeds 1 2) |"
check_matches "one-shot table: the fleet_merge row, mean [min-max] over the seeds" "$MD" \
    '^\| fleet_merge \| [0-9.]+% \[[0-9.]+%-[0-9.]+%\] \|$'
check_matches "one-shot table: the task_specific row" "$MD" '^\| task_specific \| ([0-9.]+%|n/a)'
check_matches "one-shot table: the random-pick row" "$MD" '^\| local \(mean\) = random pick \| [0-9.]+%'
check_contains "per-task table of every policy, columns named by /system/tasks" "$MD" "| policy | reach | push |"
check_contains "per-task table at alpha 1 (Figure 10): pooled, task_specific, fleet_merge, local" "$MD" \
    "| task | pooled (joint) | task_specific | fleet_merge | local (mean) = random pick |"
check_matches "per-task table at alpha 1: the reach row" "$MD" '^\| reach \| [0-9.]+% \[[0-9.]+%-[0-9.]+%\] \|'
check_matches "per-task table at alpha 1: the push row" "$MD" '^\| push \| [0-9.]+% \[[0-9.]+%-[0-9.]+%\] \|'
check_contains "iterative table against M" "$MD" \
    "| M | rounds | seeds | fleet_merge success | joint (pooled) success | fleet_merge final merged BC loss |"
check_matches "iterative table: M = 1, 2 rounds, seed 1, success, joint success and BC losses" "$MD" \
    '^\| 1 \| 2 \| 1 \| [0-9.]+% \| [0-9.]+% \| [0-9.]+ \| [0-9.]+ \|$'
check_matches "communication: the bytes the rounds run sent per robot" "$MD" \
    '^\| iterative, mtrep_rounds, fleet_merge, M = 1, 2 rounds, alpha 1, participation 1, 2 robots \| '

run_cmd "${REPORT[@]}" sw/mtrep/0/results.h5 lqg.h5 --md report/x.md
check_rc "analysis/mt10_report.py with a results file of another env.kind: exit 2" 2
check_contains "the message names the file and its env" "$ERR" "lqg.h5: env is lqg, not multitask"
run_cmd "${REPORT[@]}" missing.h5 --md report/x.md
check_rc "analysis/mt10_report.py on a missing file: exit 2" 2
check_contains "the message names the missing file" "$ERR" "missing.h5: no such file"
run_cmd "${REPORT[@]}" oneshot.yaml --md report/x.md
check_rc "analysis/mt10_report.py on a file that is not HDF5: exit 2" 2
check_contains "the message says it cannot be opened as HDF5" "$ERR" "oneshot.yaml: cannot open as HDF5"
check_absent "no report is written after an error" report/x.md
run_cmd "$PYTHON" "$ROOT/analysis/tooluse_report.py" rounds.h5 --md report/x.md
check_rc "analysis/tooluse_report.py on an MT-10 file: exit 2" 2
check_contains "the message says the file is not a tool-use run" "$ERR" "env is multitask, not tooluse"

finish
