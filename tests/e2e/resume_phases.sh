#!/usr/bin/env bash
# resume_phases.sh - a rounds run that stops after any phase resumes without redoing the phases
# it finished (issue 15): the checkpoint keeps every robot's own policy (after local training,
# "round 0"), the rounds, the pooled policy and the task-specific scores. Each stop is made by
# FLEET_STOP_AFTER (a test hook that ends the run right after that checkpoint); the resumed run
# gets FLEET_FAULT on every finished phase, so it fails if it runs one of them again, and its
# results must equal the uninterrupted run's.
source "$(dirname "$0")/lib.bash"

write_config ph.yaml experiment.name=ph experiment.seed=5 'experiment.output_dir="."' \
    env.kind=cartpole env.num_tasks=2 env.horizon=40 \
    fleet.robots=0 fleet.demos_per_robot=8 fleet.rounds=3 fleet.local_epochs=1 \
    policy.arch=mlp policy.layers=1 policy.width=16 train.batch_size=4 \
    'merge.methods=[fleet_merge]' merge.fm_steps=3 merge.fm_epochs=1 merge.fm_batch=4 \
    eval.rollouts=2 eval.round_rollouts=1 eval.task_specific=true

run_fleet 2 run ph.yaml --quiet --output full.h5
check_rc "the uninterrupted run" 0

# same_results NAME: NAME's results equal full.h5's (the timing aside)
same_results() {
    local g
    for g in /models /eval /rounds /fleet /config; do
        run_cmd h5diff full.h5 "$1" "$g" "$g"
        check_rc "$1: $g is identical to the uninterrupted run's" 0
    done
}

# stop_and_resume STOP FAULTS RESTORED: stop after STOP, then resume with FLEET_FAULT=FAULTS;
# the resumed run must say it restored RESTORED.
stop_and_resume() {
    local stop=$1 faults=$2 restored=$3 out="stop_$1.h5"
    FLEET_STOP_AFTER=$stop run_fleet 2 run ph.yaml --quiet --output "$out"
    check_rc "FLEET_STOP_AFTER=$stop ends the run with an error" 1
    check_contains "it says where it stopped" "$ERR" "stopped after"
    check_exists "it leaves a checkpoint" "$out.ckpt"
    check_absent "and no results file" "$out"
    FLEET_FAULT=$faults run_fleet 2 run ph.yaml --output "$out"
    check_rc "resumed after $stop with FLEET_FAULT=$faults: no finished phase ran again" 0
    check_contains "it names what it restored" "$OUT" "$restored"
    check_absent "the checkpoint is removed with the results written" "$out.ckpt"
    same_results "$out"
}

# After local training or a round, the phases still to run include training (the rounds use the
# same fault phase), so no fault is injected: the log line and the identical results show the
# restore. After pooled training or the task-specific references, every finished phase faults.
stop_and_resume 0 "" "resuming after round 0/3 from the checkpoint (restored: the robots' own policies)"
stop_and_resume 2 "" "resuming after round 2/3"
stop_and_resume pooled "training@0,training@1,pooled@0,pooled@1,merge@0" \
    "(restored: the robots' own policies, the pooled policy)"
stop_and_resume task_specific "training@0,training@1,pooled@0,merge@1,task_specific@0,task_specific@1" \
    "(restored: the robots' own policies, the pooled policy, the task-specific scores)"

# a resumed run still runs the phases it had not finished, and a failure there keeps the checkpoint
FLEET_STOP_AFTER=0 run_fleet 2 run ph.yaml --quiet --output t.h5
FLEET_FAULT=pooled@0 run_fleet 2 run ph.yaml --quiet --output t.h5
check_rc "a resumed run still runs the phases it had not finished (pooled@0 fires)" 1
check_contains "with the injected fault's message" "$ERR" "rank 0: injected fault in pooled"
check_exists "the checkpoint survives the failure" t.h5.ckpt
run_cmd "$PYTHON" -c "import h5py; f = h5py.File('t.h5.ckpt', 'r'); print(int(f.attrs['rounds_done']), int(f.attrs['pooled_done']))"
check_eq "it holds the 3 rounds done since (and no pooled policy)" "$(cat "$OUT")" "3 0"
finish
