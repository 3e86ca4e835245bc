#!/usr/bin/env bash
# rl.sh - `fleet run` with rl.enabled (src/fleet/fleet_rl.c, docs/rl.md): an online REINFORCE fleet
# on the cart-pole. The results layout (docs/schema.md, "Results file of online RL runs"), the
# summary and progress lines, determinism, merge_every = 1 leaving every robot with the same
# policy, merge_every = 0 leaving them apart, the config errors of the rl keys, and learning: one
# robot's last 20 episodes against a random policy's return measured here.
set -euo pipefail
source "$(dirname "$0")/lib.bash"

# Tiny fleet: 1 hidden layer of 8 units, 20 episodes of at most 50 steps, a merge every 5.
TINY_RL=(
    experiment.name=tiny_rl experiment.seed=3
    env.kind=cartpole env.num_tasks=1
    policy.arch=mlp policy.layers=1 policy.width=8
    rl.enabled=true rl.episodes=20 rl.merge_every=5 rl.horizon=50 rl.eval_episodes=3 rl.log_every=10
)
N=3 E=20 H=50 W=8
P=$((W * 4 + W + 2 * W + 2)) # head0.w [8 x 4], head0.b, head1.w [2 x 8], head1.b
RES=$TMP/out/results.h5

# ---- the run: summary, progress, results file ----

write_config tiny.yaml "${TINY_RL[@]}"
run_fleet $N run tiny.yaml --output "$RES"
check_rc "tiny RL fleet on $N ranks exits 0" 0
cp "$OUT" summary.txt
check_line "progress line after 10 episodes" summary.txt \
    "[fleet] rl: episodes 1-10 of 20: $(grep -o 'mean return [0-9.]* (3 robots, 2 merges)' summary.txt | head -n 1)"
check_matches "progress lines name the mean return, robots and merges" summary.txt \
    '^\[fleet\] rl: episodes 11-20 of 20: mean return [0-9]+\.[0-9]{2} \(3 robots, 4 merges\)$'
check_matches "summary names robots, episodes, baseline and period" summary.txt \
    '^online RL: 3 robots x 20 episodes, REINFORCE \(baseline running\), averaged every 5 episodes \(4 merges\)$'
check_matches "summary row: each robot's own policy" summary.txt "^each robot's own +[0-9.]+ +[0-9.]+$"
check_matches "summary row: the fleet's average" summary.txt "^average of the fleet +[0-9.]+ +[0-9.]+$"
check_contains "summary ends with the results path" summary.txt "results: $RES"
check_no_tmp "no .tmp file is left" "$TMP"

py_check "results file: datasets, shapes and attributes" "
f = h5py.File(sys.argv[1], 'r')
N, E, P = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
want = {'/rl/returns': (N, E), '/rl/task': (N,), '/rl/eval_local': (N, 2), '/rl/eval_merged': (N, 2),
        '/rl/eval_return': (2,), '/rl/eval_return_local': (2,), '/models/local/params': (N, P),
        '/models/merged/average/params': (P,)}
for k, s in want.items():
    if k not in f: print('missing', k); sys.exit(1)
    if f[k].shape != s: print(k, 'shape', f[k].shape, 'want', s); sys.exit(1)
if '/config' not in f or f.attrs['kind'] != b'fleetmerge-results' and f.attrs['kind'] != 'fleetmerge-results':
    print('no /config or kind'); sys.exit(1)
a = f['/rl'].attrs
if (int(a['merges']), int(a['episodes']), int(a['merge_every'])) != (E // 5, E, 5):
    print('attrs', dict(a)); sys.exit(1)
if f['/rl/eval_local'].attrs['columns'] not in (b'sampled,greedy', 'sampled,greedy'):
    print('columns', f['/rl/eval_local'].attrs['columns']); sys.exit(1)
print('ok')" "$RES" $N $E $P

py_check "returns are whole step counts in [1, horizon]; eval_return is the fleet mean of eval_merged" "
f = h5py.File(sys.argv[1], 'r')
H = int(sys.argv[2])
r = f['/rl/returns'][:]
if not (np.all(r >= 1) and np.all(r <= H) and np.all(r == np.round(r))):
    print('returns', r.min(), r.max()); sys.exit(1)
m, em = f['/rl/eval_merged'][:], f['/rl/eval_return'][:]
if not np.allclose(m.mean(axis=0), em, rtol=1e-12, atol=0):
    print('eval_return', em, 'mean of eval_merged', m.mean(axis=0)); sys.exit(1)
print('ok')" "$RES" $H

# ---- determinism ----

run_fleet $N run tiny.yaml --output "$TMP/out/again.h5"
check_rc "the same run again exits 0" 0
# the phase lines carry wall times, "(1.2 s)": everything else is the same bytes
sed -e "s|$TMP/out/again.h5|$RES|" -e 's/ ([0-9.]* s)$//' "$OUT" >again.txt
sed 's/ ([0-9.]* s)$//' summary.txt >summary_untimed.txt
check_eq "the same config, seed and rank count print the same stdout (phase times aside)" \
    "$(checksum again.txt)" "$(checksum summary_untimed.txt)"
for obj in /rl /models; do
    run_cmd h5diff -r "$RES" "$TMP/out/again.h5" "$obj" "$obj"
    check_eq "the same run writes the same $obj (h5diff)" "$RC" 0
done
run_fleet $N run tiny.yaml --output "$TMP/out/seed.h5" --set experiment.seed=4
run_cmd h5diff -q "$RES" "$TMP/out/seed.h5" /rl/returns /rl/returns
check_eq "another seed gives other returns" "$RC" 1

# ---- merging ----

run_fleet $N run tiny.yaml --output "$TMP/out/k1.h5" --set rl.merge_every=1
check_rc "merge_every 1 exits 0" 0
run_fleet $N run tiny.yaml --output "$TMP/out/k0.h5" --set rl.merge_every=0
check_rc "merge_every 0 exits 0" 0
py_check "merge_every 1: every robot ends with the same policy, the fleet's average" "
f = h5py.File(sys.argv[1], 'r')
w, a = f['/models/local/params'][:], f['/models/merged/average/params'][:]
if not (np.array_equal(w[0], w[1]) and np.array_equal(w[0], w[2]) and np.array_equal(w[0], a)):
    print('max difference between robots', np.abs(w - w[0]).max()); sys.exit(1)
if int(f['/rl'].attrs['merges']) != 20: print('merges', f['/rl'].attrs['merges']); sys.exit(1)
print('ok')" "$TMP/out/k1.h5"
py_check "merge_every 0: no merges, the robots end apart, the average is their mean" "
f = h5py.File(sys.argv[1], 'r')
w, a = f['/models/local/params'][:], f['/models/merged/average/params'][:]
if int(f['/rl'].attrs['merges']) != 0: print('merges', f['/rl'].attrs['merges']); sys.exit(1)
if np.array_equal(w[0], w[1]) or np.array_equal(w[1], w[2]): print('robots are equal'); sys.exit(1)
if not np.allclose(w.astype(np.float64).mean(axis=0), a, rtol=1e-6, atol=1e-7):
    print('average', np.abs(w.mean(axis=0) - a).max()); sys.exit(1)
print('ok')" "$TMP/out/k0.h5"

# ---- config errors: exit 2, a message naming the key, nothing written ----

bad_rl() { # bad_rl DESC LINE PAIR...
    local desc=$1 line=$2
    shift 2
    write_config bad.yaml "${TINY_RL[@]}" "$@"
    run_fleet 2 run bad.yaml --output "$TMP/bad/results.h5"
    check_rc "$desc: exit 2" 2
    check_contains "$desc: the message" "$ERR" "$line"
    check_absent "$desc: nothing written" "$TMP/bad"
}
bad_rl "rl with env.kind lqg" "rl.enabled: got true with env.kind lqg, expected env.kind cartpole" \
    env.kind=lqg env.num_tasks=1 policy.arch=mlp
bad_rl "rl with an rnn" "policy.arch: got rnn, expected mlp with rl.enabled" policy.arch=rnn
bad_rl "merge_every not a multiple of batch" \
    "rl.merge_every: got 3, expected a multiple of rl.batch (2): policies are averaged between Adam steps" \
    rl.batch=2 rl.merge_every=3
bad_rl "episodes not a multiple of batch" "rl.episodes: got 20, expected a multiple of rl.batch (3)" \
    rl.batch=3 rl.merge_every=3
bad_rl "force above cp_force_max" "rl.force: got 30, expected at most env.cp_force_max (20 N)" rl.force=30
bad_rl "gamma out of range" "rl.gamma: got 1.5, expected a value in [0, 1]" rl.gamma=1.5
bad_rl "an unknown baseline" 'rl.baseline: got "mean", expected one of [none, running, episode]' rl.baseline=mean
bad_rl "merging rounds with rl" "fleet.rounds: got 3, expected 0 with rl.enabled" fleet.rounds=3
bad_rl "an unknown rl key" "rl.episode: unknown key" rl.episode=5
run_fleet 2 gen tiny.yaml -o "$TMP/bad/demos.h5"
check_rc "fleet gen of an rl config: exit 2" 2
check_contains "fleet gen of an rl config: the message" "$ERR" "rl.enabled: an online RL run collects its own episodes"

# ---- learning: one robot against a random policy, both measured here ----

LEARN=(rl.horizon=200 rl.episodes=300 rl.merge_every=0 rl.log_every=0 policy.width=32)
run_fleet 1 run tiny.yaml --output "$TMP/out/random.h5" "${LEARN[@]/#/--set=}" --set rl.lr=1e-9
check_rc "one robot, lr 1e-9 (a random policy): exit 0" 0
run_fleet 1 run tiny.yaml --output "$TMP/out/learn.h5" "${LEARN[@]/#/--set=}"
check_rc "one robot, 300 episodes: exit 0" 0
py_check "one robot learns: its last 20 episodes return > 3 x and > 50 + a random policy's mean" "
r0 = h5py.File(sys.argv[1], 'r')['/rl/returns'][0]
r1 = h5py.File(sys.argv[2], 'r')['/rl/returns'][0]
rand, last = r0.mean(), r1[-20:].mean()
if not (last > 3 * rand and last > rand + 50):
    print('random policy %.1f, last 20 episodes %.1f' % (rand, last)); sys.exit(1)
print('ok')" "$TMP/out/random.h5" "$TMP/out/learn.h5"

# the Figure 11 report over the files of this script (analysis/rl_report.py)
mkdir -p rep/k1 rep/k0
cp "$TMP/out/k1.h5" rep/k1/results.h5 && cp "$TMP/out/k0.h5" rep/k0/results.h5
run_cmd "$PYTHON" "$ROOT/analysis/rl_report.py" rep --md rep.md --png rep.png
check_rc "rl_report.py over runs with and without merging" 0
check_matches "a row per variant" rep.md "^\| 3 robots, average every 1 \| 1 \|"
check_matches "and the unmerged fleet" rep.md "^\| 3 robots, no merging \| 1 \|"
check_exists "and a figure" rep.png
finish
