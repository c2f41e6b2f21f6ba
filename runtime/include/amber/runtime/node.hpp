#pragma once

// A node: one caf::actor_system running a set of components.
//
// A node owns its actor system, its config, its incarnation (0 for a fresh
// node, the snapshot's + 1 after a restore), the graphs installed into it
// and its components, each with a per-node instance id.
//
// Ownership: the node owns the actor system; everything spawned in it (the
// checkpointer's actors too) must be gone before the node is destroyed —
// `stop()` and the destructor kill the components and wait for all actors,
// so a caf::scoped_actor made on `system()` must be gone first (CAF waits
// for it too, hidden or not).
// Thread-safety: all methods may be called from any thread, but not from
// inside one of the node's own actors (spawn and stop block).

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>

#include "amber/checkpoint/layers.hpp"
#include "amber/checkpoint/node_config.hpp"
#include "amber/runtime/component_ref.hpp"
#include "amber/runtime/node_core.hpp"
#include "amber/runtime/registry.hpp"

namespace amber {

/// The version of amber a node reports in its manifests.
const char* runtime_version() noexcept;

struct node_options {
  std::string name = "node"; ///< Names the node's head ref: `nodes/<name>/head`.
  node_config config;
  uint64_t incarnation = 0;
  /// Scheduler threads; 0 keeps CAF's default (one per core).
  size_t worker_threads = 0;
  /// Called on the actor system's config before the system starts, after
  /// the registry's message types were added: e.g. CAF options, or
  /// `add_message_type` of types not in the registry.
  std::function<void(caf::actor_system_config&)> configure;
};

class node {
public:
  node(std::shared_ptr<const registry> types, node_options opts);
  ~node();
  node(const node&) = delete;
  node& operator=(const node&) = delete;

  caf::actor_system& system() { return *system_; }
  const std::string& name() const { return opts_.name; }
  const node_config& config() const { return opts_.config; }
  uint64_t incarnation() const { return opts_.incarnation; }
  const registry& types() const { return *types_; }

  /// Spawns a component of a registered type under a node-unique name.
  /// @return its ref; unknown_type; invalid_argument for a taken or empty name.
  result<component_ref> spawn(const std::string& type_name, const std::string& name,
                              std::map<std::string, std::string> params = {});

  /// Checks a graph (unique names, known types, wires between its own or
  /// existing instances), then spawns its instances and wires them.
  /// @return ok; invalid_argument or unknown_type naming the problem (nothing
  ///         is spawned then).
  status install(const graph_def& graph);

  std::optional<component_ref> find(const std::string& name) const;
  std::optional<component_ref> find(uint32_t id) const;
  /// All components, sorted by instance id.
  std::vector<component_ref> components() const;
  std::vector<graph_def> graphs() const;
  uint32_t next_instance_id() const;

  /// The snapshot this node's state descends from: the last checkpoint it
  /// took, or the one it was restored from. Parent of its next checkpoint.
  std::optional<digest> last_snapshot() const;
  void set_last_snapshot(const digest& id);

  /// Where this node's head ref must be for its next checkpoint to move it
  /// (compare-and-swap): where the node last put it, or where it was when
  /// the node was restored or first checkpointed. Another live writer of
  /// the same node moving it makes the next checkpoint fail with
  /// `conflict`. Unset until a restore or a checkpointer sets it.
  struct head_claim {
    bool known = false;
    std::optional<digest> head; ///< nullopt: the ref must not exist.
  };
  head_claim expected_head() const;
  void set_expected_head(std::optional<digest> head);

  /// Waits until every stamped message sent was processed (or lost with an
  /// exited receiver) and nothing moved for `settle`.
  /// @return false when that did not happen within `timeout`.
  /// It cannot see a message from outside the node that still waits in a
  /// mailbox: to wait for one, make it a request and wait for the answer.
  bool wait_quiet(std::chrono::milliseconds timeout,
                  std::chrono::milliseconds settle = std::chrono::milliseconds(2));

  /// Registers a sink components can issue effects to (`effect(name, ...)`).
  /// Register sinks before components issue effects to them; a restored
  /// node gets its sinks through `restore_options::sinks`.
  /// @return invalid_argument for a taken or empty name.
  status add_sink(std::shared_ptr<effect_sink> sink);

  /// Retries what failed before (the checkpointer does after each commit
  /// and each interval) and waits until every sink is idle.
  /// @return ok, the latest failure since the call, or timeout naming the
  ///         sink that is still busy (e.g. hung in a call).
  status deliver_effects(std::chrono::milliseconds timeout = std::chrono::seconds(30));

  /// The effect ledger's figures; `last_error` names the latest failure.
  effect_ledger::stats_t effect_stats() const;

  /// Kills all components and waits for every actor of the system to finish.
  void stop();

  /// Figures for logs and benchmarks.
  struct stats_t {
    size_t components = 0;
    uint64_t sent = 0;          ///< Stamped messages sent between components.
    uint64_t received = 0;      ///< Of those, processed.
    uint64_t lost = 0;          ///< Of those, dropped with an exited receiver.
    uint64_t handled = 0;       ///< Messages from outside processed.
    uint64_t undeliverable = 0; ///< Sends refused: receiver unknown or gone.
    uint64_t redelivered = 0;   ///< In-flight messages a restore re-delivered.
    uint64_t cuts = 0;          ///< Component snapshots taken.
    std::chrono::nanoseconds max_pause{0};           ///< Longest part of a cut.
    std::chrono::nanoseconds max_pause_serialize{0}; ///< Of which serializing.
    std::chrono::nanoseconds mean_pause{0};
    std::chrono::nanoseconds mean_serialize{0};
  };
  stats_t stats() const;

  /// Makes `stop()` end `actor` too (a checkpointer's coordinator, a
  /// control endpoint): the node cannot finish while it lives.
  void attach(caf::actor actor);

  /// @private For the checkpoint actors and restore.
  node_core& core() { return *core_; }
  const std::shared_ptr<node_core>& core_ptr() const { return core_; }
  /// @private Restore: respawns a recorded component with its decoded
  /// state, held (it processes nothing until sent `release_atom`).
  result<component_ref> respawn(const component_record& rec, std::shared_ptr<void> state,
                                const std::map<std::string, std::string>& params,
                                std::string runtime);
  /// @private Restore: records a graph and its wires without spawning.
  void adopt_graph(const graph_def& graph);
  /// @private Restore: ids continue after the snapshot's.
  void set_next_instance_id(uint32_t id);

private:
  struct spawn_args {
    uint32_t id = 0; ///< 0: take the next one.
    std::string type_name;
    std::string name;
    std::string graph;
    std::map<std::string, std::string> params;
    std::shared_ptr<void> state;
    std::string runtime;
    bool held = false;
    std::optional<uint64_t> parent_epoch; ///< Set when a component spawns it.
  };
  /// REQUIRES: the caller holds core().cut_mutex() shared.
  result<entry_ptr> spawn_locked(spawn_args args);
  result<entry_ptr> spawn_entry(spawn_args args);

  std::shared_ptr<const registry> types_;
  node_options opts_;
  /// Component types that cannot be spawned, with why (check_messages).
  std::map<std::string, status> unspawnable_;
  std::unique_ptr<caf::actor_system_config> cfg_;
  std::unique_ptr<caf::actor_system> system_;
  std::shared_ptr<node_core> core_;
  mutable std::mutex mutex_;
  uint32_t next_id_ = 1;              // guarded by mutex_
  std::optional<digest> last_snapshot_; // guarded by mutex_
  head_claim expected_head_;            // guarded by mutex_
  bool stopped_ = false;                // guarded by mutex_
  std::vector<caf::actor> attached_;    // guarded by mutex_
};

} // namespace amber
