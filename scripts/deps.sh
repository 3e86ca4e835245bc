#!/usr/bin/env bash
# deps.sh - install every Debian package fleetmerge needs to build, run and test, if any is missing
# (idempotent; needs root + apt). Build: MPI, ScaLAPACK, parallel HDF5, libyaml, OpenBLAS/LAPACKE, MuJoCo,
# OSMesa, libpng, zlib. Runs and analysis: hdf5-tools, Debian's python3 packages, the supervised data
# sets (Fashion-MNIST's idx files, the King James Bible text). Tests: Slurm + munge (a real
# single-node cluster in tests/slurm/), clang + libFuzzer (tests/fuzz/).
# On clusters without root, skip this and point pkg-config at the site's modules (README); without apt or
# root it only lists what is missing and exits 1.
# `scripts/deps.sh bench` also installs the references the benchmarks run against (PyTorch, SciPy).
# usage: scripts/deps.sh [bench]
set -euo pipefail
bench=0
if [ $# -eq 1 ] && [ "$1" = bench ]; then
    bench=1
elif [ $# -gt 0 ]; then
    sed -n '2,10s/^# \{0,1\}//p' "$0"
    [ "$1" = --help ] && exit 0
    exit 2
fi
pkgs=(libopenmpi-dev openmpi-bin libscalapack-openmpi-dev libhdf5-openmpi-dev hdf5-tools
      libyaml-dev libopenblas-dev liblapacke-dev pkg-config
      libmujoco-dev libosmesa6-dev libpng-dev zlib1g-dev
      python3-h5py python3-matplotlib python3-numpy python3-yaml
      dataset-fashion-mnist bible-kjv
      slurm-wlm munge clang libclang-rt-14-dev libfuzzer-14-dev)
[ "$bench" = 0 ] || pkgs+=(python3-torch python3-scipy)
if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "deps.sh: not a Debian system; install the equivalents of: ${pkgs[*]}" >&2
    exit 1
fi
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: missing packages: ${missing[*]}" >&2
    echo "deps.sh: install them (apt-get as root) or provide them via pkg-config/modules (README)" >&2
    exit 1
fi
echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
echo "deps.sh: done"
