// Restoring snapshots across versions of a component type: a state version
// migrated up, a newer state refused, and the package version policy. Each
// registry of tests/support/evolving_components.hpp stands for one binary.

#include <string>

#include <caf/scoped_actor.hpp>
#include <doctest/doctest.h>

#include "amber/actors/checkpointer.hpp"
#include "amber/actors/restore.hpp"
#include "amber/checkpoint/serial.hpp"
#include "amber/checkpoint/snapshot.hpp"
#include "amber/runtime/atoms.hpp"
#include "amber/runtime/type_check.hpp"
#include "amber/storage/lmdb_store.hpp"
#include "support/evolving_components.hpp"
#include "support/temp_dir.hpp"

using namespace amber;

namespace {

struct fixture {
  test::temp_dir dir{"amber-state-evolution"};
  std::shared_ptr<lmdb_store> db;

  fixture() {
    lmdb_options opts;
    opts.create_if_missing = true;
    opts.no_sync = true;
    db = lmdb_store::open(dir.str(), opts).value();
  }

  // A node of `binary` with kv0 (3 keys) and kv1 (5 keys), one put, and a
  // checkpoint of it.
  digest snapshot_of(std::shared_ptr<registry> binary) {
    node_options nopts;
    nopts.name = "kv";
    node n(std::move(binary), nopts);
    REQUIRE(n.install(evolve::kv_graph()).is_ok());
    caf::scoped_actor self{n.system()};
    self->send(n.find("kv1")->handle, evolve::put_atom::value, std::string("extra"), int64_t{7});
    n.wait_quiet(std::chrono::seconds(10));
    auto id = checkpointer(n, db).checkpoint();
    REQUIRE(id.ok());
    return *id;
  }

  result<std::unique_ptr<node>> restore(const digest& id, std::shared_ptr<registry> binary) {
    return restore_node(*db, id.to_hex(), std::move(binary), restore_options{});
  }

  status refused(const digest& id, std::shared_ptr<registry> binary) {
    auto r = restore(id, std::move(binary));
    return r.ok() ? status::ok() : r.error();
  }
};

template <class State>
State state_of(node& n, const std::string& name) {
  caf::scoped_actor self{n.system()};
  std::string bytes;
  self->request(n.find(name)->handle, std::chrono::seconds(10), snapshot_atom::value)
    .receive([&](std::string& b) { bytes = std::move(b); },
             [&](caf::error&) { FAIL("component " << name << " did not answer"); });
  State s;
  REQUIRE(decode(bytes, &s, name).is_ok());
  return s;
}

bool names(const status& st, std::initializer_list<const char*> parts) {
  for (auto p : parts)
    if (st.message().find(p) == std::string::npos)
      return false;
  return true;
}

} // namespace

TEST_CASE_FIXTURE(fixture, "a v1 snapshot restores in a v2 binary through its migration") {
  auto id = snapshot_of(evolve::binary_v1());
  auto restored = restore(id, evolve::binary_v2());
  REQUIRE_MESSAGE(restored.ok(), restored.error().message());
  auto& n = **restored;
  auto kv0 = state_of<evolve::v2::kv_state>(n, "kv0");
  auto kv1 = state_of<evolve::v2::kv_state>(n, "kv1");
  // The values carried over, and the new field filled in by the migration.
  CHECK(kv0.entries == std::map<std::string, int64_t>{{"k0", 0}, {"k1", 10}, {"k2", 20}});
  CHECK(kv0.total == 30);
  CHECK(kv1.entries.size() == 6);
  CHECK(kv1.entries.at("extra") == 7);
  CHECK(kv1.total == 0 + 10 + 20 + 30 + 40 + 7);
  // The v2 code runs on the migrated state.
  caf::scoped_actor self{n.system()};
  self->send(n.find("kv0")->handle, evolve::put_atom::value, std::string("k1"), int64_t{100});
  n.wait_quiet(std::chrono::seconds(10));
  CHECK(state_of<evolve::v2::kv_state>(n, "kv0").total == 120);
  // Its next snapshot is written at state version 2, and restores as is.
  auto next = checkpointer(n, db).checkpoint();
  REQUIRE(next.ok());
  auto snap = load_snapshot(*db, *next).value();
  for (auto& c : snap.cache.components) {
    CHECK(c.state_version == 2);
    CHECK(c.state_class_version == 1);
  }
  REQUIRE(snap.model.types.size() == 1);
  CHECK(snap.model.types[0].state_version == 2);
  CHECK(snap.model.types[0].package.version == "1.1.0");
  auto again = restore(*next, evolve::binary_v2(/*migrate=*/false));
  REQUIRE_MESSAGE(again.ok(), again.error().message());
  CHECK(state_of<evolve::v2::kv_state>(**again, "kv0").total == 120);
}

TEST_CASE_FIXTURE(fixture, "the v1 snapshot records state version 1") {
  auto snap = load_snapshot(*db, snapshot_of(evolve::binary_v1())).value();
  REQUIRE(snap.cache.components.size() == 2);
  for (auto& c : snap.cache.components)
    CHECK(c.state_version == 1);
}

TEST_CASE_FIXTURE(fixture, "a v2 binary without the migration refuses a v1 snapshot naming the step") {
  auto st = refused(snapshot_of(evolve::binary_v1()), evolve::binary_v2(/*migrate=*/false));
  CHECK(st.code() == errc::version_mismatch);
  CHECK_MESSAGE(names(st, {"evolve.kv", "state version 1", "state version 2",
                           "no migration from state version 1 to 2"}),
                st.message());
}

TEST_CASE_FIXTURE(fixture, "a v2 snapshot is refused by a v1 binary naming the type and both versions") {
  auto id = snapshot_of(evolve::binary_v2());
  auto st = refused(id, evolve::binary_v1());
  CHECK(st.code() == errc::version_mismatch);
  CHECK_MESSAGE(names(st, {"evolve.kv", "evolve@1.1.0", "evolve@1.0.0", "newer minor"}),
                st.message());
  // Even from a binary whose package version would allow it, a state newer
  // than the type's state version is refused, naming both state versions.
  st = refused(id, evolve::binary_release<evolve::minor_bump>());
  CHECK(st.code() == errc::version_mismatch);
  CHECK_MESSAGE(names(st, {"evolve.kv", "state version 2", "at state version 1", "newer"}),
                st.message());
}

TEST_CASE_FIXTURE(fixture, "a newer minor or patch release restores an unchanged type") {
  auto id = snapshot_of(evolve::binary_v1());
  for (auto binary : {evolve::binary_release<evolve::minor_bump>(),
                      evolve::binary_release<evolve::patch_bump>()}) {
    auto restored = restore(id, binary);
    REQUIRE_MESSAGE(restored.ok(), restored.error().message());
    CHECK(state_of<evolve::v1::kv_state>(**restored, "kv1").entries.at("extra") == 7);
  }
}

TEST_CASE_FIXTURE(fixture, "a snapshot of a patch release restores in the release before it") {
  auto id = snapshot_of(evolve::binary_release<evolve::patch_bump>());
  CHECK(refused(id, evolve::binary_v1()).is_ok());
}

TEST_CASE_FIXTURE(fixture, "a major release is refused both ways, naming both packages") {
  auto st = refused(snapshot_of(evolve::binary_v1()), evolve::binary_release<evolve::major_bump>());
  CHECK(st.code() == errc::version_mismatch);
  CHECK_MESSAGE(names(st, {"evolve.kv", "evolve@1.0.0", "evolve@2.0.0", "major"}), st.message());
  st = refused(snapshot_of(evolve::binary_release<evolve::major_bump>()), evolve::binary_v1());
  CHECK(st.code() == errc::version_mismatch);
}

TEST_CASE_FIXTURE(fixture, "the type check reports every component, migrated or refused") {
  auto id = snapshot_of(evolve::binary_v1());
  auto snap = load_snapshot(*db, id).value();
  // An actor system as a node of each binary has, for timer messages.
  auto types_of = [&](std::shared_ptr<registry> binary) {
    node_options o;
    o.name = "decoder";
    o.worker_threads = 1;
    auto decoder = std::make_shared<node>(binary, o);
    return check_snapshot_types(*db, decoder->system(), snap, *binary).value();
  };
  auto good = types_of(evolve::binary_v2());
  CHECK(good.ok());
  CHECK(good.components == 2);
  CHECK(good.migrated == 2);
  auto bad = types_of(evolve::binary_v2(/*migrate=*/false));
  // The model layer's type entry and both components.
  REQUIRE(bad.problems.size() == 3);
  CHECK(bad.problems[0].component.empty());
  CHECK(bad.problems[1].component == "kv0");
  CHECK(bad.problems[2].component == "kv1");
  for (auto& p : bad.problems) {
    CHECK(p.type_name == "evolve.kv");
    CHECK(p.problem.code() == errc::version_mismatch);
  }
  auto unknown = types_of(std::make_shared<registry>());
  REQUIRE(unknown.problems.size() == 3);
  CHECK(unknown.problems[1].problem.code() == errc::unknown_type);
}
