#include "amber/runtime/type_check.hpp"

#include "amber/runtime/restore_decoder.hpp"

namespace amber {

result<std::shared_ptr<void>> load_component_state(store& s, caf::actor_system& sys,
                                                   const component_record& rec,
                                                   const registry& types,
                                                   std::string* buffer) {
  std::string own;
  auto& bytes = buffer ? *buffer : own;
  if (status st = s.get_blob(rec.state, &bytes); !st)
    return st.with_context("state of component '" + rec.name + "'");
  return decode_component(types, sys, rec, bytes);
}

result<type_check_report> check_snapshot_types(store& s, caf::actor_system& sys,
                                               const loaded_snapshot& snap,
                                               const registry& types) {
  type_check_report out;
  for (auto& t : snap.model.types)
    if (auto st = types.check(t.type_name, t.package, t.state_version); !st)
      out.problems.push_back({"", t.type_name, std::move(st)});
  for (auto& rec : snap.cache.components) {
    ++out.components;
    auto state = load_component_state(s, sys, rec, types);
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
