// snapshot.hpp: writing layers, and loading a whole snapshot back with every
// way it can be missing, corrupt or of another format.

#include "amber/checkpoint/snapshot.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "amber/storage/lmdb_store.hpp"
#include "amber/storage/memory_store.hpp"
#include "snapshot_fixture.hpp"
#include "support/temp_dir.hpp"

using amber::cache_layer;
using amber::digest;
using amber::encode;
using amber::errc;
using amber::head_ref;
using amber::layer_count;
using amber::layer_kind;
using amber::layer_media_type;
using amber::load_snapshot;
using amber::loaded_snapshot;
using amber::manifest;
using amber::memory_store;
using amber::removal;
using amber::sha256;
using amber::write_layer;
using amber::test::build_snapshot;
using amber::test::built_snapshot;
using amber::test::commit_manifest;

namespace {

const std::vector<std::string> sample_states = {
  "counter=41", std::string("\x00\x01\x02\x00", 4), "", "counter=41"};

// Checks that a loaded snapshot holds what was built, field by field where
// the layer types have equality and by their canonical encoding elsewhere.
void check_same(const built_snapshot& built, const loaded_snapshot& loaded) {
  CHECK(loaded.id == built.id);
  CHECK(amber::encode_manifest(loaded.meta) == amber::encode_manifest(built.meta));
  CHECK(loaded.meta.node.name == built.meta.node.name);
  CHECK(loaded.meta.node.peer_id == built.meta.node.peer_id);
  CHECK(loaded.meta.parents == built.meta.parents);
  CHECK(loaded.model.graphs == built.model.graphs);
  CHECK(encode(loaded.model) == encode(built.model));
  CHECK(encode(loaded.cache) == encode(built.cache));
  CHECK(encode(loaded.world) == encode(built.world));
  CHECK(encode(loaded.effects) == encode(built.effects));
  CHECK(encode(loaded.trace) == encode(built.trace));
  REQUIRE(loaded.cache.components.size() == built.cache.components.size());
  for (size_t i = 0; i < built.cache.components.size(); ++i) {
    CHECK(loaded.cache.components[i].name == built.cache.components[i].name);
    CHECK(loaded.cache.components[i].state == built.cache.components[i].state);
  }
  CHECK(loaded.world.config == built.world.config);
  CHECK(loaded.world.node_name == built.world.node_name);
  CHECK(loaded.effects.entries.at(0).payload == built.effects.entries.at(0).payload);
  CHECK(loaded.trace.messages.at(0).payload == built.trace.messages.at(0).payload);
}

// Replaces layer `kind` of `m` with a fresh index blob holding `bytes`.
manifest with_layer_blob(amber::store& s, manifest m, layer_kind kind, const std::string& bytes) {
  auto d = write_layer(s, kind, bytes);
  REQUIRE(d);
  m.layer(kind) = *d;
  return m;
}

} // namespace

TEST_CASE("head refs and layer media types follow their naming scheme") {
  CHECK(head_ref("bank") == "nodes/bank/head");
  CHECK(layer_media_type(layer_kind::model) == "application/vnd.amber.layer.model.v1");
  CHECK(layer_media_type(layer_kind::effects) == "application/vnd.amber.layer.effects.v1");
}

TEST_CASE("write_layer stores the index blob and describes the layer") {
  memory_store s;
  cache_layer layer;
  layer.components.resize(2);
  layer.components[0].name = "a";
  auto bytes = encode(layer);
  auto d = write_layer(s, layer_kind::cache, bytes, 3, 500);
  REQUIRE(d);
  CHECK(d->kind == layer_kind::cache);
  CHECK(d->media_type == "application/vnd.amber.layer.cache.v1");
  CHECK(d->index == sha256(bytes));
  CHECK(d->blobs == 4);
  CHECK(d->bytes == bytes.size() + 500);
  std::string stored;
  REQUIRE(s.get_blob(d->index, &stored).is_ok());
  CHECK(stored == bytes);
}

TEST_CASE("write_layer without extra blobs counts only the index") {
  memory_store s;
  auto d = write_layer(s, layer_kind::trace, "trace bytes");
  REQUIRE(d);
  CHECK(d->kind == layer_kind::trace);
  CHECK(d->media_type == layer_media_type(layer_kind::trace));
  CHECK(d->blobs == 1);
  CHECK(d->bytes == 11);
}

TEST_CASE("writing the same layer twice stores one blob") {
  memory_store s;
  auto a = write_layer(s, layer_kind::world, "same");
  auto b = write_layer(s, layer_kind::world, "same");
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->index == b->index);
  auto stats = s.stats();
  REQUIRE(stats);
  CHECK(stats->blobs == 1);
}

TEST_CASE("make_layer_blob describes a layer as write_layer does, and writes nothing") {
  memory_store s;
  auto bytes = encode(amber::test::sample_trace());
  auto made = amber::make_layer_blob(layer_kind::trace, bytes, 2, 70);
  CHECK(made.blob.id == sha256(bytes));
  CHECK(made.blob.bytes == bytes);
  CHECK(s.stats()->blobs == 0);
  auto written = write_layer(s, layer_kind::trace, bytes, 2, 70);
  REQUIRE(written);
  CHECK(made.descriptor.kind == written->kind);
  CHECK(made.descriptor.media_type == written->media_type);
  CHECK(made.descriptor.index == written->index);
  CHECK(made.descriptor.blobs == 3);
  CHECK(made.descriptor.bytes == bytes.size() + 70);
  CHECK(made.descriptor.blobs == written->blobs);
  CHECK(made.descriptor.bytes == written->bytes);
}

TEST_CASE("a snapshot committed in one transaction loads back with equal content") {
  using amber::test::write_mode;
  memory_store s;
  auto one = build_snapshot(s, "n", sample_states, 1000, {}, write_mode::one_transaction);
  auto loaded = load_snapshot(s, one.id);
  REQUIRE(loaded);
  check_same(one, *loaded);
  // Both ways of writing make the same snapshot.
  memory_store other;
  auto layered = build_snapshot(other, "n", sample_states, 1000, {}, write_mode::layer_by_layer);
  CHECK(layered.id == one.id);
  CHECK(s.stats()->blobs == other.stats()->blobs);
}

TEST_CASE("a checkpoint's blobs, manifest and head move take one lmdb write transaction") {
  using amber::test::write_mode;
  test::temp_dir dir("amber-checkpoint-test");
  amber::lmdb_options opts;
  opts.create_if_missing = true;
  opts.map_size = uint64_t{1} << 26;
  opts.no_sync = true;
  auto s = amber::lmdb_store::open(dir.str(), opts);
  REQUIRE(s);
  auto before = (*s)->test_last_txn_id();
  auto first = build_snapshot(**s, "n", sample_states, 1000, {}, write_mode::one_transaction);
  CHECK((*s)->test_last_txn_id() == before + 1);
  // The same again with one state changed: one transaction, and only the
  // changed state and the layer indexes that differ are written.
  auto states = sample_states;
  states[1] = "changed";
  before = (*s)->test_last_txn_id();
  auto second =
    build_snapshot(**s, "n", states, 2000, {first.id}, write_mode::one_transaction);
  CHECK((*s)->test_last_txn_id() == before + 1);
  auto loaded = load_snapshot(**s, second.id);
  REQUIRE(loaded);
  check_same(second, *loaded);
  // Into an empty store, the layer-by-layer way takes seven: the states,
  // five layers, the commit. (LMDB counts only transactions that changed
  // something.)
  test::temp_dir other_dir("amber-checkpoint-test");
  auto other = amber::lmdb_store::open(other_dir.str(), opts);
  REQUIRE(other);
  before = (*other)->test_last_txn_id();
  build_snapshot(**other, "n", sample_states, 1000, {}, write_mode::layer_by_layer);
  CHECK((*other)->test_last_txn_id() == before + 7);
}

TEST_CASE("a snapshot built by hand loads back with equal content") {
  memory_store s;
  auto built = build_snapshot(s, "n", sample_states);
  auto head = s.get_ref(head_ref("n"));
  REQUIRE(head);
  CHECK(*head == built.id);
  auto loaded = load_snapshot(s, built.id);
  REQUIRE(loaded);
  check_same(built, *loaded);
  // The cache layer counts its three distinct state blobs and their bytes.
  auto& cache = loaded->meta.layer(layer_kind::cache);
  CHECK(cache.blobs == 1 + 3);
  CHECK(cache.bytes == encode(built.cache).size() + 10 + 4 + 0);
}

TEST_CASE("a snapshot with a parent and no components loads back") {
  memory_store s;
  auto first = build_snapshot(s, "n", sample_states);
  auto second = build_snapshot(s, "n", {}, 2000, {first.id});
  CHECK(second.id != first.id);
  auto loaded = load_snapshot(s, second.id);
  REQUIRE(loaded);
  check_same(second, *loaded);
  CHECK(loaded->cache.components.empty());
  REQUIRE(loaded->meta.parents.size() == 1);
  CHECK(loaded->meta.parents[0] == first.id);
}

TEST_CASE("references lists the layer indexes then every component's state") {
  memory_store s;
  auto built = build_snapshot(s, "n", sample_states);
  auto loaded = load_snapshot(s, built.id);
  REQUIRE(loaded);
  auto refs = loaded->references();
  REQUIRE(refs.size() == layer_count + sample_states.size());
  for (size_t i = 0; i < layer_count; ++i)
    CHECK(refs[i] == built.meta.layers[i].index);
  for (size_t i = 0; i < sample_states.size(); ++i)
    CHECK(refs[layer_count + i] == sha256(sample_states[i]));
}

TEST_CASE("loading an unknown snapshot id is not_found") {
  memory_store s;
  build_snapshot(s, "n", sample_states);
  auto r = load_snapshot(s, sha256("no such manifest"));
  REQUIRE_FALSE(r);
  CHECK(r.error().code() == errc::not_found);
}

TEST_CASE("a corrupted layer index blob is corruption naming the layer") {
  for (size_t i = 0; i < layer_count; ++i) {
    auto kind = static_cast<layer_kind>(i);
    CAPTURE(to_string(kind));
    memory_store s;
    auto built = build_snapshot(s, "n", sample_states);
    s.test_overwrite_blob(built.meta.layer(kind).index, "flipped bits");
    auto r = load_snapshot(s, built.id);
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == errc::corruption);
    CHECK(r.error().message().find(std::string(to_string(kind)) + " layer")
          != std::string::npos);
  }
}

TEST_CASE("a layer index blob that hashes right but does not decode is corruption") {
  memory_store s;
  auto built = build_snapshot(s, "n", sample_states);
  auto m = with_layer_blob(s, built.meta, layer_kind::world, "not a boost archive");
  auto r = load_snapshot(s, commit_manifest(s, m));
  REQUIRE_FALSE(r);
  CHECK(r.error().code() == errc::corruption);
  CHECK(r.error().message().find("world layer") != std::string::npos);
}

TEST_CASE("a layer index blob with bytes after its content is corruption") {
  memory_store s;
  auto built = build_snapshot(s, "n", sample_states);
  auto m = with_layer_blob(s, built.meta, layer_kind::effects, encode(built.effects) + "extra");
  auto r = load_snapshot(s, commit_manifest(s, m));
  REQUIRE_FALSE(r);
  CHECK(r.error().code() == errc::corruption);
  CHECK(r.error().message().find("trailing") != std::string::npos);
}

TEST_CASE("a missing layer index blob is corruption naming the layer") {
  memory_store s;
  auto built = build_snapshot(s, "n", sample_states);
  removal gone;
  gone.blobs.push_back(built.meta.layer(layer_kind::trace).index);
  REQUIRE(s.remove(gone).is_ok());
  auto r = load_snapshot(s, built.id);
  REQUIRE_FALSE(r);
  // The snapshot exists and names the blob: its absence is damage (issue 10).
  CHECK(r.error().code() == errc::corruption);
  CHECK(r.error().message().find("trace layer") != std::string::npos);
  CHECK(r.error().message().find("missing") != std::string::npos);
}

TEST_CASE("a missing state blob is corruption naming the component") {
  memory_store s;
  auto built = build_snapshot(s, "n", sample_states);
  removal gone;
  gone.blobs.push_back(built.cache.components[1].state);
  REQUIRE(s.remove(gone).is_ok());
  auto r = load_snapshot(s, built.id);
  REQUIRE_FALSE(r);
  CHECK(r.error().code() == errc::corruption);
  CHECK(r.error().message().find("'component-2'") != std::string::npos);
}

TEST_CASE("a layer of another media type is format_mismatch") {
  memory_store s;
  auto built = build_snapshot(s, "n", sample_states);
  auto m = built.meta;
  m.layer(layer_kind::cache).media_type = "application/vnd.amber.layer.cache.v2";
  auto r = load_snapshot(s, commit_manifest(s, m));
  REQUIRE_FALSE(r);
  CHECK(r.error().code() == errc::format_mismatch);
  CHECK(r.error().message().find("cache.v2") != std::string::npos);
  // Another layer's media type in the cache slot is refused too.
  m.layer(layer_kind::cache).media_type = layer_media_type(layer_kind::world);
  r = load_snapshot(s, commit_manifest(s, m));
  REQUIRE_FALSE(r);
  CHECK(r.error().code() == errc::format_mismatch);
}

TEST_CASE("a stored manifest of a newer schema is format_mismatch") {
  memory_store s;
  auto built = build_snapshot(s, "n", sample_states);
  auto m = built.meta;
  m.schema_version = 2;
  auto r = load_snapshot(s, commit_manifest(s, m));
  REQUIRE_FALSE(r);
  CHECK(r.error().code() == errc::format_mismatch);
}

TEST_CASE("a stored manifest that is not JSON is corruption naming the snapshot") {
  memory_store s;
  amber::snapshot_commit c;
  c.manifest = "{\"schema_version\":1";
  auto id = s.commit_snapshot(c);
  REQUIRE(id);
  auto r = load_snapshot(s, *id);
  REQUIRE_FALSE(r);
  CHECK(r.error().code() == errc::corruption);
  CHECK(r.error().message().find(id->to_hex()) != std::string::npos);
}

TEST_CASE("a snapshot in an lmdb store loads back after the store is reopened") {
  test::temp_dir dir("amber-checkpoint-test");
  amber::lmdb_options opts;
  opts.create_if_missing = true;
  opts.map_size = uint64_t{1} << 26;
  opts.no_sync = true;
  built_snapshot built;
  {
    auto s = amber::lmdb_store::open(dir.str(), opts);
    REQUIRE(s);
    built = build_snapshot(**s, "n", sample_states);
  }
  auto s = amber::lmdb_store::open(dir.str(), opts);
  REQUIRE(s);
  auto id = amber::resolve_snapshot(**s, "n");
  REQUIRE(id);
  CHECK(*id == built.id);
  auto loaded = load_snapshot(**s, *id);
  REQUIRE(loaded);
  check_same(built, *loaded);
  // On disk too, a layer index that no longer hashes right is corruption.
  REQUIRE((*s)->test_overwrite_blob(built.meta.layer(layer_kind::model).index, "x").is_ok());
  auto r = load_snapshot(**s, built.id);
  REQUIRE_FALSE(r);
  CHECK(r.error().code() == errc::corruption);
}
