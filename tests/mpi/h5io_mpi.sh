#!/usr/bin/env bash
# h5io_mpi.sh - parallel HDF5 I/O on 4 MPI ranks (TAP, run by `make check` through prove).
# Usage: tests/mpi/h5io_mpi.sh        (needs build/libfleet.a: run `make all` first)
# Runs build/tests/mpi/h5_mpi_check (built by `make all` from tests/mpi/h5_mpi_check.c; built
# here with mpicc against build/libfleet.a when missing or older than its source or the library)
# with mpirun -np 4 in a scratch directory; the program prints the TAP lines and the plan.
# Environment: BUILD (default build), NP (default 4), MPIRUN (default mpirun),
# H5IO_TIMEOUT seconds before a hung run is killed (default 300).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${BUILD:-build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
np="${NP:-4}"
lib="$build/libfleet.a"
src="$root/tests/mpi/h5_mpi_check.c"
bin="$build/tests/mpi/h5_mpi_check"

if [[ ! -f "$lib" ]]; then
    echo "Bail out! $lib is missing: run 'make -C $root all' first"
    exit 1
fi
if [[ ! -x "$bin" || "$src" -nt "$bin" || "$lib" -nt "$bin" ]]; then
    # Same pkg-config packages as the Makefile's PKGS list.
    pkgs="$(sed -n 's/^PKGS[[:space:]]*?=[[:space:]]*//p' "$root/Makefile")"
    if [[ -z "$pkgs" ]]; then
        echo "Bail out! cannot read PKGS from $root/Makefile"
        exit 1
    fi
    mkdir -p "$(dirname "$bin")"
    # shellcheck disable=SC2046,SC2086  # pkg-config output is a list of words
    if ! mpicc -std=c11 -Wall -Wextra -Werror -O2 -g -I"$root/src" $(pkg-config --cflags $pkgs) \
            -o "$bin" "$src" "$lib" $(pkg-config --libs $pkgs) -lm >"$bin.log" 2>&1; then
        sed 's/^/# /' "$bin.log"
        echo "Bail out! cannot build $bin"
        exit 1
    fi
    rm -f "$bin.log"
fi

scratch="$(mktemp -d "${TMPDIR:-/tmp}/h5io_mpi.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
export OPENBLAS_NUM_THREADS=1
status=0
timeout "${H5IO_TIMEOUT:-300}" "${MPIRUN:-mpirun}" --allow-run-as-root --oversubscribe -np "$np" \
    "$bin" "$scratch" || status=$?
if [[ $status -eq 124 ]]; then
    echo "Bail out! h5_mpi_check did not finish within ${H5IO_TIMEOUT:-300} s (hang?)"
fi
exit "$status"
