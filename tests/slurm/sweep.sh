#!/usr/bin/env bash
# sweep.sh - a fleetmerge sweep on a real single-node Slurm cluster on localhost (lib.bash):
# slurm/submit_sweep.sh submits a 4-point array (fleet.alpha x seeds, 2 ranks = robots per point,
# srun --mpi=pmix) plus the aggregation job (afterok); every array task must complete with exit
# code 0:0, every point write its results.h5 and the CSV hold 4 rows matching `fleet sweep --list`.
# Also: a point outside the sweep fails its task with exit code 2, a requeued finished point
# reruns as a no-op (its results file untouched), and a rounds point near its time limit requeues
# itself and finishes without redoing a phase. Skipped where Slurm or munge is not installed.
# The config's file name and output directory contain spaces and shell metacharacters: values are
# data, never shell.
set -euo pipefail
# shellcheck source=lib.bash
source "$(dirname "$0")/lib.bash"

require_cluster

# The sweep: 2 values of fleet.alpha x 2 seeds, a few seconds per point.
mkdir -p "$TMP/in dir"
config="$TMP/in dir/sweep \$(touch pwned); x'y.yaml"
results="$TMP/out put/tiny_sweep"
cat >"$config" <<EOF
experiment:
  name: tiny_sweep
  seed: 1
  output_dir: "$TMP/out put"
env:
  kind: lqg
  obs_dim: 8
  num_tasks: 3
  horizon: 30
fleet:
  demos_per_robot: 4
policy:
  arch: dynamic_linear
train:
  steps: 30
merge:
  gl_steps: 30
eval:
  rollouts: 2
sweep:
  fleet.alpha: [0.5, 5]
  seeds: [1, 2]
EOF

run_fleet 0 sweep "$config" --count
check_eq "fleet sweep --count: 4 points" "$(cat "$OUT")" 4
run_fleet 0 sweep "$config" --list
cp "$OUT" list.txt
check_eq "fleet sweep --list: 4 lines" "$(grep -c '^[0-9][0-9]*: ' list.txt || true)" 4

# A point outside the sweep, submitted directly: its task fails with the run's exit code (2).
run_cmd sbatch --parsable --array=4 --ntasks=2 "$ROOT/slurm/sweep.sbatch" "$config"
bad_id=$(cut -d';' -f1 "$OUT")
check_rc "sbatch --array=4 slurm/sweep.sbatch (out of range) is accepted" 0

# Pre-flight: more ranks than the node has is refused at submission (no job pending forever).
run_cmd "$ROOT/slurm/submit_sweep.sh" --ntasks 64 "$config"
check_rc "submit_sweep.sh -n 64 on a small node: exit 2 before anything is queued" 2
check_contains "the message says the pre-flight refused the 64-rank points" "$ERR" \
    "pre-flight (sbatch --test-only) refused the 64-rank points"
check_absent "nothing was written (no config snapshot) nor queued" "$results/submitted"

# The sweep and its aggregation, through the submit script (MAX: at most 2 points at once).
# shellcheck disable=SC2016 # the sbatch argument is literal on purpose
run_cmd env MAX=2 "$ROOT/slurm/submit_sweep.sh" --ntasks 2 --time 00:05:00 "$config" -- \
    '--comment=sweep $(touch pwned); x'
check_rc "slurm/submit_sweep.sh exits 0" 0
cp "$OUT" submit.txt
# Edit the config right after submission (2 points run at once, so 2 start later): the sweep runs
# the snapshot taken at submission, not the edited file.
sed -i 's/steps: 30/steps: 31/' "$config"
sweep_id=$(sed -n 's/^sweep job \([0-9][0-9]*\):.*/\1/p' submit.txt)
agg_id=$(sed -n 's/^aggregation job \([0-9][0-9]*\) (afterok:\([0-9]*\)).*/\1/p' submit.txt)
check_matches "submit_sweep.sh prints the array job id and the array 0-3%2" submit.txt \
    '^sweep job [0-9]+: 4 points \(--array=0-3%2\)'
check_matches "submit_sweep.sh prints the aggregation job id, afterok on the array job" submit.txt \
    "^aggregation job [0-9]+ \\(afterok:${sweep_id:-none}\\)"
if [[ -z $sweep_id || -z $agg_id ]]; then
    fail "job ids parsed from submit_sweep.sh" "$(sed 's/^/stdout: /' submit.txt)"
    finish
fi
check_eq "the aggregation job depends on the array job" \
    "$(job_field "$agg_id" Dependency | sed 's/(.*//')" "afterok:${sweep_id}_*"

t0=$SECONDS
if wait_idle_queue "$SLURM_TEST_TIMEOUT"; then
    pass "every job finished ($((SECONDS - t0)) s)"
else
    mapfile -t diag < <(squeue 2>&1; cluster_logs)
    fail "every job finished within $SLURM_TEST_TIMEOUT s" "${diag[@]}"
fi

# Log of a task, for diagnostics.
task_log() { # task_log ARRAY_ID INDEX
    local f="$results/logs/fleet-tiny_sweep-$1_$2.out"
    if [[ -s $f ]]; then tail -n 8 "$f" | sed "s/^/$f: /"; else echo "$f: missing"; fi
}

for i in 0 1 2 3; do
    state=$(job_field "${sweep_id}_$i" JobState)
    code=$(job_field "${sweep_id}_$i" ExitCode)
    check_eq "array task ${sweep_id}_$i: COMPLETED, exit code 0:0" "$state $code" "COMPLETED 0:0"
    [[ "$state $code" == "COMPLETED 0:0" ]] || task_log "$sweep_id" "$i" | sed 's/^/# /'
    check_exists "point $i wrote its results.h5" "$results/$i/results.h5"
    check_matches "log logs/fleet-tiny_sweep-${sweep_id}_$i.out (sweep name, job id and index) tells point $i" \
        "$results/logs/fleet-tiny_sweep-${sweep_id}_$i.out" "point $i"
done
mkdir -p "$TMP/out put"
check_no_tmp "no half-written results file" "$TMP/out put"

check_eq "the out-of-range task failed with the run's exit code 2" \
    "$(job_field "${bad_id}_4" JobState) $(job_field "${bad_id}_4" ExitCode)" "FAILED 2:0"
check_matches "its log tells the exit code" "slurm-fleetsweep-${bad_id}_4.out" "^point 4: fleet run exited with 2"

check_eq "aggregation job $agg_id: COMPLETED, exit code 0:0" \
    "$(job_field "$agg_id" JobState) $(job_field "$agg_id" ExitCode)" "COMPLETED 0:0"
check_exists "the aggregation wrote sweep.csv" "$results/sweep.csv"
check_exists "the aggregation wrote sweep.md" "$results/sweep.md"
if [[ -s $results/sweep.csv ]]; then
    check_eq "sweep.csv: a header and 4 rows" "$(wc -l <"$results/sweep.csv")" 5
    # Each row's varied values are those `fleet sweep --list` gives its index, and together they
    # are the product {0.5, 5} x {1, 2}.
    run_cmd "$PYTHON" - "$results/sweep.csv" list.txt <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
listed = {}
for line in open(sys.argv[2]):
    i, _, rest = line.partition(":")
    kv = dict(w.split("=", 1) for w in rest.split())
    if "seeds" in kv:
        kv["experiment.seed"] = kv.pop("seeds")
    listed[int(i)] = kv
errors = []
for col in ("index", "experiment", "env", "num_robots", "num_tasks", "fleet.alpha",
            "experiment.seed", "rel_exact_average", "rel_exact_linear_gl", "rel_exact_pooled"):
    if col not in rows[0]:
        errors.append(f"no column {col} in {list(rows[0])}")
if not errors:
    if [int(r["index"]) for r in rows] != [0, 1, 2, 3]:
        errors.append(f"indices {[r['index'] for r in rows]}")
    got = set()
    for r in rows:
        a, s = float(r["fleet.alpha"]), int(r["experiment.seed"])
        got.add((a, s))
        want = listed.get(int(r["index"]), {})
        if float(want.get("fleet.alpha", "nan")) != a or int(want.get("experiment.seed", -1)) != s:
            errors.append(f"row {r['index']}: alpha {a} seed {s}, --list says {want}")
        if r["experiment"] != "tiny_sweep" or r["env"] != "lqg" or r["num_robots"] != "2" \
                or r["num_tasks"] != "3":
            errors.append(f"row {r['index']}: {r['experiment']} {r['env']} {r['num_robots']} {r['num_tasks']}")
        for c in ("rel_exact_average", "rel_exact_linear_gl", "rel_exact_pooled"):
            v = float(r[c])  # inf allowed (not stabilizing), nan / empty not
            if not v >= 1.0 - 1e-9:
                errors.append(f"row {r['index']}: {c} = {r[c]}")
    if got != {(0.5, 1), (0.5, 2), (5.0, 1), (5.0, 2)}:
        errors.append(f"(alpha, seed) pairs {sorted(got)}")
print("\n".join(errors), file=sys.stderr)
sys.exit(1 if errors else 0)
PY
    check_rc "sweep.csv: indices 0-3, varied columns fleet.alpha and experiment.seed as --list, scores" 0
fi

# Requeue a finished point: it reruns as a no-op (results untouched, log appended, exit 0).
# A requeued job waits for the credential lifetime (120 s) before it is eligible: start it now.
before=$(checksum "$results/0/results.h5")
run_cmd scontrol requeue "${sweep_id}_0"
check_rc "scontrol requeue ${sweep_id}_0" 0
run_cmd scontrol update "JobId=${sweep_id}_0" StartTime=now
if wait_idle_queue 60; then
    pass "the requeued point finished"
else
    mapfile -t diag < <(squeue 2>&1)
    fail "the requeued point finished within 60 s" "${diag[@]}"
fi
check_eq "requeued task: COMPLETED 0:0 after 1 restart" \
    "$(job_field "${sweep_id}_0" JobState) $(job_field "${sweep_id}_0" ExitCode) $(job_field "${sweep_id}_0" Restarts)" \
    "COMPLETED 0:0 1"
check_eq "requeued point: results.h5 unchanged" "$(checksum "$results/0/results.h5")" "$before"
check_eq "requeued point: the log keeps both attempts" \
    "$(grep -c "^job ${sweep_id}_0 " "$results/logs/fleet-tiny_sweep-${sweep_id}_0.out" || true)" 2

# slurm/run.sbatch submitted from another directory with SBATCH_EXPORT=NONE and no FLEET: the job
# finds the repository's binary from the submitted script's path.
mkdir -p "$TMP/elsewhere"
plain="$TMP/elsewhere/plain.yaml"
sed '/^sweep:/,$d' "$config" | sed 's/name: tiny_sweep/name: plain_run/' >"$plain"
run_cmd bash -c 'cd "$1" && env -u FLEET SBATCH_EXPORT=NONE sbatch --parsable --ntasks=2 "$2/slurm/run.sbatch" "$3" --quiet' \
    _ "$TMP/elsewhere" "$ROOT" "$plain"
check_rc "sbatch slurm/run.sbatch from another directory with SBATCH_EXPORT=NONE is accepted" 0
plain_id=$(cut -d';' -f1 "$OUT")
wait_idle_queue 120 || true
check_eq "that job: COMPLETED 0:0 (it found build/fleet without FLEET)" \
    "$(job_field "$plain_id" JobState) $(job_field "$plain_id" ExitCode)" "COMPLETED 0:0"
check_exists "and wrote its results" "$TMP/out put/plain_run/results.h5"
[[ "$(job_field "$plain_id" JobState)" == COMPLETED ]] || sed 's/^/# /' "$TMP/elsewhere/slurm-fleetmerge-$plain_id.out" 2>/dev/null | tail -5

# A site file (FLEET_SITE) is sourced by the job: its srun options apply (--label prefixes every line
# of the ranks' output with the rank), without editing a tracked file.
cat >"$TMP/site.sh" <<'SITE'
echo "site file sourced"
FLEET_SRUN_ARGS=(--label)
SITE
sed 's/name: plain_run/name: site_run/' "$plain" >"$TMP/elsewhere/site.yaml"
run_cmd bash -c 'cd "$1" && FLEET_SITE="$4" sbatch --parsable --ntasks=2 "$2/slurm/run.sbatch" "$3"' \
    _ "$TMP/elsewhere" "$ROOT" "$TMP/elsewhere/site.yaml" "$TMP/site.sh"
site_id=$(cut -d';' -f1 "$OUT")
wait_idle_queue 120 || true
check_eq "the job with a site file: COMPLETED 0:0" \
    "$(job_field "$site_id" JobState) $(job_field "$site_id" ExitCode)" "COMPLETED 0:0"
check_matches "its log shows the site file was sourced" "$TMP/elsewhere/slurm-fleetmerge-$site_id.out" "^site file sourced"
check_matches "and its srun options applied (--label: rank-prefixed lines)" \
    "$TMP/elsewhere/slurm-fleetmerge-$site_id.out" "^0: "

run_cmd "$PYTHON" - "$results" <<'PY'
import glob, sys, h5py
bad = []
files = sorted(glob.glob(sys.argv[1] + "/[0-9]/results.h5"))
for f in files:
    text = h5py.File(f, "r")["config"][()].decode()
    if "steps: 30" not in text or "steps: 31" in text:
        bad.append(f)
snaps = glob.glob(sys.argv[1] + "/submitted/*.yaml")
print("points %d, with the edited config: %s; snapshots %d" % (len(files), bad, len(snaps)), file=sys.stderr)
sys.exit(0 if len(files) == 4 and not bad and len(snaps) == 1 else 1)
PY
check_rc "the config edited after submission changed no point (every /config from the snapshot)" 0

# Near its time limit a point requeues itself (sweep.sbatch traps --signal=B:USR1) and the requeued
# run finishes without redoing a phase. A 1-minute job told 50 s before the end; FLEET is a wrapper
# that, on the first attempt, makes rank 0 hang in the task-specific references (after the local
# training, 3 merging rounds and pooled training are checkpointed), and on the restart injects a
# fault into every one of those phases: the restart completes only if it runs none of them again.
cat >"$TMP/rq.yaml" <<EOF
experiment: {name: rq_sweep, seed: 2, output_dir: "$TMP/rq"}
env: {kind: cartpole, num_tasks: 2, horizon: 40}
fleet: {demos_per_robot: 8, rounds: 3, local_epochs: 1}
policy: {arch: mlp, layers: 1, width: 16}
train: {batch_size: 4}
merge: {methods: [fleet_merge], fm_steps: 3, fm_epochs: 1, fm_batch: 4}
eval: {rollouts: 2, round_rollouts: 1, task_specific: true}
sweep:
  seeds: [2]
EOF
cat >"$TMP/fleet-wrap.sh" <<'WRAP'
#!/bin/sh
if [ "${SLURM_RESTART_COUNT:-0}" = 0 ]; then
    FLEET_FAULT=task_specific@0:hang
else
    FLEET_FAULT=training@0,training@1,merge@0,merge@1,pooled@0,pooled@1
fi
export FLEET_FAULT
exec "$REAL_FLEET" "$@"
WRAP
chmod +x "$TMP/fleet-wrap.sh"
run_cmd env FLEET="$TMP/fleet-wrap.sh" REAL_FLEET="$FLEET" FLEET_GUARD_SECONDS=300 FLEET_MAX_REQUEUES=1 \
    sbatch --parsable --array=0 --ntasks=2 --time=00:01:00 --signal=B:USR1@50 "$ROOT/slurm/sweep.sbatch" "$TMP/rq.yaml"
rq_id=$(cut -d';' -f1 "$OUT")
rq_log="slurm-fleetsweep-${rq_id}_0.out"
for _ in $(seq 120); do grep -q "time limit near" "$rq_log" 2>/dev/null && break; sleep 1; done
check_matches "a point near its time limit requeues itself" "$rq_log" \
    "^point 0: time limit near, requeueing \(restart 1 of at most 1\)"
check_exists "the first attempt left its checkpoint" "$TMP/rq/rq_sweep/0/results.h5.ckpt"
# a requeued job waits for the credential lifetime (120 s) before it is eligible: start it now
for _ in $(seq 20); do [[ $(job_field "${rq_id}_0" JobState) == PENDING ]] && break; sleep 1; done
run_cmd scontrol update "JobId=${rq_id}_0" StartTime=now
if wait_idle_queue 90; then
    pass "the requeued point finished"
else
    mapfile -t diag < <(squeue 2>&1; tail -n 5 "$rq_log")
    fail "the requeued point finished within 90 s" "${diag[@]}"
fi
check_eq "requeued point: COMPLETED 0:0 after 1 restart" \
    "$(job_field "${rq_id}_0" JobState) $(job_field "${rq_id}_0" ExitCode) $(job_field "${rq_id}_0" Restarts)" \
    "COMPLETED 0:0 1"
check_matches "the restart resumed with the finished phases restored (none redone: each would fault)" "$rq_log" \
    "resuming after round 3/3 from the checkpoint \(restored: the robots' own policies, the pooled policy\)"
check_exists "the point's results are written" "$TMP/rq/rq_sweep/0/results.h5"
check_absent "and its checkpoint removed" "$TMP/rq/rq_sweep/0/results.h5.ckpt"
scancel "$rq_id" 2>/dev/null || true

check_absent "no file created from the config's name (values are data, not shell)" "$TMP/in dir/pwned"
check_absent "nor in the working directory" "$TMP/pwned"
finish
