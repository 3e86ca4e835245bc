#!/usr/bin/env bash
# appendix_e.sh - the Figure 11 analog (Appendix E, issue 16, docs/rl.md): an online RL fleet.
# 5 robots run REINFORCE on their own cart-pole episodes and average their policies every k
# episodes (k = 0 never, 1, 10, 50), 3 seeds (configs/sweeps/cartpole_rl.yaml), and one robot runs
# 5 x the episodes (configs/sweeps/cartpole_rl_single.yaml). Every point runs on its fleet.robots
# ranks; finished points are skipped (rerun = resume; `fleet sweep CONFIG --status` shows them).
# Then analysis/rl_report.py plots return vs episodes and writes the table of final returns:
#   <output_dir>/sweep_cartpole_rl/<I>/results.h5, <output_dir>/sweep_cartpole_rl_single/<I>/results.h5
#   $OUT/appendix_e.png, $OUT/appendix_e.md
# usage: pipelines/appendix_e.sh [-h|--help]
# env:   FLEET=build/fleet OUT=results PYTHON=/usr/bin/python3 MPIRUN="mpirun ..."
#        (OUT also sets the sweeps' experiment.output_dir, through --set)
# Time on 2 cores (measured, default size): about 1 minute for the 15 runs.
set -euo pipefail
# shellcheck source=pipelines/lib.sh
. "$(dirname "$0")/lib.sh"
pipeline_init appendix_e.sh "$@"
pipeline_max_args 0 $#
pipeline_defaults
CONFIGS=(configs/sweeps/cartpole_rl.yaml configs/sweeps/cartpole_rl_single.yaml)
dirs=()
for cfg in "${CONFIGS[@]}"; do
    set_out=(--set "experiment.output_dir=$(yaml_quote "$OUT")")
    count=$("$FLEET" sweep "$cfg" "${set_out[@]}" --count)
    ranks=$("$FLEET" sweep "$cfg" "${set_out[@]}" --ranks)
    name=$(config_name "$cfg")
    for ((i = 0; i < count; i++)); do
        np=$(sed -n "s/^$i: //p" <<< "$ranks")
        [[ $np =~ ^[1-9][0-9]*$ ]] || { echo "$PIPELINE: $cfg point $i: set fleet.robots" >&2; exit 2; }
        t0=$SECONDS
        echo "== $cfg point $((i + 1)) / $count ($np robots)"
        $MPIRUN -np "$np" "$FLEET" run "$cfg" "${set_out[@]}" --sweep-index "$i" --quiet | { grep -v '^results:' || true; }
        echo "   ($((SECONDS - t0)) s)"
    done
    dirs+=("$OUT/$name")
done
"$PYTHON" analysis/rl_report.py "${dirs[@]}" --png "$OUT/appendix_e.png" --md "$OUT/appendix_e.md"
echo "report: $OUT/appendix_e.png  $OUT/appendix_e.md"
