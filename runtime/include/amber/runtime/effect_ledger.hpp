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
// still pending in the snapshot a restore starts from (performed again; the
// idempotent sink drops the key if it got it before the crash). So each
// effect is performed exactly once, given deterministic handlers.
//
// Lifecycle of an entry: `issue` (host thread, host's epoch e: it belongs
// to snapshot e + 1) -> `layer(E)` lists it as pending in snapshot E > e ->
// `committed(E)` makes it ready -> `deliver` hands it to its sink -> the
// next `layer` lists it as committed -> the commit after that forgets it.
// A failed delivery leaves it ready; the next `deliver` retries it.
//
// Threads: every method may be called from any thread; `deliver` runs one
// caller at a time and calls sinks without holding the ledger's lock.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "amber/checkpoint/layers.hpp"
#include "amber/runtime/effect.hpp"

namespace amber {

class effect_ledger {
public:
  /// @return invalid_argument for a taken or empty name, or a transactional sink.
  status add_sink(std::shared_ptr<effect_sink> sink);
  bool has_sink(const std::string& name) const;

  /// Records an effect issued by a handler running in epoch `epoch`.
  void issue(uint64_t epoch, effect e);

  /// The effects layer of the snapshot of cut `epoch`: effects issued
  /// before it and not yet performed (pending), and those performed since
  /// the last committed snapshot (committed). Call once every member of the
  /// cut has reported (their effects before the cut are all in by then).
  effects_layer layer(uint64_t epoch);

  /// Snapshot `epoch` (whose layer was taken) committed: its pending
  /// effects may now be performed, its committed ones forgotten.
  void committed(uint64_t epoch);

  /// A restore: the snapshot's pending effects, ready to perform.
  void restore(const effects_layer& layer);

  /// Hands every ready effect to its sink, in issue order; after a
  /// sink's first failure the rest of its effects wait for the next call.
  /// @return ok, or the first failure (naming sink and key); the failed
  ///         effects stay pending.
  status deliver();

  struct stats_t {
    uint64_t issued = 0;
    uint64_t delivered = 0;
    uint64_t failures = 0;
    size_t pending = 0;  ///< Issued, not yet performed.
    status last_error;   ///< The latest failed delivery; ok when none yet.
  };
  stats_t stats() const;

private:
  struct entry {
    effect e;
    uint64_t epoch = 0;
    uint64_t id = 0;
    bool ready = false;
  };
  struct done {
    effect e;
    uint64_t id = 0;
    uint64_t serial = 0; ///< Order of delivery.
  };

  mutable std::mutex mutex_;
  std::mutex deliver_mutex_; ///< One deliver at a time (sinks see issue order).
  std::map<std::string, std::shared_ptr<effect_sink>> sinks_; // guarded by mutex_
  std::vector<entry> pending_;                                 // guarded by mutex_
  std::vector<done> done_;                                     // guarded by mutex_
  uint64_t next_id_ = 1;
  uint64_t serial_ = 0;
  /// Per snapshot whose layer was taken: the last delivered serial it lists.
  std::map<uint64_t, uint64_t> listed_; // guarded by mutex_
  stats_t stats_;                       // guarded by mutex_
};

} // namespace amber
