#!/usr/bin/env bash
# tooluse.sh - the tool-use benchmark (issues 7 and 13, paper Sec. 4 analog in MuJoCo,
# docs/tooluse.md): 4 tool families (hammer, wrench, spatula, knife) x instances, NP robots. The
# default configs observe keypoints (configs/tooluse_kp*.yaml); ONESHOT_CONFIG=configs/tooluse.yaml
# and ROUNDS_CONFIG=configs/tooluse_rounds.yaml run the point-cloud variant.
#   oneshot  ONESHOT_CONFIG for every alpha in ALPHAS and seed in SEEDS: every robot clones its own
#            policy on its Dirichlet(alpha) mixture, the fleet is merged once by every method of
#            merge.methods, next to pooled (= joint training, the upper bound), task-specific
#            policies, the robots' own policies (local) and the expert, with each robot's held-out
#            BC loss and the warm start (fine-tuning every merge and a fresh policy on a small
#            held-out set: paper Figure 3 c, d);
#   barrier  BARRIER_CONFIG (every robot clones robot 0's data) for every seed: loss and success
#            barriers between two policies of one dataset, plain and aligned (Figure 3 a);
#   wide     WIDE_CONFIG (all 16 tasks) for every seed at alpha 1;
#   rounds   ROUNDS_CONFIG at alpha ROUNDS_ALPHA for every M (fleet.local_epochs) in MS with
#            fleet.rounds = total / M (total = its rounds x local_epochs, or EPOCHS), for every
#            method in ROUND_METHODS (fleet_merge, and average = FedAvg) and seed in SEEDS (Figure 4 a);
# (default: all of them), then analysis/tooluse_report.py writes the report and the figure (with the
# runs of the parts not run this time when they are in $OUT).
#   $OUT/<name>_a<alpha>_s<seed>/results.h5                  one-shot, barrier and wide runs
#   $OUT/<name>_shared_a<alpha>_s<seed>/results.h5           the same with SHARED_INIT=1
#   $OUT/<name>_m<M>_<method>_s<seed>/results.h5             iterative runs
#   $OUT/tooluse.md, $OUT/tooluse.png                        report and figure
# The configs are not rewritten: each run gets command-line overrides (fleet run --set) of
# fleet.alpha, fleet.robots (= NP), for the rounds fleet.local_epochs, fleet.rounds, merge.methods,
# train.epochs, fleet.shared_init with SHARED_INIT=1, the experiment name, seed and output_dir, plus
# the quick-mode overrides below. Stops at the first failed run; each run prints its summary and its time.
#   expert   build/bench/bench_tooluse: the expert's success per family over SCENES (100) random scenes
#            per task -> $OUT/tooluse_expert.md (exit 3 of the benchmark = the 90% target is missed)
# usage: pipelines/tooluse.sh [expert|oneshot|barrier|wide|rounds|all]      (-h, --help: this text)
# env:   NP=5 ALPHAS="0.1 1 10" SEEDS="1 2 3" MS="1 5 10 20" ROUND_METHODS="fleet_merge average"
#        SHARED_INIT=0 (1: the one-shot, barrier and wide runs start every robot from one
#        initialization, fleet.shared_init; their names get "_shared")
#        ROUNDS_ALPHA=1 ONESHOT_CONFIG=configs/tooluse_kp.yaml ROUNDS_CONFIG=configs/tooluse_kp_rounds.yaml
#        BARRIER_CONFIG=configs/tooluse_kp_barrier.yaml WIDE_CONFIG=configs/tooluse_kp16.yaml
#        FLEET=build/fleet OUT=results PYTHON=/usr/bin/python3 MPIRUN="mpirun ..."
# quick mode (each set variable replaces the config line, in every config):
#        DEMOS   fleet.demos_per_robot     EPOCHS    train.epochs; the rounds' total (M must divide it)
#        POINTS  env.tu_points (even)      ROLLOUTS  eval.rollouts
#        TASKS   env.num_tasks
#        QUICK=1 presets NP=2 DEMOS=4 EPOCHS=2 POINTS=32 ROLLOUTS=1 TASKS=4 MS="1 2" SEEDS="1 2" and
#        OUT=results/quick (each still overridable) and sets eval.finetune_epochs to 2: a smoke test
#        of the whole pipeline on 2 cores.
# Time on 2 cores (measured 2026-12-07, NP=5, keypoints): a one-shot run of configs/tooluse_kp.yaml
# ~1.5-2 min (evaluation ~45 s, demonstrations ~10 s), a barrier run ~4 min, a 16-task run ~4 min,
# a rounds run 1-4 min (fleet_merge at M = 1: 60 merges of ~3.6 s): about 75 min for everything.
# The point-cloud configs are ~5-20x slower (2026-11-25: ~7 min per one-shot run).
# Note: the demonstrations fail ("the expert failed 10 scenes in a row") when a robot's expert keeps
# failing one task; the spatula expert is the weakest. A failed run stops the pipeline with its error.
set -euo pipefail
case "${1:-}" in
    -h|--help)
        sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
        exit 0 ;;
esac
cd "$(dirname "$0")/.."
die() { echo "tooluse.sh: $*" >&2; exit 2; }
if [ "${QUICK:-0}" = 1 ]; then
    NP=${NP:-2} DEMOS=${DEMOS:-4} EPOCHS=${EPOCHS:-2} POINTS=${POINTS:-32} ROLLOUTS=${ROLLOUTS:-1}
    TASKS=${TASKS:-4} MS=${MS:-"1 2"} SEEDS=${SEEDS:-"1 2"} OUT=${OUT:-results/quick}
fi
NP=${NP:-5}
ALPHAS=${ALPHAS:-"0.1 1 10"}
SEEDS=${SEEDS:-"1 2 3"}
MS=${MS:-"1 5 10 20"}
ROUND_METHODS=${ROUND_METHODS:-"fleet_merge average"}
ROUNDS_ALPHA=${ROUNDS_ALPHA:-1}
ONESHOT_CONFIG=${ONESHOT_CONFIG:-configs/tooluse_kp.yaml}
ROUNDS_CONFIG=${ROUNDS_CONFIG:-configs/tooluse_kp_rounds.yaml}
BARRIER_CONFIG=${BARRIER_CONFIG:-configs/tooluse_kp_barrier.yaml}
WIDE_CONFIG=${WIDE_CONFIG:-configs/tooluse_kp16.yaml}
SHARED_INIT=${SHARED_INIT:-0}
DEMOS=${DEMOS:-} EPOCHS=${EPOCHS:-} POINTS=${POINTS:-} ROLLOUTS=${ROLLOUTS:-} TASKS=${TASKS:-}
FLEET=${FLEET:-build/fleet}
OUT=${OUT:-results}
PYTHON=${PYTHON:-/usr/bin/python3}
MPIRUN=${MPIRUN:-mpirun --allow-run-as-root --oversubscribe}
export OPENBLAS_NUM_THREADS=1
part=${1:-all}
[ $# -le 1 ] || die "usage: pipelines/tooluse.sh [expert|oneshot|barrier|wide|rounds|all]"
case "$part" in
    expert|oneshot|barrier|wide|rounds|all) ;;
    *) die "unknown part '$part' (expert, oneshot, barrier, wide, rounds or all; -h for help)" ;;
esac
BENCH=${BENCH:-build/bench/bench_tooluse}
SCENES=${SCENES:-100}
# expert: the keypoint expert's success per family over SCENES random scenes per task
if [ "$part" = expert ] || [ "$part" = all ]; then
    [ -x "$BENCH" ] || make -s "$BENCH" || die "cannot build $BENCH"
    [[ "$SCENES" =~ ^[1-9][0-9]*$ ]] || die "SCENES: '$SCENES' is not a positive integer"
    mkdir -p "$OUT"
    echo "== expert: $SCENES scenes per task, 4 families x 4 instances"
    status=0
    "$BENCH" --scenes "$SCENES" --md "$OUT/tooluse_expert.md" || status=$?
    [ "$status" -eq 0 ] || [ "$status" -eq 3 ] || die "$BENCH failed (exit $status)"
    cat "$OUT/tooluse_expert.md"
    [ "$part" = all ] || exit 0
fi
[ -x "$FLEET" ] || die "$FLEET not found (run make first)"

is_num() { [[ "$1" =~ ^[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?$ ]]; }
is_int() { [[ "$1" =~ ^[1-9][0-9]*$ ]]; }
is_int "$NP" || die "NP: '$NP' is not a positive integer"
for a in $ALPHAS $ROUNDS_ALPHA; do is_num "$a" || die "ALPHAS / ROUNDS_ALPHA: '$a' is not a number"; done
for s in $SEEDS; do [[ "$s" =~ ^[0-9]+$ ]] || die "SEEDS: '$s' is not a non-negative integer"; done
for m in $ROUND_METHODS; do [[ "$m" =~ ^[a-z_]+$ ]] || die "ROUND_METHODS: '$m' is not a method name"; done
for v in DEMOS EPOCHS POINTS ROLLOUTS TASKS; do
    [ -z "${!v}" ] || is_int "${!v}" || die "$v: '${!v}' is not a positive integer"
done
[ -z "$POINTS" ] || [ $((POINTS % 2)) -eq 0 ] || die "POINTS: '$POINTS' is odd (half tool, half object points)"
[ -n "$SEEDS" ] || die "SEEDS must not be empty"
[ "$SHARED_INIT" = 0 ] || [ "$SHARED_INIT" = 1 ] || die "SHARED_INIT: '$SHARED_INIT' is not 0 or 1"

# the config lines a pipeline run replaces must be there exactly once
need_keys() { # CONFIG KEY...
    local cfg=$1 key
    shift
    [ -f "$cfg" ] || die "$cfg: no such config"
    for key in "$@"; do
        [ "$(grep -c "^  $key: " "$cfg")" -eq 1 ] || die "$cfg: needs exactly one '  $key:' line"
    done
}
cfg_value() { sed -n "s/^  $2: *\([0-9.eE+-]*\).*/\1/p" "$1" | head -1; } # CONFIG KEY
# the quick-mode overrides as fleet run --set values (EPOCHS: train.epochs; the rounds set their own)
overrides=()
[ -z "$DEMOS" ] || overrides+=("fleet.demos_per_robot=${DEMOS}")
[ -z "$POINTS" ] || overrides+=("env.tu_points=${POINTS}")
[ -z "$ROLLOUTS" ] || overrides+=("eval.rollouts=${ROLLOUTS}")
[ -z "$TASKS" ] || overrides+=("env.num_tasks=${TASKS}")
overrides+=("fleet.robots=${NP}")
# quick mode also shortens the warm start's fine-tuning
[ "${QUICK:-0}" != 1 ] || overrides+=("eval.finetune_epochs=2")

for p in oneshot barrier wide; do
    cfgvar=${p^^}_CONFIG
    if [ "$part" = "$p" ] || [ "$part" = all ]; then
        [ -f "${!cfgvar}" ] || die "${!cfgvar}: no such config"
    fi
done
if [ "$part" = rounds ] || [ "$part" = all ]; then
    need_keys "$ROUNDS_CONFIG" rounds local_epochs # their product is the epochs every M divides
    r0=$(cfg_value "$ROUNDS_CONFIG" rounds) m0=$(cfg_value "$ROUNDS_CONFIG" local_epochs)
    if ! is_int "$r0" || ! is_int "$m0"; then
        die "$ROUNDS_CONFIG: fleet.rounds '$r0' / local_epochs '$m0' are not positive integers"
    fi
    TOTAL=${EPOCHS:-$((r0 * m0))}
    [ -n "$MS" ] || die "MS must not be empty"
    [ -n "$ROUND_METHODS" ] || die "ROUND_METHODS must not be empty"
    for m in $MS; do
        is_int "$m" || die "MS: '$m' is not a positive integer"
        [ $((TOTAL % m)) -eq 0 ] || die "MS: M = $m does not divide the total of $TOTAL epochs (set MS or EPOCHS)"
    done
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck disable=SC2034 # read by lib.sh
PIPELINE=tooluse.sh PIPELINE_TMP=$tmp
# shellcheck source=pipelines/lib.sh
. pipelines/lib.sh
files=()
start=$SECONDS
nruns=0
quick=""
[ -z "$DEMOS$EPOCHS$POINTS$ROLLOUTS$TASKS" ] ||
    quick=" (overrides:${DEMOS:+ demos_per_robot $DEMOS}${EPOCHS:+ epochs $EPOCHS}${POINTS:+ tu_points $POINTS}${ROLLOUTS:+ rollouts $ROLLOUTS}${TASKS:+ num_tasks $TASKS})"

oneshot() { # CONFIG ALPHAS: one-shot runs of CONFIG at every alpha and seed
    local cfg=$1 alphas=$2 alpha seed epochs=() init=() tag=""
    [ -z "$EPOCHS" ] || epochs=("train.epochs=${EPOCHS}")
    if [ "$SHARED_INIT" = 1 ]; then # fleet.shared_init: one initialization for every robot
        init=("fleet.shared_init=true") tag=shared_
    fi
    echo "== one-shot: $cfg, alpha in $alphas, seeds $SEEDS, $NP robots$quick${tag:+, shared initialization}"
    for alpha in $alphas; do
        for seed in $SEEDS; do
            run_variant "$cfg" "${tag}a${alpha}_s${seed}" "$seed" "$NP" "${overrides[@]}" "${epochs[@]}" "${init[@]}" \
                "fleet.alpha=${alpha}"
            files+=("$RUN_RESULT")
            nruns=$((nruns + 1))
        done
    done
}

iterative() {
    local m method seed rounds
    echo "== iterative: $ROUNDS_CONFIG, M in $MS ($TOTAL epochs in total), methods $ROUND_METHODS," \
         "alpha $ROUNDS_ALPHA, seeds $SEEDS, $NP robots$quick"
    for m in $MS; do
        rounds=$((TOTAL / m))
        for method in $ROUND_METHODS; do
            for seed in $SEEDS; do
                run_variant "$ROUNDS_CONFIG" "m${m}_${method}_s${seed}" "$seed" "$NP" "${overrides[@]}" \
                    "fleet.local_epochs=${m}" "fleet.rounds=${rounds}" "merge.methods=[${method}]" \
                    "fleet.alpha=${ROUNDS_ALPHA}" "train.epochs=${TOTAL}"
                files+=("$RUN_RESULT")
                nruns=$((nruns + 1))
            done
        done
    done
}

# the part not run this time enters the report when its results are in $OUT
add_existing() { # CONFIG GLOB-SUFFIX
    local name f
    name=$(config_name "$1")
    for f in "$OUT/${name}"$2/results.h5; do
        if [ -f "$f" ]; then files+=("$f"); fi
    done
    return 0
}

# one-shot parts: run now (in the initialization SHARED_INIT selects), or take what is in $OUT;
# the runs of the other initialization enter the report when they are there
other=_shared_
[ "$SHARED_INIT" = 0 ] || other=_
for p in oneshot barrier wide; do
    case $p in
        oneshot) cfg=$ONESHOT_CONFIG alphas=$ALPHAS ;;
        barrier) cfg=$BARRIER_CONFIG alphas=1 ;;
        wide) cfg=$WIDE_CONFIG alphas=1 ;;
    esac
    if [ "$part" = "$p" ] || [ "$part" = all ]; then
        oneshot "$cfg" "$alphas"
        add_existing "$cfg" "${other}a[0-9]*_s[0-9]*"
    else
        add_existing "$cfg" "_a[0-9]*_s[0-9]*"
        add_existing "$cfg" "_shared_a[0-9]*_s[0-9]*"
    fi
done
case "$part" in
    rounds|all) iterative ;;
    *) add_existing "$ROUNDS_CONFIG" "_m[0-9]*_*_s[0-9]*" ;;
esac
"$PYTHON" analysis/tooluse_report.py "${files[@]}" --md "$OUT/tooluse.md" --png "$OUT/tooluse.png"
cat "$OUT/tooluse.md"
echo "figure: $OUT/tooluse.png   report: $OUT/tooluse.md   ($((SECONDS - start)) s, $nruns runs this time," \
     "${#files[@]} in the report)"
