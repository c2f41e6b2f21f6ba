#pragma once

// The `amber` commands. Each takes the shared context and its own options,
// prints its output, and returns the process exit code (cli_common.hpp).
//
// store_commands.cpp and graph_command.cpp are CAF-free; node_commands.cpp
// runs nodes and talks to control endpoints.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "amber/checkpoint/cluster_spec.hpp"
#include "cli_common.hpp"

namespace amber::cli {

struct log_options {
  bool graph = false;
  std::string cluster;          ///< The cluster snapshot chain of this cluster instead.
  std::string node;             ///< Only this node's snapshots; empty: all.
  std::optional<uint64_t> max;  ///< At most this many.
};
int cmd_log(const context& ctx, const log_options& opts);

struct show_options {
  std::string spec;
  bool components = false; ///< List every component with its state blob.
  std::string component;   ///< Print this component's state instead (as `cat`).
};
int cmd_show(const context& ctx, const show_options& opts);

// state_commands.cpp: what is inside states, described by the program's
// types (amber/cli/state_view.hpp).

/// `cat SNAPSHOT COMPONENT`: the component's state as JSON.
int cmd_cat(const context& ctx, const std::string& spec, const std::string& component);
/// `diff A B`: components added, removed and changed, with the field- and
/// key-level changes of the states the program's types describe.
int cmd_diff(const context& ctx, const std::string& a, const std::string& b);

struct verify_cli_options {
  std::string cluster_file; ///< Verify a cluster snapshot across the members' stores.
  /// With cluster_file: the cluster snapshot; empty: the newest head. With
  /// types: the snapshot; empty: every node's head.
  std::string spec;
  bool types = false; ///< Check components against this binary's registry instead.
};
int cmd_verify(const context& ctx, const verify_cli_options& opts = {});
/// `verify --types` (verify_types_command.cpp; needs the registry, so not CAF-free).
int cmd_verify_types(const context& ctx, const verify_cli_options& opts);

struct gc_cli_options {
  std::optional<uint64_t> keep;
  bool dry_run = false;
  /// How long to wait for another process's write (e.g. a node's commit).
  std::string lock_timeout = "30s";
};
int cmd_gc(const context& ctx, const gc_cli_options& opts);

/// With `cluster_file`, exports the cluster snapshot `spec` and every member
/// snapshot it names (each from its member's store).
int cmd_export(const context& ctx, const std::string& spec, const std::string& file, bool force,
               const std::string& cluster_file = {});

struct import_cli_options {
  std::string file;
  bool set_head = false; ///< Move the node's head even when it has one.
  std::string cluster_file; ///< A cluster export: each member's part into its store.
};
int cmd_import(const context& ctx, const import_cli_options& opts);

struct graph_options {
  bool dot = false;
  std::string target; ///< A graph file, a snapshot, or empty for the snapshot DAG.
  std::string cluster_file; ///< Draw the members of this cluster file and their wires.
};
int cmd_graph(const context& ctx, const graph_options& opts);

// The cluster forms (cluster_commands.cpp, CAF-free), called by the
// commands above when given a cluster.
int cmd_log_cluster(const context& ctx, const log_options& opts);
/// `show` of a cluster snapshot whose manifest bytes are `bytes`.
int show_cluster_snapshot(const context& ctx, store& s, const digest& id, const std::string& bytes);
int cmd_verify_cluster(const context& ctx, const verify_cli_options& opts);
int cmd_export_cluster(const context& ctx, const std::string& spec, const std::string& file,
                       bool force, const std::string& cluster_file);
int cmd_import_cluster(const context& ctx, const import_cli_options& opts);
int cmd_graph_cluster(const context& ctx, const graph_options& opts);

/// Options of the commands that host a node (`run`, `restore`).
struct host_cli_options {
  std::string checkpoint_every; ///< A duration; empty or "0": no periodic checkpoints.
  std::string control;          ///< unix:PATH or HOST:PORT; empty: no control endpoint.
  std::string control_token_file; ///< The token TCP callers must send.
  tls_settings tls;             ///< --tls-ca/cert/key: the control endpoint over mutual TLS.
  std::optional<size_t> threads;
  bool no_store = false; ///< run --no-store: no store, nothing checkpointed.
};
int cmd_run(const context& ctx, const std::string& graph_path, const host_cli_options& opts);

/// The ref that keeps a node's former head when a snapshot off it is
/// restored: nodes/<node>/kept/<12 hex digits of the head>.
std::string kept_branch_ref(const std::string& node_name, const digest& head);
/// `restore` of `id` when node `node_name`'s head is elsewhere: sets
/// kept_branch_ref to the head (so gc --keep cannot collect that branch)
/// and warns. @return 0, or the exit code of a store failure (printed).
int keep_head_branch(const context& ctx, store& s, const std::string& node_name,
                     const digest& id);
int cmd_restore(const context& ctx, const std::string& spec, const host_cli_options& opts);

/// `run --cluster FILE --member NAME` and `restore --cluster ...`.
struct cluster_cli_options {
  std::string file;
  std::string member;
};
/// Runs one member of a cluster (fresh, or from its store: then the whole
/// cluster rolls back to the newest cluster snapshot) until a stop signal.
int cmd_run_member(const context& ctx, const cluster_cli_options& cluster,
                   const host_cli_options& opts, bool from_store);

struct checkpoint_cli_options {
  std::string control;
  std::string control_token_file; ///< Speak amber's control protocol over TCP with this token.
  std::string timeout = "60s";
  tls_settings tls; ///< --tls-ca/cert/key: connect over mutual TLS.
};
int cmd_checkpoint(const context& ctx, const checkpoint_cli_options& opts);
/// Asks a cluster member's control endpoint to roll the whole cluster back
/// to cluster snapshot `id` (the newest when empty).
int cmd_rollback(const context& ctx, const checkpoint_cli_options& opts, const std::string& id);

} // namespace amber::cli
