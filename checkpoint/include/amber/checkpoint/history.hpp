#pragma once

// The snapshot history of a store: every manifest, summarized, in an order
// where children come before their parents (newest first), and the parent
// DAG drawn as text lanes for `amber log --graph`.
//
// Only manifests are read, never layers or state, so reading a history is
// cheap. A manifest that does not read or decode is reported apart, not
// fatal: `amber log` shows what it can and `amber verify` names the damage.
//
// Thread-safety: free functions over a `store`, which is thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "amber/checkpoint/cluster_manifest.hpp"
#include "amber/checkpoint/manifest.hpp"
#include "amber/storage/store.hpp"

namespace amber {

/// One snapshot as `amber log` lists it.
struct snapshot_summary {
  digest id;
  std::vector<digest> parents;   ///< As recorded; a parent may have been collected.
  std::string node;              ///< The node's name.
  uint64_t incarnation = 0;
  int64_t created_at_ms = 0;     ///< Unix time, milliseconds.
  uint64_t bytes = 0;            ///< Sum of the five layers' bytes (shared blobs included).
  uint64_t blobs = 0;            ///< Sum of the five layers' blob counts.
  std::vector<std::string> refs; ///< Refs that point at this snapshot, sorted.
};

struct snapshot_history {
  /// Every readable snapshot; children before parents, else newest first.
  std::vector<snapshot_summary> snapshots;
  /// Every readable cluster snapshot, in id order.
  std::vector<cluster_snapshot_entry> clusters;
  /// Manifests (node or cluster) that failed to read or decode, with why.
  std::vector<std::pair<digest, status>> unreadable;
};

/// Summarizes a decoded manifest (refs left empty).
snapshot_summary summarize(const digest& id, const manifest& m);

/// Reads every manifest and ref of `s`.
/// @return the history; io_error (or another store error) when the store
///         cannot be listed. Damaged manifests land in `unreadable`.
result<snapshot_history> read_history(store& s);

/// Orders `snaps` so that every snapshot comes before its parents; among
/// snapshots free to go next, the newest (then the smallest id) goes first.
void sort_topologically(std::vector<snapshot_summary>& snaps);

/// The ids of all snapshots whose 64-digit hex starts with `prefix`
/// (either case), sorted. invalid_argument when `prefix` is not hex.
result<std::vector<digest>> find_by_prefix(store& s, std::string_view prefix);

/// One line of a drawn history graph. `lanes` is the lane art ("* |", "|/");
/// `snapshot` indexes the input vector on lines that show a snapshot.
struct graph_line {
  std::string lanes;
  std::optional<size_t> snapshot;
};

/// Draws the parent DAG of `snaps` (which must be sorted as by
/// `sort_topologically`) like `git log --graph`: '*' marks a snapshot,
/// '|' a lane passing by, '/' and '\' lanes joining and forking, '_' a lane
/// crossing over to a join. A lane ends at a parent that is not in `snaps`.
std::vector<graph_line> draw_history(const std::vector<snapshot_summary>& snaps);

} // namespace amber
