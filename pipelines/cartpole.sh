#!/usr/bin/env bash
# cartpole.sh - the partially observed cart-pole benchmark (issue 3, docs/cartpole.md).
# Claim under test: an RNN trained on pooled data keeps the pole up on >= 90% of episodes on
# every task; a single-frame MLP does clearly worse. Runs each config for SEEDS seeds on NP
# robots (MPI ranks), then draws the balance / cost / per-task figure and writes a Markdown table.
#   $OUT/<name>_s<seed>/results.h5          one file per run
#   $OUT/cartpole.png / $OUT/cartpole.md    figure and table
# usage: pipelines/cartpole.sh [CONFIG...]   (default: configs/cartpole_rnn.yaml configs/cartpole_mlp.yaml)
# env:   NP=4 SEEDS="1 2 3" FLEET=build/fleet OUT=results PYTHON=/usr/bin/python3 MPIRUN="mpirun ..."
set -euo pipefail
cd "$(dirname "$0")/.."
NP=${NP:-4}
SEEDS=${SEEDS:-"1 2 3"}
FLEET=${FLEET:-build/fleet}
OUT=${OUT:-results}
PYTHON=${PYTHON:-/usr/bin/python3}
MPIRUN=${MPIRUN:-mpirun --allow-run-as-root --oversubscribe}
export OPENBLAS_NUM_THREADS=1
configs=("$@")
if [ ${#configs[@]} -eq 0 ]; then
    configs=(configs/cartpole_rnn.yaml configs/cartpole_mlp.yaml)
fi
[ -x "$FLEET" ] || { echo "cartpole.sh: $FLEET not found (run make first)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
files=()
start=$SECONDS
PIPELINE=cartpole.sh PIPELINE_TMP=$tmp
. pipelines/lib.sh
for cfg in "${configs[@]}"; do
    for seed in $SEEDS; do
        run_variant "$cfg" "s${seed}" "$seed" "$NP"
        files+=("$RUN_RESULT")
    done
done
"$PYTHON" analysis/cartpole_report.py "${files[@]}" --png "$OUT/cartpole.png" --md "$OUT/cartpole.md"
cat "$OUT/cartpole.md"
echo "figure: $OUT/cartpole.png   table: $OUT/cartpole.md   ($((SECONDS - start)) s, ${#files[@]} runs)"
