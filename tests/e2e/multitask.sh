#!/usr/bin/env bash
# multitask.sh - the MT-10 suite end to end (env.kind: multitask, docs/multitask.md): a tiny run on
# 2 ranks (the summary, the results layout, the expert scored 100%, scores in [0, 1]), determinism of
# two runs, a run without the task id (observation dimension 39), and config errors.
set -euo pipefail
source "$(dirname "$0")/lib.bash"

# Tiny MT-10: 3 tasks (reach, push, pick-place), 6 demos per robot, 2 epochs, 2 episodes per task.
TINY_MT=(
    experiment.name=tiny_mt experiment.seed=1
    env.kind=multitask env.num_tasks=3 env.horizon=120
    fleet.demos_per_robot=6
    policy.arch=mlp policy.layers=2 policy.width=32 policy.activation=relu
    train.epochs=2 train.batch_unit=steps train.batch_size=32
    "merge.methods=[average, fleet_merge]" merge.fm_epochs=1 merge.fm_steps=5
    eval.rollouts=2 eval.val_demos=2
)
N=2 K=3
RES=$TMP/out/results.h5

# ---- the run ----

write_config tiny.yaml "${TINY_MT[@]}"
run_fleet $N run tiny.yaml --output "$RES"
check_rc "tiny MT-10 run on $N ranks exits 0" 0
cp "$OUT" summary.txt
check_matches "summary names the experiment, robots and MT-10 tasks" summary.txt \
    "^tiny_mt: $N robots, $K MT-10 tasks, mlp 2x32 relu, "
check_matches "the expert succeeded in every scene it was given" summary.txt \
    "expert succeeded in $((N * 6)) of [0-9]+ scenes"
check_matches "the expert's row: 100% success" summary.txt "^  expert +100\.0% +100\.0% "
for policy in average fleet_merge pooled; do
    check_matches "summary table has a row for $policy" summary.txt "^  $policy +[0-9.]+% +[0-9.]+% "
done
check_exists "results file exists" "$RES"
check_no_tmp "no .tmp file is left" "$TMP"

run_fleet 0 info "$RES"
check_rc "fleet info results.h5 exits 0" 0
cp "$OUT" info.txt
check_contains "fleet info shows the root attribute env = multitask" info.txt '@env: string[10] = "multitask"'
for s in success at_end distance; do
    check_matches "fleet info: /eval/fleet_merge/$s is float64 [$K]" info.txt "^/eval/fleet_merge/$s: float64 \[$K\]( |$)"
done
check_matches "fleet info: /eval/local/success is float64 [$N, $K]" info.txt \
    "^/eval/local/success: float64 \[$N, $K\]( |$)"

py_check "/system/tasks names the tasks in the table's order; scores are fractions of 2 episodes" "
f = h5py.File(sys.argv[1], 'r')
names = f['system/tasks'].attrs['names']
names = names.decode() if isinstance(names, bytes) else names
bad = [] if names == 'reach,push,pick-place' else ['names %r' % names]
for pol in ('average', 'fleet_merge', 'pooled', 'expert'):
    v = f['eval/%s/success' % pol][()]
    if v.shape != (3,) or not np.all(np.isin(v, [0, 0.5, 1])):
        bad.append('/eval/%s/success = %s' % (pol, v.tolist()))
if not np.all(f['eval/expert/success'][()] == 1):
    bad.append('expert success %s' % f['eval/expert/success'][()].tolist())
print('\n'.join(bad) or 'ok')" "$RES"

# ---- determinism ----

run_fleet $N run tiny.yaml --quiet --output b.h5
check_rc "second run of the same config exits 0" 0
for g in /system /fleet /models /merge /eval; do
    run_cmd h5diff -r "$RES" b.h5 "$g" "$g"
    if [[ $RC == 0 ]]; then
        pass "two runs, same seed: $g is identical"
    else
        mapfile -t diag < <(head -n 8 "$OUT" "$ERR")
        fail "two runs, same seed: $g is identical" "got:  h5diff exit $RC" "want: h5diff exit 0" "${diag[@]}"
    fi
done

# ---- fleet render ----

run_fleet 0 render tiny.yaml --task 2 --seed 1 --out expert_frames --size 64x48
check_rc "fleet render of the pick-place expert from the config exits 0" 0
check_matches "fleet render reports frames and success" "$OUT" \
    '^expert, task 2 \(pick-place\), seed 1: [0-9]+ frames in expert_frames/, success after [0-9]+ actions'
py_check "the frames are 64x48 PNG files, one per action plus the start" "
d = sys.argv[1]
names = sorted(os.listdir(d))
bad = [n for n in names if open(os.path.join(d, n), 'rb').read(8) != b'\\x89PNG\\r\\n\\x1a\\n']
print('ok' if len(names) > 5 and not bad else 'frames %d, bad %s' % (len(names), bad[:3]))" expert_frames
run_fleet 0 render "$RES" --task 1 --seed 2 --policy merged/fleet_merge --out merged_frames --size 64x48
check_rc "fleet render --policy merged/fleet_merge from the results file exits 0" 0
check_matches "fleet render names the policy and the task" "$OUT" '^merged/fleet_merge, task 1 \(push\), seed 2: [0-9]+ frames'
run_fleet 0 render tiny.yaml --task 3 --out bad_frames
check_rc "fleet render --task 3 with 3 tasks: exit 2" 2
check_contains "the message names the task range" "$ERR" "--task 3: the config has tasks 0..2"

# ---- without the task id: the policy sees Meta-World's 39 values ----

write_config noid.yaml "${TINY_MT[@]}" experiment.name=tiny_mt_noid env.mt_task_id=false \
    env.num_tasks=2 train.epochs=1 eval.rollouts=1
run_fleet $N run noid.yaml --quiet --output noid.h5
check_rc "a run with env.mt_task_id: false exits 0" 0
py_check "without the task id the policy's input is 39 values (the first layer's weight is [width, 39])" "
f = h5py.File(sys.argv[1], 'r')
shapes = []
f['models'].visititems(lambda n, o: shapes.append((n, o.shape)) if isinstance(o, h5py.Dataset) else None)
print('ok' if any(39 in s for n, s in shapes) and not any(41 in s for n, s in shapes) else 'shapes %s' % shapes[:8])" noid.h5

# ---- config errors ----

write_config bad_k.yaml "${TINY_MT[@]}" env.num_tasks=11
run_fleet $N run bad_k.yaml --output bad.h5
check_rc "env.num_tasks: 11 with multitask: exit 2" 2
check_contains "the message says how many tasks the table has" "$ERR" "expected at most 10 with env.kind multitask"
check_absent "no results file after the error" bad.h5

write_config bad_noise.yaml "${TINY_MT[@]}" env.mt_action_noise=-0.1
run_fleet $N run bad_noise.yaml --output bad.h5
check_rc "env.mt_action_noise: -0.1: exit 2" 2
check_contains "the message names the key" "$ERR" "env.mt_action_noise"

finish
