// How do checkpoint, restore and stop scale with the number of components?
//
// For each N of --sizes (up to --max-n), with N small components (state: two
// int64, distinct per component so no two blobs are the same) in a node with
// --workers threads and a fresh durable LMDB store in a temp directory:
//   install   node.install() of the N, until every component has answered a
//             request (make_behavior runs after install() returns);
//   ckpt 1    the first checkpoint (every state serialized and written);
//   ckpt 2    a second one with nothing changed (every blob reused);
//   stop      node.stop() of that node (its checkpointer gone first);
//   restore   restore_node() from the store, then until every restored
//             component has answered ("ready");
//   stop (r)  node.stop() of the restored node;
//   RSS       VmRSS before and after each checkpoint.
// The raw bound, measured in the same process before each round: Boost save
// of the N states into a reused buffer + SHA-256 each + one durable LMDB
// write transaction (raw_baseline.hpp). Goals (issue 7), at 100,000:
// checkpoint <= 1 s, restore <= 1 s, stop <= 1 s, RSS after a checkpoint
// back where it was. A phase that hangs ends the run (exit 3) after
// --phase-timeout-s, saying which.

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "amber/actors/checkpointer.hpp"
#include "amber/actors/restore.hpp"
#include "amber/runtime/component.hpp"
#include "amber/runtime/node.hpp"
#include "amber/runtime/registry.hpp"
#include "amber/storage/lmdb_store.hpp"

#include "await_all.hpp"
#include "bench_util.hpp"
#include "raw_baseline.hpp"

namespace {

using bench::get_atom;
using add_atom = caf::atom_constant<caf::atom("add")>;

struct cell_state {
  int64_t a = 0;
  int64_t b = 0;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& a& b;
  }
};

/// A small component: two int64, set from its instance id on a fresh start.
class cell : public amber::component<cell_state> {
public:
  static constexpr const char* type_name = "bench.cell";
  static amber::package_ref package() { return {"bench", "1.0.0"}; }
  using component::component;
  caf::behavior make_behavior() override {
    if (!restored()) {
      state().a = instance_id();
      state().b = -static_cast<int64_t>(instance_id());
    }
    return {
      [this](add_atom, int64_t n) { state().b += n; },
      [this](get_atom) { return state().a; },
    };
  }
};

struct settings {
  std::vector<int64_t> sizes{1000, 10000, 100000};
  int64_t max_n = 10000;
  int64_t workers = 2;
  int64_t rounds = 3;
  int64_t checkpoint_timeout_s = 120;
  int64_t phase_timeout_s = 300;
};

struct figures {
  double raw = 0;
  double install = 0;
  double ckpt1 = 0, ckpt2 = 0;
  double stop = 0;
  double restore = 0, ready = 0;
  double stop_restored = 0;
  double rss_before1 = 0, rss_after1 = 0, rss_after2 = 0; // MiB
  bool ckpt_ok = false;
  bool restore_ok = false;
};

std::vector<caf::actor> handles(amber::node& n) {
  std::vector<caf::actor> out;
  for (auto& c : n.components())
    out.push_back(c.handle);
  return out;
}

figures run_round(int64_t count, const settings& s, std::shared_ptr<amber::registry> types,
                  bench::watchdog& dog) {
  using std::chrono::seconds;
  const seconds phase_limit{s.phase_timeout_s};
  figures f;
  {
    std::vector<cell_state> states(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i)
      states[static_cast<size_t>(i)] = {i + 1, -(i + 1)};
    bench::scratch_dir dir("amber-bench-scale-raw");
    bench::phase_guard g(dog, "raw baseline", phase_limit);
    f.raw = bench::raw_checkpoint(states, dir.sub("lmdb"), 256, uint64_t{8} << 30).seconds;
  }

  bench::scratch_dir dir("amber-bench-scale");
  auto db = amber::lmdb_store::open(dir.sub("store"), {true});
  if (!db) {
    std::fprintf(stderr, "store: %s\n", db.error().to_string().c_str());
    std::exit(1);
  }
  amber::node_options nopts;
  nopts.name = "scale";
  nopts.worker_threads = static_cast<size_t>(s.workers);
  {
    amber::node n(types, nopts);
    amber::graph_def g{"scale", {}, {}};
    g.instances.reserve(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i)
      g.instances.push_back({"c" + std::to_string(i), "bench.cell", {}});
    {
      bench::phase_guard pg(dog, "install of " + std::to_string(count), phase_limit);
      auto t0 = bench::clock_type::now();
      if (auto st = n.install(g); !st) {
        std::fprintf(stderr, "install: %s\n", st.to_string().c_str());
        std::exit(1);
      }
      if (auto failed = bench::await_all(n.system(), handles(n)); failed > 0) {
        std::fprintf(stderr, "%lld components did not answer\n", static_cast<long long>(failed));
        std::exit(1);
      }
      f.install = bench::seconds_since(t0);
    }
    {
      amber::checkpoint_options copts;
      copts.timeout = std::chrono::seconds(s.checkpoint_timeout_s);
      copts.checkpoint_on_stop = false;
      amber::checkpointer cp(n, *db, copts);
      auto ckpt_limit = seconds(s.checkpoint_timeout_s) + phase_limit;
      auto take = [&](const char* what, double* secs) {
        bench::phase_guard pg(dog, std::string(what) + " of " + std::to_string(count),
                              ckpt_limit);
        auto t0 = bench::clock_type::now();
        auto r = cp.checkpoint_with_report();
        *secs = bench::seconds_since(t0);
        if (!r) {
          std::printf("  %s FAILED after %.3f s: %s\n", what, *secs, r.error().to_string().c_str());
          return false;
        }
        std::printf("  %s: %.3f s, %llu components, %llu reused\n", what, *secs,
                    static_cast<unsigned long long>(r->components),
                    static_cast<unsigned long long>(r->reused));
        return true;
      };
      f.rss_before1 = bench::mib(bench::rss_kib());
      f.ckpt_ok = take("checkpoint 1", &f.ckpt1);
      f.rss_after1 = bench::mib(bench::rss_kib());
      if (f.ckpt_ok)
        f.ckpt_ok = take("checkpoint 2 (nothing changed)", &f.ckpt2);
      f.rss_after2 = bench::mib(bench::rss_kib());
    }
    bench::phase_guard pg(dog, "stop of the node of " + std::to_string(count), phase_limit);
    auto t0 = bench::clock_type::now();
    n.stop();
    f.stop = bench::seconds_since(t0);
  }
  if (!f.ckpt_ok)
    return f;

  amber::restore_options ropts;
  ropts.worker_threads = static_cast<size_t>(s.workers);
  std::unique_ptr<amber::node> restored;
  {
    bench::phase_guard pg(dog, "restore of " + std::to_string(count), phase_limit);
    auto t0 = bench::clock_type::now();
    auto r = amber::restore_node(**db, "scale", types, ropts);
    f.restore = bench::seconds_since(t0);
    if (!r) {
      std::printf("  restore FAILED after %.3f s: %s\n", f.restore, r.error().to_string().c_str());
      return f;
    }
    restored = std::move(*r);
    auto got = restored->components().size();
    if (got != static_cast<size_t>(count)) {
      std::printf("  restore FAILED: %zu components, not %lld\n", got,
                  static_cast<long long>(count));
      return f;
    }
    if (auto failed = bench::await_all(restored->system(), handles(*restored)); failed > 0) {
      std::printf("  restore FAILED: %lld components did not answer\n",
                  static_cast<long long>(failed));
      return f;
    }
    f.ready = bench::seconds_since(t0);
    f.restore_ok = true;
  }
  bench::phase_guard pg(dog, "stop of the restored node of " + std::to_string(count),
                        phase_limit);
  auto t0 = bench::clock_type::now();
  restored->stop();
  f.stop_restored = bench::seconds_since(t0);
  restored.reset();
  return f;
}

double med(const std::vector<figures>& fs, double figures::*field) {
  std::vector<double> xs;
  for (auto& f : fs)
    xs.push_back(f.*field);
  return bench::median(xs);
}

} // namespace

int main(int argc, char** argv) {
  settings s;
  bench::options cli(
    "bench_checkpoint_scale",
    "Install, first and unchanged checkpoint, restore and stop of N small components\n"
    "(two int64 each) with a fresh durable LMDB store per N, RSS around each checkpoint,\n"
    "and the raw bound (Boost + SHA-256 + one LMDB transaction) measured in the same run.");
  cli.add_list("sizes", &s.sizes, 1, 10000000, "component counts N");
  cli.add("max-n", &s.max_n, 1, 10000000, "skip every N above this (100000 for the full set)");
  cli.add("workers", &s.workers, 1, 64, "scheduler threads of each node");
  cli.add("rounds", &s.rounds, 1, 100, "rounds per N (figures are medians)");
  cli.add("checkpoint-timeout-s", &s.checkpoint_timeout_s, 1, 3600,
          "checkpoint_options::timeout (a checkpoint is aborted after it)");
  cli.add("phase-timeout-s", &s.phase_timeout_s, 1, 36000,
          "end the run (exit 3) when install, restore or a stop takes longer");
  cli.parse(argc, argv);

  auto types = std::make_shared<amber::registry>();
  types->add<cell>();
  bench::watchdog dog;
  std::printf("bench_checkpoint_scale: %lld worker threads, %lld round(s) per N, durable LMDB\n",
              static_cast<long long>(s.workers), static_cast<long long>(s.rounds));
  std::vector<std::pair<int64_t, std::vector<figures>>> all;
  for (auto count : s.sizes) {
    if (count > s.max_n) {
      std::printf("N=%lld skipped (above --max-n %lld)\n", static_cast<long long>(count),
                  static_cast<long long>(s.max_n));
      continue;
    }
    std::vector<figures> fs;
    for (int64_t round = 1; round <= s.rounds; ++round) {
      std::printf("N=%lld round %lld\n", static_cast<long long>(count),
                  static_cast<long long>(round));
      std::fflush(stdout);
      auto f = run_round(count, s, types, dog);
      std::printf("  raw %.3f s | install %.3f s | ckpt1 %.3f s | ckpt2 %.3f s | stop %.3f s | "
                  "restore %.3f s, ready %.3f s | stop (restored) %.3f s | RSS %.0f -> %.0f -> "
                  "%.0f MiB\n",
                  f.raw, f.install, f.ckpt1, f.ckpt2, f.stop, f.restore, f.ready,
                  f.stop_restored, f.rss_before1, f.rss_after1, f.rss_after2);
      std::fflush(stdout);
      fs.push_back(f);
      if (!f.ckpt_ok || !f.restore_ok)
        break;
    }
    all.emplace_back(count, std::move(fs));
  }
  if (all.empty()) {
    std::printf("nothing to run\n");
    return 0;
  }

  std::printf("\nmedians (seconds; RSS in MiB before checkpoint 1 / after it / after checkpoint 2)\n");
  std::printf("%8s %8s %8s %8s %8s %8s %8s %8s %8s %8s  %s\n", "N", "raw", "install", "ckpt1",
              "x raw", "ckpt2", "stop", "restore", "ready", "stop(r)", "RSS");
  for (auto& [count, fs] : all) {
    double raw = med(fs, &figures::raw), c1 = med(fs, &figures::ckpt1);
    std::printf("%8lld %8.3f %8.3f %8.3f %8.1f %8.3f %8.3f %8.3f %8.3f %8.3f  %.0f/%.0f/%.0f%s\n",
                static_cast<long long>(count), raw, med(fs, &figures::install), c1, c1 / raw,
                med(fs, &figures::ckpt2), med(fs, &figures::stop), med(fs, &figures::restore),
                med(fs, &figures::ready), med(fs, &figures::stop_restored),
                med(fs, &figures::rss_before1), med(fs, &figures::rss_after1),
                med(fs, &figures::rss_after2),
                fs.back().ckpt_ok && fs.back().restore_ok ? "" : "  (FAILED, see above)");
  }
  bool failed = false;
  for (auto& entry : all)
    failed = failed || !entry.second.back().ckpt_ok || !entry.second.back().restore_ok;
  auto& [count, fs] = all.back();
  if (!fs.back().ckpt_ok || !fs.back().restore_ok) {
    std::printf("N=%lld: FAILED (%s; see above); stop of the node %.3f s\n",
                static_cast<long long>(count),
                fs.back().ckpt_ok ? "restore failed" : "a checkpoint failed", fs.back().stop);
    return 1;
  }
  double raw = med(fs, &figures::raw), c1 = med(fs, &figures::ckpt1);
  std::printf("N=%lld: checkpoint %.3f s = %.1fx raw (%.3f s), unchanged %.3f s; restore %.3f s "
              "(ready %.3f s); stop %.3f s; RSS +%.0f MiB after checkpoint 1 "
              "(goals at 100000: checkpoint, restore, stop <= 1 s; RSS back)\n",
              static_cast<long long>(count), c1, c1 / raw, raw, med(fs, &figures::ckpt2),
              med(fs, &figures::restore), med(fs, &figures::ready),
              med(fs, &figures::stop_restored),
              med(fs, &figures::rss_after1) - med(fs, &figures::rss_before1));
  return failed ? 1 : 0;
}
