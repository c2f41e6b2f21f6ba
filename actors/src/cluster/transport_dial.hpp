#pragma once

// @private Dialing and publishing for links and endpoints (plain or TLS).

#include <cstdint>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "amber/storage/status.hpp"

namespace amber::cluster {

/// Connects to a peer's endpoint (blocks; call from a detached actor).
result<caf::actor> dial_peer(caf::actor_system& sys, const std::string& host, uint16_t port,
                             bool tls);

/// Publishes `endpoint` on host:port.
result<uint16_t> publish_endpoint(caf::actor_system& sys, const caf::actor& endpoint,
                                  const std::string& host, uint16_t port, bool tls);

} // namespace amber::cluster
