#!/usr/bin/env bash
# Command 1 of the README: sets everything up and runs `amber demo`.
# Extra arguments go to the demo, e.g. scripts/demo.sh --store /tmp/bank
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh amber >/dev/null
exec "${AMBER_BUILD_DIR:-build}/apps/amber" demo "$@"
