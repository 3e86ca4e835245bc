#!/usr/bin/env bash
# sweep.sh - sweep sections: fleet sweep --count/--list, fleet run --sweep-index I (results in
# <output_dir>/<name>/<I>/ with the point's resolved config), finished points are no-ops unless
# --force, and bad indices or keys are clear errors (exit 2).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
FLEET=${FLEET:-$root/build/fleet}
case $FLEET in /*) ;; *) FLEET=$root/$FLEET ;; esac
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1
PYTHON=${PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
n=0
fail=0
t() { # t DESCRIPTION EXPECTED_EXIT NEEDLE(or "") COMMAND...
    local what=$1 want=$2 needle=$3 rc=0
    shift 3
    n=$((n + 1))
    "$@" > out.txt 2> err.txt || rc=$?
    if [ "$rc" = "$want" ] && { [ -z "$needle" ] || grep -qF -- "$needle" out.txt err.txt; }; then
        echo "ok $n - $what"
    else
        echo "not ok $n - $what"
        echo "#   exit $rc (want $want), want text: $needle"
        sed 's/^/#   /' err.txt out.txt | head -8
        fail=1
    fi
}
mpi() { timeout -k 10 300 mpirun --allow-run-as-root --oversubscribe -np 2 "$FLEET" "$@"; }
cat > sw.yaml <<'YAML'
experiment: {name: sw, output_dir: "."}
env: {kind: lqg, num_tasks: 3, obs_dim: 8, horizon: 30}
fleet: {demos_per_robot: 4}
policy: {arch: dynamic_linear}
train: {steps: 30}
merge: {gl_steps: 30}
eval: {rollouts: 2}
sweep:
  fleet.alpha: [0.5, 5]
  seeds: [1, 2]
  zip:
    - {train.lr: [0.01, 0.02], merge.gl_lr: [0.01, 0.05]}
YAML
t "--count prints the number of points" 0 "8" "$FLEET" sweep sw.yaml --count
t "--list prints each point's overrides, the last axis fastest" 0 \
    "5: fleet.alpha=5 experiment.seed=1 train.lr=0.02 merge.gl_lr=0.05" "$FLEET" sweep sw.yaml --list
t "run point 5" 0 "results: ./sw/5/results.h5" mpi run sw.yaml --sweep-index 5 --quiet
t "the point's resolved config holds its values" 0 "alpha: 5" h5dump -d /config sw/5/results.h5
t "re-running a finished point is a no-op" 0 "sweep point 5 (fleet.alpha=5 experiment.seed=1 train.lr=0.02 merge.gl_lr=0.05) is already complete" \
    mpi run sw.yaml --sweep-index 5
t "--force reruns it" 0 "results: ./sw/5/results.h5" mpi run sw.yaml --sweep-index 5 --force --quiet
# Fingerprints: a finished point is only "complete" for the same resolved config, rank count and binary.
t "the results record a fingerprint and the binary's version" 0 "@fingerprint: string[17]" "$FLEET" info sw/5/results.h5
t "the binary's version is the one fleet reports" 0 "@binary_version" "$FLEET" info sw/5/results.h5
sed 's/train: {steps: 30}/train: {steps: 31}/' sw.yaml > sw2.yaml
cp sw2.yaml sw_edit.yaml
sed -i 's/name: sw,/name: sw,/' sw_edit.yaml
t "after a config edit a finished point is stale: exit 2 naming the point and the reason" 2 \
    "sweep point 5 (fleet.alpha=5 experiment.seed=1 train.lr=0.02 merge.gl_lr=0.05): ./sw/5/results.h5 holds results of another config (the sweep's config changed); use --force to rerun the point" \
    mpi run sw_edit.yaml --sweep-index 5
before=$(md5sum sw/5/results.h5)
t "the stale results are left as they were" 0 "$before" md5sum sw/5/results.h5
t "with another rank count the point is stale too" 2 "holds results of another number of ranks: 2 ranks, this run has 3" \
    timeout -k 10 300 mpirun --allow-run-as-root --oversubscribe -np 3 "$FLEET" run sw.yaml --sweep-index 5
t "--force reruns a stale point" 0 "results: ./sw/5/results.h5" mpi run sw_edit.yaml --sweep-index 5 --force --quiet
t "and it is then complete for the edited config" 0 "is already complete" mpi run sw_edit.yaml --sweep-index 5
# Results of the same config by another build: kept, with a warning naming both versions.
"$PYTHON" - <<'PY'
import h5py
with h5py.File('sw/5/results.h5', 'r+') as f:
    f.attrs['binary_version'] = 'v0-other'
    f.attrs['fingerprint'] = '0123456789abcdef'
PY
t "results of another build are kept with a warning naming its version" 0 "written by fleet v0-other, this is fleet" \
    mpi run sw_edit.yaml --sweep-index 5
# A partial aggregation: exit 3 after writing, sweep.md names the missing points; --allow-partial: 0.
t "aggregate.py with points missing: exit 3" 3 "partial: 7 of 8 points have no results" \
    "$PYTHON" "$root/analysis/aggregate.py" sw --csv agg.csv --md agg.md --expect 8
t "sweep.md says which points are missing" 0 "Partial: 7 point(s) without results: 0, 1, 2, 3, 4, 6, 7" cat agg.md
t "the CSV holds the finished point" 0 "5," cat agg.csv
t "--allow-partial accepts it: exit 0" 0 "1 points -> agg.csv" \
    "$PYTHON" "$root/analysis/aggregate.py" sw --csv agg.csv --md agg.md --expect 8 --allow-partial
t "no .tmp left by the aggregation" 0 "" test ! -e agg.csv.tmp -a ! -e agg.md.tmp
t "an index out of range is an error" 2 "sweep: got index 8, expected an index in [0, 8)" mpi run sw.yaml --sweep-index 8
t "a negative or malformed index is a usage error" 64 "--sweep-index needs an index >= 0, got: x" "$FLEET" run sw.yaml --sweep-index x
t "no results for a failed point" 0 "" test ! -e sw/8
printf 'sweep:\n  fleet.alfa: [1, 2]\n' >> bad.yaml
cat sw.yaml | sed '/^sweep:/,$d' > plain.yaml
cat plain.yaml bad.yaml > badsweep.yaml
t "a sweep key that is not a config key is an error" 2 "sweep.fleet.alfa: not a config key" "$FLEET" sweep badsweep.yaml --count
t "an index for a config without a sweep section is an error" 2 "the config has no sweep section" mpi run plain.yaml --sweep-index 0
t "a config without a sweep section is one point" 0 "1" "$FLEET" sweep plain.yaml --count
# Many keys: a zip group of 20 keys and 40 axes; no key is dropped and the sweep is not disabled.
zip=""
for k in fleet.alpha train.lr merge.gl_lr train.steps merge.gl_steps eval.rollouts env.num_tasks env.horizon \
    fleet.demos_per_robot train.grad_clip train.ridge merge.perm_iters env.process_noise env.obs_noise env.init_std \
    env.r_scale policy.init_scale env.obs_dim policy.hidden_dim eval.horizon; do
    zip="$zip${zip:+, }$k: [1, 2]"
done
{ cat plain.yaml; printf 'sweep:\n  zip:\n    - {%s}\n' "$zip"; } > zip20.yaml
t "a zip group of 20 keys counts" 0 "2" "$FLEET" sweep zip20.yaml --count
t "a zip group of 20 keys: point 1 sets the 20th key" 0 "policy.hidden_dim=2 eval.horizon=2" "$FLEET" sweep zip20.yaml --list
{
    cat plain.yaml
    echo "sweep:"
    for kv in experiment.seed=1 env.obs_dim=8 env.num_tasks=3 env.q_log_min=-1 env.q_log_max=1 env.r_scale=1 \
        env.process_noise=0.1 env.obs_noise=0.1 env.init_std=1 env.horizon=10 env.cp_dt=0.02 env.cp_length_min=0.3 \
        env.cp_length_max=0.8 env.cp_pole_mass_min=0.1 env.cp_pole_mass_max=0.2 env.cp_cart_mass_min=1 \
        env.cp_cart_mass_max=2 env.cp_setpoint_max=1 env.cp_force_max=10 env.cp_obs_noise=0.01 \
        env.cp_action_noise=0.1 env.tu_points=64 env.tu_point_noise=0.001 fleet.robots=0 fleet.alpha=1 \
        fleet.demos_per_robot=5 fleet.sign_flip_fraction=0 fleet.local_epochs=2 fleet.participation=1 \
        policy.hidden_dim=0 policy.init_scale=0 train.steps=10 train.lr=0.1 train.grad_clip=0 train.ridge=0 \
        merge.perm_iters=5 merge.gl_steps=5 merge.gl_lr=0.1 eval.rollouts=2 "eval.horizon=0, 7"; do
        echo "  ${kv%%=*}: [${kv#*=}]"
    done
} > axes40.yaml
t "40 axes count" 0 "2" "$FLEET" sweep axes40.yaml --count
t "40 axes: the 33rd to 40th keys are applied" 0 "merge.gl_lr=0.1 eval.rollouts=2 eval.horizon=7" \
    "$FLEET" sweep axes40.yaml --list
# One run per point at a time: a run that hangs in training (FLEET_FAULT, ended by the guard after
# FLEET_GUARD_SECONDS) holds point 6's lock; a second run of point 6 fails at once naming the holder;
# once the first has died the lock is free (the kernel released it) and the point runs.
FLEET_FAULT=training@0:hang FLEET_GUARD_SECONDS=6 timeout -k 5 60 mpirun --allow-run-as-root --oversubscribe -np 2 \
    "$FLEET" run sw.yaml --sweep-index 6 --quiet > holder.txt 2>&1 &
holder=$!
for _ in $(seq 50); do grep -q pid sw/6/results.h5.lock 2>/dev/null && break; sleep 0.1; done
t "fleet sweep --status: the held point is running" 3 "6: running ./sw/6/results.h5" "$FLEET" sweep sw.yaml --status
t "a second run of a point being run fails at once, naming the holder" 2 "sweep point 6 is being run by another fleet (host " \
    mpi run sw.yaml --sweep-index 6 --quiet
wait "$holder" || true
t "after the holder died, the point runs (no stale lock)" 0 "results: ./sw/6/results.h5" mpi run sw.yaml --sweep-index 6 --quiet
t "--status: a finished point is done" 3 "6: done (2 robots) ./sw/6/results.h5" "$FLEET" sweep sw.yaml --status
t "--status: point 5 holds results of the edited config: stale" 3 "5: stale (results of another config)" "$FLEET" sweep sw.yaml --status
FLEET_FAULT=training@0 mpi run sw.yaml --sweep-index 1 --quiet > /dev/null 2>&1 || true
t "--status: a point whose run failed says how (its .failed note)" 3 \
    "1: failed (exit 1, " "$FLEET" sweep sw.yaml --status
t "with the error's first line" 3 "job -: rank 0: injected fault in training (FLEET_FAULT))" "$FLEET" sweep sw.yaml --status
t "--status: a point never run is missing, and a summary line" 3 \
    "8 points: 1 done, 1 stale, 0 running, 0 interrupted, 5 missing, 1 failed" "$FLEET" sweep sw.yaml --status
t "submit_sweep.sh --retry submits only the missing and failed points (not done or stale ones)" 0 "--array=0-4\\,7%8 --ntasks=4" \
    "$root/slurm/submit_sweep.sh" --dry-run --retry sw.yaml
t "submit_sweep.sh --aggregate-only submits the aggregation alone (no dependency)" 0 \
    "/sw/logs/%x-%j.out $root/slurm/aggregate.sbatch" "$root/slurm/submit_sweep.sh" --dry-run --aggregate-only sw.yaml

# Rank counts per point (fleet.robots), and every point validated by --count and --ranks.
cat > rob.yaml <<'YAML'
experiment: {name: rob, output_dir: "."}
env: {kind: lqg, num_tasks: 3, obs_dim: 8, horizon: 30}
fleet: {demos_per_robot: 4}
policy: {arch: dynamic_linear}
train: {steps: 30}
merge: {gl_steps: 30}
eval: {rollouts: 2}
sweep:
  fleet.robots: [2, 3]
  seeds: [1, 2]
YAML
t "--ranks prints every point's fleet.robots" 0 "2: 3" "$FLEET" sweep rob.yaml --ranks
t "--ranks: point 1 has 2 robots" 0 "1: 2" "$FLEET" sweep rob.yaml --ranks
t "submit_sweep.sh --dry-run: one array job per rank count, each with its points" 0 \
    "--array=0-1%8 --ntasks=2" "$root/slurm/submit_sweep.sh" --dry-run rob.yaml
t "submit_sweep.sh --dry-run: the 3-robot points" 0 "--array=2-3%8 --ntasks=3" "$root/slurm/submit_sweep.sh" --dry-run rob.yaml
t "submit_sweep.sh -n 2 with a point that sets fleet.robots: 3 is an error before anything is queued" 2 \
    "point 2 sets fleet.robots: 3 but --ntasks is 2" "$root/slurm/submit_sweep.sh" --dry-run -n 2 rob.yaml
t "submit_sweep.sh: --array after -- is refused (the aggregation is never an array)" 2 \
    "--array=0-1 after --: the array is set from the sweep" "$root/slurm/submit_sweep.sh" --dry-run rob.yaml -- --array=0-1
t "figures.sh slurm passes sbatch arguments after -- to both jobs" 0 \
    "/logs/%x-%j.out --account=ACC" env SUBMIT_ARGS=--dry-run "$root/pipelines/figures.sh" slurm fig3ab_pair -- --account=ACC
t "above MaxArraySize a sweep is split into arrays with offsets (M = 3: point 3 is task 0 of an array at offset 3)" 0 \
    "/rob/logs/%x-%A_%a.out $root/slurm/sweep.sbatch --offset 3" env FLEET_MAX_ARRAY_SIZE=3 "$root/slurm/submit_sweep.sh" --dry-run rob.yaml
mkdir -p shim
printf '#!/bin/sh\necho "srun $*"\n' > shim/srun
chmod +x shim/srun
t "sweep.sbatch --offset K: array task I runs point K + I" 1 "run rob.yaml --sweep-index 4" \
    env PATH="$tmp/shim:$PATH" SLURM_ARRAY_TASK_ID=1 FLEET=/bin/true bash "$root/slurm/sweep.sbatch" --offset 3 rob.yaml
# A step that "succeeds" without results (a node failure, a killed srun: here srun does nothing) is
# not a success: sweep.sbatch checks the point's state after an exit code of 0.
t "sweep.sbatch: exit 0 without results fails the task, naming the point's state" 1 \
    "point 0: fleet run exited with 0 but the point is not done (missing" \
    env PATH="$tmp/shim:$PATH" SLURM_ARRAY_TASK_ID=0 FLEET="$FLEET" bash "$root/slurm/sweep.sbatch" sw.yaml --quiet
cat > badpoint.yaml <<'YAML'
experiment: {name: badpoint, output_dir: "."}
env: {kind: tooluse, num_tasks: 4, horizon: 10}
fleet: {demos_per_robot: 2}
policy: {arch: mlp}
sweep:
  env.tu_points: [32, 33]
YAML
t "--count validates every point: an odd env.tu_points in point 1 is an error" 2 "env.tu_points" \
    "$FLEET" sweep badpoint.yaml --count
t "so does --ranks" 2 "env.tu_points" "$FLEET" sweep badpoint.yaml --ranks
# --set KEY=VALUE: recorded in the point's /config; the point's fingerprint includes it, so --status
# with the same overrides calls it done and without them stale; submit_sweep.sh passes them on.
t "fleet run --set overrides a key of a sweep point" 0 "results: ./sw/7/results.h5" \
    mpi run sw.yaml --sweep-index 7 --quiet --set train.steps=25 --set=merge.gl_steps=20
t "the point's /config holds the overridden values" 0 "steps: 25" h5dump -d /config sw/7/results.h5
t "the same --set: --status calls the point done" 3 "7: done (2 robots)" \
    "$FLEET" sweep sw.yaml --status --set train.steps=25 --set merge.gl_steps=20
t "without them: stale" 3 "7: stale (results of another config)" "$FLEET" sweep sw.yaml --status
t "sweep.sbatch: a point that is done passes (its --set overrides checked too)" 0 "point 7: fleet run exited with 0" \
    env PATH="$tmp/shim:$PATH" SLURM_ARRAY_TASK_ID=7 FLEET="$FLEET" bash "$root/slurm/sweep.sbatch" sw.yaml \
    --set train.steps=25 --quiet --set=merge.gl_steps=20
t "a bad --set is a config error naming it (exit 2)" 2 "sw.yaml: --set train.steps=-1: train.steps: got -1" \
    mpi run sw.yaml --sweep-index 0 --set train.steps=-1
t "a swept key cannot be overridden" 2 "also set by --set fleet.alpha=1" "$FLEET" sweep sw.yaml --count --set fleet.alpha=1
t "submit_sweep.sh -s passes every --set to fleet run" 0 "sweep.sbatch $tmp/./sw/submitted/" \
    "$root/slurm/submit_sweep.sh" --dry-run -s train.steps=25 --set=merge.gl_steps=20 sw.yaml
t "after the config, in order" 0 ".yaml --set train.steps=25 --set merge.gl_steps=20" \
    "$root/slurm/submit_sweep.sh" --dry-run -s train.steps=25 --set=merge.gl_steps=20 sw.yaml
t "submit_sweep.sh validates them before anything is queued" 2 "--set train.steps=x" \
    "$root/slurm/submit_sweep.sh" --dry-run -s train.steps=x sw.yaml
t "an overridden experiment.name moves the results directory" 0 "$tmp/./renamed/submitted/" \
    "$root/slurm/submit_sweep.sh" --dry-run -s experiment.name=renamed sw.yaml
# Per-point time limits: experiment.time_limit zipped with the key that varies the work; points with
# the same rank count and limit form one array job with that --time; -t covers points without one.
cat > tl.yaml <<'YAML'
experiment: {name: tl, output_dir: "."}
env: {kind: lqg, num_tasks: 3, obs_dim: 8, horizon: 30}
fleet: {demos_per_robot: 4, robots: 2}
policy: {arch: dynamic_linear}
sweep:
  zip:
    - {train.steps: [30, 3000, 60], experiment.time_limit: ["10", "2:00:00", ""]}
YAML
t "fleet sweep --resources prints ranks and time limit per point" 0 "1: 2 2:00:00" "$FLEET" sweep tl.yaml --resources
t "a point without a limit prints -" 0 "2: 2 -" "$FLEET" sweep tl.yaml --resources
t "submit_sweep.sh: the 10-minute point is its own array job" 0 "--array=0%8 --ntasks=2 --job-name=fleet-tl --output=$tmp/./tl/logs/%x-%A_%a.out --time=10 " \
    "$root/slurm/submit_sweep.sh" --dry-run -t 30 tl.yaml
t "the 2-hour point another" 0 "--array=1%8 --ntasks=2 --job-name=fleet-tl --output=$tmp/./tl/logs/%x-%A_%a.out --time=2:00:00 " \
    "$root/slurm/submit_sweep.sh" --dry-run -t 30 tl.yaml
t "and the point without one gets -t" 0 "--array=2%8 --ntasks=2 --job-name=fleet-tl --output=$tmp/./tl/logs/%x-%A_%a.out --time=30 " \
    "$root/slurm/submit_sweep.sh" --dry-run -t 30 tl.yaml
t "a malformed time limit is a config error" 2 'experiment.time_limit: got "2h", expected a Slurm time limit' \
    "$FLEET" sweep sw.yaml --count --set experiment.time_limit=2h
t "a failed point that then runs well" 0 "results: ./sw/1/results.h5" mpi run sw.yaml --sweep-index 1 --quiet
t "loses its .failed note" 0 "" test ! -e sw/1/results.h5.failed
echo "1..$n"
exit $fail
