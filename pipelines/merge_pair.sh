#!/usr/bin/env bash
# merge_pair.sh - mode connectivity of two cart-pole RNN policies (issue 4, paper Fig. 3 a/b analog).
# Two robots clone an RNN from the SAME demonstrations from different initializations; every run
# stores the BC loss, balance rate and cost along the straight line between robot 0 and robot 1,
# plainly (average) and after each alignment method (/barrier/<method>/..., docs/schema.md).
# Target under test: the barrier after fleet_merge is <= 10% of the plain-interpolation barrier
# (BC loss and balance rate). Runs CONFIG for SEEDS seeds on NP ranks, then draws the figure and
# writes the Markdown report (merge_oneshot.sh adds the one-shot part to the same report).
#   $OUT/<name>_s<seed>/results.h5          one file per run
#   $OUT/merge_pair.png / $OUT/merge.md     figure and report
# usage: pipelines/merge_pair.sh [-h|--help] [CONFIG]    (default: configs/cartpole_pair.yaml, fleet.robots: 2)
# env:   NP=2 SEEDS="1 2 3" FLEET=build/fleet OUT=results PYTHON=/usr/bin/python3 MPIRUN="mpirun ..."
set -euo pipefail
# shellcheck source=pipelines/lib.sh
. "$(dirname "$0")/lib.sh"
pipeline_init merge_pair.sh "$@"
NP=${NP:-2}
SEEDS=${SEEDS:-"1 2 3"}
pipeline_config_arg configs/cartpole_pair.yaml "$@"
pipeline_defaults
run_seeds "$CFG" "" "$NP"
# the report also takes the one-shot runs of merge_oneshot.sh when they are there (default names)
existing_results "$OUT/cartpole_merge_a*_s*"
args=(--pair "${RUN_FILES[@]}" --png-pair "$OUT/merge_pair.png" --md "$OUT/merge.md")
[ ${#FOUND[@]} -eq 0 ] || args+=(--oneshot "${FOUND[@]}" --png-oneshot "$OUT/merge_oneshot.png")
"$PYTHON" analysis/merge_report.py "${args[@]}"
pipeline_done "$OUT/merge.md" "figure: $OUT/merge_pair.png   report: $OUT/merge.md"
