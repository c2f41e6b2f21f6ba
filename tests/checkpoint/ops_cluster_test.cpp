// Cluster snapshots in the store-level operations: history lists them
// apart, resolve finds them, verify checks them (in one store and across
// the members' stores), gc keeps what a kept cluster snapshot needs, and
// export/import moves a whole cluster snapshot in one file.

#include <doctest/doctest.h>

#include <fstream>
#include <iterator>
#include <map>

#include "amber/checkpoint/archive.hpp"
#include "amber/checkpoint/cluster_manifest.hpp"
#include "amber/checkpoint/diff.hpp"
#include "amber/checkpoint/gc.hpp"
#include "amber/checkpoint/history.hpp"
#include "amber/checkpoint/snapshot.hpp"
#include "amber/checkpoint/verify.hpp"
#include "amber/storage/memory_store.hpp"
#include "ops_fixture.hpp"

using namespace amber;
using namespace amber::ops_test;

namespace {

// Two members "a" and "b", each with its own store and a chain of node
// snapshots; cluster snapshots naming the members' snapshots at step i,
// adopted into both stores.
struct two_members {
  memory_store sa, sb;
  std::vector<built> ca, cb;
  std::vector<digest> clusters; // oldest first

  explicit two_members(int steps = 3) {
    ca = make_chain(sa, "a", steps);
    cb = make_chain(sb, "b", steps);
  }
  std::map<std::string, store*> stores() { return {{"a", &sa}, {"b", &sb}}; }

  digest commit_cluster(size_t step, uint64_t epoch, uint64_t incarnation = 0) {
    cluster_manifest m;
    m.cluster = "bank";
    m.incarnation = incarnation;
    m.epoch = epoch;
    m.created_at_ms = 1'700'000'100'000 + static_cast<int64_t>(epoch);
    m.members = {{"a", ca[step].id, ca[step].meta.node.incarnation},
                 {"b", cb[step].id, cb[step].meta.node.incarnation}};
    if (!clusters.empty())
      m.parents = {clusters.back()};
    auto bytes = encode_cluster_manifest(m);
    for (store* s : {static_cast<store*>(&sa), static_cast<store*>(&sb)}) {
      auto r = adopt_cluster_manifest(*s, bytes);
      REQUIRE_MESSAGE(r, r.error().to_string());
    }
    clusters.push_back(sha256(bytes));
    return clusters.back();
  }
};

bool has_manifest(store& s, const digest& id) {
  return s.get_manifest(id, nullptr).is_ok();
}

} // namespace

TEST_CASE("history lists cluster snapshots apart from node snapshots") {
  two_members t;
  auto c0 = t.commit_cluster(0, 1);
  auto c1 = t.commit_cluster(1, 2);
  auto hist = read_history(t.sa);
  REQUIRE(hist);
  CHECK(hist->unreadable.empty());
  CHECK(hist->snapshots.size() == 3);
  for (auto& s : hist->snapshots)
    CHECK(s.node == "a");
  REQUIRE(hist->clusters.size() == 2);
  auto chain = cluster_chain(t.sa, "bank");
  REQUIRE(chain);
  REQUIRE(chain->size() == 2);
  CHECK((*chain)[0].id == c1);
  CHECK((*chain)[1].id == c0);
}

TEST_CASE("resolve finds a cluster snapshot by cluster:NAME, its ref, full and short id") {
  two_members t;
  auto c = t.commit_cluster(2, 1);
  for (auto spec : {std::string("cluster:bank"), std::string("clusters/bank/head"), c.to_hex(),
                    c.short_hex(10)}) {
    CAPTURE(spec);
    auto r = resolve_snapshot(t.sa, spec);
    REQUIRE_MESSAGE(r, r.error().to_string());
    CHECK(*r == c);
  }
  CHECK(resolve_snapshot(t.sa, "cluster:none").error().is_not_found());
  CHECK(resolve_snapshot(t.sa, "cluster:").error().code() == errc::invalid_argument);
  // Node snapshot readers refuse it by name instead of calling it corrupt.
  auto loaded = load_snapshot(t.sa, c);
  REQUIRE_FALSE(loaded);
  CHECK(loaded.error().code() == errc::invalid_argument);
  CHECK(loaded.error().message().find("cluster snapshot") != std::string::npos);
  CHECK(diff_snapshots(t.sa, t.ca[0].id, c).error().code() == errc::invalid_argument);
  scratch_dir dir;
  CHECK(export_snapshot(t.sa, c, dir.file("x.amber")).error().code() == errc::invalid_argument);
}

TEST_CASE("verify of one store checks its cluster snapshots and the cluster head") {
  two_members t;
  t.commit_cluster(0, 1);
  t.commit_cluster(2, 2);
  auto r = verify_store(t.sa);
  REQUIRE(r);
  CHECK_MESSAGE(r->ok(), (r->problems.empty() ? "" : r->problems[0].problem.to_string()));
  CHECK(r->snapshots == 3);
  CHECK(r->cluster_snapshots == 2);

  SUBCASE("a cluster head on a node snapshot, a node head on a cluster snapshot") {
    REQUIRE(t.sa.set_ref("clusters/bank/head", t.ca[0].id));
    REQUIRE(t.sa.set_ref("nodes/a/head", t.clusters[0]));
    auto bad = verify_store(t.sa);
    REQUIRE(bad);
    REQUIRE(bad->problems.size() == 2);
    CHECK(bad->problems[0].object == "clusters/bank/head");
    CHECK(bad->problems[1].object == "nodes/a/head");
  }
  SUBCASE("a cluster head under another cluster's name") {
    REQUIRE(t.sa.set_ref("clusters/other/head", t.clusters[1]));
    auto bad = verify_store(t.sa);
    REQUIRE(bad);
    REQUIRE(bad->problems.size() == 1);
    CHECK(bad->problems[0].problem.message().find("cluster 'bank'") != std::string::npos);
  }
}

TEST_CASE("verify_cluster_snapshot checks every member snapshot in its own store") {
  two_members t;
  auto c = t.commit_cluster(1, 1);
  auto r = verify_cluster_snapshot(t.stores(), c);
  REQUIRE_MESSAGE(r, r.error().to_string());
  CHECK(r->ok());
  REQUIRE(r->members.size() == 2);
  CHECK(r->members[0].member == "a");
  CHECK(r->members[0].holds_cluster_manifest);
  CHECK(r->members[1].report.blobs == 7); // 5 layer indexes, 2 states

  SUBCASE("a damaged state blob in b's store names member b") {
    auto state = t.cb[1].cache.components[0].state;
    t.sb.test_overwrite_blob(state, "garbage");
    auto bad = verify_cluster_snapshot(t.stores(), c);
    REQUIRE(bad);
    CHECK_FALSE(bad->ok());
    CHECK(bad->members[0].ok());
    CHECK_FALSE(bad->members[1].ok());
    CHECK(bad->members[1].problem.message().find("member 'b'") != std::string::npos);
  }
  SUBCASE("a member missing from the cluster file, and a snapshot missing from a store") {
    memory_store empty;
    auto bad = verify_cluster_snapshot({{"a", &t.sa}, {"b", &empty}}, c);
    REQUIRE(bad);
    CHECK(bad->members[1].problem.is_not_found());
    CHECK(bad->members[1].problem.message().find("member 'b'") != std::string::npos);
    auto unlisted = verify_cluster_snapshot({{"a", &t.sa}, {"z", &t.sb}}, c);
    REQUIRE(unlisted);
    CHECK(unlisted->members[1].problem.message().find("'b'") != std::string::npos);
    CHECK(unlisted->unlisted == std::vector<std::string>{"z"});
  }
  SUBCASE("an id no store holds") {
    CHECK(verify_cluster_snapshot(t.stores(), sha256("none")).error().is_not_found());
  }
}

TEST_CASE("gc keeps the member snapshot a kept cluster snapshot names, whatever --keep says") {
  two_members t(4);
  // The cluster committed step 1; the nodes went on to step 3 since.
  auto c = t.commit_cluster(1, 1);
  gc_options o;
  o.keep = 1;
  auto r = collect_garbage(t.sa, o);
  REQUIRE_MESSAGE(r, r.error().to_string());
  CHECK(has_manifest(t.sa, c));
  CHECK(has_manifest(t.sa, t.ca[3].id)); // the head
  CHECK(has_manifest(t.sa, t.ca[1].id)); // the cluster snapshot's part
  CHECK_FALSE(has_manifest(t.sa, t.ca[0].id));
  CHECK_FALSE(has_manifest(t.sa, t.ca[2].id));
  CHECK(r->kept_snapshots == 2);
  CHECK(r->kept_cluster_snapshots == 1);
  CHECK(load_snapshot(t.sa, t.ca[1].id)); // whole: its blobs were kept
  auto v = verify_store(t.sa);
  REQUIRE(v);
  CHECK(v->ok());

  SUBCASE("a newer cluster snapshot releases the old one's part, and --keep trims the chain") {
    auto c2 = t.commit_cluster(3, 2);
    auto again = collect_garbage(t.sa, o);
    REQUIRE(again);
    CHECK(has_manifest(t.sa, c2));
    CHECK_FALSE(has_manifest(t.sa, c));
    CHECK_FALSE(has_manifest(t.sa, t.ca[1].id));
    CHECK(cluster_chain(t.sa, "bank")->size() == 1);
  }
  SUBCASE("without --keep every cluster snapshot stays") {
    t.commit_cluster(3, 2);
    auto all = collect_garbage(t.sa, gc_options{});
    REQUIRE(all);
    CHECK(all->removed_snapshots.empty());
    CHECK(cluster_chain(t.sa, "bank")->size() == 2);
  }
}

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

} // namespace

TEST_CASE("a cluster snapshot exports to one file and imports into empty member stores") {
  two_members t;
  auto c = t.commit_cluster(2, 5);
  scratch_dir dir;
  auto path = dir.file("bank.amber");
  auto e = export_cluster_snapshot(t.stores(), c, path);
  REQUIRE_MESSAGE(e, e.error().to_string());
  CHECK(e->cluster == "bank");
  REQUIRE(e->members.size() == 2);
  CHECK(e->members[1].snapshot == t.cb[2].id);
  CHECK(e->members[0].blobs == 7);
  // A node import refuses it by name.
  memory_store one;
  auto wrong = import_snapshot(one, path);
  REQUIRE_FALSE(wrong);
  CHECK(wrong.error().message().find("--cluster") != std::string::npos);

  memory_store na, nb;
  std::map<std::string, store*> targets{{"a", &na}, {"b", &nb}};
  auto r = import_cluster_snapshot(targets, path);
  REQUIRE_MESSAGE(r, r.error().to_string());
  CHECK(r->id == c);
  REQUIRE(r->members.size() == 2);
  CHECK(r->members[0].cluster_head_moved);
  CHECK(r->members[0].snapshot.head_moved);
  CHECK(*na.get_ref("clusters/bank/head") == c);
  CHECK(*nb.get_ref("nodes/b/head") == t.cb[2].id);
  auto v = verify_cluster_snapshot(targets, c);
  REQUIRE(v);
  CHECK(v->ok());
  CHECK(verify_store(na)->ok());

  SUBCASE("importing again is harmless") {
    auto again = import_cluster_snapshot(targets, path);
    REQUIRE(again);
    CHECK_FALSE(again->members[0].cluster_head_moved);
    CHECK(again->members[0].snapshot.already_present);
  }
  SUBCASE("a member the cluster file lacks: nothing is written") {
    memory_store x;
    auto bad = import_cluster_snapshot({{"a", &x}}, path);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message().find("'b'") != std::string::npos);
    CHECK(x.stats()->blobs == 0);
  }
  SUBCASE("a flipped byte is found before anything is written") {
    auto bytes = slurp(path);
    bytes[bytes.size() / 2] ^= 0x01;
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    memory_store x, y;
    auto bad = import_cluster_snapshot({{"a", &x}, {"b", &y}}, path);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code() == errc::corruption);
    CHECK(x.stats()->blobs == 0);
    CHECK(y.stats()->blobs == 0);
  }
}

TEST_CASE("node exports keep format 1, and a cluster import refuses them") {
  two_members t;
  scratch_dir dir;
  auto path = dir.file("a.amber");
  REQUIRE(export_snapshot(t.sa, t.ca[2].id, path));
  auto bytes = slurp(path);
  CHECK(bytes.substr(8, 4) == std::string("\x01\x00\x00\x00", 4));
  memory_store x;
  auto bad = import_cluster_snapshot({{"a", &x}}, path);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code() == errc::invalid_argument);
  CHECK(import_snapshot(x, path));
}
