#!/usr/bin/env bash
# faults.sh - under Slurm too, a failure on one rank ends the whole job within seconds (issue 12,
# item 4): slurm/run.sbatch on a single-node Slurm cluster on localhost (lib.bash), 3 tasks, a tiny
# LQG config, FLEET_FAULT (docs/faults.md) on rank 1. An agreed failure ends every task; a rank
# stuck for good (`:hang`) is ended by its watchdog (FLEET_GUARD_SECONDS=3), which either aborts
# the job or exits non-zero, and `srun --kill-on-bad-exit=1` then ends the tasks still waiting in
# a collective. Each job must end FAILED with a non-zero exit code within BOUND seconds, its log naming the
# rank and the phase, and leave no results file and no *.tmp. Skipped where Slurm is not installed.
set -euo pipefail
# shellcheck source=lib.bash
source "$(dirname "$0")/lib.bash"

BOUND=${FAULT_BOUND:-40}
export FLEET_GUARD_SECONDS=3

require_cluster

write_config lqg.yaml "${TINY_LQG[@]}" experiment.name=slurm_faults "experiment.output_dir=\"$TMP\"" \
    'merge.methods=[average]' train.steps=20 eval.rollouts=1

# slurm_case DESC FAULT WANT: submit run.sbatch with FLEET_FAULT=FAULT and wait for the job.
slurm_case() {
    local desc=$1 fault=$2 want=$3 id t0 state code
    rm -f "$TMP/out.h5" "$TMP/out.h5.tmp"
    t0=$SECONDS
    run_cmd env FLEET_FAULT="$fault" FLEET="$FLEET" OMPI_MCA_mpi_yield_when_idle=1 sbatch --parsable --ntasks=3 \
        --overcommit --time=00:05:00 --output="$TMP/slurm-%j.out" "$ROOT/slurm/run.sbatch" lqg.yaml --quiet \
        --output "$TMP/out.h5"
    id=$(cut -d';' -f1 "$OUT")
    check_rc "$desc: sbatch accepted the job" 0
    if ! wait_idle_queue $((BOUND + 30)); then
        fail "$desc: the job ended" "got: still $(job_field "$id" JobState) after $((SECONDS - t0)) s"
        scancel "$id" 2>/dev/null || true
        wait_idle_queue 30 || true
        return 0
    fi
    state=$(job_field "$id" JobState) code=$(job_field "$id" ExitCode)
    # the exit code is the worst task's: 1, or 143 for the tasks srun ended with SIGTERM
    if [[ $state == FAILED && $code != 0:0 ]] && ((SECONDS - t0 < BOUND)); then
        pass "$desc: the job ended FAILED $code after $((SECONDS - t0)) s"
    else
        fail "$desc: the job ended FAILED, non-zero, within $BOUND s" \
            "got: $state $code after $((SECONDS - t0)) s" "$(head -n 5 "$TMP/slurm-$id.out" 2>/dev/null)"
    fi
    check_matches "$desc: the log names the rank and the phase" "$TMP/slurm-$id.out" "$want"
    check_absent "$desc: no results file" "$TMP/out.h5"
    check_no_tmp "$desc: no .tmp left" "$TMP"
}

slurm_case "merge@1 (agreed)" merge@1 "rank 1: injected fault in merge:average"
slurm_case "merge@1:hang (the watchdog)" merge@1:hang "rank 1: injected hang in merge:average"
finish
