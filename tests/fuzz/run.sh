#!/usr/bin/env bash
# run.sh - fuzz each harness for SECONDS with its seed corpus; summary per harness; non-zero on a crash.
usage() {
    cat <<'EOF'
usage: tests/fuzz/run.sh SECONDS HARNESS...     (e.g. tests/fuzz/run.sh 600 fuzz_config fuzz_demos)

Runs build-fuzz/HARNESS (make fuzz-build) for SECONDS of wall time each, one after the other, one
process at a time (no -jobs: the harnesses are single-threaded and the machine is shared). The committed seeds (tests/fuzz/corpus/HARNESS/) are copied into a scratch
corpus build-fuzz/corpus/HARNESS/ that grows across runs (the committed corpus never does);
FUZZ_FRESH=1 starts it over. Crashes, leaks, timeouts and OOMs are kept as
build-fuzz/crashes/HARNESS/{crash,leak,timeout,oom}-<sha1>; logs in build-fuzz/logs/HARNESS.log.
Prints per harness: CPU seconds, executions, coverage, corpus size and the new crash files.
Exit status: 0 when no harness failed, 1 when one did (its file is kept), 2 on a usage error.

Environment: FUZZ_KEEP_GOING=1  keep fuzzing after a crash (-fork=1 -ignore_crashes=1 ...), for
             long unattended runs; FUZZ_ARGS="..." extra libFuzzer flags (e.g. -use_value_profile=1).
Reproduce a crash: build-fuzz/HARNESS FILE   (README.md, "Reproducing a crash").
EOF
}
set -euo pipefail
case ${1:-} in -h | --help) usage; exit 0 ;; esac
if [ $# -eq 0 ] && [ -n "${HARNESS_ACTIVE:-}" ]; then # `make test` proves tests/fuzz/*.sh: short.sh is the test
    echo "1..0 # SKIP run.sh is the long-run driver (make fuzz); tests/fuzz/short.sh is the test"
    exit 0
fi
if [ $# -lt 2 ] || ! [[ $1 =~ ^[0-9]+$ ]]; then usage >&2; exit 2; fi
seconds=$1
shift
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:fast_unwind_on_malloc=0:allocator_may_return_null=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/fuzz/lsan.supp}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Per-harness libFuzzer flags: longest input (above the largest seed) and dictionary.
harness_flags() {
    case $1 in
    fuzz_config) echo "-max_len=8192 -dict=tests/fuzz/fuzz_config.dict" ;;
    fuzz_demos | fuzz_ckpt) echo "-max_len=32768 -dict=tests/fuzz/hdf5.dict" ;;
    *) echo "-max_len=16384" ;;
    esac
}

failed=0
for h in "$@"; do
    bin=build-fuzz/$h
    if [ ! -x "$bin" ]; then
        echo "run.sh: $bin not built (make fuzz-build)" >&2
        failed=1
        continue
    fi
    corpus=build-fuzz/corpus/$h crashes=build-fuzz/crashes/$h log=build-fuzz/logs/$h.log
    [ "${FUZZ_FRESH:-0}" = 1 ] && rm -rf "$corpus"
    mkdir -p "$corpus" "$crashes" build-fuzz/logs
    [ -d tests/fuzz/corpus/$h ] && cp -n tests/fuzz/corpus/$h/* "$corpus"/ 2>/dev/null || true
    before=$(ls "$crashes" | sort)
    mode=()
    if [ "${FUZZ_KEEP_GOING:-0}" = 1 ]; then
        mode=(-fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1)
    fi
    # shellcheck disable=SC2046,SC2086  # word splitting of the flag lists is intended
    cmd=("$bin" "$corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048
         -print_final_stats=1 -artifact_prefix="$crashes/" $(harness_flags "$h") "${mode[@]}" ${FUZZ_ARGS:-})
    echo "== $h: ${cmd[*]}"
    TIMEFORMAT='%U %S %R'
    rc=0
    { time timeout --kill-after=30 $((seconds + 120)) "${cmd[@]}" > "$log" 2>&1; } 2> "$log.time" || rc=$?
    read -r user sys wall < <(tail -1 "$log.time") || true
    cpu=$(awk -v u="${user:-0}" -v s="${sys:-0}" 'BEGIN { printf "%.0f", u + s }')
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1 || true)
    [ -n "$execs" ] || execs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<< "$last")
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+(/[0-9]+[a-zA-Z]*)?' <<< "$last" || true)
    fork=$(grep -oE 'oom/timeout/crash: [0-9/]+' <<< "$last" || true) # -fork mode's counts
    new=$(comm -13 <(echo "$before") <(ls "$crashes" | sort) | grep -vE '^slow-unit-' || true)
    printf '%s: %s CPU s (%s s wall), %s execs, %s%s, exit %d\n' "$h" "$cpu" "${wall:-?}" "${execs:-0}" \
        "${cov:-cov: ?}" "${fork:+, $fork}" "$rc"
    if [ -n "$new" ]; then
        failed=1
        echo "$h: FAILED: new crash files (log $log):"
        sed "s|^|  $crashes/|" <<< "$new"
        grep -m1 -E '^==[0-9]+==ERROR|runtime error|^==[0-9]+== ERROR: libFuzzer|deadly signal' "$log" | sed 's/^/  /' || true
    elif [ "$rc" != 0 ]; then
        failed=1
        echo "$h: FAILED: exit $rc without a crash file (log $log):"
        tail -5 "$log" | sed 's/^/  /'
    else
        echo "$h: no crash"
    fi
done
exit $failed
