#pragma once

// The check behind `removal::expected`, shared by the store implementations.
// Private to amber_storage.

#include <string>
#include <utility>
#include <vector>

#include "amber/storage/store.hpp"

namespace amber::detail {

/// Compares what a removal was planned against with what the store holds
/// now (both in any order).
/// @return ok when they are the same; conflict naming the first snapshot
///         committed or removed, or ref created, moved or deleted, since.
status check_removal_guard(const removal_guard& expected, std::vector<digest> manifests,
                           std::vector<std::pair<std::string, digest>> refs);

} // namespace amber::detail
