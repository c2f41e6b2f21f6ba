#pragma once

// Reading and writing whole snapshots through a `store`, without CAF.
//
// Writing: each capture turns its layer into an index blob with
// `make_layer_blob` (pure: nothing is written), and the coordinator commits
// every new blob with the manifest in one store transaction
// (`snapshot_commit::blobs`). `write_layer` stores an index blob at once, for
// callers that commit separately. Reading:
// `load_snapshot` verifies the manifest and every layer index against their
// digests before decoding, and checks that every state blob exists.

#include <string>
#include <string_view>
#include <vector>

#include "amber/checkpoint/layers.hpp"
#include "amber/checkpoint/manifest.hpp"
#include "amber/checkpoint/model.hpp"
#include "amber/storage/store.hpp"

namespace amber {

/// The ref that holds a node's latest snapshot: "nodes/<name>/head".
std::string head_ref(std::string_view node_name);

/// "application/vnd.amber.layer.<kind>.v1".
std::string layer_media_type(layer_kind kind);

/// A snapshot decoded from a store, all layers but the component state bytes.
struct loaded_snapshot {
  digest id;
  manifest meta;
  model_layer model;
  cache_layer cache;
  world_layer world;
  effects_layer effects;
  trace_layer trace;

  /// Every blob the snapshot references (layer indexes and state blobs).
  std::vector<digest> references() const;
};

/// Reads and verifies snapshot `id`.
/// @return the snapshot; not_found for an unknown id or a missing blob;
///         invalid_argument when `id` is a cluster snapshot;
///         corruption for bytes that fail their digest or do not decode;
///         format_mismatch for a manifest of another schema.
result<loaded_snapshot> load_snapshot(store& s, const digest& id);

/// Turns what a user typed into a snapshot id: a ref name, a node name (its
/// head ref), `cluster:NAME` (clusters/NAME/head), 64 hex digits, or an
/// unambiguous hex prefix of 4+ digits; each optionally followed by `~N`, the
/// Nth first parent (as in git; `~` alone is `~1`), so `bank~1` is the
/// snapshot before node bank's head. The id may name a node or a cluster
/// snapshot (`is_cluster_manifest` tells them apart).
/// @return the id; not_found when nothing matches or an ancestor is missing
///         (never taken, or collected by gc); invalid_argument when a prefix
///         matches several snapshots (naming them) or `~N` is malformed.
result<digest> resolve_snapshot(store& s, std::string_view spec);

/// `spec` without its `~N` suffix: the name `resolve_snapshot` starts from.
std::string_view snapshot_spec_base(std::string_view spec);

/// A layer's index blob and the descriptor that names it, not yet stored.
struct layer_blob {
  layer_descriptor descriptor;
  blob_put blob; ///< For snapshot_commit::blobs.
};

/// Hashes `index_bytes` (the calling thread does the work) and describes
/// them as the index blob of a layer that also references `extra_blobs`
/// other blobs of `extra_bytes` in total. Writes nothing.
layer_blob make_layer_blob(layer_kind kind, std::string index_bytes, uint64_t extra_blobs = 0,
                           uint64_t extra_bytes = 0);

/// Stores `index_bytes` as the index blob of a layer that also references
/// `extra_blobs` blobs (already stored) of `extra_bytes` in total, in a
/// `put_blobs` transaction of its own.
/// @return the descriptor `make_layer_blob` gives for the same arguments;
///         the store's error, in the context of the layer.
result<layer_descriptor> write_layer(store& s, layer_kind kind, const std::string& index_bytes,
                                     uint64_t extra_blobs = 0, uint64_t extra_bytes = 0);

} // namespace amber
