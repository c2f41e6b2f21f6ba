// Issue 9: effects are performed once their snapshot commits, exactly once
// across crashes, restores (to the newest or an older snapshot) and sink
// failures.

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <caf/scoped_actor.hpp>
#include <doctest/doctest.h>

#include "amber/actors/checkpointer.hpp"
#include "amber/actors/restore.hpp"
#include "amber/checkpoint/snapshot.hpp"
#include "amber/runtime/atoms.hpp"
#include "amber/runtime/component.hpp"
#include "amber/runtime/file_sink.hpp"
#include "amber/storage/memory_store.hpp"
#include "support/effects_fixture.hpp"
#include "support/temp_dir.hpp"

using namespace amber;

namespace {

using namespace test;

// A sink that fails while `failing` is set, else writes to `inner`.
class flaky_sink : public idempotent_sink {
public:
  explicit flaky_sink(std::shared_ptr<idempotent_sink> inner) : inner_(std::move(inner)) {}
  const std::string& name() const override { return inner_->name(); }
  status apply(const effect& e) override {
    ++calls;
    if (failing)
      return status::io_error("disk on fire");
    return inner_->apply(e);
  }
  std::atomic<bool> failing{false}; // Set by the test, read on the sink's thread.
  std::atomic<int> calls{0};

private:
  std::shared_ptr<idempotent_sink> inner_;
};

// A fresh directory's file for the sink.
std::string lines_path(const test::temp_dir& dir) {
  std::filesystem::create_directories(dir.path());
  return (dir.path() / "lines.txt").string();
}

std::shared_ptr<file_sink> open_sink(const std::string& path) {
  auto s = file_sink::open("lines", path);
  REQUIRE_MESSAGE(s.ok(), s.error().to_string());
  return *s;
}

std::vector<std::string> expected(int64_t from, int64_t to) {
  return items("line", from, to);
}

std::unique_ptr<node> make_node(std::shared_ptr<effect_sink> sink) {
  auto n = make_fx_node({sink});
  CHECK(n->add_sink(sink).code() == errc::invalid_argument); // A taken name.
  return n;
}

} // namespace

TEST_CASE("effects are performed once their snapshot commits, and listed in its ledger") {
  test::temp_dir dir;
  auto path = lines_path(dir);
  auto db = std::make_shared<memory_store>();
  auto n = make_node(open_sink(path));
  feed(*n, 1, 3);
  CHECK(lines_of(path).empty()); // Nothing before a snapshot holds it.
  auto s1 = checkpoint(*n, db);
  CHECK(lines_of(path) == expected(1, 3));
  auto l1 = ledger_of(*db, s1);
  CHECK(l1.size() == 3);
  CHECK(l1["line-1"] == effect_record::pending);
  auto s2 = checkpoint(*n, db);
  auto l2 = ledger_of(*db, s2);
  CHECK(l2.size() == 3);
  CHECK(l2["line-3"] == effect_record::committed);
  auto s3 = checkpoint(*n, db);
  CHECK(ledger_of(*db, s3).empty()); // Committed ones are listed once.
  auto snap = load_snapshot(*db, s1);
  REQUIRE(snap.ok());
  CHECK(snap->effects.entries[0].sink == "lines");
  CHECK(snap->effects.entries[0].key.rfind("writer/m", 0) == 0);
  CHECK(n->effect_stats().delivered == 3);
  CHECK(n->effect_stats().pending == 0);

  SUBCASE("keys: ordinals within a handler; an unknown sink is refused") {
    caf::scoped_actor self{n->system()};
    self->request(n->find("writer")->handle, std::chrono::seconds(10), fx::direct_atom::value,
                  int64_t{7})
      .receive([](std::string& why) { CHECK(why.find("nowhere") != std::string::npos); },
               [](caf::error&) { FAIL("no answer"); });
    auto s4 = checkpoint(*n, db);
    auto got = load_snapshot(*db, s4);
    REQUIRE(got.ok());
    REQUIRE(got->effects.entries.size() == 2);
    CHECK(got->effects.entries[0].key == "writer/x1/0");
    CHECK(got->effects.entries[1].key == "writer/x1/1");
  }
}

TEST_CASE("a restore and a replay of the same inputs write every line exactly once") {
  test::temp_dir dir;
  auto path = lines_path(dir);
  auto db = std::make_shared<memory_store>();
  digest s1, s2;
  {
    auto n = make_node(open_sink(path));
    feed(*n, 1, 10);
    s1 = checkpoint(*n, db);
    feed(*n, 11, 20);
    s2 = checkpoint(*n, db); // Performs 11..20 after committing them as pending.
    feed(*n, 21, 25);        // Issued, never committed: the "crash" loses them.
  }
  CHECK(lines_of(path) == expected(1, 20));
  auto l2 = ledger_of(*db, s2);
  CHECK(l2["line-10"] == effect_record::committed);
  CHECK(l2["line-11"] == effect_record::pending);

  SUBCASE("from the newest snapshot") {
    // Its pending effects (11..20) are performed again: the sink drops them.
    auto n = restore(*db, s2, {open_sink(path)});
    CHECK(lines_of(path) == expected(1, 20));
    feed(*n, 21, 25);
    checkpoint(*n, db);
    CHECK(lines_of(path) == expected(1, 25));
  }
  SUBCASE("from an older snapshot: nothing lost or repeated once the run catches up") {
    auto n = restore(*db, s1, {open_sink(path)});
    CHECK(lines_of(path) == expected(1, 20));
    feed(*n, 11, 25); // The same inputs again: the same keys.
    checkpoint(*n, db);
    CHECK(lines_of(path) == expected(1, 25));
    feed(*n, 26, 27);
    checkpoint(*n, db);
    CHECK(lines_of(path) == expected(1, 27));
  }
}

TEST_CASE("a failing sink leaves its effects pending with a clear error, then retries") {
  test::temp_dir dir;
  auto path = lines_path(dir);
  auto db = std::make_shared<memory_store>();
  auto flaky = std::make_shared<flaky_sink>(open_sink(path));
  flaky->failing = true;
  auto n = make_node(flaky);
  feed(*n, 1, 3);
  auto s1 = checkpoint(*n, db); // The snapshot commits; the effects wait.
  CHECK(lines_of(path).empty());
  auto stats = n->effect_stats();
  CHECK(stats.failures >= 1);
  CHECK(flaky->calls == static_cast<int>(stats.failures)); // Later effects wait behind the first.
  CHECK(stats.pending == 3);
  auto why = stats.last_error.to_string();
  CHECK(why.find("disk on fire") != std::string::npos);
  CHECK(why.find("'lines'") != std::string::npos);
  CHECK(why.find("writer/m") != std::string::npos);
  CHECK(why.find("still pending") != std::string::npos);
  auto s2 = checkpoint(*n, db);
  CHECK(ledger_of(*db, s2)["line-1"] == effect_record::pending);

  SUBCASE("retried after the next checkpoint") {
    flaky->failing = false;
    feed(*n, 4, 4);
    auto s3 = checkpoint(*n, db);
    CHECK(lines_of(path) == expected(1, 4));
    CHECK(ledger_of(*db, s3)["line-4"] == effect_record::pending);
    auto s4 = checkpoint(*n, db);
    CHECK(ledger_of(*db, s4)["line-1"] == effect_record::committed);
    CHECK(n->effect_stats().pending == 0);
  }
  SUBCASE("retried by deliver_effects") {
    flaky->failing = false;
    CHECK(n->deliver_effects().is_ok());
    CHECK(lines_of(path) == expected(1, 3));
  }
  SUBCASE("retried by a restore of a snapshot that lists them pending") {
    n.reset();
    auto m = restore(*db, s1, {open_sink(path)});
    CHECK(lines_of(path) == expected(1, 3));
    CHECK(m->effect_stats().pending == 0);
  }
}

TEST_CASE("the file sink reads its keys back and cuts a torn last line") {
  test::temp_dir dir;
  auto path = lines_path(dir);
  {
    std::ofstream out(path);
    out << "k1\tone\nk2\ttwo\nk3\ttor";
  }
  auto sink = open_sink(path);
  CHECK(sink->keys() == 2);
  CHECK(sink->apply({"lines", "k2", 0, "again"}).is_ok());
  CHECK(sink->apply({"lines", "k3", 0, "three\nlines"}).is_ok());
  CHECK(sink->apply({"lines", "k3", 0, "three\nlines"}).is_ok());
  CHECK(lines_of(path) == std::vector<std::string>{"one", "two", "three\\nlines"});
}
