#include "amber/runtime/registry.hpp"

#include "amber/runtime/compatibility.hpp"

namespace amber {

status registry::add(component_type t) {
  if (t.type_name.empty())
    return status::invalid_argument("a component type needs a name");
  auto name = t.type_name;
  if (t.state_version == 0)
    return status::invalid_argument("component type '" + name + "' has state version 0; "
                                    "state versions start at 1");
  if (!types_.emplace(name, std::move(t)).second)
    return status::invalid_argument("component type '" + name + "' is registered twice");
  return status::ok();
}

status registry::add_migration(std::string_view type_name, uint32_t from, state_migration step) {
  auto i = types_.find(type_name);
  if (i == types_.end())
    return status::invalid_argument("a migration of component type '" + std::string(type_name)
                                    + "' before the type is registered (add<T>() first)");
  auto& t = i->second;
  if (from == 0 || from >= t.state_version)
    return status::invalid_argument("component type '" + t.type_name + "' is at state version "
                                    + std::to_string(t.state_version)
                                    + ": a migration from version " + std::to_string(from)
                                    + " must start in [1, " + std::to_string(t.state_version)
                                    + ")");
  if (!step)
    return status::invalid_argument("an empty migration of component type '" + t.type_name + "'");
  if (!t.migrations.emplace(from, std::move(step)).second)
    return status::invalid_argument("the migration of component type '" + t.type_name
                                    + "' from state version " + std::to_string(from)
                                    + " is registered twice");
  return status::ok();
}

status registry::add_message(message_type m) {
  if (m.name.empty())
    return status::invalid_argument("message type " + m.ref.cpp_name + " needs a name");
  for (auto& x : messages_) {
    if (x.name == m.name)
      return status::invalid_argument("message type name '" + m.name + "' is registered twice ("
                                      + x.ref.cpp_name + ", " + m.ref.cpp_name + ")");
    if (x.ref.type == m.ref.type)
      return status::invalid_argument("message type " + m.ref.cpp_name
                                      + " is registered twice ('" + x.name + "', '" + m.name
                                      + "')");
  }
  messages_.push_back(std::move(m));
  return status::ok();
}

void registry::configure(caf::actor_system_config& cfg) const {
  for (auto& m : messages_)
    m.add_to(cfg);
}

status registry::check_messages(const component_type& t, const caf::actor_system_config& cfg) {
  for (auto& m : t.messages)
    if (cfg.type_names_by_rtti.count(m.type) == 0)
      return status(errc::unknown_type,
                    "component type '" + t.type_name + "' declares message type " + m.cpp_name
                      + ", which is not registered with the node's actor system: add "
                        "registry::add_message_type<" + m.cpp_name
                      + ">(\"NAME\") (or add_message_type in node_options::configure)");
  return status::ok();
}

const component_type* registry::find(std::string_view type_name) const {
  auto i = types_.find(type_name);
  return i == types_.end() ? nullptr : &i->second;
}

namespace {

// ok when states of `t` written at `version` can be brought to its current
// version.
status check_state_version(const component_type& t, uint32_t version) {
  auto refuse = [&](const std::string& why) {
    return status(errc::version_mismatch,
                  "component type '" + t.type_name + "' state version "
                    + std::to_string(version) + " (this binary, package "
                    + t.package.to_string() + ", is at state version "
                    + std::to_string(t.state_version) + "): " + why);
  };
  if (version == 0)
    return refuse("state versions start at 1");
  if (version > t.state_version)
    return refuse("the state was written by a newer version of the type");
  for (auto v = version; v < t.state_version; ++v)
    if (t.migrations.count(v) == 0)
      return refuse("no migration from state version " + std::to_string(v) + " to "
                    + std::to_string(v + 1) + " is registered (registry::add_migration)");
  return status::ok();
}

} // namespace

status registry::check(std::string_view type_name, const package_ref& package,
                       uint32_t state_version) const {
  auto t = find(type_name);
  if (!t)
    return status(errc::unknown_type,
                  "component type '" + std::string(type_name) + "' is not registered");
  AMBER_RETURN_IF_ERROR(check_package_compatible(type_name, package, t->package));
  return check_state_version(*t, state_version);
}

result<std::string_view> registry::upgrade_state(std::string_view type_name,
                                                 uint32_t state_version, std::string_view bytes,
                                                 uint32_t class_version,
                                                 std::string* scratch) const {
  auto t = find(type_name);
  if (!t)
    return status(errc::unknown_type,
                  "component type '" + std::string(type_name) + "' is not registered");
  AMBER_RETURN_IF_ERROR(check_state_version(*t, state_version));
  // Boost would read a newer class version as an older one, silently.
  if (state_version == t->state_version && class_version > t->state_class_version)
    return status(errc::version_mismatch,
                  "component type '" + t->type_name + "' state was written with BOOST_CLASS_VERSION "
                    + std::to_string(class_version) + " of its state struct; this binary (package "
                    + t->package.to_string() + ") has version "
                    + std::to_string(t->state_class_version));
  for (auto v = state_version; v < t->state_version; ++v) {
    auto next = t->migrations.at(v)(bytes);
    if (!next)
      return next.error();
    *scratch = std::move(*next);
    bytes = *scratch;
  }
  return bytes;
}

result<std::shared_ptr<void>> registry::decode_state(std::string_view type_name,
                                                     uint32_t state_version,
                                                     std::string_view bytes,
                                                     uint32_t class_version) const {
  std::string scratch;
  auto current = upgrade_state(type_name, state_version, bytes, class_version, &scratch);
  if (!current)
    return current.error();
  auto t = find(type_name);
  auto state = t->decode_state(*current);
  if (!state && state.error().code() == errc::corruption)
    return status(errc::corruption,
                  state.error().message() + " (if the state type of '" + t->type_name
                    + "' changed, raise its state_version and register a migration, or use "
                      "BOOST_CLASS_VERSION: docs/COMPONENTS.md, \"Changing a state type\")");
  return state;
}

std::vector<component_type_record> registry::records() const {
  std::vector<component_type_record> out;
  for (auto& kv : types_)
    out.push_back({kv.second.type_name, kv.second.package, kv.second.state_version});
  return out;
}

digest registry::fingerprint() const {
  std::string text;
  for (auto& kv : types_) {
    text += kv.first + '\t' + kv.second.package.name + '\t' + kv.second.package.version;
    // Types without a declared state version keep the fingerprint they had
    // before state versions existed.
    if (kv.second.state_version != 1)
      text += '\t' + std::to_string(kv.second.state_version);
    text += '\n';
  }
  return sha256(text);
}

} // namespace amber
