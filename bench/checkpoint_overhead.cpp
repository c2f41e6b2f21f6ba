// How much do checkpoints under load cost the bank?
//
// Runs the bank (1,000 accounts, 4 clearing houses, 4 drivers each keeping 64
// transfers in flight) at full speed, alternately without checkpoints and
// with a checkpoint every 100 ms into an LMDB store, and prints transfers per
// second for both, their ratio (goal >= 0.8), and the longest time any
// component was paused by a cut next to its own serialization time.
//
// Usage: bench_checkpoint_overhead [seconds-per-phase=3] [rounds=3]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>
#include <vector>

#include <fmt/core.h>

#include "amber/actors/checkpointer.hpp"
#include "amber/storage/lmdb_store.hpp"
#include "bank/bank.hpp"

using namespace amber;
using namespace std::chrono_literals;

namespace {

struct phase_result {
  double transfers_per_s = 0;
  uint64_t checkpoints = 0;
  uint64_t failed = 0;
  double max_pause_us = 0;
  double max_pause_serialize_us = 0;
  double mean_checkpoint_ms = 0;
  uint64_t in_flight = 0;
};

phase_result run_phase(std::shared_ptr<registry> types, std::chrono::milliseconds length,
                       std::shared_ptr<store> db) {
  node_options opts;
  opts.name = "bank";
  node n(types, opts);
  if (auto st = n.install(bank::make_graph({})); !st) {
    fmt::print(stderr, "install: {}\n", st.to_string());
    std::exit(1);
  }
  phase_result out;
  std::atomic<uint64_t> taken{0}, failed{0}, micros{0}, in_flight{0};
  std::unique_ptr<checkpointer> cp;
  if (db) {
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
  bank::start_drivers(n);
  std::this_thread::sleep_for(200ms); // warm up
  auto d0 = n.core().counters.delivered.load();
  auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(length);
  auto d1 = n.core().counters.delivered.load();
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  bank::halt_drivers(n);
  n.wait_quiet(60s);
  cp.reset();
  // Every transfer is four component messages: withdraw, transfer, deposit, settled.
  out.transfers_per_s = static_cast<double>(d1 - d0) / 4.0 / secs;
  out.checkpoints = taken.load();
  out.failed = failed.load();
  out.max_pause_us = n.core().counters.max_pause_ns.load() / 1000.0;
  out.max_pause_serialize_us = n.core().counters.max_pause_serialize_ns.load() / 1000.0;
  out.mean_checkpoint_ms = taken ? micros.load() / 1000.0 / taken.load() : 0;
  out.in_flight = taken ? in_flight.load() / taken.load() : 0;
  return out;
}

double median(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  return xs[xs.size() / 2];
}

} // namespace

int main(int argc, char** argv) {
  auto seconds = argc > 1 ? std::atoi(argv[1]) : 3;
  auto rounds = argc > 2 ? std::atoi(argv[2]) : 3;
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
  fmt::print("{:>5}  {:>14}  {:>14}  {:>6}  {:>5}  {:>9}  {:>9}  {:>16}\n", "round",
             "plain xfer/s", "ckpt xfer/s", "ratio", "ckpts", "ckpt ms", "in flight",
             "max pause (ser.)");
  for (int i = 0; i < rounds; ++i) {
    auto a = run_phase(types, std::chrono::seconds(seconds), nullptr);
    auto b = run_phase(types, std::chrono::seconds(seconds), *db);
    plain.push_back(a.transfers_per_s);
    with.push_back(b.transfers_per_s);
    ratios.push_back(b.transfers_per_s / a.transfers_per_s);
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
             "ratio {:.3f} (goal >= 0.8)\n",
             median(plain), median(with), median(ratios));
  fmt::print("longest component pause: {:.0f} us, of which {:.0f} us serializing its own "
             "state (goal: pause ~ its serialization)\n",
             worst_pause, worst_serialize);
  db->reset();
  std::filesystem::remove_all(dir);
  return 0;
}
