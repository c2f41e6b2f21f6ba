#!/usr/bin/env bash
# Issue 11: a service built against an installed amber. Installs the build
# in BUILD_DIR into a temporary prefix, configures and builds
# examples/downstream (the `kv` service) with find_package(amber), runs it
# (periodic checkpoints, then idle), restores it, and reads its store with
# kv's and the stock amber's store commands. Also configures the service
# with amber added by add_subdirectory. Prints "downstream ok" at the end.
# Usage: scripts/downstream-test.sh BUILD_DIR
set -euo pipefail
build="$(cd "$1" && pwd)"
src="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
kv_pid=""
cleanup() {
  if [ -n "$kv_pid" ]; then kill -9 "$kv_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
say() { echo "downstream: $*"; }
fail() { echo "downstream: FAILED: $*" >&2; exit 1; }

launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi

say "install into $tmp/prefix"
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
for f in lib/cmake/amber/amberConfig.cmake lib/cmake/amber/amberConfigVersion.cmake \
         lib/cmake/amber/FindCAF.cmake include/amber/cli/main.hpp \
         include/amber/runtime/component.hpp bin/amber; do
  [ -e "$tmp/prefix/$f" ] || fail "the install has no $f"
done

say "configure and build examples/downstream against it"
cmake -S "$src/examples/downstream" -B "$tmp/kv-build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_PREFIX_PATH="$tmp/prefix" "${launcher[@]}" >"$tmp/configure.log" 2>&1 \
  || { cat "$tmp/configure.log" >&2; fail "configure"; }
cmake --build "$tmp/kv-build" -j 2 >"$tmp/build.log" 2>&1 \
  || { tail -50 "$tmp/build.log" >&2; fail "build"; }
kv="$tmp/kv-build/kv"
amber="$tmp/prefix/bin/amber"
store="$tmp/kv-data"

# Waits (up to 20 s) for a line matching $2 in file $1.
wait_for() {
  for _ in $(seq 200); do
    grep -q "$2" "$1" && return 0
    sleep 0.1
  done
  cat "$1" >&2
  fail "no '$2' in $1"
}
snapshots() { "$kv" log --store "$store" | wc -l; }

say "kv run: 600 puts, a checkpoint every 100ms, then idle"
"$kv" run "$src/examples/downstream/kv.toml" --store "$store" --checkpoint-every 100ms \
  --json >"$tmp/run.out" 2>"$tmp/run.err" &
kv_pid=$!
wait_for "$tmp/run.out" '"started"'
sleep 2  # the loader needs 30 ticks of 20 ms; then the node is idle
idle_before=$(snapshots)
sleep 1
idle_after=$(snapshots)
[ "$idle_before" -eq "$idle_after" ] \
  || fail "an idle node committed snapshots ($idle_before, then $idle_after)"
kill -INT "$kv_pid"
wait "$kv_pid" || fail "kv run exited $?"
kv_pid=""
grep -q '"final"' "$tmp/run.out" || fail "no final checkpoint"
periodic=$(grep -c '"periodic"' "$tmp/run.out" || true)
[ "$periodic" -ge 2 ] || fail "only $periodic periodic checkpoints while the loader ran"
[ -s "$tmp/run.err" ] && { cat "$tmp/run.err" >&2; fail "kv run wrote to stderr"; }

"$kv" verify --store "$store" >/dev/null || fail "verify"
puts=$("$kv" show kv --store "$store" --json \
  | python3 -c 'import json,sys; j=json.load(sys.stdin); print(sum(1 for c in j["components"] if c["type"]=="kv.shard"))')
[ "$puts" -eq 4 ] || fail "show lists $puts shards, not 4"

say "kv restore: incarnation 1, from the head"
"$kv" restore kv --store "$store" --json >"$tmp/restore.out" 2>"$tmp/restore.err" &
kv_pid=$!
wait_for "$tmp/restore.out" '"started"'
grep -q '"incarnation":1' "$tmp/restore.out" || fail "restore did not start incarnation 1"
kill -TERM "$kv_pid"
wait "$kv_pid" || fail "kv restore exited $?"
kv_pid=""
# Whole outputs into variables, then matched: with pipefail, `log | head -1`
# fails whenever log is still writing when head has exited (SIGPIPE).
newest=$("$kv" log --store "$store" --json)
newest=${newest%%$'\n'*}
[[ "$newest" == *'"incarnation":1'* ]] \
  || { cat "$tmp/restore.out" "$tmp/restore.err" >&2;
       echo "$newest" >&2;
       fail "the head is not the restored incarnation's final checkpoint"; }
"$kv" diff kv~1 kv --store "$store" >/dev/null || fail "diff"

say "kv cat and diff describe the states with kv's to_json"
oldest=$("$kv" log --store "$store" --json | tail -1 \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
"$kv" cat kv shard-0 --store "$store" --json >"$tmp/cat-new.json" || fail "kv cat"
"$kv" cat "$oldest" shard-0 --store "$store" --json >"$tmp/cat-old.json" || fail "kv cat oldest"
"$kv" show kv --component router --store "$store" --json >"$tmp/router.json" \
  || fail "kv show --component"
"$kv" diff "$oldest" kv --store "$store" --json >"$tmp/diff.json" || fail "kv diff --json"
"$kv" diff "$oldest" kv --store "$store" >"$tmp/diff.txt" || fail "kv diff"
python3 - "$tmp" <<'PY' || fail "kv cat/diff disagree (see above)"
import json, sys
tmp = sys.argv[1]
new = json.load(open(tmp + "/cat-new.json"))
old = json.load(open(tmp + "/cat-old.json"))
router = json.load(open(tmp + "/router.json"))
diff = json.load(open(tmp + "/diff.json"))
assert new["described"] and new["type"] == "kv.shard", new
assert router["described"] and router["state"]["routed"] == 600, router  # ADL to_json
shard = next(c for c in diff["changed"] if c["name"] == "shard-0")
data = next(c for c in shard["state_diff"]["containers"] if c["path"] == "data")
added = len(set(new["state"]["data"]) - set(old["state"]["data"]))
assert data["added"] == added and added > 0, (data, added)
puts = next(c for c in shard["state_diff"]["changes"] if c["path"] == "puts")
assert puts["before"] == old["state"]["puts"] and puts["after"] == new["state"]["puts"], puts
print("downstream: shard-0 +%d keys, puts %d -> %d" % (added, puts["before"], puts["after"]))
PY
grep -Eq '^  data: \+[0-9]+ keys' "$tmp/diff.txt" || { cat "$tmp/diff.txt" >&2; fail "no key count in kv diff"; }
grep -Eq '^  puts [0-9]+ -> [0-9]+$' "$tmp/diff.txt" || fail "no field change in kv diff"
"$kv" graph "$src/examples/downstream/kv.toml" >/dev/null || fail "graph of kv.toml"

say "the stock amber binary reads the kv store, and refuses to run kv's types by name"
"$amber" log --store "$store" >/dev/null || fail "amber log of a kv store"
"$amber" verify --store "$store" >/dev/null || fail "amber verify of a kv store"
"$amber" show kv --store "$store" >/dev/null || fail "amber show of a kv store"
"$amber" cat kv shard-0 --store "$store" >"$tmp/amber-cat.out" 2>"$tmp/amber-cat.err" \
  || fail "amber cat of a kv store"
grep -q '"state_bytes"' "$tmp/amber-cat.out" || fail "amber cat of a kv shard: no size summary"
grep -q "this binary (amber) knows types" "$tmp/amber-cat.err" \
  || { cat "$tmp/amber-cat.err" >&2; fail "amber cat does not say why it shows sizes only"; }
stock_diff=$("$amber" diff "$oldest" kv --store "$store")
[[ "$stock_diff" == *"sizes only for"* ]] \
  || fail "amber diff of a kv store does not fall back to sizes"
"$amber" graph "$src/examples/downstream/kv.toml" >/dev/null 2>"$tmp/graph.err" \
  || fail "amber graph of kv.toml"
if "$amber" restore kv --store "$store" >/dev/null 2>"$tmp/amber-restore.err"; then
  fail "amber restored a kv snapshot it has no types for"
fi
grep -q "this binary (amber) knows types: bank.account" "$tmp/amber-restore.err" \
  || { cat "$tmp/amber-restore.err" >&2; fail "amber's error does not name its types"; }
"$kv" run "$src/examples/graphs/bank-small.toml" --no-store >/dev/null 2>"$tmp/kv-bank.err" \
  && fail "kv ran the bank's types"
grep -q "this binary (kv) knows types: kv.loader, kv.router, kv.shard" "$tmp/kv-bank.err" \
  || { cat "$tmp/kv-bank.err" >&2; fail "kv's error does not name its types"; }

say "configure with amber added by add_subdirectory (no find_package)"
cmake -S "$src/examples/downstream" -B "$tmp/kv-sub" -DAMBER_SOURCE_DIR="$src" \
  >"$tmp/sub.log" 2>&1 || { cat "$tmp/sub.log" >&2; fail "add_subdirectory configure"; }
grep -q "amber_cli" "$tmp/kv-sub/Makefile" "$tmp/kv-sub/CMakeFiles/Makefile2" \
  || fail "add_subdirectory: no amber_cli target"

echo "downstream ok"
