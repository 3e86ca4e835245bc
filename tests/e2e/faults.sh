#!/usr/bin/env bash
# faults.sh - a failure on one rank in any phase ends the whole job within seconds (issue 12, item 4):
# FLEET_FAULT=PHASE@RANK (src/core/fault.h) makes that rank fail there; every run must exit non-zero
# well within BOUND seconds (startup included), name the failing rank and the phase, and leave no
# results file and no *.tmp. Phases that agree on status end at once; where agreement is impossible
# (a rank that left a collective HDF5 write, a rank stuck for good: PHASE@RANK:hang) the guard's
# watchdog (io/guard.h, FLEET_GUARD_SECONDS shortened to 3 s) ends the job. 3 ranks, tiny configs:
# a cart-pole MLP (neural flow, fleet_nn*.c) and an LQG system (linear flow, fleet_run.c).
set -euo pipefail
source "$(dirname "$0")/lib.bash"

export FLEET_GUARD_SECONDS=3 E2E_TIMEOUT=${E2E_TIMEOUT_FAULTS:-60}
BOUND=${FAULT_BOUND:-30} # seconds, wall, per failing run
NP=3

write_config nn.yaml experiment.name=fnn experiment.seed=5 'experiment.output_dir="."' \
    env.kind=cartpole env.num_tasks=2 env.horizon=20 fleet.demos_per_robot=4 \
    policy.arch=mlp policy.layers=1 policy.width=8 train.epochs=2 train.batch_size=4 \
    'merge.methods=[average, git_rebasin, sinkhorn_rebasin, fleet_merge]' merge.fm_epochs=1 merge.fm_steps=2 \
    merge.fm_batch=2 eval.rollouts=1 eval.task_specific=true eval.finetune_demos=2 eval.finetune_epochs=1 \
    eval.barrier_points=2
write_config rounds.yaml experiment.name=frd experiment.seed=5 'experiment.output_dir="."' \
    env.kind=cartpole env.num_tasks=2 env.horizon=20 fleet.demos_per_robot=4 fleet.rounds=2 \
    fleet.local_epochs=1 policy.arch=mlp policy.layers=1 policy.width=8 train.batch_size=4 \
    'merge.methods=[average]' eval.rollouts=1 eval.round_rollouts=1
write_config lqg.yaml "${TINY_LQG[@]}" experiment.name=flqg 'experiment.output_dir="."' \
    'merge.methods=[average, linear_perm, linear_gl]' train.steps=20 merge.gl_steps=10 eval.rollouts=1

# fault_case DESC CONFIG FAULT WANT [FLEET RUN ARGS...]: run with FLEET_FAULT=FAULT on NP ranks; it
# must fail within BOUND s with a message matching the regular expression WANT, and leave nothing.
fault_case() {
    local desc=$1 cfg=$2 fault=$3 want=$4 t0 ms
    shift 4
    rm -f out.h5 out.h5.tmp
    t0=$(date +%s%N)
    FLEET_FAULT=$fault run_fleet "$NP" run "$cfg" --quiet --output out.h5 "$@"
    ms=$((($(date +%s%N) - t0) / 1000000))
    if [[ $RC != 0 && $RC != 124 ]] && ((ms < BOUND * 1000)); then
        pass "$desc: exit $RC after $((ms / 1000)).$((ms % 1000 / 100)) s"
    else
        fail "$desc: a non-zero exit within $BOUND s" "got:  exit $RC after $ms ms" \
            "$(grep -v '^ ' "$ERR" | head -n 4)"
    fi
    check_matches "$desc: the error names the rank and the phase" "$ERR" "$want"
    check_absent "$desc: no results file" out.h5
    check_no_tmp "$desc: no .tmp left" .
}

# ---- the switch itself ----
FLEET_FAULT=bogus@1 run_fleet 1 run nn.yaml --quiet --output out.h5
check_rc "an unknown phase is a usage error" 2
check_contains "it lists the phases" "$ERR" "FLEET_FAULT: unknown phase 'bogus', expected one of: data, training"
FLEET_FAULT=merge@x run_fleet 1 run nn.yaml --quiet --output out.h5
check_rc "a bad rank is a usage error" 2
FLEET_FAULT=merge@9 run_fleet "$NP" run nn.yaml --quiet --output ok.h5
check_rc "a fault on a rank the run does not have changes nothing" 0

# ---- neural flow: every phase on rank 2, a few on rank 0 and 1 ----
for phase in data training merge pooled finetune evaluation task_specific barriers results; do
    fault_case "neural $phase@2" nn.yaml "$phase@2" "rank 2: injected fault in $phase"
done
for m in git_rebasin fleet_merge; do
    fault_case "neural merge:$m@1" nn.yaml "merge:$m@1" "rank 1: injected fault in merge:$m"
done
# a rank that fails between two collective writes of the results file: the guard ends the job
fault_case "neural collective_write@2" nn.yaml collective_write@2 "rank 2: injected fault in collective_write"
# a rank stuck for good: its watchdog ends the job
fault_case "neural merge@1:hang" nn.yaml merge@1:hang "rank 1: injected hang in merge:average"

# ---- merging rounds: merge, checkpoint, resume ----
fault_case "rounds merge@2" rounds.yaml merge@2 "rank 2: injected fault in merge:average"
# a failure in round 1 keeps the finished local training (the checkpoint before round 1)
run_cmd "$PYTHON" -c "import h5py; print(int(h5py.File('out.h5.ckpt', 'r').attrs['rounds_done']))"
check_eq "rounds merge@2: the checkpoint holds local training, 0 rounds" "$(cat "$OUT")" 0
rm -f out.h5.ckpt
fault_case "rounds checkpoint@1" rounds.yaml checkpoint@1 "rank 1: injected fault in checkpoint"
check_absent "rounds checkpoint@1: no checkpoint" out.h5.ckpt
FLEET_STOP_AFTER=1 run_fleet "$NP" run rounds.yaml --quiet --output out.h5
check_exists "a run stopped after round 1 leaves a checkpoint" out.h5.ckpt
fault_case "rounds resume@2" rounds.yaml resume@2 "rank 2: injected fault in resume"
fault_case "rounds resume@0:hang" rounds.yaml resume@0:hang "rank 0: injected hang in resume"
check_exists "the checkpoint is kept for a later resume" out.h5.ckpt

# ---- linear flow ----
for phase in data merge pooled task_specific evaluation results; do
    fault_case "linear $phase@2" lqg.yaml "$phase@2" "rank 2: injected fault in $phase"
done
fault_case "linear merge:linear_gl@1" lqg.yaml merge:linear_gl@1 "rank 1: injected fault in merge:linear_gl"
fault_case "linear pooled@0" lqg.yaml pooled@0 "rank 0: injected fault in pooled"
fault_case "linear collective_write@1" lqg.yaml collective_write@1 "rank 1: injected fault in collective_write"
fault_case "linear evaluation@2:hang" lqg.yaml evaluation@2:hang "rank 2: injected hang in evaluation"
finish
