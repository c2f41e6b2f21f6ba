#pragma once

// @private The five layer-capture actors and what they exchange with the
// coordinator and the components.
//
// world and effects answer a capture request at once from the cut's start;
// model answers once the cache capture has the cut's final members (a
// component spawned into the cut brings its type). cache and trace collect
// the cut: every member sends its report (state and message counts) to
// both, the trace capture also receives each message that was in flight,
// and each hears when a member exits. They answer when their part is
// complete. Captures never write the store: they hash and encode (in a
// detached helper, off the scheduler threads the components run on) and
// hand back the blobs; the coordinator writes every blob, the manifest and
// the head in one transaction.

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
  cut_start start; ///< The epoch, members, graphs and counts at the cut.
  uint64_t epoch() const { return start.epoch; }
  /// A cluster cut: the trace also waits for the counts of every link from
  /// these members (see remote_count_report), and tells `on_all_reported`
  /// once every member has cut (so the links can send their markers).
  std::vector<std::string> remote_members;
  caf::actor on_all_reported;
};

/// A cluster cut: what the link from `member` delivered to each of our
/// components before the cut (its marker for the epoch has arrived).
struct remote_count_report {
  uint64_t epoch = 0;
  std::string member;
  sent_counts counts;
  /// False when the sender's count in the marker differs from what the
  /// link delivered: the cut cannot be trusted (`why` says more).
  bool consistent = true;
  std::string why;
};
using remote_count_ptr = std::shared_ptr<const remote_count_report>;

/// Endpoint -> trace capture: a remote_count_report.
using remote_count_atom = caf::atom_constant<caf::atom("a_rcount")>;
/// Trace capture -> on_all_reported: (all_reported, epoch).
using all_reported_atom = caf::atom_constant<caf::atom("a_allrep")>;
/// Coordinator -> trace capture, for a cut that timed out: (stalled, epoch)
/// answers which components hold it up (empty when none is known).
using stalled_atom = caf::atom_constant<caf::atom("a_stalled")>;

/// What a capture answers: its layer, the blobs to write, and every blob
/// the layer references.
struct capture_result {
  layer_descriptor descriptor;
  std::vector<blob_put> blobs; ///< Hashed already; the coordinator writes them.
  std::vector<digest> references;
  uint64_t in_flight = 0; ///< trace: messages recorded.
  uint64_t reused = 0;    ///< cache: components whose blob was reused.
  uint64_t components = 0; ///< cache: members of the cut.
  /// cache: the blob (and size) now holding each component's state.
  std::unordered_map<uint32_t, std::pair<digest, uint64_t>> states;
  /// cache: every type a member has, for the model layer.
  std::vector<component_type_record> types;
};

using capture_context_ptr = std::shared_ptr<const capture_context>;
/// Not const: the coordinator moves the blobs out to write them.
using capture_result_ptr = std::shared_ptr<capture_result>;

/// Builds a layer's index blob into `out` (nothing is written).
void add_layer(layer_kind kind, std::string index_bytes, uint64_t extra_blobs,
               uint64_t extra_bytes, capture_result& out);

/// CPU work (hashing, encoding) a capture hands to its detached helper, so
/// that the capture itself lives on the scheduler and components reach it
/// without waking a sleeping thread.
using capture_job = std::function<result<capture_result>()>;
using capture_job_ptr = std::shared_ptr<const capture_job>;
using work_atom = caf::atom_constant<caf::atom("a_work")>;

/// Spawns the capture actor for `kind` in `sys`.
caf::actor spawn_capture(caf::actor_system& sys, layer_kind kind);

/// Spawns a detached actor that answers (work_atom, capture_job_ptr) with
/// the job's capture_result_ptr or its error.
caf::actor spawn_capture_worker(caf::actor_system& sys);

} // namespace amber

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(amber::capture_context_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(amber::capture_result_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(amber::capture_job_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(amber::remote_count_ptr)
