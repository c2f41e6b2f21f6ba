#pragma once

// @private The two captures that collect a cut from the components.

#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>

#include "amber/checkpoint/layers.hpp"
#include "amber/runtime/cut_report.hpp"
#include "capture.hpp"
#include "cut_ledger.hpp"

namespace amber {

/// Exits the captures heard of, kept until no cut can need them: a cut
/// needs the exits numbered above its start's removal_seq.
struct exit_log {
  std::map<uint64_t, exit_report_ptr> by_seq;
  /// Forgets exits no cut starting after `removal_seq` can need.
  void prune_through(uint64_t removal_seq) {
    by_seq.erase(by_seq.begin(), by_seq.upper_bound(removal_seq));
  }
};

/// Whether `x` concerns the cut that began with `ctx`.
inline bool exit_matters(const exit_report& x, const capture_context& ctx) {
  return x.epoch < ctx.epoch() && x.removal_seq > ctx.start.removal_seq;
}

/// Collects every member's state for a cut and reuses the blob of each
/// member that did not change.
struct cache_capture_state {
  struct round {
    capture_context_ptr ctx; ///< Null until the coordinator's request arrives.
    caf::response_promise promise;
    cut_ledger ledger;
    std::unordered_map<uint32_t, cut_report_ptr> reports;
  };
  static inline const char* name = "amber.capture.cache";
  caf::actor worker; ///< Detached: hashes and encodes.
  std::map<uint64_t, round> rounds; ///< By epoch; a component may be early.
  uint64_t done_up_to = 0;          ///< Epochs at or below: finished or aborted.
  exit_log exits;
  /// Each component's latest stored state: its blob, and the epoch whose
  /// cut carried its bytes, and its runtime record.
  struct stored {
    digest blob;
    uint64_t size = 0;
    uint64_t epoch = 0;
    std::string runtime;
  };
  std::unordered_map<uint32_t, stored> last;
  /// Members that exited, dropped from `last` when the next cut completes
  /// (a cut still running may reuse the blob of one that reported first).
  std::vector<uint32_t> exited;
};

caf::behavior cache_capture(caf::stateful_actor<cache_capture_state>* self);

/// Collects every member's message counts and the messages that were in
/// flight, and completes when the counts balance (see cut_ledger).
struct trace_capture_state {
  struct round {
    capture_context_ptr ctx;
    caf::response_promise promise;
    cut_ledger ledger;
    /// Events that arrived before the coordinator's request.
    std::vector<cut_report_ptr> early_reports;
    std::vector<flight_report_ptr> early_flights;
    std::vector<remote_count_ptr> early_remote;
    std::vector<flight_report_ptr> messages;
    /// A cluster cut: members whose link counts have not arrived yet.
    std::set<std::string> remote_pending;
    bool told_all_reported = false;
    std::string failed; ///< Set when the cut cannot be trusted.
  };
  static inline const char* name = "amber.capture.trace";
  caf::actor worker; ///< Detached: encodes the layer.
  std::map<uint64_t, round> rounds;
  uint64_t done_up_to = 0;
  exit_log exits;
};

caf::behavior trace_capture(caf::stateful_actor<trace_capture_state>* self);

/// The coordinator's request for a cut: the round (components may have
/// reported already) gets its context and the promise to answer.
template <class State>
typename State::round& open_round(caf::stateful_actor<State>* self, capture_context_ptr ctx) {
  auto& r = self->state.rounds[ctx->epoch()];
  r.ctx = std::move(ctx);
  r.promise = self->make_response_promise();
  return r;
}

/// Marks every round up to `epoch` finished or aborted, and forgets it:
/// stragglers of those rounds are dropped from then on.
template <class State>
void close_rounds_through(State& st, uint64_t epoch) {
  st.done_up_to = std::max(st.done_up_to, epoch);
  st.rounds.erase(st.rounds.begin(), st.rounds.upper_bound(epoch));
  // An exit heard so far concerns at most the cut just closed: a component
  // that exited before a later cut begins is not in that cut's member list.
  if (st.rounds.empty())
    st.exits.by_seq.clear();
}

} // namespace amber
