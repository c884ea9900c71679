#!/usr/bin/env bash
# Idempotent set-up, run before `npm test`, `npm run demo` and `npm run bench`:
#   1. Debian packages: libtorch-dev and libgloo-dev (the Gloo headers of torch.distributed);
#      libopenblas0-openmp (without it libtorch's matrix products run on the reference BLAS, ~30x
#      slower; OpenBLAS-pthread fights OpenMP's threads); chromium (the dashboard's browser tests); python3 (the safetensors interoperability test).
#   2. `npm ci` when node_modules is missing or older than package-lock.json.
#   3. the native addon, when it is missing or older than its sources.
# With everything in place it takes well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libopenblas0-openmp cmake g++ chromium python3)
[ -z "${LIBTORCH:-}" ] && packages+=(libtorch-dev libgloo-dev)  # LIBTORCH=/path brings its own libtorch
need_apt=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$p")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

addon=native/build/Release/sharpen_native.node
stale=0
if [ ! -f "$addon" ]; then
  stale=1
else
  for f in native/src/* native/CMakeLists.txt; do
    [ "$f" -nt "$addon" ] && stale=1
  done
fi
if [ "$stale" -eq 1 ]; then
  node scripts/build-native.mjs
fi
