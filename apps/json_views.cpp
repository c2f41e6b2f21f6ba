#include "json_views.hpp"

#include <map>

#include "amber/checkpoint/cluster_manifest.hpp"
#include "amber/checkpoint/manifest.hpp"
#include "amber/checkpoint/snapshot.hpp"
#include "cli_common.hpp"

namespace amber::cli {

using json = nlohmann::json;

json hex_list(const std::vector<digest>& ids) {
  json out = json::array();
  for (auto& id : ids)
    out.push_back(id.to_hex());
  return out;
}

std::vector<std::string> refs_to(store& s, const digest& id) {
  std::vector<std::string> out;
  if (auto refs = s.list_refs())
    for (auto& [name, target] : *refs)
      if (target == id)
        out.push_back(name);
  return out;
}

json summary_json(const snapshot_summary& s) {
  return {{"id", s.id.to_hex()},
          {"parents", hex_list(s.parents)},
          {"node", s.node},
          {"incarnation", s.incarnation},
          {"created_at", iso_utc(s.created_at_ms)},
          {"created_at_ms", s.created_at_ms},
          {"bytes", s.bytes},
          {"blobs", s.blobs},
          {"refs", s.refs}};
}

const char* effect_state_name(uint8_t state) {
  switch (state) {
    case effect_record::pending: return "pending";
    case effect_record::committed: return "committed";
    case effect_record::aborted: return "aborted";
    case effect_record::prepared: return "prepared";
    default: return "?";
  }
}

json components_by_type(const cache_layer& cache) {
  struct type_summary {
    std::string package;
    uint64_t count = 0;
    uint64_t state_bytes = 0;
  };
  std::map<std::string, type_summary> types;
  for (auto& c : cache.components) {
    auto& t = types[c.type_name];
    t.package = c.package.to_string();
    ++t.count;
    t.state_bytes += c.state_size;
  }
  json out = json::array();
  for (auto& [name, t] : types)
    out.push_back({{"type", name}, {"package", t.package}, {"count", t.count},
                   {"state_bytes", t.state_bytes}});
  return out;
}

namespace {

void add_layers(json& out, const loaded_snapshot& snap) {
  out["components_by_type"] = components_by_type(snap.cache);
  json comps = json::array();
  for (auto& c : snap.cache.components)
    comps.push_back({{"name", c.name}, {"instance_id", c.instance_id}, {"type", c.type_name},
                     {"package", c.package.to_string()}, {"graph", c.graph},
                     {"state", c.state.to_hex()}, {"state_bytes", c.state_size},
                     {"state_version", c.state_version}});
  out["components"] = comps;
  json graphs = json::array();
  for (auto& g : snap.model.graphs)
    graphs.push_back({{"name", g.name}, {"components", g.instances.size()},
                      {"wires", g.edges.size()}});
  out["graphs"] = graphs;
  out["world"] = {{"node", snap.world.node_name},
                  {"next_instance_id", snap.world.next_instance_id},
                  {"peers", snap.world.peers.size()}};
  out["effects"] = snap.effects.entries.size();
  json effects = json::array();
  for (auto& e : snap.effects.entries) {
    json entry = {{"sink", e.sink},
                  {"key", e.key},
                  {"state", effect_state_name(e.state)},
                  {"component", e.component},
                  {"payload_bytes", e.payload.size()}};
    if (!e.txn.empty())
      entry["transaction"] = e.txn;
    effects.push_back(std::move(entry));
  }
  out["effect_entries"] = effects;
  out["in_flight_messages"] = snap.trace.messages.size();
}

} // namespace

result<json> snapshot_json(store& s, const digest& id, status* layers) {
  *layers = status::ok();
  std::string bytes;
  AMBER_RETURN_IF_ERROR(s.get_manifest(id, &bytes));
  json out = {{"id", id.to_hex()}};
  if (is_cluster_manifest(bytes)) {
    if (auto m = decode_cluster_manifest(bytes); !m)
      return m.error().with_context("cluster snapshot " + id.to_hex());
    out["kind"] = "cluster";
  } else if (auto m = decode_manifest(bytes); !m) {
    return m.error().with_context("snapshot " + id.to_hex());
  }
  out["manifest"] = json::parse(bytes, nullptr, false);
  out["refs"] = refs_to(s, id);
  if (out.contains("kind"))
    return out;
  auto snap = load_snapshot(s, id);
  if (!snap) {
    *layers = snap.error();
    out["error"] = to_json(snap.error());
    return out;
  }
  add_layers(out, *snap);
  return out;
}

json topology_json(const std::string& node, const std::vector<graph_def>& graphs) {
  json out = json::array();
  for (auto& g : graphs) {
    json comps = json::array();
    for (auto& inst : g.instances)
      comps.push_back({{"name", inst.name}, {"type", inst.type_name}, {"params", inst.params}});
    json wires = json::array();
    for (auto& e : g.edges)
      wires.push_back({{"from", e.from}, {"port", e.port}, {"to", e.to}});
    out.push_back({{"name", g.name}, {"components", comps}, {"wires", wires}});
  }
  return {{"node", node}, {"graphs", out}};
}

json component_state_json(const component_state& st) {
  json out = {{"snapshot", st.snapshot.to_hex()},      {"component", st.name},
              {"type", st.type_name},                  {"package", st.package.to_string()},
              {"state_digest", st.state.to_hex()},     {"state_bytes", st.state_bytes},
              {"described", st.value.has_value()},     {"state", st.value_or_summary()}};
  if (!st.value)
    out["why_not"] = st.why_not;
  return out;
}

namespace {

json deltas_json(const std::vector<component_delta>& xs,
                 const std::vector<component_state_diff>* states) {
  json out = json::array();
  for (size_t i = 0; i < xs.size(); ++i) {
    auto& x = xs[i];
    json j = {{"name", x.name}, {"type", x.type_name}, {"old_bytes", x.old_bytes},
              {"new_bytes", x.new_bytes}};
    j["old_state"] = x.old_state.is_zero() ? json(nullptr) : json(x.old_state.to_hex());
    j["new_state"] = x.new_state.is_zero() ? json(nullptr) : json(x.new_state.to_hex());
    if (!x.old_type_name.empty() && x.old_type_name != x.type_name)
      j["old_type"] = x.old_type_name;
    if (states) {
      auto& s = (*states)[i];
      j["state_diff"] = s.diff ? to_json(*s.diff) : json(nullptr);
      if (s.diff)
        j["state_diff_lines"] = describe(*s.diff);
      else
        j["state_diff_unavailable"] = s.why_not;
    }
    out.push_back(j);
  }
  return out;
}

} // namespace

json state_diff_json(const digest& from, const digest& to, const snapshot_state_diff& sd) {
  auto& d = sd.snapshot;
  return {{"from", from.to_hex()},
          {"to", to.to_hex()},
          {"added", deltas_json(d.added, nullptr)},
          {"removed", deltas_json(d.removed, nullptr)},
          {"changed", deltas_json(d.changed, &sd.states)},
          {"unchanged", d.unchanged},
          {"state_bytes_delta", d.state_bytes_delta},
          {"graphs_added", d.graphs_added},
          {"graphs_removed", d.graphs_removed},
          {"graphs_changed", d.graphs_changed},
          {"node_renamed", d.node_renamed},
          {"config_changed", d.config_changed}};
}

} // namespace amber::cli
