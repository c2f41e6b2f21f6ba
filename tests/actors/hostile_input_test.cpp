// Issue 10, hostile files: digests can be forged, so bytes that hash right
// may still be hostile. Every length they claim is bounded by the bytes that
// remain before anything is allocated for it, and `verify` decodes what a
// restore decodes.

#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <string>

#include <doctest/doctest.h>

#include <caf/make_message.hpp>

#include "amber/actors/checkpointer.hpp"
#include "amber/actors/restore.hpp"
#include "amber/checkpoint/archive.hpp"
#include "amber/checkpoint/snapshot.hpp"
#include "amber/checkpoint/verify.hpp"
#include "amber/runtime/message_codec.hpp"
#include "amber/runtime/restore_decoder.hpp"
#include "amber/runtime/runtime_record.hpp"
#include "amber/storage/memory_store.hpp"
#include "support/alloc_probe.hpp"
#include "support/temp_dir.hpp"
#include "support/test_components.hpp"

using namespace amber;

namespace {

constexpr std::size_t one_mib = std::size_t{1} << 20;

void put_le(std::string& out, uint64_t v, int n) {
  for (int i = 0; i < n; ++i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// An export file (format 1, archive.hpp) of `manifest` and `blobs`, written
// by hand: export_snapshot would refuse a snapshot that does not load.
void write_export(const std::string& path, const std::string& manifest,
                  const std::vector<std::string>& blobs) {
  std::string out = "AMBERSNP";
  put_le(out, 1, 4);
  put_le(out, 0, 4);
  uint64_t payload = 0;
  auto record = [&](char tag, const digest& id, const std::string& bytes) {
    out.push_back(tag);
    out += id.raw();
    put_le(out, bytes.size(), 8);
    out += bytes;
    payload += bytes.size();
  };
  record('M', sha256(manifest), manifest);
  for (auto& b : blobs)
    record('B', sha256(b), b);
  std::string end;
  put_le(end, 1 + blobs.size(), 8);
  put_le(end, payload, 8);
  out.push_back('E');
  out += std::string(digest::size, '\0');
  put_le(out, end.size(), 8);
  out += end;
  std::ofstream(path, std::ios::binary) << out;
}

// A sound snapshot of a small node (test components) in a memory store,
// and a way to commit variants of it with chosen layers changed.
struct fixture {
  std::shared_ptr<memory_store> db = std::make_shared<memory_store>();
  std::shared_ptr<registry> types = test::make_registry();
  digest id;
  loaded_snapshot snap;

  fixture() {
    node_options nopts;
    nopts.name = "small";
    node n(types, nopts);
    graph_def g{"g", {}, {}};
    for (int i = 0; i < 4; ++i) {
      auto s = std::to_string(i);
      g.instances.push_back({"p" + s, "test.profile", {{"tags", s}}});
      g.instances.push_back({"c" + s, "test.counter", {{"start", s}}});
    }
    REQUIRE(n.install(g).is_ok());
    auto r = checkpointer(n, db).checkpoint();
    REQUIRE(r.ok());
    id = *r;
    snap = load_snapshot(*db, id).value();
  }

  component_record& record(cache_layer& cache, const std::string& name) {
    for (auto& c : cache.components)
      if (c.name == name)
        return c;
    FAIL("no component " << name);
    return cache.components.front();
  }

  // Commits a copy of the snapshot with its cache and trace layers as
  // `change` leaves them (every blob hashes right).
  digest variant(const std::function<void(cache_layer&, trace_layer&)>& change) {
    cache_layer cache = snap.cache;
    trace_layer trace = snap.trace;
    change(cache, trace);
    manifest m = snap.meta;
    m.created_at_ms += 1;
    m.layer(layer_kind::cache) =
      write_layer(*db, layer_kind::cache, encode(cache), cache.components.size()).value();
    m.layer(layer_kind::trace) = write_layer(*db, layer_kind::trace, encode(trace)).value();
    snapshot_commit c;
    c.manifest = encode_manifest(m);
    for (auto& l : m.layers)
      c.references.push_back(l.index);
    for (auto& comp : cache.components)
      c.references.push_back(comp.state);
    return db->commit_snapshot(c).value();
  }

  verify_report verified(const digest& which, content_decoder* decoder) {
    return verify_snapshot(*db, which, decoder).value();
  }

  status restored(const digest& which) {
    auto r = restore_node(*db, which.to_hex(), types, {});
    return r ? status::ok() : r.error();
  }
};

// The encoding of an empty cache layer with its component count set to
// `count`: Boost writes the count, then the item version (4 bytes), last.
std::string cache_layer_claiming(uint64_t count) {
  std::string bytes = encode(cache_layer{});
  REQUIRE(bytes.size() > 12);
  std::memcpy(bytes.data() + bytes.size() - 12, &count, sizeof(count));
  return bytes;
}

} // namespace

TEST_CASE("a collection count larger than the bytes left is corruption, not an allocation") {
  // About 1 GiB of component records.
  uint64_t count = (uint64_t{1} << 30) / sizeof(component_record);
  auto bytes = cache_layer_claiming(count);
  cache_layer out;
  test::reset_largest_allocation();
  status st = decode(bytes, &out, "cache layer");
  CHECK(test::largest_allocation() < one_mib);
  CHECK(st.code() == errc::corruption);
  CHECK(st.message().find("claims " + std::to_string(count) + " elements") != std::string::npos);
  // The same count with its elements present still decodes (the check is
  // against the bytes left, not a fixed limit).
  cache_layer three;
  three.components.resize(3);
  cache_layer back;
  CHECK(decode(encode(three), &back, "cache layer").is_ok());
  CHECK(back.components.size() == 3);
}

TEST_CASE_FIXTURE(fixture, "a 4 KB export file claiming a 1 GiB layer is refused without allocating it") {
  test::temp_dir dir{"amber-hostile-export"};
  std::filesystem::create_directories(dir.path());
  auto path = (dir.path() / "hostile.amber").string();
  // A manifest whose cache layer index claims about 1 GiB of records;
  // every digest in the file is right.
  auto hostile = cache_layer_claiming((uint64_t{1} << 30) / sizeof(component_record));
  manifest m = snap.meta;
  m.layer(layer_kind::cache) = make_layer_blob(layer_kind::cache, hostile).descriptor;
  std::vector<std::string> blobs;
  for (auto& l : m.layers) {
    std::string bytes;
    if (l.kind == layer_kind::cache)
      bytes = hostile;
    else
      REQUIRE(db->get_blob(l.index, &bytes).is_ok());
    blobs.push_back(bytes);
  }
  write_export(path, encode_manifest(m), blobs);
  CHECK(std::filesystem::file_size(path) < 4096);

  memory_store target;
  test::reset_largest_allocation();
  auto r = import_snapshot(target, path);
  CHECK(test::largest_allocation() < one_mib);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == errc::corruption);
  CHECK(r.error().message().find("claims") != std::string::npos);
  CHECK(target.list_manifests().value().empty());
}

TEST_CASE_FIXTURE(fixture, "a recorded message claiming 256 MiB of bytes is corruption, not an allocation") {
  // CAF resizes a byte sequence to its stored length before reading it.
  auto sys_node = std::make_unique<node>(types, node_options{});
  auto& sys = sys_node->system();
  auto bytes = encode_message(sys, caf::make_message(std::vector<char>(77, 'x'))).value();
  auto at = bytes.find(std::string(1, '\x4d') + std::string(77, 'x'));
  REQUIRE(at != std::string::npos);
  REQUIRE(decode_message(sys, bytes).ok());
  // The length as a varbyte: 2^28.
  bytes.replace(at, 1, std::string("\x80\x80\x80\x80\x01", 5));
  test::reset_largest_allocation();
  auto r = decode_message(sys, bytes);
  CHECK(test::largest_allocation() < one_mib);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == errc::corruption);
}

TEST_CASE_FIXTURE(fixture, "an infinite float is refused by the message codec, never a hang") {
  // CAF 0.17's serializer loops for ever packing an infinity (found by
  // fuzz_message: a decoded -inf hung its re-encoding).
  auto sys_node = std::make_unique<node>(types, node_options{});
  auto& sys = sys_node->system();
  auto r = encode_message(sys, caf::make_message(1.5, -std::numeric_limits<double>::infinity()));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == errc::invalid_argument);
  CHECK(r.error().message().find("infinite") != std::string::npos);
  auto finite = encode_message(sys, caf::make_message(1.5f, std::numeric_limits<double>::max()));
  REQUIRE(finite.ok());
  CHECK(decode_message(sys, *finite).ok());
}

TEST_CASE_FIXTURE(fixture, "verify decodes component states: one that hashes right but does not decode is damage") {
  std::string state = encode(test::counter_state{});
  state.pop_back(); // A sound header, then too few bytes.
  auto bad = variant([&](cache_layer& cache, trace_layer&) {
    auto& c = record(cache, "c2");
    c.state = db->put_blobs({state}).value().ids[0];
    c.state_size = state.size();
  });
  // The checkpoint library alone cannot decode states: that is what the
  // decoder is for.
  CHECK(verified(bad, nullptr).ok());
  CHECK(verified(bad, nullptr).undecoded == snap.cache.components.size() + snap.trace.messages.size());

  auto decoder = make_restore_decoder(types);
  auto report = verified(bad, decoder.get());
  REQUIRE(report.problems.size() == 1);
  auto& p = report.problems[0].problem;
  CHECK(p.code() == errc::corruption);
  CHECK(p.message().find("component 'c2'") != std::string::npos);
  CHECK(report.undecoded == 0);
  CHECK(restored(bad).code() == errc::corruption);

  // The sound snapshot is sound with the decoder too, and restores.
  CHECK(verified(id, decoder.get()).ok());
  CHECK(restored(id).is_ok());
}

TEST_CASE_FIXTURE(fixture, "verify decodes runtime records and their timer messages") {
  runtime_record rr;
  runtime_record::timer t;
  t.id = 7;
  t.remaining_ms = 10;
  t.payload = "\x01\x02garbage";
  rr.timers.push_back(t);
  auto bad_timer = variant([&](cache_layer& cache, trace_layer&) {
    record(cache, "p1").runtime = encode(rr);
  });
  auto bad_record = variant([&](cache_layer& cache, trace_layer&) {
    record(cache, "p1").runtime = "not an archive";
  });
  auto decoder = make_restore_decoder(types);
  for (auto& which : {bad_timer, bad_record}) {
    auto report = verified(which, decoder.get());
    REQUIRE(report.problems.size() == 1);
    CHECK(report.problems[0].problem.message().find("component 'p1'") != std::string::npos);
    CHECK(restored(which).code() == errc::corruption);
  }
}

TEST_CASE_FIXTURE(fixture, "verify decodes the messages of the trace layer") {
  auto bad = variant([&](cache_layer& cache, trace_layer& trace) {
    in_flight_message m;
    m.sender = cache.components[0].instance_id;
    m.receiver = cache.components[1].instance_id;
    m.seq = 99;
    m.payload = "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff";
    trace.messages.push_back(m);
  });
  auto decoder = make_restore_decoder(types);
  auto report = verified(bad, decoder.get());
  REQUIRE(report.problems.size() == 1);
  CHECK(report.problems[0].problem.message().find("message 99") != std::string::npos);
  CHECK(restored(bad).code() == errc::corruption);
}
