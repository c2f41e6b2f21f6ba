#pragma once

// One member of a cluster: a node in this process, linked to the other
// members' processes over caf::io, checkpointed together with them
// (docs/CLUSTER.md has the protocol).
//
//   auto m = cluster_member::start(spec, "a", types, store, {});
//   m->checkpoint();        // a cluster checkpoint, from any member
//   m->rollback();          // the whole cluster back to the latest one
//
// A member started with `from_store` restores its part of the newest
// cluster snapshot any member knows, and makes the whole cluster roll back
// to it (every member at incarnation max + 1): that is how a member whose
// process died comes back.
//
// Ownership: the member owns its node (which a rollback replaces: ask
// `with_node` rather than keeping a reference) and shares the store.
// Threads: every method may be called from any thread but an actor's.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system_config.hpp>

#include "amber/checkpoint/cluster_spec.hpp"
#include "amber/checkpoint/model.hpp"
#include "amber/runtime/node.hpp"
#include "amber/storage/store.hpp"

namespace amber {

struct cluster_member_options {
  /// Restore from the store (see above) instead of starting fresh from `graphs`.
  bool from_store = false;
  /// The graphs a fresh member installs (from its graph file).
  std::vector<graph_def> graphs;
  node_config config;
  size_t worker_threads = 0;
  /// Called on every actor system config this member builds (one per
  /// incarnation), e.g. to add_message_type the components' messages.
  std::function<void(caf::actor_system_config&)> configure;
  /// Called with every node the member starts (fresh, or restored by a
  /// rollback), before its components run. Must not block.
  std::function<void(node&)> on_node;
  /// Effect sinks of every node the member starts (see node::add_sink).
  /// Effects are performed once a cluster snapshot holding them commits.
  std::vector<std::shared_ptr<effect_sink>> sinks;
};

class cluster_member {
public:
  static result<std::unique_ptr<cluster_member>>
  start(const cluster_spec& spec, const std::string& member,
        std::shared_ptr<const registry> types, std::shared_ptr<store> s,
        cluster_member_options opts);
  ~cluster_member();
  cluster_member(const cluster_member&) = delete;
  cluster_member& operator=(const cluster_member&) = delete;

  const std::string& name() const;
  const cluster_spec& spec() const;
  uint64_t incarnation() const;
  /// True once every member is linked and this one runs (not held by a rollback).
  bool ready() const;
  /// Waits until ready(). @return false on timeout.
  bool wait_ready(std::chrono::milliseconds timeout) const;

  /// Takes a cluster checkpoint (run by the cluster's first member).
  /// @return the cluster snapshot id; aborted / timeout naming the member
  ///         that declined, was lost or stayed silent.
  result<digest> checkpoint(std::chrono::milliseconds timeout = std::chrono::seconds(30));

  /// Rolls every member back to cluster snapshot `id` (the newest any
  /// member knows when empty) and waits until this member runs again.
  status rollback(std::optional<digest> id = std::nullopt,
                  std::chrono::milliseconds timeout = std::chrono::seconds(30));

  /// Runs `f` on the current node (under a lock: a rollback waits).
  void with_node(const std::function<void(node&)>& f);

  /// The actor that answers `checkpoint_atom` with a cluster snapshot id
  /// (hex) or an amber error: for a control endpoint.
  caf::actor checkpoint_actor() const;

  /// Stops the node and the links (no checkpoint).
  void stop();

  struct impl;

private:
  explicit cluster_member(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace amber
