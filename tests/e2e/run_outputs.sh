#!/usr/bin/env bash
# run_outputs.sh - what `fleet run` writes: the summary table, the results file (committed from a
# .tmp name), its layout (`fleet info`, h5dump), the resolved config, --force; a static LQR run.
set -euo pipefail
source "$(dirname "$0")/lib.bash"

# Tiny LQG, dynamic policies, 3 merge methods, 4 robots. State n = 4 (hidden k = n), action
# m = 2, observation p = 8: a policy (A, B, C) has P = k*k + k*p + m*k parameters.
write_config tiny.yaml "${TINY_LQG[@]}"
N=4 K=4 P_OBS=8 M=2
P=$((K * K + K * P_OBS + M * K))
RES=$TMP/out/results.h5

run_fleet $N run tiny.yaml --output "$RES"
check_rc "tiny LQG run on $N ranks exits 0" 0
cp "$OUT" summary.txt
for policy in average linear_perm linear_gl pooled task_specific; do
    check_matches "summary table has a row for $policy" summary.txt "^  $policy +([0-9.]+|unstable|n/a) "
done
check_matches "summary table has a row for the local policies" summary.txt '^  local \(mean\) '
check_matches "summary names the experiment, robots and tasks" summary.txt '^tiny: 4 robots, 3 tasks, '
check_contains "summary ends with the results path" summary.txt "results: $RES"
check_exists "results file exists" "$RES"
check_no_tmp "no .tmp file is left" "$TMP"

run_fleet 0 info "$RES"
check_rc "fleet info results.h5 exits 0" 0
cp "$OUT" info.txt
for obj in /config /models/local /eval/linear_gl/rel_exact /models/merged/linear_gl /timing/phase_seconds; do
    check_matches "fleet info lists $obj" info.txt "^${obj}: "
done
check_contains "fleet info shows the root attribute kind" info.txt '@kind: string[19] = "fleetmerge-results"'

# The stored config is the resolved one: input keys, and defaults of keys not in the input.
run_cmd h5dump -d /config "$RES"
check_rc "h5dump -d /config exits 0" 0
cp "$OUT" config_dump.txt
check_contains "/config holds the input's experiment.name" config_dump.txt 'name: "tiny"'
check_matches "/config holds the input's merge.gl_steps" config_dump.txt '^ +gl_steps: 50$'
check_matches "/config holds the default merge.perm_iters (not in the input)" config_dump.txt \
    '^ +perm_iters: 50$'
check_matches "/config holds the default train.optimizer (not in the input)" config_dump.txt \
    '^ +optimizer: adam$'
check_matches "/config holds the default eval.horizon (not in the input)" config_dump.txt \
    '^ +horizon: 0$'

run_cmd h5dump -H -d /models/local "$RES"
check_contains "/models/local has shape ($N, $P)" "$OUT" "SIMPLE { ( $N, $P ) / ( $N, $P ) }"
run_cmd h5dump -H -d /models/task_specific "$RES"
check_contains "/models/task_specific has shape (3 tasks, $P)" "$OUT" "SIMPLE { ( 3, $P ) / ( 3, $P ) }"

# A second run does not overwrite the results without --force.
sum_before=$(checksum "$RES")
run_fleet $N run tiny.yaml --output "$RES"
check_rc "rerun without --force exits 2" 2
check_contains "rerun without --force: the error says the file already exists" "$ERR" \
    "$RES already exists"
check_eq "rerun without --force leaves the results file untouched" "$(checksum "$RES")" "$sum_before"
check_no_tmp "rerun without --force leaves no .tmp file" "$TMP"

run_fleet $N run tiny.yaml --output "$RES" --force --quiet
check_rc "rerun with --force exits 0" 0
check_matches "--quiet: the summary table is still printed" "$OUT" '^  average '
if grep -q '^\[fleet\]' "$OUT"; then
    fail "--quiet: no progress lines" "got:  $(grep -m1 '^\[fleet\]' "$OUT")" "want: no [fleet] line"
else
    pass "--quiet: no progress lines"
fi
run_cmd h5dump -H -d /models/local "$RES"
check_contains "rerun with --force: the new file is readable" "$OUT" "SIMPLE { ( $N, $P )"
check_no_tmp "rerun with --force leaves no .tmp file" "$TMP"

# Static LQR: full-state observation, u = K x with K of m x n = 2 x 4; no --output, so the file
# goes to <experiment.output_dir>/<experiment.name>/results.h5.
write_config lqr.yaml "${TINY_LQR[@]}" "experiment.output_dir=\"$TMP/res\""
run_fleet $N run lqr.yaml --quiet
check_rc "tiny static LQR run exits 0" 0
check_contains "LQR summary says static policies, LQR (y = x)" "$OUT" "static_linear policies, alpha = 1, LQR (y = x)"
check_matches "LQR summary has a row for average" "$OUT" '^  average +[0-9.]+ '
check_exists "LQR results go to <output_dir>/<name>/results.h5" "$TMP/res/tiny_lqr/results.h5"
run_cmd h5dump -H -d /models/local "$TMP/res/tiny_lqr/results.h5"
check_contains "LQR /models/local has shape ($N, m*n = 8)" "$OUT" "SIMPLE { ( $N, 8 ) / ( $N, 8 ) }"
check_no_tmp "LQR run leaves no .tmp file" "$TMP"

finish
