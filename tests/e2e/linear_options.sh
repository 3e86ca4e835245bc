#!/usr/bin/env bash
# linear_options.sh - the linear-control study's switches, judged by the evaluator's closed
# forms: fleet.partition: one_task gives robot i only task i mod K; fleet.local_policy: expert
# makes robot i's local policy the exact optimal controller of its task (relative cost 1 on it,
# as the Riccati/Lyapunov evaluator computes it), and merging identical experts returns them;
# merge.gl_start: permutation / gl_normalize: frobenius / gl_tol run and stop early.
source "$(dirname "$0")/lib.bash"

# 1. one task per robot + the experts as local policies (LQG: dynamic, k = n = 4)
# (4 robots, 3 tasks: robot 3 demonstrates task 0 again)
write_config oracle.yaml "${TINY_LQG[@]}" fleet.partition=one_task fleet.local_policy=expert
run_fleet 4 run oracle.yaml --quiet --output oracle.h5
check_rc "one_task + expert run" 0
run_cmd "$PYTHON" - <<'EOF'
import h5py, numpy as np
f = h5py.File("oracle.h5", "r")
mix = f["/fleet/mixture"][()]
assert np.array_equal(mix, np.eye(3)[[0, 1, 2, 0]]), mix  # robot i: task i mod 3
tc = f["/fleet/task_count"][()]
assert np.array_equal(tc, [8, 4, 4]), tc
rel = f["/eval/local/rel_exact"][()]  # [robot][task]
for i in range(4):
    assert abs(rel[i, i % 3] - 1.0) < 1e-9, (i, rel[i])  # the optimal controller of its own task
    assert all(rel[i, h] > 1.0 + 1e-9 for h in range(3) if h != i % 3), rel[i]  # tasks differ
print("ok")
EOF
check_rc "robot i holds only task i mod K and its local policy is that task's optimal controller" 0

# 2. with one task (K = 1) every robot holds the same expert: every merge must return it
write_config same.yaml "${TINY_LQG[@]}" env.num_tasks=1 fleet.partition=one_task fleet.local_policy=expert \
    merge.gl_start=permutation merge.gl_normalize=frobenius
run_fleet 3 run same.yaml --quiet --output same.h5
check_rc "three identical experts merge" 0
run_cmd "$PYTHON" - <<'EOF'
import h5py
f = h5py.File("same.h5", "r")
for m in ("average", "linear_perm", "linear_gl"):
    r = f["/eval/%s/rel_exact" % m][()]
    assert abs(r[0] - 1.0) < 1e-9, (m, r)
print("ok")
EOF
check_rc "every merge of identical experts is the expert (relative cost 1)" 0

# 3. gl_tol stops early and says where
write_config tol.yaml "${TINY_LQG[@]}" merge.gl_steps=100000 merge.gl_tol=0.01 "merge.methods=[linear_gl]"
run_fleet 3 run tol.yaml --quiet --output tol.h5
check_rc "gl_tol run" 0
run_cmd "$PYTHON" -c 'import h5py, math; a = h5py.File("tol.h5")["/merge/linear_gl"].attrs; it, s = a["iterations"], a["selected_step"]; print(it, s, a["bc_loss"]); assert 0 < it < 100000 and it % 100 == 0 and s <= it and s % 100 == 0 and a["bc_loss"] > 0 and math.isfinite(a["bc_loss"])'
check_rc "gl_tol 0.01 stops at a multiple of 100 steps before gl_steps; the selected step and its BC loss are stored" 0

# 4. experts need the policy class that holds them (checked when the config loads)
write_config bad.yaml "${TINY_LQG[@]}" fleet.local_policy=expert policy.hidden_dim=3
run_fleet 2 run bad.yaml --quiet --output bad.h5
check_rc "expert local policies in a 3-state class fail" 2
check_contains "the error names the key and the fix" "$ERR" "fleet.local_policy: got expert, whose LQG experts are dynamic"
check_absent "no results file" bad.h5
finish
