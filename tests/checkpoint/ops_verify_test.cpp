// verify.hpp: a sound store verifies clean; each kind of damage is named.

#include "amber/checkpoint/verify.hpp"

#include <doctest/doctest.h>

#include <algorithm>

#include "amber/storage/memory_store.hpp"
#include "ops_fixture.hpp"

using namespace amber;
using namespace amber::ops_test;

namespace {

bool names(const verify_report& r, verify_problem::object_kind kind, const std::string& object,
           const std::string& text = "") {
  return std::any_of(r.problems.begin(), r.problems.end(), [&](const verify_problem& p) {
    return p.kind == kind && p.object == object
           && p.problem.message().find(text) != std::string::npos;
  });
}

} // namespace

TEST_CASE("a sound store verifies clean and counts what it checked") {
  memory_store s;
  make_chain(s, "a", 3);
  make_chain(s, "b", 2);
  std::vector<std::string> phases;
  auto r = verify_store(s, [&](const progress_event& e) { phases.emplace_back(e.phase); });
  REQUIRE(r);
  CHECK(r->ok());
  CHECK(r->snapshots == 5);
  CHECK(r->refs == 2);
  auto stats = s.stats();
  REQUIRE(stats);
  CHECK(r->blobs == stats->blobs);
  CHECK(r->blob_bytes == stats->blob_bytes);
  CHECK(std::find(phases.begin(), phases.end(), "checking blobs") != phases.end());
  CHECK(std::find(phases.begin(), phases.end(), "checking snapshots") != phases.end());
}

TEST_CASE("an empty store verifies clean") {
  memory_store s;
  auto r = verify_store(s);
  REQUIRE(r);
  CHECK(r->ok());
  CHECK(r->blobs == 0);
}

TEST_CASE("a corrupt state blob is named, and so is every snapshot that needs it") {
  memory_store s;
  auto chain = make_chain(s, "n", 3);
  // "b" has the same state in all three snapshots.
  auto shared = chain[0].cache.components.at(1).state;
  s.test_overwrite_blob(shared, "garbage");
  auto r = verify_store(s);
  REQUIRE(r);
  CHECK(!r->ok());
  CHECK(names(*r, verify_problem::object_kind::blob, shared.to_hex(), "do not match"));
  for (auto& b : chain)
    CHECK(names(*r, verify_problem::object_kind::snapshot, b.id.to_hex(), shared.to_hex()));
  // The damaged blob is listed once as a blob.
  CHECK(std::count_if(r->problems.begin(), r->problems.end(), [](auto& p) {
          return p.kind == verify_problem::object_kind::blob;
        }) == 1);
}

TEST_CASE("a missing state blob and a missing layer index are named") {
  memory_store s;
  auto chain = make_chain(s, "n", 2);
  auto state = chain[1].cache.components.at(0).state; // "a", only in the newest
  auto model = chain[0].meta.layer(layer_kind::model).index;
  removal rm;
  rm.blobs = {state};
  REQUIRE(s.remove(rm));
  auto r = verify_store(s);
  REQUIRE(r);
  CHECK(names(*r, verify_problem::object_kind::snapshot, chain[1].id.to_hex(),
              "state of component 'a': blob " + state.to_hex() + " is missing"));
  CHECK(!names(*r, verify_problem::object_kind::snapshot, chain[0].id.to_hex()));
  rm.blobs = {model};
  REQUIRE(s.remove(rm));
  r = verify_store(s);
  REQUIRE(r);
  CHECK(names(*r, verify_problem::object_kind::snapshot, chain[0].id.to_hex(), "model layer index"));
}

TEST_CASE("a state blob of another size than recorded is corruption") {
  memory_store s;
  spec sp;
  sp.states = {{"a", "abc"}};
  auto b = make_snapshot(s, sp);
  // Rebuild the cache layer with a wrong size and commit a second manifest.
  auto cache = b.cache;
  cache.components[0].state_size = 99;
  auto m = b.meta;
  auto d = write_layer(s, layer_kind::cache, encode(cache), 1, 99);
  REQUIRE(d);
  m.layer(layer_kind::cache) = *d;
  m.created_at_ms += 1;
  snapshot_commit c;
  c.manifest = encode_manifest(m);
  auto id = s.commit_snapshot(c);
  REQUIRE(id);
  auto r = verify_store(s);
  REQUIRE(r);
  CHECK(names(*r, verify_problem::object_kind::snapshot, id->to_hex(), "records 99"));
  CHECK(!names(*r, verify_problem::object_kind::snapshot, b.id.to_hex()));
}

TEST_CASE("a manifest that does not decode is named") {
  memory_store s;
  make_chain(s, "n", 1);
  snapshot_commit c;
  c.manifest = "[1,2,3]";
  auto junk = s.commit_snapshot(c);
  REQUIRE(junk);
  auto r = verify_store(s);
  REQUIRE(r);
  CHECK(names(*r, verify_problem::object_kind::snapshot, junk->to_hex(), "not a JSON object"));
}

TEST_CASE("a ref to a removed snapshot is named") {
  memory_store s;
  auto chain = make_chain(s, "n", 2);
  REQUIRE(s.set_ref("tags/keep", chain[0].id));
  removal rm;
  rm.manifests = {chain[0].id};
  REQUIRE(s.remove(rm));
  auto r = verify_store(s);
  REQUIRE(r);
  CHECK(names(*r, verify_problem::object_kind::ref, "tags/keep", chain[0].id.to_hex()));
  // Its child only lost its parent: counted, not damage.
  CHECK(r->missing_parents == 1);
  CHECK(!names(*r, verify_problem::object_kind::snapshot, chain[1].id.to_hex()));
}
