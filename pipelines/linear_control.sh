#!/usr/bin/env bash
# linear_control.sh - the default experiment (paper Appendix G, Figure 13 analog).
# Runs each linear-control config for SEEDS seeds on NP robots (MPI ranks), then draws one
# bar chart (mean over seeds, min-max whiskers) and writes a Markdown table.
#   results/<name>_s<seed>/results.h5      one file per run (fleet run's default path)
#   results/linear_control.png / .md       figure and table
# usage: pipelines/linear_control.sh [CONFIG...]
# env:   NP=4 SEEDS="1 2 3 4 5" FLEET=build/fleet OUT=results MPIRUN="mpirun ..."
set -euo pipefail
cd "$(dirname "$0")/.."
NP=${NP:-4}
SEEDS=${SEEDS:-"1 2 3 4 5"}
FLEET=${FLEET:-build/fleet}
OUT=${OUT:-results}
PYTHON=${PYTHON:-/usr/bin/python3}
MPIRUN=${MPIRUN:-mpirun --allow-run-as-root --oversubscribe}
export OPENBLAS_NUM_THREADS=1
configs=("$@")
if [ ${#configs[@]} -eq 0 ]; then
    configs=(configs/lqr.yaml configs/lqg.yaml configs/lqg_stable.yaml
             configs/lqg_disconnected.yaml configs/lqg_shared_init.yaml)
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
PIPELINE=linear_control.sh PIPELINE_TMP=$tmp
. pipelines/lib.sh
files=()
for cfg in "${configs[@]}"; do
    for seed in $SEEDS; do
        run_variant "$cfg" "s${seed}" "$seed" "$NP"
        files+=("$RUN_RESULT")
    done
done
"$PYTHON" analysis/linear_report.py "${files[@]}" --png "$OUT/linear_control.png" --md "$OUT/linear_control.md"
cat "$OUT/linear_control.md"
echo "figure: $OUT/linear_control.png   table: $OUT/linear_control.md"
