#include "amber/checkpoint/diff.hpp"

#include <map>

#include "amber/checkpoint/snapshot.hpp"

namespace amber {

result<snapshot_diff> diff_snapshots(store& s, const digest& a, const digest& b) {
  auto from = load_snapshot(s, a);
  if (!from)
    return from.error().with_context("snapshot " + a.short_hex());
  auto to = load_snapshot(s, b);
  if (!to)
    return to.error().with_context("snapshot " + b.short_hex());
  snapshot_diff out;
  out.from = a;
  out.to = b;
  out.node_renamed = from->world.node_name != to->world.node_name;
  out.config_changed = from->world.config != to->world.config;

  std::map<std::string, const component_record*> old_components, new_components;
  for (auto& c : from->cache.components)
    old_components.emplace(c.name, &c);
  for (auto& c : to->cache.components)
    new_components.emplace(c.name, &c);
  for (auto& [name, c] : new_components) {
    out.state_bytes_delta += static_cast<int64_t>(c->state_size);
    auto i = old_components.find(name);
    if (i == old_components.end()) {
      out.added.push_back({name, c->type_name, "", digest{}, c->state, 0, c->state_size});
      continue;
    }
    auto* old = i->second;
    if (old->state == c->state && old->type_name == c->type_name) {
      ++out.unchanged;
      continue;
    }
    out.changed.push_back(
      {name, c->type_name, old->type_name, old->state, c->state, old->state_size, c->state_size});
  }
  for (auto& [name, c] : old_components) {
    out.state_bytes_delta -= static_cast<int64_t>(c->state_size);
    if (new_components.count(name) == 0)
      out.removed.push_back({name, c->type_name, c->type_name, c->state, digest{}, c->state_size, 0});
  }

  std::map<std::string, const graph_def*> old_graphs, new_graphs;
  for (auto& g : from->model.graphs)
    old_graphs.emplace(g.name, &g);
  for (auto& g : to->model.graphs)
    new_graphs.emplace(g.name, &g);
  for (auto& [name, g] : new_graphs) {
    auto i = old_graphs.find(name);
    if (i == old_graphs.end())
      out.graphs_added.push_back(name);
    else if (!(*i->second == *g))
      out.graphs_changed.push_back(name);
  }
  for (auto& [name, g] : old_graphs)
    if (new_graphs.count(name) == 0)
      out.graphs_removed.push_back(name);
  return out;
}

} // namespace amber
