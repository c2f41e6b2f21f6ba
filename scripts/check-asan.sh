#!/usr/bin/env bash
# Builds amber and every test suite with AddressSanitizer and UBSan
# (scripts/asan-build.sh: ./build-asan) and runs them all with ctest, as
# scripts/test.sh does for the normal build. Leaks count as failures.
# Usage: scripts/check-asan.sh [CTEST ARGS...]   (e.g. -R storage)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/asan-build.sh
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
cd "${AMBER_ASAN_BUILD_DIR:-build-asan}"
ctest --output-on-failure -j 2 "$@"
