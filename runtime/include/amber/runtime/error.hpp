#pragma once

// amber::status at the actor boundary: a caf::error of category "amber" whose
// code is the errc and whose context holds the message text. Round trips,
// including across processes (both sides register the category via node).

#include <caf/actor_system_config.hpp>
#include <caf/error.hpp>

#include "amber/storage/status.hpp"

namespace amber {

/// The caf::error category of every amber error.
constexpr caf::atom_value error_category = caf::atom("amber");

caf::error to_caf_error(const status& st);

/// Any caf::error as a status: amber's own keep code and text; CAF's become
/// errc::aborted (or timeout for request_timeout) with CAF's rendering.
status from_caf_error(const caf::actor_system& sys, const caf::error& err);

/// Makes `cfg` render amber errors readably (to_string of a caf::error).
void add_error_category(caf::actor_system_config& cfg);

} // namespace amber
