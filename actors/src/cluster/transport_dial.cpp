#include "transport_dial.hpp"

#include <caf/io/middleman.hpp>

namespace amber::cluster {

result<caf::actor> dial_peer(caf::actor_system& sys, const std::string& host, uint16_t port,
                             bool tls) {
  (void) tls;
  auto remote = sys.middleman().remote_actor(host, port);
  if (!remote)
    return status::io_error("cannot reach " + host + ":" + std::to_string(port) + ": "
                                       + sys.render(remote.error()));
  return *remote;
}

result<uint16_t> publish_endpoint(caf::actor_system& sys, const caf::actor& endpoint,
                                  const std::string& host, uint16_t port, bool tls) {
  (void) tls;
  auto p = sys.middleman().publish(endpoint, port, host.c_str(), true);
  if (!p)
    return status::io_error("cannot listen on " + host + ":" + std::to_string(port) + ": "
                            + sys.render(p.error()));
  return *p;
}

} // namespace amber::cluster
