#pragma once

// @private Publishing a member's endpoints (plain or TLS). Links dial
// asynchronously (outbound_link.cpp).

#include <cstdint>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "amber/storage/status.hpp"

namespace amber::cluster {

/// Publishes `endpoint` on host:port.
result<uint16_t> publish_endpoint(caf::actor_system& sys, const caf::actor& endpoint,
                                  const std::string& host, uint16_t port, bool tls);

} // namespace amber::cluster
