#!/usr/bin/env bash
# linear_control.sh - the default experiment (paper Appendix G, Figure 13 analog).
# Runs each linear-control config for SEEDS seeds on NP robots (MPI ranks), then draws one
# bar chart (mean over seeds, min-max whiskers) and writes a Markdown table.
#   $OUT/<name>_s<seed>/results.h5        one file per run
#   $OUT/linear_control.png / .md         figure and table
# usage: pipelines/linear_control.sh [-h|--help] [CONFIG...]
# env:   NP=4 SEEDS="1 2 3 4 5" FLEET=build/fleet OUT=results PYTHON=/usr/bin/python3 MPIRUN="mpirun ..."
set -euo pipefail
# shellcheck source=pipelines/lib.sh
. "$(dirname "$0")/lib.sh"
pipeline_init linear_control.sh "$@"
NP=${NP:-4}
SEEDS=${SEEDS:-"1 2 3 4 5"}
configs=("$@")
if [ ${#configs[@]} -eq 0 ]; then
    configs=(configs/lqr.yaml configs/lqg.yaml configs/lqg_stable.yaml
             configs/lqg_disconnected.yaml configs/lqg_shared_init.yaml)
fi
pipeline_defaults
for cfg in "${configs[@]}"; do
    run_seeds "$cfg" "" "$NP"
done
"$PYTHON" analysis/linear_report.py "${RUN_FILES[@]}" --png "$OUT/linear_control.png" --md "$OUT/linear_control.md"
pipeline_done "$OUT/linear_control.md" "figure: $OUT/linear_control.png   table: $OUT/linear_control.md"
