// Issue 9: the cost of exactly-once effects.
//
// A component turns each message into one external write. Baseline: it
// writes directly in its handler (a line to a file with write(2); a row to
// PostgreSQL with one autocommitted INSERT), with no exactly-once at all.
// Measured: it issues an effect instead, performed by file_sink (idempotent)
// or pg_txn_sink (two-phase) after the checkpoint holding it commits, with
// a checkpoint every --interval-ms. Throughput runs from the first message
// sent to the last write done; the ratio is effects / direct (goal >= 0.8
// for the file sink). Latency: from the effect's issue (its payload carries
// the time) to the end of its sink's apply / COMMIT PREPARED, p50 and p99.
// PostgreSQL runs in a throwaway server (tests/support/pg_server.hpp); its
// part is skipped without the server binaries.

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <map>
#include <memory>
#include <mutex>

#include <caf/scoped_actor.hpp>
#include <fmt/core.h>
#include <libpq-fe.h>

#include "amber/actors/checkpointer.hpp"
#include "amber/runtime/component.hpp"
#include "amber/runtime/file_sink.hpp"
#include "amber/runtime/pg_txn_sink.hpp"
#include "amber/storage/memory_store.hpp"
#include "bench_util.hpp"
#include "support/pg_server.hpp"

using namespace amber;

namespace {

using write_atom = caf::atom_constant<caf::atom("write")>;
using sync_atom = caf::atom_constant<caf::atom("sync")>;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           bench::clock_type::now().time_since_epoch())
    .count();
}

// "<issue time ns> <i> <padding>": 64 bytes, the time first.
std::string payload(int64_t i) {
  auto s = std::to_string(now_ns()) + " " + std::to_string(i) + " ";
  s.resize(63, 'x');
  return s;
}

struct empty_state {
  template <class Archive>
  void serialize(Archive&, unsigned) {}
};

// Where a direct writer writes: set before the node starts.
struct direct_target {
  int fd = -1;
  PGconn* pg = nullptr;
  std::atomic<int64_t> done{0};
};
direct_target g_direct;

class direct_writer : public component<empty_state> {
public:
  static constexpr const char* type_name = "bench.direct";
  static package_ref package() { return {"bench", "1.0.0"}; }
  using component::component;
  caf::behavior make_behavior() override {
    return {[](write_atom, int64_t i) {
      auto line = payload(i) + "\n";
      if (g_direct.fd >= 0) {
        if (::write(g_direct.fd, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
          std::abort();
      } else {
        auto key = std::to_string(i);
        const char* values[2] = {key.c_str(), line.c_str()};
        PGresult* r = PQexecParams(g_direct.pg,
                                   "INSERT INTO direct (key, payload) VALUES ($1, $2::bytea)", 2,
                                   nullptr, values, nullptr, nullptr, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
          std::abort();
        PQclear(r);
      }
      ++g_direct.done;
    },
    [](sync_atom) { return true; }};
  }
};

class effect_writer : public component<empty_state> {
public:
  static constexpr const char* type_name = "bench.effects";
  static package_ref package() { return {"bench", "1.0.0"}; }
  using component::component;
  bool issues_effects() const override { return true; }
  caf::behavior make_behavior() override {
    return {[this](write_atom, int64_t i) { (void)effect("out", payload(i)); },
            [](sync_atom) { return true; }};
  }
};

// Issue-to-done latencies, from the payloads' times.
struct latencies {
  std::mutex mutex;
  std::vector<double> us;
  void record(const std::string& payload, int64_t done) {
    auto issued = std::strtoll(payload.c_str(), nullptr, 10);
    std::lock_guard<std::mutex> guard(mutex);
    us.push_back((done - issued) / 1000.0);
  }
  double percentile(double p) {
    std::lock_guard<std::mutex> guard(mutex);
    if (us.empty())
      return 0;
    std::sort(us.begin(), us.end());
    return us[std::min(us.size() - 1, static_cast<size_t>(p * us.size()))];
  }
};

class timed_file : public idempotent_sink {
public:
  timed_file(std::shared_ptr<file_sink> inner, latencies& lat) : inner_(std::move(inner)), lat_(lat) {}
  const std::string& name() const override { return name_; }
  status apply(const effect& e) override {
    auto st = inner_->apply(e);
    lat_.record(e.payload, now_ns());
    return st;
  }

private:
  std::string name_ = "out";
  std::shared_ptr<file_sink> inner_;
  latencies& lat_;
};

class timed_pg : public transactional_sink {
public:
  timed_pg(std::shared_ptr<pg_txn_sink> inner, latencies& lat) : inner_(std::move(inner)), lat_(lat) {}
  const std::string& name() const override { return name_; }
  status prepare(const std::string& t, const std::vector<effect>& fx) override {
    auto st = inner_->prepare(t, fx);
    auto& ps = payloads_[t];
    for (auto& e : fx)
      ps.push_back(e.payload);
    return st;
  }
  status commit(const std::string& t) override {
    auto st = inner_->commit(t);
    auto done = now_ns();
    for (auto& p : payloads_[t])
      lat_.record(p, done);
    payloads_.erase(t);
    return st;
  }
  status abort(const std::string& t) override { return inner_->abort(t); }
  result<std::vector<std::string>> in_doubt(const std::string& prefix) override {
    return inner_->in_doubt(prefix);
  }

private:
  std::string name_ = "out";
  std::shared_ptr<pg_txn_sink> inner_;
  latencies& lat_;
  std::map<std::string, std::vector<std::string>> payloads_; // Its own thread only.
};

std::shared_ptr<registry> types() {
  auto reg = std::make_shared<registry>();
  reg->add<direct_writer>();
  reg->add<effect_writer>();
  return reg;
}

// Sends `n` messages to the one writer; `done` says when all were written.
// @return messages per second.
double run(const char* type, int64_t n, std::shared_ptr<effect_sink> sink,
           std::chrono::milliseconds interval, const std::function<int64_t(node&)>& done,
           int64_t rate = 0) {
  node_options opts;
  opts.name = "fxbench";
  node nd(types(), opts);
  if (sink && !nd.add_sink(sink).is_ok())
    std::abort();
  graph_def g;
  g.name = "fxbench";
  g.instances.push_back({"w", type, {}});
  if (!nd.install(g).is_ok())
    std::abort();
  std::unique_ptr<checkpointer> cp;
  if (sink) {
    checkpoint_options co;
    co.interval = interval;
    co.on_checkpoint = [&nd](const result<checkpoint_report>& r) {
      // AMBER_BENCH_VERBOSE=1: each checkpoint and the ledger's figures.
      if (std::getenv("AMBER_BENCH_VERBOSE") && r) {
        auto st = nd.effect_stats();
        std::fprintf(stderr, "checkpoint %.1f ms (capture %.1f): issued %llu, performed %llu, "
                     "pending %zu\n", r->duration.count() / 1000.0, r->capture.count() / 1000.0,
                     static_cast<unsigned long long>(st.issued),
                     static_cast<unsigned long long>(st.delivered), st.pending);
      }
    };
    cp = std::make_unique<checkpointer>(nd, std::make_shared<memory_store>(), co);
  }
  auto w = nd.find("w")->handle;
  auto t0 = bench::clock_type::now();
  {
    // A sustained stream, not one burst: batches, each sent once the writer
    // has handled the one before (its answer to sync comes after them).
    // With a rate: that many messages per second, in 10 ms steps.
    const int64_t batch = rate > 0 ? std::max<int64_t>(1, rate / 100) : 5000;
    caf::scoped_actor self{nd.system()};
    for (int64_t i = 0, step = 0; i < n; ++step) {
      for (int64_t k = 0; k < batch && i < n; ++k, ++i)
        self->send(w, write_atom::value, i);
      self->request(w, std::chrono::seconds(60), sync_atom::value)
        .receive([](bool) {}, [](caf::error&) { std::abort(); });
      if (rate > 0)
        std::this_thread::sleep_until(t0 + std::chrono::milliseconds(10 * (step + 1)));
    }
  }
  while (done(nd) < n) {
    if (bench::seconds_since(t0) > 300) {
      std::fprintf(stderr, "bench_effects: %s did not finish within 300 s\n", type);
      std::exit(3);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  auto secs = bench::seconds_since(t0);
  cp.reset();
  return n / secs;
}

} // namespace

int main(int argc, char** argv) {
  int64_t messages = 1000000, pg_messages = 20000, interval_ms = 100, rounds = 3;
  int64_t rate = 50000, pg_rate = 5000;
  bench::options o("bench_effects", "Exactly-once effects vs direct writes (issue 9).");
  o.add("messages", &messages, 1000, 10000000, "messages for the file sink runs");
  o.add("pg-messages", &pg_messages, 100, 1000000, "messages for the PostgreSQL runs");
  o.add("interval-ms", &interval_ms, 1, 10000, "checkpoint interval");
  o.add("rounds", &rounds, 1, 20, "runs of each kind (medians are printed)");
  o.add("rate", &rate, 100, 10000000, "messages/s of the latency run (file sink, 3 s)");
  o.add("pg-rate", &pg_rate, 10, 1000000, "messages/s of the latency run (PostgreSQL, 3 s)");
  o.parse(argc, argv);
  bench::scratch_dir dir("amber-bench-fx");
  auto interval = std::chrono::milliseconds(interval_ms);
  auto delivered = [](node& nd) { return static_cast<int64_t>(nd.effect_stats().delivered); };
  auto direct_done = [](node&) { return g_direct.done.load(); };

  // -- file ---------------------------------------------------------------------
  std::vector<double> direct, fx;
  latencies file_lat;
  for (int64_t r = 0; r < rounds; ++r) {
    auto path = dir.sub("direct-" + std::to_string(r));
    g_direct.fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    g_direct.done = 0;
    direct.push_back(run(direct_writer::type_name, messages, nullptr, interval, direct_done));
    ::close(g_direct.fd);
    g_direct.fd = -1;
    auto fs = file_sink::open("out", dir.sub("effects-" + std::to_string(r)));
    if (!fs)
      return std::fprintf(stderr, "%s\n", fs.error().to_string().c_str()), 1;
    fx.push_back(run(effect_writer::type_name, messages,
                     std::make_shared<timed_file>(*fs, file_lat), interval, delivered));
  }
  // Latency where the pipeline keeps up: a steady rate for 3 s.
  latencies file_paced;
  {
    auto fs = file_sink::open("out", dir.sub("paced"));
    if (!fs)
      return std::fprintf(stderr, "%s\n", fs.error().to_string().c_str()), 1;
    run(effect_writer::type_name, rate * 3, std::make_shared<timed_file>(*fs, file_paced),
        interval, delivered, rate);
  }
  fmt::print("file sink, {} messages, checkpoint every {} ms, median of {}:\n", messages,
             interval_ms, rounds);
  fmt::print("  direct write(2)        {:>10.0f} msg/s\n", bench::median(direct));
  fmt::print("  effects (exactly once) {:>10.0f} msg/s   ratio {:.2f} (goal >= 0.8)\n",
             bench::median(fx), bench::median(fx) / bench::median(direct));
  fmt::print("  issue -> written       p50 {:.1f} ms, p99 {:.1f} ms (saturated: includes the backlog)\n",
             file_lat.percentile(0.50) / 1000, file_lat.percentile(0.99) / 1000);
  fmt::print("  issue -> written       p50 {:.1f} ms, p99 {:.1f} ms at a steady {} msg/s\n",
             file_paced.percentile(0.50) / 1000, file_paced.percentile(0.99) / 1000, rate);

  // -- PostgreSQL ---------------------------------------------------------------
  test::pg_server pg;
  if (!pg.why_not().empty()) {
    fmt::print("PostgreSQL: skipped ({})\n", pg.why_not());
    return 0;
  }
  std::vector<double> pg_direct, pg_fx;
  latencies pg_lat;
  for (int64_t r = 0; r < rounds; ++r) {
    g_direct.pg = PQconnectdb(pg.conninfo().c_str());
    PQsetNoticeProcessor(g_direct.pg, [](void*, const char*) {}, nullptr);
    PQclear(PQexec(g_direct.pg, "DROP TABLE IF EXISTS direct; CREATE TABLE direct "
                                "(key text PRIMARY KEY, payload bytea NOT NULL)"));
    g_direct.done = 0;
    pg_direct.push_back(run(direct_writer::type_name, pg_messages, nullptr, interval, direct_done));
    PQfinish(g_direct.pg);
    g_direct.pg = nullptr;
    auto ps = pg_txn_sink::open("out", pg.conninfo(), "effects_" + std::to_string(r));
    if (!ps)
      return std::fprintf(stderr, "%s\n", ps.error().to_string().c_str()), 1;
    pg_fx.push_back(run(effect_writer::type_name, pg_messages,
                        std::make_shared<timed_pg>(*ps, pg_lat), interval, delivered));
  }
  latencies pg_paced;
  {
    auto ps = pg_txn_sink::open("out", pg.conninfo(), "effects_paced");
    if (!ps)
      return std::fprintf(stderr, "%s\n", ps.error().to_string().c_str()), 1;
    run(effect_writer::type_name, pg_rate * 3, std::make_shared<timed_pg>(*ps, pg_paced),
        interval, delivered, pg_rate);
  }
  fmt::print("PostgreSQL, {} messages, checkpoint every {} ms, median of {}:\n", pg_messages,
             interval_ms, rounds);
  fmt::print("  direct INSERT (autocommit)        {:>10.0f} msg/s\n", bench::median(pg_direct));
  fmt::print("  effects (two-phase, exactly once) {:>10.0f} msg/s   ratio {:.2f}\n",
             bench::median(pg_fx), bench::median(pg_fx) / bench::median(pg_direct));
  fmt::print("  issue -> COMMIT PREPARED          p50 {:.1f} ms, p99 {:.1f} ms (saturated)\n",
             pg_lat.percentile(0.50) / 1000, pg_lat.percentile(0.99) / 1000);
  fmt::print("  issue -> COMMIT PREPARED          p50 {:.1f} ms, p99 {:.1f} ms at a steady {} msg/s\n",
             pg_paced.percentile(0.50) / 1000, pg_paced.percentile(0.99) / 1000, pg_rate);
  return 0;
}
