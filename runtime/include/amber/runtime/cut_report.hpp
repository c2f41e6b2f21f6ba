#pragma once

// @private What components hand the cache and trace captures of a cut.
//
// Sent as shared pointers inside one node (never serialized): one report
// per component per cut, to both captures. The cache capture takes the
// report's `state` and `runtime` (moves them out: a large state is never
// copied); the trace capture reads only the counts and the identity.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/message.hpp>

#include "amber/runtime/detail/stamped_element.hpp"
#include "amber/runtime/node_core.hpp"

namespace amber {

/// A component's part of cut `epoch`.
struct cut_report {
  uint64_t epoch = 0;
  uint32_t id = 0;
  component_info_ptr info;
  /// False: nothing happened since the cut that stored `blob_epoch`'s
  /// bytes; `state` and `runtime` are empty and the old blob is reused.
  bool changed = true;
  uint64_t blob_epoch = 0;
  std::string state;   ///< Boost-encoded state.
  std::string runtime; ///< The runtime's record (mode, timers, requests, monitors).
  sent_counts sent;    ///< Cumulative, per receiver.
  uint64_t received = 0; ///< Cumulative stamped messages processed.
  /// Components this one spawned into the open cut (they report themselves).
  std::vector<component_info_ptr> joiners;
};

/// A component exited; the captures drop it from every cut it has not
/// reported to (epochs above `epoch`).
struct exit_report {
  uint32_t id = 0;
  uint64_t epoch = 0;       ///< Its epoch when it exited.
  uint64_t removal_seq = 0; ///< See cut_start::removal_seq.
  sent_counts sent;
  std::vector<component_info_ptr> joiners;
};

/// A message that was in flight at cut `epoch`: stamped before it,
/// processed by `receiver` after its snapshot.
struct flight_report {
  uint64_t epoch = 0;
  uint32_t receiver = 0;
  stamp st;
  caf::message payload;
};

using cut_report_ptr = std::shared_ptr<cut_report>;
using exit_report_ptr = std::shared_ptr<const exit_report>;
using flight_report_ptr = std::shared_ptr<const flight_report>;

} // namespace amber

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(amber::cut_report_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(amber::exit_report_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(amber::flight_report_ptr)
