# lib.sh - shared by the pipelines (sourced, not run). Expects OUT, FLEET, MPIRUN and PIPELINE
# (the script's name for messages) to be set, and a temporary directory in PIPELINE_TMP.

# pipeline_defaults: the settings every pipeline shares (FLEET, OUT, PYTHON, MPIRUN from the
# environment or their defaults; one BLAS thread per rank) and the check that the binary exists.
pipeline_defaults() {
    FLEET=${FLEET:-build/fleet}
    OUT=${OUT:-results}
    PYTHON=${PYTHON:-/usr/bin/python3}
    MPIRUN=${MPIRUN:-mpirun --allow-run-as-root --oversubscribe}
    export OPENBLAS_NUM_THREADS=1
    [ -x "$FLEET" ] || { echo "$PIPELINE: $FLEET not found (run make first)" >&2; exit 2; }
}

# The experiment.name of a config file (empty if none).
config_name() { sed -n 's/^  name: *"\{0,1\}\([A-Za-z0-9._-]*\).*/\1/p' "$1" | head -1; }

# yaml_quote TEXT: TEXT as a YAML single-quoted scalar (a --set value that stays text).
yaml_quote() { printf "'%s'" "${1//\'/\'\'}"; }

# run_variant CFG TAG SEED NP [KEY=VALUE...]
# Runs CFG on NP ranks with --force --quiet and the command-line overrides experiment.name
# <name>_<TAG>, experiment.seed SEED, experiment.output_dir $OUT and every KEY=VALUE given (fleet run
# --set: validated like the file, recorded in the results' /config; the file is not rewritten),
# stops the pipeline if the run fails, and sets RUN_RESULT to its results file.
# Config values are data: they go to fleet as arguments, never through a shell.
run_variant() {
    local cfg=$1 tag=$2 seed=$3 np=$4 name kv t0=$SECONDS status=0
    shift 4
    [ -f "$cfg" ] || { echo "$PIPELINE: $cfg: no such config" >&2; exit 2; }
    name=$(config_name "$cfg")
    [ -n "$name" ] || { echo "$PIPELINE: $cfg: no experiment.name" >&2; exit 2; }
    local sets=(--set "experiment.name=${name}_${tag}" --set "experiment.seed=${seed}"
                --set "experiment.output_dir=$(yaml_quote "$OUT")")
    for kv in "$@"; do sets+=(--set "$kv"); done
    echo "== $cfg $tag ($np robots)"
    $MPIRUN -np "$np" "$FLEET" run "$cfg" "${sets[@]}" --force --quiet | { grep -v '^results:' || true; } ||
        status=$?
    if [ "$status" -ne 0 ]; then
        echo "$PIPELINE: $cfg $tag: fleet run failed (exit $status)" >&2
        exit "$status"
    fi
    RUN_RESULT="$OUT/${name}_${tag}/results.h5"
    test -f "$RUN_RESULT"
    echo "   ($((SECONDS - t0)) s)"
}
