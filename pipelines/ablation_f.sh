#!/usr/bin/env bash
# ablation_f.sh - Appendix F algorithm ablation on the cart-pole one-shot merge (issue 12 item 8,
# paper Figure 7 e analog). Five robots each clone an RNN from their own Dirichlet task mixture
# (concentration fleet.alpha) from their own initialization; the fleet is merged once by average,
# git_rebasin, sinkhorn_rebasin, sinkhorn_data, fleet_merge and the ablations fleet_merge_soft,
# fleet_merge_simplex, fleet_merge_average (CONFIG's merge.methods), and every merged policy is
# scored next to the trivial answers: robot 0's own policy, the best and the mean local policy,
# and the pooled policy.
# Runs CONFIG for every alpha in ALPHAS (fleet.alpha, set with --set) and every seed in SEEDS on NP
# ranks, then writes the table and the figure:
#   $OUT/<name>_a<alpha>_s<seed>/results.h5     one file per run
#   $OUT/ablation_f.md / $OUT/ablation_f.png    report (method x alpha, mean +- sd over seeds)
# usage: pipelines/ablation_f.sh [-h|--help] [CONFIG]   (default: configs/cartpole_ablation.yaml)
# env:   NP=5 ALPHAS="1 0.1" SEEDS="1 2 3" OUT=results FLEET=build/fleet PYTHON=/usr/bin/python3
#        MPIRUN="mpirun ..."   (about 1-2 min per run on 2 shared cores: the default 6 runs take ~10 min)
set -euo pipefail
# shellcheck source=pipelines/lib.sh
. "$(dirname "$0")/lib.sh"
pipeline_init ablation_f.sh "$@"
NP=${NP:-5}
ALPHAS=${ALPHAS:-"1 0.1"}
SEEDS=${SEEDS:-"1 2 3"}
pipeline_config_arg configs/cartpole_ablation.yaml "$@"
pipeline_defaults
run_alphas "$CFG" "$NP"
"$PYTHON" analysis/ablation_report.py "${RUN_FILES[@]}" --md "$OUT/ablation_f.md" --png "$OUT/ablation_f.png"
pipeline_done "$OUT/ablation_f.md" "figure: $OUT/ablation_f.png   report: $OUT/ablation_f.md"
