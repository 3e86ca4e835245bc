#!/usr/bin/env bash
# cartpole.sh - the partially observed cart-pole benchmark (issue 3, docs/cartpole.md).
# Claim under test: an RNN trained on pooled data keeps the pole up on >= 90% of episodes on
# every task; a single-frame MLP does clearly worse. Runs each config for SEEDS seeds on NP
# robots (MPI ranks), then draws the balance / cost / per-task figure and writes a Markdown table.
#   $OUT/<name>_s<seed>/results.h5          one file per run
#   $OUT/cartpole.png / $OUT/cartpole.md    figure and table
# usage: pipelines/cartpole.sh [-h|--help] [CONFIG...]   (default: configs/cartpole_rnn.yaml configs/cartpole_mlp.yaml)
# env:   NP=4 SEEDS="1 2 3" FLEET=build/fleet OUT=results PYTHON=/usr/bin/python3 MPIRUN="mpirun ..."
set -euo pipefail
# shellcheck source=pipelines/lib.sh
. "$(dirname "$0")/lib.sh"
pipeline_init cartpole.sh "$@"
NP=${NP:-4}
SEEDS=${SEEDS:-"1 2 3"}
configs=("$@")
if [ ${#configs[@]} -eq 0 ]; then
    configs=(configs/cartpole_rnn.yaml configs/cartpole_mlp.yaml)
fi
pipeline_defaults
for cfg in "${configs[@]}"; do
    run_seeds "$cfg" "" "$NP"
done
"$PYTHON" analysis/cartpole_report.py "${RUN_FILES[@]}" --png "$OUT/cartpole.png" --md "$OUT/cartpole.md"
pipeline_done "$OUT/cartpole.md" "figure: $OUT/cartpole.png   table: $OUT/cartpole.md"
