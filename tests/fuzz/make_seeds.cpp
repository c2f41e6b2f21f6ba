// Writes the seed corpus of tests/fuzz/corpus from real objects: the small
// bank (examples/graphs/bank-small.toml) runs, is checkpointed while its
// driver sends, and exported; its manifest, layer indexes, states, runtime
// records, messages and export file become seeds. Run from the source tree
// when a format changes:  build/tests/fuzz/fuzz_make_seeds tests/fuzz/corpus

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <thread>

#include <caf/make_message.hpp>

#include "amber/actors/checkpointer.hpp"
#include "amber/checkpoint/archive.hpp"
#include "amber/checkpoint/cluster_manifest.hpp"
#include "amber/checkpoint/snapshot.hpp"
#include "amber/runtime/message_codec.hpp"
#include "amber/runtime/runtime_record.hpp"
#include "amber/storage/memory_store.hpp"
#include "graph_file.hpp"
#include "system.hpp"

using namespace amber;
namespace fs = std::filesystem;

namespace {

fs::path root;

void seed(const std::string& harness, const std::string& name, std::string_view bytes) {
  fs::create_directories(root / harness);
  std::ofstream(root / harness / name, std::ios::binary) << bytes;
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

int fail(const status& st) {
  std::cerr << "fuzz_make_seeds: " << st.to_string() << "\n";
  return 1;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: fuzz_make_seeds CORPUS_DIR SOURCE_DIR\n";
    return 2;
  }
  root = argv[1];
  fs::path source = argv[2];
  auto types = fuzz::bank_types();
  std::set<std::string> known;
  for (auto& t : types->records())
    known.insert(t.type_name);

  // Graph files and templates.
  for (auto p : {source / "examples/graphs/bank-small.toml", source / "examples/cluster/a.toml"})
    seed("graph_file", p.filename().string(), read(p));
  auto tmpl = [](int64_t i, bool has_index, const std::string& text) {
    std::string out(reinterpret_cast<const char*>(&i), sizeof(i));
    out.push_back(has_index ? 1 : 0);
    return out + text;
  };
  seed("template", "index", tmpl(7, true, "acct-{i}"));
  seed("template", "arithmetic", tmpl(12, true, "driver-{i * 7919 % 10000}-{{x}}"));
  seed("template", "plain", tmpl(0, false, "clearing-0"));

  auto graph = cli::load_graph_file((source / "examples/graphs/bank-small.toml").string(), known);
  if (!graph)
    return fail(graph.error());
  auto db = std::make_shared<memory_store>();
  digest id;
  {
    node_options o;
    o.name = graph->node_name;
    o.config = graph->config;
    node n(types, o);
    for (auto& g : graph->graphs)
      if (status st = n.install(g); !st)
        return fail(st);
    std::this_thread::sleep_for(std::chrono::milliseconds(200)); // Transfers in flight.
    auto r = checkpointer(n, db).checkpoint();
    if (!r)
      return fail(r.error());
    id = *r;
  }
  auto snap = load_snapshot(*db, id);
  if (!snap)
    return fail(snap.error());
  std::string bytes;
  if (status st = db->get_manifest(id, &bytes); !st)
    return fail(st);
  seed("manifest", "node.json", bytes);
  cluster_manifest cm;
  cm.cluster = "bank";
  cm.incarnation = 1;
  cm.epoch = 3;
  cm.members = {{"a", id, 1}, {"b", sha256("b"), 1}};
  seed("manifest", "cluster.json", encode_cluster_manifest(cm));
  for (auto& l : snap->meta.layers) {
    if (status st = db->get_blob(l.index, &bytes); !st)
      return fail(st);
    seed(std::string("layer_") + to_string(l.kind), "index", bytes);
  }
  std::set<std::string> seen;
  for (auto& c : snap->cache.components) {
    if (!seen.insert(c.type_name).second)
      continue;
    if (status st = db->get_blob(c.state, &bytes); !st)
      return fail(st);
    seed("state", c.type_name, bytes);
  }
  auto& sys = fuzz::system();
  size_t k = 0;
  for (auto& m : snap->trace.messages) {
    if (k >= 4)
      break;
    seed("message", "trace-" + std::to_string(k++), m.payload);
  }
  auto message = encode_message(sys, caf::make_message(bank::deposit_atom::value, int64_t{25},
                                                       std::string("alice")));
  if (!message)
    return fail(message.error());
  seed("message", "deposit", *message);
  auto chars = encode_message(sys, caf::make_message(std::vector<char>(5, 'x')));
  if (!chars)
    return fail(chars.error());
  seed("message", "chars", *chars);
  // The small bank has nothing in flight when idle: layers with content too.
  trace_layer trace = snap->trace;
  in_flight_message m;
  m.sender = 4;
  m.receiver = 2;
  m.seq = 1;
  m.payload = *message;
  m.kind = in_flight_message::request;
  m.ref = 9;
  trace.messages.push_back(m);
  seed("layer_trace", "with-message", encode(trace));
  effects_layer effects = snap->effects;
  effect_record e;
  e.id = 1;
  e.component = 2;
  e.sink = "file";
  e.key = "2/m4.1/0";
  e.payload = "line\n";
  effects.entries.push_back(e);
  seed("layer_effects", "with-effect", encode(effects));
  runtime_record rr;
  rr.mode = "busy";
  rr.timers.push_back({3, 250, *message});
  rr.requests.push_back({4, 2, "reply", "error", ""});
  rr.monitors.push_back({5, "bob"});
  rr.inbound.push_back({2, 17});
  seed("state", "runtime-record", encode(rr));

  auto file = (root / "import" / "bank-small.amber").string();
  fs::create_directories(root / "import");
  export_options eo;
  eo.overwrite = true;
  auto exported = export_snapshot(*db, id, file, eo);
  if (!exported)
    return fail(exported.error());
  std::cout << "seeds written to " << root << " (" << snap->trace.messages.size()
            << " messages in flight, export " << exported->file_bytes << " bytes)\n";
  return 0;
}
