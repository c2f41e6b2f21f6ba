// The cluster manifest: canonical encoding, a decoder that names the bad
// field and refuses oversized input, and adopt_cluster_manifest moving the
// cluster's head only forward, in one commit.

#include "amber/checkpoint/cluster_manifest.hpp"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "amber/checkpoint/manifest.hpp"
#include "amber/storage/memory_store.hpp"

using namespace amber;
using json = nlohmann::json;

namespace {

cluster_manifest sample(uint64_t incarnation = 1, uint64_t epoch = 3) {
  cluster_manifest m;
  m.cluster = "bank";
  m.incarnation = incarnation;
  m.epoch = epoch;
  m.created_at_ms = 1'700'000'000'000 + static_cast<int64_t>(epoch);
  m.members = {{"b", sha256("b-snap"), 2}, {"a", sha256("a-snap"), 1}};
  return m;
}

status decode_error(const json& doc) {
  auto r = decode_cluster_manifest(doc.dump());
  REQUIRE_FALSE(r);
  return r.error();
}

} // namespace

TEST_CASE("a cluster manifest encodes canonically, sorted by member, and decodes back") {
  auto m = sample();
  auto bytes = encode_cluster_manifest(m);
  CHECK(bytes.find(' ') == std::string::npos);
  auto back = decode_cluster_manifest(bytes);
  REQUIRE_MESSAGE(back, back.error().to_string());
  REQUIRE(back->members.size() == 2);
  CHECK(back->members[0].member == "a");
  CHECK(back->members[1].member == "b");
  CHECK(back->members[1].snapshot == sha256("b-snap"));
  CHECK(back->members[1].incarnation == 2);
  CHECK(back->cluster == "bank");
  CHECK(back->incarnation == 1);
  CHECK(back->epoch == 3);
  CHECK(back->created_at_ms == m.created_at_ms);
  CHECK(back->parents.empty());
  CHECK(encode_cluster_manifest(*back) == bytes);
  CHECK(back->find("a") != nullptr);
  CHECK(back->find("c") == nullptr);
}

TEST_CASE("is_cluster_manifest tells cluster manifests from node manifests") {
  CHECK(is_cluster_manifest(encode_cluster_manifest(sample())));
  manifest node;
  node.node.name = "\"media_type\":\"application/vnd.amber.cluster-manifest.v1+json\"";
  CHECK_FALSE(is_cluster_manifest(encode_manifest(node)));
  CHECK_FALSE(is_cluster_manifest(""));
  // A node manifest decoder refuses a cluster manifest, and the reverse.
  CHECK(decode_manifest(encode_cluster_manifest(sample())).error().code() == errc::format_mismatch);
  CHECK_FALSE(decode_cluster_manifest(encode_manifest(node)));
}

TEST_CASE("decoding a damaged cluster manifest names the field") {
  auto good = json::parse(encode_cluster_manifest(sample()));
  auto without = [&](const char* key) {
    auto d = good;
    d.erase(key);
    return d;
  };
  for (auto key : {"cluster", "incarnation", "epoch", "members", "created_at_ms", "parents"}) {
    CAPTURE(key);
    auto st = decode_error(without(key));
    CHECK(st.code() == errc::corruption);
    CHECK(st.message().find(std::string("'") + key + "'") != std::string::npos);
  }
  auto d = good;
  d["members"][1]["snapshot"] = "xyz";
  CHECK(decode_error(d).message().find("members[1].snapshot") != std::string::npos);
  d = good;
  d["members"][0]["member"] = "a/b";
  CHECK(decode_error(d).message().find("members[0].member") != std::string::npos);
  d = good;
  d["members"][1]["member"] = "a";
  CHECK(decode_error(d).message().find("duplicate") != std::string::npos);
  d = good;
  d["members"] = json::array();
  CHECK(decode_error(d).message().find("'members' is empty") != std::string::npos);
  d = good;
  d["schema_version"] = 2;
  CHECK(decode_error(d).code() == errc::format_mismatch);
  d = good;
  d["epoch"] = -1;
  CHECK(decode_error(d).message().find("'epoch'") != std::string::npos);
  CHECK(decode_cluster_manifest("{\"trunc").error().code() == errc::corruption);
  CHECK(decode_cluster_manifest("[]").error().code() == errc::corruption);
  d = good;
  for (int i = 0; i < 20; ++i)
    d["parents"].push_back(sha256(std::to_string(i)).to_hex());
  CHECK(decode_error(d).message().find("'parents' has 20") != std::string::npos);
  std::string huge(max_cluster_manifest_bytes + 1, ' ');
  CHECK(decode_cluster_manifest(huge).error().message().find("at most") != std::string::npos);
}

TEST_CASE("adopt stores the manifest and moves the cluster head only forward") {
  memory_store s;
  auto first = encode_cluster_manifest(sample(1, 3));
  auto r = adopt_cluster_manifest(s, first);
  REQUIRE_MESSAGE(r, r.error().to_string());
  CHECK(r->second);
  CHECK(r->first == sha256(first));
  CHECK(*s.get_ref(cluster_head_ref("bank")) == r->first);
  CHECK(cluster_head_ref("bank") == "clusters/bank/head");

  SUBCASE("the same bytes again: ok, not moved") {
    auto again = adopt_cluster_manifest(s, first);
    REQUIRE(again);
    CHECK_FALSE(again->second);
    CHECK(again->first == r->first);
  }
  SUBCASE("an older cut is stored, the head stays") {
    for (auto [inc, ep] : {std::pair<uint64_t, uint64_t>{1, 2}, {0, 9}, {1, 3}}) {
      auto older = sample(inc, ep);
      older.created_at_ms += 1; // a different manifest with the same (inc, epoch) too
      auto o = adopt_cluster_manifest(s, encode_cluster_manifest(older));
      REQUIRE(o);
      CHECK_FALSE(o->second);
      CHECK(s.get_manifest(o->first, nullptr).is_ok());
      CHECK(*s.get_ref(cluster_head_ref("bank")) == r->first);
    }
  }
  SUBCASE("a newer cut moves it: a later epoch or a later incarnation") {
    auto next = sample(1, 4);
    next.parents = {r->first};
    auto n = adopt_cluster_manifest(s, encode_cluster_manifest(next));
    REQUIRE(n);
    CHECK(n->second);
    auto later = sample(2, 1);
    later.parents = {n->first};
    auto l = adopt_cluster_manifest(s, encode_cluster_manifest(later));
    REQUIRE(l);
    CHECK(l->second);
    CHECK(*s.get_ref(cluster_head_ref("bank")) == l->first);
    auto chain = cluster_chain(s, "bank");
    REQUIRE(chain);
    REQUIRE(chain->size() == 3);
    CHECK((*chain)[0].id == l->first);
    CHECK((*chain)[1].id == n->first);
    CHECK((*chain)[2].id == r->first);
    auto m = read_cluster_manifest(s, n->first);
    REQUIRE(m);
    CHECK(m->epoch == 4);
    auto parents = manifest_parents(encode_cluster_manifest(later));
    REQUIRE(parents);
    CHECK(*parents == std::vector<digest>{n->first});
  }
  SUBCASE("garbage is refused and nothing is stored") {
    auto before = s.list_manifests();
    CHECK_FALSE(adopt_cluster_manifest(s, "{}"));
    CHECK(s.list_manifests()->size() == before->size());
  }
}

TEST_CASE("a cluster head that points at a node snapshot is corruption, not overwritten") {
  memory_store s;
  manifest node;
  node.node.name = "n";
  snapshot_commit c;
  c.manifest = encode_manifest(node);
  c.ref = cluster_head_ref("bank");
  c.check_expected_head = false;
  REQUIRE(s.commit(c));
  auto r = adopt_cluster_manifest(s, encode_cluster_manifest(sample()));
  REQUIRE_FALSE(r);
  CHECK(r.error().message().find("clusters/bank/head") != std::string::npos);
  CHECK(read_cluster_manifest(s, sha256(c.manifest)).error().code() == errc::invalid_argument);
  CHECK(cluster_chain(s, "none")->empty());
}
