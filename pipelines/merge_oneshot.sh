#!/usr/bin/env bash
# merge_oneshot.sh - one-shot merge of a fleet of 5 cart-pole RNN policies (issue 4, paper
# Fig. 3 d analog). Each robot clones an RNN from its own Dirichlet task mixture (concentration
# fleet.alpha) from its own initialization; the fleet is merged once by every method of
# merge.methods (average, git_rebasin, sinkhorn_rebasin, fleet_merge) and each merged policy is
# scored next to the robots' own (local), the pooled policy and the expert.
# Target under test: for alpha in {1, 10} and every seed, fleet_merge's balance rate is >= 85% of
# the locals' mean and above git_rebasin's, with a lower cost than git_rebasin.
# Runs CONFIG for every alpha in ALPHAS (set on its "  alpha:" line) and every seed in SEEDS on NP
# ranks, then draws the figure and writes the Markdown report (with the mode-connectivity part
# when the runs of merge_pair.sh are in $OUT).
#   $OUT/<name>_a<alpha>_s<seed>/results.h5    one file per run
#   $OUT/merge_oneshot.png / $OUT/merge.md     figure and report
# usage: pipelines/merge_oneshot.sh [CONFIG]   (default: configs/cartpole_merge.yaml)
# env:   NP=5 ALPHAS="0.1 1 10" SEEDS="1 2 3" FLEET=build/fleet OUT=results PYTHON=/usr/bin/python3
#        MPIRUN="mpirun ..."   (~40 s per run on 2 cores: the default sweep takes ~6 min)
set -euo pipefail
cd "$(dirname "$0")/.."
NP=${NP:-5}
ALPHAS=${ALPHAS:-"0.1 1 10"}
SEEDS=${SEEDS:-"1 2 3"}
FLEET=${FLEET:-build/fleet}
OUT=${OUT:-results}
PYTHON=${PYTHON:-/usr/bin/python3}
MPIRUN=${MPIRUN:-mpirun --allow-run-as-root --oversubscribe}
export OPENBLAS_NUM_THREADS=1
cfg=${1:-configs/cartpole_merge.yaml}
[ $# -le 1 ] || { echo "merge_oneshot.sh: one config at most" >&2; exit 2; }
[ -x "$FLEET" ] || { echo "merge_oneshot.sh: $FLEET not found (run make first)" >&2; exit 2; }
[ -f "$cfg" ] || { echo "merge_oneshot.sh: $cfg: no such config" >&2; exit 2; }
name=$(sed -n 's/^  name: *"\{0,1\}\([A-Za-z0-9._-]*\).*/\1/p' "$cfg" | head -1)
[ -n "$name" ] || { echo "merge_oneshot.sh: $cfg: no experiment.name" >&2; exit 2; }
[ "$(grep -c '^  alpha: ' "$cfg")" -eq 1 ] \
    || { echo "merge_oneshot.sh: $cfg: needs exactly one '  alpha:' line (fleet.alpha)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
files=()
start=$SECONDS
PIPELINE=merge_oneshot.sh PIPELINE_TMP=$tmp
. pipelines/lib.sh
for alpha in $ALPHAS; do
    [[ "$alpha" =~ ^[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?$ ]] \
        || { echo "merge_oneshot.sh: ALPHAS: '$alpha' is not a number" >&2; exit 2; }
    for seed in $SEEDS; do
        run_variant "$cfg" "a${alpha}_s${seed}" "$seed" "$NP" "fleet.alpha=${alpha}"
        files+=("$RUN_RESULT")
    done
done
# the report also takes the mode-connectivity runs of merge_pair.sh when they are there
pair=()
for f in "$OUT"/cartpole_pair_s*/results.h5; do
    [ -f "$f" ] && pair+=("$f")
done
args=(--oneshot "${files[@]}" --png-oneshot "$OUT/merge_oneshot.png" --md "$OUT/merge.md")
if [ ${#pair[@]} -gt 0 ]; then
    args+=(--pair "${pair[@]}" --png-pair "$OUT/merge_pair.png")
fi
"$PYTHON" analysis/merge_report.py "${args[@]}"
cat "$OUT/merge.md"
echo "figure: $OUT/merge_oneshot.png   report: $OUT/merge.md   ($((SECONDS - start)) s, ${#files[@]} runs)"
