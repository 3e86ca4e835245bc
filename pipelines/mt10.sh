#!/usr/bin/env bash
# mt10.sh - the MT-10 manipulation benchmark (issue 14, docs/multitask.md): the paper's Meta-World
# figures on our MuJoCo suite, from the sweep configs that also run as Slurm arrays
# (pipelines/figures.sh slurm mt10_oneshot ...). Each part runs every point of its sweep on this
# machine, one after the other (a finished point is skipped: rerun = resume), then
# analysis/mt10_report.py writes $OUT/mt10.md and $OUT/mt10.png from every MT-10 result in $OUT.
#   oneshot        configs/sweeps/mt10_oneshot.yaml: alpha {0.1, 1, 10} x 3 seeds, every merge method,
#                  pooled, task-specific, the robots' own (paper Figure 3 d, Figure 10)
#   barrier        configs/sweeps/mt10_barrier.yaml: barriers between two policies of one dataset (3 b)
#   rounds         configs/sweeps/mt10_rounds.yaml: fleet_merge vs FedAvg, M {1, 5, 10, 20} (4 a, d)
#   rounds_alpha   configs/sweeps/mt10_rounds_alpha.yaml: the same at M = 5 over alpha (4 b)
#   participation  configs/sweeps/mt10_participation.yaml: 10 robots, participation {0.2, 0.5, 1} (4 c)
#   contact        docs/img/mt10_experts.png: the ten experts (analysis/mt10_contact_sheet.py)
#   all            every part above (about 3 hours on 2 cores)
# usage: pipelines/mt10.sh PART...      (-h, --help: this text)
# env:   FLEET=build/fleet OUT=results PYTHON=/usr/bin/python3 MPIRUN="mpirun ..."
#        NP: ranks per point (default: the config's fleet.robots)
# Outputs: $OUT/<sweep name>/<point>/results.h5, $OUT/mt10.md, $OUT/mt10.png.
set -euo pipefail
cd "$(dirname "$0")/.."
usage() { sed -n '2,/^set /p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
case "${1:-}" in
    -h | --help) usage; exit 0 ;;
    "") usage >&2; exit 2 ;;
esac
PIPELINE=mt10.sh
source pipelines/lib.sh
pipeline_defaults
declare -A SWEEP=([oneshot]=mt10_oneshot [barrier]=mt10_barrier [rounds]=mt10_rounds
                  [rounds_alpha]=mt10_rounds_alpha [participation]=mt10_participation)
parts=()
for p in "$@"; do
    if [ "$p" = all ]; then
        parts+=(oneshot barrier rounds rounds_alpha participation contact)
    elif [ -n "${SWEEP[$p]:-}" ] || [ "$p" = contact ]; then
        parts+=("$p")
    else
        echo "$PIPELINE: unknown part '$p' (oneshot, barrier, rounds, rounds_alpha, participation, contact, all)" >&2
        exit 2
    fi
done
mkdir -p "$OUT"

# run_sweep NAME: every point of configs/sweeps/NAME.yaml with output_dir $OUT (a --set override;
# the config is not rewritten), each on its fleet.robots ranks (fleet sweep --ranks) unless NP is set.
run_sweep() {
    local name=$1 cfg="configs/sweeps/$1.yaml" count np i t0
    local out=(--set "experiment.output_dir=$(yaml_quote "$OUT")")
    count=$("$FLEET" sweep "$cfg" "${out[@]}" --count)
    echo "== $name: $count points -> $OUT/$name/"
    for ((i = 0; i < count; i++)); do
        t0=$SECONDS
        np=${NP:-$("$FLEET" sweep "$cfg" "${out[@]}" --ranks | sed -n "s/^$i: //p")}
        echo "-- point $i ($np ranks): $("$FLEET" sweep "$cfg" "${out[@]}" --list | sed -n "s/^$i: //p")"
        $MPIRUN -np "$np" "$FLEET" run "$cfg" "${out[@]}" --sweep-index "$i" --quiet | { grep -v '^results:' || true; }
        echo "   ($((SECONDS - t0)) s)"
    done
}

for p in "${parts[@]}"; do
    if [ "$p" = contact ]; then
        "$PYTHON" analysis/mt10_contact_sheet.py --fleet "$FLEET" --config configs/mt10.yaml \
            --out docs/img/mt10_experts.png
    else
        run_sweep "${SWEEP[$p]}"
    fi
done
mapfile -t files < <(find "$OUT" -path '*/mt10_*/*/results.h5' | sort)
if [ "${#files[@]}" -gt 0 ]; then
    "$PYTHON" analysis/mt10_report.py "${files[@]}" --md "$OUT/mt10.md" --png "$OUT/mt10.png"
    echo "report: $OUT/mt10.md  $OUT/mt10.png"
fi
