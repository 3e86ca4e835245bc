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
files=()
for cfg in "${configs[@]}"; do
    name=$(sed -n 's/^  name: *\([A-Za-z0-9._-]*\).*/\1/p' "$cfg" | head -1)
    [ -n "$name" ] || { echo "linear_control.sh: $cfg: no experiment.name" >&2; exit 2; }
    for seed in $SEEDS; do
        # same config, only experiment.name, seed and output_dir changed
        sed -e "s/^  name: .*/  name: ${name}_s${seed}/" -e "s/^  seed: .*/  seed: ${seed}/" \
            -e "/^experiment:/a\\  output_dir: \"$OUT\"" "$cfg" > "$tmp/${name}_s${seed}.yaml"
        echo "== $cfg seed $seed ($NP robots)"
        if ! $MPIRUN -np "$NP" "$FLEET" run "$tmp/${name}_s${seed}.yaml" --force --quiet > "$tmp/run.log"; then
            cat "$tmp/run.log"
            echo "linear_control.sh: run of $cfg seed $seed failed" >&2
            exit 1
        fi
        grep -v '^results:' "$tmp/run.log" || true
        files+=("$OUT/${name}_s${seed}/results.h5")
    done
done
"$PYTHON" analysis/linear_report.py "${files[@]}" --png "$OUT/linear_control.png" --md "$OUT/linear_control.md"
cat "$OUT/linear_control.md"
echo "figure: $OUT/linear_control.png   table: $OUT/linear_control.md"
