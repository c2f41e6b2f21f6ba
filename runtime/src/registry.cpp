#include "amber/runtime/registry.hpp"

namespace amber {

status registry::add(component_type t) {
  if (t.type_name.empty())
    return status::invalid_argument("a component type needs a name");
  auto name = t.type_name;
  if (!types_.emplace(name, std::move(t)).second)
    return status::invalid_argument("component type '" + name + "' is registered twice");
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

status registry::check(std::string_view type_name, const package_ref& package) const {
  auto t = find(type_name);
  if (!t)
    return status(errc::unknown_type,
                  "component type '" + std::string(type_name) + "' is not registered");
  if (t->package.name != package.name || t->package.version != package.version)
    return status(errc::version_mismatch, "component type '" + std::string(type_name)
                                            + "' was recorded from package "
                                            + package.to_string() + ", this node has "
                                            + t->package.to_string());
  return status::ok();
}

std::vector<component_type_record> registry::records() const {
  std::vector<component_type_record> out;
  for (auto& kv : types_)
    out.push_back({kv.second.type_name, kv.second.package});
  return out;
}

digest registry::fingerprint() const {
  std::string text;
  for (auto& kv : types_)
    text += kv.first + '\t' + kv.second.package.name + '\t' + kv.second.package.version + '\n';
  return sha256(text);
}

} // namespace amber
