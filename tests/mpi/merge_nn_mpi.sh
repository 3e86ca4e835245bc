#!/usr/bin/env bash
# merge_nn_mpi.sh - neural merges (MergeMany, SoftUpdate, FLEET-MERGE with a participation
# subset and its ablations, sinkhorn_data) on 4 MPI ranks equal the serial reference bit for bit
# (TAP from the program).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export OPENBLAS_NUM_THREADS=1
# the build that FLEET comes from (make test sets FLEET=$(BUILD)/fleet), else build/
bin=$(dirname "${FLEET:-$root/build/fleet}")/tests/mpi/merge_nn_check
exec timeout -k 10 300 mpirun --allow-run-as-root --oversubscribe -np 4 "$bin"
