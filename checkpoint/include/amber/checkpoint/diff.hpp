#pragma once

// `amber diff A B`: what changed between two snapshots.
//
// Components are matched by instance name. A component is changed when its
// state blob or its type differs; sizes are the state blobs' sizes. Graphs
// are matched by name and compared whole (instances, parameters, wires).
//
// Thread-safety: reads `s` only.

#include <cstdint>
#include <string>
#include <vector>

#include "amber/storage/store.hpp"

namespace amber {

struct component_delta {
  std::string name;
  std::string type_name;     ///< In B (in A for a removed component).
  std::string old_type_name; ///< In A; empty for an added component.
  digest old_state;          ///< Zero for an added component.
  digest new_state;          ///< Zero for a removed component.
  uint64_t old_bytes = 0;
  uint64_t new_bytes = 0;
};

struct snapshot_diff {
  digest from;
  digest to;
  std::vector<component_delta> added;   ///< Sorted by name.
  std::vector<component_delta> removed; ///< Sorted by name.
  std::vector<component_delta> changed; ///< Sorted by name.
  uint64_t unchanged = 0;
  std::vector<std::string> graphs_added;
  std::vector<std::string> graphs_removed;
  std::vector<std::string> graphs_changed;
  bool node_renamed = false;
  bool config_changed = false;
  int64_t state_bytes_delta = 0; ///< Sum of B's state sizes minus A's.

  bool empty() const {
    return added.empty() && removed.empty() && changed.empty() && graphs_added.empty()
           && graphs_removed.empty() && graphs_changed.empty() && !node_renamed
           && !config_changed;
  }
};

/// Compares snapshot `a` to snapshot `b`, both fully verified first.
/// @return the difference; not_found, corruption, format_mismatch from
///         loading either snapshot (naming it).
result<snapshot_diff> diff_snapshots(store& s, const digest& a, const digest& b);

} // namespace amber
