// gc.hpp: retention, what is freed, and that a retained snapshot never breaks.

#include "amber/checkpoint/gc.hpp"

#include <doctest/doctest.h>

#include <algorithm>

#include "amber/checkpoint/snapshot.hpp"
#include "amber/checkpoint/verify.hpp"
#include "amber/storage/memory_store.hpp"
#include "ops_fixture.hpp"

using namespace amber;
using namespace amber::ops_test;

namespace {

bool contains(const std::vector<digest>& ids, const digest& id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

// Every snapshot left in `s` loads completely and the store verifies clean.
void check_intact(store& s) {
  auto ids = s.list_manifests();
  REQUIRE(ids);
  for (auto& id : *ids) {
    auto snap = load_snapshot(s, id);
    CHECK_MESSAGE(snap, snap.error().to_string());
    if (snap)
      for (auto& ref : snap->references())
        CHECK(s.get_blob(ref, nullptr));
  }
  auto r = verify_store(s);
  REQUIRE(r);
  CHECK(r->ok());
}

} // namespace

TEST_CASE("without --keep gc keeps every snapshot and removes only unreferenced blobs") {
  memory_store s;
  auto chain = make_chain(s, "n", 3);
  auto orphan = s.put_blobs({"left behind by a failed checkpoint"});
  REQUIRE(orphan);
  auto r = collect_garbage(s, {});
  REQUIRE(r);
  CHECK(r->removed_snapshots.empty());
  CHECK(r->removed_blobs == 1);
  CHECK(r->freed_bytes == std::string("left behind by a failed checkpoint").size());
  CHECK(r->kept_snapshots == 3);
  CHECK(s.has_blob(orphan->ids[0]).is_not_found());
  check_intact(s);
}

TEST_CASE("--keep N keeps each node's N newest and every ref target") {
  memory_store s;
  auto a = make_chain(s, "a", 5);
  auto b = make_chain(s, "b", 2);
  REQUIRE(s.set_ref("tags/first", a[0].id));
  gc_options opts;
  opts.keep = 2;
  auto r = collect_garbage(s, opts);
  REQUIRE(r);
  // a[0] is tagged, a[3] and a[4] are the newest two; b keeps both.
  CHECK(r->removed_snapshots.size() == 2);
  CHECK(contains(r->removed_snapshots, a[1].id));
  CHECK(contains(r->removed_snapshots, a[2].id));
  CHECK(r->kept_snapshots == 5);
  auto left = s.list_manifests();
  REQUIRE(left);
  CHECK(left->size() == 5);
  // The states only a[1] and a[2] had are gone.
  CHECK(s.has_blob(a[1].cache.components[0].state).is_not_found());
  CHECK(s.has_blob(a[2].cache.components[0].state).is_not_found());
  // The state a[0] shares with a[4] ("b") is still there.
  CHECK(s.has_blob(a[4].cache.components[1].state));
  CHECK(r->freed_bytes > 0);
  check_intact(s);
}

TEST_CASE("gc never breaks a retained snapshot, whatever it shares with removed ones") {
  memory_store s;
  // Snapshots that share states in every pattern: identical states across
  // nodes, states that come back after changing, and shared layer indexes.
  auto a = make_chain(s, "a", 6);
  for (int i = 0; i < 4; ++i) {
    spec sp;
    sp.node = "c";
    sp.created_at_ms = 1'800'000'000'000 + i;
    sp.states = {{"x", i % 2 == 0 ? "even" : "odd"}, {"y", "a-b"}, {"z", a[static_cast<size_t>(i)].cache.components[0].state.to_hex()}};
    make_snapshot(s, sp);
  }
  for (uint64_t keep : {4, 3, 2, 1}) {
    CAPTURE(keep);
    gc_options opts;
    opts.keep = keep;
    auto r = collect_garbage(s, opts);
    REQUIRE(r);
    check_intact(s);
    auto left = s.list_manifests();
    REQUIRE(left);
    CHECK(left->size() == 2 * keep);
  }
}

TEST_CASE("a dry run reports the same plan and removes nothing") {
  memory_store s;
  make_chain(s, "n", 4);
  auto before = s.stats();
  REQUIRE(before);
  gc_options opts;
  opts.keep = 1;
  opts.dry_run = true;
  auto dry = collect_garbage(s, opts);
  REQUIRE(dry);
  CHECK(dry->dry_run);
  CHECK(dry->removed_snapshots.size() == 3);
  auto after = s.stats();
  REQUIRE(after);
  CHECK(after->manifests == before->manifests);
  CHECK(after->blobs == before->blobs);
  opts.dry_run = false;
  auto wet = collect_garbage(s, opts);
  REQUIRE(wet);
  CHECK(wet->removed_snapshots == dry->removed_snapshots);
  CHECK(wet->removed_blobs == dry->removed_blobs);
  CHECK(wet->freed_bytes == dry->freed_bytes);
  check_intact(s);
}

TEST_CASE("gc refuses, removing nothing, while a snapshot cannot be read") {
  memory_store s;
  auto chain = make_chain(s, "n", 3);
  auto orphan = s.put_blobs({"orphan"});
  REQUIRE(orphan);
  s.test_overwrite_blob(chain[2].meta.layer(layer_kind::cache).index, "garbage");
  auto r = collect_garbage(s, {});
  REQUIRE(!r);
  CHECK(r.error().code() == errc::corruption);
  CHECK(r.error().message().find(chain[2].id.to_hex()) != std::string::npos);
  CHECK(s.has_blob(orphan->ids[0]));
}

TEST_CASE("--keep 0 is refused") {
  memory_store s;
  gc_options opts;
  opts.keep = 0;
  auto r = collect_garbage(s, opts);
  REQUIRE(!r);
  CHECK(r.error().code() == errc::invalid_argument);
}

TEST_CASE("gc reports progress") {
  memory_store s;
  make_chain(s, "n", 2);
  uint64_t calls = 0;
  auto r = collect_garbage(s, {}, [&](const progress_event& e) {
    ++calls;
    CHECK(e.done <= e.total);
  });
  REQUIRE(r);
  CHECK(calls > 0);
}
