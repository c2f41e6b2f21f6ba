// Issue 7, bug 4: two live writers of one node's head ref. Two restores of
// the same node, or two fresh nodes of the same name, checkpoint into one
// store: the first to commit keeps the head, the other gets errc::conflict
// and commits nothing, and gc afterwards leaves the surviving lineage
// loadable. Runs on the real scheduler: no interleaving is needed, only the
// order of the checkpoints, which the test chooses.
//
// On 974197b each checkpoint read the head just before it committed and
// used that as the expected value, so the second writer always "won": the
// head jumped between the two lineages on every checkpoint. Passes now
// because a node claims its head once (restore_node, or the first
// checkpointer of a fresh node) and every commit compares against the claim
// (node::expected_head), which only the node's own commits move.

#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <doctest/doctest.h>

#include "amber/actors/checkpointer.hpp"
#include "amber/actors/restore.hpp"
#include "amber/checkpoint/gc.hpp"
#include "amber/checkpoint/snapshot.hpp"
#include "amber/storage/memory_store.hpp"
#include "support/protocol_components.hpp"

using namespace amber;
using namespace proto;
using namespace std::chrono_literals;

namespace {

// Sends "p" a take of `n` and returns its balance after it.
int64_t deposit(node& n, int64_t amount) {
  caf::scoped_actor self{n.system()};
  auto p = n.find("p")->handle;
  self->send(p, take_atom::value, amount);
  int64_t out = -1;
  self->request(p, 10s, test::get_atom::value)
    .receive([&](int64_t v) { out = v; }, [](caf::error&) {});
  return out;
}

std::unique_ptr<node> fresh_node(const std::string& name) {
  node_options opts;
  opts.name = name;
  auto n = std::make_unique<node>(make_registry(), opts);
  REQUIRE(n->spawn("test.purse", "p", {{"balance", "100"}}).ok());
  return n;
}

std::unique_ptr<node> restore(store& db, const std::string& spec) {
  auto r = restore_node(db, spec, make_registry(), {});
  REQUIRE_MESSAGE(r.ok(), r.error().to_string());
  return std::move(*r);
}

digest head_of(store& db, const std::string& name) {
  auto h = db.get_ref(head_ref(name));
  REQUIRE_MESSAGE(h.ok(), h.error().to_string());
  return *h;
}

void check_conflict(const result<digest>& r, const std::string& node_name) {
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == errc::conflict);
  auto& why = r.error().message();
  CHECK_MESSAGE(why.find("node '" + node_name + "'") != std::string::npos, why);
  CHECK_MESSAGE(why.find("moved by another writer") != std::string::npos, why);
  CHECK_MESSAGE(why.find("Nothing was committed") != std::string::npos, why);
}

// gc keeping one snapshot per node; then the head must load and restore.
void collect_and_check(store& db, const std::string& name, int64_t balance) {
  auto before = db.stats().value();
  auto gc = collect_garbage(db, {1, false});
  REQUIRE_MESSAGE(gc.ok(), gc.error().to_string());
  // A refused commit writes none of its blobs (one transaction), so gc may
  // find nothing to free; it must never add or break anything.
  CHECK(db.stats().value().blobs <= before.blobs);
  auto head = head_of(db, name);
  auto snap = load_snapshot(db, head);
  REQUIRE_MESSAGE(snap.ok(), snap.error().to_string());
  auto m = restore(db, name);
  CHECK(deposit(*m, 0) == balance);
}

} // namespace

TEST_CASE("two live restores of one node: the second writer gets conflict, the head stays") {
  auto db = std::make_shared<memory_store>();
  {
    auto n = fresh_node("twin");
    REQUIRE(checkpointer(*n, db).checkpoint().ok());
  }
  auto base = head_of(*db, "twin");
  auto a = restore(*db, "twin");
  auto b = restore(*db, "twin");
  CHECK(deposit(*a, 1) == 101);
  CHECK(deposit(*b, 2) == 102);
  checkpointer ca(*a, db);
  checkpointer cb(*b, db);

  auto first = ca.checkpoint();
  REQUIRE_MESSAGE(first.ok(), first.error().to_string());
  CHECK(head_of(*db, "twin") == *first);
  check_conflict(cb.checkpoint(), "twin");
  CHECK(head_of(*db, "twin") == *first);

  // The first writer goes on along its lineage; the second stays refused.
  CHECK(deposit(*a, 1) == 102);
  auto second = ca.checkpoint();
  REQUIRE_MESSAGE(second.ok(), second.error().to_string());
  CHECK(load_snapshot(*db, *second)->meta.parents == std::vector<digest>{*first});
  CHECK(load_snapshot(*db, *first)->meta.parents == std::vector<digest>{base});
  check_conflict(cb.checkpoint(), "twin");
  CHECK(head_of(*db, "twin") == *second);

  collect_and_check(*db, "twin", 102);
}

TEST_CASE("two fresh nodes of one name started together: the second writer gets conflict") {
  auto db = std::make_shared<memory_store>();
  auto a = fresh_node("fresh");
  auto b = fresh_node("fresh");
  checkpointer ca(*a, db);
  checkpointer cb(*b, db);
  CHECK(deposit(*a, 1) == 101);
  CHECK(deposit(*b, 2) == 102);
  auto first = ca.checkpoint();
  REQUIRE_MESSAGE(first.ok(), first.error().to_string());
  check_conflict(cb.checkpoint(), "fresh");
  CHECK(head_of(*db, "fresh") == *first);
  auto second = ca.checkpoint();
  REQUIRE(second.ok());
  check_conflict(cb.checkpoint(), "fresh");
  collect_and_check(*db, "fresh", 101);
}

// The second fresh node starts after the first one committed. By design
// (`amber run` warns that "this run starts afresh and its checkpoints will
// move the head"), a fresh node claims the head as it finds it when its
// checkpointer starts: its commits move the head to a new lineage with no
// parent, and the older node, still live, becomes the refused writer.
TEST_CASE("a fresh node started over an existing head starts afresh; the older writer is refused") {
  auto db = std::make_shared<memory_store>();
  auto a = fresh_node("late");
  checkpointer ca(*a, db);
  auto first = ca.checkpoint();
  REQUIRE(first.ok());
  auto b = fresh_node("late");
  checkpointer cb(*b, db);
  CHECK(deposit(*b, 5) == 105);
  auto afresh = cb.checkpoint();
  REQUIRE_MESSAGE(afresh.ok(), afresh.error().to_string());
  CHECK(load_snapshot(*db, *afresh)->meta.parents.empty());
  CHECK(head_of(*db, "late") == *afresh);
  check_conflict(ca.checkpoint(), "late");
  CHECK(head_of(*db, "late") == *afresh);
  collect_and_check(*db, "late", 105);
}
