// What do cluster checkpoints cost, and how fast does a cluster roll back?
//
// For each cluster size (default 2, 4 and 8 members), runs every member as
// its own `amber run --cluster` process on loopback with the cluster bank
// (bank.xaccount / bank.xdriver, transfers crossing members) and measures:
//
// - cluster checkpoint latency under load: p50 / p90 / p99 of `--checkpoints`
//   checkpoints asked of the leader's control endpoint over one kept
//   connection (no process start in the figure);
// - transfer throughput: deposits per second over windows of `--window-ms`,
//   read from the audit counters of the cluster snapshots that open and close
//   each window, with a cluster checkpoint every second inside the window vs
//   none (windows alternate; ratio, goal >= 0.9);
// - whole-cluster rollback: from starting `amber rollback --control` until
//   every member printed "ready" at the new incarnation, and until the next
//   cluster checkpoint answered (goal < 1 s at 8 members).
//
// Usage: bench_cluster [--members 2,4,8] [--checkpoints 30] [--window-ms 2000]
//                      [--windows 3] [--batch 8] [--interval-ms 2] [--rollbacks 3]

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <fmt/core.h>

#include "amber/runtime/atoms.hpp"
#include "bench_util.hpp"
#include "support/cluster_harness.hpp"

using namespace amber;
using namespace amber::cluster_harness;
using namespace std::chrono_literals;

namespace {

/// One connection to a member's control endpoint, kept open.
class control_client {
public:
  explicit control_client(const std::string& host_port) {
    cfg_.load<caf::io::middleman>();
    cfg_.set("scheduler.max-threads", 1);
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    auto colon = host_port.rfind(':');
    auto remote = sys_->middleman().remote_actor(
      host_port.substr(0, colon), static_cast<uint16_t>(std::stoi(host_port.substr(colon + 1))));
    if (!remote)
      throw std::runtime_error("cannot reach " + host_port + ": " + sys_->render(remote.error()));
    remote_ = *remote;
  }

  /// A cluster checkpoint. @return the id (hex), or "" on an error.
  std::string checkpoint(std::chrono::seconds timeout = 30s) {
    std::string out;
    caf::scoped_actor self{*sys_};
    self->request(remote_, timeout, checkpoint_atom::value)
      .receive([&](std::string& hex) { out = std::move(hex); },
               [&](caf::error& err) { last_error_ = sys_->render(err); });
    return out;
  }

  const std::string& last_error() const { return last_error_; }

private:
  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  caf::actor remote_;
  std::string last_error_;
};

double percentile(std::vector<double> xs, double p) {
  if (xs.empty())
    return 0;
  std::sort(xs.begin(), xs.end());
  auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(xs.size())));
  return xs[std::min(xs.size() - 1, rank == 0 ? 0 : rank - 1)];
}

struct row {
  int members = 0;
  double p50 = 0, p90 = 0, p99 = 0;
  int checkpoints = 0;
  int failed = 0;
  double plain_per_s = 0, with_per_s = 0;
  double rollback_ready_ms = 0, rollback_checkpoint_ms = 0;
  bool conserved = true;
  std::string rollback_error; ///< Empty when every rollback finished.
};

std::vector<std::string> member_names(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i)
    out.push_back(std::string(1, static_cast<char>('a' + i)));
  return out;
}

uint64_t deposits_in(process_cluster& c, const std::string& id, bool* conserved) {
  auto m = c.money_in("a", id);
  if (m.sum.total() != c.initial_total() || m.sum.gaps != 0 || m.sum.duplicates != 0
      || !m.missing.empty())
    *conserved = false;
  return m.sum.deposits;
}

row measure(int members, int64_t checkpoints, int64_t window_ms, int64_t windows, int64_t batch,
            int64_t interval_ms, int64_t rollbacks) {
  bench::scratch_dir dir("amber-bench-cluster");
  options o;
  o.members = member_names(members);
  o.threads = 1;
  o.batch = static_cast<int>(batch);
  o.interval_ms = static_cast<int>(interval_ms);
  o.checkpoint_timeout = "10s";
  o.member_timeout = "2s";
  o.heartbeat = "200ms";
  process_cluster c(dir.path(), o);
  c.start_all();
  c.wait_ready({}, 0, 60s);
  std::this_thread::sleep_for(500ms); // Warm up.
  control_client leader(c.control("a"));
  row r;
  r.members = members;

  // Latency under load.
  std::vector<double> ms;
  for (int64_t i = 0; i < checkpoints; ++i) {
    auto t0 = bench::clock_type::now();
    auto id = leader.checkpoint();
    double took = bench::seconds_since(t0) * 1000;
    if (id.empty()) {
      ++r.failed;
      fmt::print(stderr, "checkpoint failed: {}\n", leader.last_error());
    } else {
      ms.push_back(took);
    }
    c.pump_all();
    std::this_thread::sleep_for(50ms);
  }
  r.checkpoints = static_cast<int>(ms.size());
  r.p50 = percentile(ms, 50);
  r.p90 = percentile(ms, 90);
  r.p99 = percentile(ms, 99);

  // Throughput: windows alternate between none and one checkpoint a second.
  double plain_deposits = 0, plain_s = 0, with_deposits = 0, with_s = 0;
  for (int64_t w = 0; w < 2 * windows; ++w) {
    bool with = w % 2 == 1;
    auto open = leader.checkpoint();
    auto t0 = bench::clock_type::now();
    auto end = t0 + std::chrono::milliseconds(window_ms);
    auto next = t0 + 1s;
    while (bench::clock_type::now() < end) {
      auto wake = with ? std::min(next, end) : end;
      std::this_thread::sleep_until(wake);
      c.pump_all();
      if (with && bench::clock_type::now() >= next && bench::clock_type::now() < end) {
        if (leader.checkpoint().empty())
          ++r.failed;
        next += 1s;
      }
    }
    auto close = leader.checkpoint();
    double secs = bench::seconds_since(t0);
    if (open.empty() || close.empty()) {
      ++r.failed;
      continue;
    }
    double d = static_cast<double>(deposits_in(c, close, &r.conserved))
               - static_cast<double>(deposits_in(c, open, &r.conserved));
    (with ? with_deposits : plain_deposits) += d;
    (with ? with_s : plain_s) += secs;
  }
  r.plain_per_s = plain_s > 0 ? plain_deposits / plain_s : 0;
  r.with_per_s = with_s > 0 ? with_deposits / with_s : 0;

  // Whole-cluster rollback to the latest cluster snapshot.
  std::vector<double> ready_ms, answer_ms;
  uint64_t inc = 0;
  try {
  for (int64_t k = 0; k < rollbacks; ++k) {
    // A new client each time: after a rollback the control endpoint is a new actor.
    control_client fresh(c.control("a"));
    if (fresh.checkpoint().empty())
      ++r.failed;
    std::this_thread::sleep_for(300ms);
    auto t0 = bench::clock_type::now();
    auto rb = c.rollback("a");
    if (rb.code != 0)
      throw std::runtime_error("amber rollback failed: " + rb.err + rb.out);
    auto incs = c.wait_ready({}, inc + 1, 10s);
    ready_ms.push_back(bench::seconds_since(t0) * 1000);
    for (auto& [n, i] : incs)
      inc = std::max(inc, i);
    // The leader's control endpoint is a new actor after its rollback.
    control_client again(c.control("a"));
    auto id = again.checkpoint();
    answer_ms.push_back(bench::seconds_since(t0) * 1000);
    if (id.empty())
      ++r.failed;
    else
      deposits_in(c, id, &r.conserved);
  }
  } catch (const std::exception& e) {
    // The members are SIGKILLed with the cluster: a hung rollback cannot stop.
    r.rollback_error = e.what();
    fmt::print(stderr, "{} members: rollback failed: {}\n", members, r.rollback_error.substr(0, 300));
    return r;
  }
  r.rollback_ready_ms = bench::median(ready_ms);
  r.rollback_checkpoint_ms = bench::median(answer_ms);
  auto bad = c.stop_all();
  if (!bad.empty())
    fmt::print(stderr, "{}", bad);
  return r;
}

} // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> sizes{2, 4, 8};
  int64_t checkpoints = 30, window_ms = 2000, windows = 3, batch = 8, interval_ms = 2,
          rollbacks = 3;
  bench::options opts("bench_cluster",
                      "Cluster checkpoint latency, throughput with and without checkpoints, and "
                      "rollback time, for clusters of `amber run --cluster` processes.");
  opts.add_list("members", &sizes, 2, 26, "cluster sizes");
  opts.add("checkpoints", &checkpoints, 1, 100000, "checkpoints timed per size");
  opts.add("window-ms", &window_ms, 500, 600000, "throughput window");
  opts.add("windows", &windows, 1, 1000, "windows per mode");
  opts.add("batch", &batch, 1, 100000, "withdrawals per driver tick");
  opts.add("interval-ms", &interval_ms, 1, 10000, "driver tick");
  opts.add("rollbacks", &rollbacks, 1, 1000, "rollbacks timed per size");
  opts.parse(argc, argv);

  std::string command = "./build/bench/bench_cluster";
  for (int i = 1; i < argc; ++i)
    command += std::string(" ") + argv[i];
  fmt::print("{}\n", command);
  fmt::print("one `amber run --cluster` process per member, 8 accounts each, 1 scheduler thread "
             "each; every driver issues {} withdrawals every {} ms\n\n",
             batch, interval_ms);
  std::vector<row> rows;
  for (auto n : sizes) {
    try {
      rows.push_back(measure(static_cast<int>(n), checkpoints, window_ms, windows, batch,
                             interval_ms, rollbacks));
    } catch (const std::exception& e) {
      fmt::print("{} members: FAILED: {}\n", n, e.what());
      return 1;
    }
    auto& r = rows.back();
    fmt::print(stderr, "{} members done\n", r.members);
  }
  fmt::print("| members | checkpoint p50 / p90 / p99 ms (n) | deposits/s none | deposits/s 1 ckpt/s "
             "| ratio | rollback: all ready ms | rollback: next checkpoint ms | failed | money |\n");
  fmt::print("|---|---|---|---|---|---|---|---|---|\n");
  bool ok = true;
  for (auto& r : rows) {
    double ratio = r.plain_per_s > 0 ? r.with_per_s / r.plain_per_s : 0;
    auto rb = [&](double v) {
      return r.rollback_error.empty() ? fmt::format("{:.0f}", v) : std::string("did not finish");
    };
    fmt::print("| {} | {:.1f} / {:.1f} / {:.1f} ({}) | {:.0f} | {:.0f} | {:.2f} | {} | {} | "
               "{} | {} |\n",
               r.members, r.p50, r.p90, r.p99, r.checkpoints, r.plain_per_s, r.with_per_s, ratio,
               rb(r.rollback_ready_ms), rb(r.rollback_checkpoint_ms), r.failed,
               r.conserved ? "conserved" : "NOT CONSERVED");
    ok = ok && r.conserved;
  }
  fmt::print("\ngoals: throughput ratio >= 0.9; rollback < 1000 ms at 8 members\n");
  return ok ? 0 : 1;
}
