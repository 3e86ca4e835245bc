#!/usr/bin/env bash
# merge_cost.sh - one-shot fleet_merge of 5 robots against their local training, CPU seconds per
# robot in one process (bench/bench_merge.c), best of 2 runs; appends a dated table to
# bench/RESULTS.md. usage: bench/merge_cost.sh   (after `make all`; part of `make bench`)
set -euo pipefail
cd "$(dirname "$0")/.."
export OPENBLAS_NUM_THREADS=1
out=bench/RESULTS.md
MERGE=build/bench/bench_merge
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
{
    printf '\n## %s, %s (%s cores), %s: merge cost (bench/merge_cost.sh)\n' "$(date -u +%Y-%m-%dT%H:%MZ)" "$cpu" \
        "$(grep -c ^processor /proc/cpuinfo)" "$(uname -sr)"
    printf '\nOne-shot fleet_merge of 5 robots against their local training (80 epochs, batch 8), CPU seconds per\n'
    printf 'robot in one process with one BLAS thread (bench/bench_merge.c; default merge settings: MergeMany start,\n'
    printf 'E = 3 x T = 100 soft steps on 16 trajectories, tau 0.3, 20 Sinkhorn iterations). MergeMany share = its\n'
    printf 'part of the merge CPU (under MPI it runs one robot at a time). Target: merge <= 1x local training.\n\n'
    printf '| model | local training s/robot | fleet_merge s/robot | merge / local | MergeMany share | target |\n'
    printf '|---|---|---|---|---|---|\n'
} >> "$out"
for spec in "cartpole (a) cart-pole RNN 2 x 64 tanh, 80 trajectories x 150 steps" "mlp (b) MLP 39-512-512-512-4 ReLU, 80 trajectories x 50 steps"; do
    read -r kind label <<<"$spec"
    line=$(for _ in 1 2; do $MERGE "$kind"; done | sort -k4 -g | head -1)
    read -r _ loc mer ratio mm <<<"$line"
    awk -v l="$label" -v a="$loc" -v b="$mer" -v r="$ratio" -v m="$mm" 'BEGIN {
        printf "| %s | %.2f | %.2f | %.2fx | %.0f%% | <= 1x (%s) |\n", l, a, b, r, 100 * m, r <= 1 ? "met" : "MISSED" }' | tee -a "$out"
done

