#!/usr/bin/env bash
# offline_merge.sh - `fleet merge` in one process reproduces the merges of a 4-rank run bit for bit
# (the serial reducer runs the same code as the MPI one), for neural and linear policies;
# bad calls fail with exit 2 and a clear message.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
FLEET=${FLEET:-$root/build/fleet}
case $FLEET in /*) ;; *) FLEET=$root/$FLEET ;; esac
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
n=0
fail=0
check() { # check DESCRIPTION COMMAND...
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
fails_with() { # fails_with DESCRIPTION NEEDLE COMMAND...: exit $WANT (default 2) and NEEDLE on stderr
    local what=$1 needle=$2 rc=0 want=${WANT:-2}
    shift 2
    n=$((n + 1))
    "$@" > out.txt 2> err.txt || rc=$?
    if [ "$rc" = "$want" ] && grep -qF -- "$needle" err.txt; then
        echo "ok $n - $what"
    else
        echo "not ok $n - $what"
        echo "#   exit $rc, want $want and stderr containing: $needle"
        sed 's/^/#   /' err.txt | head -5
        fail=1
    fi
}
mpi() { timeout -k 10 300 mpirun --allow-run-as-root --oversubscribe -np 4 "$FLEET" "$@"; }

cat > nn.yaml <<'YAML'
experiment: {name: nn, seed: 3, output_dir: "."}
env: {kind: cartpole, num_tasks: 3, horizon: 30}
fleet: {demos_per_robot: 6}
policy: {arch: rnn, layers: 1, width: 8}
train: {epochs: 3, batch_size: 4}
merge: {methods: [average, git_rebasin, fleet_merge, fleet_merge_soft, sinkhorn_data], fm_steps: 10, fm_epochs: 2,
        fm_batch: 4, mm_sweeps: 3}
eval: {rollouts: 2}
YAML
cat > lq.yaml <<'YAML'
experiment: {name: lq, seed: 2, output_dir: "."}
env: {kind: lqg, num_tasks: 3, obs_dim: 8, horizon: 30}
fleet: {demos_per_robot: 4}
policy: {arch: dynamic_linear}
train: {steps: 50}
merge: {gl_steps: 50}
eval: {rollouts: 2}
YAML
check "4-rank neural run" mpi run nn.yaml --quiet
check "the same robots' demonstrations by fleet gen" mpi gen nn.yaml -o demos.h5
for m in average git_rebasin fleet_merge fleet_merge_soft sinkhorn_data; do
    check "fleet merge --method $m runs in one process" "$FLEET" merge nn/results.h5 --method "$m" --data demos.h5 -o "m_$m.h5"
    check "$m: offline merge equals the run's bit for bit" \
        h5diff nn/results.h5 "m_$m.h5" "/models/merged/$m/params" "/models/merged/$m/params"
done
check "4-rank linear run" mpi run lq.yaml --quiet
check "the linear robots' demonstrations by fleet gen" mpi gen lq.yaml -o lq_demos.h5
for m in average linear_perm linear_gl; do
    check "linear $m: offline merge equals the run's bit for bit" \
        bash -c "'$FLEET' merge lq/results.h5 --method $m --data lq_demos.h5 -o l_$m.h5 && h5diff lq/results.h5 l_$m.h5 /models/merged/$m /models/merged/$m"
done
fails_with "linear_gl (gl_select: bc_loss, the default) without --data" "give them with --data FILE" \
    "$FLEET" merge lq/results.h5 --method linear_gl -o x.h5
fails_with "a data-trained method without --data" "give them with --data FILE" \
    "$FLEET" merge nn/results.h5 --method fleet_merge -o x.h5
fails_with "sinkhorn_data without --data" "give them with --data FILE" \
    "$FLEET" merge nn/results.h5 --method sinkhorn_data -o x.h5
fails_with "a linear method on neural policies" "linear_gl does not apply" \
    "$FLEET" merge nn/results.h5 --method linear_gl -o x.h5
fails_with "a neural method on linear policies" "sinkhorn_data does not apply" \
    "$FLEET" merge lq/results.h5 --method sinkhorn_data --data demos.h5 -o x.h5
fails_with "an unknown method" "unknown method 'fedavg'" "$FLEET" merge nn/results.h5 --method fedavg -o x.h5
fails_with "an existing output without --force" "already exists" \
    "$FLEET" merge nn/results.h5 --method average -o m_average.h5
WANT=64 fails_with "missing -o: a usage error (64)" "need RESULTS, --method and -o" "$FLEET" merge nn/results.h5 --method average
check "no stray output" test ! -e x.h5
echo "1..$n"
exit $fail
