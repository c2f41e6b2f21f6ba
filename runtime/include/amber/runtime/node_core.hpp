#pragma once

// The part of a node that its components share: the directory of components
// and wires, where a running checkpoint collects its cut, and counters.
//
// @private: used by component_base, node and the checkpoint actors; not an
// API for component code.
// Thread-safety: the directory and the cut wiring are guarded by a shared
// mutex (many readers: components resolving names; rare writers: spawns,
// exits, checkpointer changes). Counters are atomics.

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

/// Node-wide counters. A node is quiet when `sent == delivered` and nothing
/// moves between two readings.
// Each hot counter has its own cache line: every message touches them from
// every scheduler thread.
struct message_counters {
  alignas(64) std::atomic<uint64_t> sent{0};      ///< Envelopes sent between components.
  alignas(64) std::atomic<uint64_t> delivered{0}; ///< Envelopes a component has processed.
  alignas(64) std::atomic<uint64_t> handled{0};   ///< Messages from outside processed.
  alignas(64) std::atomic<uint64_t> cuts{0};      ///< Component snapshots taken.
  /// The longest a component spent in its part of a cut, and how much of
  /// that was serializing its state (nanoseconds).
  std::atomic<uint64_t> max_pause_ns{0};
  std::atomic<uint64_t> max_pause_serialize_ns{0};
  /// Sums over all cuts, for means.
  std::atomic<uint64_t> total_pause_ns{0};
  std::atomic<uint64_t> total_serialize_ns{0};
};

/// Envelopes one component sent, by receiver id (cumulative).
using sent_counts = std::vector<std::pair<uint32_t, uint64_t>>;

/// Where the components of a node send their part of a cut.
struct cut_sinks {
  caf::actor cache; ///< Receives (state_atom, epoch, id, bytes, changed).
  caf::actor trace; ///< Receives (count_atom, ...) and (flight_atom, ...).
};

class node_core {
public:
  /// Registers a component. @return false (and changes nothing) when its
  /// id or name is taken.
  bool add(const component_ref& ref);
  void remove(uint32_t id);

  std::optional<component_ref> find(std::string_view name) const;
  std::optional<component_ref> find(uint32_t id) const;
  /// All components, sorted by id.
  std::vector<component_ref> components() const;

  /// Wires `from`'s output `port` to the component named `to`.
  void wire(const std::string& from, const std::string& port, const std::string& to);
  /// The components `from`'s output `port` delivers to.
  std::vector<std::string> targets(const std::string& from, const std::string& port) const;
  /// Grows with every wire added, so components can cache `targets`.
  uint64_t wiring_version() const { return wiring_version_.load(std::memory_order_acquire); }

  /// Sets where cuts go, and makes every component serialize its state at
  /// its next cut (a new sink knows none of their previous blobs).
  void set_sinks(cut_sinks sinks);
  cut_sinks sinks() const;

  /// Bumped whenever the blobs a component reused may be gone: a new
  /// checkpointer, an aborted or failed checkpoint. A component whose last
  /// cut saw another generation serializes in full.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  void bump_generation() { generation_.fetch_add(1, std::memory_order_acq_rel); }

  /// The epoch of the latest cut begun; components spawned later start in it.
  std::atomic<uint64_t> current_epoch{0};

  /// A component that exited hands in its send counts here, so that the
  /// messages it sent before it died still balance later cuts.
  void retire(uint32_t id, sent_counts sent);
  /// Send counts of components that exited, by sender id.
  std::map<uint32_t, sent_counts> retired() const;

  /// Restore: envelopes re-delivered to `receiver` from the previous
  /// incarnation's trace, counted as sent by nobody.
  void add_injected(uint32_t receiver, uint64_t n);
  std::unordered_map<uint32_t, uint64_t> injected() const;

  /// Spawns hold it shared, the start of a cut exclusively: a component is
  /// either in a cut's list, or born in the cut's epoch and not part of it.
  std::shared_mutex& cut_mutex() { return cut_mutex_; }

  message_counters counters;

private:
  std::shared_mutex cut_mutex_;
  mutable std::shared_mutex mutex_;
  std::unordered_map<uint32_t, component_ref> by_id_;    // guarded by mutex_
  std::unordered_map<std::string, uint32_t> by_name_;    // guarded by mutex_
  std::multimap<std::pair<std::string, std::string>, std::string> wires_; // guarded by mutex_
  cut_sinks sinks_;                                       // guarded by mutex_
  std::map<uint32_t, sent_counts> retired_;               // guarded by mutex_
  std::unordered_map<uint32_t, uint64_t> injected_;       // guarded by mutex_
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> wiring_version_{1};
};

} // namespace amber
