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
mpi() { mpirun --allow-run-as-root --oversubscribe -np 2 "$FLEET" "$@"; }
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
t "an index out of range is an error" 2 "sweep: got index 8, expected an index in [0, 8)" mpi run sw.yaml --sweep-index 8
t "a negative or malformed index is a usage error" 2 "--sweep-index needs an index >= 0, got: x" "$FLEET" run sw.yaml --sweep-index x
t "no results for a failed point" 0 "" test ! -e sw/8
printf 'sweep:\n  fleet.alfa: [1, 2]\n' >> bad.yaml
cat sw.yaml | sed '/^sweep:/,$d' > plain.yaml
cat plain.yaml bad.yaml > badsweep.yaml
t "a sweep key that is not a config key is an error" 2 "sweep.fleet.alfa: not a config key" "$FLEET" sweep badsweep.yaml --count
t "an index for a config without a sweep section is an error" 2 "the config has no sweep section" mpi run plain.yaml --sweep-index 0
t "a config without a sweep section is one point" 0 "1" "$FLEET" sweep plain.yaml --count
echo "1..$n"
exit $fail
