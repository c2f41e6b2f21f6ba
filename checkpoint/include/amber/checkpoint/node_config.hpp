#pragma once

// The serializable view of a node's configuration (the seed's NodeConfig).
// A snapshot restores only into a node whose config matches it exactly.

#include <cstdint>
#include <optional>
#include <string>

#include <boost/serialization/string.hpp>

#include "amber/checkpoint/serial.hpp"

namespace amber {

struct node_config {
  /// Canonical bytes of the node's peer identity; empty when no peer is configured.
  std::string peer_id;
  /// Messages a component may process per scheduling cycle; nullopt: CAF's default.
  std::optional<uint64_t> cycle_op_budget;
  /// Asynchronous requests a component may have outstanding; nullopt: unbounded.
  std::optional<uint64_t> max_pending_async;
  /// Messages a node may queue toward one remote peer; nullopt: unbounded.
  std::optional<uint64_t> max_outbound_queue;
  /// Capacity of the node's event bus.
  uint64_t bus_capacity = 1024;

  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& peer_id;
    serialize_optional(ar, cycle_op_budget);
    serialize_optional(ar, max_pending_async);
    serialize_optional(ar, max_outbound_queue);
    ar& bus_capacity;
  }

  friend bool operator==(const node_config& a, const node_config& b) {
    return a.peer_id == b.peer_id && a.cycle_op_budget == b.cycle_op_budget
           && a.max_pending_async == b.max_pending_async
           && a.max_outbound_queue == b.max_outbound_queue && a.bus_capacity == b.bus_capacity;
  }
  friend bool operator!=(const node_config& a, const node_config& b) { return !(a == b); }
};

/// ok when `actual` equals `recorded`; otherwise config_mismatch naming the
/// first differing field with both values.
status check_config_matches(const node_config& recorded, const node_config& actual);

} // namespace amber
