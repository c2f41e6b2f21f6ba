#pragma once

// Which snapshots a binary may restore: the compatibility policy for
// package versions (docs/COMPONENTS.md, "Changing a state type").
//
// A component type is recorded with the package that provided it
// (`kv@1.2.0`). A binary restores the type's states when its package has the
// same name and
//   - the same major version, and
//   - a minor version at least the snapshot's: a newer minor or patch
//     release restores an older snapshot; a snapshot from a newer minor
//     release is refused (it may hold states the older code cannot read).
// Patch releases restore each other's snapshots both ways. Versions that are
// not MAJOR.MINOR.PATCH (with an optional -pre or +build suffix) must match
// exactly. The state format itself is versioned per type (`state_version`,
// registry.hpp): the package policy only says which releases may try.
//
// Thread-safety: free functions on the caller's values.

#include <cstdint>
#include <optional>
#include <string_view>

#include "amber/checkpoint/model.hpp"
#include "amber/storage/status.hpp"

namespace amber {

/// MAJOR.MINOR.PATCH of a package version.
struct semantic_version {
  uint64_t major = 0;
  uint64_t minor = 0;
  uint64_t patch = 0;
};

/// The leading MAJOR.MINOR.PATCH of `text`, or nothing when it has none
/// (a suffix after `-` or `+` is ignored).
std::optional<semantic_version> parse_semantic_version(std::string_view text);

/// ok when a binary providing `type_name` from package `binary` may restore
/// states recorded from package `recorded`; version_mismatch naming the type,
/// both packages and the rule otherwise.
status check_package_compatible(std::string_view type_name, const package_ref& recorded,
                                const package_ref& binary);

} // namespace amber
