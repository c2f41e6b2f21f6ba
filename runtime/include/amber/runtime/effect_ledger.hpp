#pragma once

// @private The node's effect ledger: effects issued by its components and
// not yet known to be performed, and the sinks that perform them.
//
// Why effects wait for a commit: an effect issued by a handler that ran
// after the newest committed cut belongs to a future a crash may discard; a
// restore re-runs that handler, which issues the same key again. Performing
// only effects whose handler lies before a committed cut means nothing a
// restore re-runs was ever performed, and everything that was performed is
// either committed in the ledger of a later snapshot (never repeated) or
// still listed in the snapshot a restore starts from (finished there; the
// sink drops a key it got before the crash). So each effect is performed
// exactly once, given deterministic handlers.
//
// Lifecycle of an idempotent sink's effect: `issue` (host thread, epoch e:
// it belongs to snapshot e + 1) -> `begin_cut(E > e)` lists it, pending,
// in the segment of effects E lists first -> `committed(E)` makes it ready
// and its sink's thread applies it -> later layers name it settled while
// its segment lives (once all of a segment is settled, one more cut names
// it, then it is dropped).
// A transactional sink's effect: `begin_cut(E)` puts it into transaction
// "…/<inc>.<E>" of its sink, prepared on the sink's thread before the cut
// may commit (listed as prepared) -> `committed(E)` commits the
// transaction -> settled. `abort_cut(E)` aborts E's transactions, drops
// E's segment and hands its effects to the next cut.
//
// Cost: a cut looks only at the effects issued since the last one, and
// writes them once (a segment blob); a later cut references the segment
// by its digest, so a busy node does not re-encode what is still pending.
//
// Threads: every method may be called from any thread. Each sink has a
// thread of its own that runs its calls in order, so a slow or hung sink
// holds up only itself; `stats()` names what a sink is busy with.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "amber/checkpoint/layers.hpp"
#include "amber/runtime/effect.hpp"
#include "amber/storage/store.hpp"

namespace amber {

class effect_ledger {
public:
  effect_ledger();
  /// Stops the sinks' threads (see `shutdown`).
  ~effect_ledger();
  effect_ledger(const effect_ledger&) = delete;
  effect_ledger& operator=(const effect_ledger&) = delete;

  /// The node's name and incarnation, which make transaction ids unique.
  void set_identity(const std::string& node, uint64_t incarnation);

  /// @return invalid_argument for a taken or empty name.
  status add_sink(std::shared_ptr<effect_sink> sink);
  bool has_sink(const std::string& name) const;

  /// Records an effect issued by a handler running in epoch `epoch`.
  void issue(uint64_t epoch, effect e);

  /// The effects layer of cut `epoch`; call once every member of the cut
  /// has reported (their effects before the cut are all in by then).
  /// Transactional effects issued before the cut go into one new
  /// transaction per sink; `prepared` hears (once, from a sink's thread,
  /// or at once when there is nothing to prepare) ok when all of them are
  /// prepared, or the first failure. The cut may commit only after ok.
  struct cut_listing {
    effects_layer layer; ///< The layer index: its segments and settled ids.
    /// The segment of the effects this cut lists first; the cut must store
    /// it with the layer.
    std::optional<blob_put> segment;
    uint64_t segment_blobs = 0; ///< Segments the layer names (this one too).
    uint64_t segment_bytes = 0;
  };
  cut_listing begin_cut(uint64_t epoch, std::function<void(status)> prepared);

  /// Cut `epoch` will not commit: its transactions are aborted (after a
  /// prepare still running) and their effects go into the next cut.
  void abort_cut(uint64_t epoch);

  /// Snapshot `epoch` committed: its effects may now be performed.
  void committed(uint64_t epoch);

  /// A restore, before any component runs: the snapshot's pending effects
  /// become ready, its prepared transactions are committed, and in-doubt
  /// transactions of this node that it does not list are aborted.
  /// @return invalid_argument for a sink the layer needs that the node
  ///         lacks; the error of a transactional sink that cannot list or
  ///         abort; timeout when a sink does not answer within `timeout`.
  status restore(const effects_layer& layer, std::chrono::milliseconds timeout);

  /// Retries what failed before (deliveries, commits, aborts).
  void retry();

  /// `retry`, then waits until every sink is idle.
  /// @return ok, the latest failure since the call began, or timeout
  ///         naming the sink that is still busy.
  status deliver(std::chrono::milliseconds timeout);

  /// What the busiest sink is doing and for how long, or "" when all are
  /// idle, e.g. "effect sink 'db' has been in prepare of … for 5012 ms".
  std::string busy() const;

  /// Stops the sinks' threads: queued calls are dropped (the latest
  /// snapshot lists their effects) and a call in progress is waited for
  /// up to `grace`, then left to finish on its own. `begin_cut` callbacks
  /// are never called after this returns.
  void shutdown(std::chrono::milliseconds grace = std::chrono::milliseconds(2000));

  struct stats_t {
    uint64_t issued = 0;
    uint64_t delivered = 0; ///< Applied, or committed in a transaction.
    uint64_t failures = 0;
    size_t pending = 0;     ///< Issued, not yet performed.
    size_t prepared_txns = 0; ///< Prepared, not yet committed.
    /// Age of the oldest prepared, uncommitted transaction (a sink's
    /// transaction timeout must exceed it); zero when there is none.
    std::chrono::milliseconds oldest_prepared{0};
    status last_error;      ///< The latest failure; ok when none yet.
  };
  stats_t stats() const;

  struct state; // In effect_ledger.cpp; shared with the sinks' threads.

private:
  std::shared_ptr<state> s_;
};

} // namespace amber
