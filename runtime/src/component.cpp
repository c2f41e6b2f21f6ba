#include "amber/runtime/component.hpp"

#include "amber/runtime/atoms.hpp"

namespace amber {

component_base::component_base(caf::actor_config& cfg, const component_init& init)
  : caf::event_based_actor(cfg),
    core_(init.core),
    id_(init.id),
    name_(init.name),
    params_(init.params),
    restored_(static_cast<bool>(init.state)) {}

std::string component_base::param(const std::string& key, const std::string& fallback) const {
  auto i = params_.find(key);
  return i == params_.end() ? fallback : i->second;
}

void component_base::initialize() {
  // Runs the user's make_behavior(), then puts the runtime's handlers in
  // front of it: envelopes are unwrapped and the payload dispatched to the
  // user's behavior, so component code matches plain messages.
  caf::event_based_actor::initialize();
  if (has_behavior())
    user_behavior_ = current_behavior();
  caf::message_handler runtime_handlers{
    [this](envelope& e) { on_envelope(e); },
    [this](snapshot_atom) { return save_state(); },
  };
  become(caf::behavior{runtime_handlers.or_else(user_behavior_)});
}

caf::invoke_message_result component_base::consume(caf::mailbox_element& x) {
  // Count everything but the runtime's own requests: a checkpoint compares
  // this counter before and after to prove the node stayed quiet.
  if (!x.content().match_element<snapshot_atom>(0))
    core_->counters.handled.fetch_add(1, std::memory_order_relaxed);
  return caf::event_based_actor::consume(x);
}

void component_base::on_envelope(envelope& e) {
  if (user_behavior_)
    user_behavior_(e.payload);
  core_->counters.delivered.fetch_add(1, std::memory_order_release);
}

std::optional<uint32_t> component_base::id_of(const std::string& name) const {
  auto ref = core_->find(name);
  if (!ref)
    return std::nullopt;
  return ref->id;
}

caf::actor component_base::resolve(uint32_t id) {
  auto i = id_cache_.find(id);
  if (i != id_cache_.end())
    return i->second;
  auto ref = core_->find(id);
  if (!ref)
    return {};
  id_cache_.emplace(id, ref->handle);
  return ref->handle;
}

caf::actor component_base::resolve(const std::string& name) {
  auto i = name_cache_.find(name);
  if (i != name_cache_.end())
    return i->second;
  auto ref = core_->find(name);
  if (!ref)
    return {};
  name_cache_.emplace(name, ref->handle);
  return ref->handle;
}

bool component_base::deliver(const caf::actor& to, caf::message msg) {
  if (!to)
    return false;
  core_->counters.sent.fetch_add(1, std::memory_order_release);
  send(to, envelope{epoch_, id_, ++seq_, std::move(msg)});
  return true;
}

} // namespace amber
