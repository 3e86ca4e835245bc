#!/usr/bin/env bash
# traffic.sh - what a robot sends and receives per merging round (issue 12, item 2), read from
# /rounds/bytes_received of the results: FedAvg (average) costs one float32 mean of the model
# (reduce-scatter + allgather: 2 P (N - 1) / N floats per robot, P = parameters) plus a few small
# reductions, and no broadcast when every robot participated; fleet_merge from round 2 on (the
# robots share the previous merged model, so no MergeMany) costs at most (E + 2) FedAvg rounds,
# E = merge.fm_epochs; round 1 (independent initializations) runs MergeMany and costs more. One-shot
# merges: /merge/<method>/bytes_sent, the plain average = one float32 mean.
source "$(dirname "$0")/lib.bash"

common=(experiment.seed=1 'experiment.output_dir="."' env.kind=cartpole env.num_tasks=4 env.horizon=60
    fleet.robots=0 fleet.demos_per_robot=8 fleet.rounds=3 fleet.local_epochs=1 fleet.participation=1.0
    policy.arch=mlp policy.layers=2 policy.width=32 train.batch_size=8 train.epochs=3
    merge.fm_epochs=1 merge.fm_steps=5 eval.rollouts=1 eval.round_rollouts=1)
write_config avg.yaml experiment.name=avg "${common[@]}" 'merge.methods=[average]'
write_config fm.yaml experiment.name=fm "${common[@]}" 'merge.methods=[fleet_merge]'
for c in avg fm; do
    run_fleet 4 run $c.yaml --quiet --output $c.h5
    check_rc "$c: 3 rounds on 4 ranks" 0
done

# check NAME PYTHON-CONDITION: one TAP check on the two results (ra, rf: bytes received [robot][round]).
check_py() {
    run_cmd "$PYTHON" -c "
import sys, h5py
a = h5py.File('avg.h5', 'r'); f = h5py.File('fm.h5', 'r')
P = a['models/merged/average/params'].size; N = 4; E = 1
ra, rf = a['rounds/bytes_received'][()], f['rounds/bytes_received'][()]
cnt = [P // N + (i < P % N) for i in range(N)]  # robot i's chunk of the reduce-scatter
mean_payload = [[4.0 * (cnt[i] * (N - 1) + P - cnt[i])] for i in range(N)]  # received: pieces + gathered
ok = $2
print('P', P, 'FedAvg', ra.tolist(), 'fleet_merge', rf.tolist(), 'one float32 mean', mean_payload)
sys.exit(0 if ok else 1)"
    if [[ $RC == 0 ]]; then pass "$1"; else fail "$1" "$(cat "$OUT" "$ERR" | head -5)"; fi
}
check_py "FedAvg: one float32 mean per round per robot (2 P (N-1)/N floats) plus at most 64 bytes" \
    "(ra >= mean_payload).all() and (ra <= [[m[0] + 64] for m in mean_payload]).all()"
check_py "fleet_merge rounds 2-3 (shared start, no MergeMany): at most (E + 2) x FedAvg's bytes" \
    "(rf[:, 1:] <= (E + 2) * ra[:, 1:]).all()"
check_py "fleet_merge round 1 runs MergeMany (independent initializations): more than (E + 2) x FedAvg's" \
    "(rf[:, 0] > (E + 2) * ra[:, 0]).all()"

# one-shot merges record what each robot sent per method (/merge/<method>/bytes_sent): the plain
# average is one float32 mean (robot i sends the P - c_i floats others reduce, then its c_i floats to
# N - 1 robots), the aligned methods send more (MergeMany's re-matches, fleet_merge's epochs)
write_config once.yaml experiment.name=once "${common[@]}" fleet.rounds=0 'merge.methods=[average, git_rebasin, fleet_merge]'
run_fleet 4 run once.yaml --quiet --output once.h5
check_rc "one-shot merge by three methods on 4 ranks" 0
run_cmd "$PYTHON" -c "
import sys, h5py, numpy as np
f = h5py.File('once.h5', 'r')
P = f['models/merged/average/params'].size; N = 4
cnt = [P // N + (i < P % N) for i in range(N)]
want = np.array([4.0 * (P - cnt[i] + cnt[i] * (N - 1)) for i in range(N)])
s = {m: f['merge/%s/bytes_sent' % m][()] for m in ('average', 'git_rebasin', 'fleet_merge')}
print('P', P, 'one mean', want.tolist(), {m: v.tolist() for m, v in s.items()})
ok = s['average'].shape == (N,) and (s['average'] >= want).all() and (s['average'] <= want + 64).all()
ok = ok and (s['git_rebasin'] > s['average']).all() and (s['fleet_merge'] > s['git_rebasin']).all()
sys.exit(0 if ok else 1)"
if [[ $RC == 0 ]]; then pass "one-shot: average sends one float32 mean per robot, git_rebasin more, fleet_merge more still"
else fail "one-shot: average sends one float32 mean per robot, git_rebasin more, fleet_merge more still" "$(cat "$OUT" "$ERR" | head -5)"; fi
finish
