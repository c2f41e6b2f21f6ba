#pragma once

// The atoms amber's own actors speak. Component authors define their own.

#include <caf/atom.hpp>

namespace amber {

/// Ask a coordinator for a checkpoint; answered with the snapshot id (hex).
using checkpoint_atom = caf::atom_constant<caf::atom("a_ckpt")>;
/// Ask a cluster member to roll the whole cluster back: (rollback_atom,
/// cluster snapshot id hex, or "" for the newest); answered "ok".
using rollback_atom = caf::atom_constant<caf::atom("a_rollbk")>;
/// Coordinator -> capture actor: capture your layer for this context.
using capture_atom = caf::atom_constant<caf::atom("a_capture")>;
/// Ask a component for its encoded state (tests, tools).
using snapshot_atom = caf::atom_constant<caf::atom("a_snap")>;
/// Coordinator -> component: the cut for epoch e has begun.
using cut_atom = caf::atom_constant<caf::atom("a_cut")>;
/// Component -> cache capture: my state at the cut.
using state_atom = caf::atom_constant<caf::atom("a_state")>;
/// Component -> trace capture: my message counts at the cut.
using count_atom = caf::atom_constant<caf::atom("a_count")>;
/// Component -> trace capture: a message that was in flight at the cut.
using flight_atom = caf::atom_constant<caf::atom("a_flight")>;
/// The node -> trace capture: a stamped message was lost with its receiver.
using lost_atom = caf::atom_constant<caf::atom("a_lost")>;
/// Coordinator -> captures: forget epoch e, it was aborted.
using abort_atom = caf::atom_constant<caf::atom("a_abort")>;
/// Coordinator -> itself: time for a periodic checkpoint.
using tick_atom = caf::atom_constant<caf::atom("a_tick")>;
using stop_atom = caf::atom_constant<caf::atom("a_stop")>;
/// The clock -> a component: timer `id` is due.
using timer_atom = caf::atom_constant<caf::atom("a_timer")>;
/// A component -> itself: request `ref` failed before it was sent.
using fail_atom = caf::atom_constant<caf::atom("a_fail")>;
/// The node -> a component it spawned (lazily): it is in the directory, run.
using start_atom = caf::atom_constant<caf::atom("a_start")>;
/// Restore -> a held component: start processing your mailbox.
using release_atom = caf::atom_constant<caf::atom("a_release")>;

} // namespace amber
