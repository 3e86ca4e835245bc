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
for cfg in "${configs[@]}"; do
    [ -f "$cfg" ] || { echo "cartpole.sh: $cfg: no such config" >&2; exit 2; }
    name=$(sed -n 's/^  name: *"\{0,1\}\([A-Za-z0-9._-]*\).*/\1/p' "$cfg" | head -1)
    [ -n "$name" ] || { echo "cartpole.sh: $cfg: no experiment.name" >&2; exit 2; }
    for seed in $SEEDS; do
        # same config, only experiment.name, seed and output_dir changed (dropped, then set
        # right after "experiment:", so a config without a seed or output_dir line works too)
        run="$tmp/${name}_s${seed}.yaml"
        sed -e '/^  name: /d' -e '/^  seed: /d' -e '/^  output_dir: /d' \
            -e "/^experiment:/a\\  name: ${name}_s${seed}\\n  seed: ${seed}\\n  output_dir: \"$OUT\"" \
            "$cfg" > "$run"
        echo "== $cfg seed $seed ($NP robots)"
        t0=$SECONDS
        status=0
        $MPIRUN -np "$NP" "$FLEET" run "$run" --force --quiet | { grep -v '^results:' || true; } \
            || status=$?
        if [ "$status" -ne 0 ]; then
            echo "cartpole.sh: $cfg seed $seed: fleet run failed (exit $status)" >&2
            exit "$status"
        fi
        test -f "$OUT/${name}_s${seed}/results.h5"
        files+=("$OUT/${name}_s${seed}/results.h5")
        echo "   ($((SECONDS - t0)) s)"
    done
done
"$PYTHON" analysis/cartpole_report.py "${files[@]}" --png "$OUT/cartpole.png" --md "$OUT/cartpole.md"
cat "$OUT/cartpole.md"
echo "figure: $OUT/cartpole.png   table: $OUT/cartpole.md   ($((SECONDS - start)) s, ${#files[@]} runs)"
