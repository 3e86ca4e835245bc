#!/usr/bin/env bash
# rounds.sh - merging rounds (fleet.rounds) of the neural flow on 4 ranks:
#  - FedAvg with full participation, one full-batch SGD step per round and average merging equals
#    data-parallel joint training (the run's pooled policy) within float tolerance;
#  - participation sampling: the right number of robots each round, different subsets across
#    rounds, identical bytes accounting on every rank; per-round metrics and communication stored.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
FLEET=${FLEET:-$root/build/fleet}
case $FLEET in /*) ;; *) FLEET=$root/$FLEET ;; esac
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1
PY=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
n=0
fail=0
check() {
    local what=$1
    shift
    n=$((n + 1))
    if "$@" > out.txt 2> err.txt; then
        echo "ok $n - $what"
    else
        echo "not ok $n - $what"
        sed 's/^/#   /' err.txt out.txt | head -20
        fail=1
    fi
}
mpi() { timeout -k 10 300 mpirun --allow-run-as-root --oversubscribe -np 4 "$FLEET" "$@"; }

cat > fedavg.yaml <<'YAML'
experiment: {name: fedavg, seed: 4, output_dir: "."}
env: {kind: cartpole, num_tasks: 3, horizon: 25}
fleet: {demos_per_robot: 5, rounds: 6, local_epochs: 1, participation: 1.0, shared_init: true}
policy: {arch: rnn, layers: 1, width: 8}
train: {optimizer: sgd, lr: 0.05, batch_size: 5}
merge: {methods: [average]}
eval: {rollouts: 1, round_rollouts: 0}
YAML
check "FedAvg rounds run" mpi run fedavg.yaml --quiet
check "FedAvg (1 full-batch SGD step per round, full participation) equals joint data-parallel training" \
    "$PY" - <<'PYCODE'
import h5py, numpy as np, sys
f = h5py.File("fedavg/results.h5", "r")
a = np.array(f["models/merged/average/params"], dtype=float)
p = np.array(f["models/pooled/params"], dtype=float)
l0 = np.array(f["models/local/params"], dtype=float)
gap, scale = np.max(np.abs(a - p)), np.max(np.abs(p))
moved = np.max(np.abs(a - l0.mean(axis=0)))
print(f"max |fedavg - joint| = {gap:.3g} (scale {scale:.3g})", file=sys.stderr)
sys.exit(0 if gap <= 1e-5 * scale else 1)
PYCODE

cat > part.yaml <<'YAML'
experiment: {name: part, seed: 5, output_dir: "."}
env: {kind: cartpole, num_tasks: 3, horizon: 25}
fleet: {demos_per_robot: 5, rounds: 5, local_epochs: 1, participation: 0.5}
policy: {arch: rnn, layers: 1, width: 8}
train: {batch_size: 5}
merge: {methods: [average]}
eval: {rollouts: 1, round_rollouts: 1}
YAML
check "rounds with participation 0.5 run" bash -c "timeout -k 10 300 mpirun --allow-run-as-root --oversubscribe -np 4 '$FLEET' run part.yaml > run.txt"
check "progress: one line per round with the round number" grep -q "round 5/5: 2 robots merged" run.txt
check "participation: 2 of 4 robots each round, subsets vary, nobody left out" "$PY" - <<'PYCODE'
import h5py, numpy as np, sys
f = h5py.File("part/results.h5", "r")
parts = np.array(f["rounds/participants"])
sent = np.array(f["rounds/bytes_sent"])      # [robot, round]
left = np.array(f["rounds/left_out"])
senders = [tuple(np.nonzero(sent[:, r] > 0)[0]) for r in range(sent.shape[1])]
ok = (parts == 2).all() and (left == 0).all() and len(set(senders)) > 1
print(parts, senders, file=sys.stderr)
sys.exit(0 if ok else 1)
PYCODE
check "communication: bytes and the data-vs-weights line are reported" grep -q "sent .* MB of weights on average" run.txt
check "per-round metrics stored" h5dump -d /rounds/merged_bc_loss part/results.h5
check "wall time is under /timing, not in the results" h5dump -d /timing/elapsed_seconds part/results.h5
check "same run, same bytes" bash -c "timeout -k 10 300 mpirun --allow-run-as-root --oversubscribe -np 4 '$FLEET' run part.yaml --quiet --force --output again.h5 >/dev/null && h5diff part/results.h5 again.h5 /rounds /rounds && h5diff part/results.h5 again.h5 /models /models"
check "a robot with non-finite parameters is left out with a warning; the merged model stays finite" bash -c "
    FLEET_FAULT=2,3 timeout -k 10 300 mpirun --allow-run-as-root --oversubscribe -x FLEET_FAULT -np 4 '$FLEET' run part.yaml --force --output fault.h5 > fault.txt 2> fault.err &&
    grep -q 'warning: robot 2 left out of round 3' fault.err"
check "the exclusion is recorded and the merged model is finite" "$PY" - <<'PYCODE'
import h5py, numpy as np, sys
f = h5py.File("fault.h5", "r")
left = np.array(f["rounds/left_out"])
merged = np.array(f["models/merged/average/params"])
print(left, file=sys.stderr)
sys.exit(0 if left[2, 2] == 1 and left.sum() == 1 and np.isfinite(merged).all() else 1)
PYCODE
cat > bad.yaml <<'YAML'
experiment: {name: bad, output_dir: "."}
env: {kind: cartpole}
fleet: {rounds: 3}
policy: {arch: rnn}
merge: {methods: [average, fleet_merge]}
YAML
n=$((n + 1))
rc=0
mpi run bad.yaml > out.txt 2> err.txt || rc=$?
if [ "$rc" = 2 ] && grep -q "merge.methods: got 2 methods, expected one with fleet.rounds > 0" err.txt; then
    echo "ok $n - rounds with two merge methods is a config error"
else
    echo "not ok $n - rounds with two merge methods is a config error (exit $rc)"
    fail=1
fi
echo "1..$n"
exit $fail
