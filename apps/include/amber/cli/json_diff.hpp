#pragma once

// The field- and key-level difference between two JSON values: what `amber
// diff` prints for a component whose type describes its state as JSON
// (registry.hpp, `to_json`).
//
// Objects are compared key by key, arrays index by index; anything else is
// compared whole. Paths read like the state's fields: `stats.total_puts`,
// `data["user 7"]`, `accounts[3]`.
//
// Pure functions; safe from any thread.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace amber::cli {

/// One value that differs.
struct json_change {
  enum class kind : uint8_t { added, removed, changed };
  kind what = kind::changed;
  std::string path;      ///< Of the value.
  std::string container; ///< Of the object or array holding it ("" for the top).
  nlohmann::json before; ///< Null when added.
  nlohmann::json after;  ///< Null when removed.
};

/// How the members of one object (or the elements of one array) differ,
/// for every container with at least one difference among its members.
struct json_container_delta {
  std::string path; ///< "" for the top.
  bool array = false;
  uint64_t added = 0;   ///< Keys (elements) only in the second value.
  uint64_t removed = 0; ///< Keys (elements) only in the first value.
  uint64_t changed = 0; ///< Members in both whose values differ.
};

struct json_diff {
  /// Innermost differences, in document order (keys sorted).
  std::vector<json_change> changes;
  /// Containers with differences among their members, in document order.
  std::vector<json_container_delta> containers;

  bool empty() const { return changes.empty(); }
};

/// What changed from `before` to `after`.
json_diff diff_json(const nlohmann::json& before, const nlohmann::json& after);

/// The diff as text lines, e.g. `data: +272 keys, 3 changed`,
/// `stats.total_puts 88929 -> 89204`, `+ data["k1"] "v"`. A container's
/// added/removed/changed counts come first when it has added or removed
/// members or more than `max_per_container` changes; at most
/// `max_per_container` of its changes are listed, then `... N more in PATH`.
std::vector<std::string> describe(const json_diff& d, size_t max_per_container = 8);

/// The diff as JSON: {"containers": [{"path", "array", "added", "removed",
/// "changed"}...], "changes": [{"op": "added|removed|changed", "path",
/// "before", "after"}...]}.
nlohmann::json to_json(const json_diff& d);

/// `value` on one line, cut to about `max_chars` (with "..."); invalid UTF-8
/// in strings is replaced rather than thrown on.
std::string compact(const nlohmann::json& value, size_t max_chars = 80);

} // namespace amber::cli
