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
echo "wrote $out"
