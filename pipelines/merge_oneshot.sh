#!/usr/bin/env bash
# merge_oneshot.sh - one-shot merge of a fleet of 5 cart-pole RNN policies (issue 4, paper
# Fig. 3 d analog). Each robot clones an RNN from its own Dirichlet task mixture (concentration
# fleet.alpha) from its own initialization; the fleet is merged once by every method of
# merge.methods (average, git_rebasin, sinkhorn_rebasin, fleet_merge) and each merged policy is
# scored next to the robots' own (local), the pooled policy and the expert.
# Target under test: for alpha in {1, 10} and every seed, fleet_merge's balance rate is >= 85% of
# the locals' mean and above git_rebasin's, with a lower cost than git_rebasin.
# Runs CONFIG for every alpha in ALPHAS (fleet.alpha, set with --set) and every seed in SEEDS on NP
# ranks, then draws the figure and writes the Markdown report (with the mode-connectivity part
# when the runs of merge_pair.sh are in $OUT).
#   $OUT/<name>_a<alpha>_s<seed>/results.h5    one file per run
#   $OUT/merge_oneshot.png / $OUT/merge.md     figure and report
# usage: pipelines/merge_oneshot.sh [-h|--help] [CONFIG]   (default: configs/cartpole_merge.yaml)
# env:   NP=5 ALPHAS="0.1 1 10" SEEDS="1 2 3" FLEET=build/fleet OUT=results PYTHON=/usr/bin/python3
#        MPIRUN="mpirun ..."   (~40 s per run on 2 cores: the default sweep takes ~6 min)
set -euo pipefail
# shellcheck source=pipelines/lib.sh
. "$(dirname "$0")/lib.sh"
pipeline_init merge_oneshot.sh "$@"
NP=${NP:-5}
ALPHAS=${ALPHAS:-"0.1 1 10"}
SEEDS=${SEEDS:-"1 2 3"}
pipeline_config_arg configs/cartpole_merge.yaml "$@"
pipeline_defaults
run_alphas "$CFG" "$NP"
# the report also takes the mode-connectivity runs of merge_pair.sh when they are there
existing_results "$OUT/cartpole_pair_s*"
args=(--oneshot "${RUN_FILES[@]}" --png-oneshot "$OUT/merge_oneshot.png" --md "$OUT/merge.md")
[ ${#FOUND[@]} -eq 0 ] || args+=(--pair "${FOUND[@]}" --png-pair "$OUT/merge_pair.png")
"$PYTHON" analysis/merge_report.py "${args[@]}"
pipeline_done "$OUT/merge.md" "figure: $OUT/merge_oneshot.png   report: $OUT/merge.md"
