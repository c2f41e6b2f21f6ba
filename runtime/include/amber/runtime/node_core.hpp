#pragma once

// The part of a node that its components share: the directory of components
// and wires, and the message counters checkpoints read.
//
// @private: used by component_base and node; not an API for component code.
// Thread-safety: the directory is guarded by a shared mutex (many readers:
// components resolving names; rare writers: spawns). Counters are atomics.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "amber/runtime/component_ref.hpp"

namespace amber {

/// Node-wide message counters. A node is quiescent when `sent == delivered`
/// and nothing moves between two readings.
struct message_counters {
  std::atomic<uint64_t> sent{0};      ///< Envelopes sent between components.
  std::atomic<uint64_t> delivered{0}; ///< Envelopes a component has processed.
  std::atomic<uint64_t> handled{0};   ///< Every non-system message processed.
};

class node_core {
public:
  /// Registers a component; REQUIRES: id and name are unused.
  void add(const component_ref& ref);
  void remove(uint32_t id);

  std::optional<component_ref> find(std::string_view name) const;
  std::optional<component_ref> find(uint32_t id) const;
  /// All components, sorted by id.
  std::vector<component_ref> components() const;

  /// Wires `from`'s output `port` to the component named `to`.
  void wire(const std::string& from, const std::string& port, const std::string& to);
  /// The components `from`'s output `port` delivers to.
  std::vector<std::string> targets(const std::string& from, const std::string& port) const;

  message_counters counters;

private:
  mutable std::shared_mutex mutex_;
  std::unordered_map<uint32_t, component_ref> by_id_;    // guarded by mutex_
  std::unordered_map<std::string, uint32_t> by_name_;    // guarded by mutex_
  std::multimap<std::pair<std::string, std::string>, std::string> wires_; // guarded by mutex_
};

} // namespace amber
