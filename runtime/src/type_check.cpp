#include "amber/runtime/type_check.hpp"

#include "amber/runtime/runtime_record.hpp"

namespace amber {

result<std::shared_ptr<void>> load_component_state(store& s, const component_record& rec,
                                                   const registry& types,
                                                   std::string* buffer) {
  std::string who = "component '" + rec.name + "'";
  AMBER_RETURN_IF_ERROR(
    types.check(rec.type_name, rec.package, rec.state_version).with_context(who));
  std::string own;
  auto& bytes = buffer ? *buffer : own;
  if (status st = s.get_blob(rec.state, &bytes); !st)
    return st.with_context("state of " + who);
  // Older state versions are migrated up here, before anything spawns.
  auto state = types.decode_state(rec.type_name, rec.state_version, bytes,
                                  rec.state_class_version);
  if (!state)
    return state.error().with_context(who);
  if (!rec.runtime.empty()) {
    runtime_record r;
    AMBER_RETURN_IF_ERROR(decode(rec.runtime, &r, "the runtime record of " + who));
  }
  return state;
}

result<type_check_report> check_snapshot_types(store& s, const loaded_snapshot& snap,
                                               const registry& types) {
  type_check_report out;
  for (auto& t : snap.model.types)
    if (auto st = types.check(t.type_name, t.package, t.state_version); !st)
      out.problems.push_back({"", t.type_name, std::move(st)});
  for (auto& rec : snap.cache.components) {
    ++out.components;
    auto state = load_component_state(s, rec, types);
    if (!state) {
      out.problems.push_back({rec.name, rec.type_name, state.error()});
      continue;
    }
    if (auto t = types.find(rec.type_name); t && rec.state_version < t->state_version)
      ++out.migrated;
  }
  return out;
}

} // namespace amber
