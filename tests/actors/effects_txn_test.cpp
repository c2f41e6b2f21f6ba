// Issue 9: the two-phase protocol of transactional sinks (prepared during
// the checkpoint, committed after it, recovered by a restore), and sinks
// that fail or hang. The sink here keeps its transactions in memory, so a
// test can fail or hold any call; effects_pg_test runs the same protocol
// against a real PostgreSQL server.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include <doctest/doctest.h>

#include "amber/checkpoint/serial.hpp"
#include "amber/runtime/effect_ledger.hpp"
#include "amber/storage/memory_store.hpp"
#include "support/effects_fixture.hpp"
#include "support/mem_txn_sink.hpp"

using namespace amber;
using namespace test;

namespace {

std::shared_ptr<mem_txn_sink> make_sink() {
  return std::make_shared<mem_txn_sink>("db");
}

std::unique_ptr<node> make_node(std::shared_ptr<effect_sink> sink) {
  return make_fx_node({std::move(sink)}, {{"sinks", "db"}, {"prefix", "row"}});
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

std::vector<std::string> rows(int64_t from, int64_t to) {
  return sorted(items("row", from, to));
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// An idempotent sink that keeps rows in memory and can hold its calls.
class gated_sink : public idempotent_sink {
public:
  const std::string& name() const override { return name_; }
  status apply(const effect& e) override {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait_for(lock, std::chrono::seconds(20), [this] { return !closed_; });
    if (keys_.insert(e.key).second)
      rows_.push_back(e.payload);
    return status::ok();
  }
  void close() {
    std::lock_guard<std::mutex> guard(mutex_);
    closed_ = true;
  }
  void open() {
    {
      std::lock_guard<std::mutex> guard(mutex_);
      closed_ = false;
    }
    cv_.notify_all();
  }
  std::vector<std::string> rows() {
    std::lock_guard<std::mutex> guard(mutex_);
    return rows_;
  }

private:
  std::string name_ = "db";
  std::mutex mutex_;
  std::condition_variable cv_;
  bool closed_ = false;
  std::set<std::string> keys_;
  std::vector<std::string> rows_;
};

} // namespace

TEST_CASE("a transactional sink: a cut's effects are prepared before it commits, committed after") {
  auto sink = make_sink();
  auto db = std::make_shared<memory_store>();
  auto n = make_node(sink);
  feed(*n, 1, 3);
  auto s1 = checkpoint(*n, db);
  CHECK(sorted(sink->rows()) == rows(1, 3));
  CHECK(sink->prepared_ids().empty());
  auto snap = load_snapshot(*db, s1);
  REQUIRE(snap.ok());
  REQUIRE(snap->effects.entries.size() == 3);
  for (auto& e : snap->effects.entries) {
    CHECK(e.state == effect_record::prepared);
    CHECK(e.txn.rfind("amber/fx/db/0.", 0) == 0); // Node, sink, incarnation.
  }
  auto s2 = checkpoint(*n, db);
  CHECK(ledger_of(*db, s2)["row-2"] == effect_record::committed);
  CHECK(ledger_of(*db, checkpoint(*n, db)).empty());
  CHECK(sorted(sink->rows()) == rows(1, 3));
  CHECK(n->effect_stats().delivered == 3);
  CHECK(n->effect_stats().prepared_txns == 0);
  CHECK(sink->prepares == 1); // Cuts without effects prepare nothing.
}

TEST_CASE("a prepare that fails aborts the checkpoint with the sink's error") {
  auto sink = make_sink();
  auto db = std::make_shared<memory_store>();
  auto n = make_node(sink);
  feed(*n, 1, 3);
  sink->fail_prepare = true;
  {
    checkpointer cp(*n, db);
    auto r = cp.checkpoint();
    REQUIRE(!r.ok());
    auto why = r.error().to_string();
    MESSAGE(why);
    CHECK(contains(why, "preparing transaction amber/fx/db/0."));
    CHECK(contains(why, "'db'"));
    CHECK(contains(why, "prepare refused"));
  }
  CHECK(!db->get_ref(head_ref("fx")).ok()); // Nothing committed.
  CHECK(sink->rows().empty());
  sink->fail_prepare = false;
  checkpoint(*n, db); // The next checkpoint carries them.
  CHECK(sorted(sink->rows()) == rows(1, 3));
  CHECK(sink->prepared_ids().empty());
}

TEST_CASE("a prepare that hangs times out naming the sink; the late transaction is aborted") {
  auto sink = make_sink();
  auto db = std::make_shared<memory_store>();
  auto n = make_node(sink);
  feed(*n, 1, 3);
  sink->close_gate();
  {
    checkpoint_options opts;
    opts.timeout = std::chrono::milliseconds(300);
    checkpointer cp(*n, db, opts);
    auto r = cp.checkpoint();
    REQUIRE(!r.ok());
    CHECK(r.error().code() == errc::timeout);
    auto why = r.error().to_string();
    MESSAGE(why);
    CHECK(contains(why, "effect sink 'db' has been in prepare of transaction amber/fx/db/0."));
  }
  CHECK(!db->get_ref(head_ref("fx")).ok());
  sink->open_gate();
  CHECK(n->deliver_effects().is_ok());
  CHECK(sink->aborted().size() == 1); // Prepared late, then aborted.
  CHECK(sink->prepared_ids().empty());
  CHECK(sink->rows().empty());
  checkpoint(*n, db);
  CHECK(sorted(sink->rows()) == rows(1, 3));
}

TEST_CASE("a commit that fails stays prepared and is reported; a restore commits it and aborts "
          "a lost future's transactions") {
  auto sink = make_sink();
  auto db = std::make_shared<memory_store>();
  digest s1;
  {
    auto n = make_node(sink);
    feed(*n, 1, 3);
    sink->fail_commit = true;
    s1 = checkpoint(*n, db);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto stats = n->effect_stats();
    CHECK(stats.prepared_txns == 1);
    CHECK(stats.oldest_prepared >= std::chrono::milliseconds(20));
    CHECK(contains(stats.last_error.to_string(), "still prepared"));
    CHECK(sink->rows().empty());
    // A transaction of this node's lost future (prepared by a run whose
    // snapshot never committed), and one of another node.
    sink->add_prepared("amber/fx/db/0.99", {{"db", "writer/m9.9/0", 2, "row-lost"}});
    sink->add_prepared("amber/other/db/0.5", {{"db", "k", 2, "row-other"}});
  } // The crash: the prepared transaction is left in the sink.
  sink->fail_commit = false;
  auto n = restore(*db, s1, {sink});
  CHECK(sorted(sink->rows()) == rows(1, 3));
  CHECK(sink->aborted() == std::vector<std::string>{"amber/fx/db/0.99"});
  CHECK(sink->prepared_ids() == std::vector<std::string>{"amber/other/db/0.5"});
  CHECK(n->effect_stats().prepared_txns == 0);
}

TEST_CASE("a transaction aborted behind the runtime's back is prepared again") {
  auto sink = make_sink();
  auto db = std::make_shared<memory_store>();
  auto n = make_node(sink);
  feed(*n, 1, 3);
  sink->fail_commit = true;
  checkpoint(*n, db);
  auto txns = sink->prepared_ids();
  REQUIRE(txns.size() == 1);
  sink->drop_prepared(txns[0]);
  sink->fail_commit = false;
  checkpoint(*n, db); // Its commit finds nothing: the effects go into the next cut.
  CHECK(contains(n->effect_stats().last_error.to_string(), "prepared again"));
  CHECK(sink->rows().empty());
  checkpoint(*n, db);
  CHECK(sorted(sink->rows()) == rows(1, 3));
}

TEST_CASE("a restore to an older snapshot: effects after it are neither lost nor repeated") {
  auto sink = make_sink();
  auto db = std::make_shared<memory_store>();
  digest s1;
  {
    auto n = make_node(sink);
    feed(*n, 1, 10);
    s1 = checkpoint(*n, db);
    feed(*n, 11, 20);
    checkpoint(*n, db);
    feed(*n, 21, 22); // Never committed.
  }
  CHECK(sorted(sink->rows()) == rows(1, 20));
  auto n = restore(*db, s1, {sink});
  feed(*n, 11, 25); // The same inputs again: the same keys.
  checkpoint(*n, db);
  CHECK(sorted(sink->rows()) == rows(1, 25));
  CHECK(sink->rows().size() == 25);
}

TEST_CASE("a hanging idempotent sink holds up only its own effects, each performed once") {
  auto sink = std::make_shared<gated_sink>();
  auto db = std::make_shared<memory_store>();
  auto n = make_node(sink);
  feed(*n, 1, 3);
  sink->close();
  checkpointer cp(*n, db); // Not the fixture's checkpoint(): that waits for the sinks.
  REQUIRE(cp.checkpoint().ok()); // Commits; the sink's thread hangs in the first apply.
  auto st = n->deliver_effects(std::chrono::milliseconds(100));
  CHECK(st.code() == errc::timeout);
  CHECK(contains(st.to_string(), "effect sink 'db' has been in apply of effect writer/m"));
  feed(*n, 4, 5);
  REQUIRE(cp.checkpoint().ok()); // Checkpoints go on meanwhile.
  CHECK(n->effect_stats().pending == 5);
  sink->open();
  CHECK(n->deliver_effects().is_ok());
  checkpoint(*n, db);
  CHECK(sink->rows() == items("row", 1, 5)); // In issue order, once each.
  CHECK(n->effect_stats().pending == 0);
}

// -- the ledger on its own: races with the sinks' threads -------------------------------

namespace {

// Commits take a while: one lands while a cut is still listing.
class slow_commit_sink : public mem_txn_sink {
public:
  using mem_txn_sink::mem_txn_sink;
  status commit(const std::string& txn) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return mem_txn_sink::commit(txn);
  }
};

// A sink that throws from every call (user code may).
class throwing_sink : public transactional_sink {
public:
  const std::string& name() const override { return name_; }
  status prepare(const std::string&, const std::vector<effect>&) override {
    throw std::runtime_error("prepare blew up");
  }
  status commit(const std::string&) override { throw std::runtime_error("commit blew up"); }
  status abort(const std::string&) override { throw std::runtime_error("abort blew up"); }
  result<std::vector<std::string>> in_doubt(const std::string&) override {
    throw std::runtime_error("in_doubt blew up");
  }

private:
  std::string name_ = "db";
};

status wait_prepared(effect_ledger& l, uint64_t epoch) {
  auto done = std::make_shared<std::promise<status>>();
  l.begin_cut(epoch, [done](status st) { done->set_value(st); });
  auto f = done->get_future();
  if (f.wait_for(std::chrono::seconds(10)) != std::future_status::ready)
    return status(errc::timeout, "no answer from the prepare");
  return f.get();
}

effect_segment segment_of(const effect_ledger::cut_listing& l) {
  effect_segment seg;
  REQUIRE(l.segment);
  REQUIRE(decode(l.segment->bytes, &seg, "segment").is_ok());
  return seg;
}

} // namespace

TEST_CASE("a transaction found aborted while a cut lists is never listed as settled without its "
          "effects") {
  auto sink = std::make_shared<slow_commit_sink>("db");
  effect_ledger l;
  l.set_identity("fx", 1);
  REQUIRE(l.add_sink(sink).is_ok());
  l.issue(0, {"db", "writer/a/0", 2, "row-a"});
  auto first = l.begin_cut(1, nullptr);
  REQUIRE(segment_of(first).entries.size() == 1);
  auto old_id = segment_of(first).entries[0].id;
  REQUIRE(l.deliver(std::chrono::seconds(10)).is_ok()); // Prepared.
  sink->drop_prepared("amber/fx/db/1.1"); // By an administrator: its commit finds nothing.
  // Many effects for a sink the node lacks: cut 2 takes a while to encode them.
  for (int i = 0; i < 200000; ++i)
    l.issue(1, {"elsewhere", "writer/b" + std::to_string(i) + "/0", 2, std::string(64, 'x')});
  l.committed(1); // The commit runs on the sink's thread while cut 2 lists.
  auto second = l.begin_cut(2, nullptr);
  bool relisted = false;
  for (auto& e : segment_of(second).entries)
    relisted = relisted || e.key == "writer/a/0";
  // Either the old entry is still pending in the old segment, or it is
  // settled and the effect is listed anew: a restore of cut 2 must find it.
  CHECK((!second.layer.is_settled(old_id) || relisted));
  REQUIRE(l.deliver(std::chrono::seconds(10)).is_ok());
  l.abort_cut(2);
  l.shutdown();
}

TEST_CASE("a sink that throws fails its call with the exception's text; its thread goes on") {
  effect_ledger l;
  l.set_identity("fx", 1);
  REQUIRE(l.add_sink(std::make_shared<throwing_sink>()).is_ok());
  l.issue(0, {"db", "writer/a/0", 2, "row-a"});
  auto st = wait_prepared(l, 1);
  CHECK(!st.is_ok());
  CHECK(contains(st.to_string(), "prepare blew up"));
  l.abort_cut(1);
  effects_layer none;
  auto r = l.restore(none, std::chrono::seconds(10));
  CHECK(!r.is_ok());
  CHECK(contains(r.to_string(), "in_doubt blew up"));
  CHECK(!wait_prepared(l, 2).is_ok()); // The thread still answers.
}

TEST_CASE("a ledger shut down while its sink hangs can be shut down again and destroyed") {
  auto sink = make_sink();
  sink->close_gate();
  {
    effect_ledger l;
    REQUIRE(l.add_sink(sink).is_ok());
    l.issue(0, {"db", "writer/a/0", 2, "row-a"});
    l.begin_cut(1, [](status) {});
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (l.busy().empty() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    REQUIRE(!l.busy().empty()); // In the prepare.
    l.shutdown(std::chrono::milliseconds(20)); // Leaves the thread to finish on its own.
    auto start = std::chrono::steady_clock::now();
    l.shutdown(std::chrono::milliseconds(20));
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
  } // ~effect_ledger shuts down once more.
  sink->open_gate();
}
