#!/usr/bin/env bash
# appendix_f.sh - the paper's Appendix F supervised ablations (Figure 7 analogs, issue 16): one-shot
# merges of clients' models, each client holding a Dirichlet(alpha) share of every class (task).
#   alpha     MLP on Fashion-MNIST vs alpha in {0.1, 1, 10}                       (Figure 7 a)
#   cnn       the small CNN on Fashion-MNIST vs alpha (stands in for CIFAR-10)   (Figure 7 b-c)
#   nmodels   MLP vs the number of clients N in {2, 5, 10, 20}                   (Figure 7 d)
#   ablation  fleet_merge against its ablations _soft, _simplex, _average and sinkhorn_data (Figure 7 e)
#   rnn       next-character RNN on the King James Bible vs N in {2, 5, 10, 20}  (Figure 7 f)
#   barrier   two MLPs of one dataset from independent inits: loss / accuracy barrier before and
#             after alignment (the literature's anchor)
# Every point runs for every seed in SEEDS on its N ranks; then analysis/appendix_f_report.py writes
#   $OUT/appendix_f.md and $OUT/appendix_f.png   (results files: $OUT/<config>_<panel>_<point>_s<seed>/)
# SIZE=quick (default) takes about 21 minutes on 2 cores (measured): 6,000 images, MLP 784-256-256-10,
# 3 epochs; RNN 2x128 on 3,000 windows. SIZE=full uses the configs' own sizes (20,000 images,
# 784-512-512-10, 5 epochs; 10,000 windows, 10 epochs), several hours on 2 cores.
# The corpus for the RNN is written once by Debian's bible-kjv: bible -f Gen1:1-Rev22:21.
# usage: pipelines/appendix_f.sh [-h|--help] [PANEL...]   (default: all panels)
# env:   SEEDS="1 2 3" SIZE=quick|full OUT=results FLEET=build/fleet PYTHON=/usr/bin/python3 MPIRUN="mpirun ..."
set -euo pipefail
# shellcheck source=pipelines/lib.sh
. "$(dirname "$0")/lib.sh"
pipeline_init appendix_f.sh "$@"
SEEDS=${SEEDS:-"1 2 3"}
SIZE=${SIZE:-quick}
pipeline_defaults
panels=("$@")
[ ${#panels[@]} -gt 0 ] || panels=(alpha cnn nmodels ablation rnn barrier)
for p in "${panels[@]}"; do
    case $p in alpha|cnn|nmodels|ablation|rnn|barrier) ;;
    *) pipeline_die "unknown panel '$p' (alpha, cnn, nmodels, ablation, rnn, barrier)" ;;
    esac
done
# shellcheck disable=SC2086 # a list of seeds
check_ints SEEDS 0 $SEEDS
case $SIZE in
quick)
    mlp=(env.sv_train=6000 policy.width=256 train.epochs=3 eval.rollouts=100)
    cnn=(env.sv_train=6000 train.epochs=3 eval.rollouts=100)
    rnn=(env.sv_train=3000 train.epochs=6 eval.rollouts=60) ;;
full)
    mlp=(env.sv_train=20000 policy.width=512 train.epochs=5 eval.rollouts=200)
    cnn=()
    rnn=() ;;
*) pipeline_die "SIZE: '$SIZE' is not quick or full" ;;
esac
MLP=configs/fmnist_mlp.yaml CNN=configs/fmnist_cnn.yaml RNN=configs/kjv_rnn.yaml
ABLATION="merge.methods=[average, git_rebasin, sinkhorn_data, fleet_merge, fleet_merge_soft, fleet_merge_simplex, fleet_merge_average]"
pipeline_tmp

corpus() { # the King James Bible as `bible -f` prints it, written once
    KJV="$OUT/data/kjv.txt"
    [ -s "$KJV" ] && return
    command -v bible >/dev/null || pipeline_die "the rnn panel needs bible-kjv (make deps)"
    mkdir -p "$OUT/data"
    bible -f Gen1:1-Rev22:21 > "$KJV.tmp"
    mv "$KJV.tmp" "$KJV"
}

for panel in "${panels[@]}"; do
    for seed in $SEEDS; do
        case $panel in
        alpha)
            for a in 0.1 1 10; do
                run_variant "$MLP" "alpha_a${a}_s${seed}" "$seed" 5 "fleet.alpha=$a" "${mlp[@]}"
            done ;;
        cnn)
            [ -f "$CNN" ] || pipeline_die "$CNN: no such config"
            for a in 0.1 1 10; do
                run_variant "$CNN" "alpha_a${a}_s${seed}" "$seed" 5 "fleet.alpha=$a" "${cnn[@]}"
            done ;;
        nmodels)
            for n in 2 5 10 20; do
                run_variant "$MLP" "nmodels_n${n}_s${seed}" "$seed" "$n" "fleet.robots=$n" "${mlp[@]}"
            done ;;
        ablation)
            run_variant "$MLP" "ablation_s${seed}" "$seed" 5 "$ABLATION" "${mlp[@]}" ;;
        rnn)
            corpus
            for n in 2 5 10 20; do
                run_variant "$RNN" "nmodels_n${n}_s${seed}" "$seed" "$n" "fleet.robots=$n" \
                    "env.sv_data=$(yaml_quote "$KJV")" "${rnn[@]}"
            done ;;
        barrier)
            run_variant "$MLP" "barrier_s${seed}" "$seed" 2 fleet.robots=2 fleet.shared_data=true \
                eval.barrier_points=11 "merge.methods=[average, git_rebasin, fleet_merge]" "${mlp[@]}" ;;
        esac
    done
done
"$PYTHON" analysis/appendix_f_report.py "${RUN_FILES[@]}" --md "$OUT/appendix_f.md" --png "$OUT/appendix_f.png"
pipeline_done "$OUT/appendix_f.md" "figure: $OUT/appendix_f.png   report: $OUT/appendix_f.md"
