#!/usr/bin/env bash
# grid.sh - the states of a sweep on a real single-node Slurm cluster (lib.bash), issue 15:
#   - a sweep over fleet.robots is submitted as one array job per rank count, each point on its own
#     number of ranks; a merging-rounds sweep is submitted with the ranks of its fleet.robots;
#   - one failed point and one missing point: `fleet sweep --status` names both (exit 3), the
#     aggregation reports the missing ones (exit 3, listed in sweep.md), `submit_sweep.sh --retry`
#     submits exactly those two, and the sweep then completes;
#   - results of an edited config are stale: --status says so and a rerun of the point is refused;
#   - a checkpoint written by 2 ranks is refused by a 1-rank run of the same point.
# Skipped where Slurm or munge is not installed.
set -euo pipefail
# shellcheck source=lib.bash
source "$(dirname "$0")/lib.bash"

require_cluster

# wait_jobs DESC: every job finished within the test's timeout
wait_jobs() {
    if wait_idle_queue "$SLURM_TEST_TIMEOUT"; then
        pass "$1: every job finished"
    else
        mapfile -t diag < <(squeue 2>&1; cluster_logs)
        fail "$1: every job finished within $SLURM_TEST_TIMEOUT s" "${diag[@]}"
    fi
}

# ---- a sweep over fleet.robots: one array job per rank count ----
cat >"$TMP/robots.yaml" <<EOF
experiment: {name: robots_sweep, seed: 1, output_dir: "$TMP/out"}
env: {kind: lqg, obs_dim: 8, num_tasks: 3, horizon: 30}
fleet: {demos_per_robot: 4}
policy: {arch: dynamic_linear}
train: {steps: 30}
merge: {gl_steps: 30}
eval: {rollouts: 2}
sweep:
  fleet.robots: [1, 2]
  seeds: [1, 2]
EOF
run_cmd "$ROOT/slurm/submit_sweep.sh" --time 00:05:00 "$TMP/robots.yaml"
check_rc "submit_sweep.sh of a fleet.robots sweep exits 0" 0
cp "$OUT" robots_submit.txt
check_matches "one array job of 1-rank points" robots_submit.txt "^sweep job [0-9]+: 2 points \(--array=0-1%8\), 1 robots each"
check_matches "and one of 2-rank points" robots_submit.txt "^sweep job [0-9]+: 2 points \(--array=2-3%8\), 2 robots each"
check_matches "the aggregation waits for both" robots_submit.txt "^aggregation job [0-9]+ \(afterok:[0-9]+:[0-9]+\)"
wait_jobs "the fleet.robots sweep"
run_cmd "$PYTHON" - "$TMP/out/robots_sweep" <<'PY'
import sys, h5py
got = [int(h5py.File(f"{sys.argv[1]}/{i}/results.h5", "r").attrs["num_robots"]) for i in range(4)]
print(got, file=sys.stderr)
sys.exit(0 if got == [1, 1, 2, 2] else 1)
PY
check_rc "every point ran on its own fleet.robots ranks (1, 1, 2, 2)" 0
check_exists "the aggregation wrote sweep.csv" "$TMP/out/robots_sweep/sweep.csv"

# ---- stale results: the config edited after the sweep ----
sed -i 's/steps: 30/steps: 31/' "$TMP/robots.yaml"
run_fleet 0 sweep "$TMP/robots.yaml" --status
check_rc "after a config edit, --status exits 3" 3
check_eq "every point's results are stale" "$(grep -c '^[0-9]: stale (results of another config)' "$OUT")" 4
run_cmd sbatch --parsable --array=0 --ntasks=1 "$ROOT/slurm/sweep.sbatch" "$TMP/robots.yaml"
stale_id=$(cut -d';' -f1 "$OUT")
wait_jobs "the rerun of a stale point"
check_eq "the rerun of a stale point is refused: FAILED 2:0" \
    "$(job_field "${stale_id}_0" JobState) $(job_field "${stale_id}_0" ExitCode)" "FAILED 2:0"

# ---- a merging-rounds sweep: fleet.robots 2, a failed and a missing point, partial aggregation ----
cat >"$TMP/rounds.yaml" <<EOF
experiment: {name: rounds_sweep, seed: 1, output_dir: "$TMP/out"}
env: {kind: cartpole, num_tasks: 2, horizon: 40}
fleet: {robots: 2, demos_per_robot: 8, rounds: 3, local_epochs: 1}
policy: {arch: mlp, layers: 1, width: 16}
train: {batch_size: 4}
merge: {methods: [average]}
eval: {rollouts: 2, round_rollouts: 1}
sweep:
  seeds: [1, 2, 3]
EOF
results="$TMP/out/rounds_sweep"
run_cmd sbatch --parsable --array=0 --ntasks=2 "$ROOT/slurm/sweep.sbatch" "$TMP/rounds.yaml"
run_cmd env FLEET_FAULT=training@1 sbatch --parsable --array=1 --ntasks=2 "$ROOT/slurm/sweep.sbatch" "$TMP/rounds.yaml"
fail_id=$(cut -d';' -f1 "$OUT")
wait_jobs "points 0 and 1 of the rounds sweep"
check_eq "point 1 failed (an injected fault): FAILED 1:0" \
    "$(job_field "${fail_id}_1" JobState) $(job_field "${fail_id}_1" ExitCode)" "FAILED 1:0"
run_fleet 0 sweep "$TMP/rounds.yaml" --status
check_rc "--status with a failed and a missing point exits 3" 3
check_matches "point 0 is done on 2 robots" "$OUT" "^0: done \(2 robots\)"
check_matches "point 1 is failed, with its exit code, job and error" "$OUT" \
    "^1: failed \(exit 1, .*, job ${fail_id}: rank 1: injected fault in training"
check_matches "point 2 is missing" "$OUT" "^2: missing"
check_matches "and the summary" "$OUT" "^3 points: 1 done, 0 stale, 0 running, 0 interrupted, 1 missing, 1 failed"

run_cmd sbatch --parsable "$ROOT/slurm/aggregate.sbatch" "$results" --expect 3
agg_id=$(cut -d';' -f1 "$OUT")
wait_jobs "a partial aggregation"
check_eq "an aggregation with points missing fails: FAILED 3:0" \
    "$(job_field "$agg_id" JobState) $(job_field "$agg_id" ExitCode)" "FAILED 3:0"
check_contains "sweep.md lists the missing points" "$results/sweep.md" "Partial: 2 point(s) without results: 1, 2"

run_cmd "$ROOT/slurm/submit_sweep.sh" --retry --time 00:05:00 "$TMP/rounds.yaml"
check_rc "submit_sweep.sh --retry exits 0" 0
cp "$OUT" retry.txt
check_matches "--retry submits exactly the failed and the missing point, on 2 ranks" retry.txt \
    "^sweep job [0-9]+: 2 points \(--array=1-2%8\), 2 robots each"
wait_jobs "the retried points"
run_fleet 0 sweep "$TMP/rounds.yaml" --status
check_rc "after the retry every point is done (--status exits 0)" 0
check_exists "and the aggregation wrote sweep.csv" "$results/sweep.csv"
run_cmd "$PYTHON" -c "import csv, sys; rows = list(csv.DictReader(open(sys.argv[1]))); sys.exit(len(rows) != 3)" \
    "$results/sweep.csv"
check_rc "sweep.csv holds the 3 points" 0

# ---- a checkpoint of 2 ranks is not resumed on 1 ----
cat >"$TMP/ck.yaml" <<EOF
experiment: {name: ck_sweep, seed: 1, output_dir: "$TMP/out"}
env: {kind: cartpole, num_tasks: 2, horizon: 40}
fleet: {robots: 0, demos_per_robot: 8, rounds: 3, local_epochs: 1}
policy: {arch: mlp, layers: 1, width: 16}
train: {batch_size: 4}
merge: {methods: [average]}
eval: {rollouts: 2, round_rollouts: 1}
sweep:
  seeds: [1]
EOF
run_cmd env FLEET_STOP_AFTER=1 sbatch --parsable --array=0 --ntasks=2 "$ROOT/slurm/sweep.sbatch" "$TMP/ck.yaml"
wait_jobs "a 2-rank point stopped after round 1"
check_exists "it left a checkpoint" "$TMP/out/ck_sweep/0/results.h5.ckpt"
run_cmd sbatch --parsable --array=0 --ntasks=1 "$ROOT/slurm/sweep.sbatch" "$TMP/ck.yaml"
one_id=$(cut -d';' -f1 "$OUT")
wait_jobs "the same point on 1 rank"
check_eq "a 1-rank resume of the 2-rank checkpoint is refused: FAILED 2:0" \
    "$(job_field "${one_id}_0" JobState) $(job_field "${one_id}_0" ExitCode)" "FAILED 2:0"
check_matches "its log says why" "$TMP/slurm-fleetsweep-${one_id}_0.out" \
    "a checkpoint of 2 ranks \(robots\), this run has 1"
finish
