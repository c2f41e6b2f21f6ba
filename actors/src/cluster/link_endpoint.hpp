#pragma once

// @private The receiving end of every link to this member, published on
// the member's address.
//
// For each peer it keeps the incarnation and the highest link sequence
// number taken, so a batch sent again after a reconnect delivers nothing
// twice; it acknowledges what it took. Envelopes of another incarnation are
// never delivered (fencing): older ones are dropped, newer ones wait
// unacknowledged until this member has rolled back too.
//
// A message envelope becomes a stamped message to the named component,
// with the sender's epoch (a message stamped with an epoch this node has
// not opened yet opens it first: Lai-Yang across nodes). A marker closes
// the peer's pre-cut stream: the endpoint tells the trace capture how many
// envelopes stamped before the cut it delivered to each component.
// Control messages go to the agent.

#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "amber/runtime/node_core.hpp"
#include "wire.hpp"

namespace amber::cluster {

struct endpoint_config {
  std::shared_ptr<node_core> core;
  std::string self;
  uint64_t incarnation = 0;
  caf::actor agent;
  caf::actor coordinator; ///< Hears (open_epoch, e).
};

caf::actor spawn_endpoint(caf::actor_system& sys, endpoint_config conf);

} // namespace amber::cluster
