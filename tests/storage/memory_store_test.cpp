// memory_store specifics. The behaviour shared with lmdb_store is in
// store_contract_test.cpp.

#include "amber/storage/memory_store.hpp"

#include <doctest/doctest.h>

#include <string>

using amber::digest;
using amber::errc;
using amber::memory_store;
using amber::sha256;
using amber::snapshot_commit;

TEST_CASE("a memory store describes itself as one") {
  memory_store s;
  CHECK(s.describe() == "memory store");
}

TEST_CASE("two memory stores share nothing") {
  memory_store a, b;
  REQUIRE(a.put_blobs({"only in a"}).ok());
  snapshot_commit c;
  c.manifest = "m";
  c.ref = "main";
  REQUIRE(a.commit_snapshot(c).ok());
  CHECK(b.has_blob(sha256("only in a")).code() == errc::not_found);
  CHECK(b.get_ref("main").error().code() == errc::not_found);
  CHECK(b.stats()->blobs == 0);
}

TEST_CASE("a memory store hands out copies that do not alias its contents") {
  memory_store s;
  auto put = s.put_blobs({"original"});
  REQUIRE(put.ok());
  std::string out;
  REQUIRE(s.get_blob(put->ids[0], &out).ok());
  out[0] = 'X';
  std::string again;
  REQUIRE(s.get_blob(put->ids[0], &again).ok());
  CHECK(again == "original");
}

TEST_CASE("a memory store keeps its own copy of the bytes it was given") {
  memory_store s;
  std::string buffer = "volatile";
  auto put = s.put_blobs({buffer});
  REQUIRE(put.ok());
  buffer.assign("changed!");
  std::string out;
  REQUIRE(s.get_blob(put->ids[0], &out).ok());
  CHECK(out == "volatile");
}

TEST_CASE("a blob planted under a foreign id by the test hook reads as corruption") {
  memory_store s;
  digest id = sha256("what the id promises");
  s.test_overwrite_blob(id, "something else");
  CHECK(s.has_blob(id).ok());
  CHECK(s.get_blob(id, nullptr).code() == errc::corruption);
  // Putting the promised bytes does not replace the planted ones.
  auto put = s.put_blobs({"what the id promises"});
  REQUIRE(put.ok());
  CHECK(put->written == 0);
  CHECK(s.get_blob(id, nullptr).code() == errc::corruption);
}
