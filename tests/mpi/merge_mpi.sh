#!/usr/bin/env bash
# merge_mpi.sh - merges over 4 MPI ranks equal the serial reference (TAP from the program).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
exec timeout -k 10 300 mpirun --allow-run-as-root --oversubscribe -np 4 "$root/build/tests/mpi/merge_mpi_check"
