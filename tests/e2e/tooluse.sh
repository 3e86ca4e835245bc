#!/usr/bin/env bash
# tooluse.sh - the tool-use benchmark end to end (env.kind: tooluse, docs/tooluse.md): a tiny run on
# 2 ranks (merged scores in [0, 1], the expert scored, the results layout), determinism of two runs,
# `fleet render` of the expert (from the config) and of a merged policy (from the results file), the
# errors of `fleet render` (unknown policy, task out of range, another env.kind) and of an odd
# env.tu_points, a run with merging rounds, a keypoint run with single-step minibatches and a
# held-out BC loss, analysis/tooluse_report.py on the runs, and pipelines/tooluse.sh --help.
set -euo pipefail
source "$(dirname "$0")/lib.bash"

# Tiny tool use: 4 tasks (one per family), 3 demos of at most 40 steps per robot, 32 points,
# 2 epochs, 1 episode per task; a few seconds on 2 ranks.
TINY_TU=(
    experiment.name=tiny_tu experiment.seed=1
    env.kind=tooluse env.num_tasks=4 env.horizon=40 env.tu_points=32
    fleet.demos_per_robot=3
    policy.arch=mlp policy.layers=2 policy.width=32 policy.activation=relu
    policy.enc_layers=2 policy.enc_width=16
    train.epochs=2 train.batch_size=8
    "merge.methods=[average, fleet_merge]" merge.fm_epochs=1 merge.fm_steps=5
    eval.rollouts=1
)
N=2 K=4
RES=$TMP/out/results.h5
GROUPS_COMPARED=(/config /system /fleet /models /merge /eval)

# PNG frames in DIR: at least one frame_NNNN.png, every one with the PNG signature and W x H.
PNG_CHECK="
d, w, h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
names = sorted(os.listdir(d)) if os.path.isdir(d) else []
bad = [n for n in names if not (n.startswith('frame_') and n.endswith('.png'))]
for n in names:
    b = open(os.path.join(d, n), 'rb').read(24)
    if b[:8] != b'\\x89PNG\\r\\n\\x1a\\n':
        bad.append('%s: signature %r' % (n, b[:8]))
    elif (int.from_bytes(b[16:20], 'big'), int.from_bytes(b[20:24], 'big')) != (w, h):
        bad.append('%s: %dx%d' % (n, int.from_bytes(b[16:20], 'big'), int.from_bytes(b[20:24], 'big')))
print('ok' if names and not bad else 'frames %s; bad: %s' % (names[:5], bad[:5]))"

# ---- the run ----

write_config tiny.yaml "${TINY_TU[@]}"
run_fleet $N run tiny.yaml --output "$RES"
check_rc "tiny tool-use run on $N ranks exits 0" 0
cp "$OUT" summary.txt
check_matches "summary names the experiment, robots and tool-use tasks" summary.txt \
    "^tiny_tu: $N robots, $K tool-use tasks, mlp 2x32 relu, "
for policy in average fleet_merge pooled expert; do
    check_matches "summary table has a row for $policy" summary.txt "^  $policy +[0-9.]+% +[0-9.]+% "
done
check_exists "results file exists" "$RES"
check_no_tmp "no .tmp file is left" "$TMP"

run_fleet 0 info "$RES"
check_rc "fleet info results.h5 exits 0" 0
cp "$OUT" info.txt
check_contains "fleet info shows the root attribute env = tooluse" info.txt '@env: string[8] = "tooluse"'
for policy in average fleet_merge pooled expert; do
    for s in success touched shortfall; do
        check_matches "fleet info: /eval/$policy/$s is float64 [$K]" info.txt "^/eval/$policy/$s: float64 \[$K\]( |$)"
    done
done
check_matches "fleet info: /eval/local/success is float64 [$N, $K]" info.txt \
    "^/eval/local/success: float64 \[$N, $K\]( |$)"
check_matches "fleet info: /system/tasks is float64 [$K, 9]" info.txt "^/system/tasks: float64 \[$K, 9\]( |$)"

py_check "/eval/fleet_merge/success has $K entries in [0, 1] (fractions of 1 episode), so has /eval/expert/success" "
f = h5py.File(sys.argv[1], 'r')
bad = []
for pol in ('fleet_merge', 'expert'):
    v = f['eval/%s/success' % pol][()]
    if v.shape != (int(sys.argv[2]),) or not np.all((v == 0) | (v == 1)):
        bad.append('/eval/%s/success = %s' % (pol, v.tolist()))
print('\n'.join(bad) or 'ok')" "$RES" "$K"

py_check "/system/tasks: task h is family h % 4 (column 'family')" "
t = h5py.File(sys.argv[1], 'r')['system/tasks']
cols = t.attrs['columns']
cols = (cols.decode() if isinstance(cols, bytes) else cols).split(',')
fam = t[:, cols.index('family')] if 'family' in cols else None
print('ok' if fam is not None and fam.tolist() == [h % 4 for h in range(len(fam))] else 'columns %s, family %s' % (cols, fam))" "$RES"

# ---- determinism ----

run_fleet $N run tiny.yaml --quiet --output b.h5
check_rc "second run of the same config exits 0" 0
for g in "${GROUPS_COMPARED[@]}"; do
    run_cmd h5diff -r "$RES" b.h5 "$g" "$g"
    if [[ $RC == 0 ]]; then
        pass "two runs, same seed: $g is identical"
    else
        mapfile -t diag < <(head -n 8 "$OUT" "$ERR")
        fail "two runs, same seed: $g is identical" "got:  h5diff exit $RC" "want: h5diff exit 0" "${diag[@]}"
    fi
done

# ---- fleet render ----

run_fleet 0 render tiny.yaml --task 0 --seed 1 --out expert_frames --size 64x48
check_rc "fleet render of the expert from the config exits 0" 0
check_matches "fleet render reports the frames it wrote" "$OUT" '^expert, task 0 \(hammer-0\), seed 1: [0-9]+ frames in '
py_check "expert frames are 64x48 PNG files" "$PNG_CHECK" expert_frames 64 48

run_fleet 0 render "$RES" --task 1 --seed 1 --policy merged/fleet_merge --out merged_frames --size 64x48
check_rc "fleet render --policy merged/fleet_merge from the results file exits 0" 0
check_matches "fleet render names the policy" "$OUT" '^merged/fleet_merge, task 1 \(wrench-0\), seed 1: [0-9]+ frames'
py_check "merged/fleet_merge frames are 64x48 PNG files" "$PNG_CHECK" merged_frames 64 48

run_fleet 0 render "$RES" --task 0 --policy bogus --out bad_frames
check_rc "fleet render --policy bogus: exit 2" 2
check_contains "fleet render --policy bogus: the message names the policy and the choices" "$ERR" \
    "--policy bogus: expected expert, pooled, merged/<method> or local/<robot>"
run_fleet 0 render "$RES" --task 0 --policy merged/sinkhorn_rebasin --out bad_frames
check_rc_nonzero "fleet render --policy merged/sinkhorn_rebasin (not in the file): non-zero exit"
check_contains "fleet render --policy merged/sinkhorn_rebasin: the message names the missing model" "$ERR" \
    "/models/merged/sinkhorn_rebasin"
run_fleet 0 render "$RES" --task $K --out bad_frames
check_rc "fleet render --task $K (out of range): exit 2" 2
check_contains "fleet render --task $K: the message gives the range" "$ERR" "--task $K: the config has tasks 0..$((K - 1))"
write_config cp.yaml experiment.name=cp env.kind=cartpole env.num_tasks=2 env.horizon=20 policy.arch=rnn
run_fleet 0 render cp.yaml --task 0 --out bad_frames
check_rc "fleet render of a cart-pole config: exit 2" 2
check_contains "fleet render of a cart-pole config: the message names env.kind" "$ERR" \
    "cp.yaml: env.kind is cartpole; fleet render shows tool-use and multitask episodes"
check_absent "failed renders create no output directory" bad_frames

# ---- config error: odd env.tu_points ----

write_config odd.yaml "${TINY_TU[@]}" env.tu_points=33
run_fleet $N run odd.yaml --output "$TMP/bad/results.h5"
check_rc "env.tu_points 33: exit 2" 2
check_matches "env.tu_points 33: the error names env.tu_points at its place" "$ERR" \
    '^fleet: error: odd\.yaml:[0-9]+:[0-9]+: env\.tu_points: got 33, expected an even number'
check_eq "env.tu_points 33: the error is printed once" "$(grep -c '^fleet: error: ' "$ERR")" 1
check_absent "env.tu_points 33: no output directory" "$TMP/bad"

# ---- merging rounds ----

write_config rounds.yaml "${TINY_TU[@]}" experiment.name=tiny_tu_rounds fleet.rounds=2 fleet.local_epochs=1 \
    fleet.participation=1.0 "merge.methods=[fleet_merge]" eval.round_rollouts=1
run_fleet $N run rounds.yaml --quiet --output rounds.h5
check_rc "tool-use run with 2 merging rounds exits 0" 0
py_check "/rounds/merged_success [2] in [0, 1], /rounds/merged_bc_loss [2] finite" "
f = h5py.File(sys.argv[1], 'r')
s, l = f['rounds/merged_success'][()], f['rounds/merged_bc_loss'][()]
ok = s.shape == (2,) and l.shape == (2,) and np.all((s >= 0) & (s <= 1)) and np.all(np.isfinite(l))
print('ok' if ok else 'merged_success %s, merged_bc_loss %s' % (s.tolist(), l.tolist()))" rounds.h5

# ---- keypoint observations, single-step minibatches, held-out BC loss ----

# robot_stat(f, NAME): column NAME of /fleet/robot_stats (names in its attribute `columns`)
ROBOT_STAT="
def robot_stat(f, name):
    rs = f['fleet/robot_stats']
    cols = rs.attrs['columns']
    cols = (cols.decode() if isinstance(cols, bytes) else cols).split(',')
    return rs[:, cols.index(name)]"

write_config kp.yaml "${TINY_TU[@]}" experiment.name=tiny_tu_kp env.tu_obs=keypoints train.batch_unit=steps \
    train.batch_size=32 eval.val_demos=2
run_fleet $N run kp.yaml --output kp.h5
check_rc "keypoint run (batch_unit steps, val_demos 2) exits 0" 0
cp "$OUT" kp_summary.txt
check_matches "the summary has a held-out column" kp_summary.txt '^  policy +success +worst +touched +shortfall +BC loss +held out$'
check_matches "the local row shows train and held-out loss" kp_summary.txt '^  local \(mean\) +([0-9.]+% +){3}[0-9.e+-]+ +[0-9.e+-]+ +[0-9.e+-]+$'
# 47 inputs (35 keypoint values + 12 proprio), no encoder: (47 + 1) 32 + (32 + 1) 32 + (32 + 1) 6 parameters
py_check "/eval/heldout_bc_loss is [$N, 1 + 5] (local, average, fleet_merge, pooled, expert), finite but the expert's NaN; models take 47 inputs" "
f = h5py.File(sys.argv[1], 'r')
v = f['eval/heldout_bc_loss'][()]
cols = f['eval/heldout_bc_loss'].attrs['columns']
cols = (cols.decode() if isinstance(cols, bytes) else cols).split(',')
P = f['models/pooled/params'].shape[-1]
bad = []
if cols != ['local', 'average', 'fleet_merge', 'pooled', 'expert']: bad.append('columns %s' % cols)
if v.shape != (int(sys.argv[2]), 5): bad.append('shape %s' % (v.shape,))
elif not (np.all(np.isfinite(v[:, :4])) and np.all(v[:, :4] > 0) and np.all(np.isnan(v[:, 4]))): bad.append('values %s' % v.tolist())
if P != 48 * 32 + 33 * 32 + 33 * 6: bad.append('pooled has %d parameters' % P)
print('\n'.join(bad) or 'ok')" kp.h5 "$N"
# the held-out demonstrations come after the training data in each robot's stream: a run without
# them trains the same models; and held out is not the training data (the local policy's loss
# there differs from its training loss, /fleet/robot_stats local_bc_loss)
write_config kp_noval.yaml "${TINY_TU[@]}" experiment.name=tiny_tu_kp env.tu_obs=keypoints train.batch_unit=steps \
    train.batch_size=32
run_fleet $N run kp_noval.yaml --quiet --output kp_noval.h5
run_cmd h5diff -r kp.h5 kp_noval.h5 /models /models
check_rc "eval.val_demos leaves the training data and every model unchanged (/models identical)" 0
py_check "held-out loss of each robot's own policy differs from its training loss" "$ROBOT_STAT
f = h5py.File(sys.argv[1], 'r')
train = robot_stat(f, 'local_bc_loss')
held = f['eval/heldout_bc_loss'][:, 0]
print('ok' if np.all(np.abs(held - train) > 1e-6 * np.abs(train)) else 'train %s, held out %s' % (train.tolist(), held.tolist()))" kp.h5
run_fleet $N run kp.yaml --quiet --output kp2.h5
run_cmd h5diff -r kp.h5 kp2.h5 /eval /eval
check_rc "keypoint run: the same seed gives the same /eval, held-out losses included" 0
run_fleet 0 render kp.h5 --task 3 --seed 1 --policy merged/fleet_merge --out kp_frames --size 64x48
check_rc "fleet render of a keypoint policy exits 0" 0
write_config kp_rnn.yaml "${TINY_TU[@]}" policy.arch=rnn train.batch_unit=steps
run_fleet 1 run kp_rnn.yaml --output kp_rnn.h5
check_rc "train.batch_unit: steps with an rnn is a config error (exit 2)" 2
check_contains "the message names train.batch_unit" "$ERR" "train.batch_unit"
# combinations the settings cannot honour are config errors at the key's line
bad_combo() { # NAME KEY OVERRIDE...
    local name=$1 key=$2
    shift 2
    write_config "$name.yaml" "${TINY_TU[@]}" "$@"
    run_fleet 1 run "$name.yaml" --output "$name.h5"
    check_rc "$* is a config error (exit 2)" 2
    check_matches "$name: the message names $key at its line" "$ERR" "$name\.yaml:[0-9]+:[0-9]+: $key: "
}
bad_combo kp_win train.window train.batch_unit=steps train.window=5
bad_combo kp_rounds train.nn_steps train.nn_steps=10 fleet.rounds=2 "merge.methods=[average]"
bad_combo kp_data eval.val_demos eval.val_demos=2 fleet.data=demos.h5
# train.nn_steps: exactly that many optimizer steps for every robot's own policy and for pooled
write_config kp_steps.yaml "${TINY_TU[@]}" experiment.name=tiny_tu_steps env.tu_obs=keypoints train.batch_unit=steps \
    train.nn_steps=7
run_fleet $N run kp_steps.yaml --quiet --output kp_steps.h5
check_rc "a keypoint run with train.nn_steps 7 exits 0" 0
check_matches "its summary counts 7 optimizer steps for robot 0 and for pooled" "$OUT" \
    '^  optimizer steps: 7 for robot 0.s own policy, 7 for pooled \(train.nn_steps, '
py_check "/fleet/robot_stats train_steps = 7 for every robot, /fleet pooled_train_steps = 7" "$ROBOT_STAT
f = h5py.File(sys.argv[1], 'r')
t = robot_stat(f, 'train_steps')
p = f['fleet'].attrs['pooled_train_steps']
print('ok' if np.all(t == 7) and p == 7 else 'train_steps %s, pooled %s' % (t.tolist(), p))" kp_steps.h5

# ---- the report and the pipeline's help ----

run_cmd "$PYTHON" "$ROOT/analysis/tooluse_report.py" "$RES" b.h5 --md report/tooluse.md
check_rc "analysis/tooluse_report.py on two runs of the same seed: exit 2" 2
check_contains "analysis/tooluse_report.py: the message says a seed is given twice" "$ERR" "a seed is given twice"
run_cmd "$PYTHON" "$ROOT/analysis/tooluse_report.py" "$RES" rounds.h5 --md report/tooluse.md
check_rc "analysis/tooluse_report.py on the one-shot and the rounds run exits 0" 0
check_exists "the report is written" report/tooluse.md
check_exists "the figure is written next to it" report/tooluse.png
check_matches "the report has the fleet_merge success row" report/tooluse.md '^\| fleet_merge \| [0-9.]+% \|'
check_matches "the report has the per-family table" report/tooluse.md '^\| policy \| hammer \(1 task\) \| wrench'
check_matches "the report has the iterative row (fleet_merge, M = 1, 2 rounds)" report/tooluse.md \
    '^\| fleet_merge \| 1 \| 2 \| 1 \| 1 \| [0-9.]+% \| [0-9.]+% \| [0-9.]+ \|'
run_cmd "$PYTHON" "$ROOT/analysis/tooluse_report.py" missing.h5 --md report/x.md
check_rc "analysis/tooluse_report.py on a missing file: exit 2" 2
check_contains "analysis/tooluse_report.py names the missing file" "$ERR" "missing.h5: no such file"
run_cmd "$PYTHON" "$ROOT/analysis/tooluse_report.py" tiny.yaml --md report/x.md
check_rc "analysis/tooluse_report.py on a non-HDF5 file: exit 2" 2

run_cmd "$ROOT/pipelines/tooluse.sh" --help
check_rc "pipelines/tooluse.sh --help exits 0" 0
check_contains "pipelines/tooluse.sh --help shows the usage" "$OUT" "usage: pipelines/tooluse.sh [expert|oneshot|barrier|wide|rounds|all]"
check_contains "pipelines/tooluse.sh --help documents the quick mode" "$OUT" "QUICK=1"
run_cmd "$ROOT/pipelines/tooluse.sh" -h
check_rc "pipelines/tooluse.sh -h exits 0" 0
run_cmd "$ROOT/pipelines/tooluse.sh" bogus
check_rc "pipelines/tooluse.sh bogus: exit 2" 2
check_contains "pipelines/tooluse.sh bogus: the message names the part" "$ERR" "unknown part 'bogus'"

finish
