#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz with clang, ASan and UBSan
# (scripts/asan-build.sh: ./build-asan) and runs each for SECONDS (default
# 30), one after the other, starting from
# its seed corpus (tests/fuzz/corpus/<harness>; new inputs go to a scratch
# directory, the corpus in the repo is not touched).
# Usage: scripts/fuzz.sh [SECONDS] [HARNESS...]   (no harness: all)
#
# A single allocation over 256 MiB, an input running over 10 s, a leak, a
# sanitizer report or an abort is a failure: libFuzzer's input is written to
# tests/fuzz/regressions/<harness>/ — a regression input that
# `ctest -R fuzz_replay_<harness>` replays from then on (commit it with the
# fix). Exit 1 when any harness failed.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
shift || true
build_dir="${AMBER_ASAN_BUILD_DIR:-build-asan}"
if [ $# -gt 0 ]; then
  harnesses=("$@")
else
  harnesses=(manifest layer_model layer_cache layer_world layer_effects layer_trace
             state message import graph_file template)
fi
scripts/asan-build.sh "${harnesses[@]/#/fuzz_}"

export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
failed=()
for h in "${harnesses[@]}"; do
  scratch="$(mktemp -d)"
  regressions="tests/fuzz/regressions/$h"
  mkdir -p "$regressions"
  log="$scratch/log"
  start=$(date +%s)
  if "$build_dir/tests/fuzz/fuzz_$h" -max_total_time="$seconds" -timeout=10 \
       -malloc_limit_mb=256 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$regressions/" "$scratch" "tests/fuzz/corpus/$h" >"$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    echo "fuzz $h: ok, $runs inputs in $(( $(date +%s) - start )) s"
  else
    echo "fuzz $h: FAILED (input kept in $regressions/):"
    grep -E 'ERROR|SUMMARY|runtime error|Test unit written|fuzz property' "$log" | head -20 || tail -30 "$log"
    failed+=("$h")
  fi
  rm -rf "$scratch"
  rmdir "$regressions" 2>/dev/null || true # Only kept when it holds an input.
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${#failed[@]} harness(es) failed: ${failed[*]}"
  exit 1
fi
echo "fuzz: ${#harnesses[@]} harnesses ran ${seconds} s each, no failure"
