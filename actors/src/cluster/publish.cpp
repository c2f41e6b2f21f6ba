#include "publish.hpp"

#include "amber/actors/transport.hpp"

namespace amber::cluster {

result<uint16_t> publish_endpoint(caf::actor_system& sys, const caf::actor& endpoint,
                                  const std::string& host, uint16_t port, bool tls) {
  return publish_actor(sys, endpoint, host, port, tls, /*reuse_address=*/true);
}

} // namespace amber::cluster
