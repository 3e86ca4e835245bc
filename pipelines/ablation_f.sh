#!/usr/bin/env bash
# ablation_f.sh - Appendix F algorithm ablation on the cart-pole one-shot merge (issue 12 item 8,
# paper Figure 7 e analog). Five robots each clone an RNN from their own Dirichlet task mixture
# (concentration fleet.alpha) from their own initialization; the fleet is merged once by average,
# git_rebasin, sinkhorn_rebasin, sinkhorn_data, fleet_merge and the ablations fleet_merge_soft,
# fleet_merge_simplex, fleet_merge_average (CONFIG's merge.methods), and every merged policy is
# scored next to the trivial answers: robot 0's own policy, the best and the mean local policy,
# and the pooled policy.
# Runs CONFIG for every alpha in ALPHAS (set on its "  alpha:" line) and every seed in SEEDS on NP
# ranks, then writes the table and the figure:
#   $OUT/<name>_a<alpha>_s<seed>/results.h5     one file per run
#   $OUT/ablation_f.md / $OUT/ablation_f.png    report (method x alpha, mean +- sd over seeds)
# usage: pipelines/ablation_f.sh [-h|--help] [CONFIG]   (default: configs/cartpole_ablation.yaml)
# env:   NP=5 ALPHAS="1 0.1" SEEDS="1 2 3" OUT=results FLEET=build/fleet PYTHON=/usr/bin/python3
#        MPIRUN="mpirun ..."   (about 1-2 min per run on 2 shared cores: the default 6 runs take ~10 min)
set -euo pipefail
cd "$(dirname "$0")/.."
usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; }
case "${1:-}" in -h|--help) usage; exit 0 ;; esac
NP=${NP:-5}
ALPHAS=${ALPHAS:-"1 0.1"}
SEEDS=${SEEDS:-"1 2 3"}
PIPELINE=ablation_f.sh
. pipelines/lib.sh
pipeline_defaults
cfg=${1:-configs/cartpole_ablation.yaml}
[ $# -le 1 ] || { echo "ablation_f.sh: one config at most (usage: pipelines/ablation_f.sh [CONFIG])" >&2; exit 2; }
[ -f "$cfg" ] || { echo "ablation_f.sh: $cfg: no such config" >&2; exit 2; }
[[ "$NP" =~ ^[1-9][0-9]*$ ]] || { echo "ablation_f.sh: NP: '$NP' is not a positive integer" >&2; exit 2; }
[ "$(grep -c '^  alpha: ' "$cfg")" -eq 1 ] \
    || { echo "ablation_f.sh: $cfg: needs exactly one '  alpha:' line (fleet.alpha)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
files=()
start=$SECONDS
PIPELINE_TMP=$tmp
for alpha in $ALPHAS; do
    [[ "$alpha" =~ ^[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?$ ]] \
        || { echo "ablation_f.sh: ALPHAS: '$alpha' is not a number" >&2; exit 2; }
    for seed in $SEEDS; do
        [[ "$seed" =~ ^[0-9]+$ ]] || { echo "ablation_f.sh: SEEDS: '$seed' is not an integer" >&2; exit 2; }
        run_variant "$cfg" "a${alpha}_s${seed}" "$seed" "$NP" "fleet.alpha=${alpha}"
        files+=("$RUN_RESULT")
    done
done
"$PYTHON" analysis/ablation_report.py "${files[@]}" --md "$OUT/ablation_f.md" --png "$OUT/ablation_f.png"
cat "$OUT/ablation_f.md"
echo "figure: $OUT/ablation_f.png   report: $OUT/ablation_f.md   ($((SECONDS - start)) s, ${#files[@]} runs)"
