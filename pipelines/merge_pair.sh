#!/usr/bin/env bash
# merge_pair.sh - mode connectivity of two cart-pole RNN policies (issue 4, paper Fig. 3 a/b analog).
# Two robots clone an RNN from the SAME demonstrations from different initializations; every run
# stores the BC loss, balance rate and cost along the straight line between robot 0 and robot 1,
# plainly (average) and after each alignment method (/barrier/<method>/..., docs/schema.md).
# Target under test: the barrier after fleet_merge is <= 10% of the plain-interpolation barrier
# (BC loss and balance rate). Runs CONFIG for SEEDS seeds on NP ranks, then draws the figure and
# writes the Markdown report (merge_oneshot.sh adds the one-shot part to the same report).
#   $OUT/<name>_s<seed>/results.h5          one file per run
#   $OUT/merge_pair.png / $OUT/merge.md     figure and report
# usage: pipelines/merge_pair.sh [CONFIG]    (default: configs/cartpole_pair.yaml, fleet.robots: 2)
# env:   NP=2 SEEDS="1 2 3" FLEET=build/fleet OUT=results PYTHON=/usr/bin/python3 MPIRUN="mpirun ..."
set -euo pipefail
cd "$(dirname "$0")/.."
NP=${NP:-2}
SEEDS=${SEEDS:-"1 2 3"}
FLEET=${FLEET:-build/fleet}
OUT=${OUT:-results}
PYTHON=${PYTHON:-/usr/bin/python3}
MPIRUN=${MPIRUN:-mpirun --allow-run-as-root --oversubscribe}
export OPENBLAS_NUM_THREADS=1
cfg=${1:-configs/cartpole_pair.yaml}
[ $# -le 1 ] || { echo "merge_pair.sh: one config at most" >&2; exit 2; }
[ -x "$FLEET" ] || { echo "merge_pair.sh: $FLEET not found (run make first)" >&2; exit 2; }
[ -f "$cfg" ] || { echo "merge_pair.sh: $cfg: no such config" >&2; exit 2; }
name=$(sed -n 's/^  name: *"\{0,1\}\([A-Za-z0-9._-]*\).*/\1/p' "$cfg" | head -1)
[ -n "$name" ] || { echo "merge_pair.sh: $cfg: no experiment.name" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
files=()
start=$SECONDS
PIPELINE=merge_pair.sh PIPELINE_TMP=$tmp
. pipelines/lib.sh
for seed in $SEEDS; do
    run_variant "$cfg" "s${seed}" "$seed" "$NP"
    files+=("$RUN_RESULT")
done
# the report also takes the one-shot runs of merge_oneshot.sh when they are there (default names)
oneshot=()
for f in "$OUT"/cartpole_merge_a*_s*/results.h5; do
    [ -f "$f" ] && oneshot+=("$f")
done
args=(--pair "${files[@]}" --png-pair "$OUT/merge_pair.png" --md "$OUT/merge.md")
if [ ${#oneshot[@]} -gt 0 ]; then
    args+=(--oneshot "${oneshot[@]}" --png-oneshot "$OUT/merge_oneshot.png")
fi
"$PYTHON" analysis/merge_report.py "${args[@]}"
cat "$OUT/merge.md"
echo "figure: $OUT/merge_pair.png   report: $OUT/merge.md   ($((SECONDS - start)) s, ${#files[@]} runs)"
