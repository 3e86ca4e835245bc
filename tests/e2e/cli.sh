#!/usr/bin/env bash
# cli.sh - the `fleet` command line: help, version, usage errors (exit 64, message on stderr), --set.
set -euo pipefail
source "$(dirname "$0")/lib.bash"

# Help: usage on stdout, nothing on stderr, exit 0; each names what its command takes.
help_case() { # help_case ARGS NEEDLE...: `fleet ARGS` prints help containing every NEEDLE
    local args=$1 needle
    shift
    # shellcheck disable=SC2086 # ARGS is a word list
    run_fleet 0 $args
    check_rc "fleet $args exits 0" 0
    check_matches "fleet $args prints a usage line on stdout" "$OUT" '^usage: '
    check_eq "fleet $args writes nothing on stderr" "$(cat "$ERR")" ""
    for needle in "$@"; do
        check_contains "fleet $args mentions '$needle'" "$OUT" "$needle"
    done
}
help_case "--help" "run CONFIG" "gen CONFIG" "info FILE" "--version"
help_case "-h" "usage: fleet <command>"
help_case "run --help" "--force" "--quiet" "--output FILE" "--set KEY=VALUE" "2 bad config" "64 bad command line"
help_case "run tiny.yaml -h" "fleet run CONFIG"
help_case "gen --help" "fleet gen CONFIG -o FILE"
help_case "info --help" "fleet info FILE"

# Help under mpirun is printed once (rank 0), not once per rank.
run_fleet 2 --help
check_rc "mpirun -np 2 fleet --help exits 0" 0
check_eq "mpirun -np 2 fleet --help prints the usage once" "$(grep -c '^usage: ' "$OUT")" 1

run_fleet 0 --version
check_rc "fleet --version exits 0" 0
check_matches "fleet --version prints 'fleet X.Y.Z (BUILD)'" "$OUT" '^fleet [0-9]+\.[0-9]+\.[0-9]+ \([^ ]+\)$'
check_eq "fleet --version prints one line" "$(wc -l <"$OUT")" 1

# Usage errors: exit 64 (EX_USAGE; 2 is a bad config), "fleet: error: ... WORD" on stderr, nothing on stdout.
usage_error() { # usage_error WORD ARGS...
    local word=$1
    shift
    run_fleet 0 "$@"
    check_rc "fleet $* exits 64" 64
    check_matches "fleet $*: stderr has an error naming '$word'" "$ERR" "^fleet: error: .*${word}"
    check_eq "fleet $*: nothing on stdout" "$(cat "$OUT")" ""
}
usage_error "unknown command: frobnicate" frobnicate
usage_error "unknown option: --frob" run --frob tiny.yaml
usage_error "unknown option: --bogus" gen --bogus tiny.yaml -o demos.h5
usage_error "unexpected argument: b.yaml" run a.yaml b.yaml
usage_error "missing CONFIG" run
usage_error "missing CONFIG" run --force --quiet
usage_error "--output" run tiny.yaml --output
usage_error "need CONFIG and -o FILE" gen tiny.yaml
usage_error "need exactly one FILE" info
usage_error "--set needs KEY=VALUE" run tiny.yaml --set
usage_error "--set needs KEY=VALUE" sweep tiny.yaml --count --set

# Under mpirun the usage error is reported once and mpirun's exit status is still 64.
run_fleet 2 run
check_rc "mpirun -np 2 fleet run (no CONFIG) exits 64" 64
check_eq "mpirun -np 2 fleet run: the error is printed once" "$(grep -c '^fleet: error: ' "$ERR")" 1
check_contains "mpirun -np 2 fleet run: the error says CONFIG is missing" "$ERR" "missing CONFIG"

# `fleet info` on a missing file fails and names the file.
run_fleet 0 info nothere.h5
check_rc_nonzero "fleet info nothere.h5 fails"
check_contains "fleet info nothere.h5: the error names the file" "$ERR" "nothere.h5"

finish
