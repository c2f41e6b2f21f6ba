#pragma once

// Restoring a node from a snapshot.
//
// `restore_node` verifies everything before it spawns anything: the
// manifest and every layer against their digests, the node config against
// the recorded one (exact match), every component type and package version
// against the registry, and every state blob (digest, then decode). Only then
// does it start a fresh node — incarnation = the snapshot's + 1 — reinstall
// the graphs and respawn each component with its state. The store is only read.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>

#include "amber/runtime/node.hpp"
#include "amber/storage/store.hpp"

namespace amber {

struct restore_options {
  node_config config; ///< Must equal the snapshot's config, field by field.
  size_t worker_threads = 0;
  std::function<void(caf::actor_system_config&)> configure;
  /// The restored node's incarnation; unset: the snapshot's + 1. (A
  /// cluster rollback gives every member the same one: the highest + 1.)
  std::optional<uint64_t> incarnation;
  /// Leave every component held (nothing runs) until sent `release_atom`:
  /// a cluster releases its members together.
  bool hold = false;
  /// The node's name; empty: the snapshot's.
  std::string name;
  /// Effect sinks of the restored node (see node::add_sink): every sink
  /// the snapshot's effects name. Before any component runs, each
  /// transactional sink aborts this node's in-doubt transactions the
  /// snapshot does not list; then (on the sinks' threads) the snapshot's
  /// pending effects are performed and its prepared transactions
  /// committed. One that fails stays pending (node::effect_stats()).
  std::vector<std::shared_ptr<effect_sink>> sinks;
  /// How long a transactional sink may take to list and abort its
  /// in-doubt transactions before the restore fails with timeout.
  std::chrono::milliseconds sink_timeout{10000};
};

/// Restores the snapshot `spec` names (id, short id, ref or node name).
/// @return the running node; not_found (unknown id, missing blob);
///         corruption (bad digest, truncated or garbage manifest or layer);
///         config_mismatch naming the field; unknown_type; version_mismatch.
result<std::unique_ptr<node>> restore_node(store& s, std::string_view spec,
                                           std::shared_ptr<const registry> types,
                                           const restore_options& opts);

} // namespace amber
