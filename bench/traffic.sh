#!/usr/bin/env bash
# traffic.sh - bytes a robot sends and receives per merging round, FedAvg (merge.methods:
# [average]) against fleet_merge, at N = 4, 8, 16, 32 ranks (oversubscribed: one small cart-pole
# MLP per rank), read from each run's /rounds/bytes_sent and /rounds/bytes_received; appends a
# dated table to bench/RESULTS.md. usage: bench/traffic.sh [N...]   (after `make all`)
# How bytes are counted (src/fleet/fleet_mpi.c): the reducer's logical payload of each collective
# it issues -- reduce-scatter + allgather for sums and float32 means (each rank sends the others'
# chunks and its summed chunk, and receives the same amount), a binomial tree for broadcasts, a ring
# for gathers -- not the bytes Open MPI's transport layers add.
set -euo pipefail
cd "$(dirname "$0")/.."
export OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
PYTHON=${PYTHON:-/usr/bin/python3}
FLEET=${FLEET:-build/fleet}
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(4 8 16 32)
out=bench/RESULTS.md
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for m in average fleet_merge; do
    cat >"$tmp/$m.yaml" <<YAML
experiment: {name: traffic_$m, seed: 1, output_dir: "$tmp"}
env: {kind: cartpole, num_tasks: 4, horizon: 60}
fleet: {robots: 0, alpha: 1.0, demos_per_robot: 8, rounds: 3, local_epochs: 1, participation: 1.0}
policy: {arch: mlp, layers: 2, width: 64}
train: {batch_size: 8, epochs: 1}
merge: {methods: [$m], fm_epochs: 1, fm_steps: 5}
eval: {rollouts: 1, round_rollouts: 1}
YAML
done
rows=()
for n in "${sizes[@]}"; do
    for m in average fleet_merge; do
        echo "traffic: $m on $n ranks" >&2
        timeout 1800 mpirun -n "$n" "$FLEET" run "$tmp/$m.yaml" --quiet --force --output "$tmp/$m.$n.h5" >"$tmp/log" 2>&1 ||
            { cat "$tmp/log" >&2; exit 1; }
    done
    rows+=("$("$PYTHON" - "$tmp" "$n" <<'PY'
import sys, h5py
tmp, n = sys.argv[1], int(sys.argv[2])
def load(m):
    f = h5py.File(f"{tmp}/{m}.{n}.h5", "r")
    return f["rounds/bytes_sent"][()], f["rounds/bytes_received"][()], f[f"models/merged/{m}/params"].size
sa, ra, P = load("average")
sf, rf, _ = load("fleet_merge")
kb = lambda x: x / 1024.0
steady = lambda x: x[:, 1:].mean()
print(f"| {n} | {P} | {kb(ra[:, 0].mean()):.1f} | {kb(rf[:, 0].mean()):.1f} | {kb(steady(ra)):.1f} / {kb(steady(sa)):.1f} "
      f"| {kb(steady(rf)):.1f} / {kb(steady(sf)):.1f} | {kb(rf[:, 1:].max()):.1f} | {steady(rf) / steady(ra):.2f}x |")
PY
)")
done
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
{
    printf '\n## %s, %s (%s cores), %s: merging traffic (bench/traffic.sh)\n\n' "$(date -u +%Y-%m-%dT%H:%MZ)" "$cpu" \
        "$(grep -c ^processor /proc/cpuinfo)" "$(uname -sr)"
    printf 'Per robot and round, in KiB: 3 rounds of 1 local epoch, every robot participating, fleet_merge with\n'
    printf 'E = 1 epoch; cart-pole MLP 2 x 64 (P parameters); ranks oversubscribed on this machine. Round 1 starts\n'
    printf 'from independent initializations (fleet_merge runs MergeMany); rounds 2-3 start from the shared merged\n'
    printf 'model (no MergeMany). Bytes are the reducer'"'"'s logical payloads (bench/traffic.sh header). Target:\n'
    printf 'fleet_merge <= (E + 2) = 3x FedAvg in steady state, received bytes flat in N.\n\n'
    printf '| N | P | FedAvg round 1 recv | fleet_merge round 1 recv | FedAvg rounds 2-3 recv / sent | fleet_merge rounds 2-3 recv / sent | fleet_merge max recv | ratio |\n'
    printf '|---|---|---|---|---|---|---|---|\n'
    printf '%s\n' "${rows[@]}"
} | tee -a "$out"
