# shellcheck shell=bash
# lib.sh - shared by the pipelines (sourced, not run). A pipeline reads:
#     set -euo pipefail
#     # shellcheck source=pipelines/lib.sh
#     . "$(dirname "$0")/lib.sh"
#     pipeline_init name.sh "$@"    # PIPELINE, cd to the repository's root, -h / --help: the header comment
#     ...its own settings and their checks (check_ints, check_numbers, pipeline_config_arg)...
#     pipeline_defaults             # FLEET OUT PYTHON MPIRUN, the binary checked, RUN_FILES=()
#     run_seeds CFG TAG_ NP [KEY=VALUE...]    # or run_alphas, or run_variant per run
#     "$PYTHON" analysis/<report>.py "${RUN_FILES[@]}" ...
#     pipeline_done REPORT.md "figure: ..."
# Older pipelines set PIPELINE, cd to the root and source pipelines/lib.sh themselves.

# pipeline_die MESSAGE...: "$PIPELINE: MESSAGE" on stderr, exit 2 (bad arguments or settings).
pipeline_die() { echo "$PIPELINE: $*" >&2; exit 2; }

# pipeline_usage: the script's header comment (from line 2 to the `set -euo` line) without its '# '.
pipeline_usage() {
    sed -n '2,/^set -euo/p' "${PIPELINE_SCRIPT:-$0}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
}

# pipeline_help [ARG...]: with -h or --help first, the usage on stdout and exit 0.
pipeline_help() { case "${1:-}" in -h|--help) pipeline_usage; exit 0 ;; esac; }

# pipeline_init NAME [ARG...]: PIPELINE=NAME for messages, the working directory the repository's root
# (the parent of this file's folder), and with -h or --help first the usage on stdout and exit 0.
pipeline_init() {
    PIPELINE=$1
    shift
    PIPELINE_SCRIPT=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
    cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
    pipeline_help "$@"
}

# pipeline_max_args MAX COUNT: stop with the usage line when COUNT arguments exceed MAX.
pipeline_max_args() {
    [ "$2" -le "$1" ] || pipeline_die "too many arguments (usage: $(pipeline_usage | sed -n 's/^usage: *//p' | head -1 | sed 's/  .*//'))"
}

# pipeline_config_arg DEFAULT [ARG...]: CFG = the one argument, or DEFAULT without one; more stop the
# pipeline with its usage line.
pipeline_config_arg() {
    local default=$1
    shift
    pipeline_max_args 1 $#
    # shellcheck disable=SC2034 # read by the pipeline
    CFG=${1:-$default}
}

# pipeline_defaults: the settings every pipeline shares (FLEET, OUT, PYTHON, MPIRUN from the
# environment or their defaults; one BLAS thread per rank), the checks that NP (when set) is a
# positive integer and that the binary exists, the start time (PIPELINE_START) and the list of
# results files the runs append to (RUN_FILES).
pipeline_defaults() {
    FLEET=${FLEET:-build/fleet}
    OUT=${OUT:-results}
    PYTHON=${PYTHON:-/usr/bin/python3}
    MPIRUN=${MPIRUN:-mpirun --allow-run-as-root --oversubscribe}
    export OPENBLAS_NUM_THREADS=1
    [ -z "${NP:-}" ] || check_ints NP 1 "$NP"
    [ -x "$FLEET" ] || pipeline_die "$FLEET not found (run make first)"
    PIPELINE_START=$SECONDS
    RUN_FILES=()
}

# pipeline_tmp: a temporary directory in PIPELINE_TMP, removed when the pipeline exits.
pipeline_tmp() {
    PIPELINE_TMP=$(mktemp -d)
    trap 'rm -rf "$PIPELINE_TMP"' EXIT
}

# check_ints LABEL MIN VALUE...: stop unless every VALUE is a whole number >= MIN (and one is given).
check_ints() {
    local label=$1 min=$2 v what
    shift 2
    case $min in 0) what="an integer" ;; 1) what="a positive integer" ;; *) what="an integer >= $min" ;; esac
    [ $# -gt 0 ] || pipeline_die "$label: empty"
    for v in "$@"; do
        if ! [[ "$v" =~ ^[0-9]+$ ]] || [ "$v" -lt "$min" ]; then pipeline_die "$label: '$v' is not $what"; fi
    done
}

# check_numbers LABEL VALUE...: stop unless every VALUE is a plain non-negative number (1, 0.5, 1e-3)
# and one is given.
check_numbers() {
    local label=$1 v
    shift
    [ $# -gt 0 ] || pipeline_die "$label: empty"
    for v in "$@"; do
        [[ "$v" =~ ^[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?$ ]] || pipeline_die "$label: '$v' is not a number"
    done
}

# The experiment.name of a config file (empty if none).
config_name() { sed -n 's/^  name: *"\{0,1\}\([A-Za-z0-9._-]*\).*/\1/p' "$1" | head -1; }

# pipeline_config CFG: stop unless CFG is a file with an experiment.name; sets CFG_NAME to it.
pipeline_config() {
    [ -f "$1" ] || pipeline_die "$1: no such config"
    CFG_NAME=$(config_name "$1")
    [ -n "$CFG_NAME" ] || pipeline_die "$1: no experiment.name"
}

# yaml_quote TEXT: TEXT as a YAML single-quoted scalar (a --set value that stays text).
yaml_quote() { printf "'%s'" "${1//\'/\'\'}"; }

# run_variant CFG TAG SEED NP [KEY=VALUE...]
# Runs CFG on NP ranks with --force --quiet and the command-line overrides experiment.name
# <name>_<TAG>, experiment.seed SEED, experiment.output_dir $OUT and every KEY=VALUE given (fleet run
# --set: validated like the file, recorded in the results' /config; the file is not rewritten),
# stops the pipeline if the run fails, and sets RUN_RESULT to its results file and appends it to
# RUN_FILES. Config values are data: they go to fleet as arguments, never through a shell.
run_variant() {
    local cfg=$1 tag=$2 seed=$3 np=$4 kv t0=$SECONDS status=0
    shift 4
    pipeline_config "$cfg"
    local sets=(--set "experiment.name=${CFG_NAME}_${tag}" --set "experiment.seed=${seed}"
                --set "experiment.output_dir=$(yaml_quote "$OUT")")
    for kv in "$@"; do sets+=(--set "$kv"); done
    echo "== $cfg $tag ($np robots)"
    $MPIRUN -np "$np" "$FLEET" run "$cfg" "${sets[@]}" --force --quiet | { grep -v '^results:' || true; } ||
        status=$?
    if [ "$status" -ne 0 ]; then
        echo "$PIPELINE: $cfg $tag: fleet run failed (exit $status)" >&2
        exit "$status"
    fi
    RUN_RESULT="$OUT/${CFG_NAME}_${tag}/results.h5"
    test -f "$RUN_RESULT"
    RUN_FILES+=("$RUN_RESULT")
    echo "   ($((SECONDS - t0)) s)"
}

# run_seeds CFG TAG NP [KEY=VALUE...]: run_variant CFG with the tag <TAG>s<seed> for every seed in SEEDS
# (checked: integers; TAG is empty or ends in '_').
run_seeds() {
    local cfg=$1 tag=$2 np=$3 seed
    shift 3
    # shellcheck disable=SC2086 # SEEDS is a list
    check_ints SEEDS 0 $SEEDS
    for seed in $SEEDS; do
        run_variant "$cfg" "${tag}s${seed}" "$seed" "$np" "$@"
    done
}

# run_alphas CFG NP [KEY=VALUE...]: run_seeds CFG with fleet.alpha set to every value of ALPHAS (checked:
# numbers) and the tags a<alpha>_s<seed>.
run_alphas() {
    local cfg=$1 np=$2 alpha
    shift 2
    # shellcheck disable=SC2086 # ALPHAS is a list
    check_numbers ALPHAS $ALPHAS
    for alpha in $ALPHAS; do
        run_seeds "$cfg" "a${alpha}_" "$np" "fleet.alpha=${alpha}" "$@"
    done
}

# existing_results DIR_GLOB...: FOUND = the results.h5 files of the run directories matching the globs
# (runs of another pipeline, or of sweeps not run this time, that a report also takes).
existing_results() {
    local pattern f
    FOUND=()
    for pattern in "$@"; do
        for f in $pattern/results.h5; do
            if [ -f "$f" ]; then FOUND+=("$f"); fi
        done
    done
}

# pipeline_done REPORT.md LINE: show the report, then LINE with the time taken and the number of runs.
pipeline_done() {
    cat "$1"
    echo "$2   ($((SECONDS - PIPELINE_START)) s, ${#RUN_FILES[@]} runs)"
}
