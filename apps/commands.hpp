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
  std::string node;             ///< Only this node's snapshots; empty: all.
  std::optional<uint64_t> max;  ///< At most this many.
};
int cmd_log(const context& ctx, const log_options& opts);

struct show_options {
  std::string spec;
  bool components = false; ///< List every component with its state blob.
};
int cmd_show(const context& ctx, const show_options& opts);

int cmd_diff(const context& ctx, const std::string& a, const std::string& b);

int cmd_verify(const context& ctx);

struct gc_cli_options {
  std::optional<uint64_t> keep;
  bool dry_run = false;
};
int cmd_gc(const context& ctx, const gc_cli_options& opts);

int cmd_export(const context& ctx, const std::string& spec, const std::string& file, bool force);

struct import_cli_options {
  std::string file;
  bool set_head = false; ///< Move the node's head even when it has one.
};
int cmd_import(const context& ctx, const import_cli_options& opts);

struct graph_options {
  bool dot = false;
  std::string target; ///< A graph file, a snapshot, or empty for the snapshot DAG.
};
int cmd_graph(const context& ctx, const graph_options& opts);

/// Options of the commands that host a node (`run`, `restore`).
struct host_cli_options {
  std::string checkpoint_every; ///< A duration; empty or "0": no periodic checkpoints.
  std::string control;          ///< HOST:PORT; empty: no control endpoint.
  tls_settings tls;             ///< --tls-ca/cert/key: the control endpoint over mutual TLS.
  std::optional<size_t> threads;
};
int cmd_run(const context& ctx, const std::string& graph_path, const host_cli_options& opts);
int cmd_restore(const context& ctx, const std::string& spec, const host_cli_options& opts);

struct checkpoint_cli_options {
  std::string control;
  std::string timeout = "60s";
  tls_settings tls; ///< --tls-ca/cert/key: connect over mutual TLS.
};
int cmd_checkpoint(const context& ctx, const checkpoint_cli_options& opts);

} // namespace amber::cli
