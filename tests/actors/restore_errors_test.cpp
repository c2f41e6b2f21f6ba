// Every way a restore can be refused: each gives its typed error, none
// crashes, none changes the store.

#include <fstream>
#include <string>

#include <doctest/doctest.h>

#include "amber/actors/checkpointer.hpp"
#include "amber/actors/restore.hpp"
#include "amber/checkpoint/snapshot.hpp"
#include "amber/storage/lmdb_store.hpp"
#include "support/temp_dir.hpp"
#include "support/test_components.hpp"

using namespace amber;

namespace {

// A store in a temp dir holding one snapshot of a small node of all three types.
struct fixture {
  test::temp_dir dir{"amber-restore-errors"};
  std::shared_ptr<lmdb_store> db;
  digest id;
  loaded_snapshot snap;

  fixture() {
    lmdb_options opts;
    opts.create_if_missing = true;
    opts.no_sync = true;
    db = lmdb_store::open(dir.str(), opts).value();
    node_options nopts;
    nopts.name = "small";
    node n(test::make_registry(), nopts);
    graph_def g{"g", {}, {}};
    for (int i = 0; i < 10; ++i) {
      auto s = std::to_string(i);
      g.instances.push_back({"p" + s, "test.profile", {{"tags", s}}});
      g.instances.push_back({"l" + s, "test.ledger", {{"entries", s}}});
      g.instances.push_back({"c" + s, "test.counter", {{"start", s}}});
    }
    REQUIRE(n.install(g).is_ok());
    auto r = checkpointer(n, db).checkpoint();
    REQUIRE(r.ok());
    id = *r;
    snap = load_snapshot(*db, id).value();
  }

  struct picture {
    store_stats stats;
    std::vector<std::pair<std::string, digest>> refs;
    bool operator==(const picture& o) const {
      return stats.blobs == o.stats.blobs && stats.blob_bytes == o.stats.blob_bytes
             && stats.manifests == o.stats.manifests && refs == o.refs;
    }
  };
  picture look() { return {db->stats().value(), db->list_refs().value()}; }

  // Restores and returns the error, checking that the store did not change.
  status refused(std::string_view spec, std::shared_ptr<registry> reg = test::make_registry(),
                 node_config cfg = {}) {
    auto before = look();
    auto r = restore_node(*db, spec, reg, [&] {
      restore_options o;
      o.config = cfg;
      return o;
    }());
    CHECK(look() == before);
    if (r.ok())
      return status::ok();
    return r.error();
  }

  const component_record& record(const std::string& name) {
    for (auto& c : snap.cache.components)
      if (c.name == name)
        return c;
    FAIL("no component " << name);
    return snap.cache.components.front();
  }
};

} // namespace

TEST_CASE_FIXTURE(fixture, "the fixture's snapshot restores when nothing is wrong") {
  CHECK(refused(id.to_hex()).is_ok());
}

TEST_CASE_FIXTURE(fixture, "an unknown snapshot id is not_found") {
  auto st = refused(sha256("no such snapshot").to_hex());
  CHECK(st.code() == errc::not_found);
  CHECK(refused("no-such-ref").code() == errc::not_found);
}

TEST_CASE_FIXTURE(fixture, "an unregistered component type is unknown_type, naming it") {
  auto st = refused(id.to_hex(), test::make_registry(/*with_ledger=*/false));
  CHECK(st.code() == errc::unknown_type);
  CHECK(st.message().find("test.ledger") != std::string::npos);
}

TEST_CASE_FIXTURE(fixture, "another package version is version_mismatch, naming both") {
  auto st = refused(id.to_hex(), test::make_registry(true, /*counter_version_2=*/true));
  CHECK(st.code() == errc::version_mismatch);
  CHECK(st.message().find("testpkg@1.0.0") != std::string::npos);
  CHECK(st.message().find("testpkg@2.0.0") != std::string::npos);
}

TEST_CASE_FIXTURE(fixture, "a different node config is config_mismatch, naming the field") {
  node_config cfg;
  cfg.bus_capacity = 4096;
  auto st = refused(id.to_hex(), test::make_registry(), cfg);
  CHECK(st.code() == errc::config_mismatch);
  CHECK(st.message().find("bus_capacity") != std::string::npos);
  node_config peer;
  peer.peer_id = "other";
  st = refused(id.to_hex(), test::make_registry(), peer);
  CHECK(st.code() == errc::config_mismatch);
  CHECK(st.message().find("peer_id") != std::string::npos);
}

TEST_CASE_FIXTURE(fixture, "a missing state blob is corruption, naming the component") {
  removal gone;
  gone.blobs.push_back(record("l7").state);
  REQUIRE(db->remove(gone).is_ok());
  auto st = refused(id.to_hex());
  CHECK(st.code() == errc::corruption);
  CHECK(st.message().find("'l7'") != std::string::npos);
}

TEST_CASE_FIXTURE(fixture, "a state blob whose bytes do not match its digest is corruption") {
  auto& rec = record("p3");
  std::string bytes;
  REQUIRE(db->get_blob(rec.state, &bytes).is_ok());
  bytes.back() ^= 0x40;
  REQUIRE(db->test_overwrite_blob(rec.state, bytes).is_ok());
  auto st = refused(id.to_hex());
  CHECK(st.code() == errc::corruption);
  CHECK(st.message().find(rec.state.to_hex()) != std::string::npos);
}

TEST_CASE_FIXTURE(fixture, "a corrupt layer index is corruption") {
  auto index = snap.meta.layer(layer_kind::model).index;
  REQUIRE(db->test_overwrite_blob(index, "garbage").is_ok());
  CHECK(refused(id.to_hex()).code() == errc::corruption);
}

TEST_CASE_FIXTURE(fixture, "a truncated or garbage manifest is corruption") {
  std::string bytes;
  REQUIRE(db->get_manifest(id, &bytes).is_ok());
  SUBCASE("truncated") {
    REQUIRE(db->test_overwrite_manifest(id, bytes.substr(0, bytes.size() / 2)).is_ok());
  }
  SUBCASE("garbage") {
    REQUIRE(db->test_overwrite_manifest(id, std::string(300, '\xff')).is_ok());
  }
  SUBCASE("empty") {
    REQUIRE(db->test_overwrite_manifest(id, "").is_ok());
  }
  auto st = refused(id.to_hex());
  CHECK(st.code() == errc::corruption);
  CHECK(refused("small").code() == errc::corruption);
}

TEST_CASE("a missing store directory or one that is not a store is not_a_store") {
  test::temp_dir dir{"amber-not-a-store"};
  auto missing = lmdb_store::open((dir.path() / "nope").string());
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code() == errc::not_a_store);
  CHECK_FALSE(std::filesystem::exists(dir.path() / "nope"));

  std::filesystem::create_directories(dir.path() / "junk");
  {
    std::ofstream(dir.path() / "junk" / "data.mdb") << std::string(8192, 'x');
  }
  auto junk = lmdb_store::open((dir.path() / "junk").string());
  REQUIRE_FALSE(junk.ok());
  CHECK(junk.error().code() == errc::not_a_store);
  CHECK(junk.error().message().find("junk") != std::string::npos);
}
