#!/usr/bin/env bash
# mpi_e2e.sh - MPI end-to-end runs of the AddressSanitizer + UBSan build (`make asan` runs it with
# FLEET=build-asan/fleet): a linear run with every linear merge, a neural run with merging rounds,
# a checkpoint resume, offline merges, and failing runs (bad demonstrations, a damaged checkpoint)
# on 1-3 ranks. Any sanitizer report fails the check that caused it. Skipped for a binary built
# without ASan.
source "$(dirname "$0")/../e2e/lib.bash"
if ! nm "$FLEET" 2>/dev/null | grep -q __asan_init; then
    echo "1..0 # SKIP $FLEET is not an AddressSanitizer build (make asan runs this test)"
    exit 0
fi
export E2E_TIMEOUT=300
# The ranks' sanitizer reports go to files we can inspect (stderr of one rank can be cut short).
# Leaks are not checked here: Open MPI's components are dlclose'd in MPI_Finalize, so LeakSanitizer
# cannot name (or suppress) what they keep, and reports every run. Our code's leaks are checked by
# the unit tests of `make asan`, which link the same library.
export ASAN_OPTIONS="detect_leaks=0:log_path=$TMP/asan"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}:log_path=$TMP/ubsan"

# clean DESC: no sanitizer report since the last call
clean() {
    local reports
    reports=$(ls "$TMP"/asan.* "$TMP"/ubsan.* 2>/dev/null | head -n 3)
    if [[ -z $reports ]]; then
        pass "$1: no sanitizer report"
    else
        mapfile -t diag < <(cat $reports | grep -E "ERROR|SUMMARY|runtime error|#[0-9] " | head -n 12 | cut -c1-160)
        fail "$1: no sanitizer report" "${diag[@]}"
        rm -f "$TMP"/asan.* "$TMP"/ubsan.*
    fi
}

write_config lq.yaml "${TINY_LQG[@]}" 'experiment.output_dir="."'
run_fleet 3 run lq.yaml --quiet --output lq.h5
check_rc "linear run, 3 ranks, average + linear_perm + linear_gl" 0
clean "linear run"

write_config nn.yaml experiment.name=nn experiment.seed=3 'experiment.output_dir="."' \
    env.kind=cartpole env.num_tasks=2 env.horizon=30 fleet.demos_per_robot=4 fleet.rounds=2 \
    fleet.local_epochs=1 policy.arch=rnn policy.layers=1 policy.width=8 train.batch_size=4 \
    'merge.methods=[fleet_merge]' merge.fm_steps=3 merge.fm_epochs=1 merge.fm_batch=4 \
    eval.rollouts=1 eval.round_rollouts=1
FLEET_STOP_AFTER=1 run_fleet 2 run nn.yaml --quiet --output nn.h5
check_rc "rounds run stopped after round 1 (FLEET_STOP_AFTER)" 1
clean "stopped rounds run"
run_fleet 2 run nn.yaml --quiet --output nn.h5
check_rc "the rounds run resumes from its checkpoint and completes" 0
clean "resumed rounds run"

write_config one.yaml experiment.name=one experiment.seed=3 'experiment.output_dir="."' \
    env.kind=cartpole env.num_tasks=2 env.horizon=30 fleet.demos_per_robot=4 \
    policy.arch=mlp policy.layers=1 policy.width=8 train.epochs=2 train.batch_size=4 \
    'merge.methods=[average, git_rebasin, sinkhorn_rebasin, fleet_merge]' merge.fm_steps=3 merge.fm_epochs=1 \
    merge.fm_batch=4 eval.rollouts=1
run_fleet 2 run one.yaml --quiet --output one.h5
check_rc "one-shot neural run, 2 ranks, four merges" 0
clean "one-shot neural run"
run_fleet 2 gen one.yaml -o d.h5
check_rc "fleet gen" 0
run_fleet 0 merge one.h5 --method fleet_merge --data d.h5 -o m.h5
check_rc "offline fleet_merge" 0
clean "gen and offline merge"

run_cmd "$PYTHON" -c "import h5py, shutil
shutil.copy('d.h5', 'bad.h5')
with h5py.File('bad.h5', 'r+') as f:
    x = f['demos/task'][...]; x[0] = 99; f['demos/task'][...] = x"
write_config bad.yaml experiment.name=bad 'experiment.output_dir="."' env.kind=cartpole env.num_tasks=2 \
    env.horizon=30 fleet.data=bad.h5 policy.arch=mlp policy.layers=1 policy.width=8 'merge.methods=[average]'
run_fleet 2 run bad.yaml --quiet
check_rc "a run on damaged demonstrations fails" 1
clean "failing run"
finish
