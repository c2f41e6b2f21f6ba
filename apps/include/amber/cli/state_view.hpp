#pragma once

// Component states as their types describe them (registry.hpp, `to_json`):
// what `amber cat`, `amber show --component` and the field-level `amber diff`
// print, for programs that want the same.
//
// Snapshots are named as on the command line: a ref, a node name,
// `cluster:NAME`, a full or short hex id, each optionally with `~N`
// (resolve_snapshot in amber/checkpoint/snapshot.hpp).
//
// Thread-safety: reads `s` only; `types` must not change meanwhile.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "amber/checkpoint/diff.hpp"
#include "amber/checkpoint/model.hpp"
#include "amber/cli/json_diff.hpp"
#include "amber/runtime/registry.hpp"
#include "amber/storage/store.hpp"

namespace amber::cli {

/// One component's state in one snapshot.
struct component_state {
  digest snapshot;
  std::string name;
  std::string type_name;
  package_ref package;
  digest state;             ///< The state blob.
  uint64_t state_bytes = 0;
  /// The state as its type describes it; empty when it cannot be described.
  std::optional<nlohmann::json> value;
  /// Why `value` is empty: the type is unknown to `types`, recorded from
  /// another package version, has no to_json, or its bytes do not decode.
  std::string why_not;

  /// `value`, or {"state_bytes": N, "state_digest": "<hex>"} without one.
  nlohmann::json value_or_summary() const;
};

/// Reads component `component` of snapshot `snapshot_spec` (verified, state
/// blob digest-checked) and describes its state with `types` (may be null:
/// no type is known).
/// @return the state; not_found for an unknown snapshot or component
///         (naming the snapshot); invalid_argument for a cluster snapshot
///         or an ambiguous prefix; corruption for damaged bytes.
result<component_state> read_component_state(store& s, const registry* types,
                                             std::string_view snapshot_spec,
                                             std::string_view component);

/// A changed component's state difference.
struct component_state_diff {
  std::string name;
  std::optional<json_diff> diff; ///< Empty when either state cannot be described.
  std::string why_not;           ///< Why `diff` is empty.
};

/// `diff_snapshots` with the field- and key-level difference of every
/// changed component whose type `types` describes (same order as
/// `snapshot.changed`).
struct snapshot_state_diff {
  snapshot_diff snapshot;
  std::vector<component_state_diff> states;
};

/// Compares snapshot `a` to snapshot `b` (specs as above).
/// @return the difference; the errors of resolve_snapshot, diff_snapshots
///         and read_component_state.
result<snapshot_state_diff> diff_snapshot_states(store& s, const registry* types,
                                                 std::string_view a, std::string_view b);
/// As above, for resolved ids.
result<snapshot_state_diff> diff_snapshot_states(store& s, const registry* types,
                                                 const digest& a, const digest& b);

} // namespace amber::cli
