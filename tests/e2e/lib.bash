# lib.bash - shared helpers of the end-to-end tests, sourced by tests/e2e/*.sh (not a test itself).
#
# After `source lib.bash` a script has:
#   ROOT   the repository root (computed from this file's location)
#   FLEET  absolute path of the binary: $FLEET if set (relative to the caller's directory), else
#          $ROOT/build/fleet
#   TMP    a fresh `mktemp -d` directory, removed on exit; the script runs inside it
# and the helpers below. TAP: every check prints "ok N - ..." or "not ok N - ..." followed by
# "#   got / want / at file:line" lines; `finish` prints the plan "1..N" and exits 1 if any check
# failed (or if none ran).

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$E2E_DIR/../.." && pwd)
FLEET=${FLEET:-$ROOT/build/fleet}
case $FLEET in /*) ;; *) FLEET=$PWD/$FLEET ;; esac
E2E_TIMEOUT=${E2E_TIMEOUT:-120} # seconds per fleet invocation: a hang fails instead of blocking

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OPENBLAS_NUM_THREADS=1
# When a rank exits non-zero, mpirun signals the others and by default waits 1 s between SIGTERM
# and SIGKILL; every failing run would take ~1.4 s instead of ~0.3 s. The ranks of a failing
# fleet run have already agreed on the error and passed MPI_Finalize, so nothing is lost.
export OMPI_MCA_odls_base_sigkill_timeout=${OMPI_MCA_odls_base_sigkill_timeout:-0}
# shellcheck disable=SC2034 # used by the scripts (h5py is Debian's python3-h5py)
PYTHON=/usr/bin/python3

TMP=$(mktemp -d "${TMPDIR:-/tmp}/fleet-e2e.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
cd "$TMP" || exit 1

# ---- TAP ----

_tap_n=0
_tap_failed=0

# Where the failing check was called from: "tests/e2e/x.sh:42".
_tap_where() {
    local i=1
    while [[ ${BASH_SOURCE[i]} == "${BASH_SOURCE[0]}" ]]; do i=$((i + 1)); done
    echo "${BASH_SOURCE[i]#"$ROOT"/}:${BASH_LINENO[i - 1]}"
}

pass() { # pass DESC
    _tap_n=$((_tap_n + 1))
    echo "ok $_tap_n - $1"
}

fail() { # fail DESC [DIAGNOSTIC LINE...]
    _tap_n=$((_tap_n + 1))
    _tap_failed=$((_tap_failed + 1))
    echo "not ok $_tap_n - $1"
    shift
    local line
    for line in "$@"; do echo "#   $line"; done
    echo "#   at: $(_tap_where)"
}

# Diagnostic lines "stderr: ..." with the first lines of a file (default: the last run's stderr).
_tap_show() { # _tap_show LABEL FILE
    [[ -s $2 ]] || { echo "$1: (empty)"; return 0; }
    head -n 12 "$2" | sed "s/^/$1: /"
}

# "stdout" / "stderr" for the last run's files, else the file's name.
_tap_label() { # _tap_label FILE
    case $1 in
    "${OUT:-}") echo stdout ;;
    "${ERR:-}") echo stderr ;;
    *) basename "$1" ;;
    esac
}

finish() {
    if ((_tap_n == 0)); then
        fail "the script ran at least one check"
    fi
    echo "1..$_tap_n"
    ((_tap_failed == 0)) || { echo "# $_tap_failed of $_tap_n checks failed"; exit 1; }
    exit 0
}

# ---- checks ----

check_eq() { # check_eq DESC GOT WANT
    if [[ $2 == "$3" ]]; then pass "$1"; else fail "$1" "got:  $2" "want: $3"; fi
}

# Exit status of the last run_fleet/run_cmd; shows its stderr on failure.
check_rc() { # check_rc DESC WANT
    if [[ $RC == "$2" ]]; then
        pass "$1"
    else
        local diag
        mapfile -t diag < <(_tap_show stderr "$ERR")
        fail "$1" "got:  exit $RC" "want: exit $2" "${diag[@]}"
    fi
}

check_rc_nonzero() { # check_rc_nonzero DESC
    if [[ $RC != 0 ]]; then pass "$1"; else fail "$1" "got:  exit 0" "want: a non-zero exit"; fi
}

# FILE contains NEEDLE (fixed string, anywhere).
check_contains() { # check_contains DESC FILE NEEDLE
    if grep -Fq -- "$3" "$2"; then
        pass "$1"
    else
        local diag
        mapfile -t diag < <(_tap_show "$(_tap_label "$2")" "$2")
        fail "$1" "want: a line containing: $3" "${diag[@]}"
    fi
}

# FILE has a line matching the extended regular expression RE.
check_matches() { # check_matches DESC FILE RE
    if grep -Eq -- "$3" "$2"; then
        pass "$1"
    else
        local diag
        mapfile -t diag < <(_tap_show "$(_tap_label "$2")" "$2")
        fail "$1" "want: a line matching /$3/" "${diag[@]}"
    fi
}

# FILE has a line that is exactly LINE, once the CLI's "fleet: error: " prefix (which the
# first error line carries) is removed.
check_line() { # check_line DESC FILE LINE
    if sed 's/^fleet: error: //' "$2" | grep -Fxq -- "$3"; then
        pass "$1"
    else
        local diag
        mapfile -t diag < <(_tap_show "$(_tap_label "$2")" "$2")
        fail "$1" "want: the line: $3" "${diag[@]}"
    fi
}

check_exists() { # check_exists DESC PATH
    if [[ -e $2 ]]; then pass "$1"; else fail "$1" "got:  $2 does not exist" "want: it exists"; fi
}

check_absent() { # check_absent DESC PATH
    if [[ ! -e $2 ]]; then
        pass "$1"
    else
        fail "$1" "got:  $2 exists ($(ls -ld "$2"))" "want: no such file or directory"
    fi
}

# No "*.tmp" file anywhere under DIR (a half-written results or demonstrations file).
check_no_tmp() { # check_no_tmp DESC DIR
    local found
    found=$(find "$2" -name '*.tmp' | head -n 5 | tr '\n' ' ')
    if [[ -z $found ]]; then pass "$1"; else fail "$1" "got:  $found" "want: no *.tmp file"; fi
}

# SHA-256 of FILE, or "missing FILE" (never fails, so a failed run cannot stop the script).
checksum() { # checksum FILE
    if [[ -f $1 ]]; then sha256sum <"$1"; else echo "missing $1"; fi
}

# ---- running ----

# run_fleet NP ARGS...: `mpirun -np NP fleet ARGS...` in $TMP; sets RC, OUT and ERR (files).
# NP 0 runs the binary directly (an MPI singleton).
run_fleet() {
    local np=$1
    shift
    OUT=$TMP/.last.stdout
    ERR=$TMP/.last.stderr
    RC=0
    if [[ $np == 0 ]]; then
        timeout -k 10 "$E2E_TIMEOUT" "$FLEET" "$@" >"$OUT" 2>"$ERR" || RC=$?
    else
        timeout -k 10 "$E2E_TIMEOUT" mpirun --allow-run-as-root --oversubscribe -np "$np" \
            "$FLEET" "$@" >"$OUT" 2>"$ERR" || RC=$?
    fi
    if [[ $RC == 124 ]]; then echo "# timed out after ${E2E_TIMEOUT} s: fleet $*" >>"$ERR"; fi
    return 0
}

# run_cmd CMD ARGS...: any command; sets RC, OUT and ERR like run_fleet.
run_cmd() {
    OUT=$TMP/.last.stdout
    ERR=$TMP/.last.stderr
    RC=0
    "$@" >"$OUT" 2>"$ERR" || RC=$?
    return 0
}

# ---- configs ----

# write_config FILE SECTION.KEY=VALUE...: a YAML config, sections and keys in order of first
# appearance; a later pair for the same key replaces the value; VALUE "-" drops the key.
write_config() {
    local file=$1 kv k s
    shift
    local -a keys=() secs=()
    local -A val=()
    for kv in "$@"; do
        k=${kv%%=*}
        [[ -v "val[$k]" ]] || keys+=("$k")
        val[$k]=${kv#*=}
    done
    for k in "${keys[@]}"; do
        s=${k%%.*}
        [[ " ${secs[*]} " == *" $s "* ]] || secs+=("$s")
    done
    {
        for s in "${secs[@]}"; do
            echo "$s:"
            for k in "${keys[@]}"; do
                if [[ ${k%%.*} == "$s" && ${val[$k]} != - ]]; then echo "  ${k#*.}: ${val[$k]}"; fi
            done
        done
    } >"$file"
}

# A few-second LQG experiment: 3 tasks, 4 demos of 30 steps per robot, p = 8 observations.
# Its state dimension is n = 4 and its action dimension m = 2 (system mild_unstable).
# shellcheck disable=SC2034 # used by the scripts
TINY_LQG=(
    experiment.name=tiny experiment.seed=7
    env.kind=lqg env.system=mild_unstable env.obs=projected env.obs_dim=8 env.num_tasks=3
    env.horizon=30
    fleet.demos_per_robot=4
    policy.arch=dynamic_linear
    train.steps=50
    "merge.methods=[average, linear_perm, linear_gl]" merge.gl_steps=50
    eval.rollouts=3
)

# The LQR counterpart: full-state observation, static policies u = K x, plain averaging.
# shellcheck disable=SC2034
TINY_LQR=(
    experiment.name=tiny_lqr experiment.seed=7
    env.kind=lqg env.system=mild_unstable env.obs=state env.num_tasks=3 env.horizon=30
    fleet.demos_per_robot=4
    policy.arch=static_linear
    "merge.methods=[average]"
    eval.rollouts=3
)

if [[ ! -x $FLEET ]]; then
    fail "fleet binary is executable" "got:  $FLEET is missing" "want: run make -C $ROOT all first"
    finish
fi

# py_check DESC SCRIPT ARG...: the Python SCRIPT (sys, os, h5py and numpy as np imported; the ARGs
# in sys.argv[1:]) exits 0 and prints exactly "ok"; anything else it prints is the diagnostic.
py_check() {
    local desc=$1 script=$2
    shift 2
    run_cmd "$PYTHON" -c "import sys, os, h5py, numpy as np
$script" "$@"
    if [[ $RC == 0 && $(cat "$OUT") == ok ]]; then
        pass "$desc"
    else
        local diag
        mapfile -t diag < <(head -n 8 "$OUT" "$ERR")
        fail "$desc" "got:  exit $RC" "want: exit 0 and the output 'ok'" "${diag[@]}"
    fi
}

# h5check DESC FILE < PYTHON: the script sees f (the h5py file, opened read-only) and check(cond,
# what); the check passes when every condition holds, else it fails listing the ones that did not.
h5check() {
    local desc=$1 file=$2 body
    body=$(cat)
    run_cmd "$PYTHON" -c "import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], 'r')
bad = []
def check(cond, what):
    if not cond:
        bad.append(what)
$body
print(chr(10).join(bad), file=sys.stderr)
sys.exit(1 if bad else 0)" "$file"
    if [[ $RC == 0 ]]; then pass "$desc"; else fail "$desc" "$(head -n 6 "$ERR")"; fi
}
