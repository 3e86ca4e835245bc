#!/usr/bin/env bash
# bad_checkpoint.sh - a damaged or foreign checkpoint is refused with the file and the object named,
# never trusted and never a crash: rounds_done negative / NaN / 2^40 / 0 / beyond fleet.rounds, a wrong
# kind, a NaN Adam step, NaN metrics and parameters, shapes of another run, a checkpoint written by
# another number of ranks (issue 11, defects 1 and 4). A checkpoint left by FLEET_STOP_AFTER (a test
# hook that ends the run after a round's checkpoint) is the starting point; the intact one resumes.
source "$(dirname "$0")/lib.bash"

write_config ck.yaml experiment.name=ck experiment.seed=4 'experiment.output_dir="."' \
    env.kind=cartpole env.num_tasks=2 env.horizon=40 \
    fleet.robots=0 fleet.demos_per_robot=8 fleet.rounds=3 fleet.local_epochs=1 \
    policy.arch=mlp policy.layers=1 policy.width=16 train.batch_size=4 \
    'merge.methods=[average]' eval.rollouts=1 eval.round_rollouts=1

export FLEET_STOP_AFTER=1
run_fleet 2 run ck.yaml --quiet --output r.h5
unset FLEET_STOP_AFTER
check_rc "FLEET_STOP_AFTER=1 ends the run with an error" 1
check_contains "it says why" "$ERR" "stopped after round 1 (FLEET_STOP_AFTER"
check_exists "it leaves the round-1 checkpoint" r.h5.ckpt
check_absent "and no results file" r.h5
cp r.h5.ckpt good.ckpt

# damage NAME PYTHON: copy the good checkpoint, apply PYTHON to it (h5py file f), resume on 2 ranks.
damage() {
    local name=$1 code=$2
    cp good.ckpt r.h5.ckpt
    run_cmd "$PYTHON" -c "import h5py, numpy as np
f = h5py.File('r.h5.ckpt', 'r+', libver=('v108', 'v108'))
$code
f.close()"
    if [[ $RC != 0 ]]; then fail "damage the checkpoint: $name" "$(head -3 "$ERR")"; return; fi
    run_fleet 2 run ck.yaml --quiet --output r.h5
}

# check_refused DESC NEEDLE: the last run failed cleanly (exit 1 or 2, no signal) naming NEEDLE.
check_refused() {
    if [[ $RC == 1 || $RC == 2 ]] && ! grep -q "Segmentation\|Sanitizer\|signal" "$ERR"; then
        pass "$1: refused (exit $RC)"
    else
        fail "$1: refused" "got: exit $RC" "$(head -5 "$ERR")"
    fi
    check_contains "$1: the message names the problem" "$ERR" "$2"
    check_absent "$1: no results file" r.h5
}

for v in -1 "float('nan')" "2**40" 0 4; do
    damage "rounds_done = $v" "f.attrs['rounds_done'] = $v"
    check_refused "rounds_done = $v" "r.h5.ckpt: attribute rounds_done"
done
damage "kind" "f.attrs['kind'] = 'fleetmerge-results'"
check_refused "a wrong kind" "not a checkpoint"
damage "no ranks" "del f.attrs['ranks']"
check_refused "no ranks attribute" "missing attribute ranks"
damage "adam_t NaN" "f['robot/adam_t'][1, 0] = np.nan"
check_refused "adam_t NaN (rank 1)" "/robot/adam_t"
damage "adam_t fraction" "f['robot/adam_t'][0, 0] = 2.5"
check_refused "adam_t 2.5" "/robot/adam_t"
damage "metrics NaN" "d = f['rounds']; x = d[...]; x[1] = np.nan; d[...] = x"
check_refused "a NaN BC loss in /rounds" "/rounds: round 1"
damage "participants" "d = f['rounds']; x = d[...]; x[0] = 7; d[...] = x"
check_refused "7 participants of 2 robots" "/rounds: round 1, column 0"
damage "params" "d = f['robot/params']; x = d[...]; x[1, 3] = np.inf; d[...] = x"
check_refused "an infinite parameter" "/robot/params"
damage "adam_v" "d = f['robot/adam_v']; x = d[...]; x[0, 0] = -1; d[...] = x"
check_refused "a negative Adam second moment" "/robot/adam_v"
damage "merged shape" "del f['merged']; f['merged'] = np.zeros(5, np.float32)"
check_refused "a merged model of another shape" "/merged: expected shape"
damage "huge declared rows" "del f['robot/comm']; f.create_dataset('robot/comm', shape=(2, 9), dtype='f8', chunks=(1, 9))"
check_refused "a dataset whose chunks were never written" "declares"

damage "vlen config" "t = f['config'][()]; del f['config']; f['config'] = t.decode() if isinstance(t, bytes) else t"
check_refused "a variable-length /config (HDF5 1.10.8 can loop forever on a damaged one)" "/config: expected a fixed-length string"

# fleetmerge writes the HDF5 1.8 format, whose metadata is checksummed: a damaged byte in an object
# header is refused by HDF5's checksum (HDF5 1.10.8 decodes unchecked headers without bounds checks:
# tests/fuzz/crashes/README.md), and a file rewritten in the unchecked format is refused as such.
cp good.ckpt r.h5.ckpt
run_cmd "$PYTHON" -c "
b = bytearray(open('r.h5.ckpt', 'rb').read())
i = b.find(b'OHDR', 100)
assert i > 0, 'no v2 object header'
b[i + 20] ^= 0x5a
open('r.h5.ckpt', 'wb').write(bytes(b))"
run_fleet 2 run ck.yaml --quiet --output r.h5
check_refused "one damaged byte in an object header" "r.h5.ckpt"
cp good.ckpt r.h5.ckpt
run_cmd "$PYTHON" -c "import h5py
src = h5py.File('good.ckpt', 'r')
dst = h5py.File('r.h5.ckpt', 'w', libver='earliest')
for k, v in src.attrs.items(): dst.attrs[k] = v
for k in src: src.copy(src[k], dst, name=k)
dst.close()"
run_fleet 2 run ck.yaml --quiet --output r.h5
check_refused "a checkpoint rewritten in the unchecked HDF5 format" "has no checksum: not written by fleetmerge"

# a checkpoint of 2 ranks does not resume on 1 or 3 (fleet.robots: 0 follows the rank count)
cp good.ckpt r.h5.ckpt
for np in 1 3; do
    run_fleet "$np" run ck.yaml --quiet --output r.h5
    check_refused "a 2-rank checkpoint on $np ranks" "a checkpoint of 2 ranks (robots), this run has $np"
done

# the intact checkpoint resumes and completes
cp good.ckpt r.h5.ckpt
run_fleet 2 run ck.yaml --output r.h5
check_rc "the intact checkpoint resumes" 0
check_contains "after round 1" "$OUT" "resuming after round 1/3"
check_absent "the checkpoint is gone once the results are written" r.h5.ckpt
finish
