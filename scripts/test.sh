#!/usr/bin/env bash
# Command 2 of the README: sets everything up, builds, and runs every test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
cd "${AMBER_BUILD_DIR:-build}"
ctest --output-on-failure -j 2
