// resolve_snapshot: what a user types (ref, node name, full or short hex id)
// to a snapshot id; plus store errors passing through the snapshot helpers.

#include "amber/checkpoint/snapshot.hpp"

#include <doctest/doctest.h>

#include <cctype>
#include <map>
#include <string>
#include <vector>

#include "amber/storage/memory_store.hpp"
#include "snapshot_fixture.hpp"

using amber::digest;
using amber::errc;
using amber::head_ref;
using amber::layer_kind;
using amber::memory_store;
using amber::resolve_snapshot;
using amber::sha256;
using amber::test::build_snapshot;
using amber::test::commit_manifest;

namespace {

std::string upper(std::string text) {
  for (auto& c : text)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

// How many stored snapshot ids start with `prefix` (lowercase).
size_t count_matches(memory_store& s, const std::string& prefix) {
  auto ids = s.list_manifests();
  REQUIRE(ids);
  size_t n = 0;
  for (auto& id : *ids)
    n += id.to_hex().compare(0, prefix.size(), prefix) == 0 ? 1 : 0;
  return n;
}

// Stores manifests that differ only in their creation time until two ids
// share their first four hex digits (a birthday collision: a few hundred
// manifests on average). Returns the two; the loop is bounded.
std::pair<digest, digest> make_colliding_pair(memory_store& s) {
  auto base = build_snapshot(s, "n", {"state"}).meta;
  std::map<std::string, digest> by_prefix;
  for (int64_t t = 0; t < 20000; ++t) {
    auto m = base;
    m.created_at_ms = t;
    auto id = commit_manifest(s, m);
    auto [it, fresh] = by_prefix.emplace(id.short_hex(4), id);
    if (!fresh && it->second != id)
      return {it->second, id};
  }
  FAIL("no two of 20000 snapshot ids share four hex digits");
  return {};
}

} // namespace

TEST_CASE("a ref name resolves to the snapshot it points at") {
  memory_store s;
  auto first = build_snapshot(s, "n", {"a"}, 1);
  auto second = build_snapshot(s, "n", {"b"}, 2);
  REQUIRE(s.set_ref("release-1", first.id).is_ok());
  auto r = resolve_snapshot(s, "release-1");
  REQUIRE(r);
  CHECK(*r == first.id);
  r = resolve_snapshot(s, "nodes/n/head");
  REQUIRE(r);
  CHECK(*r == second.id);
}

TEST_CASE("a node name resolves to that node's head") {
  memory_store s;
  auto bank = build_snapshot(s, "bank", {"a"});
  auto shop = build_snapshot(s, "shop", {"b"});
  auto r = resolve_snapshot(s, "bank");
  REQUIRE(r);
  CHECK(*r == bank.id);
  r = resolve_snapshot(s, "shop");
  REQUIRE(r);
  CHECK(*r == shop.id);
}

TEST_CASE("NAME~N walks N first parents up, as the command line does") {
  memory_store s;
  auto first = build_snapshot(s, "n", {"a"}, 1);
  auto second = build_snapshot(s, "n", {"b"}, 2, {first.id});
  auto third = build_snapshot(s, "n", {"c"}, 3, {second.id});
  REQUIRE(s.set_ref("release", third.id).is_ok());
  std::vector<std::pair<std::string, digest>> cases = {
    {"n~0", third.id},   {"n~1", second.id}, {"n~", second.id},
    {"n~2", first.id},   {"release~2", first.id},
    {third.id.to_hex() + "~1", second.id}, {third.id.to_hex().substr(0, 8) + "~2", first.id}};
  for (auto& c : cases) {
    // Named copies: doctest's messages are lambdas, and clang refuses to
    // capture a structured binding before C++20.
    const std::string& spec = c.first;
    const digest& want = c.second;
    auto r = resolve_snapshot(s, spec);
    REQUIRE_MESSAGE(r, spec);
    CHECK_MESSAGE(*r == want, spec);
  }
  auto past_root = resolve_snapshot(s, "n~3");
  REQUIRE_FALSE(past_root);
  CHECK(past_root.error().is_not_found());
  CHECK(past_root.error().message().find("has no parent") != std::string::npos);
  for (auto bad : {"n~x", "n~1~1", "n~-1", "n~1234567890"}) {
    auto r = resolve_snapshot(s, bad);
    REQUIRE_FALSE_MESSAGE(r, bad);
    CHECK_MESSAGE(r.error().code() == errc::invalid_argument, bad);
  }
  CHECK(amber::snapshot_spec_base("n~2") == "n");
}

TEST_CASE("a ref named like a node or a hex prefix wins over both") {
  memory_store s;
  auto first = build_snapshot(s, "n", {"a"}, 1);
  auto second = build_snapshot(s, "beef", {"b"}, 2);
  REQUIRE(s.set_ref("n", second.id).is_ok());
  auto prefix = first.id.short_hex(6);
  REQUIRE(s.set_ref(prefix, second.id).is_ok());
  auto r = resolve_snapshot(s, "n");
  REQUIRE(r);
  CHECK(*r == second.id);
  r = resolve_snapshot(s, prefix);
  REQUIRE(r);
  CHECK(*r == second.id);
  // "beef" is hex, but the node named so wins over the id prefix.
  r = resolve_snapshot(s, "beef");
  REQUIRE(r);
  CHECK(*r == second.id);
}

TEST_CASE("a full hex id resolves in either case") {
  memory_store s;
  auto built = build_snapshot(s, "n", {"a"});
  auto r = resolve_snapshot(s, built.id.to_hex());
  REQUIRE(r);
  CHECK(*r == built.id);
  r = resolve_snapshot(s, upper(built.id.to_hex()));
  REQUIRE(r);
  CHECK(*r == built.id);
}

TEST_CASE("a full hex id of no stored snapshot is not_found") {
  memory_store s;
  build_snapshot(s, "n", {"a"});
  auto r = resolve_snapshot(s, sha256("missing").to_hex());
  REQUIRE_FALSE(r);
  CHECK(r.error().code() == errc::not_found);
}

TEST_CASE("a unique prefix of 4 or more hex digits resolves in either case") {
  memory_store s;
  auto collision = make_colliding_pair(s);
  auto ids = s.list_manifests();
  REQUIRE(ids);
  int checked = 0;
  for (auto& id : *ids) {
    auto prefix = id.short_hex(4);
    if (count_matches(s, prefix) != 1)
      continue;
    for (auto& spec : {prefix, upper(prefix), id.short_hex(12), upper(id.short_hex(63))}) {
      CAPTURE(spec);
      auto r = resolve_snapshot(s, spec);
      REQUIRE(r);
      CHECK(*r == id);
    }
    if (++checked == 20)
      break;
  }
  CHECK(checked == 20);
  // The two colliding ids are told apart by one more digit than they share.
  auto a = collision.first.to_hex();
  auto b = collision.second.to_hex();
  size_t shared = 0;
  while (a[shared] == b[shared])
    ++shared;
  REQUIRE(shared >= 4);
  for (auto& [hex, id] : {std::pair{a, collision.first}, std::pair{b, collision.second}}) {
    auto spec = hex.substr(0, shared + 1);
    CAPTURE(spec);
    REQUIRE(count_matches(s, spec) == 1); // No third id shares it (ids are deterministic).
    auto r = resolve_snapshot(s, upper(spec));
    REQUIRE(r);
    CHECK(*r == id);
  }
}

TEST_CASE("an ambiguous prefix is invalid_argument listing the candidates") {
  memory_store s;
  auto [a, b] = make_colliding_pair(s);
  auto prefix = a.short_hex(4);
  REQUIRE(b.short_hex(4) == prefix);
  for (auto& spec : {prefix, upper(prefix)}) {
    CAPTURE(spec);
    auto r = resolve_snapshot(s, spec);
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == errc::invalid_argument);
    CHECK(r.error().message().find("ambiguous") != std::string::npos);
    CHECK(r.error().message().find(a.short_hex()) != std::string::npos);
    CHECK(r.error().message().find(b.short_hex()) != std::string::npos);
  }
}

TEST_CASE("a prefix of fewer than 4 hex digits is invalid_argument") {
  memory_store s;
  auto built = build_snapshot(s, "n", {"a"});
  for (size_t n = 1; n < 4; ++n) {
    auto spec = built.id.short_hex(n);
    CAPTURE(spec);
    auto r = resolve_snapshot(s, spec);
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == errc::invalid_argument);
    CHECK(r.error().message().find("too short") != std::string::npos);
  }
}

TEST_CASE("a name that matches nothing is not_found") {
  memory_store s;
  auto built = build_snapshot(s, "n", {"a"});
  auto r = resolve_snapshot(s, "no-such-node");
  REQUIRE_FALSE(r);
  CHECK(r.error().code() == errc::not_found);
  CHECK(r.error().message().find("no-such-node") != std::string::npos);
  // A hex prefix that no id starts with.
  std::string prefix = built.id.to_hex()[0] == '0' ? "1111" : "0000";
  r = resolve_snapshot(s, prefix);
  REQUIRE_FALSE(r);
  CHECK(r.error().code() == errc::not_found);
  // Too long to be a prefix, and not a name either.
  r = resolve_snapshot(s, built.id.to_hex() + "0");
  REQUIRE_FALSE(r);
  CHECK(r.error().code() == errc::not_found);
}

TEST_CASE("an empty store resolves nothing") {
  memory_store s;
  for (const char* spec : {"n", "abcd", "abcdef0123"}) {
    CAPTURE(spec);
    auto r = resolve_snapshot(s, spec);
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == errc::not_found);
  }
}

TEST_CASE("an empty snapshot name is invalid_argument") {
  memory_store s;
  auto r = resolve_snapshot(s, "");
  REQUIRE_FALSE(r);
  CHECK(r.error().code() == errc::invalid_argument);
}

TEST_CASE("store errors come out of resolve_snapshot and write_layer unchanged in code") {
  amber::test::faulty_store s;
  auto built = build_snapshot(s, "n", {"a"});
  s.fail_get_ref = true;
  auto r = resolve_snapshot(s, "n");
  REQUIRE_FALSE(r);
  CHECK(r.error().code() == errc::io_error);
  s.fail_get_ref = false;
  s.fail_list_manifests = true;
  r = resolve_snapshot(s, built.id.short_hex(8));
  REQUIRE_FALSE(r);
  CHECK(r.error().code() == errc::io_error);
  s.fail_put = true;
  auto d = amber::write_layer(s, layer_kind::cache, "bytes");
  REQUIRE_FALSE(d);
  CHECK(d.error().code() == errc::io_error);
  CHECK(d.error().message().find("cache layer") != std::string::npos);
}
