#!/usr/bin/env bash
# merge_nmodels.sh - number of models (paper Appendix F analog): the one-shot cart-pole merge of
# configs/cartpole_merge.yaml with N robots (MPI ranks) for N in NS at the config's alpha, every
# seed in SEEDS; then a line plot and a table of the merged balance rate and cost vs N per method.
#   $OUT/<name>_n<N>_s<seed>/results.h5, $OUT/merge_nmodels.png, $OUT/merge_nmodels.md
# usage: pipelines/merge_nmodels.sh [CONFIG]
# env:   NS="2 5 10 20" SEEDS="1 2" FLEET=build/fleet OUT=results PYTHON=/usr/bin/python3 MPIRUN=...
#        (N ranks share the machine's cores: N = 20 takes a few minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
NS=${NS:-"2 5 10 20"}
SEEDS=${SEEDS:-"1 2"}
FLEET=${FLEET:-build/fleet}
OUT=${OUT:-results}
PYTHON=${PYTHON:-/usr/bin/python3}
MPIRUN=${MPIRUN:-mpirun --allow-run-as-root --oversubscribe}
export OPENBLAS_NUM_THREADS=1
cfg=${1:-configs/cartpole_merge.yaml}
[ -x "$FLEET" ] || { echo "merge_nmodels.sh: $FLEET not found (run make first)" >&2; exit 2; }
[ -f "$cfg" ] || { echo "merge_nmodels.sh: $cfg: no such config" >&2; exit 2; }
name=$(sed -n 's/^  name: *"\{0,1\}\([A-Za-z0-9._-]*\).*/\1/p' "$cfg" | head -1)
[ "$(grep -c '^  robots: ' "$cfg")" -eq 1 ] || { echo "merge_nmodels.sh: $cfg: needs one '  robots:' line" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
files=()
PIPELINE=merge_nmodels.sh PIPELINE_TMP=$tmp
. pipelines/lib.sh
for n in $NS; do
    [[ "$n" =~ ^[0-9]+$ && "$n" -ge 2 ]] || { echo "merge_nmodels.sh: NS: '$n' is not a count >= 2" >&2; exit 2; }
    for seed in $SEEDS; do
        run_variant "$cfg" "n${n}_s${seed}" "$seed" "$n" "fleet.robots=${n}"
        files+=("$RUN_RESULT")
    done
done
"$PYTHON" analysis/nmodels_report.py "${files[@]}" --png "$OUT/merge_nmodels.png" --md "$OUT/merge_nmodels.md"
cat "$OUT/merge_nmodels.md"
