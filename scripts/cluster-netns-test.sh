#!/usr/bin/env bash
# Cluster members as separate hosts (issue 8): three network namespaces on a
# bridge (10.77.0.1-3), one `amber run --cluster` member in each, cluster
# checkpoints under load, one member's veth taken down and up under load
# (1 s, then longer than member_timeout), more checkpoints; then every member
# is stopped and the stores are checked: `amber verify --cluster` and, for
# every cluster snapshot in the chain, money conserved with no lost or
# duplicated deposit (cluster_money_check).
#
# Usage (as root): scripts/cluster-netns-test.sh [BUILD_DIR]   (default: build)
# Skips (exit 0) when not root or `ip netns` is unavailable. Bounded: the
# whole run is killed after 300 s; namespaces, bridge and files are removed
# on every exit.
set -euo pipefail

if [[ -z "${AMBER_NETNS_INNER:-}" ]]; then
  if [[ "$(id -u)" != 0 ]]; then
    echo "cluster-netns-test: SKIP: needs root (network namespaces)"
    exit 0
  fi
  if ! command -v ip >/dev/null || ! ip netns list >/dev/null 2>&1; then
    echo "cluster-netns-test: SKIP: 'ip netns' is not available"
    exit 0
  fi
  exec timeout --signal=TERM --kill-after=10 300 env AMBER_NETNS_INNER=1 bash "$0" "$@"
fi

root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
amber="${AMBER:-$build/apps/amber}"
checker="${CLUSTER_MONEY_CHECK:-$build/tests/apps/cluster_money_check}"
for f in "$amber" "$checker"; do
  [[ -x "$f" ]] || { echo "cluster-netns-test: $f is missing; build first" >&2; exit 2; }
done

tag="a7$$"               # interface names stay under 15 characters
tag="${tag:0:8}"
bridge="br$tag"
members=(a b c)
accounts=8
balance=1000
work="$(mktemp -d /tmp/amber-netns-XXXXXX)"
pids=()

cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for i in 0 1 2; do
    ip netns del "ns$tag$i" 2>/dev/null || true
    ip link del "v$tag$i" 2>/dev/null || true
  done
  ip link del "$bridge" 2>/dev/null || true
  if [[ $rc != 0 ]]; then
    echo "cluster-netns-test: FAILED (exit $rc); member logs:" >&2
    for m in "${members[@]}"; do
      echo "--- $m" >&2
      tail -n 20 "$work/$m.log" >&2 2>/dev/null || true
    done
  fi
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
trap 'exit 124' TERM INT

# -- network: a bridge in the root namespace, one veth pair per member ----------
ip link add "$bridge" type bridge
ip link set "$bridge" up
for i in 0 1 2; do
  ns="ns$tag$i"
  ip netns add "$ns"
  ip link add "v$tag$i" type veth peer name "p$tag$i"
  ip link set "p$tag$i" netns "$ns"
  ip link set "v$tag$i" master "$bridge"
  ip link set "v$tag$i" up
  ip -n "$ns" link set lo up
  ip -n "$ns" link set "p$tag$i" name eth0
  ip -n "$ns" addr add "10.77.0.$((i + 1))/24" dev eth0
  ip -n "$ns" link set eth0 up
done
# Bridged frames must not meet the host's iptables FORWARD policy.
if [[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]]; then
  echo 0 > /proc/sys/net/bridge/bridge-nf-call-iptables || true
fi
if command -v ping >/dev/null; then
  for i in 1 2; do
    ip netns exec "ns${tag}0" ping -c1 -W2 "10.77.0.$((i + 1))" >/dev/null \
      || { echo "cluster-netns-test: namespaces cannot reach each other" >&2; exit 1; }
  done
fi

# -- the cluster file and the members' graph files ------------------------------
all_accounts="a:$accounts,b:$accounts,c:$accounts"
{
  echo '[cluster]'
  echo 'name = "xbank"'
  echo 'heartbeat = "200ms"'
  echo 'member_timeout = "2s"'
  echo 'checkpoint_timeout = "5s"'
  for i in 0 1 2; do
    m="${members[$i]}"
    echo
    echo '[[member]]'
    echo "name = \"$m\""
    echo "address = \"10.77.0.$((i + 1)):7101\""
    echo "graph = \"graph-$m.toml\""
    echo "store = \"store-$m\""
    echo "control = \"10.77.0.$((i + 1)):7201\""
  done
} > "$work/cluster.toml"
for i in 0 1 2; do
  m="${members[$i]}"
  cat > "$work/graph-$m.toml" <<EOF
format = 1

[node]
name = "$m"
threads = 2

[[graph]]
name = "xbank"

[[graph.component]]
name = "acct-{i}"
type = "bank.xaccount"
count = $accounts
params = { balance = "$balance", member = "$m" }

[[graph.component]]
name = "driver"
type = "bank.xdriver"
params = { member = "$m", accounts = "$all_accounts", batch = "4", interval_ms = "5", max_amount = "50", seed = "$((i * 7919 + 11))" }
EOF
done
total=$((3 * accounts * balance))

# -- run ---------------------------------------------------------------------------
for i in 0 1 2; do
  m="${members[$i]}"
  ip netns exec "ns$tag$i" "$amber" run --cluster "$work/cluster.toml" --member "$m" --json \
    > "$work/$m.log" 2>&1 &
  pids+=($!)
done

wait_ready() { # every member printed "ready" at least $1 times, within 30 s
  local want=$1 deadline=$((SECONDS + 30))
  for m in "${members[@]}"; do
    while (( $(grep -c '"event":"ready"' "$work/$m.log" || true) < want )); do
      (( SECONDS < deadline )) || { echo "member $m not ready" >&2; return 1; }
      sleep 0.1
    done
  done
}

checkpoints_ok=0
checkpoint() { # one cluster checkpoint asked of member c; returns its exit code
  local out
  if out=$(ip netns exec "ns${tag}2" "$amber" checkpoint --control 10.77.0.3:7201 \
             --timeout 8s --json 2>&1); then
    checkpoints_ok=$((checkpoints_ok + 1))
    return 0
  fi
  echo "  checkpoint refused: $out"
  return 1
}

checkpoints() { # $1 successful checkpoints, retried, within 60 s
  local n=0 deadline=$((SECONDS + 60))
  while (( n < $1 )); do
    (( SECONDS < deadline )) || { echo "only $n of $1 checkpoints within 60 s" >&2; return 1; }
    if checkpoint; then n=$((n + 1)); else sleep 0.5; fi
  done
}

wait_ready 1
echo "cluster-netns-test: 3 members ready in namespaces ns${tag}0-2 (10.77.0.1-3)"
sleep 0.5
checkpoints 10
echo "cluster-netns-test: 10 checkpoints committed; taking b's link down under load"
ip link set "v${tag}1" down; sleep 1; ip link set "v${tag}1" up
checkpoint || true
ip link set "v${tag}1" down; sleep 3; ip link set "v${tag}1" up   # > member_timeout
sleep 1
checkpoints 10
echo "cluster-netns-test: $checkpoints_ok checkpoints committed in all"
sleep 0.3

# -- stop and check ----------------------------------------------------------------
for p in "${pids[@]}"; do kill -TERM "$p"; done
for p in "${pids[@]}"; do wait "$p" || { echo "a member exited $?" >&2; exit 1; }; done
pids=()
"$amber" verify --cluster "$work/cluster.toml"
"$checker" "$work/cluster.toml" "$total"
echo "cluster-netns-test: PASS"
