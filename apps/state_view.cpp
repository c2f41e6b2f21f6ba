#include "amber/cli/state_view.hpp"

#include "amber/checkpoint/snapshot.hpp"

namespace amber::cli {

using json = nlohmann::json;

json component_state::value_or_summary() const {
  if (value)
    return *value;
  return {{"state_bytes", state_bytes}, {"state_digest", state.to_hex()}};
}

namespace {

// Reads the state blob of `rec` and describes it with `types`.
result<component_state> describe(store& s, const registry* types, const digest& snapshot,
                                 const component_record& rec) {
  component_state out;
  out.snapshot = snapshot;
  out.name = rec.name;
  out.type_name = rec.type_name;
  out.package = rec.package;
  out.state = rec.state;
  out.state_bytes = rec.state_size;
  const component_type* t = types ? types->find(rec.type_name) : nullptr;
  if (!t) {
    out.why_not = "type '" + rec.type_name + "' is not registered in this program";
    return out;
  }
  if (status st = types->check(rec.type_name, rec.package, rec.state_version); !st) {
    out.why_not = st.message();
    return out;
  }
  if (!t->state_json) {
    out.why_not = "type '" + rec.type_name + "' has no to_json";
    return out;
  }
  std::string bytes;
  AMBER_RETURN_IF_ERROR(s.get_blob(rec.state, &bytes).with_context("state of component '"
                                                                     + rec.name + "'"));
  // An older state version is shown as this binary reads it: migrated.
  std::string migrated;
  auto current = types->upgrade_state(rec.type_name, rec.state_version, bytes,
                                      rec.state_class_version, &migrated);
  if (!current) {
    out.why_not = current.error().to_string();
    return out;
  }
  auto value = t->state_json(*current);
  if (!value)
    out.why_not = value.error().to_string();
  else
    out.value = std::move(*value);
  return out;
}

const component_record* find_component(const loaded_snapshot& snap, std::string_view name) {
  for (auto& c : snap.cache.components)
    if (c.name == name)
      return &c;
  return nullptr;
}

} // namespace

result<component_state> read_component_state(store& s, const registry* types,
                                             std::string_view snapshot_spec,
                                             std::string_view component) {
  auto id = resolve_snapshot(s, snapshot_spec);
  if (!id)
    return id.error();
  auto snap = load_snapshot(s, *id);
  if (!snap)
    return snap.error();
  auto rec = find_component(*snap, component);
  if (!rec)
    return status::not_found("snapshot " + id->short_hex() + " (" + std::string(snapshot_spec)
                             + ") has no component '" + std::string(component) + "'");
  return describe(s, types, *id, *rec);
}

result<snapshot_state_diff> diff_snapshot_states(store& s, const registry* types,
                                                 const digest& a, const digest& b) {
  snapshot_state_diff out;
  auto d = diff_snapshots(s, a, b);
  if (!d)
    return d.error();
  out.snapshot = std::move(*d);
  if (out.snapshot.changed.empty())
    return out;
  auto from = load_snapshot(s, a);
  if (!from)
    return from.error();
  auto to = load_snapshot(s, b);
  if (!to)
    return to.error();
  for (auto& delta : out.snapshot.changed) {
    component_state_diff sd;
    sd.name = delta.name;
    auto* old_rec = find_component(*from, delta.name);
    auto* new_rec = find_component(*to, delta.name);
    if (!old_rec || !new_rec)
      return status::corruption("component '" + delta.name + "' changed but is missing");
    auto before = describe(s, types, a, *old_rec);
    if (!before)
      return before.error();
    auto after = describe(s, types, b, *new_rec);
    if (!after)
      return after.error();
    if (before->type_name != after->type_name)
      sd.why_not = "its type changed";
    else if (!before->value)
      sd.why_not = before->why_not;
    else if (!after->value)
      sd.why_not = after->why_not;
    else
      sd.diff = diff_json(*before->value, *after->value);
    out.states.push_back(std::move(sd));
  }
  return out;
}

result<snapshot_state_diff> diff_snapshot_states(store& s, const registry* types,
                                                 std::string_view a, std::string_view b) {
  auto from = resolve_snapshot(s, a);
  if (!from)
    return from.error();
  auto to = resolve_snapshot(s, b);
  if (!to)
    return to.error();
  return diff_snapshot_states(s, types, *from, *to);
}

} // namespace amber::cli
