#!/usr/bin/env bash
# config_errors.sh - bad configs given to `mpirun -np 2 fleet run`: exit 2, every problem reported
# once on stderr as `file:line:col: key: message` (docs/config.md, src/config/cfg_*.c), the file part
# being the path as given on the command line, and nothing written: no output directory, no file,
# no .tmp file. Also: files that are not configs (a directory, /dev/zero, deep nesting), values in
# range that make a merge diverge (exit 1, a message naming the key to change), and the longest
# experiment.name working end to end.
set -euo pipefail
source "$(dirname "$0")/lib.bash"

mkdir cfg
OUTFILE=$TMP/out/results.h5

# bad_config DESC CONFIG LINE...: run CONFIG on 2 ranks; want exit 2, each LINE on stderr (in
# this order), exactly as many error lines as LINEs, and no output at all.
bad_config() {
    local desc=$1 config=$2 line prev=0 at
    shift 2
    run_fleet 2 run "$config" --output "$OUTFILE"
    check_rc "$desc: exit 2" 2
    for line in "$@"; do
        check_line "$desc: stderr has '$line'" "$ERR" "$line"
        at=$(sed 's/^fleet: error: //' "$ERR" | grep -Fxn -- "$line" | head -n 1 | cut -d: -f1 || true)
        if [[ -n $at ]] && ((at < prev)); then
            fail "$desc: errors are listed in order" "got:  '$line' on stderr line $at" \
                "want: after stderr line $prev"
        fi
        prev=${at:-$prev}
    done
    local n
    n=$(sed 's/^fleet: error: //' "$ERR" | grep -Fc -- "$config:" || true)
    check_eq "$desc: one stderr line per problem" "$n" "$#"
    check_eq "$desc: the error is printed once (rank 0 only)" "$(grep -c '^fleet: error: ' "$ERR")" 1
    check_absent "$desc: no output directory" "$TMP/out"
    check_no_tmp "$desc: no .tmp file" "$TMP"
}

cat >cfg/unknown_key.yaml <<'EOF'
experiment:
  name: bad
env:
  kind: lqg
policy:
  arch: dynamic_linear
train:
  lerning_rate: 0.1
EOF
bad_config "unknown key" cfg/unknown_key.yaml \
    "cfg/unknown_key.yaml:8:3: train.lerning_rate: unknown key"

cat >cfg/wrong_type.yaml <<'EOF'
experiment:
  name: bad
env:
  kind: lqg
  horizon: 1.5
policy:
  arch: dynamic_linear
EOF
bad_config "wrong type (integer)" cfg/wrong_type.yaml \
    'cfg/wrong_type.yaml:5:12: env.horizon: got "1.5", expected an integer'

cat >cfg/quoted.yaml <<'EOF'
experiment:
  name: bad
  seed: "3"
env:
  kind: lqg
fleet:
  shared_init: 1
policy:
  arch: dynamic_linear
EOF
bad_config "wrong types (quoted integer, boolean)" cfg/quoted.yaml \
    'cfg/quoted.yaml:3:9: experiment.seed: got "3", expected an integer (remove the quotes)' \
    'cfg/quoted.yaml:7:16: fleet.shared_init: got "1", expected a boolean'

cat >cfg/range.yaml <<'EOF'
experiment:
  name: bad
  seed: -1
env:
  kind: lqg
policy:
  arch: dynamic_linear
EOF
bad_config "out of range" cfg/range.yaml \
    "cfg/range.yaml:3:9: experiment.seed: got -1, expected a value in [0, 2147483647]"

cat >cfg/missing.yaml <<'EOF'
experiment:
  name: bad
env:
  kind: lqg
policy:
  hidden_dim: 2
EOF
bad_config "missing required key (section given)" cfg/missing.yaml \
    "cfg/missing.yaml:6:3: policy.arch: missing required key"

cat >cfg/enum.yaml <<'EOF'
experiment:
  name: bad
env:
  kind: lqg
policy:
  arch: dynamic_linear
merge:
  gl_start: middle
EOF
bad_config "bad enum" cfg/enum.yaml \
    'cfg/enum.yaml:8:13: merge.gl_start: got "middle", expected one of [anchor, identity, permutation]'

cat >cfg/syntax.yaml <<'EOF'
experiment:
  name: bad
env:
  kind: lqg
merge:
  methods: [average, linear_gl
policy:
  arch: static_linear
EOF
bad_config "YAML syntax error" cfg/syntax.yaml \
    "cfg/syntax.yaml:7:7: yaml: did not find expected ',' or ']'"

# Several problems at once, all reported, in document order, then the missing keys. The config
# is named by its absolute path here, which the messages repeat.
cat >cfg/several.yaml <<'EOF'
experiment:
  name: bad
  seed: 4294967296
  seed: 3
env:
  kind: lqg
  horizon: ten
fleet:
  alpha: 0
trian:
  steps: 10
train:
  pooled_ls: qr
EOF
S=$TMP/cfg/several.yaml
bad_config "several errors at once" "$S" \
    "$S:3:9: experiment.seed: got 4294967296, expected a value in [0, 2147483647]" \
    "$S:4:3: experiment.seed: duplicate key" \
    "$S:7:12: env.horizon: got \"ten\", expected an integer" \
    "$S:9:10: fleet.alpha: got 0, expected a value in (0, 1e+06]" \
    "$S:10:1: trian: unknown section" \
    "$S:13:14: train.pooled_ls: got \"qr\", expected one of [normal, scalapack]" \
    "$S:1:1: policy.arch: missing required key"

# Explicit YAML tags: the standard tag of the key's type is honoured, any other is an error.
cat >cfg/tags.yaml <<'EOF'
experiment:
  name: bad
  seed: !!str 5
  description: !foo x
env:
  kind: !!str lqg
  horizon: !!int 10
policy:
  arch: static_linear
EOF
bad_config "explicit tags" cfg/tags.yaml \
    'cfg/tags.yaml:3:9: experiment.seed: got tag !!str, expected an integer (untagged or !!int)' \
    'cfg/tags.yaml:4:16: experiment.description: got tag !foo, expected a string (untagged or !!str)'

# Numbers: no subnormals; ranges every value of which works (docs/config.md).
cat >cfg/subnormal.yaml <<'EOF'
experiment:
  name: bad
env:
  kind: lqg
  r_scale: 1e-320
  init_std: 1e-9
policy:
  arch: static_linear
EOF
bad_config "subnormal and too small numbers" cfg/subnormal.yaml \
    'cfg/subnormal.yaml:5:12: env.r_scale: got 1e-320, expected 0 or a magnitude of at least 2.2250738585072014e-308 (no subnormal numbers)' \
    'cfg/subnormal.yaml:6:13: env.init_std: got 1e-9, expected a value in [1e-06, 1e+06]'

# An empty output_dir would put the results at /<name>/: rejected. Names longer than 128 too.
empty_name=fm-e2e-empty-output-dir-$$
write_config cfg/empty_dir.yaml "${TINY_LQR[@]}" experiment.name=$empty_name 'experiment.output_dir=""'
bad_config "empty output_dir" cfg/empty_dir.yaml \
    'cfg/empty_dir.yaml:4:15: experiment.output_dir: got "", expected a directory (write "." for the current one)'
check_absent "empty output_dir: nothing at /$empty_name" "/$empty_name"
if [[ -d /$empty_name && ! -L /$empty_name ]]; then rm -r -- "/${empty_name:?}"; fi # the old behaviour's output
long_name=$(printf 'n%.0s' {1..129})
write_config cfg/long_name.yaml "${TINY_LQR[@]}" "experiment.name=$long_name"
bad_config "a 129-character experiment.name" cfg/long_name.yaml \
    'cfg/long_name.yaml:2:9: experiment.name: got a string of 129 bytes, expected at most 128'

printf 'experiment:\n  name: bad\n  description: "ab\xffc"\nenv:\n  kind: lqg\npolicy:\n  arch: static_linear\n' \
    >cfg/utf8.yaml

# libyaml's scanner is quadratic in the nesting depth: a deep document is refused before it
# gets there, quickly, at the line:col of the first level too deep.
head -c 204800 /dev/zero | tr '\0' '[' >cfg/deep.yaml
t0=$(date +%s%N)
bad_config "200 KB of '['" cfg/deep.yaml \
    "cfg/deep.yaml:1:65: yaml: got lists and mappings nested 65 deep, expected at most 64"
ms=$((($(date +%s%N) - t0) / 1000000))
if ((ms < 5000)); then
    pass "200 KB of '[' on 2 ranks: fails in $ms ms"
else
    fail "200 KB of '[' on 2 ranks: fails fast" "got:  $ms ms" "want: < 5000 ms (MPI start-up included)"
fi
# One process, against the same command on a small config (MPI start-up is most of the time).
t0=$(date +%s%N)
run_cmd timeout -k 5 60 "$FLEET" sweep cfg/utf8.yaml --count
t1=$(date +%s%N)
run_cmd timeout -k 5 60 "$FLEET" sweep cfg/deep.yaml --count
t2=$(date +%s%N)
check_rc "200 KB of '[' (fleet sweep, one process): exit 2" 2
ms=$(((t2 - t1) / 1000000)) base=$(((t1 - t0) / 1000000))
if ((ms < base + 500)); then
    pass "200 KB of '[' (one process): fails in $ms ms ($base ms for a small config)"
else
    fail "200 KB of '[' (one process): fails in well under a second more than a small config" \
        "got:  $ms ms" "want: < $base + 500 ms"
fi

# Invalid UTF-8 is reported at its line:col (not 1:1).
bad_config "invalid UTF-8" cfg/utf8.yaml "cfg/utf8.yaml:3:19: yaml: invalid leading UTF-8 octet (byte 0xff)"

# Not a regular file: a config error (exit 2), nothing written.
mkdir cfg/dir.yaml
for f in cfg/dir.yaml /dev/zero; do
    kind="a directory"
    if [[ $f == /dev/zero ]]; then kind="a character device"; fi
    run_fleet 2 run "$f" --output "$OUTFILE"
    check_rc "$f as the config: exit 2" 2
    check_contains "$f as the config: the message says why" "$ERR" \
        "fleet: error: cannot read config '$f': not a regular file ($kind)"
    check_absent "$f as the config: no output directory" "$TMP/out"
    check_no_tmp "$f as the config: no .tmp file" "$TMP"
done

# A value in range that makes the linear_gl merge (Eq. G.14) diverge: a numerical error (exit 1,
# agreed by every rank) that names the method and the step and says which key to lower; no
# results. (Formerly 50 steps ended with huge finite parameters, exit 0 and NaN rollout costs;
# 2000 steps with a non-finite objective and a message that did not say what to change.)
for steps in 50 2000; do
    write_config cfg/gl_lr.yaml "${TINY_LQG[@]}" "merge.methods=[linear_gl]" merge.gl_lr=10 "merge.gl_steps=$steps"
    run_fleet 2 run cfg/gl_lr.yaml --output "$OUTFILE"
    check_rc "merge.gl_lr 10, $steps steps: exit 1" 1
    check_matches "merge.gl_lr 10, $steps steps: the message names linear_gl, the step and merge.gl_lr" "$ERR" \
        "^fleet: error: linear_gl: diverged at step [0-9]+ of $steps .*lower merge\\.gl_lr"
    check_eq "merge.gl_lr 10, $steps steps: the error is printed once" "$(grep -c '^fleet: error: ' "$ERR")" 1
    check_absent "merge.gl_lr 10, $steps steps: no results file" "$OUTFILE"
    check_no_tmp "merge.gl_lr 10, $steps steps: no .tmp file" "$TMP"
done
rm -rf "${TMP:?}/out"

# The longest experiment.name (128 characters) works end to end, in the default results path.
long_name=$(printf 'n%.0s' {1..128})
write_config cfg/long_ok.yaml "${TINY_LQR[@]}" "experiment.name=$long_name" "experiment.output_dir=\"$TMP/res\""
run_fleet 2 run cfg/long_ok.yaml --quiet
check_rc "a 128-character experiment.name: exit 0" 0
check_exists "a 128-character experiment.name: results in <output_dir>/<name>/results.h5" \
    "$TMP/res/$long_name/results.h5"
rm -rf "${TMP:?}/res"

# A config that does not exist: a bad argument (exit 2), the message names the path as given.
run_fleet 2 run cfg/nothere.yaml --output "$OUTFILE"
check_rc "nonexistent config: exit 2" 2
check_contains "nonexistent config: stderr names the file" "$ERR" \
    "cannot open config 'cfg/nothere.yaml': No such file or directory"
check_absent "nonexistent config: no output directory" "$TMP/out"
check_no_tmp "nonexistent config: no .tmp file" "$TMP"

# fleet.robots must equal the number of ranks (checked when the run starts).
cat >cfg/robots.yaml <<'EOF'
experiment:
  name: bad
env:
  kind: lqg
fleet:
  robots: 3
policy:
  arch: static_linear
EOF
run_fleet 2 run cfg/robots.yaml --output "$OUTFILE"
check_rc "fleet.robots 3 on 2 ranks: exit 2" 2
msg=$(grep '^fleet: error: ' "$ERR" || true)
check_matches "fleet.robots 3 on 2 ranks: the message names the config and the key" "$ERR" \
    '^fleet: error: cfg/robots\.yaml: fleet\.robots: '
if [[ $msg =~ [^0-9]3[^0-9] && $msg =~ [^0-9.]2[^0-9] ]]; then
    pass "fleet.robots 3 on 2 ranks: the message mentions 3 and 2"
else
    fail "fleet.robots 3 on 2 ranks: the message mentions 3 and 2" "got:  $msg" \
        "want: both numbers 3 (robots) and 2 (ranks)"
fi
check_absent "fleet.robots 3 on 2 ranks: no output directory" "$TMP/out"
check_no_tmp "fleet.robots 3 on 2 ranks: no .tmp file" "$TMP"

# The same with a config path longer than 255 bytes: still the path as given on the command line.
long=cfg
for _ in 1 2 3; do long=$long/$(printf 'd%.0s' {1..90}); done
mkdir -p "$long"
cp cfg/robots.yaml "$long/robots.yaml"
run_fleet 2 run "$long/robots.yaml" --output "$OUTFILE"
check_rc "fleet.robots 3 on 2 ranks, ${#long}-byte directory: exit 2" 2
check_contains "fleet.robots 3 on 2 ranks, long path: the message names the whole config path" "$ERR" \
    "fleet: error: $long/robots.yaml: fleet.robots: "

finish
