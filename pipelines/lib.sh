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

# run_variant CFG TAG SEED NP [SED_ARGS...]
# Writes CFG with experiment.name <name>_<TAG>, experiment.seed SEED and output_dir $OUT (those
# lines dropped, then set right after "experiment:", so a config without them works too), plus
# any extra sed expressions (e.g. -e 's/^  alpha: .*/  alpha: 10/'), runs it on NP ranks with
# --force --quiet, stops the pipeline if the run fails, and sets RUN_RESULT to its results file.
# Config values are data: they go to sed and to fleet as arguments, never through a shell.
run_variant() {
    local cfg=$1 tag=$2 seed=$3 np=$4 name run t0=$SECONDS status=0
    shift 4
    [ -f "$cfg" ] || { echo "$PIPELINE: $cfg: no such config" >&2; exit 2; }
    name=$(config_name "$cfg")
    [ -n "$name" ] || { echo "$PIPELINE: $cfg: no experiment.name" >&2; exit 2; }
    run="$PIPELINE_TMP/${name}_${tag}.yaml"
    sed "$@" -e '/^  name: /d' -e '/^  seed: /d' -e '/^  output_dir: /d' \
        -e "/^experiment:/a\\  name: ${name}_${tag}\\n  seed: ${seed}\\n  output_dir: \"$OUT\"" \
        "$cfg" > "$run"
    echo "== $cfg $tag ($np robots)"
    $MPIRUN -np "$np" "$FLEET" run "$run" --force --quiet | { grep -v '^results:' || true; } || status=$?
    if [ "$status" -ne 0 ]; then
        echo "$PIPELINE: $cfg $tag: fleet run failed (exit $status)" >&2
        exit "$status"
    fi
    RUN_RESULT="$OUT/${name}_${tag}/results.h5"
    test -f "$RUN_RESULT"
    echo "   ($((SECONDS - t0)) s)"
}
