// log, show, diff, verify, gc, export, import and graph, run as a user
// would on temporary stores, including their failure paths.

#include <doctest/doctest.h>

#include <algorithm>
#include <regex>

#include "amber/checkpoint/layers.hpp"
#include "amber/checkpoint/manifest.hpp"
#include "amber/checkpoint/serial.hpp"
#include "amber/checkpoint/snapshot.hpp"
#include "amber/storage/lmdb_store.hpp"
#include "fixtures.hpp"

using namespace amber::apps_test;

namespace {

// The state digest of component `name` in `spec`, and the ids of the
// snapshots of the store, for corrupting one state blob.
std::string state_of(const std::string& store, const std::string& spec, const std::string& name) {
  return states_of(store, spec).at(name);
}

void overwrite_blob(const std::string& store, const std::string& hex, const std::string& bytes) {
  auto db = amber::lmdb_store::open(store);
  REQUIRE(db);
  auto id = amber::digest::from_hex(hex);
  REQUIRE(id);
  REQUIRE((*db)->test_overwrite_blob(*id, bytes));
}

} // namespace

TEST_CASE("log lists the history newest first, as text, as a graph and as JSON") {
  const auto& store = history_store();
  auto text = run_amber({"log", "--store", store});
  REQUIRE(text.code == 0);
  auto lines = json_lines(run_amber({"log", "--json", "--store", store}).out);
  REQUIRE(lines.size() == 4);
  for (size_t i = 0; i < lines.size(); ++i) {
    auto& j = lines[i];
    for (auto key : {"id", "parents", "node", "incarnation", "created_at", "created_at_ms",
                     "bytes", "refs"})
      CHECK_MESSAGE(j.contains(key), key);
    CHECK(j.at("node") == "bank");
    CHECK(j.at("incarnation") == 3 - i);
    if (i + 1 < lines.size())
      CHECK(j.at("parents") == json::array({lines[i + 1].at("id")}));
    CHECK(contains(text.out, j.at("id").get<std::string>().substr(0, 12)));
  }
  CHECK(lines[0].at("refs") == json::array({"nodes/bank/head"}));
  CHECK(lines[3].at("parents").empty());
  CHECK(contains(text.out, "(nodes/bank/head)"));
  auto graph = run_amber({"log", "--graph", "--store", store});
  REQUIRE(graph.code == 0);
  CHECK(graph.out.rfind("*  ", 0) == 0);
  auto two = json_lines(run_amber({"log", "-n", "2", "--json", "--store", store}).out);
  CHECK(two.size() == 2);
  auto none = run_amber({"log", "--node", "other", "--store", store});
  CHECK(none.code == 0);
  CHECK(none.out.empty());
}

TEST_CASE("show prints the manifest in full, by ref, node, id, short id or ancestry") {
  const auto& store = history_store();
  auto ids = log_ids(store);
  auto r = run_amber({"show", "bank", "--store", store});
  REQUIRE(r.code == 0);
  CHECK(contains(r.out, ids[0]));
  for (auto layer : {"model", "cache", "world", "effects", "trace"})
    CHECK(contains(r.out, std::string("  ") + layer));
  CHECK(std::regex_search(r.out, std::regex(R"(bank\.account +1000 )")));
  CHECK(contains(r.out, "parent      " + ids[1]));
  for (auto spec : {std::string("nodes/bank/head"), ids[0], ids[0].substr(0, 7)}) {
    auto j = amber_json({"show", spec, "--store", store});
    CHECK(j.at("id") == ids[0]);
  }
  auto j = amber_json({"show", "bank~2", "--store", store});
  CHECK(j.at("id") == ids[2]);
  CHECK(j.at("manifest").at("layers").size() == 5);
  CHECK(j.at("components").size() == 1008);
  CHECK(j.at("components_by_type").size() == 3);
  auto listing = run_amber({"show", ids[1].substr(0, 10), "--components", "--store", store});
  CHECK(listing.code == 0);
  CHECK(contains(listing.out, "acct-999"));
}

TEST_CASE("an unknown id, ref or ancestor exits 3 and names what was asked for") {
  const auto& store = history_store();
  for (auto spec : {"deadbeef", "no-such-node", "nodes/none/head", "bank~4"}) {
    CAPTURE(spec);
    auto r = run_amber({"show", spec, "--store", store});
    CHECK(r.code == 3);
    CHECK(contains(r.err, spec));
  }
  auto j = run_amber({"show", "deadbeef", "--json", "--store", store});
  CHECK(j.code == 3);
  CHECK(json::parse(j.out).at("error").at("code") == "not_found");
  for (auto args : std::vector<std::vector<std::string>>{{"diff", "bank", "deadbeef"},
                                                         {"export", "deadbeef", "x.amber"},
                                                         {"graph", "deadbeef"}}) {
    args.push_back("--store");
    args.push_back(store);
    CHECK(run_amber(args).code == 3);
  }
}

TEST_CASE("an ambiguous short id exits 4 and lists the candidates") {
  scratch dir;
  std::string store = dir / "many";
  std::string prefix;
  std::vector<std::string> pair;
  {
    amber::lmdb_options opts;
    opts.create_if_missing = true;
    opts.no_sync = true;
    auto db = amber::lmdb_store::open(store, opts);
    REQUIRE(db);
    amber::manifest m;
    m.node.name = "many";
    amber::world_layer world;
    world.node_name = "many";
    const std::string indexes[amber::layer_count] = {
      amber::encode(amber::model_layer{}), amber::encode(amber::cache_layer{}),
      amber::encode(world), amber::encode(amber::effects_layer{}),
      amber::encode(amber::trace_layer{})};
    for (size_t k = 0; k < amber::layer_count; ++k) {
      auto d = amber::write_layer(**db, static_cast<amber::layer_kind>(k), indexes[k]);
      REQUIRE(d);
      m.layers[k] = *d;
    }
    // Vary the creation time until two manifests share four hex digits.
    std::map<std::string, std::string> seen; // prefix -> manifest bytes
    for (int64_t t = 0; pair.empty(); ++t) {
      m.created_at_ms = t;
      auto bytes = amber::encode_manifest(m);
      auto p = amber::sha256(bytes).to_hex().substr(0, 4);
      if (auto i = seen.find(p); i != seen.end()) {
        prefix = p;
        pair = {i->second, bytes};
      }
      seen.emplace(p, bytes);
    }
    std::vector<amber::digest> refs;
    for (auto& l : m.layers)
      refs.push_back(l.index);
    for (auto& bytes : pair) {
      amber::snapshot_commit c;
      c.manifest = bytes;
      c.references = refs;
      REQUIRE((*db)->commit_snapshot(c));
    }
  }
  auto r = run_amber({"show", prefix, "--store", store});
  CHECK(r.code == 4);
  CHECK(contains(r.err, "ambiguous"));
  for (auto& bytes : pair)
    CHECK(contains(r.err, amber::sha256(bytes).short_hex()));
  CHECK(run_amber({"diff", prefix, prefix, "--store", store}).code == 4);
  // One more digit settles it.
  auto one = amber::sha256(pair[0]).to_hex().substr(0, 12);
  CHECK(run_amber({"show", one, "--store", store}).code == 0);
}

TEST_CASE("show lists a snapshot's effects from its segments: pending, prepared, committed") {
  scratch dir;
  std::string store = dir / "fx";
  std::string id;
  {
    amber::lmdb_options opts;
    opts.create_if_missing = true;
    opts.no_sync = true;
    auto db = amber::lmdb_store::open(store, opts);
    REQUIRE(db);
    amber::effect_segment seg;
    seg.entries.push_back({1, 2, "file", "w/m1.1/0", amber::effect_record::pending, "a", ""});
    seg.entries.push_back({2, 2, "db", "w/m1.2/0", amber::effect_record::prepared, "b",
                           "amber/fx/db/0.3"});
    seg.entries.push_back({3, 2, "file", "w/m1.3/0", amber::effect_record::pending, "c", ""});
    auto put = (*db)->put_blobs({amber::encode(seg)});
    REQUIRE(put);
    amber::effects_layer effects;
    effects.segments.push_back(put->ids.front());
    effects.settled.emplace_back(3, 3); // Performed since: listed as committed.
    amber::manifest m;
    m.node.name = "fx";
    amber::world_layer world;
    world.node_name = "fx";
    const std::string indexes[amber::layer_count] = {
      amber::encode(amber::model_layer{}), amber::encode(amber::cache_layer{}),
      amber::encode(world), amber::encode(effects), amber::encode(amber::trace_layer{})};
    amber::snapshot_commit c;
    for (size_t k = 0; k < amber::layer_count; ++k) {
      auto d = amber::write_layer(**db, static_cast<amber::layer_kind>(k), indexes[k], 1);
      REQUIRE(d);
      m.layers[k] = *d;
      c.references.push_back(d->index);
    }
    c.references.push_back(put->ids.front());
    c.manifest = amber::encode_manifest(m);
    auto committed = (*db)->commit_snapshot(c);
    REQUIRE(committed);
    id = committed->to_hex();
  }
  auto j = amber_json({"show", id, "--store", store});
  auto& fx = j.at("effect_entries");
  REQUIRE(fx.size() == 3);
  CHECK(fx[0].at("state") == "pending");
  CHECK(fx[1].at("state") == "prepared");
  CHECK(fx[1].at("transaction") == "amber/fx/db/0.3");
  CHECK(fx[2].at("state") == "committed");
  auto text = run_amber({"show", id, "--store", store});
  REQUIRE(text.code == 0);
  CHECK(contains(text.out, "(amber/fx/db/0.3)"));
  CHECK(run_amber({"verify", "--store", store}).code == 0); // The segment is referenced.
}

TEST_CASE("diff names changed, added and removed components with bytes") {
  const auto& store = history_store();
  auto r = run_amber({"diff", "bank~1", "bank", "--store", store});
  REQUIRE(r.code == 0);
  CHECK(contains(r.out, "changed  acct-"));
  CHECK(std::regex_search(r.out, std::regex(R"(\d+ changed, 0 added, 0 removed)")));
  auto j = amber_json({"diff", "bank~1", "bank", "--store", store});
  CHECK(j.at("changed").size() > 0);
  CHECK(j.at("added").empty());
  auto& first = j.at("changed").at(0);
  CHECK(first.contains("old_bytes"));
  CHECK(first.at("old_state") != first.at("new_state"));
  auto same = amber_json({"diff", "bank", "bank", "--store", store});
  CHECK(same.at("changed").empty());
  CHECK(same.at("unchanged") == 1008);
}

TEST_CASE("verify passes a sound store and names a corrupt blob and every snapshot it breaks") {
  const auto& store = history_store();
  auto ok = run_amber({"verify", "--store", store});
  CHECK(ok.code == 0);
  CHECK(contains(ok.out, "all ok"));
  CHECK(amber_json({"verify", "--store", store}).at("ok") == true);

  scratch dir;
  std::string copy = dir / "corrupt";
  copy_store(store, copy);
  // clearing-0's state changes with every run, so exactly one snapshot has it.
  auto blob = state_of(copy, "bank", "clearing-0");
  auto head = log_ids(copy)[0];
  overwrite_blob(copy, blob, "not the state it was");
  auto bad = run_amber({"verify", "--store", copy});
  CHECK(bad.code == 1);
  CHECK(contains(bad.out, "bad blob " + blob));
  CHECK(contains(bad.out, "bad snapshot " + head));
  CHECK(contains(bad.out, "state of component 'clearing-0'"));
  auto j = run_amber({"verify", "--json", "--store", copy});
  CHECK(j.code == 1);
  auto report = json::parse(j.out);
  CHECK(report.at("ok") == false);
  CHECK(report.at("problems").size() == 2);
  // Nothing reads the corrupt bytes as state: restore refuses.
  auto restore = run_amber({"restore", "bank", "--store", copy}, 30s);
  CHECK(restore.code == 1);
  CHECK(contains(restore.err, blob));
  // With the head's cache layer index damaged too, nobody can tell which
  // states the head needs: gc refuses to remove anything.
  auto cache_index = amber_json({"show", "bank", "--store", copy})
                       .at("manifest").at("layers").at(1).at("index").get<std::string>();
  overwrite_blob(copy, cache_index, "garbage");
  auto gc = run_amber({"gc", "--keep", "1", "--store", copy});
  CHECK(gc.code == 1);
  CHECK(contains(gc.err, "gc removes nothing"));
  CHECK(contains(gc.err, head));
  CHECK(log_ids(copy).size() == 4);
  auto worse = run_amber({"verify", "--store", copy});
  CHECK(worse.code == 1);
  CHECK(contains(worse.out, "bad blob " + cache_index));
  CHECK(run_amber({"show", "bank", "--store", copy}).code == 1);
}

TEST_CASE("gc --keep removes old snapshots, frees their blobs, and leaves the kept ones whole") {
  const auto& store = history_store();
  scratch dir;
  std::string copy = dir / "gc";
  copy_store(store, copy);
  auto ids = log_ids(copy);
  auto dry = run_amber({"gc", "--keep", "2", "--dry-run", "--store", copy});
  REQUIRE(dry.code == 0);
  CHECK(contains(dry.out, "would remove 2 snapshots"));
  CHECK(log_ids(copy).size() == 4);
  auto kept_states = states_of(copy, ids[1]);
  auto j = amber_json({"gc", "--keep", "2", "--store", copy});
  auto removed = j.at("removed_snapshots").get<std::vector<std::string>>();
  std::sort(removed.begin(), removed.end());
  std::vector<std::string> expected = {ids[2], ids[3]};
  std::sort(expected.begin(), expected.end());
  CHECK(removed == expected);
  CHECK(j.at("removed_blobs").get<int>() > 0);
  CHECK(j.at("freed_bytes").get<int>() > 0);
  CHECK(log_ids(copy) == std::vector<std::string>{ids[0], ids[1]});
  CHECK(run_amber({"verify", "--store", copy}).code == 0);
  CHECK(states_of(copy, ids[1]) == kept_states);
  // The oldest kept one still restores (its parent is gone).
  CHECK(run_amber({"diff", ids[1], ids[0], "--store", copy}).code == 0);
  auto again = run_amber({"gc", "--store", copy});
  CHECK(again.code == 0);
  CHECK(contains(again.out, "removed 0 snapshots and 0 blobs"));
}

TEST_CASE("export, import into an empty store, restore there: the same component state") {
  const auto& store = history_store();
  scratch dir;
  auto ids = log_ids(store);
  std::string file = dir / "bank.amber";
  auto e = run_amber({"export", ids[1].substr(0, 8), file, "--store", store});
  REQUIRE_MESSAGE(e.code == 0, e.err);
  CHECK(contains(e.out, ids[1]));
  CHECK(run_amber({"export", "bank", file, "--store", store}).code == 1); // exists
  CHECK(run_amber({"export", "bank~1", file, "--force", "--store", store}).code == 0);

  std::string fresh = dir / "fresh";
  auto i = run_amber({"import", file, "--json", "--store", fresh});
  REQUIRE_MESSAGE(i.code == 0, i.err);
  auto imported = json::parse(i.out);
  CHECK(imported.at("id") == ids[1]);
  CHECK(imported.at("new_blobs") == imported.at("blobs"));
  CHECK(imported.at("head") == ids[1]);
  CHECK(run_amber({"verify", "--store", fresh}).code == 0);
  auto source_states = states_of(store, ids[1]);
  CHECK(states_of(fresh, ids[1]) == source_states);

  auto again = amber_json({"import", file, "--store", fresh});
  CHECK(again.at("already_present") == true);
  CHECK(again.at("head_moved") == false);
}

TEST_CASE("a quiet bank exported, imported and restored elsewhere has the same state") {
  // The demo's snapshots are taken under load, and a restored demo bank
  // trades on at once; a bank whose drivers were never started stays still,
  // so the restored node's final checkpoint must equal the source exactly.
  scratch dir;
  std::string source = dir / "source";
  {
    child node({"run", example("bank.toml"), "--store", source, "--threads", "2", "--json"});
    REQUIRE(node.wait_for_line([](auto& l) { return contains(l, "\"started\""); }));
    node.signal(SIGTERM);
    REQUIRE(node.wait() == 0);
  }
  auto ids = log_ids(source);
  REQUIRE(ids.size() == 1);
  std::string file = dir / "quiet.amber";
  REQUIRE(run_amber({"export", "bank", file, "--store", source}).code == 0);
  std::string fresh = dir / "fresh";
  REQUIRE(run_amber({"import", file, "--store", fresh}).code == 0);
  auto source_states = states_of(source, ids[0]);

  child node({"restore", "bank", "--store", fresh, "--threads", "2", "--json"});
  REQUIRE(node.wait_for_line([](auto& l) { return contains(l, "\"started\""); }));
  node.signal(SIGTERM);
  REQUIRE(node.wait() == 0);
  auto after = log_ids(fresh);
  REQUIRE(after.size() == 2);
  CHECK(after[1] == ids[0]);
  CHECK(states_of(fresh, after[0]) == source_states);
  auto diff = amber_json({"diff", ids[0], after[0], "--store", fresh});
  CHECK(diff.at("changed").empty());
  CHECK(diff.at("unchanged") == 1008);
}

TEST_CASE("import refuses a damaged or truncated file before writing anything") {
  const auto& store = history_store();
  scratch dir;
  std::string file = dir / "good.amber";
  REQUIRE(run_amber({"export", "bank", file, "--store", store}).code == 0);
  std::string good = read_text(file);
  std::string flipped = good;
  flipped[good.size() / 2] ^= 0x20;
  write_text(dir / "flipped.amber", flipped);
  write_text(dir / "short.amber", good.substr(0, good.size() - 100));
  for (auto name : {"flipped.amber", "short.amber"}) {
    CAPTURE(name);
    std::string target = dir / (std::string("into-") + name);
    auto r = run_amber({"import", dir / name, "--store", target});
    CHECK(r.code == 1);
    CHECK(contains(r.err, name));
    CHECK(log_ids(target).empty());
    auto v = amber_json({"verify", "--store", target});
    CHECK(v.at("blobs") == 0);
  }
  auto missing = run_amber({"import", dir / "missing.amber", "--store", dir / "m"});
  CHECK(missing.code == 3);
}

TEST_CASE("graph draws topologies and the snapshot DAG as DOT, text and JSON") {
  const auto& store = history_store();
  auto dag = run_amber({"graph", "--dot", "--store", store});
  REQUIRE(dag.code == 0);
  CHECK(dag.out.rfind("digraph \"snapshots\"", 0) == 0);
  size_t arrows = 0;
  for (size_t p = dag.out.find(" -> "); p != std::string::npos; p = dag.out.find(" -> ", p + 1))
    ++arrows;
  CHECK(arrows == 3);
  auto topo = run_amber({"graph", "--dot", "bank", "--store", store});
  REQUIRE(topo.code == 0);
  CHECK(contains(topo.out, "\"acct-7\" -> \"clearing-3\" [label=\"clearing\"]"));
  auto file = run_amber({"graph", "--dot", example("bank.toml")});
  REQUIRE(file.code == 0);
  CHECK(contains(file.out, "\"acct-7\" -> \"clearing-3\" [label=\"clearing\"]"));
  // The file and the snapshot describe the same bank.
  auto from_file = amber_json({"graph", example("bank.toml")});
  CHECK(from_file.at("graphs").at(0).at("components").size() == 1008);
  CHECK(from_file.at("graphs").at(0).at("wires").size() == 1000);
  auto text = run_amber({"graph", example("bank-small.toml")});
  CHECK(contains(text.out, "alice --clearing--> clearing-0"));
  CHECK(run_amber({"graph", "--dot", "missing.toml"}).code == 3);
}

TEST_CASE("verify decodes the states a restore decodes: bytes that hash right but do not decode are damage") {
  scratch dir;
  std::string copy = dir / "forged";
  copy_store(history_store(), copy);
  amber::digest forged;
  {
    // A new head whose clearing-0 state is a sound archive header followed
    // by too few bytes: every digest right, nothing decodable.
    auto db = amber::lmdb_store::open(copy).value();
    auto head = db->get_ref(amber::head_ref("bank")).value();
    auto snap = amber::load_snapshot(*db, head).value();
    std::string state;
    REQUIRE(db->get_blob(snap.cache.components.front().state, &state).is_ok());
    state.resize(state.size() / 2);
    auto cache = snap.cache;
    bool found = false;
    for (auto& c : cache.components)
      if (c.name == "clearing-0") {
        c.state = db->put_blobs({state}).value().ids[0];
        c.state_size = state.size();
        found = true;
      }
    REQUIRE(found);
    amber::manifest m = snap.meta;
    m.parents = {head};
    m.created_at_ms += 1;
    m.layer(amber::layer_kind::cache) =
      amber::write_layer(*db, amber::layer_kind::cache, amber::encode(cache),
                         cache.components.size()).value();
    amber::snapshot_commit c;
    c.manifest = amber::encode_manifest(m);
    for (auto& l : m.layers)
      c.references.push_back(l.index);
    for (auto& comp : cache.components)
      c.references.push_back(comp.state);
    c.ref = amber::head_ref("bank");
    c.check_expected_head = false;
    forged = db->commit_snapshot(c).value();
  }
  auto v = run_amber({"verify", "--store", copy});
  CHECK(v.code == 1);
  CHECK(contains(v.out, "bad snapshot " + forged.to_hex()));
  CHECK(contains(v.out, "component 'clearing-0'"));
  CHECK(contains(v.out, "1 problem found"));
  auto restore = run_amber({"restore", "bank", "--store", copy}, 30s);
  CHECK(restore.code == 1);
  CHECK(contains(restore.err, "clearing-0"));
}
