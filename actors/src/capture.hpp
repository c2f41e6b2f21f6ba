#pragma once

// @private The five layer-capture actors and what they exchange with the
// coordinator. Captures run detached: they hash and write to LMDB, which
// blocks, and must not hold up the scheduler threads components run on.

#include <memory>
#include <vector>

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>

#include "amber/checkpoint/manifest.hpp"
#include "amber/runtime/node.hpp"
#include "amber/storage/store.hpp"

namespace amber {

/// What every capture of one checkpoint sees: the same frozen view.
struct capture_context {
  node* source = nullptr; ///< Outlives the checkpoint (see checkpointer.hpp).
  std::shared_ptr<store> sink;
  uint64_t epoch = 0;
  std::vector<component_ref> components; ///< Sorted by instance id.
  std::chrono::milliseconds timeout{0};
};

/// What a capture answers: its layer and every blob the layer references.
struct capture_result {
  layer_descriptor descriptor;
  std::vector<digest> references;
};

using capture_context_ptr = std::shared_ptr<const capture_context>;
using capture_result_ptr = std::shared_ptr<const capture_result>;

/// Spawns the capture actor for `kind` in `sys`.
caf::actor spawn_capture(caf::actor_system& sys, layer_kind kind);

} // namespace amber

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(amber::capture_context_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(amber::capture_result_ptr)
