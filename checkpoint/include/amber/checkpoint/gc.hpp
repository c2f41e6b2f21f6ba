#pragma once

// `amber gc`: remove snapshots beyond a retention policy, and every blob no
// retained snapshot reaches.
//
// Retained: every snapshot a ref points at (each node's head among them),
// and, with `keep`, each node's `keep` newest snapshots; without `keep`,
// every snapshot (gc then only removes blobs no snapshot references, such as
// those of a checkpoint that failed before its commit).
//
// Cluster snapshots (cluster_manifest.hpp): every one a ref points at
// (`clusters/NAME/head`) and, with `keep`, each cluster's `keep` newest by
// (incarnation, epoch); without `keep`, all. The member snapshot a retained
// cluster snapshot names is retained when this store holds it, whatever
// `keep` says: a member keeps what the last committed cluster snapshot needs
// until a newer one commits.
//
// Safety: the blobs a retained snapshot reaches are those `load_snapshot`
// reports, so gc refuses (removing nothing) when any snapshot of the store
// cannot be read: it could not know what a damaged snapshot still needs.
//
// Concurrency: gc may run while nodes checkpoint into the same store. It
// plans against the manifests and refs it listed, and removes everything in
// one store transaction that first checks, inside that transaction, that the
// store still holds exactly those manifests and refs (`removal::expected`).
// If a snapshot was committed, or a ref moved, since gc looked, nothing is
// removed and gc plans again (up to 8 times, then `busy`). So deciding and
// deleting are atomic, and a ref never points at a snapshot with a missing
// blob:
//   - a checkpoint that commits before gc's removal makes gc plan again and
//     keep every blob the new snapshot reaches;
//   - one that commits after it finds a removed blob missing (the store
//     checks references inside the commit transaction) and fails with
//     not_found, committing nothing; blobs it writes in that same
//     transaction (`snapshot_commit::blobs`) are never missing, only blobs it
//     reuses without writing them.
// tests/checkpoint/ops_gc_race_test.cpp races the two on an lmdb_store.

#include <cstdint>
#include <optional>
#include <vector>

#include "amber/checkpoint/progress.hpp"
#include "amber/storage/store.hpp"

namespace amber {

struct gc_options {
  /// Snapshots to keep per node, newest first; nullopt keeps all. >= 1.
  std::optional<uint64_t> keep;
  /// Plan and report, but remove nothing.
  bool dry_run = false;
};

struct gc_report {
  std::vector<digest> removed_snapshots; ///< Sorted; node and cluster snapshots.
  uint64_t removed_blobs = 0;
  uint64_t freed_bytes = 0; ///< Blob and manifest bytes removed.
  uint64_t kept_snapshots = 0;         ///< Node snapshots.
  uint64_t kept_cluster_snapshots = 0; ///< Cluster manifests.
  uint64_t kept_blobs = 0;
  uint64_t kept_bytes = 0; ///< Blob bytes kept.
  bool dry_run = false;
};

/// Collects garbage in `s` as `opts` says.
/// @return what was (or, dry, would be) removed; invalid_argument for
///         keep == 0; corruption or not_found naming a snapshot that cannot
///         be read (nothing removed); busy when snapshots kept arriving
///         while planning; any store error.
result<gc_report> collect_garbage(store& s, const gc_options& opts,
                                  const progress_fn& progress = {});

} // namespace amber
