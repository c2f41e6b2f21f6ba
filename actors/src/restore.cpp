#include "amber/actors/restore.hpp"

#include <unordered_map>

#include "amber/checkpoint/snapshot.hpp"

namespace amber {

namespace {

struct prepared_component {
  const component_record* record;
  std::shared_ptr<void> state;
  std::map<std::string, std::string> params;
};

// Everything that can fail, checked before a single actor is spawned.
status prepare(store& s, const loaded_snapshot& snap, const registry& types,
               const restore_options& opts, std::vector<prepared_component>* out) {
  AMBER_RETURN_IF_ERROR(check_config_matches(snap.world.config, opts.config));
  for (auto& t : snap.model.types)
    AMBER_RETURN_IF_ERROR(types.check(t.type_name, t.package));
  std::unordered_map<std::string, const instance_def*> instances;
  for (auto& g : snap.model.graphs)
    for (auto& inst : g.instances)
      instances.emplace(inst.name, &inst);
  std::string bytes;
  for (auto& rec : snap.cache.components) {
    std::string who = "component '" + rec.name + "'";
    AMBER_RETURN_IF_ERROR(types.check(rec.type_name, rec.package).with_context(who));
    status st = s.get_blob(rec.state, &bytes);
    if (!st)
      return st.with_context("state of " + who);
    auto state = types.find(rec.type_name)->decode_state(bytes);
    if (!state)
      return state.error().with_context(who);
    prepared_component p{&rec, std::move(*state), {}};
    if (auto i = instances.find(rec.name); i != instances.end())
      p.params = i->second->params;
    out->push_back(std::move(p));
  }
  return status::ok();
}

} // namespace

result<std::unique_ptr<node>> restore_node(store& s, std::string_view spec,
                                           std::shared_ptr<const registry> types,
                                           const restore_options& opts) {
  auto id = resolve_snapshot(s, spec);
  if (!id)
    return id.error();
  auto snap = load_snapshot(s, *id);
  if (!snap)
    return snap.error();
  std::vector<prepared_component> prepared;
  AMBER_RETURN_IF_ERROR(
    prepare(s, *snap, *types, opts, &prepared).with_context("restoring " + id->short_hex()));
  node_options nopts;
  nopts.name = snap->world.node_name;
  nopts.config = opts.config;
  nopts.incarnation = snap->world.incarnation + 1;
  nopts.worker_threads = opts.worker_threads;
  nopts.configure = opts.configure;
  auto n = std::make_unique<node>(std::move(types), std::move(nopts));
  for (auto& g : snap->model.graphs)
    n->adopt_graph(g);
  n->set_next_instance_id(snap->world.next_instance_id);
  for (auto& p : prepared) {
    auto ref = n->respawn(*p.record, std::move(p.state), p.params);
    if (!ref)
      return ref.error().with_context("restoring " + id->short_hex());
  }
  n->set_last_snapshot(*id);
  return n;
}

} // namespace amber
