#pragma once

// @private The checkpoint coordinator actor (see checkpointer.hpp).

#include <memory>

#include <caf/actor.hpp>

#include "amber/actors/checkpointer.hpp"

namespace amber {

/// Spawns a coordinator (and, linked to it, its five capture actors).
caf::actor spawn_coordinator(node& n, std::shared_ptr<store> s, checkpoint_options opts);

} // namespace amber
