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
# run overrides fleet.local_epochs, fleet.rounds, fleet.alpha, fleet.participation, fleet.robots,
# merge.methods and the experiment name, seed and output_dir on the command line (fleet run --set).
# Stops at the first failed run.
#   $OUT/<name>_m<M>_<method>_s<seed>/results.h5              epochs sweep
#   $OUT/<name>_a<alpha>_<method>_s<seed>/results.h5          alpha sweep
#   $OUT/<name>_n<N>_p<participation>_<method>_s<seed>/results.h5   participation sweep
#   $OUT/rounds_epochs.png, rounds_alpha.png, rounds_participation.png, $OUT/rounds.md
# The report also takes the results of sweeps not run this time when they are in $OUT.
# usage: pipelines/rounds.sh [epochs|alpha|participation|all] [CONFIG]
#        (default: all, configs/cartpole_rounds.yaml)
# env:   NP=5 NP_PART=8 SEEDS="1 2" METHODS="average fleet_merge" MS="1 5 10 50" TOTAL_EPOCHS=50
#        ALPHAS="0.1 0.5 1 10" PARTS="0.25 0.5 1.0" SWEEP_M=10
#        FLEET=build/fleet OUT=results PYTHON=/usr/bin/python3 MPIRUN="mpirun ..."
# Time on 2 cores (measured 2026-11-25, default seeds): 7-16 s per average run, 10-23 s per
# fleet_merge run, 36 s for fleet_merge at M = 1 (50 rounds), 8 ranks 11-26 s; the sweeps took
# epochs 4.3 min, alpha 2.5 min, participation 3.1 min (all: 10 min, 44 runs). Each run prints
# an estimate before and its time after.
set -euo pipefail
cd "$(dirname "$0")/.."
NP=${NP:-5}
NP_PART=${NP_PART:-8}
SEEDS=${SEEDS:-"1 2"}
METHODS=${METHODS:-"average fleet_merge"}
MS=${MS:-"1 5 10 50"}
TOTAL_EPOCHS=${TOTAL_EPOCHS:-50}
ALPHAS=${ALPHAS:-"0.1 0.5 1 10"}
PARTS=${PARTS:-"0.25 0.5 1.0"}
SWEEP_M=${SWEEP_M:-10}
FLEET=${FLEET:-build/fleet}
OUT=${OUT:-results}
PYTHON=${PYTHON:-/usr/bin/python3}
MPIRUN=${MPIRUN:-mpirun --allow-run-as-root --oversubscribe}
export OPENBLAS_NUM_THREADS=1
die() { echo "rounds.sh: $*" >&2; exit 2; }
sweep=${1:-all}
cfg=${2:-configs/cartpole_rounds.yaml}
[ $# -le 2 ] || die "usage: pipelines/rounds.sh [epochs|alpha|participation|all] [CONFIG]"
case "$sweep" in
    epochs|alpha|participation|all) ;;
    *) die "unknown sweep '$sweep' (epochs, alpha, participation or all)" ;;
esac
[ -x "$FLEET" ] || die "$FLEET not found (run make first)"
[ -f "$cfg" ] || die "$cfg: no such config"
name=$(sed -n 's/^  name: *"\{0,1\}\([A-Za-z0-9._-]*\).*/\1/p' "$cfg" | head -1)
[ -n "$name" ] || die "$cfg: no experiment.name"
for key in alpha participation; do # the values a sweep keeps fixed are read from the file
    [ "$(grep -c "^  $key: " "$cfg")" -eq 1 ] || die "$cfg: needs exactly one '  $key:' line"
done
# the config's own values of the keys a sweep keeps fixed
cfg_value() { sed -n "s/^  $1: *\([0-9.eE+-]*\).*/\1/p" "$cfg" | head -1; }
ALPHA0=$(cfg_value alpha)
PART0=$(cfg_value participation)
is_num() { [[ "$1" =~ ^[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?$ ]]; }
is_num "$ALPHA0" || die "$cfg: fleet.alpha '$ALPHA0' is not a plain number"
is_num "$PART0" || die "$cfg: fleet.participation '$PART0' is not a plain number"
[[ "$TOTAL_EPOCHS" =~ ^[1-9][0-9]*$ ]] || die "TOTAL_EPOCHS: '$TOTAL_EPOCHS' is not a positive integer"
for n in "$NP" "$NP_PART"; do [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "NP / NP_PART: '$n' is not a positive integer"; done
for m in $MS $SWEEP_M; do
    [[ "$m" =~ ^[1-9][0-9]*$ ]] || die "MS / SWEEP_M: '$m' is not a positive integer"
    [ $((TOTAL_EPOCHS % m)) -eq 0 ] || die "M = $m does not divide TOTAL_EPOCHS = $TOTAL_EPOCHS"
done
for a in $ALPHAS; do is_num "$a" || die "ALPHAS: '$a' is not a number"; done
for p in $PARTS; do is_num "$p" || die "PARTS: '$p' is not a number"; done
for method in $METHODS; do [[ "$method" =~ ^[a-z_]+$ ]] || die "METHODS: '$method' is not a method name"; done
[ -n "$SEEDS" ] && [ -n "$METHODS" ] || die "SEEDS and METHODS must not be empty"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
files=()
start=$SECONDS

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
    nseeds=$(echo $SEEDS | wc -w)
    nruns=$(( $# * nseeds ))
    for spec in "$@"; do
        total=$((total + $(estimate $spec) * nseeds))
    done
    echo "== sweep $label: $nruns runs, estimated ~$(( (total + 30) / 60 )) min on 2 cores"
}

# run_one TAG RANKS M ALPHA PARTICIPATION METHOD SEED
run_one() {
    local tag="$1_$6_s$7" np=$2 m=$3 alpha=$4 part=$5 method=$6 seed=$7
    local rounds=$((TOTAL_EPOCHS / m)) status=0 t0=$SECONDS
    # the same config with these keys overridden on the command line (fleet run --set; recorded in
    # the results' /config, the file is not rewritten)
    local sets=(--set "fleet.local_epochs=${m}" --set "fleet.rounds=${rounds}" --set "fleet.alpha=${alpha}"
                --set "fleet.participation=${part}" --set "fleet.robots=${np}" --set "merge.methods=[${method}]"
                --set "experiment.name=${name}_${tag}" --set "experiment.seed=${seed}"
                --set "experiment.output_dir='${OUT//\'/\'\'}'")
    echo "== ${name}_${tag}: $method, M = $m x $rounds rounds, alpha $alpha, participation $part," \
         "$np robots, seed $seed (estimate ~$(estimate "$method" "$rounds" "$np") s)"
    $MPIRUN -np "$np" "$FLEET" run "$cfg" "${sets[@]}" --force --quiet > "$tmp/log" 2>&1 || status=$?
    if [ "$status" -ne 0 ]; then
        cat "$tmp/log" >&2
        echo "rounds.sh: ${name}_${tag}: fleet run failed (exit $status)" >&2
        exit "$status"
    fi
    grep -v '^results:' "$tmp/log" || true
    test -f "$OUT/${name}_${tag}/results.h5"
    files+=("$OUT/${name}_${tag}/results.h5")
    echo "   ($((SECONDS - t0)) s)"
}

sweep_epochs() {
    local specs=() m method seed
    for m in $MS; do for method in $METHODS; do specs+=("$method $((TOTAL_EPOCHS / m)) $NP"); done; done
    sweep_estimate "epochs (M in $MS, total $TOTAL_EPOCHS epochs, $NP robots)" "${specs[@]}"
    for m in $MS; do
        for method in $METHODS; do
            for seed in $SEEDS; do run_one "m${m}" "$NP" "$m" "$ALPHA0" "$PART0" "$method" "$seed"; done
        done
    done
}

sweep_alpha() {
    local specs=() a method seed
    for a in $ALPHAS; do for method in $METHODS; do specs+=("$method $((TOTAL_EPOCHS / SWEEP_M)) $NP"); done; done
    sweep_estimate "alpha (alpha in $ALPHAS, M = $SWEEP_M, $NP robots)" "${specs[@]}"
    for a in $ALPHAS; do
        for method in $METHODS; do
            for seed in $SEEDS; do run_one "a${a}" "$NP" "$SWEEP_M" "$a" "$PART0" "$method" "$seed"; done
        done
    done
}

sweep_participation() {
    local specs=() p method seed
    for p in $PARTS; do for method in $METHODS; do specs+=("$method $((TOTAL_EPOCHS / SWEEP_M)) $NP_PART"); done; done
    sweep_estimate "participation (in $PARTS, $NP_PART robots, M = $SWEEP_M)" "${specs[@]}"
    for p in $PARTS; do
        for method in $METHODS; do
            for seed in $SEEDS; do run_one "n${NP_PART}_p${p}" "$NP_PART" "$SWEEP_M" "$ALPHA0" "$p" "$method" "$seed"; done
        done
    done
}

case "$sweep" in
    epochs) sweep_epochs ;;
    alpha) sweep_alpha ;;
    participation) sweep_participation ;;
    all) sweep_epochs; sweep_alpha; sweep_participation ;;
esac
ran=${#files[@]}

# the sweeps not run this time enter the report when their results are in $OUT
add_existing() { # glob pattern of run directories
    local f
    for f in $1/results.h5; do
        if [ -f "$f" ]; then files+=("$f"); fi
    done
    return 0
}
[ "$sweep" = all ] || [ "$sweep" = epochs ] || add_existing "$OUT/${name}_m[0-9]*_*_s[0-9]*"
[ "$sweep" = all ] || [ "$sweep" = alpha ] || add_existing "$OUT/${name}_a[0-9]*_*_s[0-9]*"
[ "$sweep" = all ] || [ "$sweep" = participation ] || add_existing "$OUT/${name}_n[0-9]*_p[0-9]*_*_s[0-9]*"
"$PYTHON" analysis/rounds_report.py "${files[@]}" --png-dir "$OUT" --md "$OUT/rounds.md"
cat "$OUT/rounds.md"
echo "figures: $OUT/rounds_<sweep>.png   report: $OUT/rounds.md   ($((SECONDS - start)) s, $ran runs" \
     "this time, ${#files[@]} in the report)"
