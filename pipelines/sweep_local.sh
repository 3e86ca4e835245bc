#!/usr/bin/env bash
# sweep_local.sh - run every point of a config's sweep section on this machine, one after the
# other, each on its fleet.robots MPI ranks (4 where the config leaves it 0) or on NP ranks when NP
# is given (the same points a Slurm array runs: slurm/submit_sweep.sh), then
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
NP=${2:-}
FLEET=${FLEET:-build/fleet}
PYTHON=${PYTHON:-/usr/bin/python3}
MPIRUN=${MPIRUN:-mpirun --allow-run-as-root --oversubscribe}
export OPENBLAS_NUM_THREADS=1
[ -x "$FLEET" ] || { echo "sweep_local.sh: $FLEET not found (run make first)" >&2; exit 2; }
count=$("$FLEET" sweep "$cfg" --count)
"$FLEET" sweep "$cfg" --list
# <experiment.output_dir>/<experiment.name>, read as YAML (block or flow style)
dir=$("$PYTHON" -c 'import sys, yaml
e = (yaml.safe_load(open(sys.argv[1])) or {}).get("experiment") or {}
print("%s/%s" % (e.get("output_dir", "results"), e.get("name", "")))' "$cfg")
ranks=$("$FLEET" sweep "$cfg" --ranks)
for ((i = 0; i < count; i++)); do
    np=${NP:-$(sed -n "s/^$i: //p" <<< "$ranks")}
    [[ $np =~ ^[1-9][0-9]*$ ]] || np=4 # fleet.robots 0: one robot per rank, 4 of them
    echo "== point $i / $count ($np ranks)"
    $MPIRUN -np "$np" "$FLEET" run "$cfg" --sweep-index "$i" --quiet
done
if [ -f analysis/aggregate.py ]; then
    "$PYTHON" analysis/aggregate.py "$dir" --csv "$dir/sweep.csv" --md "$dir/sweep.md" \
        --png "$dir/sweep.png"
    echo "aggregated: $dir/sweep.csv  $dir/sweep.md  $dir/sweep.png"
fi
