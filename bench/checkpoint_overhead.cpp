// How much do checkpoints under load cost the bank?
//
// Runs the bank (1,000 accounts, 4 clearing houses, 4 drivers each keeping 64
// transfers in flight) at full speed, alternately without checkpoints and
// with a checkpoint every 100 ms into an LMDB store, and prints transfers per
// second for both, their ratio (goal >= 0.9), and the longest time any
// component was paused by a cut next to its own serialization time.
//
// Usage: bench_checkpoint_overhead [window-ms=500] [windows-per-mode=5] [rounds=3]
// (--help prints it; an argument that is not a whole number in range prints
// it to stderr and exits 2).

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/core.h>

#include "amber/actors/checkpointer.hpp"
#include "amber/storage/lmdb_store.hpp"
#include "bank/bank.hpp"
#include "bench_util.hpp"

using namespace amber;
using namespace std::chrono_literals;

namespace {

struct phase_result {
  double transfers_per_s = 0;
  uint64_t checkpoints = 0;
  uint64_t failed = 0;
  double max_pause_us = 0;
  double max_pause_serialize_us = 0;
  double mean_pause_us = 0;
  double mean_serialize_us = 0;
  double mean_checkpoint_ms = 0;
  uint64_t in_flight = 0;
};

// One node; windows of transfers alternate between no checkpointer and a
// checkpointer taking one every 100 ms, so both modes share the node's
// scheduler placement (which alone moves throughput by up to 2x on a VM).
struct round_result {
  phase_result plain;
  phase_result with;
};

round_result run_round(std::shared_ptr<registry> types, std::chrono::milliseconds window,
                       int windows, std::shared_ptr<store> db) {
  node_options opts;
  opts.name = "bank";
  node n(types, opts);
  if (auto st = n.install(bank::make_graph({})); !st) {
    fmt::print(stderr, "install: {}\n", st.to_string());
    std::exit(1);
  }
  std::atomic<uint64_t> taken{0}, failed{0}, micros{0}, in_flight{0};
  bank::start_drivers(n);
  std::this_thread::sleep_for(200ms); // warm up
  double plain_transfers = 0, plain_secs = 0, with_transfers = 0, with_secs = 0;
  for (int w = 0; w < 2 * windows; ++w) {
    std::unique_ptr<checkpointer> cp;
    bool checkpoints = w % 2 == 1;
    if (checkpoints) {
      checkpoint_options copts;
      copts.interval = 100ms;
      copts.checkpoint_on_stop = false;
      copts.on_checkpoint = [&](const result<checkpoint_report>& r) {
        if (!r) {
          ++failed;
          return;
        }
        ++taken;
        micros += r->duration.count();
        in_flight += r->in_flight;
      };
      cp = std::make_unique<checkpointer>(n, db, copts);
    }
    auto d0 = n.stats().received;
    auto t0 = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(window);
    auto d1 = n.stats().received;
    auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // Every transfer is four component messages: withdraw, transfer, deposit, settled.
    auto transfers = static_cast<double>(d1 - d0) / 4.0;
    (checkpoints ? with_transfers : plain_transfers) += transfers;
    (checkpoints ? with_secs : plain_secs) += secs;
  }
  bank::halt_drivers(n);
  n.wait_quiet(60s);
  round_result out;
  out.plain.transfers_per_s = plain_transfers / plain_secs;
  out.with.transfers_per_s = with_transfers / with_secs;
  auto& b = out.with;
  b.checkpoints = taken.load();
  b.failed = failed.load();
  auto stats = n.stats();
  b.max_pause_us = stats.max_pause.count() / 1000.0;
  b.max_pause_serialize_us = stats.max_pause_serialize.count() / 1000.0;
  b.mean_pause_us = stats.mean_pause.count() / 1000.0;
  b.mean_serialize_us = stats.mean_serialize.count() / 1000.0;
  b.mean_checkpoint_ms = taken ? micros.load() / 1000.0 / taken.load() : 0;
  b.in_flight = taken ? in_flight.load() / taken.load() : 0;
  return out;
}

using bench::median;

void usage(std::FILE* to) {
  std::fprintf(to,
               "Usage: bench_checkpoint_overhead [window-ms] [windows-per-mode] [rounds]\n\n"
               "Runs the bank at full speed in windows alternating between no checkpoints and a\n"
               "checkpoint every 100 ms; prints transfers/s of both, their ratio (goal >= 0.9)\n"
               "and the longest pause of a component.\n\n"
               "  window-ms         length of one window, 1..600000 (default 500)\n"
               "  windows-per-mode  windows of each mode per round, 1..1000 (default 5)\n"
               "  rounds            rounds, each on a fresh node, 1..1000 (default 3)\n"
               "  -h, --help        print this help and exit\n");
}

/// Positional argument `i` as a whole number in [lo, hi], or `fallback`
/// when absent; anything else prints the usage and exits 2.
int64_t arg(int argc, char** argv, int i, int64_t lo, int64_t hi, int64_t fallback) {
  if (i >= argc)
    return fallback;
  auto v = bench::parse_int(argv[i], lo, hi);
  if (!v) {
    std::fprintf(stderr, "bench_checkpoint_overhead: '%s' is not a whole number in %lld..%lld\n\n",
                 argv[i], static_cast<long long>(lo), static_cast<long long>(hi));
    usage(stderr);
    std::exit(2);
  }
  return *v;
}

} // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "-h" || a == "--help") {
      usage(stdout);
      return 0;
    }
  }
  if (argc > 4) {
    std::fprintf(stderr, "bench_checkpoint_overhead: too many arguments\n\n");
    usage(stderr);
    return 2;
  }
  auto window = std::chrono::milliseconds(arg(argc, argv, 1, 1, 600000, 500));
  auto windows = static_cast<int>(arg(argc, argv, 2, 1, 1000, 5));
  auto rounds = static_cast<int>(arg(argc, argv, 3, 1, 1000, 3));
  auto types = std::make_shared<registry>();
  bank::register_types(*types);
  auto dir = std::filesystem::temp_directory_path() / ("amber-bench-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  lmdb_options lopts;
  lopts.create_if_missing = true;
  auto db = lmdb_store::open(dir.string(), lopts);
  if (!db) {
    fmt::print(stderr, "store: {}\n", db.error().to_string());
    return 1;
  }
  std::vector<double> plain, with, ratios;
  double worst_pause = 0, worst_serialize = 0;
  std::vector<double> mean_pause, mean_serialize;
  fmt::print("{:>5}  {:>14}  {:>14}  {:>6}  {:>5}  {:>9}  {:>9}  {:>16}\n", "round",
             "plain xfer/s", "ckpt xfer/s", "ratio", "ckpts", "ckpt ms", "in flight",
             "max pause (ser.)");
  for (int i = 0; i < rounds; ++i) {
    auto r = run_round(types, window, windows, *db);
    auto& a = r.plain;
    auto& b = r.with;
    plain.push_back(a.transfers_per_s);
    with.push_back(b.transfers_per_s);
    ratios.push_back(b.transfers_per_s / a.transfers_per_s);
    mean_pause.push_back(b.mean_pause_us);
    mean_serialize.push_back(b.mean_serialize_us);
    if (b.max_pause_us > worst_pause) {
      worst_pause = b.max_pause_us;
      worst_serialize = b.max_pause_serialize_us;
    }
    fmt::print("{:>5}  {:>14.0f}  {:>14.0f}  {:>6.3f}  {:>5}  {:>9.1f}  {:>9}  {:>7.0f} us ({:.0f})\n",
               i + 1, a.transfers_per_s, b.transfers_per_s, ratios.back(), b.checkpoints,
               b.mean_checkpoint_ms, b.in_flight, b.max_pause_us, b.max_pause_serialize_us);
    if (b.failed > 0)
      fmt::print("       ({} checkpoints failed)\n", b.failed);
  }
  fmt::print("median: {:.0f} transfers/s plain, {:.0f} with a checkpoint every 100 ms: "
             "ratio {:.3f} (goal >= 0.9)\n",
             median(plain), median(with), median(ratios));
  fmt::print("component pause per cut: mean {:.2f} us, of which {:.2f} us serializing its "
             "own state; longest {:.0f} us, of which {:.0f} us serializing (goal: pause ~ its "
             "serialization; the rest is two sends, and the OS preempting the thread)\n",
             median(mean_pause), median(mean_serialize), worst_pause, worst_serialize);
  db->reset();
  std::filesystem::remove_all(dir);
  return 0;
}
