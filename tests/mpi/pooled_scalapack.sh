#!/usr/bin/env bash
# pooled_scalapack.sh - ScaLAPACK pooled least squares over 4 MPI ranks equals the normal
# equations (TAP from the program). Usage: tests/mpi/pooled_scalapack.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export OPENBLAS_NUM_THREADS=1
exec timeout -k 10 300 mpirun --allow-run-as-root --oversubscribe -np 4 "$root/build/tests/mpi/pooled_scalapack_check"
