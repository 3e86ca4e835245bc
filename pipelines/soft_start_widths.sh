#!/usr/bin/env bash
# soft_start_widths.sh - per-epoch diagnostics of fleet_merge's soft permutations at several layer
# widths (issue 12 item 7): merge.fm_start_mass sets the share of every row's mass that the starting
# soft permutation puts on the hard assignment, the same at every width. For every WIDTH:EPOCHS pair
# in RUNS, runs CONFIG with policy.width = WIDTH, train.epochs = EPOCHS and merge.methods =
# [average, fleet_merge] (one seed, fleet.alpha of CONFIG) on NP ranks, then prints, per fleet_merge
# epoch, the mean largest entry per unit of P_soft at the first and last soft step (rowmax_first /
# rowmax_last), the hard assignments changed, the mean interpolated BC loss and the BC loss of the
# epoch's reference (results file: /merge/fleet_merge/*, docs/schema.md), plus the balance rates
# (analysis/soft_start_report.py).
#   $OUT/<name>_w<width>_e<epochs>_s<seed>/results.h5   one file per run
# usage: pipelines/soft_start_widths.sh [-h|--help] [CONFIG]   (default: configs/cartpole_merge.yaml)
# env:   RUNS="64:80 512:20" SEED=1 NP=5 START_MASS= (empty: the config's / default 0.31)
#        OUT=results FLEET=build/fleet PYTHON=/usr/bin/python3 MPIRUN="mpirun ..."
#        (on 2 shared cores: width 64 x 80 epochs ~1-2 min, width 512 x 20 epochs ~10 min)
set -euo pipefail
# shellcheck source=pipelines/lib.sh
. "$(dirname "$0")/lib.sh"
pipeline_init soft_start_widths.sh "$@"
RUNS=${RUNS:-"64:80 512:20"}
SEED=${SEED:-1}
NP=${NP:-5}
START_MASS=${START_MASS:-}
pipeline_config_arg configs/cartpole_merge.yaml "$@"
check_ints SEED 0 "$SEED"
extra=()
if [ -n "$START_MASS" ]; then
    [[ "$START_MASS" =~ ^0?[.][0-9]+$ ]] || pipeline_die "START_MASS: '$START_MASS' not in (0, 1)"
    extra=("merge.fm_start_mass=${START_MASS}")
fi
for run in $RUNS; do
    [[ "$run" =~ ^[1-9][0-9]*:[1-9][0-9]*$ ]] || pipeline_die "RUNS: '$run' is not WIDTH:EPOCHS"
done
pipeline_defaults
for run in $RUNS; do
    w=${run%%:*} e=${run##*:}
    run_variant "$CFG" "w${w}_e${e}${START_MASS:+_m$START_MASS}_s${SEED}" "$SEED" "$NP" \
        "policy.width=${w}" "train.epochs=${e}" "merge.methods=[average, fleet_merge]" "${extra[@]}"
done
"$PYTHON" analysis/soft_start_report.py "${RUN_FILES[@]}"
echo "($((SECONDS - PIPELINE_START)) s, ${#RUN_FILES[@]} runs)"
