#pragma once

// Checking a snapshot's components against a binary's registry, without
// running anything: what a restore checks before it spawns, reported per
// component instead of stopping at the first problem (`amber verify
// --types`, and restore_node itself through `load_component_state`).
//
// Thread-safety: free functions; the store and a const registry are safe
// from any thread.

#include <memory>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>

#include "amber/checkpoint/snapshot.hpp"
#include "amber/runtime/registry.hpp"
#include "amber/storage/store.hpp"

namespace amber {

/// Reads the state of `rec` from `s` (digest-checked) and decodes the
/// component as a restore does (decode_component, with `sys` for its timer
/// messages): type, package and state version against `types`, the state —
/// running the registered migrations when it is older than the type's state
/// version — and its runtime record. `buffer`, when given, holds
/// the bytes read (reused across calls, so a restore of many components
/// allocates once).
/// @return the decoded state (type-erased `T::state_type`); unknown_type;
///         version_mismatch; not_found or corruption of the blob; corruption
///         when it does not decode; aborted when a migration fails. Every
///         message names the component.
result<std::shared_ptr<void>> load_component_state(store& s, caf::actor_system& sys,
                                                   const component_record& rec,
                                                   const registry& types,
                                                   std::string* buffer = nullptr);

/// One thing that would stop a restore.
struct type_problem {
  std::string component; ///< The component's name; empty for the model layer's list.
  std::string type_name;
  status problem;
};

struct type_check_report {
  size_t components = 0; ///< Components checked.
  size_t migrated = 0;   ///< Components whose state needs (and passed) a migration.
  std::vector<type_problem> problems;
  bool ok() const { return problems.empty(); }
};

/// Checks every type the snapshot lists and every component's state:
/// registered, package version compatible, state version readable, state
/// decodes after migration, runtime record and timer messages decode (with
/// `sys`, an actor system configured as a node over `types` is).
/// @return the report (problems are in it, not in the result); an error
///         only when the snapshot itself cannot be loaded.
result<type_check_report> check_snapshot_types(store& s, caf::actor_system& sys,
                                               const loaded_snapshot& snap,
                                               const registry& types);

} // namespace amber
