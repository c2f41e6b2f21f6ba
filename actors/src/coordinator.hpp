#pragma once

// @private The checkpoint coordinator actor (see checkpointer.hpp).

#include <memory>

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>

#include "amber/actors/checkpointer.hpp"

namespace amber {

using report_atom = caf::atom_constant<caf::atom("a_report")>;
using checkpoint_report_ptr = std::shared_ptr<const checkpoint_report>;

/// Spawns a coordinator and, linked to it, its five capture actors; points
/// the node's cut sinks at the cache and trace captures.
/// Answers `checkpoint_atom` with the id in hex, and
/// `(checkpoint_atom, report_atom, bool if_changed)` with a
/// checkpoint_report_ptr (if_changed: see checkpointer::checkpoint_if_changed).
caf::actor spawn_coordinator(node& n, std::shared_ptr<store> s, checkpoint_options opts);

} // namespace amber

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(amber::checkpoint_report_ptr)
