#!/usr/bin/env bash
# merge_nmodels.sh - number of models (paper Appendix F analog): the one-shot cart-pole merge of
# configs/cartpole_merge.yaml with N robots (MPI ranks) for N in NS at the config's alpha, every
# seed in SEEDS; then a line plot and a table of the merged balance rate and cost vs N per method.
#   $OUT/<name>_n<N>_s<seed>/results.h5, $OUT/merge_nmodels.png, $OUT/merge_nmodels.md
# usage: pipelines/merge_nmodels.sh [-h|--help] [CONFIG]
# env:   NS="2 5 10 20" SEEDS="1 2" FLEET=build/fleet OUT=results PYTHON=/usr/bin/python3 MPIRUN=...
#        (N ranks share the machine's cores: N = 20 takes a few minutes on 2 cores)
set -euo pipefail
# shellcheck source=pipelines/lib.sh
. "$(dirname "$0")/lib.sh"
pipeline_init merge_nmodels.sh "$@"
NS=${NS:-"2 5 10 20"}
SEEDS=${SEEDS:-"1 2"}
pipeline_config_arg configs/cartpole_merge.yaml "$@"
# shellcheck disable=SC2086 # a list
check_ints NS 2 $NS
pipeline_defaults
for n in $NS; do
    run_seeds "$CFG" "n${n}_" "$n" "fleet.robots=${n}"
done
"$PYTHON" analysis/nmodels_report.py "${RUN_FILES[@]}" --png "$OUT/merge_nmodels.png" --md "$OUT/merge_nmodels.md"
pipeline_done "$OUT/merge_nmodels.md" "figure: $OUT/merge_nmodels.png   table: $OUT/merge_nmodels.md"
