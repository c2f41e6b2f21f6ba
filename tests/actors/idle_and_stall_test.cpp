// Issue 11: a periodic checkpoint of an idle node commits nothing, and a
// checkpoint that times out names the components that held it up.

#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <doctest/doctest.h>

#include "amber/actors/checkpointer.hpp"
#include "amber/actors/restore.hpp"
#include "amber/storage/memory_store.hpp"
#include "support/test_components.hpp"

using namespace amber;

namespace {

std::unique_ptr<node> counters(std::shared_ptr<registry> reg) {
  node_options opts;
  opts.name = "idle";
  auto n = std::make_unique<node>(reg, opts);
  REQUIRE(n->install({"g", {{"a", "test.counter", {}}, {"b", "test.counter", {}}}, {}}).is_ok());
  return n;
}

size_t manifests(store& s) {
  auto all = s.list_manifests();
  REQUIRE(all.ok());
  return all->size();
}

void spin(node& n, const std::string& name, int64_t times) {
  {
    caf::scoped_actor self{n.system()};
    auto handle = n.find(name)->handle;
    self->send(handle, test::spin_atom::value, times);
    // Answered after the spin began: from then on wait_quiet sees the rest.
    self->request(handle, std::chrono::seconds(5), test::get_atom::value)
      .receive([](int64_t) {}, [](caf::error&) {});
  }
  REQUIRE(n.wait_quiet(std::chrono::seconds(10)));
}

} // namespace

TEST_CASE("checkpoint_if_changed commits nothing while a node is idle, and commits any change") {
  auto reg = test::make_registry();
  auto db = std::make_shared<memory_store>();
  auto n = counters(reg);
  REQUIRE(n->wait_quiet(std::chrono::seconds(10)));
  checkpointer cp(*n, db);
  auto first = cp.checkpoint_if_changed(); // no parent: always commits
  REQUIRE(first.ok());
  CHECK(!first->unchanged);
  for (int i = 0; i < 3; ++i) {
    auto idle = cp.checkpoint_if_changed();
    REQUIRE(idle.ok());
    CHECK(idle->unchanged);
    CHECK(idle->id == first->id);
  }
  CHECK(manifests(*db) == 1);
  CHECK(n->last_snapshot() == first->id);

  spin(*n, "a", 3); // state changes
  auto changed = cp.checkpoint_if_changed();
  REQUIRE(changed.ok());
  CHECK(!changed->unchanged);
  CHECK(changed->id != first->id);
  CHECK(manifests(*db) == 2);
  auto idle = cp.checkpoint_if_changed();
  REQUIRE(idle.ok());
  CHECK(idle->unchanged);
  CHECK(idle->id == changed->id);
  // A checkpoint asked for as such commits even an unchanged node.
  auto asked = cp.checkpoint();
  REQUIRE(asked.ok());
  CHECK(*asked != changed->id);
  CHECK(manifests(*db) == 3);
}

TEST_CASE("a restored node's first checkpoint_if_changed commits: its incarnation is new") {
  auto reg = test::make_registry();
  auto db = std::make_shared<memory_store>();
  digest id;
  {
    auto n = counters(reg);
    REQUIRE(n->wait_quiet(std::chrono::seconds(10)));
    checkpointer cp(*n, db);
    auto r = cp.checkpoint();
    REQUIRE(r.ok());
    id = *r;
  }
  auto n = restore_node(*db, "idle", reg, {});
  REQUIRE(n.ok());
  REQUIRE((*n)->wait_quiet(std::chrono::seconds(10)));
  checkpointer cp(**n, db);
  auto first = cp.checkpoint_if_changed();
  REQUIRE(first.ok());
  CHECK(!first->unchanged);
  CHECK(first->id != id);
  auto second = cp.checkpoint_if_changed();
  REQUIRE(second.ok());
  CHECK(second->unchanged);
  CHECK(manifests(*db) == 2);
}

TEST_CASE("a checkpoint that times out names the component that never cut") {
  auto reg = test::make_registry();
  auto db = std::make_shared<memory_store>();
  auto n = counters(reg);
  REQUIRE(n->wait_quiet(std::chrono::seconds(10)));
  checkpoint_options opts;
  opts.timeout = std::chrono::milliseconds(300);
  checkpointer cp(*n, db, opts);
  // b is busy in one handler for longer than the checkpoint may take.
  caf::anon_send(n->find("b")->handle, test::sleep_atom::value, int64_t{1500});
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto r = cp.checkpoint();
  REQUIRE(!r.ok());
  CHECK(r.error().code() == errc::timeout);
  auto text = r.error().message();
  CAPTURE(text);
  CHECK(text.find("did not complete within 300 ms") != std::string::npos);
  CHECK(text.find("1 component(s) never cut") != std::string::npos);
  CHECK(text.find("'b'") != std::string::npos);
  CHECK(text.find("'a'") == std::string::npos);
  CHECK(manifests(*db) == 0);
  // Once b is free, checkpoints work again. (The first may still abort:
  // b's late cut of the timed-out epoch leaves it clean with bytes the
  // cache capture dropped — reported in issue 11's note; the abort makes
  // every component serialize in full, so the next one commits.)
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  REQUIRE(n->wait_quiet(std::chrono::seconds(10)));
  auto after = cp.checkpoint();
  if (!after)
    after = cp.checkpoint();
  CHECK_MESSAGE(after.ok(), (after ? std::string() : after.error().to_string()));
}
