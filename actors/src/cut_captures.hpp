#pragma once

// @private The two captures that collect a cut from the components.

#include <algorithm>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>

#include "amber/checkpoint/layers.hpp"
#include "capture.hpp"

namespace amber {

/// Collects every component's state for a cut, hashes and stores the blobs
/// that changed, and reuses the blob of each component that did not.
struct cache_capture_state {
  struct round {
    capture_context_ptr ctx; ///< Null until the coordinator's request arrives.
    caf::response_promise promise;
    struct part {
      std::string bytes;
      bool changed = false;
      uint64_t blob_epoch = 0; ///< Unchanged: the epoch whose bytes to reuse.
    };
    std::unordered_map<uint32_t, part> states;
  };
  static inline const char* name = "amber.capture.cache";
  caf::actor writer; ///< Detached: hashes and stores the blobs.
  std::map<uint64_t, round> rounds; ///< By epoch; a component may be early.
  uint64_t done_up_to = 0;          ///< Epochs at or below: finished or aborted.
  /// The blob of each component's latest stored state, and the epoch whose
  /// cut carried its bytes.
  struct stored {
    digest blob;
    uint64_t size = 0;
    uint64_t epoch = 0;
  };
  std::unordered_map<uint32_t, stored> last;
};

caf::behavior cache_capture(caf::stateful_actor<cache_capture_state>* self);

/// Collects every component's message counts for a cut and the messages
/// that were in flight, and completes when the counts balance: for each
/// receiver, the messages sent to it before the cut equal those it received
/// before its snapshot plus those recorded in flight (Mattern's counters).
struct trace_capture_state {
  struct round {
    capture_context_ptr ctx;
    caf::response_promise promise;
    std::unordered_map<uint32_t, std::pair<sent_counts, uint64_t>> counts; ///< sent, received
    std::vector<in_flight_message> messages;
    std::unordered_map<uint32_t, uint64_t> in_flight_to;
    /// Once every count is in: messages each receiver still awaits.
    std::unordered_map<uint32_t, int64_t> deficit;
    int64_t missing = -1; ///< Sum of deficits; -1 until every count is in.
    status failure;
  };
  static inline const char* name = "amber.capture.trace";
  caf::actor writer; ///< Detached: stores the layer.
  std::map<uint64_t, round> rounds;
  uint64_t done_up_to = 0;
};

caf::behavior trace_capture(caf::stateful_actor<trace_capture_state>* self);

/// Marks every round up to `epoch` finished or aborted, and forgets it:
/// stragglers of those rounds are dropped from then on.
template <class State>
void close_rounds_through(State& st, uint64_t epoch) {
  st.done_up_to = std::max(st.done_up_to, epoch);
  st.rounds.erase(st.rounds.begin(), st.rounds.upper_bound(epoch));
}

/// The coordinator's request for a round: remembered with its promise (the
/// components' parts may be there already), then `try_finish` runs.
template <class State, class TryFinish>
caf::result<capture_result_ptr> accept_request(caf::stateful_actor<State>* self,
                                               capture_context_ptr ctx, TryFinish try_finish) {
  auto& r = self->state.rounds[ctx->epoch];
  r.ctx = ctx;
  r.promise = self->make_response_promise();
  auto promise = r.promise;
  try_finish(self, ctx->epoch);
  return promise;
}

} // namespace amber
