// How close does a full checkpoint come to the raw cost of persisting the
// same bytes?
//
//  (a) --large-n components (default 1,024) of --large-bytes each (1 MiB of
//      pseudo-random bytes in a std::vector<char>);
//  (b) --small-n components (default 1,000) of --small-bytes each (1 KiB).
// Each round takes the first checkpoint of a freshly installed node (every
// component has answered a request first, so its state exists) into a fresh
// durable LMDB store in a temp directory, timed around
// checkpoint_with_report(); and, in the same process, the raw bound: Boost
// save of each state into a reserved buffer + SHA-256 of each + one durable
// LMDB write transaction writing them all (raw_baseline.hpp). The order of
// the two alternates by round (disk write-back from one run slows the next);
// summaries are medians. Goals (issue 7): (a) <= 1.1x raw; (b) <= 15 ms.

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/serialization/vector.hpp>
#include <caf/all.hpp>

#include "amber/actors/checkpointer.hpp"
#include "amber/runtime/component.hpp"
#include "amber/runtime/node.hpp"
#include "amber/runtime/registry.hpp"
#include "amber/storage/lmdb_store.hpp"

#include "await_all.hpp"
#include "bench_util.hpp"
#include "raw_baseline.hpp"

namespace {

using bench::get_atom;

struct blob_state {
  std::vector<char> bytes;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& bytes;
  }
};

/// `size` pseudo-random bytes (xorshift64*), the same for the same seed.
std::vector<char> random_bytes(size_t size, uint64_t seed) {
  std::vector<char> out(size);
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
  for (size_t i = 0; i < size; i += sizeof(uint64_t)) {
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    uint64_t v = x * 0x2545F4914F6CDD1Dull;
    std::memcpy(out.data() + i, &v, std::min(sizeof(v), size - i));
  }
  return out;
}

/// Holds "bytes" pseudo-random bytes, seeded by its instance id.
class blob : public amber::component<blob_state> {
public:
  static constexpr const char* type_name = "bench.blob";
  static amber::package_ref package() { return {"bench", "1.0.0"}; }
  using component::component;
  caf::behavior make_behavior() override {
    if (!restored())
      state().bytes = random_bytes(std::stoull(param("bytes", "0")), instance_id());
    return {
      [this](get_atom) { return static_cast<int64_t>(state().bytes.size()); },
    };
  }
};

struct settings {
  int64_t large_n = 1024;
  int64_t large_bytes = 1 << 20;
  int64_t large_rounds = 3;
  int64_t small_n = 1000;
  int64_t small_bytes = 1024;
  int64_t small_rounds = 7;
  int64_t workers = 2;
  int64_t checkpoint_timeout_s = 120;
  int64_t phase_timeout_s = 300;
};

struct sample {
  double raw = 0;
  double amber = 0;      ///< Negative when the checkpoint failed.
  double rss_before = 0; ///< MiB, just before the checkpoint.
  double rss_peak = 0;   ///< MiB, the highest during it.
};

double raw_round(int64_t count, int64_t bytes, bench::watchdog& dog, std::chrono::seconds limit) {
  std::vector<blob_state> states(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i)
    states[static_cast<size_t>(i)].bytes =
      random_bytes(static_cast<size_t>(bytes), static_cast<uint64_t>(i + 1));
  uint64_t total = static_cast<uint64_t>(count) * static_cast<uint64_t>(bytes + 64);
  bench::scratch_dir dir("amber-bench-large-raw");
  bench::phase_guard g(dog, "raw baseline", limit);
  return bench::raw_checkpoint(states, dir.sub("lmdb"), static_cast<size_t>(bytes) + 64,
                               2 * total + (uint64_t{64} << 20))
    .seconds;
}

/// The first checkpoint of a fresh node of `count` blobs into `x`.
void amber_round(int64_t count, int64_t bytes, const settings& s,
                 std::shared_ptr<amber::registry> types, bench::watchdog& dog, sample* x) {
  const std::chrono::seconds limit{s.phase_timeout_s};
  bench::scratch_dir dir("amber-bench-large");
  auto db = amber::lmdb_store::open(dir.sub("store"), {true});
  if (!db) {
    std::fprintf(stderr, "store: %s\n", db.error().to_string().c_str());
    std::exit(1);
  }
  amber::node_options nopts;
  nopts.name = "large";
  nopts.worker_threads = static_cast<size_t>(s.workers);
  amber::node n(types, nopts);
  amber::graph_def g{"large", {}, {}};
  for (int64_t i = 0; i < count; ++i)
    g.instances.push_back({"b" + std::to_string(i), "bench.blob", {{"bytes", std::to_string(bytes)}}});
  {
    bench::phase_guard pg(dog, "install of " + std::to_string(count) + " blobs", limit);
    if (auto st = n.install(g); !st) {
      std::fprintf(stderr, "install: %s\n", st.to_string().c_str());
      std::exit(1);
    }
    std::vector<caf::actor> all;
    for (auto& c : n.components())
      all.push_back(c.handle);
    if (bench::await_all(n.system(), std::move(all)) > 0) {
      std::fprintf(stderr, "some components did not answer\n");
      std::exit(1);
    }
  }
  double secs = -1;
  {
    amber::checkpoint_options copts;
    copts.timeout = std::chrono::seconds(s.checkpoint_timeout_s);
    copts.checkpoint_on_stop = false;
    amber::checkpointer cp(n, *db, copts);
    bench::phase_guard pg(dog, "checkpoint of " + std::to_string(count) + " blobs",
                          std::chrono::seconds(s.checkpoint_timeout_s) + limit);
    x->rss_before = bench::mib(bench::rss_kib());
    bench::reset_peak_rss();
    auto t0 = bench::clock_type::now();
    auto r = cp.checkpoint_with_report();
    secs = bench::seconds_since(t0);
    x->rss_peak = bench::mib(bench::peak_rss_kib());
    if (!r) {
      std::printf("  checkpoint FAILED after %.3f s: %s\n", secs, r.error().to_string().c_str());
      secs = -1;
    }
  }
  bench::phase_guard pg(dog, "stop of the node of " + std::to_string(count) + " blobs", limit);
  n.stop();
  x->amber = secs;
}

/// Runs `rounds` alternating raw/amber rounds. @return medians (raw, amber,
/// ratio), or nullopt when a checkpoint failed.
std::optional<std::array<double, 3>> run_part(const char* label, int64_t count, int64_t bytes,
                                              int64_t rounds, double unit, const char* unit_name,
                                              const settings& s,
                                              std::shared_ptr<amber::registry> types,
                                              bench::watchdog& dog) {
  const std::chrono::seconds limit{s.phase_timeout_s};
  double mb = static_cast<double>(count) * static_cast<double>(bytes) / 1e6;
  std::printf("%s: %lld components x %lld bytes (%.1f MB), first checkpoint into a fresh "
              "durable store, %lld rounds\n",
              label, static_cast<long long>(count), static_cast<long long>(bytes), mb,
              static_cast<long long>(rounds));
  std::printf("%5s  %10s  %10s  %9s  %9s  %6s  %s\n", "round",
              (std::string("raw ") + unit_name).c_str(),
              (std::string("amber ") + unit_name).c_str(), "raw MB/s", "amber MB/s", "ratio",
              "amber RSS before/peak MiB");
  std::vector<double> raws, ambers, ratios, before, peak;
  for (int64_t round = 1; round <= rounds; ++round) {
    sample x;
    bool raw_first = round % 2 == 1;
    for (bool raw : {raw_first, !raw_first}) {
      if (raw)
        x.raw = raw_round(count, bytes, dog, limit);
      else
        amber_round(count, bytes, s, types, dog, &x);
    }
    if (x.amber < 0)
      return std::nullopt;
    raws.push_back(x.raw);
    ambers.push_back(x.amber);
    ratios.push_back(x.amber / x.raw);
    before.push_back(x.rss_before);
    peak.push_back(x.rss_peak);
    std::printf("%5lld  %10.1f  %10.1f  %9.0f  %9.0f  %6.2f  %.0f/%.0f\n",
                static_cast<long long>(round), x.raw * unit, x.amber * unit, mb / x.raw,
                mb / x.amber, ratios.back(), x.rss_before, x.rss_peak);
    std::fflush(stdout);
  }
  std::array<double, 3> m{bench::median(raws), bench::median(ambers), bench::median(ratios)};
  std::printf("%5s  %10.1f  %10.1f  %9.0f  %9.0f  %6.2f  %.0f/%.0f\n\n", "med", m[0] * unit,
              m[1] * unit, mb / m[0], mb / m[1], m[2], bench::median(before),
              bench::median(peak));
  return m;
}

} // namespace

int main(int argc, char** argv) {
  settings s;
  bench::options cli(
    "bench_checkpoint_large",
    "First checkpoint of components with large (default 1,024 x 1 MiB) and small\n"
    "(1,000 x 1 KiB) states into a fresh durable LMDB store, against the raw bound\n"
    "(Boost save into a reserved buffer + SHA-256 + one durable LMDB transaction)\n"
    "measured in the same run, alternating; medians. A count of 0 skips that part.");
  cli.add("large-n", &s.large_n, 0, 1000000, "components in part (a)");
  cli.add("large-bytes", &s.large_bytes, 1, int64_t{1} << 30, "state bytes each in part (a)");
  cli.add("large-rounds", &s.large_rounds, 1, 100, "rounds of part (a)");
  cli.add("small-n", &s.small_n, 0, 1000000, "components in part (b)");
  cli.add("small-bytes", &s.small_bytes, 1, int64_t{1} << 30, "state bytes each in part (b)");
  cli.add("small-rounds", &s.small_rounds, 1, 1000, "rounds of part (b)");
  cli.add("workers", &s.workers, 1, 64, "scheduler threads of each node");
  cli.add("checkpoint-timeout-s", &s.checkpoint_timeout_s, 1, 3600,
          "checkpoint_options::timeout (a checkpoint is aborted after it)");
  cli.add("phase-timeout-s", &s.phase_timeout_s, 1, 36000,
          "end the run (exit 3) when install, the raw write or a stop takes longer");
  cli.parse(argc, argv);

  auto types = std::make_shared<amber::registry>();
  types->add<blob>();
  bench::watchdog dog;
  std::printf("bench_checkpoint_large: %lld worker threads, durable LMDB\n\n",
              static_cast<long long>(s.workers));
  std::optional<std::array<double, 3>> large, small;
  if (s.large_n > 0) {
    large = run_part("(a) large", s.large_n, s.large_bytes, s.large_rounds, 1.0, "s", s, types, dog);
    if (!large)
      std::printf("(a) stopped: a checkpoint failed\n");
  }
  if (s.small_n > 0) {
    small = run_part("(b) small", s.small_n, s.small_bytes, s.small_rounds, 1000.0, "ms", s,
                     types, dog);
    if (!small)
      std::printf("(b) stopped: a checkpoint failed\n");
  }
  std::string line = "ratios (amber / raw, medians):";
  char buf[256];
  if (large) {
    std::snprintf(buf, sizeof buf, " (a) %lld x %lld B %.2f (%.2f s vs %.2f s, goal <= 1.1);",
                  static_cast<long long>(s.large_n), static_cast<long long>(s.large_bytes),
                  (*large)[2], (*large)[1], (*large)[0]);
    line += buf;
  }
  if (small) {
    std::snprintf(buf, sizeof buf, " (b) %lld x %lld B %.2f (%.1f ms vs %.1f ms, goal <= 15 ms)",
                  static_cast<long long>(s.small_n), static_cast<long long>(s.small_bytes),
                  (*small)[2], (*small)[1] * 1000, (*small)[0] * 1000);
    line += buf;
  }
  std::printf("%s\n", line.c_str());
  return (s.large_n > 0 && !large) || (s.small_n > 0 && !small) ? 1 : 0;
}
