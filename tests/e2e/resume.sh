#!/usr/bin/env bash
# resume.sh - crash safety of merging rounds: a 4-rank run killed with SIGKILL in the middle of
# its rounds leaves a checkpoint (and no results file); re-running the same command continues
# after the last complete round and produces results bit-identical to an uninterrupted run.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
FLEET=${FLEET:-$root/build/fleet}
case $FLEET in /*) ;; *) FLEET=$root/$FLEET ;; esac
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1
tmp=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill -9 -- "-$pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp"
n=0
fail=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }
run() { timeout -k 10 300 mpirun --allow-run-as-root --oversubscribe -np 4 "$FLEET" run ck.yaml "$@"; }

cat > ck.yaml <<'YAML'
experiment: {name: ck, seed: 3, output_dir: "."}
env: {kind: cartpole, num_tasks: 3, horizon: 60}
fleet: {demos_per_robot: 16, rounds: 150, local_epochs: 2, participation: 0.75}
policy: {arch: rnn, layers: 2, width: 32}
train: {batch_size: 4}
merge: {methods: [fleet_merge], fm_steps: 5, fm_epochs: 1, fm_batch: 4}
eval: {rollouts: 2, round_rollouts: 1}
YAML
rc=0; run --quiet --output full.h5 > /dev/null 2>&1 || rc=$?
ok "$rc" "uninterrupted run"
ok "$([ ! -e full.h5.ckpt ]; echo $?)" "a complete run leaves no checkpoint"

# the interrupted run: SIGKILL to the whole job as soon as a checkpoint exists
setsid timeout -k 10 300 mpirun --allow-run-as-root --oversubscribe -np 4 "$FLEET" run ck.yaml --output part.h5 > kill.log 2>&1 &
pid=$!
for _ in $(seq 1 3000); do [ -f part.h5.ckpt ] && break; sleep 0.01; done
kill -9 -- "-$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
pid=
for _ in $(seq 1 100); do pgrep -f "ck.yaml --output part.h5" > /dev/null || break; sleep 0.1; done
ok "$([ -f part.h5.ckpt ] && [ ! -e part.h5 ]; echo $?)" "killed mid-run: a checkpoint, no results file"

rc=0; run --output none.h5 --resume > noresume.log 2>&1 || rc=$?
ok "$([ "$rc" = 2 ] && grep -q -- '--resume: no checkpoint' noresume.log; echo $?)" "--resume without a checkpoint is an error"
rc=0; run --output part.h5 --resume > resume.log 2>&1 || rc=$?
ok "$rc" "re-running the same command (with --resume) completes"
ok "$(grep -q 'resuming after round' resume.log; echo $?)" "it resumes from the checkpoint ($(grep -o 'after round [0-9]*/[0-9]*' resume.log || echo none))"
for g in /models /eval /rounds /fleet /config; do
    rc=0; h5diff full.h5 part.h5 "$g" "$g" > /dev/null 2>&1 || rc=$?
    ok "$rc" "resumed run's $g is bit-identical to the uninterrupted run's"
done
ok "$([ ! -e part.h5.ckpt ]; echo $?)" "the checkpoint is removed once the results are written"
rc=0; run --output part.h5 > again.log 2>&1 || rc=$?
ok "$([ "$rc" = 2 ] && grep -q 'already exists; use --force' again.log; echo $?)" "a complete results file is not overwritten without --force"
echo "1..$n"
exit $fail
