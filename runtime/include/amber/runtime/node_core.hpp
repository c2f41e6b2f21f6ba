#pragma once

// The part of a node that its components share: the directory of components
// and wires, the epoch of the latest cut, where a running checkpoint
// collects its cut, and the counts that keep cuts balanced when components
// come and go.
//
// @private: used by the component host, node and the checkpoint actors; not
// an API for component code.
//
// Membership is runtime-owned and epoch-stamped. Every component has
// `born_in`, the first cut that includes it:
//  - spawned from outside the node's actors (node::spawn, install):
//    current_epoch + 1, so it is never part of a cut that is already open;
//  - spawned by a component whose epoch is e: e + 1. When a cut e + 1 is
//    already open, the child *joins* it: it snapshots its initial state at
//    birth, and its parent names it in its own cut report (a "joiner").
// A component takes its part in a cut at the start of its first handler
// after the cut opened (or on the marker), so its handlers run in the
// current epoch and a message it sends is stamped with an epoch at least
// `born_in - 1` of any receiver: every message sent before a cut goes to a
// component that is part of that cut. The one exception — a cut that opens
// while a handler runs, and a receiver born after that, reached in the same
// handler — spoils that cut (`spoil`): it is aborted, never committed.
//
// Thread-safety: the directory is guarded by a shared mutex (many readers:
// components resolving names; rare writers: spawns, exits). `cut_mutex` is
// taken shared by spawns, installs and exits, exclusively by the start of a
// cut, so a cut sees each of them entirely or not at all.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/actor.hpp>

#include "amber/runtime/effect_ledger.hpp"
#include "amber/checkpoint/model.hpp"
#include "amber/runtime/detail/stamped_element.hpp"
#include "amber/storage/status.hpp"

namespace amber {

/// What a component is, fixed at spawn.
struct component_info {
  uint32_t id = 0;
  std::string name;
  std::string type_name;
  package_ref package;
  uint32_t state_version = 1; ///< The type's state version its states are written in.
  uint32_t state_class_version = 0; ///< BOOST_CLASS_VERSION of its state struct.
  std::string graph; ///< The graph that installed it; empty when spawned otherwise.
  std::map<std::string, std::string> params;
};

using component_info_ptr = std::shared_ptr<const component_info>;

/// Running totals of one component, for `node::wait_quiet`. Only the
/// component writes them (relaxed stores on its own cache line); anyone may
/// read them.
struct alignas(64) component_counters {
  std::atomic<uint64_t> sent{0};     ///< Stamped messages sent to components.
  std::atomic<uint64_t> received{0}; ///< Stamped messages processed.
  std::atomic<uint64_t> handled{0};  ///< Messages from outside processed.
};

/// One component in the directory.
struct directory_entry {
  component_info_ptr info;
  caf::actor handle;
  uint64_t born_in = 0; ///< The first cut that includes this component.
  /// Born while cut `born_in` was already open: it joins that cut with its
  /// initial state, and its parent names it in its own report.
  bool joiner = false;
  std::atomic<bool> alive{true};
  component_counters counters;
};

using entry_ptr = std::shared_ptr<directory_entry>;

/// Stamped messages one component sent, by receiver id (cumulative).
using sent_counts = std::vector<std::pair<uint32_t, uint64_t>>;

/// Where the components of a node send their part of a cut.
struct cut_sinks {
  caf::actor cache; ///< Receives cut reports and exit reports.
  caf::actor trace; ///< Receives cut reports, exit reports and in-flight messages.
};

/// What a cut sees of the node at its start, taken in one critical section.
struct cut_start {
  uint64_t epoch = 0;
  std::vector<entry_ptr> members; ///< Sorted by id.
  std::vector<graph_def> graphs;  ///< Installed graphs, each entirely.
  /// Messages to each receiver from components that exited before the cut.
  std::unordered_map<uint32_t, uint64_t> retired_to;
  /// Messages re-delivered to each receiver by a restore (sent by nobody).
  std::unordered_map<uint32_t, uint64_t> injected;
  uint64_t removal_seq = 0; ///< Exits with a higher number happened after.
};

/// How long components paused for their part of cuts.
struct cut_pause_stats {
  std::atomic<uint64_t> cuts{0}; ///< Component snapshots taken.
  /// The longest a component spent in its part of a cut, and how much of
  /// that was serializing its state (nanoseconds).
  std::atomic<uint64_t> max_pause_ns{0};
  std::atomic<uint64_t> max_pause_serialize_ns{0};
  std::atomic<uint64_t> total_pause_ns{0}; ///< Sums over all cuts, for means.
  std::atomic<uint64_t> total_serialize_ns{0};
};

/// Asks the node to spawn a component; set by the node.
struct spawn_request {
  std::string type_name;
  std::string name;
  std::map<std::string, std::string> params;
  uint64_t parent_epoch = 0; ///< The spawning component's epoch.
};
using spawn_fn = std::function<result<entry_ptr>(spawn_request)>;

class node_core {
public:
  // -- directory ---------------------------------------------------------------

  /// Registers a component. @return false (and changes nothing) when its
  /// id or name is taken.
  bool add(const entry_ptr& e);

  /// Takes an exited component out of the directory and keeps its send
  /// counts, so that messages it sent still balance later cuts.
  /// @return the exit's sequence number (see cut_start::removal_seq).
  /// REQUIRES: the caller holds `cut_mutex()` shared.
  uint64_t remove(uint32_t id, const sent_counts& sent);

  /// The node is stopping: exits skip the bookkeeping for later cuts.
  void begin_shutdown() { stopping_.store(true, std::memory_order_release); }
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }
  /// Empties the directory. REQUIRES: every component has exited.
  void clear();

  /// Ids are never reused within a node: true when `id` was given to a
  /// component at some point (so a component it no longer finds has exited).
  bool was_issued(uint32_t id) const {
    return id != 0 && id <= max_issued_.load(std::memory_order_acquire);
  }
  void note_issued(uint32_t id);

  entry_ptr find(std::string_view name) const;
  entry_ptr find(uint32_t id) const;
  /// All components, sorted by id.
  std::vector<entry_ptr> entries() const;
  size_t size() const;

  // -- wiring ------------------------------------------------------------------

  /// Wires `from`'s output `port` to the component named `to`.
  void wire(const std::string& from, const std::string& port, const std::string& to);
  /// The components `from`'s output `port` delivers to.
  std::vector<std::string> targets(const std::string& from, const std::string& port) const;
  /// Grows with every wire added, so components can cache `targets`.
  uint64_t wiring_version() const { return wiring_version_.load(std::memory_order_acquire); }

  // -- cuts --------------------------------------------------------------------

  /// Sets where cuts go, and makes every component serialize its state at
  /// its next cut (a new sink knows none of their previous blobs).
  void set_sinks(cut_sinks sinks);
  cut_sinks sinks() const;

  /// Bumped whenever the blobs a component reused may be gone: a new
  /// checkpointer, an aborted or failed checkpoint. A component whose last
  /// cut saw another generation serializes in full.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  void bump_generation() { generation_.fetch_add(1, std::memory_order_acq_rel); }

  /// The epoch of the latest cut begun.
  uint64_t current_epoch() const { return current_epoch_.load(std::memory_order_acquire); }

  /// A component sent a message stamped before cut `epoch` to a component
  /// born after it opened (possible only when the cut opened while the
  /// sender's handler ran): that cut cannot be consistent and is aborted.
  void spoil(uint64_t epoch);
  /// The latest spoiled epoch (0: none).
  uint64_t spoiled() const { return spoiled_.load(std::memory_order_acquire); }

  /// Opens the next epoch and lists what the cut needs, atomically with
  /// respect to spawns, installs and exits.
  cut_start begin_cut();
  /// Opens epoch `epoch` (a cluster cut: every member opens the same one).
  /// REQUIRES: epoch > current_epoch().
  cut_start begin_cut(uint64_t epoch);

  /// Restore: envelopes re-delivered to `receiver` from the previous
  /// incarnation's trace, counted as sent by nobody.
  void add_injected(uint32_t receiver, uint64_t n);

  /// Spawns, installs and exits hold it shared; `begin_cut` exclusively.
  std::shared_mutex& cut_mutex() { return cut_mutex_; }

  /// Records an installed graph. REQUIRES: `cut_mutex()` held shared.
  void add_graph(const graph_def& g);
  std::vector<graph_def> graphs() const;
  bool has_graph(const std::string& name) const;

  // -- spawning from components -------------------------------------------------

  void set_spawner(spawn_fn f) { spawner_ = std::move(f); }
  /// REQUIRES: called by a component of a running node.
  result<entry_ptr> spawn(spawn_request req) const;

  // -- cluster -------------------------------------------------------------------

  /// Ids from here up name a component of another member: a pseudo entry
  /// whose handle is the link to that member (made on first use).
  static constexpr uint32_t remote_id_base = 0x80000000u;
  /// Ids from here up are the senders of messages from other members, one
  /// per member (by its index in the cluster), as stamped on delivery.
  static constexpr uint32_t remote_sender_base = 0xFFFF0000u;

  /// Makes this node member `self` of a cluster whose other members are
  /// reached through `links` (member name -> its outbound link actor).
  /// `members` lists every member in cluster order (the remote sender ids).
  /// REQUIRES: called before any component runs.
  void set_cluster(std::string self, std::vector<std::string> members,
                   std::vector<std::pair<std::string, caf::actor>> links);
  bool clustered() const { return !member_.empty(); }
  /// This node's member name; empty outside a cluster.
  const std::string& member_name() const { return member_; }
  /// The sender id stamped on messages from `member` (0: not a member).
  uint32_t sender_id(std::string_view member) const;
  /// The member a sender id stands for; empty for a local sender.
  std::string sender_member(uint32_t id) const;
  /// A link forwarded `n` stamped messages to other members, or delivered
  /// `n` from them (for sum_counters: they balance nothing locally).
  void count_forwarded(uint64_t n) { forwarded_.fetch_add(n, std::memory_order_relaxed); }
  void count_delivered(uint64_t n) { delivered_.fetch_add(n, std::memory_order_relaxed); }

  // -- quiet detection ------------------------------------------------------------

  /// Sums over live and exited components: sent, received, handled; plus
  /// messages that reached no one (their receiver had exited).
  struct totals {
    uint64_t sent = 0;
    uint64_t received = 0;
    uint64_t handled = 0;
    uint64_t lost = 0;
    uint64_t injected = 0; ///< Re-delivered by a restore (included in sent).
  };
  totals sum_counters() const;

  /// A stamped message was destroyed unprocessed: its receiver had exited.
  /// Counted, and handed to a running cut's trace (in the cut's world the
  /// receiver may still be alive and owed it).
  void on_lost(const stamp& st, caf::message payload);
  /// A send found its receiver unknown or gone (nothing was sent).
  void count_undeliverable() { undeliverable_.fetch_add(1, std::memory_order_relaxed); }
  uint64_t undeliverable() const { return undeliverable_.load(std::memory_order_relaxed); }

  cut_pause_stats pauses;

  /// The node's effect ledger and sinks (see effect_ledger.hpp).
  effect_ledger& effects() { return effects_; }

private:
  effect_ledger effects_;
  std::shared_mutex cut_mutex_;
  mutable std::shared_mutex mutex_;
  std::unordered_map<uint32_t, entry_ptr> by_id_;       // guarded by mutex_
  std::unordered_map<std::string, uint32_t> by_name_;   // guarded by mutex_
  std::multimap<std::pair<std::string, std::string>, std::string> wires_; // guarded by mutex_
  cut_sinks sinks_;                                     // guarded by mutex_
  std::vector<graph_def> graphs_;                       // guarded by mutex_
  std::unordered_map<uint32_t, uint64_t> retired_to_;   // guarded by mutex_
  std::unordered_map<uint32_t, uint64_t> injected_;     // guarded by mutex_
  uint64_t removals_ = 0;                               // guarded by mutex_
  totals retired_totals_;                               // guarded by mutex_
  uint64_t injected_total_ = 0;                         // guarded by mutex_
  // Read at the start of every handler by every component: on a cache line
  // nothing writes but the start of a cut.
  alignas(64) std::atomic<uint64_t> current_epoch_{0};
  alignas(64) std::atomic<uint64_t> spoiled_{0};
  std::atomic<uint32_t> max_issued_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> wiring_version_{1};
  std::atomic<uint64_t> lost_{0};
  std::atomic<uint64_t> undeliverable_{0};
  spawn_fn spawner_;
  // Cluster: fixed before components run, except the pseudo entries.
  std::string member_;
  std::vector<std::string> members_;
  std::unordered_map<std::string, caf::actor> links_;
  // Made on first use by lookups (hence mutable).
  mutable std::unordered_map<std::string, entry_ptr> remote_by_name_; // guarded by mutex_
  mutable std::unordered_map<uint32_t, entry_ptr> remote_by_id_;      // guarded by mutex_
  mutable uint32_t next_remote_id_ = remote_id_base;                  // guarded by mutex_
  std::atomic<uint64_t> forwarded_{0};
  std::atomic<uint64_t> delivered_{0};
  entry_ptr find_remote(std::string_view qualified) const;
};

} // namespace amber
