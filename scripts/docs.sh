#!/usr/bin/env bash
# Generates the API reference from the public headers into BUILD_DIR/docs/api/html
# (Doxygen; any warning fails). Usage: scripts/docs.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${1:-${AMBER_BUILD_DIR:-build}}"
scripts/install-deps.sh
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build_dir" --target docs
echo "API reference: $build_dir/docs/api/html/index.html"
