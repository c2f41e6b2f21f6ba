#pragma once

// Checkpoints of a running node, taken by actors.
//
// A checkpointer spawns, inside the node's actor system, a coordinator and
// five capture actors (model, cache, world, effects, trace). A checkpoint is
// one request to the coordinator: it hands every capture the same context,
// gathers the five layer descriptors by message passing, and commits the
// manifest and the node's head ref in one store transaction. The snapshot id
// is the SHA-256 of the manifest bytes.
//
// This version needs a quiescent node: when a component message is in flight
// at the start, or anything moves while the layers are captured, the
// checkpoint is refused with errc::not_quiescent and nothing is committed.
//
// Ownership: the node and the store must outlive the checkpointer; destroy
// the checkpointer before stopping the node (its destructor stops its actors).
// Threads: `checkpoint()` blocks and must not be called from inside an actor
// of the node; actors send `checkpoint_atom` to `coordinator()` instead and
// get the snapshot id as 64 hex digits, or an amber caf::error.

#include <chrono>
#include <memory>

#include <caf/actor.hpp>

#include "amber/runtime/node.hpp"
#include "amber/storage/store.hpp"

namespace amber {

struct checkpoint_options {
  /// How long a checkpoint may take before it is aborted (nothing committed).
  std::chrono::milliseconds timeout{30000};
};

class checkpointer {
public:
  checkpointer(node& n, std::shared_ptr<store> s, checkpoint_options opts = {});
  ~checkpointer();
  checkpointer(const checkpointer&) = delete;
  checkpointer& operator=(const checkpointer&) = delete;

  /// Takes a checkpoint and waits for it.
  /// @return the snapshot id; not_quiescent; busy when one is running;
  ///         timeout; any store error (nothing committed on error).
  result<digest> checkpoint();

  /// The coordinator actor, for asking from inside the actor system.
  const caf::actor& coordinator() const { return coordinator_; }

private:
  node& node_;
  std::shared_ptr<store> store_;
  checkpoint_options opts_;
  caf::actor coordinator_;
};

} // namespace amber
