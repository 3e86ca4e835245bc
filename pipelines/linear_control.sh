#!/usr/bin/env bash
# linear_control.sh - the default experiment (paper Appendix G, Figure 13 analog):
# LQR with static policies, LQG with dynamic policies, and the disconnected-components case,
# each on NP robots (MPI ranks); then a bar chart and a Markdown table.
# usage: pipelines/linear_control.sh [CONFIG...]   (env: NP=4, FLEET=build/fleet, OUT=results)
set -euo pipefail
cd "$(dirname "$0")/.."
NP=${NP:-4}
FLEET=${FLEET:-build/fleet}
OUT=${OUT:-results}
PYTHON=${PYTHON:-/usr/bin/python3}
MPIRUN=${MPIRUN:-mpirun --allow-run-as-root --oversubscribe}
export OPENBLAS_NUM_THREADS=1
configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=(configs/lqr.yaml configs/lqg.yaml configs/lqg_disconnected.yaml)
files=()
for cfg in "${configs[@]}"; do
    name=$(sed -n 's/^  name: *\([A-Za-z0-9._-]*\).*/\1/p' "$cfg" | head -1)
    echo "== $cfg ($NP robots)"
    $MPIRUN -np "$NP" "$FLEET" run "$cfg" --force --quiet --output "$OUT/$name/results.h5"
    files+=("$OUT/$name/results.h5")
done
"$PYTHON" analysis/linear_report.py "${files[@]}" --png "$OUT/linear_control.png" --md "$OUT/linear_control.md"
echo "figure: $OUT/linear_control.png   table: $OUT/linear_control.md"
