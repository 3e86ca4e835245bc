#!/usr/bin/env bash
# nn_run.sh - `fleet run` with neural policies on the cart-pole (src/fleet/fleet_nn*.c): the summary
# table, the results layout (docs/schema.md, "Results file of neural runs"), the score ranges, the
# merged average, determinism, mlp policies, the config error of linear merges, fleet.data from
# `fleet gen`, fleet.shared_init.
set -euo pipefail
source "$(dirname "$0")/lib.bash"

# Tiny cart-pole: 3 tasks, 6 demos of 30 steps per robot, an Elman RNN of 1 layer x 8 units,
# 3 epochs, 2 episodes per task and policy; well under a second on 4 ranks.
TINY_CP=(
    experiment.name=tiny_cp experiment.seed=7
    env.kind=cartpole env.num_tasks=3 env.horizon=30
    fleet.demos_per_robot=6
    policy.arch=rnn policy.layers=1 policy.width=8
    train.epochs=3 train.batch_size=4
    "merge.methods=[average]"
    eval.rollouts=2
)
N=4 K=3 H=8 OBS=3 ACT=1 ROLLOUTS=2
# rnn layout: head0.w [H x obs], head0.b [H], head0.rec [H x H], head1.w [act x H], head1.b [act].
P_RNN=$((H * OBS + H + H * H + ACT * H + ACT))
# mlp layout: the same without head0.rec.
P_MLP=$((H * OBS + H + ACT * H + ACT))
RES=$TMP/out/results.h5

# same_objects DESC A B OBJ...: h5diff -r A B OBJ OBJ exits 0 (equal) for every OBJ.
same_objects() {
    local desc=$1 a=$2 b=$3 obj
    shift 3
    for obj in "$@"; do
        run_cmd h5diff -r "$a" "$b" "$obj" "$obj"
        if [[ $RC == 0 ]]; then
            pass "$desc: $obj is identical"
        else
            local diag
            mapfile -t diag < <(head -n 8 "$OUT" "$ERR")
            fail "$desc: $obj is identical" "got:  h5diff exit $RC" "want: h5diff exit 0" "${diag[@]}"
        fi
    done
}

# py_check DESC SCRIPT FILE...: the Python SCRIPT (sys, h5py and numpy as np imported; the FILEs
# in sys.argv[1:]) exits 0 and prints exactly "ok"; anything else it prints is the diagnostic.
# ---- the run: summary, results file ----

write_config tiny.yaml "${TINY_CP[@]}"
run_fleet $N run tiny.yaml --output "$RES"
check_rc "tiny cart-pole rnn run on $N ranks exits 0" 0
cp "$OUT" summary.txt
check_matches "summary names the experiment, robots, tasks and policy" summary.txt \
    '^tiny_cp: 4 robots, 3 cart-pole tasks, rnn 1x8 tanh, '
for policy in average pooled expert; do
    check_matches "summary table has a row for $policy" summary.txt "^  $policy +[0-9.]+% +[0-9.]+% "
done
check_matches "summary table has a row for the local policies" summary.txt \
    '^  local \(mean\) +[0-9.]+% +[0-9.]+% '
check_contains "summary ends with the results path" summary.txt "results: $RES"
check_exists "results file exists" "$RES"
check_no_tmp "no .tmp file is left" "$TMP"

# ---- layout ----

run_fleet 0 info "$RES"
check_rc "fleet info results.h5 exits 0" 0
cp "$OUT" info.txt
check_matches "fleet info: /models/local/params is float32 [$N, P = $P_RNN]" info.txt \
    "^/models/local/params: float32 \[$N, $P_RNN\]( |$)"
check_matches "fleet info: /models/pooled/params is float32 [$P_RNN]" info.txt \
    "^/models/pooled/params: float32 \[$P_RNN\]( |$)"
check_matches "fleet info: /models/merged/average/params is float32 [$P_RNN]" info.txt \
    "^/models/merged/average/params: float32 \[$P_RNN\]( |$)"
check_matches "fleet info: /eval/pooled/balance is float64 [$K]" info.txt \
    "^/eval/pooled/balance: float64 \[$K\]( |$)"
check_matches "fleet info: /eval/local/balance is float64 [$N, $K]" info.txt \
    "^/eval/local/balance: float64 \[$N, $K\]( |$)"
check_matches "fleet info: /system/tasks is float64 [$K, 4]" info.txt \
    "^/system/tasks: float64 \[$K, 4\]( |$)"
check_contains "fleet info shows the root attribute env" info.txt '@env: string[9] = "cartpole"'

run_cmd h5dump -a /models/pooled/spec "$RES"
check_rc "h5dump -a /models/pooled/spec exits 0" 0
check_contains "/models/pooled spec says arch=rnn" "$OUT" "arch=rnn act=tanh in=3 out=1 hidden=8 "

run_cmd h5dump -d /config "$RES"
check_rc "h5dump -d /config exits 0" 0
cp "$OUT" config_dump.txt
check_matches "/config holds the input's env.kind" config_dump.txt '^ +kind: cartpole$'
check_matches "/config holds the input's train.epochs" config_dump.txt '^ +epochs: 3$'
check_matches "/config holds the default train.weight_decay (not in the input)" config_dump.txt \
    '^ +weight_decay: 0$'
check_matches "/config holds the default train.window (not in the input)" config_dump.txt \
    '^ +window: 0$'
check_matches "/config holds the default fleet.shared_init (not in the input)" config_dump.txt \
    '^ +shared_init: false$'

# ---- values ----

# balance and setpoint are fractions of eval.rollouts episodes, and an episode at the set-point
# has also balanced (docs/cartpole.md).
py_check "balance and setpoint are fractions of $ROLLOUTS episodes in [0, 1], setpoint <= balance" "
f = h5py.File(sys.argv[1], 'r')
R = int(sys.argv[2])
bad = []
for pol in ('average', 'pooled', 'expert', 'local'):
    b, s = f['eval/%s/balance' % pol][()], f['eval/%s/setpoint' % pol][()]
    for name, v in (('balance', b), ('setpoint', s)):
        if v.size == 0 or not np.all((v >= 0) & (v <= 1)) or not np.all(v * R == np.round(v * R)):
            bad.append('/eval/%s/%s = %s' % (pol, name, v.tolist()))
    if b.shape != s.shape or not np.all(s <= b):
        bad.append('/eval/%s: setpoint %s above balance %s' % (pol, s.tolist(), b.tolist()))
print('\n'.join(bad) or 'ok')" "$RES" "$ROLLOUTS"

run_cmd "$PYTHON" -c '
import sys, h5py
print(" ".join("%g" % v for v in h5py.File(sys.argv[1], "r")["eval/expert/balance"][()]))' "$RES"
check_rc "read /eval/expert/balance with h5py" 0
check_eq "the expert balances on every task" "$(cat "$OUT")" "1 1 1"

py_check "/models/merged/average/params is the mean of the $N rows of /models/local/params (1e-6)" "
f = h5py.File(sys.argv[1], 'r')
L = f['models/local/params'][()].astype(np.float64)
a = f['models/merged/average/params'][()].astype(np.float64)
if L.ndim != 2 or a.shape != L.shape[1:]:
    print('shapes: local %s, average %s' % (L.shape, a.shape))
else:
    d = np.abs(a - L.mean(axis=0)).max()
    print('ok' if d <= 1e-6 else 'max |average - mean of rows| = %g' % d)" "$RES"

# One normalization for the whole fleet: the merged policy keeps the robots' input/output units.
for arr in obs_mean obs_std act_mean act_std; do
    run_cmd h5diff "$RES" "$RES" "/models/local/$arr" "/models/merged/average/$arr"
    check_eq "/models/merged/average/$arr equals /models/local/$arr (h5diff exit 0)" "$RC" 0
done

# ---- determinism ----

run_fleet $N run tiny.yaml --quiet --output b.h5
check_rc "second run of the same config exits 0" 0
same_objects "two runs, same seed" "$RES" b.h5 /config /system /fleet /models /eval

write_config seed8.yaml "${TINY_CP[@]}" experiment.seed=8
run_fleet $N run seed8.yaml --quiet --output seed8.h5
check_rc "run with experiment.seed 8 exits 0" 0
run_cmd h5diff -q "$RES" seed8.h5 /models/local /models/local
check_eq "experiment.seed 8 gives a different /models/local (h5diff exit 1)" "$RC" 1

# ---- mlp ----

write_config mlp.yaml "${TINY_CP[@]}" policy.arch=mlp
run_fleet $N run mlp.yaml --quiet --output mlp.h5
check_rc "policy.arch: mlp run exits 0" 0
check_matches "mlp summary has a row for average" "$OUT" '^  average +[0-9.]+% '
run_cmd h5dump -a /models/pooled/spec mlp.h5
check_contains "mlp: /models/pooled spec says arch=mlp" "$OUT" "arch=mlp act=tanh in=3 out=1 hidden=8 "
run_cmd h5dump -H -d /models/local/params mlp.h5
check_contains "mlp: /models/local/params has shape ($N, P = $P_MLP)" "$OUT" \
    "SIMPLE { ( $N, $P_MLP ) / ( $N, $P_MLP ) }"

# ---- linear merges are a config error with kind: cartpole ----

# bad_merge DESC METHODS NAME: the run fails with exit 2 and one error line naming merge.methods
# and NAME at its place in the config; nothing is written.
bad_merge() {
    local desc=$1 methods=$2 name=$3
    write_config bad_merge.yaml "${TINY_CP[@]}" "merge.methods=$methods"
    run_fleet $N run bad_merge.yaml --output "$TMP/bad/results.h5"
    check_rc "$desc: exit 2" 2
    check_matches "$desc: the error names merge.methods and $name" "$ERR" \
        "^fleet: error: bad_merge\.yaml:[0-9]+:[0-9]+: merge\.methods: got $name"
    check_eq "$desc: the error is printed once" "$(grep -c '^fleet: error: ' "$ERR")" 1
    check_absent "$desc: no output directory" "$TMP/bad"
    check_no_tmp "$desc: no .tmp file" "$TMP"
}
bad_merge "merge.methods [linear_gl] with kind: cartpole" "[linear_gl]" linear_gl
bad_merge "merge.methods [average, linear_perm] with kind: cartpole" "[average, linear_perm]" linear_perm

# ---- fleet gen, then a run from the file ----

run_fleet $N gen tiny.yaml -o demos.h5
check_rc "fleet gen of the cart-pole config on $N ranks exits 0" 0
check_contains "fleet gen reports what it wrote" "$OUT" "wrote demos.h5 ($N robots x 6 trajectories)"
check_exists "demos.h5 exists" demos.h5
run_cmd h5dump -a /env demos.h5
check_contains "demos.h5 says env cartpole" "$OUT" '"cartpole"'
write_config from_file.yaml "${TINY_CP[@]}" fleet.data=demos.h5
run_fleet $N run from_file.yaml --quiet --output file.h5
check_rc "run with fleet.data: demos.h5 exits 0" 0
same_objects "from memory vs from demos.h5" "$RES" file.h5 /models/local /fleet/mixture
check_no_tmp "fleet gen and the run from the file leave no .tmp file" "$TMP"

# ---- fleet.shared_init ----

write_config shared.yaml "${TINY_CP[@]}" fleet.shared_init=true
run_fleet $N run shared.yaml --quiet --output shared.h5
check_rc "fleet.shared_init: true run exits 0" 0
py_check "fleet.shared_init: the $N rows of /models/local differ (trained on different data)" "
L = h5py.File(sys.argv[1], 'r')['models/local/params'][()]
same = [(i, j) for i in range(len(L)) for j in range(i + 1, len(L)) if np.array_equal(L[i], L[j])]
print('ok' if len(L) == int(sys.argv[2]) and not same else 'rows %d, identical pairs %s' % (len(L), same))" \
    shared.h5 "$N"

finish
