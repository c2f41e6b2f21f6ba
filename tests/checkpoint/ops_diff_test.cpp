// diff.hpp: components added, removed and changed between two snapshots.

#include "amber/checkpoint/diff.hpp"

#include <doctest/doctest.h>

#include "amber/storage/memory_store.hpp"
#include "ops_fixture.hpp"

using namespace amber;
using namespace amber::ops_test;

TEST_CASE("diff names added, removed and changed components with their bytes") {
  memory_store s;
  spec a;
  a.states = {{"keep", "same"}, {"grow", "12"}, {"gone", "bye"}};
  auto x = make_snapshot(s, a);
  spec b;
  b.created_at_ms = a.created_at_ms + 1;
  b.parents = {x.id};
  b.states = {{"keep", "same"}, {"grow", "12345"}, {"new", "hello!"}};
  auto y = make_snapshot(s, b);
  auto d = diff_snapshots(s, x.id, y.id);
  REQUIRE(d);
  CHECK(d->unchanged == 1);
  REQUIRE(d->added.size() == 1);
  CHECK(d->added[0].name == "new");
  CHECK(d->added[0].new_bytes == 6);
  CHECK(d->added[0].old_state.is_zero());
  REQUIRE(d->removed.size() == 1);
  CHECK(d->removed[0].name == "gone");
  CHECK(d->removed[0].old_bytes == 3);
  REQUIRE(d->changed.size() == 1);
  CHECK(d->changed[0].name == "grow");
  CHECK(d->changed[0].old_bytes == 2);
  CHECK(d->changed[0].new_bytes == 5);
  CHECK(d->state_bytes_delta == (4 + 5 + 6) - (4 + 2 + 3));
  // The graphs differ: their instance lists follow the components.
  CHECK(d->graphs_changed == std::vector<std::string>{"g"});
  CHECK(!d->empty());
}

TEST_CASE("a snapshot does not differ from itself") {
  memory_store s;
  auto chain = make_chain(s, "n", 1);
  auto d = diff_snapshots(s, chain[0].id, chain[0].id);
  REQUIRE(d);
  CHECK(d->empty());
  CHECK(d->unchanged == 2);
  CHECK(d->state_bytes_delta == 0);
}

TEST_CASE("diff of an unknown or damaged snapshot names it") {
  memory_store s;
  auto chain = make_chain(s, "n", 2);
  digest unknown = sha256("nothing");
  auto d = diff_snapshots(s, chain[0].id, unknown);
  REQUIRE(!d);
  CHECK(d.error().code() == errc::not_found);
  CHECK(d.error().message().find(unknown.short_hex()) != std::string::npos);
  s.test_overwrite_blob(chain[0].meta.layer(layer_kind::world).index, "x");
  d = diff_snapshots(s, chain[0].id, chain[1].id);
  REQUIRE(!d);
  CHECK(d.error().code() == errc::corruption);
}
