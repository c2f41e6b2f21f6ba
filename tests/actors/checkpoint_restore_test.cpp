// Checkpoint a running node through the coordinator and its capture actors,
// then restore it into fresh nodes.

#include <cstdio>
#include <map>

#include <unistd.h>
#include <string>

#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <doctest/doctest.h>

#include "amber/actors/checkpointer.hpp"
#include "amber/actors/restore.hpp"
#include "amber/checkpoint/snapshot.hpp"
#include "amber/runtime/atoms.hpp"
#include "amber/runtime/error.hpp"
#include "amber/runtime/message_codec.hpp"
#include "amber/storage/lmdb_store.hpp"
#include "amber/storage/memory_store.hpp"
#include "support/temp_dir.hpp"
#include "support/test_components.hpp"

using namespace amber;

namespace {

constexpr int per_type = 400; // 1,200 components in all

// A node with `per_type` instances of each test type, in one graph, whose
// states differ from instance to instance.
std::unique_ptr<node> make_node(std::shared_ptr<registry> reg, node_config cfg = {}) {
  node_options opts;
  opts.name = "testnode";
  opts.config = cfg;
  auto n = std::make_unique<node>(reg, opts);
  graph_def g;
  g.name = "mixed";
  for (int i = 0; i < per_type; ++i) {
    auto s = std::to_string(i);
    g.instances.push_back({"profile-" + s, "test.profile", {{"tags", std::to_string(i % 9)}}});
    g.instances.push_back({"ledger-" + s, "test.ledger", {{"entries", std::to_string(i % 13)}}});
    g.instances.push_back({"counter-" + s, "test.counter", {{"start", s}, {"label", "c" + s}}});
    g.edges.push_back({"ledger-" + s, "next", "ledger-" + std::to_string((i + 1) % per_type)});
  }
  REQUIRE(n->install(g).is_ok());
  return n;
}

// Sends some traffic that changes state, including component-to-component
// messages, and waits until it has all landed.
void stir(node& n, int rounds) {
  caf::scoped_actor self{n.system()};
  for (int i = 0; i < rounds; ++i) {
    auto s = std::to_string(i % per_type);
    self->send(n.find("profile-" + s)->handle, test::note_atom::value, "note-" + std::to_string(i));
    self->send(n.find("ledger-" + s)->handle, test::forward_atom::value,
               "ledger-" + std::to_string((i * 7) % per_type), "key" + std::to_string(i % 5),
               int64_t{i});
  }
  // A request after the sends to each touched component: when it is
  // answered, the sends before it were processed (mailboxes are FIFO per
  // sender), and wait_quiet covers what they sent on.
  for (int i = 0; i < std::min(rounds, per_type); ++i) {
    auto s = std::to_string(i);
    for (auto name : {"profile-" + s, "ledger-" + s})
      self->request(n.find(name)->handle, std::chrono::seconds(30), snapshot_atom::value)
        .receive([](std::string&) {}, [](caf::error&) { FAIL("no answer"); });
  }
  REQUIRE(n.wait_quiet(std::chrono::seconds(30)));
}

// Every component's encoded state, by name, asked of the live components.
std::map<std::string, std::string> states_of(node& n) {
  caf::scoped_actor self{n.system()};
  std::map<std::string, std::string> out;
  for (auto& c : n.components())
    self->request(c.handle, std::chrono::seconds(10), snapshot_atom::value)
      .receive([&](std::string& bytes) { out[c.name] = std::move(bytes); },
               [&](caf::error&) { FAIL("component " << c.name << " did not answer"); });
  return out;
}

std::vector<digest> parents_of(store& s, const digest& id) {
  auto snap = load_snapshot(s, id);
  REQUIRE(snap.ok());
  return snap->meta.parents;
}

} // namespace

TEST_CASE("a node of 1,200 components of three types restores with equal state") {
  auto reg = test::make_registry();
  auto db = std::make_shared<memory_store>();
  auto n = make_node(reg);
  stir(*n, 2000);
  auto before = states_of(*n);
  REQUIRE(before.size() == 3 * per_type);
  digest id;
  {
    checkpointer cp(*n, db);
    auto r = cp.checkpoint();
    REQUIRE_MESSAGE(r.ok(), r.error().to_string());
    id = *r;
  }
  CHECK(id.to_hex().size() == 64);
  CHECK(n->last_snapshot() == id);
  n.reset();

  auto restored = restore_node(*db, id.to_hex(), reg, {});
  REQUIRE_MESSAGE(restored.ok(), restored.error().to_string());
  auto& m = **restored;
  CHECK(m.incarnation() == 1);
  CHECK(m.name() == "testnode");
  CHECK(m.graphs().size() == 1);
  CHECK(states_of(m) == before);

  SUBCASE("messaging works afterwards, wires included") {
    caf::scoped_actor self{m.system()};
    self->request(m.find("ledger-3")->handle, std::chrono::seconds(10), test::forward_atom::value,
                  std::string("ledger-4"), std::string("fresh"), int64_t{42})
      .receive([] {}, [](caf::error&) { FAIL("no answer"); });
    REQUIRE(m.wait_quiet(std::chrono::seconds(10)));
    int64_t value = 0;
    self->request(m.find("ledger-4")->handle, std::chrono::seconds(5), test::get_atom::value,
                  std::string("fresh"))
      .receive([&](int64_t v) { value = v; }, [&](caf::error&) { FAIL("no answer"); });
    CHECK(value == 42);
  }
  SUBCASE("new components get ids the snapshot never used") {
    auto extra = m.spawn("test.counter", "extra");
    REQUIRE(extra.ok());
    CHECK(extra->id > 3 * per_type);
  }
}

TEST_CASE("restoring twice gives incarnation 2 and a chain of parents") {
  auto reg = test::make_registry();
  auto db = std::make_shared<memory_store>();
  auto n = make_node(reg);
  auto first = checkpointer(*n, db).checkpoint();
  REQUIRE(first.ok());
  CHECK(parents_of(*db, *first).empty());
  n.reset();

  auto n1 = restore_node(*db, "testnode", reg, {});
  REQUIRE(n1.ok());
  CHECK((*n1)->incarnation() == 1);
  stir(**n1, 100);
  auto second = checkpointer(**n1, db).checkpoint();
  REQUIRE(second.ok());
  CHECK(parents_of(*db, *second) == std::vector<digest>{*first});
  n1->reset();

  auto n2 = restore_node(*db, head_ref("testnode"), reg, {});
  REQUIRE(n2.ok());
  CHECK((*n2)->incarnation() == 2);
  auto third = checkpointer(**n2, db).checkpoint();
  REQUIRE(third.ok());
  CHECK(parents_of(*db, *third) == std::vector<digest>{*second});
  auto snap = load_snapshot(*db, *third);
  REQUIRE(snap.ok());
  CHECK(snap->meta.node.incarnation == 2);
  CHECK(snap->world.incarnation == 2);
  CHECK(db->get_ref(head_ref("testnode")).value() == *third);
}

TEST_CASE("an unchanged node checkpointed twice adds no blob but the manifest") {
  auto reg = test::make_registry();
  auto db = std::make_shared<memory_store>();
  auto n = make_node(reg);
  stir(*n, 500);
  checkpointer cp(*n, db);
  auto first = cp.checkpoint();
  REQUIRE(first.ok());
  auto after_first = db->stats().value();
  auto second = cp.checkpoint();
  REQUIRE(second.ok());
  auto after_second = db->stats().value();
  CHECK(*first != *second);
  CHECK(after_second.blobs == after_first.blobs);
  CHECK(after_second.blob_bytes == after_first.blob_bytes);
  CHECK(after_second.manifests == after_first.manifests + 1);

  SUBCASE("and a change to one component adds its blob and the layers that name it") {
    stir(*n, 1);
    auto third = cp.checkpoint();
    REQUIRE(third.ok());
    auto after_third = db->stats().value();
    // profile-0 and ledger-0 changed: two state blobs, the cache index and the
    // trace index (its counters moved).
    CHECK(after_third.blobs == after_second.blobs + 4);
  }
}

TEST_CASE("a checkpoint records the five layers and the node in its manifest") {
  auto reg = test::make_registry();
  auto db = std::make_shared<memory_store>();
  node_config cfg;
  cfg.peer_id = std::string("\x01\x00\x02", 3);
  cfg.max_outbound_queue = 77;
  auto n = make_node(reg, cfg);
  auto id = checkpointer(*n, db).checkpoint();
  REQUIRE(id.ok());
  auto snap = load_snapshot(*db, *id);
  REQUIRE(snap.ok());
  CHECK(snap->meta.node.name == "testnode");
  CHECK(snap->meta.node.peer_id == cfg.peer_id);
  CHECK(snap->meta.node.registry_fingerprint == reg->fingerprint());
  CHECK(snap->meta.node.runtime_version == runtime_version());
  CHECK(snap->meta.created_at_ms > 1600000000000);
  CHECK(snap->model.graphs.size() == 1);
  CHECK(snap->model.types.size() == 3);
  CHECK(snap->cache.components.size() == 3 * per_type);
  CHECK(snap->meta.layer(layer_kind::cache).blobs >= 2);
  CHECK(snap->world.config == cfg);
  CHECK(snap->world.node_name == "testnode");
  CHECK(snap->effects.entries.empty());
  CHECK(snap->trace.messages.empty());
  std::string bytes;
  REQUIRE(db->get_manifest(*id, &bytes).is_ok());
  CHECK(sha256(bytes) == *id);
}

namespace {

int64_t count_of(node& n, const std::string& name) {
  caf::scoped_actor self{n.system()};
  int64_t out = -1;
  self->request(n.find(name)->handle, std::chrono::seconds(5), test::get_atom::value)
    .receive([&](int64_t v) { out = v; }, [&](caf::error&) {});
  return out;
}

} // namespace

TEST_CASE("a message in flight at the cut is recorded and re-delivered by restore") {
  auto reg = test::make_registry();
  auto db = std::make_shared<memory_store>();
  auto n = make_node(reg);
  // counter-1 (count 1) passes one message to itself 200,000 times: after
  // processing spin(m) its count is 1 + 200000 - m + 1 and spin(m - 1) is in
  // flight. So at any cut: count + (the in-flight message's m) = 200001.
  constexpr int64_t spins = 200000;
  result<digest> id = status(errc::internal, "not taken");
  {
    checkpointer cp(*n, db);
    caf::anon_send(n->find("counter-1")->handle, test::spin_atom::value, spins);
    while (n->stats().sent == 0)
      std::this_thread::yield();
    id = cp.checkpoint();
  }
  REQUIRE_MESSAGE(id.ok(), id.error().to_string());
  auto snap = load_snapshot(*db, *id);
  REQUIRE(snap.ok());
  auto counter_id = n->find("counter-1")->id;
  REQUIRE(snap->trace.messages.size() == 1);
  auto& flight = snap->trace.messages.front();
  CHECK(flight.sender == counter_id);
  CHECK(flight.receiver == counter_id);
  auto msg = decode_message(n->system(), flight.payload);
  REQUIRE(msg.ok());
  REQUIRE(msg->match_elements<test::spin_atom, int64_t>());
  int64_t remaining = msg->get_as<int64_t>(1);
  test::counter_state recorded;
  for (auto& c : snap->cache.components) {
    if (c.name != "counter-1")
      continue;
    std::string bytes;
    REQUIRE(db->get_blob(c.state, &bytes).is_ok());
    REQUIRE(decode(bytes, &recorded, "counter state").is_ok());
  }
  CHECK(recorded.count + remaining == 1 + spins);
  CHECK(snap->trace.pre_cut_sent == snap->trace.pre_cut_received + 1);

  // The live node finishes its chain; so does the restored one, from the cut.
  REQUIRE(n->wait_quiet(std::chrono::seconds(60)));
  CHECK(count_of(*n, "counter-1") == spins + 2);
  n.reset();
  auto restored = restore_node(*db, id->to_hex(), reg, {});
  REQUIRE(restored.ok());
  REQUIRE((*restored)->wait_quiet(std::chrono::seconds(60)));
  CHECK(count_of(**restored, "counter-1") == spins + 2);
}

TEST_CASE("a second checkpoint requested while one runs is refused as busy") {
  auto reg = test::make_registry();
  auto db = std::make_shared<memory_store>();
  auto n = make_node(reg);
  checkpointer cp(*n, db);
  caf::scoped_actor self{n->system()};
  auto a = self->request(cp.coordinator(), std::chrono::seconds(30), checkpoint_atom::value);
  auto b = self->request(cp.coordinator(), std::chrono::seconds(30), checkpoint_atom::value);
  std::vector<status> answers;
  for (auto* h : {&a, &b})
    h->receive([&](std::string&) { answers.push_back(status::ok()); },
               [&](caf::error& e) { answers.push_back(from_caf_error(n->system(), e)); });
  REQUIRE(answers.size() == 2);
  CHECK(answers[0].is_ok());
  CHECK(answers[1].code() == errc::busy);
  CHECK(db->stats().value().manifests == 1);
}

// Issue 10: CAF prints a message an actor has no handler for to stdout,
// which breaks a tool's --json output. amber's actors refuse it instead.
TEST_CASE("unexpected messages to amber's actors are refused, never printed") {
  auto reg = test::make_registry();
  auto db = std::make_shared<memory_store>();
  auto n = make_node(reg);
  checkpointer cp(*n, db);
  std::fflush(stdout);
  char path[] = "/tmp/amber-stdout-XXXXXX";
  int capture = ::mkstemp(path);
  REQUIRE(capture >= 0);
  int saved = ::dup(1);
  ::dup2(capture, 1);
  {
    caf::scoped_actor self{n->system()};
    auto who = std::vector<caf::actor>{cp.coordinator(), n->find("counter-1")->handle};
    for (auto& a : who) {
      bool refused = false;
      self->request(a, std::chrono::seconds(5), std::string("hostile"), 42)
        .receive([](const caf::message&) {}, [&](caf::error&) { refused = true; });
      CHECK(refused);
    }
    // Still alive and answering.
    self->request(cp.coordinator(), std::chrono::seconds(30), checkpoint_atom::value)
      .receive([](const std::string&) {}, [](caf::error&) { FAIL("no checkpoint"); });
  }
  std::fflush(stdout);
  ::dup2(saved, 1);
  ::close(saved);
  auto size = ::lseek(capture, 0, SEEK_END);
  ::close(capture);
  ::unlink(path);
  CHECK(size == 0);
}
