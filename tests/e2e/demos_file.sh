#!/usr/bin/env bash
# demos_file.sh - `fleet gen` writes the robots' demonstrations; a run with fleet.data reads them
# and trains the same local policies as the run that generated the same data in memory. Bad
# demonstration files fail with a message naming the file, and no results file.
set -euo pipefail
source "$(dirname "$0")/lib.bash"

N=4
write_config tiny.yaml "${TINY_LQG[@]}"

run_fleet $N gen tiny.yaml -o demos.h5
check_rc "fleet gen on $N ranks exits 0" 0
check_contains "fleet gen reports what it wrote" "$OUT" "wrote demos.h5 ($N robots x 4 trajectories)"
check_exists "demos.h5 exists" demos.h5
check_no_tmp "fleet gen leaves no .tmp file" "$TMP"

sum_before=$(checksum demos.h5)
run_fleet $N gen tiny.yaml -o demos.h5
check_rc "fleet gen onto an existing file without --force exits 2" 2
check_contains "fleet gen without --force: the error says the file already exists" "$ERR" \
    "demos.h5 already exists"
check_eq "fleet gen without --force leaves the file untouched" "$(checksum demos.h5)" "$sum_before"

# The same experiment, once generating its data in memory, once reading demos.h5.
run_fleet $N run tiny.yaml --quiet --output mem.h5
check_rc "run generating the data in memory exits 0" 0
write_config from_file.yaml "${TINY_LQG[@]}" fleet.data=demos.h5
run_fleet $N run from_file.yaml --quiet --output file.h5
check_rc "run with fleet.data: demos.h5 exits 0" 0
for obj in /models/local /fleet/mixture /fleet/task_count; do
    run_cmd h5diff -r mem.h5 file.h5 "$obj" "$obj"
    if [[ $RC == 0 ]]; then
        pass "$obj is the same from memory and from demos.h5"
    else
        mapfile -t diag < <(head -n 8 "$OUT" "$ERR")
        fail "$obj is the same from memory and from demos.h5" "got:  h5diff exit $RC" \
            "want: h5diff exit 0" "${diag[@]}"
    fi
done

# ---- bad demonstration files ----

cp demos.h5 demos_truncated.h5 || true
truncate -s $(($(stat -c %s demos.h5 || echo 0) / 2)) demos_truncated.h5
echo "not an HDF5 file" >demos_text.h5

write_config obs6.yaml "${TINY_LQG[@]}" env.obs_dim=6
run_fleet $N gen obs6.yaml -o demos_obs6.h5
check_rc "fleet gen with obs_dim 6 exits 0" 0
run_fleet 3 gen tiny.yaml -o demos_3robots.h5
check_rc "fleet gen on 3 ranks exits 0" 0

# Copies of demos.h5 with one dataset removed or replaced (h5py, Debian's python3-h5py).
run_cmd "$PYTHON" - <<'EOF'
import shutil
import h5py
import numpy as np

def variant(name, change):
    shutil.copy("demos.h5", name)
    with h5py.File(name, "r+") as f:
        change(f)

def no_task(f):
    del f["demos/task"]

def float_task(f):
    task = f["demos/task"][()]
    del f["demos/task"]
    f.create_dataset("demos/task", data=task.astype(np.float64))

def obs_2d(f):
    obs = f["demos/obs"][()]
    del f["demos/obs"]
    f.create_dataset("demos/obs", data=obs.reshape(obs.shape[0], -1))

variant("demos_no_task.h5", no_task)
variant("demos_float_task.h5", float_task)
variant("demos_obs_2d.h5", obs_2d)
EOF
check_rc "h5py wrote the damaged copies" 0

# bad_demos DESC FILE SUBSTRING [NP]: a run reading FILE fails; stderr has a "fleet: error:"
# line naming FILE and containing SUBSTRING; no results file, no .tmp file.
bad_demos() {
    local desc=$1 file=$2 want=$3 np=${4:-$N}
    local cfg=run_${file%.h5}.yaml res=$TMP/res_${file%.h5}/results.h5
    write_config "$cfg" "${TINY_LQG[@]}" fleet.data="$file"
    run_fleet "$np" run "$cfg" --quiet --output "$res"
    check_rc_nonzero "$desc: the run fails"
    local msg
    msg=$(grep -m1 '^fleet: error: ' "$ERR" || true)
    if [[ $msg == *"$file"* && $msg == *"$want"* ]]; then
        pass "$desc: the error names $file and says '$want'"
    else
        fail "$desc: the error names $file and says '$want'" "got:  ${msg:-(no fleet: error line)}" \
            "want: a 'fleet: error:' line with '$file' and '$want'"
    fi
    check_eq "$desc: the error is printed once" "$(grep -c '^fleet: error: ' "$ERR")" 1
    check_absent "$desc: no results file" "$res"
    check_no_tmp "$desc: no .tmp file" "$TMP"
}

bad_demos "truncated file" demos_truncated.h5 "demos_truncated.h5: not a readable HDF5 file"
bad_demos "text file" demos_text.h5 "demos_text.h5: not a readable HDF5 file"
bad_demos "nonexistent file" demos_nothere.h5 "demos_nothere.h5: cannot open: No such file or directory"
bad_demos "obs_dim 6 file in an obs_dim 8 run" demos_obs6.h5 "obs dim 6"
bad_demos "3-robot file in a 4-rank run" demos_3robots.h5 "holds 3 robots but the run has 4 ranks"
bad_demos "file without /demos/task" demos_no_task.h5 "/demos/task: missing dataset"
bad_demos "file with a float /demos/task" demos_float_task.h5 "/demos/task: expected an integer dataset"
bad_demos "file with a 2-d /demos/obs" demos_obs_2d.h5 "/demos/obs: expected 3 dimensions, got 2"

# A failing run with --force keeps the results file it would have replaced.
cp mem.h5 keep.h5 || true
sum_before=$(checksum keep.h5)
run_fleet $N run run_demos_text.yaml --quiet --force --output keep.h5
check_rc_nonzero "failing run with --force onto an existing results file fails"
check_eq "failing run with --force leaves the previous results file untouched" \
    "$(checksum keep.h5)" "$sum_before"
check_no_tmp "failing run with --force leaves no .tmp file" "$TMP"

finish
