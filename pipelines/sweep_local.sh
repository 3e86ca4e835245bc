#!/usr/bin/env bash
# sweep_local.sh - run every point of a config's sweep section on this machine, one after the
# other with NP MPI ranks each (the same points a Slurm array runs: slurm/submit_sweep.sh), then
# aggregate them into one CSV, a Markdown table and a figure (sweep.png). Finished points are skipped (rerun = resume).
# usage: pipelines/sweep_local.sh CONFIG [NP]
# env:   FLEET=build/fleet PYTHON=/usr/bin/python3 MPIRUN="mpirun --allow-run-as-root --oversubscribe"
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: pipelines/sweep_local.sh CONFIG [NP]" >&2
    exit 2
fi
cfg=$1
NP=${2:-4}
FLEET=${FLEET:-build/fleet}
PYTHON=${PYTHON:-/usr/bin/python3}
MPIRUN=${MPIRUN:-mpirun --allow-run-as-root --oversubscribe}
export OPENBLAS_NUM_THREADS=1
[ -x "$FLEET" ] || { echo "sweep_local.sh: $FLEET not found (run make first)" >&2; exit 2; }
count=$("$FLEET" sweep "$cfg" --count)
"$FLEET" sweep "$cfg" --list
out=$(sed -n 's/^  output_dir: *"\{0,1\}\([^"]*\)"\{0,1\}.*/\1/p' "$cfg" | head -1)
name=$(sed -n 's/^  name: *"\{0,1\}\([A-Za-z0-9._-]*\).*/\1/p' "$cfg" | head -1)
dir="${out:-results}/$name"
for ((i = 0; i < count; i++)); do
    echo "== point $i / $count ($NP ranks)"
    $MPIRUN -np "$NP" "$FLEET" run "$cfg" --sweep-index "$i" --quiet
done
if [ -f analysis/aggregate.py ]; then
    "$PYTHON" analysis/aggregate.py "$dir" --csv "$dir/sweep.csv" --md "$dir/sweep.md" \
        --png "$dir/sweep.png"
    echo "aggregated: $dir/sweep.csv  $dir/sweep.md  $dir/sweep.png"
fi
