#pragma once

// The manifest: the root object of a snapshot. Its SHA-256 is the snapshot id.
//
// A manifest is canonical JSON (keys sorted, no whitespace), so the same
// snapshot content always gives the same id, and `amber show` can print it
// without knowing the layers' binary formats.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "amber/storage/digest.hpp"
#include "amber/storage/status.hpp"

namespace amber {

enum class layer_kind : uint8_t { model = 0, cache, world, effects, trace };
constexpr size_t layer_count = 5;

const char* to_string(layer_kind kind) noexcept;

/// What a capture actor returns: where its layer lives and how big it is.
struct layer_descriptor {
  layer_kind kind = layer_kind::model;
  std::string media_type; ///< E.g. "application/vnd.amber.layer.cache.v1".
  digest index;           ///< The layer's index blob.
  uint64_t blobs = 0;     ///< Distinct blobs the layer references, index included.
  uint64_t bytes = 0;     ///< Their total size.
};

struct node_info {
  std::string name;
  std::string peer_id; ///< Raw bytes; hex in JSON.
  uint64_t incarnation = 0;
  std::string runtime_version;
  digest registry_fingerprint;
};

struct manifest {
  static constexpr uint32_t current_schema = 1;
  static constexpr const char* current_media_type = "application/vnd.amber.manifest.v1+json";

  uint32_t schema_version = current_schema;
  std::string media_type = current_media_type;
  node_info node;
  std::array<layer_descriptor, layer_count> layers; ///< Indexed by layer_kind.
  int64_t created_at_ms = 0;                        ///< Unix time, milliseconds.
  std::vector<digest> parents;                      ///< Empty for a root snapshot.

  const layer_descriptor& layer(layer_kind k) const { return layers[static_cast<size_t>(k)]; }
  layer_descriptor& layer(layer_kind k) { return layers[static_cast<size_t>(k)]; }
};

/// Canonical JSON bytes of `m`.
std::string encode_manifest(const manifest& m);

/// Parses manifest bytes.
/// @return the manifest; corruption when the bytes are not a complete,
///         well-formed manifest (naming what is wrong); format_mismatch for a
///         schema version or media type this build does not read.
result<manifest> decode_manifest(std::string_view bytes);

} // namespace amber
