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
  libsqlite3-dev libgit2-dev libarchive-dev libxxhash-dev libarchive-tools
  python3 python3-numpy python3-msgpack python3-croniter python3-tz python3-setuptools python3-pip
  python3-venv python3-pandas
  libmicrohttpd-dev chromium
  libcurl4-openssl-dev libexpat1-dev
)
# Wanted but not required: PyTorch for examples/train_torch.py (its test
# skips, saying so, without it) and the backup tools the checkpoint
# benchmark compares against.  A failure to install them is not fatal.
OPTIONAL=(python3-torch borgbackup restic)

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
  UPDATED=1
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
opt_missing=()
for p in "${OPTIONAL[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || opt_missing+=("$p")
done
if ((${#opt_missing[@]})) && [[ "${PT_NO_OPTIONAL:-0}" != 1 ]]; then
  echo "setup: installing optional ${opt_missing[*]}" >&2
  [[ $(id -u) -ne 0 ]] && SUDO=sudo || SUDO=
  export DEBIAN_FRONTEND=noninteractive
  [[ "${UPDATED:-0}" == 1 ]] || $SUDO apt-get update -qq || true
  $SUDO apt-get install -y -qq --no-install-recommends "${opt_missing[@]}" >/dev/null 2>&1 ||
    echo "setup: could not install ${opt_missing[*]} (optional: the torch example and some benchmark peers are skipped)" >&2
fi

BUILD_DIR=${1:-build}
shift || true
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
