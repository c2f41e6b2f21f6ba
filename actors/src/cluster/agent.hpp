#pragma once

// @private A member's agent: the cluster protocol for one member, for one
// incarnation (a rollback starts a new node, and a new agent with it).
//
// Cluster checkpoint (run by the leader, the cluster file's first member):
//  1. prepare(E) to every member. A member opens cut E (so does the first
//     message stamped E, or marker E, to reach it: Lai-Yang across nodes).
//  2. Once all of a member's components have cut, its links send marker E;
//     a member's cut completes when its local counts balance and every
//     peer's marker has told it what that link delivered before the cut.
//  3. The member commits its node snapshot (prepared) and answers
//     prepared(E, id); or declined.
//  4. With every member prepared, the leader writes the cluster manifest
//     into its own store and moves clusters/<name>/head: the commit point.
//     Then commit(manifest) to every member, which stores it and moves its
//     head (only forward). A member that missed it learns it at the next
//     hello (every hello carries the sender's head).
// A decline, a lost member or the timeout aborts E: abort(E) to all,
// nothing is marked committed, late answers are ignored, and the next
// epoch supersedes E.
//
// Rollback (any member can lead it): every member restores its part of one
// cluster snapshot at incarnation I = max + 1, held; once every member is
// held at I the leader of the rollback releases them all.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor.hpp>

#include "amber/checkpoint/cluster_spec.hpp"
#include "amber/runtime/atoms.hpp"
#include "amber/runtime/node.hpp"
#include "amber/storage/store.hpp"

namespace amber::cluster {

/// Agent -> its member's supervisor: roll back to `manifest` at `incarnation`.
struct rollback_order {
  std::string manifest;
  uint64_t incarnation = 0;
  bool lead = false; ///< This member leads the rollback (releases the others).
};

struct agent_config {
  const cluster_spec* spec = nullptr;
  std::string self;
  node* n = nullptr;
  std::shared_ptr<store> db;
  caf::actor coordinator;
  uint64_t incarnation = 0;
  bool held = false;           ///< Restored, waiting for release.
  bool lead_rollback = false;  ///< Release everybody once all are held at `incarnation`.
  /// The cluster manifest this member rolled back to, when it leads the
  /// rollback: sent again to a member still at an older incarnation (the
  /// first order may have died with the connection this member tore down).
  std::string rollback_manifest;
  /// Held: the id (hex) of the cluster snapshot this member was restored from.
  std::string restored_from;
  bool start_rollback = false; ///< Restarted: roll the cluster back once all are linked.
  /// Called on the agent's thread; must not block (the supervisor queues it).
  std::function<void(rollback_order)> on_rollback;
  /// Told whenever this member becomes ready (linked to all, running).
  std::function<void(bool)> on_ready;
};

/// Spawns the agent. `links` are set later
/// with (links_atom, map) since they need the agent's handle.
caf::actor spawn_agent(caf::actor_system& sys, agent_config conf);

using links_atom = caf::atom_constant<caf::atom("g_links")>;
/// Local API: (checkpoint_atom) -> cluster snapshot id hex;
/// (rollback_req_atom, std::string id_or_empty) -> "ok".
using rollback_req_atom = rollback_atom;

} // namespace amber::cluster
