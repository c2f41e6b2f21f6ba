// archive.hpp: export and import of one snapshot as a file, and every way
// a file can be damaged.

#include "amber/checkpoint/archive.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <iterator>

#include "amber/checkpoint/snapshot.hpp"
#include "amber/storage/memory_store.hpp"
#include "ops_fixture.hpp"

using namespace amber;
using namespace amber::ops_test;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// Imports `bytes` (written to a file) into an empty store and returns the error.
status import_bytes(const scratch_dir& dir, const std::string& bytes, memory_store& target) {
  auto path = dir.file("damaged.amber");
  write_file(path, bytes);
  auto r = import_snapshot(target, path);
  REQUIRE(!r);
  auto stats = target.stats();
  REQUIRE(stats);
  CHECK(stats->blobs == 0); // verified before anything is written
  CHECK(stats->manifests == 0);
  return r.error();
}

} // namespace

TEST_CASE("export then import reproduces the snapshot, its blobs and the head") {
  scratch_dir dir;
  memory_store src;
  auto chain = make_chain(src, "bank", 3);
  auto path = dir.file("snap.amber");
  auto e = export_snapshot(src, chain[2].id, path);
  REQUIRE(e);
  CHECK(e->id == chain[2].id);
  CHECK(e->blobs == 7); // five layer indexes, two states
  CHECK(e->file_bytes == read_file(path).size());
  CHECK(!std::filesystem::exists(path + ".tmp-" + std::to_string(::getpid())));

  memory_store dst;
  auto i = import_snapshot(dst, path);
  REQUIRE(i);
  CHECK(i->id == chain[2].id);
  CHECK(i->node == "bank");
  CHECK(i->blobs == 7);
  CHECK(i->new_blobs == 7);
  CHECK(!i->already_present);
  CHECK(i->head_moved);
  auto head = dst.get_ref("nodes/bank/head");
  REQUIRE(head);
  CHECK(*head == chain[2].id);
  auto a = load_snapshot(src, chain[2].id);
  auto b = load_snapshot(dst, chain[2].id);
  REQUIRE(a);
  REQUIRE(b);
  CHECK(encode(a->cache) == encode(b->cache));
  for (auto& c : b->cache.components) {
    std::string x, y;
    REQUIRE(src.get_blob(c.state, &x));
    REQUIRE(dst.get_blob(c.state, &y));
    CHECK(x == y);
  }
}

TEST_CASE("export is deterministic and refuses to overwrite unless told") {
  scratch_dir dir;
  memory_store s;
  auto chain = make_chain(s, "n", 1);
  auto p1 = dir.file("a.amber");
  REQUIRE(export_snapshot(s, chain[0].id, p1));
  auto again = export_snapshot(s, chain[0].id, p1);
  REQUIRE(!again);
  CHECK(again.error().code() == errc::conflict);
  export_options force;
  force.overwrite = true;
  auto first = read_file(p1);
  REQUIRE(export_snapshot(s, chain[0].id, p1, force));
  CHECK(read_file(p1) == first);
}

TEST_CASE("importing twice is harmless, and an existing head is left alone") {
  scratch_dir dir;
  memory_store src;
  auto chain = make_chain(src, "n", 2);
  auto old_path = dir.file("old.amber");
  REQUIRE(export_snapshot(src, chain[0].id, old_path));
  auto new_path = dir.file("new.amber");
  REQUIRE(export_snapshot(src, chain[1].id, new_path));
  memory_store dst;
  REQUIRE(import_snapshot(dst, new_path));
  auto again = import_snapshot(dst, new_path);
  REQUIRE(again);
  CHECK(again->already_present);
  CHECK(again->new_blobs == 0);
  auto older = import_snapshot(dst, old_path);
  REQUIRE(older);
  CHECK(!older->head_moved);
  CHECK(older->new_blobs < older->blobs); // state "b" was already there
  CHECK(*dst.get_ref("nodes/n/head") == chain[1].id);
  import_options force;
  force.force_head = true;
  auto forced = import_snapshot(dst, old_path, force);
  REQUIRE(forced);
  CHECK(forced->head_moved);
  CHECK(*dst.get_ref("nodes/n/head") == chain[0].id);
}

TEST_CASE("import verifies everything before it writes anything") {
  scratch_dir dir;
  memory_store src;
  auto chain = make_chain(src, "n", 1);
  auto path = dir.file("good.amber");
  REQUIRE(export_snapshot(src, chain[0].id, path));
  const std::string good = read_file(path);
  const size_t header = 16, head = 41;

  SUBCASE("a flipped byte in a blob") {
    std::string bad = good;
    auto model = chain[0].meta.layer(layer_kind::model).index;
    auto at = bad.find(std::string("B") + std::string(model.raw()));
    REQUIRE(at != std::string::npos);
    bad[at + head + 2] ^= 0x40; // inside the model layer's index blob
    memory_store dst;
    auto st = import_bytes(dir, bad, dst);
    CHECK(st.code() == errc::corruption);
    CHECK(st.message().find("do not match its digest") != std::string::npos);
    CHECK(st.message().find("damaged.amber") != std::string::npos);
  }
  SUBCASE("a flipped byte in the manifest") {
    std::string bad = good;
    bad[header + head + 5] ^= 0x01;
    memory_store dst;
    auto st = import_bytes(dir, bad, dst);
    CHECK(st.code() == errc::corruption);
    CHECK(st.message().find("manifest") != std::string::npos);
  }
  SUBCASE("truncation at every interesting point") {
    for (size_t cut : {size_t{0}, size_t{5}, header, header + 10, header + head + 3,
                       good.size() / 2, good.size() - 17, good.size() - 1}) {
      CAPTURE(cut);
      memory_store dst;
      auto st = import_bytes(dir, good.substr(0, cut), dst);
      CHECK(st.code() == errc::corruption);
    }
  }
  SUBCASE("a record length larger than the file") {
    std::string bad = good;
    for (int i = 0; i < 8; ++i)
      bad[header + 33 + static_cast<size_t>(i)] = static_cast<char>(0xff);
    memory_store dst;
    auto st = import_bytes(dir, bad, dst);
    CHECK(st.code() == errc::corruption);
    CHECK(st.message().find("truncated") != std::string::npos);
  }
  SUBCASE("bytes after the end record") {
    memory_store dst;
    auto st = import_bytes(dir, good + "x", dst);
    CHECK(st.code() == errc::corruption);
    CHECK(st.message().find("after its end record") != std::string::npos);
  }
  SUBCASE("not an export file at all") {
    memory_store dst;
    auto st = import_bytes(dir, "hello, world, this is not it", dst);
    CHECK(st.code() == errc::corruption);
    CHECK(st.message().find("not an amber export file") != std::string::npos);
  }
  SUBCASE("a newer format version") {
    std::string bad = good;
    bad[8] = static_cast<char>(archive_format_version + 1);
    memory_store dst;
    auto st = import_bytes(dir, bad, dst);
    CHECK(st.code() == errc::format_mismatch);
  }
}

TEST_CASE("an export that lacks a blob the snapshot needs is refused") {
  scratch_dir dir;
  memory_store src;
  auto chain = make_chain(src, "n", 1);
  auto path = dir.file("x.amber");
  REQUIRE(export_snapshot(src, chain[0].id, path));
  std::string bytes = read_file(path);
  // Drop the record of state "a" and fix the end record's counts.
  auto state = chain[0].cache.components[0].state;
  auto at = bytes.find(std::string("B") + std::string(state.raw()));
  REQUIRE(at != std::string::npos);
  uint64_t len = 0;
  for (int i = 7; i >= 0; --i)
    len = (len << 8) | static_cast<unsigned char>(bytes[at + 33 + static_cast<size_t>(i)]);
  bytes.erase(at, 41 + len);
  auto end = bytes.size() - 16;
  uint64_t records = 0, total = 0;
  for (int i = 7; i >= 0; --i) {
    records = (records << 8) | static_cast<unsigned char>(bytes[end + static_cast<size_t>(i)]);
    total = (total << 8) | static_cast<unsigned char>(bytes[end + 8 + static_cast<size_t>(i)]);
  }
  records -= 1;
  total -= len;
  for (int i = 0; i < 8; ++i) {
    bytes[end + static_cast<size_t>(i)] = static_cast<char>((records >> (8 * i)) & 0xff);
    bytes[end + 8 + static_cast<size_t>(i)] = static_cast<char>((total >> (8 * i)) & 0xff);
  }
  memory_store dst;
  auto st = import_bytes(dir, bytes, dst);
  // A blob the file's snapshot names but the file lacks: a damaged file.
  CHECK(st.code() == errc::corruption);
  CHECK(st.message().find(state.to_hex()) != std::string::npos);
}

TEST_CASE("importing a missing file and exporting an unknown snapshot fail by name") {
  scratch_dir dir;
  memory_store s;
  auto r = import_snapshot(s, dir.file("nope.amber"));
  REQUIRE(!r);
  CHECK(r.error().code() == errc::not_found);
  CHECK(r.error().message().find("nope.amber") != std::string::npos);
  auto e = export_snapshot(s, sha256("x"), dir.file("out.amber"));
  REQUIRE(!e);
  CHECK(e.error().code() == errc::not_found);
  CHECK(!std::filesystem::exists(dir.file("out.amber")));
}
