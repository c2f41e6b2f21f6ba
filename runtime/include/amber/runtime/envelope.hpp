#pragma once

// The envelope the runtime puts around every component-to-component message.
//
// Component code never sees it: `component_base::send_to` wraps, the
// receiving component unwraps and dispatches the payload to its behavior. It
// carries what a consistent cut needs (the sender's epoch) and what a trace
// needs (sender and per-sender sequence number). It has an `inspect`
// overload and is registered with every node's actor system, so it crosses
// CAF's network layer unchanged (as long as the payload's types are
// registered on both sides).

#include <cstdint>
#include <string>

#include <caf/message.hpp>
#include <caf/meta/type_name.hpp>

namespace amber {

struct envelope {
  uint64_t epoch = 0;  ///< The sender's checkpoint epoch when it sent this.
  uint32_t sender = 0; ///< The sender's instance id.
  uint64_t seq = 0;    ///< The sender's send counter: orders messages per sender.
  caf::message payload;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, envelope& x) {
  return f(caf::meta::type_name("amber.envelope"), x.epoch, x.sender, x.seq, x.payload);
}

} // namespace amber
