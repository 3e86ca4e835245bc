#!/usr/bin/env bash
# deps.sh - install fleetmerge's Debian packages if any is missing (idempotent, needs root + apt).
# On clusters without root, skip this and point pkg-config at the site's modules (README).
set -euo pipefail
pkgs=(libopenmpi-dev openmpi-bin libscalapack-openmpi-dev libhdf5-openmpi-dev hdf5-tools
      libyaml-dev libopenblas-dev liblapacke-dev pkg-config
      libmujoco-dev libosmesa6-dev libpng-dev
      python3-h5py python3-matplotlib python3-numpy)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: missing packages: ${missing[*]}" >&2
    echo "deps.sh: install them (apt-get as root) or provide them via pkg-config/modules" >&2
    exit 1
fi
echo "deps.sh: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
