#!/usr/bin/env bash
# rounds.sh - iterative merging rounds (issue 5, paper Figure 4 analogs) on cart-pole RNNs.
# Every robot trains fleet.local_epochs (M) epochs on its own data, a fraction
# fleet.participation of the robots is merged with merge.methods (average = FedAvg, or
# fleet_merge), every robot restarts from the merged model; fleet.rounds rounds. Each run's
# `pooled` policy (joint data-parallel training, same total epochs) is the upper bound.
# Three sweeps, each a function selectable by the first argument (default all):
#   epochs         M in MS at a fixed total of TOTAL_EPOCHS epochs (fleet.rounds = TOTAL / M);
#                  the config's alpha and participation, NP robots
#   alpha          fleet.alpha in ALPHAS at M = SWEEP_M (fleet.rounds = TOTAL / M), the config's
#                  participation, NP robots
#   participation  fleet.participation in PARTS with NP_PART robots (fleet.robots and -np), M =
#                  SWEEP_M, the config's alpha
# every one for every method in METHODS and every seed in SEEDS. The config is not rewritten: each
# run overrides fleet.local_epochs, fleet.rounds, fleet.robots, merge.methods, the swept fleet.alpha or
# fleet.participation and the experiment name, seed and output_dir on the command line (fleet run
# --set, pipelines/lib.sh run_variant); what a sweep keeps fixed is the config's own value.
# Stops at the first failed run.
#   $OUT/<name>_m<M>_<method>_s<seed>/results.h5              epochs sweep
#   $OUT/<name>_a<alpha>_<method>_s<seed>/results.h5          alpha sweep
#   $OUT/<name>_n<N>_p<participation>_<method>_s<seed>/results.h5   participation sweep
#   $OUT/rounds_epochs.png, rounds_alpha.png, rounds_participation.png, $OUT/rounds.md
# The report also takes the results of sweeps not run this time when they are in $OUT.
# usage: pipelines/rounds.sh [-h|--help] [epochs|alpha|participation|all] [CONFIG]
#        (default: all, configs/cartpole_rounds.yaml)
# env:   NP=5 NP_PART=8 SEEDS="1 2" METHODS="average fleet_merge" MS="1 5 10 50" TOTAL_EPOCHS=50
#        ALPHAS="0.1 0.5 1 10" PARTS="0.25 0.5 1.0" SWEEP_M=10
#        FLEET=build/fleet OUT=results PYTHON=/usr/bin/python3 MPIRUN="mpirun ..."
# Time on 2 cores (measured 2026-11-25, default seeds): 7-16 s per average run, 10-23 s per
# fleet_merge run, 36 s for fleet_merge at M = 1 (50 rounds), 8 ranks 11-26 s; the sweeps took
# epochs 4.3 min, alpha 2.5 min, participation 3.1 min (all: 10 min, 44 runs). Each run prints
# an estimate before and its time after.
set -euo pipefail
# shellcheck source=pipelines/lib.sh
. "$(dirname "$0")/lib.sh"
pipeline_init rounds.sh "$@"
NP=${NP:-5}
NP_PART=${NP_PART:-8}
SEEDS=${SEEDS:-"1 2"}
METHODS=${METHODS:-"average fleet_merge"}
MS=${MS:-"1 5 10 50"}
TOTAL_EPOCHS=${TOTAL_EPOCHS:-50}
ALPHAS=${ALPHAS:-"0.1 0.5 1 10"}
PARTS=${PARTS:-"0.25 0.5 1.0"}
SWEEP_M=${SWEEP_M:-10}
pipeline_max_args 2 $#
sweep=${1:-all}
cfg=${2:-configs/cartpole_rounds.yaml}
case "$sweep" in
    epochs|alpha|participation|all) ;;
    *) pipeline_die "unknown sweep '$sweep' (epochs, alpha, participation or all)" ;;
esac
# shellcheck disable=SC2086 # lists
{
    check_ints TOTAL_EPOCHS 1 "$TOTAL_EPOCHS"
    check_ints "NP / NP_PART" 1 "$NP" "$NP_PART"
    check_ints "MS / SWEEP_M" 1 $MS $SWEEP_M
    check_numbers ALPHAS $ALPHAS
    check_numbers PARTS $PARTS
    check_ints SEEDS 0 $SEEDS
}
for m in $MS $SWEEP_M; do
    [ $((TOTAL_EPOCHS % m)) -eq 0 ] || pipeline_die "M = $m does not divide TOTAL_EPOCHS = $TOTAL_EPOCHS"
done
[ -n "$METHODS" ] || pipeline_die "METHODS: empty"
for method in $METHODS; do [[ "$method" =~ ^[a-z_]+$ ]] || pipeline_die "METHODS: '$method' is not a method name"; done
pipeline_config "$cfg"
name=$CFG_NAME
pipeline_defaults

# Rough wall time of one run on 2 shared cores, from the timings above: ~7 s of local and pooled
# training and evaluation for 5 robots, plus per round ~0.14 s (average) or ~0.6 s (fleet_merge),
# all scaled with the number of ranks.
estimate() { # method rounds ranks
    awk -v m="$1" -v r="$2" -v n="$3" 'BEGIN { pr = m == "average" ? 0.14 : 0.6;
        printf "%.0f", (7 + pr * r) * (n < 2 ? 2 : n) / 5 }'
}
sweep_estimate() { # label "method rounds ranks" ... (one per run configuration, times the seeds)
    local label=$1 total=0 nseeds nruns spec
    shift
    # shellcheck disable=SC2086 # SEEDS is a list; spec is "method rounds ranks"
    nseeds=$(echo $SEEDS | wc -w)
    nruns=$(( $# * nseeds ))
    for spec in "$@"; do
        # shellcheck disable=SC2086
        total=$((total + $(estimate $spec) * nseeds))
    done
    echo "== sweep $label: $nruns runs, estimated ~$(( (total + 30) / 60 )) min on 2 cores"
}

# run_one TAG RANKS M [KEY=VALUE...]: every method of METHODS and every seed of SEEDS, M local epochs per
# round for TOTAL_EPOCHS in total, on RANKS robots, with the sweep's own overrides.
run_one() {
    local tag=$1 np=$2 m=$3 method seed
    shift 3
    for method in $METHODS; do
        for seed in $SEEDS; do
            echo "-- ${name}_${tag}_${method}_s${seed}: $method, M = $m x $((TOTAL_EPOCHS / m)) rounds," \
                 "$np robots, seed $seed (estimate ~$(estimate "$method" $((TOTAL_EPOCHS / m)) "$np") s)"
            run_variant "$cfg" "${tag}_${method}_s${seed}" "$seed" "$np" "fleet.local_epochs=${m}" \
                "fleet.rounds=$((TOTAL_EPOCHS / m))" "fleet.robots=${np}" "merge.methods=[${method}]" "$@"
        done
    done
}

sweep_epochs() {
    local specs=() m method
    for m in $MS; do for method in $METHODS; do specs+=("$method $((TOTAL_EPOCHS / m)) $NP"); done; done
    sweep_estimate "epochs (M in $MS, total $TOTAL_EPOCHS epochs, $NP robots)" "${specs[@]}"
    for m in $MS; do run_one "m${m}" "$NP" "$m"; done
}

sweep_alpha() {
    local specs=() a method
    for a in $ALPHAS; do for method in $METHODS; do specs+=("$method $((TOTAL_EPOCHS / SWEEP_M)) $NP"); done; done
    sweep_estimate "alpha (alpha in $ALPHAS, M = $SWEEP_M, $NP robots)" "${specs[@]}"
    for a in $ALPHAS; do run_one "a${a}" "$NP" "$SWEEP_M" "fleet.alpha=${a}"; done
}

sweep_participation() {
    local specs=() p method
    for p in $PARTS; do for method in $METHODS; do specs+=("$method $((TOTAL_EPOCHS / SWEEP_M)) $NP_PART"); done; done
    sweep_estimate "participation (in $PARTS, $NP_PART robots, M = $SWEEP_M)" "${specs[@]}"
    for p in $PARTS; do run_one "n${NP_PART}_p${p}" "$NP_PART" "$SWEEP_M" "fleet.participation=${p}"; done
}

case "$sweep" in
    epochs) sweep_epochs ;;
    alpha) sweep_alpha ;;
    participation) sweep_participation ;;
    all) sweep_epochs; sweep_alpha; sweep_participation ;;
esac
ran=${#RUN_FILES[@]}

# the sweeps not run this time enter the report when their results are in $OUT
others=()
[ "$sweep" = all ] || [ "$sweep" = epochs ] || others+=("$OUT/${name}_m[0-9]*_*_s[0-9]*")
[ "$sweep" = all ] || [ "$sweep" = alpha ] || others+=("$OUT/${name}_a[0-9]*_*_s[0-9]*")
[ "$sweep" = all ] || [ "$sweep" = participation ] || others+=("$OUT/${name}_n[0-9]*_p[0-9]*_*_s[0-9]*")
existing_results "${others[@]}"
RUN_FILES+=("${FOUND[@]}")
"$PYTHON" analysis/rounds_report.py "${RUN_FILES[@]}" --png-dir "$OUT" --md "$OUT/rounds.md"
cat "$OUT/rounds.md"
echo "figures: $OUT/rounds_<sweep>.png   report: $OUT/rounds.md   ($((SECONDS - PIPELINE_START)) s, $ran runs" \
     "this time, ${#RUN_FILES[@]} in the report)"
