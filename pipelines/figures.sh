#!/usr/bin/env bash
# figures.sh - the paper-figure grids as sweep configs (configs/sweeps/), run locally with mpirun
# at small scale or on a Slurm cluster at full scale from the same config, then aggregated into a
# tidy CSV, a Markdown table and a PNG (analysis/aggregate.py: mean and min-max over seeds).
#   local: every point one after the other on this machine (pipelines/sweep_local.sh)
#   slurm: an array job, one point per task, plus the aggregation job (slurm/submit_sweep.sh)
# The ranks per point are the point's fleet.robots (4 when it does not set it).
# The detailed figure pipelines (linear_control.sh, cartpole.sh, merge_pair.sh, merge_oneshot.sh,
# merge_nmodels.sh, rounds.sh, tooluse.sh, mt10.sh) draw richer figures for local runs.
# usage: pipelines/figures.sh local|slurm FIGURE... [-- SBATCH_ARGS...]  (list: the figures)
#        extra options for slurm/submit_sweep.sh in SUBMIT_ARGS (e.g. "-p PARTITION -t 02:00:00");
#        everything after -- goes to sbatch as it is (e.g. -- --account=A --qos=Q), slurm mode only
set -euo pipefail
cd "$(dirname "$0")/.."
declare -A FIGS=(
    [fig13_lqr]=configs/sweeps/lqr.yaml
    [fig13_lqg]=configs/sweeps/lqg.yaml
    [g6_disconnected]=configs/sweeps/lqg_disconnected.yaml
    [cartpole_rnn_vs_mlp]=configs/sweeps/cartpole.yaml
    [fig3ab_pair]=configs/sweeps/merge_pair.yaml
    [fig3d_oneshot]=configs/sweeps/merge_oneshot.yaml
    [fig4_epochs]=configs/sweeps/rounds_epochs.yaml
    [fig4_alpha]=configs/sweeps/rounds_alpha.yaml
    [fig4_participation]=configs/sweeps/rounds_participation.yaml
    [mt10_oneshot]=configs/sweeps/mt10_oneshot.yaml
    [mt10_barrier]=configs/sweeps/mt10_barrier.yaml
    [mt10_rounds]=configs/sweeps/mt10_rounds.yaml
    [mt10_rounds_alpha]=configs/sweeps/mt10_rounds_alpha.yaml
    [mt10_participation]=configs/sweeps/mt10_participation.yaml
)
usage() { echo "usage: pipelines/figures.sh local|slurm FIGURE... [-- SBATCH_ARGS...]   (figures: ${!FIGS[*]})" >&2; exit 2; }
[ $# -ge 1 ] || usage
mode=$1
shift
if [ "$mode" = list ]; then
    for f in "${!FIGS[@]}"; do printf '%-22s %s (%s points)\n' "$f" "${FIGS[$f]}" "$(build/fleet sweep "${FIGS[$f]}" --count)"; done | sort
    exit 0
fi
[ "$mode" = local ] || [ "$mode" = slurm ] || usage
[ $# -ge 1 ] || usage
figs=()
sbatch_args=()
while [ $# -gt 0 ]; do
    if [ "$1" = -- ]; then
        shift
        sbatch_args=("$@")
        break
    fi
    figs+=("$1")
    shift
done
[ ${#figs[@]} -ge 1 ] || usage
[ ${#sbatch_args[@]} -eq 0 ] || [ "$mode" = slurm ] || { echo "figures.sh: sbatch arguments (after --) need slurm mode" >&2; exit 2; }
for fig in "${figs[@]}"; do
    cfg=${FIGS[$fig]:-}
    [ -n "$cfg" ] || { echo "figures.sh: unknown figure '$fig'" >&2; usage; }
    np=$(sed -n 's/^  robots: *\([0-9]*\).*/\1/p' "$cfg" | head -1)
    [ -n "$np" ] && [ "$np" -gt 0 ] || np=4
    echo "== $fig: $cfg ($("$PWD"/build/fleet sweep "$cfg" --count) points, $np ranks each, $mode)"
    if [ "$mode" = local ]; then
        pipelines/sweep_local.sh "$cfg" "$np"
    else
        read -r -a extra <<< "${SUBMIT_ARGS:-}"
        slurm/submit_sweep.sh ${extra[@]+"${extra[@]}"} "$cfg" -- ${sbatch_args[@]+"${sbatch_args[@]}"}
    fi
done
