#!/usr/bin/env bash
# run.sh - benchmarks, each measured side by side with its reference in one run; appends
# a dated section to bench/RESULTS.md.
# usage: bench/run.sh [PART...]   (after `make all`); PART: linbc nn cnn lap mt10 merge_cost traffic
# (default: all of them, in this order)
set -euo pipefail
cd "$(dirname "$0")/.."
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
BIN=build/bench/bench_linbc
PYTHON=${PYTHON:-/usr/bin/python3}
out=bench/RESULTS.md
[ -f "$out" ] || printf '# Benchmark results\n\nAppended by `make bench` (bench/run.sh); one section per run.\n' > "$out"
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
parts=("$@")
want() { # want PART: no arguments means every part
    [ ${#parts[@]} -eq 0 ] && return 0
    local p
    for p in "${parts[@]}"; do [ "$p" = "$1" ] && return 0; done
    return 1
}
stamp() { printf '%s, %s (%s cores), %s' "$(date -u +%Y-%m-%dT%H:%MZ)" "$cpu" "$(grep -c ^processor /proc/cpuinfo)" "$(uname -sr)"; }
if want linbc; then
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
fi

# Neural policy training (issue 3): fleetmerge C vs PyTorch, single process, one thread each.
NN=build/bench/bench_nn
TORCH_OK=1
"$PYTHON" -c "import torch" 2>/dev/null || TORCH_OK=0
best_line() { # best of 3 by the 2nd field; prints the whole line
    for _ in 1 2 3; do "$@"; done | sort -k2 -g | tail -1
}
if want nn; then
peak=$($NN peak | awk '{print $3}')
want linbc || printf '\n## %s\n' "$(stamp)" >> "$out" # the table's heading otherwise comes with linbc's
{
    printf '\nNeural policy training, one process and one thread each (OPENBLAS_NUM_THREADS=1,\n'
    printf 'torch.set_num_threads(1)); samples/s = rows per second (MLP: batch rows; RNN: time steps),\n'
    printf 'best of 3. Measured single-thread sgemm peak (1024^3): %s GFLOP/s.\n\n' "$peak"
    printf '| model | fleetmerge samples/s | GFLOP/s (%% of peak) | peak RSS MiB | PyTorch samples/s | PyTorch peak RSS MiB | ratio | target |\n'
    printf '|---|---|---|---|---|---|---|---|\n'
} >> "$out"
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
fi

# CNN training (issue 16): fleetmerge C vs PyTorch, the same model, one thread each, timed by the
# process's CPU time (bench_nn.c says why); C and PyTorch runs alternate, best of 5 each.
if want cnn; then
peak=$($NN peak | awk '{print $3}')
torch_v=$("$PYTHON" -c 'import torch; print(torch.__version__, "oneDNN" if torch.backends.mkldnn.is_available() else "no oneDNN")' 2>/dev/null || echo missing)
{
    printf '\n## %s: CNN training (bench_nn cnn vs ref_nn_torch.py cnn)\n\n' "$(stamp)"
    printf 'Forward + backward + Adam of 1x28x28 -> conv 32 5x5 -> ReLU -> pool -> conv 64 5x5 -> ReLU -> pool ->\n'
    printf 'dense 128 ReLU -> 10, softmax cross-entropy, batch 64; one thread each (OPENBLAS_NUM_THREADS=1,\n'
    printf 'torch.set_num_threads(1), PyTorch %s); samples/s = images per second of process CPU time\n' "$torch_v"
    printf '(user + system), best of 5 alternating runs of 20 steps; load average at the start: %s.\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
    printf 'Measured single-thread sgemm peak (1024^3, wall clock): %s GFLOP/s.\n\n' "$peak"
    printf '| model | fleetmerge samples/s | GFLOP/s | peak RSS MiB | PyTorch samples/s | PyTorch peak RSS MiB | ratio | target |\n'
    printf '|---|---|---|---|---|---|---|---|\n'
} >> "$out"
cbest="cnn 0 0 0" tbest="cnn 0 0 0"
for _ in 1 2 3 4 5; do
    c=$($NN cnn 20)
    cbest=$(printf '%s\n%s\n' "$cbest" "$c" | sort -k2 -g | tail -1)
    if [ "$TORCH_OK" = 1 ]; then
        t=$("$PYTHON" bench/ref_nn_torch.py cnn 20)
        tbest=$(printf '%s\n%s\n' "$tbest" "$t" | sort -k2 -g | tail -1)
    fi
done
read -r _ cs cg cm <<<"$cbest"
read -r _ ts _ tm <<<"$tbest"
ratio=$(awk -v a="$cs" -v b="$ts" 'BEGIN{ if (b > 0) printf "%.2fx", a / b; else print "n/a (no torch)" }')
printf '| CNN 1x28x28, conv 32-64 5x5, dense 128, batch 64, Adam | %.0f | %.1f | %.1f | %.0f | %.1f | %s | >= 1.0x |\n' \
    "$cs" "$cg" "$cm" "$ts" "$tm" "$ratio" | tee -a "$out"
fi

if want lap; then
# Dense linear assignment (issue 4): lap_solve vs scipy.optimize.linear_sum_assignment, minimizing the
# very same matrix: bench_lap draws it from a fixed seed and writes it (float64, row-major) to a
# temporary file that ref_lap_scipy.py reads with numpy.fromfile; both report "lap KIND N ms total".
LAP=build/bench/bench_lap
SCIPY=$("$PYTHON" -c 'import scipy; print(scipy.__version__)' 2>/dev/null || true)
lapdir=$(mktemp -d "${TMPDIR:-/tmp}/fleet-bench-lap.XXXXXX")
{
    printf '\nDense linear assignment (lap_solve, minimization) vs scipy %s linear_sum_assignment on the same\n' "${SCIPY:-(missing)}"
    printf 'random n x n matrices (fm_rng seed 1): uniform = doubles in [0, 1), int = integers in [0, 100)\n'
    printf '(many tied optima). Time of one solve in ms: best of 3 runs, each 1 warm-up + best of 3 solves.\n'
    printf 'Optimal totals must agree to 1e-9 relative, else the row says FAIL.\n\n'
    printf '| costs | n | fleetmerge ms | scipy ms | ratio | target | optimal totals |\n|---|---|---|---|---|---|---|\n'
} >> "$out"
best_ms() { # best of 3 runs of a command printing "lap KIND N ms total"; prints the fastest line
    for _ in 1 2 3; do "$@" || return 1; done | sort -k4 -g | head -1
}
for kind in uniform int; do
    for n in 128 512 1024; do
        f=$lapdir/$kind-$n.f64
        c=$(best_ms $LAP "$kind" "$n" 1 "$f") || c=""
        r=""
        if [ -n "$SCIPY" ] && [ -n "$c" ]; then r=$(best_ms "$PYTHON" bench/ref_lap_scipy.py "$kind" "$n" "$f") || r=""; fi
        read -r _ _ _ cms ctot <<<"${c:-x x x 0 nan}"
        read -r _ _ _ rms rtot <<<"${r:-x x x 0 nan}"
        awk -v k="$kind" -v n="$n" -v cms="$cms" -v rms="$rms" -v ct="$ctot" -v rt="$rtot" \
            -v c_ok="${c:+1}" -v r_ok="${r:+1}" -v have_scipy="${SCIPY:+1}" 'BEGIN {
            label = (k == "uniform") ? "uniform [0, 1)" : "int [0, 100)"
            if (!c_ok) { printf "| FAIL %s | %d | bench_lap failed | | | <= 0.5 | |\n", label, n; exit }
            if (!have_scipy) { printf "| %s | %d | %.3f | n/a (no scipy) | | <= 0.5 | %.10g |\n", label, n, cms, ct; exit }
            if (!r_ok) { printf "| FAIL %s | %d | %.3f | ref_lap_scipy.py failed | | <= 0.5 | |\n", label, n, cms; exit }
            d = ct - rt; if (d < 0) d = -d
            m = (ct < 0 ? -ct : ct); if ((rt < 0 ? -rt : rt) > m) m = (rt < 0 ? -rt : rt)
            ratio = cms / rms
            if (d <= 1e-9 * m)
                printf "| %s | %d | %.3f | %.3f | %.2f | <= 0.5 (%s) | agree: %.10g (rel diff %.1g) |\n", label, n, cms, rms, ratio,
                       ratio <= 0.5 ? "met" : "MISSED", ct, (m > 0 ? d / m : 0)
            else
                printf "| FAIL %s | %d | %.3f | %.3f | %.2f | <= 0.5 | FAIL: totals differ, ours %.17g vs scipy %.17g |\n", label, n, cms, rms, ratio, ct, rt
        }' | tee -a "$out"
    done
done
rm -rf "$lapdir"
fi

# MT-10 (issue 14): the experts' success over 100 scenes per task and the suite's speed per core.
if want mt10; then
mtmd=$(mktemp)
build/bench/bench_multitask --scenes 100 --md "$mtmd" || [ $? -eq 3 ]
{ printf '\n## %s, %s: ' "$(date -u +%Y-%m-%dT%H:%MZ)" "$(uname -sr)"; sed '1s/^# //' "$mtmd"; } | tee -a "$out"
rm -f "$mtmd"
fi

# Merge cost against local training and merging traffic (issue 12): their own dated sections.
if want merge_cost; then ./bench/merge_cost.sh; fi
# Merging traffic per robot and round, FedAvg vs fleet_merge, N = 4..32 (appends its own section).
if want traffic; then ./bench/traffic.sh; fi
echo "wrote $out"
