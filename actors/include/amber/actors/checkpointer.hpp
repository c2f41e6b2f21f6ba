#pragma once

// Checkpoints of a running node, taken by actors, without stopping it.
//
// A checkpointer spawns, inside the node's actor system, a coordinator and
// five capture actors (model, cache, world, effects, trace). A checkpoint is
// a consistent cut (Lai-Yang colouring with Mattern's counters):
//
//  1. The coordinator opens epoch e and sends every component a cut marker.
//  2. A component snapshots its state before it processes the marker or the
//     first message stamped e, whichever comes first, and sends the bytes to
//     the cache capture and its message counts to the trace capture. A clean
//     component (no message since its last cut) sends no bytes: its previous
//     blob is reused.
//  3. A message stamped before e that a component receives after its
//     snapshot was in flight at the cut: it goes to the trace capture (then
//     is processed as usual).
//  4. The trace capture completes when, for every receiver, the messages
//     sent to it before the cut equal those it received before its snapshot
//     plus those recorded in flight. The cache capture completes when it has
//     every state; it hashes and writes the blobs, off the components' threads.
//  5. With the five layer descriptors in, the coordinator commits the
//     manifest and moves the node's head ref in one store transaction.
//
// No component stops for longer than it takes to serialize its own state.
// One checkpoint runs at a time; a request meanwhile gets errc::busy. A cut
// that cannot complete (a component died, counts never balance) is aborted
// after `timeout`: nothing is committed, the node keeps running, and the
// next checkpoint starts afresh.
//
// Ownership: the node and the store must outlive the checkpointer.
// Threads: `checkpoint()` and `stop()` block and must not be called from
// inside an actor of the node; actors send `checkpoint_atom` to
// `coordinator()` instead and get the snapshot id as 64 hex digits, or an
// amber caf::error.

#include <chrono>
#include <functional>
#include <memory>

#include <caf/actor.hpp>

#include "amber/runtime/node.hpp"
#include "amber/storage/store.hpp"

namespace amber {

/// What one checkpoint did, for logs and benchmarks.
struct checkpoint_report {
  digest id;
  std::chrono::microseconds duration{0};
  /// Of `duration`: until every layer was captured (the cut, hashing and
  /// encoding), and the one store transaction after.
  std::chrono::microseconds capture{0};
  std::chrono::microseconds commit{0};
  uint64_t components = 0;
  uint64_t reused = 0;    ///< Components whose previous blob was reused.
  uint64_t in_flight = 0; ///< Messages recorded in the trace layer.
  /// checkpoint_if_changed only: the cut equalled the node's last snapshot,
  /// nothing was committed, and `id` is that snapshot.
  bool unchanged = false;
};

struct checkpoint_options {
  /// How long a checkpoint may take before it is aborted (nothing committed).
  std::chrono::milliseconds timeout{30000};
  /// Take a checkpoint every `interval` (one that commits nothing when
  /// nothing changed, see checkpoint_if_changed); zero: only on request.
  std::chrono::milliseconds interval{0};
  /// `stop()` takes a final checkpoint first.
  bool checkpoint_on_stop = true;
  /// Called after every checkpoint, requested or periodic, on the
  /// coordinator's thread. Must not block.
  std::function<void(const result<checkpoint_report>&)> on_checkpoint;
};

class checkpointer {
public:
  checkpointer(node& n, std::shared_ptr<store> s, checkpoint_options opts = {});
  /// Stops the actors without a final checkpoint (use `stop()` for that).
  ~checkpointer();
  checkpointer(const checkpointer&) = delete;
  checkpointer& operator=(const checkpointer&) = delete;

  /// Takes a checkpoint and waits for it.
  /// @return the snapshot id; busy when one is running; timeout or aborted
  ///         when the cut could not complete; any store error. Nothing is
  ///         committed on error.
  result<digest> checkpoint();

  /// Same, with the figures of the checkpoint.
  result<checkpoint_report> checkpoint_with_report();

  /// A checkpoint that commits nothing when nothing changed: when the cut
  /// equals the node's last snapshot — same node, incarnation, runtime and
  /// registry, and every layer identical (states, members, graphs, timers,
  /// pending requests, effects, messages in flight) — the report says
  /// `unchanged` and carries that snapshot's id. For periodic checkpoints
  /// of a node that may sit idle. A restored node's first checkpoint always
  /// commits (its incarnation is new).
  result<checkpoint_report> checkpoint_if_changed();

  /// Takes a checkpoint, waiting out one that is running (a periodic one,
  /// say) for up to `budget` instead of answering busy.
  result<digest> checkpoint_when_free(std::chrono::milliseconds budget);

  /// Graceful shutdown: a final checkpoint (when `checkpoint_on_stop`), then
  /// the actors stop. @return the final snapshot's id, or why there is none.
  result<digest> stop();

  /// The coordinator actor, for asking from inside the actor system.
  const caf::actor& coordinator() const { return coordinator_; }

private:
  result<checkpoint_report> ask(bool if_changed);

  node& node_;
  std::shared_ptr<store> store_;
  checkpoint_options opts_;
  caf::actor coordinator_;
  bool stopped_ = false;
};

} // namespace amber
