#pragma once

// The cluster manifest: the root object of a cluster snapshot, one
// consistent cut across the members of a cluster (docs/CLUSTER.md). Its
// SHA-256 is the cluster snapshot id.
//
// It names, for each member, the node snapshot the member committed (as
// prepared) for the cut, and that member's incarnation. Writing it is the
// commit point of a cluster checkpoint; every member then stores the same
// bytes in its own store and moves `clusters/<name>/head` to them
// (`adopt_cluster_manifest`).
//
// Cluster manifests live in a store's manifests table next to node
// manifests (so refs can point at them); `is_cluster_manifest` tells the
// two apart without a full decode. Every tool that lists manifests
// (history, verify, gc, resolve, archive) recognises them.
//
// Canonical JSON, like the node manifest (keys sorted, no whitespace), so
// the same cut always has the same id.
//
// Thread-safety: free functions; a `store` is thread-safe.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "amber/storage/digest.hpp"
#include "amber/storage/status.hpp"
#include "amber/storage/store.hpp"

namespace amber {

/// One member's part of a cluster snapshot.
struct cluster_member_snapshot {
  std::string member;       ///< The member's name in the cluster file.
  digest snapshot;          ///< Its node snapshot, in its own store.
  uint64_t incarnation = 0; ///< The member's incarnation at the cut.

  friend bool operator==(const cluster_member_snapshot& a, const cluster_member_snapshot& b) {
    return a.member == b.member && a.snapshot == b.snapshot && a.incarnation == b.incarnation;
  }
};

struct cluster_manifest {
  static constexpr uint32_t current_schema = 1;
  static constexpr const char* current_media_type =
    "application/vnd.amber.cluster-manifest.v1+json";

  uint32_t schema_version = current_schema;
  std::string media_type = current_media_type;
  std::string cluster;      ///< The cluster's name (no '/').
  uint64_t incarnation = 0; ///< The cluster's incarnation when the cut was taken.
  uint64_t epoch = 0;       ///< The cut's epoch within that incarnation.
  /// Sorted by member name, names unique; `encode` sorts, `decode` checks.
  std::vector<cluster_member_snapshot> members;
  int64_t created_at_ms = 0;   ///< Unix time, milliseconds.
  std::vector<digest> parents; ///< The previous committed cluster snapshot, if any.

  /// The member's entry, or nullptr.
  const cluster_member_snapshot* find(std::string_view member) const;
};

/// Bounds a decoder enforces (a cluster manifest is small).
constexpr size_t max_cluster_manifest_bytes = 1u << 20;
constexpr size_t max_cluster_members = 4096;
constexpr size_t max_cluster_parents = 16;

/// Canonical JSON bytes of `m`, members sorted by name.
std::string encode_cluster_manifest(const cluster_manifest& m);

/// Parses cluster manifest bytes.
/// @return the manifest; corruption naming the field that is missing, of the
///         wrong type or out of bounds (also: too large, duplicate or unsorted
///         members, a name with '/'); format_mismatch for a schema version or
///         media type this build does not read.
result<cluster_manifest> decode_cluster_manifest(std::string_view bytes);

/// True when `bytes` look like a cluster manifest (its media type key is
/// there). Cheap: no parse. A true answer still needs a decode.
bool is_cluster_manifest(std::string_view bytes);

/// "clusters/<name>/head".
std::string cluster_head_ref(std::string_view cluster);

/// Stores the cluster manifest `encoded` and moves `clusters/<name>/head` to
/// it in one store transaction (`store::commit`, compare-and-swap on the
/// head), but only forward: when the head is absent or its manifest is older
/// ((incarnation, epoch) smaller). Otherwise the manifest is stored and the
/// head left alone. Retries the compare-and-swap on conflict.
/// @return {id, moved}; adopting the same bytes twice gives moved = false the
///         second time. corruption / format_mismatch for bytes that do not
///         decode, or a head that points at something that is not a readable
///         cluster manifest of that cluster; busy when the head kept moving;
///         store errors.
result<std::pair<digest, bool>> adopt_cluster_manifest(store& s, std::string_view encoded);

/// Reads and decodes cluster manifest `id`.
/// @return the manifest; not_found; corruption; format_mismatch;
///         invalid_argument when `id` is a node snapshot.
result<cluster_manifest> read_cluster_manifest(store& s, const digest& id);

/// The parents recorded in manifest bytes of either kind (node or cluster).
result<std::vector<digest>> manifest_parents(std::string_view bytes);

/// A cluster snapshot and its id.
struct cluster_snapshot_entry {
  digest id;
  cluster_manifest meta;
};

/// The chain of cluster snapshots from `clusters/<cluster>/head`, newest
/// first, following first parents while they are stored.
/// @return the chain (empty when the cluster has no head in `s`); errors
///         reading or decoding a manifest on the chain, naming it.
result<std::vector<cluster_snapshot_entry>> cluster_chain(store& s, std::string_view cluster);

} // namespace amber
