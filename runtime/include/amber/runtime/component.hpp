#pragma once

// Writing a component.
//
// A component is a CAF event-based actor whose state is a plain struct with
// a Boost.Serialization `serialize`. Derive from `component<State>`, give the
// class a stable `type_name` and a `package()`, and write `make_behavior()`
// as in any CAF actor:
//
//   struct counter_state {
//     int64_t count = 0;
//     template <class Archive> void serialize(Archive& ar, unsigned) { ar & count; }
//   };
//
//   class counter : public amber::component<counter_state> {
//   public:
//     static constexpr const char* type_name = "demo.counter";
//     static amber::package_ref package() { return {"demo", "1.0.0"}; }
//     using component::component;
//     caf::behavior make_behavior() override {
//       return {[this](add_atom, int64_t n) { state().count += n; emit("out", add_atom::value, n); }};
//     }
//   };
//
// Messages to other components go through the runtime (`send_to`, `emit`):
// it stamps them with the sender's checkpoint epoch, invisibly to the
// receiver's handlers. Replies to external requests (a scoped_actor asking a
// component) work as in plain CAF. A checkpoint serializes `state()` and
// nothing else, so everything that must survive a restore lives there.
//
// REQUIRES: components do not call `become()`; keep modes in the state.
// Threads: like any actor, a component's members are touched only from its
// own handlers; `state()` must not be shared with other threads.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/message_handler.hpp>

#include "amber/checkpoint/serial.hpp"
#include "amber/runtime/envelope.hpp"
#include "amber/runtime/node_core.hpp"

namespace amber {

/// What a node hands a component it spawns.
struct component_init {
  std::shared_ptr<node_core> core;
  uint32_t id = 0;
  std::string name;
  std::map<std::string, std::string> params;
  /// The decoded state of a restored component (a State*); null on a fresh start.
  std::shared_ptr<void> state;
  /// Restore: keep every message in the mailbox until `release_atom`, so
  /// re-delivered messages reach every component before anything new.
  bool held = false;
};

class component_base : public caf::event_based_actor {
public:
  component_base(caf::actor_config& cfg, const component_init& init);

  uint32_t instance_id() const noexcept { return id_; }
  const std::string& instance_name() const noexcept { return name_; }
  /// True when this instance was rebuilt from a snapshot: its state is the
  /// snapshot's, and initial parameters should not be applied again.
  bool restored() const noexcept { return restored_; }
  /// The instance's initial parameter `key`, or `fallback`.
  std::string param(const std::string& key, const std::string& fallback = "") const;
  const std::map<std::string, std::string>& params() const noexcept { return params_; }

  /// Sends `xs...` to the component with instance id `to`.
  /// @return false when the node has no such component (nothing is sent).
  template <class... Ts>
  bool send_to(uint32_t to, Ts&&... xs) {
    return deliver(resolve(to), caf::make_message(std::forward<Ts>(xs)...));
  }

  /// Sends `xs...` to the component named `to`.
  template <class... Ts>
  bool send_to(const std::string& to, Ts&&... xs) {
    auto id = id_of(to);
    return id && deliver(resolve(*id), caf::make_message(std::forward<Ts>(xs)...));
  }

  /// Sends `xs...` along every wire from this component's output `port`.
  /// @return how many components it went to.
  template <class... Ts>
  size_t emit(const std::string& port, Ts&&... xs) {
    auto& targets = wired(port);
    if (targets.empty())
      return 0;
    auto msg = caf::make_message(std::forward<Ts>(xs)...);
    size_t n = 0;
    for (auto id : targets)
      n += deliver(resolve(id), msg) ? 1 : 0;
    return n;
  }

  /// The instance id of the component named `name`, if the node has one.
  std::optional<uint32_t> id_of(const std::string& name);

  /// The component's state, Boost-encoded. Runs on this actor's thread.
  virtual std::string save_state() const = 0;

  /// The epoch of this component's latest cut.
  uint64_t epoch() const noexcept { return epoch_; }

  void initialize() override;
  caf::invoke_message_result consume(caf::mailbox_element& x) override;
  void on_exit() override;

private:
  struct peer {
    caf::actor handle;
    uint64_t sent = 0; ///< Envelopes sent to it, for the cut's counts.
  };

  peer* resolve(uint32_t id);
  bool deliver(peer* to, caf::message msg);
  const std::vector<uint32_t>& wired(const std::string& port);
  void on_envelope(envelope& e);
  void cut(uint64_t epoch);
  sent_counts counts() const;

  std::shared_ptr<node_core> core_;
  uint32_t id_;
  std::string name_;
  std::map<std::string, std::string> params_;
  bool restored_;
  bool held_;
  uint64_t epoch_;
  uint64_t seq_ = 0;
  uint64_t received_ = 0;    ///< Envelopes processed (cumulative).
  bool dirty_ = true;        ///< State may differ from the last cut's blob.
  uint64_t generation_ = 0;  ///< node_core::generation() at the last cut.
  /// The epoch whose cut carried our latest bytes: an "unchanged" report
  /// names it, so a cache that kept other bytes (a late cut of an aborted
  /// epoch was dropped) refuses to reuse them.
  uint64_t blob_epoch_ = 0;
  /// The epoch current when we were born: we take no part in that cut.
  uint64_t birth_epoch_;
  caf::behavior user_behavior_;
  std::unordered_map<uint32_t, peer> peers_;
  std::unordered_map<std::string, uint32_t> ids_;
  std::unordered_map<std::string, std::vector<uint32_t>> ports_;
  uint64_t wiring_version_ = 0;
};

/// A component whose checkpointed state is a `State`.
template <class State>
class component : public component_base {
public:
  using state_type = State;

  component(caf::actor_config& cfg, component_init init) : component_base(cfg, init) {
    if (init.state)
      state_ = std::move(*std::static_pointer_cast<State>(init.state));
  }

  State& state() noexcept { return state_; }
  const State& state() const noexcept { return state_; }

  std::string save_state() const override { return encode(state_); }

private:
  State state_;
};

} // namespace amber
