#pragma once

// @private The five layer-capture actors and what they exchange with the
// coordinator and the components.
//
// model, world and effects answer a capture request at once from the node.
// cache and trace collect a cut: every component sends its state to the
// cache capture and its message counts to the trace capture when it takes
// part in the cut, and the trace capture receives each message that was in
// flight. They answer the coordinator when their part is complete. Stores
// are written from detached actors: hashing and LMDB writes block, and must
// not hold
// up the scheduler threads the components run on. The cache and trace
// captures, which every component messages at every cut, run on the
// scheduler (a message to them costs no thread wake-up) and hand their
// blocking work to a detached store writer.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>

#include "amber/checkpoint/manifest.hpp"
#include "amber/runtime/node.hpp"
#include "amber/storage/store.hpp"

namespace amber {

/// What every capture of one checkpoint sees.
struct capture_context {
  node* source = nullptr; ///< Outlives the checkpoint (see checkpointer.hpp).
  std::shared_ptr<store> sink;
  uint64_t epoch = 0;
  std::vector<component_ref> components; ///< In the cut; sorted by instance id.
  std::unordered_map<uint32_t, uint64_t> injected; ///< See node_core::injected.
  /// Send counts of components that had exited when the cut began.
  std::map<uint32_t, sent_counts> retired;
};

/// What a capture answers: its layer and every blob the layer references.
struct capture_result {
  layer_descriptor descriptor;
  std::vector<digest> references;
  uint64_t in_flight = 0; ///< trace: messages recorded.
  uint64_t reused = 0;    ///< cache: components whose blob was reused.
  /// cache: the blob (and size) now holding each component's state.
  std::unordered_map<uint32_t, std::pair<digest, uint64_t>> blobs;
};

using capture_context_ptr = std::shared_ptr<const capture_context>;
using capture_result_ptr = std::shared_ptr<const capture_result>;

/// Blocking store work (hashing, LMDB writes) that a capture hands to its
/// detached writer, so that the capture itself can live on the scheduler
/// and components reach it without waking a sleeping thread.
using store_job = std::function<result<capture_result>()>;
using store_job_ptr = std::shared_ptr<const store_job>;
using write_atom = caf::atom_constant<caf::atom("a_write")>;

/// Spawns the capture actor for `kind` in `sys`.
caf::actor spawn_capture(caf::actor_system& sys, layer_kind kind);

/// Spawns a detached actor that answers (write_atom, store_job_ptr) with
/// the job's capture_result_ptr or its error.
caf::actor spawn_store_writer(caf::actor_system& sys);

} // namespace amber

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(amber::capture_context_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(amber::capture_result_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(amber::store_job_ptr)
