#!/usr/bin/env bash
# tools/setup.sh - install what is missing (Debian 12, as root) and build.
#
#   tools/setup.sh [BUILD_DIR] [extra cmake args...]
#
# Installs the Debian packages provtrace needs (only if some are missing),
# then configures and builds into BUILD_DIR (default: build).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake pkg-config git
  libzstd-dev zstd libmsgpack-dev libjansson-dev libssl-dev libcmocka-dev
  libsqlite3-dev libgit2-dev libarchive-dev
  python3 python3-numpy python3-msgpack python3-croniter python3-setuptools python3-pip
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  if [[ $(id -u) -ne 0 ]]; then
    SUDO=sudo
  else
    SUDO=
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

BUILD_DIR=${1:-build}
shift || true
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
