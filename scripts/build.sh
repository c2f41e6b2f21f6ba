#!/usr/bin/env bash
# Installs what is missing, configures and builds amber into ./build.
# Usage: scripts/build.sh [TARGET...]   (no target: everything)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
build_dir="${AMBER_BUILD_DIR:-build}"
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
jobs="$(nproc 2>/dev/null || echo 2)"
if [ $# -eq 0 ]; then
  cmake --build "$build_dir" -j "$jobs"
else
  cmake --build "$build_dir" -j "$jobs" --target "$@"
fi
