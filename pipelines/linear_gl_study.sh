#!/usr/bin/env bash
# linear_gl_study.sh - how far is linear_gl's merge from robot 0's own policy? (issue 12, item 6)
# Runs every point of three sweep configs on NP ranks (a finished point is skipped, so a rerun
# resumes):
#   configs/sweeps/linear_gl_study.yaml              LQG, independent inits, 8 linear_gl variants
#                                                    x {Dirichlet mixtures, one task per robot} x 5 seeds
#   configs/sweeps/linear_gl_study_disconnected.yaml the disconnected case (sign flips), 8 x 5
#   configs/sweeps/linear_gl_oracle.yaml             the robots hold their task's exact expert, 8 x 5
# then analysis/linear_gl_study.py writes $OUT/linear_gl_study.md and .png: per variant the
# merged cost next to robot 0's, the best and mean local, pooled, average and linear_perm, and the
# merge's distance (impulse responses, invariant to the GL(k) symmetry) to robot 0's policy, to
# the nearest other robot's and to pooled.
# usage: pipelines/linear_gl_study.sh [--help]
# env:   NP=5 OUT=results FLEET=build/fleet PYTHON=/usr/bin/python3 MPIRUN="mpirun ..."
#        (~140 runs of 4-15 s: ~20 min on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -gt 0 ]; then
    sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'
    [ "$1" = --help ] || [ "$1" = -h ] && exit 0
    exit 2
fi
NP=${NP:-5}
PIPELINE=linear_gl_study.sh
. pipelines/lib.sh
pipeline_defaults
start=$SECONDS
dirs=()
for cfg in configs/sweeps/linear_gl_study.yaml configs/sweeps/linear_gl_study_disconnected.yaml \
           configs/sweeps/linear_gl_oracle.yaml; do
    name=$(sed -n 's/^  name: *\([A-Za-z0-9._-]*\).*/\1/p' "$cfg" | head -1)
    count=$("$FLEET" sweep "$cfg" --count)
    dirs+=("$OUT/$name")
    for ((i = 0; i < count; i++)); do
        f="$OUT/$name/$i/results.h5"
        [ -f "$f" ] && continue
        mkdir -p "$OUT/$name/$i"
        echo "== $name point $((i + 1)) / $count ($((SECONDS - start)) s)"
        $MPIRUN -np "$NP" "$FLEET" run "$cfg" --sweep-index "$i" --output "$f" --quiet > /dev/null
    done
done
"$PYTHON" analysis/linear_gl_study.py "${dirs[@]}" --md "$OUT/linear_gl_study.md" --png "$OUT/linear_gl_study.png"
cat "$OUT/linear_gl_study.md"
echo "table: $OUT/linear_gl_study.md   figure: $OUT/linear_gl_study.png   ($((SECONDS - start)) s)"
