#pragma once

// The JSON of what the store commands show. `log`, `show`, `cat`, `diff` and
// `graph` print it with --json, and `amber ui` answers it on its /api/ paths
// (ui_api.hpp), so the command line and the browsable view always agree.
//
// CAF-free. The functions taking a store only read it; the others are pure.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "amber/checkpoint/history.hpp"
#include "amber/checkpoint/layers.hpp"
#include "amber/checkpoint/model.hpp"
#include "amber/cli/state_view.hpp"
#include "amber/storage/store.hpp"

namespace amber::cli {

/// ["<64 hex>", ...].
nlohmann::json hex_list(const std::vector<digest>& ids);

/// The refs of `s` that point at `id`, sorted; none when they cannot be listed.
std::vector<std::string> refs_to(store& s, const digest& id);

/// One line of `log --json`: {"id", "parents", "node", "incarnation",
/// "created_at", "created_at_ms", "bytes", "blobs", "refs"}.
nlohmann::json summary_json(const snapshot_summary& s);

/// "pending", "committed", "aborted" or "prepared" (effect_record::state).
const char* effect_state_name(uint8_t state);

/// The components of `cache` per type, in type order: [{"type", "package",
/// "count", "state_bytes"}].
nlohmann::json components_by_type(const cache_layer& cache);

/// `show --json` of snapshot `id`: for a node snapshot {"id", "manifest",
/// "refs", "components_by_type", "components" (name, instance_id, type,
/// package, graph, state, state_bytes, state_version), "graphs", "world",
/// "effects", "effect_entries", "in_flight_messages"}; for a cluster snapshot
/// {"id", "kind": "cluster", "manifest", "refs"}.
/// @param layers set to why the layers cannot be read; the JSON then has
///        "error" in place of everything after "refs".
/// @return the JSON; not_found for an unknown id, corruption for a manifest
///         that does not decode (naming the snapshot).
result<nlohmann::json> snapshot_json(store& s, const digest& id, status* layers);

/// `graph --json` of a node's graphs: {"node", "graphs": [{"name",
/// "components": [{"name", "type", "params"}], "wires": [{"from", "port",
/// "to"}]}]}.
nlohmann::json topology_json(const std::string& node, const std::vector<graph_def>& graphs);

/// `cat --json`: {"snapshot", "component", "type", "package",
/// "state_digest", "state_bytes", "described", "state"} and, when the state
/// is shown by size only, "why_not".
nlohmann::json component_state_json(const component_state& st);

/// `diff --json` from `from` to `to`: {"from", "to", "added", "removed",
/// "changed", "unchanged", "state_bytes_delta", "graphs_added",
/// "graphs_removed", "graphs_changed", "node_renamed", "config_changed"};
/// each changed component has "state_diff" (json_diff.hpp's to_json) and
/// "state_diff_lines" (its describe() lines), or null and
/// "state_diff_unavailable" saying why.
nlohmann::json state_diff_json(const digest& from, const digest& to,
                               const snapshot_state_diff& d);

} // namespace amber::cli
