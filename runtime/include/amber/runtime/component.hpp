#pragma once

// Writing a component.
//
// A component is a class with a plain state struct (with a Boost
// `serialize`) and a CAF behavior. Derive from `component<State>`, give the
// class a stable `type_name` and a `package()`, and write `make_behavior()`
// with ordinary CAF handlers:
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
// The component is sealed: it is not a CAF actor, so CAF's `send`,
// `request`, `delayed_send`, `become`, `spawn` and `monitor` do not exist
// here (they would bypass the consistent cut). Everything a CAF user does by
// habit has a counterpart below that the runtime stamps and counts, and that
// a checkpoint captures:
//
//   | CAF habit                   | in a component                                  |
//   |-----------------------------|-------------------------------------------------|
//   | send(actor, xs...)          | send_to(name or id, xs...), emit(port, xs...)   |
//   | request(a, t, xs).then(f)   | request_to<&T::on_reply, &T::on_error>(to, xs...) |
//   | return a value from handler | same: a request's response (stamped and counted)|
//   | delayed_send(this, d, xs)   | start_timer(d, xs...) (pending timers survive a restore) |
//   | spawn<T>(...)               | spawn_child(type, name, params)                 |
//   | quit()                      | stop()                                          |
//   | monitor(a) + down handler   | monitor(name); handle `component_down`          |
//   | become(behavior)            | become(mode) + make_behavior(mode)              |
//   | write a file, call out      | effect(sink, payload) (exactly once, effect.hpp) |
//
// A checkpoint serializes `state()` and the runtime's record of the
// component (mode, pending timers and requests, monitors); everything that
// must survive a restore lives there. Messages from outside the node (a
// client's request) are plain CAF messages to the component's handle and
// are answered as in plain CAF.
//
// Determinism: a restore re-runs the handlers for the messages that were in
// flight at the cut. Handlers that only depend on the state and the message
// reproduce the same outcome.
//
// Threads: like an actor's, a component's members are touched only from its
// own handlers; `state()` must not be shared with other threads.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <caf/behavior.hpp>
#include <caf/make_message.hpp>
#include <caf/meta/type_name.hpp>

#include "amber/checkpoint/serial.hpp"
#include "amber/runtime/detail/continuation.hpp"
#include "amber/runtime/detail/stamped_element.hpp"
#include "amber/runtime/node_core.hpp"

namespace amber {

class component_host;

/// What a node hands a component it spawns. Opaque to component code.
struct component_init {
  std::shared_ptr<node_core> core;
  entry_ptr entry;
  /// The decoded state of a restored component (a State*); null on a fresh start.
  std::shared_ptr<void> state;
  /// The runtime's record of a restored component; empty on a fresh start.
  std::string runtime;
  /// Restore: run nothing (not even make_behavior) until released, so that
  /// re-delivered messages reach every component before anything new.
  bool held = false;
  uint64_t epoch = 0; ///< The epoch the component starts in.
};

/// Delivered to a component's behavior when a component it monitors is gone.
struct component_down {
  uint32_t id = 0;
  std::string name;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, component_down& x) {
  return f(caf::meta::type_name("amber.component_down"), x.id, x.name);
}

/// What became of a send.
struct send_result {
  enum code_t : uint8_t {
    sent,    ///< Handed to a live component.
    unknown, ///< No component has that name or id: nothing was sent.
    gone,    ///< The component has exited: nothing was sent.
  };
  code_t code = sent;
  explicit operator bool() const noexcept { return code == sent; }
};

namespace detail {

/// Everything a send needs after the runtime accepted it.
struct send_ticket {
  caf::abstract_actor* receiver = nullptr;
  caf::strong_actor_ptr self;
  caf::execution_unit* context = nullptr;
  stamp st;
};

void enqueue(send_ticket& t, caf::mailbox_element_ptr x);

} // namespace detail

class component_base {
public:
  explicit component_base(const component_init& init);
  virtual ~component_base();
  component_base(const component_base&) = delete;
  component_base& operator=(const component_base&) = delete;

  uint32_t instance_id() const noexcept { return info_->id; }
  const std::string& instance_name() const noexcept { return info_->name; }
  /// True when this instance was rebuilt from a snapshot: its state is the
  /// snapshot's, and initial parameters should not be applied again.
  bool restored() const noexcept { return restored_; }
  /// The instance's initial parameter `key`, or `fallback`.
  std::string param(const std::string& key, const std::string& fallback = "") const;
  const std::map<std::string, std::string>& params() const noexcept { return info_->params; }
  /// The current mode (see `become`); empty for make_behavior()'s.
  const std::string& mode() const noexcept;

  /// The handlers of a fresh or restored component, in mode "".
  virtual caf::behavior make_behavior() = 0;
  /// The handlers for `mode` (see `become`). The default knows no mode.
  virtual caf::behavior mode_behavior(const std::string& mode);

  /// The component's state, Boost-encoded. Runs on the component's thread.
  virtual std::string save_state() const = 0;

  /// Return true in a component that calls `effect()`: the runtime then
  /// counts the messages it receives per sender (part of its runtime
  /// record), which effect keys are made of. Fixed for the type.
  virtual bool issues_effects() const { return false; }

protected:
  /// Sends `xs...` to the component with instance id `to`.
  /// @return sent, or unknown/gone (nothing is sent, the node counts it).
  template <class... Ts>
  send_result send_to(uint32_t to, Ts&&... xs) {
    detail::send_ticket t;
    auto r = prepare_send(to, stamp_kind::message, 0, t);
    if (r)
      detail::enqueue(t, detail::make_stamped(std::move(t.self), t.st, std::forward<Ts>(xs)...));
    return r;
  }

  /// Sends `xs...` to the component named `to` (found again if a new
  /// component took the name after the previous one exited).
  template <class... Ts>
  send_result send_to(const std::string& to, Ts&&... xs) {
    detail::send_ticket t;
    auto r = prepare_send_named(to, t);
    if (r)
      detail::enqueue(t, detail::make_stamped(std::move(t.self), t.st, std::forward<Ts>(xs)...));
    return r;
  }

  /// Sends `xs...` along every wire from this component's output `port`.
  /// @return how many components it went to.
  template <class... Ts>
  size_t emit(const std::string& port, const Ts&... xs) {
    size_t n = 0;
    for (auto id : wired(port)) {
      detail::send_ticket t;
      if (prepare_send(id, stamp_kind::message, 0, t)) {
        detail::enqueue(t, detail::make_stamped(std::move(t.self), t.st, xs...));
        ++n;
      }
    }
    return n;
  }

  /// Sends a request; the receiver's handler result comes back as a
  /// stamped response and runs `OnReply` (a member function of this class
  /// taking the response's values), or `OnError` (taking `const status&`)
  /// when the receiver is unknown, exits first or has no handler. Pending
  /// requests are part of a checkpoint: continuations are member functions,
  /// not closures, so a restored component can still run them.
  template <auto OnReply, auto OnError = nullptr, class... Ts>
  send_result request_to(uint32_t to, Ts&&... xs) {
    auto keys = detail::continuation_keys<OnReply, OnError>();
    detail::send_ticket t;
    auto r = prepare_request(to, keys.first, keys.second, t);
    if (r)
      detail::enqueue(t, detail::make_stamped(std::move(t.self), t.st, std::forward<Ts>(xs)...));
    return r;
  }

  template <auto OnReply, auto OnError = nullptr, class... Ts>
  send_result request_to(const std::string& to, Ts&&... xs) {
    auto id = id_of(to);
    if (!id) {
      auto keys = detail::continuation_keys<OnReply, OnError>();
      fail_later(keys.second, "no component is named '" + to + "'");
      return unknown_receiver();
    }
    return request_to<OnReply, OnError>(*id, std::forward<Ts>(xs)...);
  }

  /// Delivers `xs...` to this component's own behavior after `delay`.
  /// Pending timers are part of a checkpoint and fire after a restore
  /// (with the delay that was left). @return the timer's id.
  template <class... Ts>
  uint64_t start_timer(std::chrono::milliseconds delay, Ts&&... xs) {
    return start_timer_message(delay, caf::make_message(std::forward<Ts>(xs)...));
  }

  /// @return false when the timer has fired or was cancelled already.
  bool cancel_timer(uint64_t id);

  /// Spawns a component of a registered type as part of this node; it is
  /// part of every cut this component is part of from now on.
  /// @return the child's instance id; unknown_type; invalid_argument for a
  ///         taken name; aborted when the node is stopping.
  result<uint32_t> spawn_child(const std::string& type_name, const std::string& name,
                               std::map<std::string, std::string> params = {});

  /// Ends this component after the current handler. Messages still in its
  /// mailbox are lost (and counted as lost by the node).
  void stop();

  /// Delivers `component_down{id, name}` to this behavior when the
  /// component exits (at once when it is gone already). Monitors survive a
  /// restore. @return false when no component has that name.
  bool monitor(const std::string& name);
  void demonitor(uint32_t id);

  /// Switches to `mode_behavior(mode)` (mode "": make_behavior()'s handlers)
  /// after the current handler. The mode is part of a checkpoint: a
  /// restored component resumes in it.
  void become(const std::string& mode);

  /// Hands an external side effect to the runtime instead of performing it:
  /// sink `sink` performs `payload` once the snapshot containing this
  /// handler has committed, exactly once across crashes and restores (see
  /// effect.hpp). The effect's key is "<instance name>/<cause>/<ordinal>":
  /// the cause is the message being handled — "m<sender id>.<n>" for the
  /// n-th stamped message from that sender, "t<timer id>" for a timer, and
  /// "x<n>" for anything else (a message from outside the node, a
  /// component_down, a failed request, make_behavior), n counting such
  /// handlers that issued effects — and the ordinal counts this handler's
  /// effects from 0. The same handler run on the same state and message
  /// must issue the same effects in the same order (see COMPONENTS.md).
  /// Requires `issues_effects()` to return true.
  /// @return ok; invalid_argument for a sink the node does not have or a
  ///         component that does not declare issues_effects().
  status effect(const std::string& sink, std::string payload);

  /// The instance id of the component named `name`, if the node has one.
  std::optional<uint32_t> id_of(const std::string& name);

private:
  friend class component_host;

  send_result prepare_send(uint32_t to, stamp_kind kind, uint64_t ref, detail::send_ticket& t);
  send_result prepare_send_named(const std::string& to, detail::send_ticket& t);
  send_result prepare_request(uint32_t to, const std::string& reply_key,
                              const std::string& error_key, detail::send_ticket& t);
  send_result unknown_receiver();
  void fail_later(const std::string& error_key, std::string why);
  uint64_t start_timer_message(std::chrono::milliseconds delay, caf::message msg);
  const std::vector<uint32_t>& wired(const std::string& port);

  component_host* host_ = nullptr; ///< Set by the host; outlives this object.
  component_info_ptr info_;
  bool restored_;
};

/// A component whose checkpointed state is a `State`.
template <class State>
class component : public component_base {
public:
  using state_type = State;

  explicit component(const component_init& init) : component_base(init) {
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
