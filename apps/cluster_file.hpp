#pragma once

// Cluster files: the members of a cluster and how to reach them, in TOML
// (docs/CLUSTER.md).
//
//   [cluster]        name, checkpoint_every, checkpoint_timeout, heartbeat,
//                    member_timeout (durations: "500ms", "2s", ...)
//   [cluster.tls]    ca, cert, key: all three or none
//   [[member]]       name, address (HOST:PORT), graph, store, control
//
// Relative paths (graph, store, TLS files) are resolved against the cluster
// file's directory. Every error names the file, the line and column, and
// the key: "bank.toml:9:1: member[1].address: ...".
//
// CAF-free. Threads: plain functions, no shared state.

#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "amber/checkpoint/cluster_spec.hpp"
#include "amber/storage/status.hpp"

namespace amber::cli {

/// The largest cluster file read (as for graph files).
constexpr uint64_t max_cluster_file_bytes = 16u << 20;

/// Reads and checks the cluster file at `path`.
/// @return the cluster; not_found when the file does not exist;
///         invalid_argument naming file, line, key and problem.
result<cluster_spec> load_cluster_file(const std::string& path);

/// As `load_cluster_file`, from text; `path` names the file in messages and
/// its directory anchors relative paths.
result<cluster_spec> parse_cluster_file(std::string_view text, const std::string& path);

/// Checks TLS settings: all three files or none.
/// @return ok; invalid_argument naming `where` and the files set and unset.
status check_tls_complete(const tls_settings& tls, const std::string& where = "cluster.tls");

/// The names of the members of `spec` other than `member`, for
/// `load_graph_file`'s `remote_members`.
std::set<std::string> other_members(const cluster_spec& spec, std::string_view member);

} // namespace amber::cli
