#pragma once

// The atoms amber's own actors speak. Component authors define their own.

#include <caf/atom.hpp>

namespace amber {

using checkpoint_atom = caf::atom_constant<caf::atom("a_ckpt")>;
using capture_atom = caf::atom_constant<caf::atom("a_capture")>;
using snapshot_atom = caf::atom_constant<caf::atom("a_snap")>;
using stop_atom = caf::atom_constant<caf::atom("a_stop")>;

} // namespace amber
