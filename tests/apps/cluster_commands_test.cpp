// The cluster forms of log, show, verify, gc, export, import and graph, run
// as a user would. Two members "a" and "b" get copies of the demo's store
// (node "bank", four snapshots), and cluster snapshots naming one snapshot
// of each are adopted into both stores, as a cluster checkpoint leaves them.

#include <doctest/doctest.h>

#include "amber/checkpoint/cluster_manifest.hpp"
#include "amber/storage/lmdb_store.hpp"
#include "fixtures.hpp"

using namespace amber::apps_test;

namespace {

struct cluster_fixture {
  scratch dir;
  std::string file = dir / "cluster.toml";
  std::vector<std::string> ids; // the bank's snapshots, newest first
  std::vector<std::string> clusters; // cluster snapshot ids, oldest first

  cluster_fixture() {
    copy_store(history_store(), dir / "data/a");
    copy_store(history_store(), dir / "data/b");
    ids = log_ids(history_store());
    write_text(file, R"([cluster]
name = "bank"
[[member]]
name = "a"
address = "127.0.0.1:7101"
graph = "a.toml"
store = "data/a"
[[member]]
name = "b"
address = "127.0.0.1:7102"
graph = "b.toml"
store = "data/b"
)");
    // Epoch 1 names bank~2 on both members, epoch 2 bank~1.
    adopt(ids[2], ids[2], 1);
    adopt(ids[1], ids[1], 2);
  }

  void adopt(const std::string& a, const std::string& b, uint64_t epoch) {
    amber::cluster_manifest m;
    m.cluster = "bank";
    m.incarnation = 1;
    m.epoch = epoch;
    m.created_at_ms = 1'700'000'000'000 + static_cast<int64_t>(epoch);
    m.members = {{"a", *amber::digest::from_hex(a), 3}, {"b", *amber::digest::from_hex(b), 3}};
    if (!clusters.empty())
      m.parents = {*amber::digest::from_hex(clusters.back())};
    auto bytes = amber::encode_cluster_manifest(m);
    for (auto member : {"a", "b"}) {
      auto db = amber::lmdb_store::open(dir / (std::string("data/") + member));
      REQUIRE(db);
      auto r = amber::adopt_cluster_manifest(**db, bytes);
      REQUIRE_MESSAGE(r, r.error().to_string());
    }
    clusters.push_back(amber::sha256(bytes).to_hex());
  }

  std::string store(const std::string& member) { return dir / ("data/" + member); }
};

} // namespace

TEST_CASE("log --cluster lists the cluster snapshot chain newest first") {
  cluster_fixture f;
  auto lines = json_lines(run_amber({"log", "--cluster", "bank", "--json", "--store", f.store("a")}).out);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].at("id") == f.clusters[1]);
  CHECK(lines[0].at("epoch") == 2);
  CHECK(lines[0].at("members").size() == 2);
  CHECK(lines[0].at("members")[0].at("snapshot") == f.ids[1]);
  CHECK(lines[1].at("parents").empty());
  auto text = run_amber({"log", "--cluster", "bank", "--store", f.store("a")});
  REQUIRE(text.code == 0);
  CHECK(contains(text.out, f.clusters[1].substr(0, 12)));
  CHECK(contains(text.out, "bank #1 epoch 2  a=" + f.ids[1].substr(0, 12)));
  auto none = run_amber({"log", "--cluster", "other", "--store", f.store("a")});
  CHECK(none.code == 3);
  CHECK(contains(none.err, "clusters/other/head"));
  // The node history is unchanged by the cluster snapshots beside it.
  CHECK(log_ids(f.store("a")) == f.ids);
}

TEST_CASE("show prints a cluster snapshot by cluster:NAME, ~N, its ref or its id") {
  cluster_fixture f;
  for (auto spec : {std::string("cluster:bank"), std::string("clusters/bank/head"),
                    f.clusters[1], f.clusters[1].substr(0, 10)}) {
    CAPTURE(spec);
    auto j = amber_json({"show", spec, "--store", f.store("a")});
    CHECK(j.at("id") == f.clusters[1]);
    CHECK(j.at("kind") == "cluster");
    CHECK(j.at("manifest").at("epoch") == 2);
  }
  auto parent = amber_json({"show", "cluster:bank~1", "--store", f.store("b")});
  CHECK(parent.at("id") == f.clusters[0]);
  auto text = run_amber({"show", "cluster:bank", "--store", f.store("a")});
  REQUIRE(text.code == 0);
  CHECK(contains(text.out, "cluster snapshot " + f.clusters[1]));
  CHECK(contains(text.out, "parent      " + f.clusters[0]));
  CHECK(contains(text.out, f.ids[1] + "  (in this store)"));
  CHECK(run_amber({"show", "cluster:bank~2", "--store", f.store("a")}).code == 3);
  // Node-snapshot commands name a cluster snapshot instead of calling it corrupt.
  auto diff = run_amber({"diff", "bank", "cluster:bank", "--store", f.store("a")});
  CHECK(diff.code == 1);
  CHECK(contains(diff.err, "is a cluster snapshot"));
}

TEST_CASE("verify checks cluster snapshots in one store and across the members' stores") {
  cluster_fixture f;
  auto plain = amber_json({"verify", "--store", f.store("a")});
  CHECK(plain.at("ok") == true);
  CHECK(plain.at("snapshots") == 4);
  CHECK(plain.at("cluster_snapshots") == 2);
  auto r = run_amber({"verify", "--cluster", f.file});
  REQUIRE_MESSAGE(r.code == 0, (r.out + r.err));
  CHECK(contains(r.out, "cluster snapshot " + f.clusters[1]));
  CHECK(contains(r.out, "checked 2 members: all ok"));
  auto older = amber_json({"verify", "--cluster", f.file, "cluster:bank~1"});
  CHECK(older.at("id") == f.clusters[0]);
  CHECK(older.at("members")[1].at("snapshot") == f.ids[2]);

  // Damage a state blob of b's snapshot: verify names member b, exit 1.
  auto state = states_of(f.store("b"), f.ids[1]).at("acct-7");
  {
    auto db = amber::lmdb_store::open(f.store("b"));
    REQUIRE(db);
    REQUIRE((*db)->test_overwrite_blob(*amber::digest::from_hex(state), "garbage"));
  }
  auto bad = run_amber({"verify", "--cluster", f.file});
  CHECK(bad.code == 1);
  CHECK(contains(bad.out, "member 'b'"));
  auto j = run_amber({"verify", "--cluster", f.file, "--json"});
  CHECK(j.code == 1);
  auto doc = json::parse(j.out);
  CHECK(doc.at("ok") == false);
  CHECK(doc.at("members")[0].at("ok") == true);
  CHECK(doc.at("members")[1].at("ok") == false);

  // A member whose store is missing is named too.
  write_text(f.file, read_text(f.file) + "[[member]]\nname = \"c\"\naddress = \"127.0.0.1:7103\"\n"
                                         "graph = \"c.toml\"\nstore = \"data/c\"\n");
  auto missing = run_amber({"verify", "--cluster", f.file});
  CHECK(missing.code == 3);
  CHECK(contains(missing.err, "member 'c'"));
}

TEST_CASE("gc keeps the member snapshot the cluster head names, whatever --keep says") {
  cluster_fixture f;
  auto r = amber_json({"gc", "--keep", "1", "--store", f.store("a")});
  CHECK(r.at("kept_cluster_snapshots") == 1);
  auto left = log_ids(f.store("a"));
  CHECK(left == std::vector<std::string>{f.ids[0], f.ids[1]});
  CHECK(run_amber({"verify", "--store", f.store("a")}).code == 0);
  CHECK(amber_json({"show", "cluster:bank", "--store", f.store("a")}).at("id") == f.clusters[1]);
}

TEST_CASE("export --cluster and import --cluster move a whole cluster snapshot") {
  cluster_fixture f;
  std::string out = f.dir / "bank.amber";
  auto e = amber_json({"export", "--cluster", f.file, "cluster:bank", out});
  CHECK(e.at("id") == f.clusters[1]);
  CHECK(e.at("members").size() == 2);
  CHECK(run_amber({"export", "--cluster", f.file, "cluster:bank", out}).code == 1); // exists
  // A node import refuses it by name.
  auto wrong = run_amber({"import", out, "--store", f.dir / "plain"});
  CHECK(wrong.code == 1);
  CHECK(contains(wrong.err, "--cluster"));

  std::string file2 = f.dir / "other.toml";
  write_text(file2, R"([cluster]
name = "bank"
[[member]]
name = "a"
address = "127.0.0.1:7201"
graph = "a.toml"
store = "new/a"
[[member]]
name = "b"
address = "127.0.0.1:7202"
graph = "b.toml"
store = "new/b"
)");
  auto imp = amber_json({"import", "--cluster", file2, out});
  CHECK(imp.at("id") == f.clusters[1]);
  CHECK(imp.at("members")[0].at("cluster_head_moved") == true);
  auto v = run_amber({"verify", "--cluster", file2});
  CHECK_MESSAGE(v.code == 0, (v.out + v.err));
  CHECK(amber_json({"show", "bank", "--store", f.dir / "new/b"}).at("id") == f.ids[1]);
  CHECK(run_amber({"verify", "--store", f.dir / "new/a"}).code == 0);
}

TEST_CASE("graph --dot --cluster draws one subgraph per member and cross-member wires dashed") {
  scratch dir;
  std::string file = dir / "c.toml";
  write_text(file, R"([cluster]
name = "bank"
[[member]]
name = "a"
address = "127.0.0.1:7101"
graph = "a.toml"
store = "data/a"
[[member]]
name = "b"
address = "127.0.0.1:7102"
graph = "b.toml"
store = "data/b"
)");
  write_text(dir / "a.toml", R"([node]
name = "a"
[[graph]]
name = "g"
[[graph.component]]
name = "alice"
type = "bank.account"
[[graph.component]]
name = "carol"
type = "bank.account"
[[graph.wire]]
from = "alice"
port = "local"
to = "carol"
[[graph.wire]]
from = "alice"
port = "pay"
to = "b/bob"
)");
  write_text(dir / "b.toml", R"([node]
name = "b"
[[graph]]
name = "g"
[[graph.component]]
name = "bob"
type = "bank.account"
)");
  auto r = run_amber({"graph", "--dot", "--cluster", file});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK(contains(r.out, "subgraph \"cluster_0\""));
  CHECK(contains(r.out, "subgraph \"cluster_1\""));
  CHECK(contains(r.out, "\"a/alice\" -> \"a/carol\" [label=\"local\"];"));
  CHECK(contains(r.out, "\"a/alice\" -> \"b/bob\" [label=\"pay\", style=dashed"));
  auto j = amber_json({"graph", "--cluster", file});
  CHECK(j.at("members").size() == 2);
  auto text = run_amber({"graph", "--cluster", file});
  CHECK(contains(text.out, "alice --pay--> b/bob  (cross-member)"));
  // A wire to a member the cluster does not have is a bad graph.
  write_text(dir / "b.toml", read_text(dir / "b.toml")
                               + "[[graph.wire]]\nfrom = \"bob\"\nport = \"x\"\nto = \"z/q\"\n");
  auto bad = run_amber({"graph", "--cluster", file});
  CHECK(bad.code == 5);
  CHECK(contains(bad.err, "member 'b'"));
}
