#!/usr/bin/env bash
# Configures and builds the sanitizer build into ./build-asan: clang++ with
# AddressSanitizer and UBSan (any undefined behaviour aborts) and libFuzzer
# coverage (AMBER_FUZZ), so one build serves both scripts/check-asan.sh (the
# whole suite) and scripts/fuzz.sh (the harnesses of tests/fuzz).
# Usage: scripts/asan-build.sh [TARGET...]   (no target: everything)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
build_dir="${AMBER_ASAN_BUILD_DIR:-build-asan}"
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  launcher=()
  if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
  CC=clang CXX=clang++ cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DAMBER_FUZZ=ON -DAMBER_BUILD_BENCH=OFF "${launcher[@]}" >/dev/null
fi
if [ $# -eq 0 ]; then
  cmake --build "$build_dir" -j 2
else
  cmake --build "$build_dir" -j 2 --target "$@"
fi
