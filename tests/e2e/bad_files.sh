#!/usr/bin/env bash
# bad_files.sh - damaged or mismatched input files and dangerous output paths (issue 11, defects 3
# and 6-9): `fleet merge --data` with demonstrations of another shape, robots with non-finite
# policies, a damaged num_robots; --force onto a device, a directory, a FIFO or a link; datasets
# whose declared size is not in the file (a few KB declaring GiB); a robot without demonstrations;
# no empty results directory after a failed run; control characters printed raw by `fleet info`.
source "$(dirname "$0")/lib.bash"

write_config nn.yaml experiment.name=nn experiment.seed=3 'experiment.output_dir="out"' \
    env.kind=cartpole env.num_tasks=2 env.horizon=30 fleet.demos_per_robot=4 \
    policy.arch=mlp policy.layers=1 policy.width=8 train.epochs=2 train.batch_size=4 \
    'merge.methods=[average]' merge.fm_steps=5 merge.fm_epochs=1 merge.fm_batch=4 eval.rollouts=1
write_config lq.yaml experiment.name=lq experiment.seed=2 'experiment.output_dir="out"' \
    env.kind=lqg env.num_tasks=2 env.obs_dim=8 env.horizon=30 fleet.demos_per_robot=4 \
    policy.arch=dynamic_linear train.steps=20 merge.gl_steps=20 eval.rollouts=1

run_fleet 2 run nn.yaml --quiet --output r.h5
check_rc "a 2-robot cart-pole run" 0
run_fleet 2 gen nn.yaml -o d.h5
check_rc "its demonstrations" 0
run_fleet 2 gen lq.yaml -o lq_d.h5
check_rc "demonstrations of a linear system (8 observations)" 0

# defect 3: demonstrations whose dimensions do not fit the models
run_fleet 0 merge r.h5 --method fleet_merge --data lq_d.h5 -o m.h5
check_rc "fleet merge --data with another env's demonstrations fails" 1
check_contains "it names both files and the dimensions" "$ERR" \
    "lq_d.h5: robot 0's demonstrations have 8 observation and"
check_absent "no merged file" m.h5
run_fleet 0 merge r.h5 --method fleet_merge --data d.h5 -o m.h5
check_rc "fleet merge --data with the run's own demonstrations works" 0

# defect 8: a robot with a non-finite policy is left out; a damaged num_robots is refused
run_cmd "$PYTHON" -c "import h5py, shutil, numpy as np
shutil.copy('r.h5', 'nan.h5'); shutil.copy('r.h5', 'nrob.h5')
with h5py.File('nan.h5', 'r+') as f:
    d = f['models/local/params']; x = d[...]; x[1, 2] = np.nan; d[...] = x
with h5py.File('nrob.h5', 'r+') as f:
    f.attrs['num_robots'] = 2.0**40"
check_rc "make the damaged results files" 0
run_fleet 0 merge nan.h5 --method average -o m2.h5
check_rc "merging with one NaN robot succeeds" 0
check_contains "it warns which robot was left out" "$ERR" "robot 1's policy is not finite; left out of the merge"
run_cmd "$PYTHON" -c "import h5py, numpy as np, sys
with h5py.File('m2.h5', 'r') as f:
    w = f['models/merged/average/params'][...]
sys.exit(0 if np.isfinite(w).all() else 1)"
check_rc "the merged model is finite" 0
run_fleet 0 merge nrob.h5 --method average -o m3.h5
check_rc "num_robots = 2^40 is refused" 1
check_contains "naming the attribute" "$ERR" "attribute num_robots"

# defect 6: outputs must be regular files (or absent), even with --force
mkdir adir
mkfifo afifo
ln -s r.h5 alink
mknod adev c 1 7 2>/dev/null || ln -s /dev/full adev
for target in adev adir afifo alink; do
    before=$(stat -c %F "$target")
    run_fleet 2 run nn.yaml --quiet --force --output "$target"
    check_rc "--force onto a $before ($target) is refused" 2
    check_contains "$target: the message says why" "$ERR" "exists and is not a regular file"
    check_eq "$target is untouched" "$(stat -c %F "$target")" "$before"
done
check_no_tmp "no .tmp file anywhere" .

# defect 7: declared sizes not backed by the file; robots without demonstrations; no empty dirs
run_cmd "$PYTHON" -c "import h5py, shutil, numpy as np
shutil.copy('d.h5', 'sparse.h5'); shutil.copy('d.h5', 'empty1.h5')
with h5py.File('sparse.h5', 'r+') as f:
    n, T, p = f['demos/obs'].shape; m = f['demos/actions'].shape[2]
    big = 1 << 22
    for name, w in (('obs', p), ('actions', m)):
        del f['demos/' + name]
        f.create_dataset('demos/' + name, shape=(n, big, w), dtype='f8', chunks=(1, 1024, w))
    del f['demos/length']; f['demos/length'] = np.full(n, 10, np.int32)
with h5py.File('empty1.h5', 'r+') as f:
    off = f['demos/robot_offsets'][...]; off[1] = off[2]; f['demos/robot_offsets'][...] = off"
check_rc "make the damaged demonstrations" 0
size=$(stat -c %s sparse.h5)
write_config sparse.yaml experiment.name=sp experiment.seed=3 'experiment.output_dir="out"' \
    env.kind=cartpole env.num_tasks=2 env.horizon=30 fleet.data=sparse.h5 \
    policy.arch=mlp policy.layers=1 policy.width=8 train.epochs=2 train.batch_size=4 'merge.methods=[average]'
write_config empty1.yaml experiment.name=e1 experiment.seed=3 'experiment.output_dir="out"' \
    env.kind=cartpole env.num_tasks=2 env.horizon=30 fleet.data=empty1.h5 \
    policy.arch=mlp policy.layers=1 policy.width=8 train.epochs=2 train.batch_size=4 'merge.methods=[average]'
run_fleet 2 run sparse.yaml --quiet
check_rc "a ${size}-byte file declaring GiB of observations is refused" 1
check_contains "naming the dataset and the sizes" "$ERR" "sparse.h5: /demos/obs: declares"
check_absent "no empty results directory is left" out/sp
run_fleet 2 run empty1.yaml --quiet
check_rc "a robot without demonstrations is refused" 1
check_contains "naming the robot" "$ERR" "empty1.h5: robot 1 has no demonstrations"
check_absent "no empty results directory is left" out/e1

# paths found by review: a FIFO as CONFIG, an output name ending in '/', a broken-link parent
mkfifo cfg.fifo
run_fleet 0 sweep cfg.fifo --count
check_rc "a FIFO as CONFIG is refused at once (no blocking open)" 2
check_contains "as not a regular file" "$ERR" "not a regular file (a pipe)"
run_fleet 2 gen nn.yaml -o newdir/
check_rc "an output path ending in '/' is refused before any work" 2
check_absent "and no directory is made" newdir
ln -s nowhere dangling
run_fleet 2 run nn.yaml --quiet --output dangling/x.h5
check_rc "an output below a broken symbolic link is refused before any work" 2
check_contains "naming the link" "$ERR" "'dangling' is a broken symbolic link"

# legitimate h5py demonstrations: chunked, the last trajectory's rows never written (read as fill)
run_cmd "$PYTHON" -c "import h5py, shutil, numpy as np
shutil.copy('d.h5', 'partial.h5')
with h5py.File('partial.h5', 'r+') as f:
    for name in ('obs', 'actions'):
        x = f['demos/' + name][...]
        del f['demos/' + name]
        d = f.create_dataset('demos/' + name, shape=x.shape, dtype='f8', chunks=(1,) + x.shape[1:])
        d[:-1] = x[:-1]"
check_rc "make a partly written chunked demonstrations file" 0
write_config partial.yaml experiment.name=pa experiment.seed=3 'experiment.output_dir="out"' \
    env.kind=cartpole env.num_tasks=2 env.horizon=30 fleet.data=partial.h5 \
    policy.arch=mlp policy.layers=1 policy.width=8 train.epochs=2 train.batch_size=4 'merge.methods=[average]'
run_fleet 2 run partial.yaml --quiet
check_rc "a partly written chunked dataset (h5py style) is accepted" 0

# defect 9: fleet info escapes control characters from the file
run_cmd "$PYTHON" -c "import h5py
with h5py.File('ctl.h5', 'w') as f:
    f.attrs['evil\x1b[31m'] = 'clear\x1b[2J\x07 screen'
    f['x\x1b]0;title\x07'] = 1.0"
run_fleet 0 info ctl.h5
check_rc "fleet info on names and strings with control characters" 0
if grep -q $'\x1b\|\x07' "$OUT"; then fail "no raw control character on stdout" "$(cat -v "$OUT")"; else pass "no raw control character on stdout"; fi
check_contains "they are shown escaped" "$OUT" 'evil\x1b[31m'
finish
