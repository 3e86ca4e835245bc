#!/usr/bin/env bash
# soft_start_widths.sh - per-epoch diagnostics of fleet_merge's soft permutations at several layer
# widths (issue 12 item 7): merge.fm_start_mass sets the share of every row's mass that the starting
# soft permutation puts on the hard assignment, the same at every width. For every WIDTH:EPOCHS pair
# in RUNS, runs CONFIG with policy.width = WIDTH, train.epochs = EPOCHS and merge.methods =
# [average, fleet_merge] (one seed, fleet.alpha of CONFIG) on NP ranks, then prints, per fleet_merge
# epoch, the mean largest entry per unit of P_soft at the first and last soft step (rowmax_first /
# rowmax_last), the hard assignments changed, the mean interpolated BC loss and the BC loss of the
# epoch's reference (results file: /merge/fleet_merge/*, docs/schema.md), plus the balance rates.
#   $OUT/<name>_w<width>_e<epochs>_s<seed>/results.h5   one file per run
# usage: pipelines/soft_start_widths.sh [-h|--help] [CONFIG]   (default: configs/cartpole_merge.yaml)
# env:   RUNS="64:80 512:20" SEED=1 NP=5 START_MASS= (empty: the config's / default 0.31)
#        OUT=results FLEET=build/fleet PYTHON=/usr/bin/python3 MPIRUN="mpirun ..."
#        (on 2 shared cores: width 64 x 80 epochs ~1-2 min, width 512 x 20 epochs ~10 min)
set -euo pipefail
cd "$(dirname "$0")/.."
usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; }
case "${1:-}" in -h|--help) usage; exit 0 ;; esac
RUNS=${RUNS:-"64:80 512:20"}
SEED=${SEED:-1}
NP=${NP:-5}
START_MASS=${START_MASS:-}
PIPELINE=soft_start_widths.sh
. pipelines/lib.sh
pipeline_defaults
cfg=${1:-configs/cartpole_merge.yaml}
[ $# -le 1 ] || { echo "soft_start_widths.sh: one config at most" >&2; exit 2; }
[ -f "$cfg" ] || { echo "soft_start_widths.sh: $cfg: no such config" >&2; exit 2; }
[[ "$SEED" =~ ^[0-9]+$ ]] || { echo "soft_start_widths.sh: SEED: '$SEED' is not an integer" >&2; exit 2; }
for key in width epochs methods; do
    [ "$(grep -c "^  $key: " "$cfg")" -eq 1 ] \
        || { echo "soft_start_widths.sh: $cfg: needs exactly one '  $key:' line" >&2; exit 2; }
done
extra=()
if [ -n "$START_MASS" ]; then
    [[ "$START_MASS" =~ ^0?[.][0-9]+$ ]] || { echo "soft_start_widths.sh: START_MASS: '$START_MASS' not in (0, 1)" >&2; exit 2; }
    extra=("merge.fm_start_mass=${START_MASS}")
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
files=()
start=$SECONDS
PIPELINE_TMP=$tmp
for run in $RUNS; do
    [[ "$run" =~ ^([1-9][0-9]*):([1-9][0-9]*)$ ]] \
        || { echo "soft_start_widths.sh: RUNS: '$run' is not WIDTH:EPOCHS" >&2; exit 2; }
    w=${BASH_REMATCH[1]} e=${BASH_REMATCH[2]}
    run_variant "$cfg" "w${w}_e${e}${START_MASS:+_m$START_MASS}_s${SEED}" "$SEED" "$NP" \
        "policy.width=${w}" "train.epochs=${e}" "merge.methods=[average, fleet_merge]" "${extra[@]}"
    files+=("$RUN_RESULT")
done
"$PYTHON" - "${files[@]}" <<'EOF'
import re
import sys

import h5py
import numpy as np

print("\n| run | width | train epochs | start mass | fleet_merge epoch | rowmax_first | rowmax_last | changed "
      "| interp BC loss | reference BC loss | MergeMany sweeps | balance: fleet_merge / average / local mean |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for path in sys.argv[1:]:
    with h5py.File(path, "r") as f:
        cfg = f["config"][()]
        cfg = cfg.decode() if isinstance(cfg, bytes) else str(cfg)
        get = lambda k: (re.search(r"^  %s: *([^\s#]+)" % k, cfg, re.M) or [None, "?"])[1]
        g = f["merge/fleet_merge"]
        d = {k: np.array(g[k], dtype=float) for k in ("rowmax_first", "rowmax_last", "changed", "interp_loss",
                                                       "reference_bc_loss")}
        bal = [float(np.mean(f[f"eval/{p}/balance"])) for p in ("fleet_merge", "average", "local")]
        name = f.attrs["experiment"]
        name = name.decode() if isinstance(name, bytes) else str(name)
        for e in range(len(d["changed"])):
            head = (f"| {name} | {get('width')} | {get('epochs')} | {get('fm_start_mass')} " if e == 0
                    else "| | | | ")
            tail = (f"| {int(g.attrs.get('mm_sweeps', 0))} | {100 * bal[0]:.1f}% / {100 * bal[1]:.1f}% / "
                    f"{100 * bal[2]:.1f}% |" if e == 0 else "| | |")
            print(head + f"| {e + 1} | {d['rowmax_first'][e]:.3f} | {d['rowmax_last'][e]:.3f} | {d['changed'][e]:g} | "
                  f"{d['interp_loss'][e]:.4f} | {d['reference_bc_loss'][e]:.4f} " + tail)
EOF
echo "($((SECONDS - start)) s, ${#files[@]} runs)"
