#pragma once

// External side effects: what a component hands the runtime instead of
// performing it, and the sinks that perform it.
//
// A component calls `effect(sink, payload)` (component.hpp) inside a
// handler. The runtime gives the effect a key derived from its cause (see
// `component_base::effect`), keeps it in the node's effect ledger, and
// performs it only once a snapshot that contains the handler which issued
// it has committed (for a cluster member: once the cluster snapshot has).
// Each snapshot's effects layer lists the effects not yet known to be
// performed, so a restore finishes them and a re-run never repeats them.
//
// Two kinds of sink:
//  - An idempotent sink gets each effect with its key after the commit and
//    drops a key it has performed before (a restore may hand it again).
//  - A transactional sink (two-phase) gets the effects issued before cut E
//    in one transaction prepared during checkpoint E, before the snapshot
//    commits; a failed prepare aborts the checkpoint. The transaction is
//    committed after the snapshot commits. A restore commits what its
//    snapshot lists as prepared and aborts this node's in-doubt
//    transactions it does not list (they belong to a lost future).
//
// Ownership: a node shares its sinks (`node::add_sink`); a sink must stay
// usable until the node is destroyed.
// Threads: the runtime calls each sink from one thread of its own (one per
// sink, in order), never from a component's handler; a sink that blocks
// delays only its own effects (and, for a transactional sink, the
// checkpoints that have effects for it, which then time out naming it).

#include <cstdint>
#include <string>
#include <vector>

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
  idempotent,    ///< See idempotent_sink.
  transactional, ///< See transactional_sink.
};

/// A destination for effects: derive from idempotent_sink or
/// transactional_sink, not from this.
class effect_sink {
public:
  virtual ~effect_sink() = default;
  /// The name components pass to `effect()`; unique per node.
  virtual const std::string& name() const = 0;
  virtual sink_kind kind() const = 0;
};

/// Performs each effect on its own, after its snapshot committed.
class idempotent_sink : public effect_sink {
public:
  sink_kind kind() const final { return sink_kind::idempotent; }
  /// Performs `e` unless its key was performed already (then: ok, nothing
  /// done). Must be durable when it returns ok: the runtime then forgets
  /// the effect after the next snapshot. An error leaves the effect
  /// pending; the runtime retries it (and the sink's later effects, which
  /// wait to keep issue order) after the next checkpoint, or at
  /// `node::deliver_effects`.
  virtual status apply(const effect& e) = 0;
  /// Performs `effects` in order, as `apply` would each, and sets
  /// `*performed` to how many are done (durably) when it returns: all of
  /// them with ok, else those before the failure. Override it to write a
  /// batch at once; the runtime hands a sink its ready effects together.
  virtual status apply_all(const std::vector<effect>& effects, size_t* performed) {
    *performed = 0;
    for (auto& e : effects) {
      if (auto st = apply(e); !st.is_ok())
        return st;
      ++*performed;
    }
    return status::ok();
  }
};

/// Performs the effects of one checkpoint in one two-phase transaction.
///
/// Transaction ids are made by the runtime, "amber/<node>/<sink>/<inc>.<epoch>"
/// (a '/' or '%' inside a name is %-escaped), and are unique per node: the
/// sink may use them as they are (e.g. as PostgreSQL's gid).
class transactional_sink : public effect_sink {
public:
  sink_kind kind() const final { return sink_kind::transactional; }
  /// Writes `effects` (in issue order) in transaction `txn` and prepares it
  /// durably: after ok, `txn` survives a crash of either side until
  /// committed or aborted. Should drop a key it has committed before (a
  /// restore to an older snapshot re-issues effects that were performed).
  /// An error aborts the checkpoint; the effects go into the next one.
  virtual status prepare(const std::string& txn, const std::vector<effect>& effects) = 0;
  /// Commits prepared `txn`. @return ok when it is committed (now or
  /// before); not_found when it is neither prepared nor committed (it was
  /// aborted: the runtime then prepares its effects again in a new
  /// transaction); another error to be retried later.
  virtual status commit(const std::string& txn) = 0;
  /// Aborts `txn` if it is prepared; ok when there is nothing to abort.
  virtual status abort(const std::string& txn) = 0;
  /// The ids of prepared, uncommitted transactions that start with
  /// `prefix` (a restore aborts those its snapshot does not list).
  virtual result<std::vector<std::string>> in_doubt(const std::string& prefix) = 0;
};

} // namespace amber
