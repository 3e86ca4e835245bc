#!/usr/bin/env bash
# determinism.sh - same config + seed + rank count gives the same results (everything but /timing);
# another seed gives other models; the config stored in /config re-runs to the same results.
set -euo pipefail
source "$(dirname "$0")/lib.bash"

N=4
GROUPS_COMPARED=(/config /system /fleet /models /merge /eval)

# same_groups DESC A B: h5diff -r A B G G exits 0 (equal) for every group G.
same_groups() {
    local desc=$1 a=$2 b=$3 g
    for g in "${GROUPS_COMPARED[@]}"; do
        run_cmd h5diff -r "$a" "$b" "$g" "$g"
        if [[ $RC == 0 ]]; then
            pass "$desc: $g is identical"
        else
            local diag
            mapfile -t diag < <(head -n 8 "$OUT" "$ERR")
            fail "$desc: $g is identical" "got:  h5diff exit $RC" "want: h5diff exit 0" "${diag[@]}"
        fi
    done
}

write_config tiny.yaml "${TINY_LQG[@]}"
run_fleet $N run tiny.yaml --quiet --output a.h5
check_rc "first run exits 0" 0
run_fleet $N run tiny.yaml --quiet --output b.h5
check_rc "second run exits 0" 0
same_groups "two runs, same seed" a.h5 b.h5

# Another seed: other system draws, data and initializations, hence other local policies.
write_config seed8.yaml "${TINY_LQG[@]}" experiment.seed=8
run_fleet $N run seed8.yaml --quiet --output c.h5
check_rc "run with experiment.seed 8 exits 0" 0
run_cmd h5diff -q a.h5 c.h5 /models/local /models/local
check_eq "experiment.seed 8 gives a different /models/local (h5diff exit 1)" "$RC" 1

# The resolved config stored in /config is a valid config that reproduces the run
# (docs/config.md: "a result can always be re-run from its own file").
run_cmd "$PYTHON" -c '
import sys, h5py
v = h5py.File(sys.argv[1], "r")["config"][()]
sys.stdout.write(v.decode() if isinstance(v, bytes) else v)' a.h5
check_rc "read /config of the first run with h5py" 0
cp "$OUT" stored.yaml
run_fleet $N run stored.yaml --quiet --output d.h5
check_rc "a run from the stored /config exits 0" 0
same_groups "run from the stored /config" a.h5 d.h5

finish
