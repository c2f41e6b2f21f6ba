#include "wire.hpp"

namespace amber::cluster {

void register_wire_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<wire_envelope>("amber.wire_envelope");
  cfg.add_message_type<wire_batch>("amber.wire_batch");
}

} // namespace amber::cluster
