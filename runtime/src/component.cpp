#include "amber/runtime/component.hpp"

#include <chrono>

#include "amber/runtime/atoms.hpp"

namespace amber {

namespace {

// How the runtime sees a mailbox element before dispatching it.
enum class kind { envelope, runtime, user };

kind classify(caf::mailbox_element& x) {
  auto& content = x.content();
  if (content.match_element<envelope>(0))
    return kind::envelope;
  if (content.match_element<cut_atom>(0) || content.match_element<snapshot_atom>(0)
      || content.match_element<release_atom>(0))
    return kind::runtime;
  return kind::user;
}

void raise_to(std::atomic<uint64_t>& target, uint64_t value) {
  auto current = target.load(std::memory_order_relaxed);
  while (value > current
         && !target.compare_exchange_weak(current, value, std::memory_order_relaxed)) {
  }
}

} // namespace

component_base::component_base(caf::actor_config& cfg, const component_init& init)
  : caf::event_based_actor(cfg),
    core_(init.core),
    id_(init.id),
    name_(init.name),
    params_(init.params),
    restored_(static_cast<bool>(init.state)),
    held_(init.held),
    // A component born during a cut is not part of it: it starts after it.
    epoch_(init.core->current_epoch.load(std::memory_order_acquire)),
    birth_epoch_(epoch_) {}

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
    [this](cut_atom, uint64_t epoch) { cut(epoch); },
    [this](snapshot_atom) { return save_state(); },
  };
  caf::behavior running{runtime_handlers.or_else(user_behavior_)};
  if (!held_) {
    become(std::move(running));
    return;
  }
  // Held (restore): skip everything until released; skipped messages stay
  // in the mailbox and are processed, in order, once we run.
  set_default_handler(caf::skip);
  become(caf::behavior{[this, running](release_atom) {
    held_ = false;
    set_default_handler(caf::print_and_drop);
    become(running);
  }});
}

caf::invoke_message_result component_base::consume(caf::mailbox_element& x) {
  if (classify(x) == kind::user) {
    // External input (a client's request, a timer) may change the state.
    dirty_ = true;
    core_->counters.handled.fetch_add(1, std::memory_order_relaxed);
  }
  return caf::event_based_actor::consume(x);
}

void component_base::on_exit() {
  // Messages this component sent before it died are still counted by their
  // receivers: hand our counts to the node so later cuts balance.
  core_->retire(id_, counts());
  core_->remove(id_);
  // CAF does not destroy a class-based actor's members when it exits: drop
  // our handles to other components now, or the cycles between them (an
  // account and its clearing house) keep every actor and the node alive.
  peers_.clear();
  ids_.clear();
  ports_.clear();
  user_behavior_ = caf::behavior{};
  caf::event_based_actor::on_exit();
}

void component_base::on_envelope(envelope& e) {
  if (e.epoch > epoch_) {
    // The first message from after a cut we have not taken part in yet:
    // snapshot first, so the state excludes everything after the cut.
    cut(e.epoch);
  } else if (e.epoch < epoch_ && epoch_ > birth_epoch_) {
    // Sent before our latest cut, received after it: it was in flight. (A
    // component born during a cut is not part of it, and records nothing.)
    if (auto trace = core_->sinks().trace)
      send(trace, flight_atom::value, epoch_, id_, e);
  }
  if (user_behavior_)
    user_behavior_(e.payload);
  ++received_;
  dirty_ = true;
  core_->counters.delivered.fetch_add(1, std::memory_order_release);
}

void component_base::cut(uint64_t epoch) {
  if (epoch <= epoch_)
    return;
  using clock = std::chrono::steady_clock;
  auto start = clock::now();
  epoch_ = epoch;
  auto sinks = core_->sinks();
  auto generation = core_->generation();
  bool changed = dirty_ || generation != generation_;
  std::string bytes;
  if (changed)
    bytes = save_state();
  auto serialized = clock::now();
  dirty_ = false;
  generation_ = generation;
  if (changed)
    blob_epoch_ = epoch;
  // Hashing and storing happen in the capture actors, not here.
  if (sinks.cache)
    send(sinks.cache, state_atom::value, epoch, id_, std::move(bytes), changed, blob_epoch_);
  if (sinks.trace)
    send(sinks.trace, count_atom::value, epoch, id_, counts(), received_);
  auto done = clock::now();
  auto& c = core_->counters;
  c.cuts.fetch_add(1, std::memory_order_relaxed);
  using ns = std::chrono::nanoseconds;
  auto pause = static_cast<uint64_t>(std::chrono::duration_cast<ns>(done - start).count());
  auto serialize = static_cast<uint64_t>(
    std::chrono::duration_cast<ns>(serialized - start).count());
  c.total_pause_ns.fetch_add(pause, std::memory_order_relaxed);
  c.total_serialize_ns.fetch_add(serialize, std::memory_order_relaxed);
  if (pause > c.max_pause_ns.load(std::memory_order_relaxed)) {
    raise_to(c.max_pause_ns, pause);
    raise_to(c.max_pause_serialize_ns, serialize);
  }
}

sent_counts component_base::counts() const {
  sent_counts out;
  out.reserve(peers_.size());
  for (auto& kv : peers_)
    if (kv.second.sent > 0)
      out.emplace_back(kv.first, kv.second.sent);
  return out;
}

std::optional<uint32_t> component_base::id_of(const std::string& name) {
  auto i = ids_.find(name);
  if (i != ids_.end())
    return i->second;
  auto ref = core_->find(name);
  if (!ref)
    return std::nullopt;
  ids_.emplace(name, ref->id);
  return ref->id;
}

component_base::peer* component_base::resolve(uint32_t id) {
  auto i = peers_.find(id);
  if (i != peers_.end())
    return &i->second;
  auto ref = core_->find(id);
  if (!ref)
    return nullptr;
  return &peers_.emplace(id, peer{ref->handle, 0}).first->second;
}

const std::vector<uint32_t>& component_base::wired(const std::string& port) {
  auto version = core_->wiring_version();
  if (version != wiring_version_) {
    ports_.clear();
    wiring_version_ = version;
  }
  auto i = ports_.find(port);
  if (i != ports_.end())
    return i->second;
  std::vector<uint32_t> ids;
  for (auto& name : core_->targets(name_, port))
    if (auto id = id_of(name))
      ids.push_back(*id);
  return ports_.emplace(port, std::move(ids)).first->second;
}

bool component_base::deliver(peer* to, caf::message msg) {
  if (!to)
    return false;
  ++to->sent;
  core_->counters.sent.fetch_add(1, std::memory_order_release);
  send(to->handle, envelope{epoch_, id_, ++seq_, std::move(msg)});
  return true;
}

} // namespace amber
