#pragma once

// External side effects: what a component hands the runtime instead of
// performing it, and the sinks that perform it.
//
// A component calls `effect(sink, payload)` (component.hpp) inside a
// handler. The runtime gives the effect a key derived from its cause (see
// `component_base::effect`), keeps it in the node's effect ledger, and
// hands it to the sink only after a snapshot that contains the handler
// which issued it has committed. Each snapshot's effects layer lists the
// effects not yet performed (pending) and those performed since the
// previous snapshot (committed); a restore performs the pending ones again.
// An idempotent sink therefore sees a key more than once only after a crash
// or a restore, and must drop a key it has performed already.
//
// Ownership: a node shares its sinks (`node::add_sink`); a sink must stay
// usable until the node is destroyed.
// Threads: `apply` is called from one thread at a time per node (the
// checkpoint coordinator's, or the caller of `node::deliver_effects`),
// never from a component's handler.

#include <cstdint>
#include <string>

#include "amber/storage/status.hpp"

namespace amber {

/// One external side effect, as a sink receives it.
struct effect {
  std::string sink;    ///< The sink's name.
  std::string key;     ///< Stable across re-executions: "<component>/<cause>/<ordinal>".
  uint32_t component = 0; ///< Instance id of the component that issued it.
  std::string payload; ///< Sink-specific bytes.
};

enum class sink_kind : uint8_t {
  /// Performs an effect at once and drops a key it has performed before.
  idempotent,
  /// Two-phase (prepare at the cut, commit after the snapshot): not yet
  /// supported by the runtime; `node::add_sink` refuses such a sink.
  transactional,
};

/// A destination for effects. Implement `apply` for an idempotent sink.
class effect_sink {
public:
  virtual ~effect_sink() = default;
  /// The name components pass to `effect()`; unique per node.
  virtual const std::string& name() const = 0;
  virtual sink_kind kind() const { return sink_kind::idempotent; }
  /// Performs `e` unless its key was performed already (then: ok, nothing
  /// done). Must be durable when it returns ok: the runtime then forgets
  /// the effect after the next snapshot. Any error leaves the effect
  /// pending; the runtime retries it after the next checkpoint (or
  /// `node::deliver_effects`), in issue order per sink.
  virtual status apply(const effect& e) = 0;
};

} // namespace amber
