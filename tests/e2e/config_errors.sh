#!/usr/bin/env bash
# config_errors.sh - bad configs given to `mpirun -np 2 fleet run`: exit 2, every problem reported
# once on stderr as `file:line:col: key: message` (docs/config.md, src/config/cfg.c), the file part
# being the path as given on the command line, and nothing written: no output directory, no file,
# no .tmp file.
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
    'cfg/enum.yaml:8:13: merge.gl_start: got "middle", expected one of [anchor, identity]'

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
