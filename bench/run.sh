#!/usr/bin/env bash
# run.sh - benchmarks, each measured side by side with its reference in one run; appends
# a dated section to bench/RESULTS.md. usage: bench/run.sh   (after `make all`)
set -euo pipefail
cd "$(dirname "$0")/.."
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
BIN=build/bench/bench_linbc
PYTHON=${PYTHON:-/usr/bin/python3}
out=bench/RESULTS.md
[ -f "$out" ] || printf '# Benchmark results\n\nAppended by `make bench` (bench/run.sh); one section per run.\n' > "$out"
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
{
    printf '\n## %s, %s (%s cores), %s\n\n' "$(date -u +%Y-%m-%dT%H:%MZ)" "$cpu" "$(grep -c ^processor /proc/cpuinfo)" "$(uname -sr)"
    printf 'Dynamic linear policy, BC loss + BPTT gradient (Algorithm 2 inner loop), one thread each\n'
    printf '(OPENBLAS_NUM_THREADS=1). Throughput in trajectory steps per second, best of 3.\n\n'
    printf '| k | p | m | trajectories | T | fleetmerge C | NumPy reference | speedup |\n|---|---|---|---|---|---|---|---|\n'
} >> "$out"
best() { # best of 3 runs of a command printing "... steps_per_second" as 8th field
    local b=0 v
    for _ in 1 2 3; do
        v=$("$@" | awk '{print $8}')
        b=$(awk -v a="$b" -v c="$v" 'BEGIN{print (c > a) ? c : a}')
    done
    echo "$b"
}
for shape in "4 50 2 64 100 20" "32 50 2 64 100 10" "64 256 8 32 200 3"; do
    c=$(best $BIN $shape)
    r=$(best "$PYTHON" bench/ref_linbc.py $shape)
    read -r k p m n T _ <<<"$shape"
    s=$(awk -v a="$c" -v b="$r" 'BEGIN{printf "%.1fx", a / b}')
    printf '| %s | %s | %s | %s | %s | %.3g | %.3g | %s |\n' "$k" "$p" "$m" "$n" "$T" "$c" "$r" "$s" | tee -a "$out"
done

# Neural policy training (issue 3): fleetmerge C vs PyTorch, single process, one thread each.
NN=build/bench/bench_nn
TORCH_OK=1
"$PYTHON" -c "import torch" 2>/dev/null || TORCH_OK=0
peak=$($NN peak | awk '{print $3}')
{
    printf '\nNeural policy training, one process and one thread each (OPENBLAS_NUM_THREADS=1,\n'
    printf 'torch.set_num_threads(1)); samples/s = rows per second (MLP: batch rows; RNN: time steps),\n'
    printf 'best of 3. Measured single-thread sgemm peak (1024^3): %s GFLOP/s.\n\n' "$peak"
    printf '| model | fleetmerge samples/s | GFLOP/s (%% of peak) | peak RSS MiB | PyTorch samples/s | PyTorch peak RSS MiB | ratio | target |\n'
    printf '|---|---|---|---|---|---|---|---|\n'
} >> "$out"
best_line() { # best of 3 by the 2nd field; prints the whole line
    for _ in 1 2 3; do "$@"; done | sort -k2 -g | tail -1
}
for spec in "mlp 60 1.5x (a) MLP 39-512-512-512-4, ReLU, Adam, batch 256" "rnn 25 3x (b) Elman RNN 2x128 tanh, T=100, batch 32, Adam, full BPTT"; do
    read -r kind steps target label <<<"$spec"
    c=$(best_line $NN "$kind" "$steps")
    if [ "$TORCH_OK" = 1 ]; then t=$(best_line "$PYTHON" bench/ref_nn_torch.py "$kind" "$steps"); else t="$kind 0 0 0"; fi
    read -r _ cs cg cm <<<"$c"
    read -r _ ts _ tm <<<"$t"
    ratio=$(awk -v a="$cs" -v b="$ts" 'BEGIN{ if (b > 0) printf "%.2fx", a / b; else print "n/a (no torch)" }')
    pct=$(awk -v g="$cg" -v p="$peak" 'BEGIN{printf "%.1f (%.0f%%)", g, 100 * g / p}')
    printf '| %s | %.0f | %s | %.1f | %.0f | %.1f | %s | >= %s |\n' "$label" "$cs" "$pct" "$cm" "$ts" "$tm" "$ratio" "$target" | tee -a "$out"
done
echo "wrote $out"
