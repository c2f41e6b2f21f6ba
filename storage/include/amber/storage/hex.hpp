#pragma once

// Hex encoding of arbitrary bytes: digests, peer ids in manifests.

#include <string>
#include <string_view>

#include "amber/storage/status.hpp"

namespace amber {

/// Lowercase hex of `bytes`.
std::string to_hex(std::string_view bytes);

/// The bytes of an even-length hex string; invalid_argument otherwise.
result<std::string> from_hex(std::string_view hex);

} // namespace amber
