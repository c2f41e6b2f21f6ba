#pragma once

// Graph files: what `amber run` starts, in TOML (docs/GRAPH_FORMAT.md).
//
//   [node]                      name, threads, and [node.config]
//   [[graph]]                   name
//   [[graph.component]]         name, type, count, params
//   [[graph.wire]]              from, port, to, count
//
// `count = N` repeats an entry for i = 0 .. N-1, and `{i}` (with optional
// integer arithmetic, `{i % 4}`, `{i * 7919 % 10000}`) in its strings
// becomes the index. Every error names the file, the line and column, and
// the key: "bank.toml:12:1: graph[0].component[1].type: ...".
//
// CAF-free: the caller passes the component types it knows.

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "amber/checkpoint/model.hpp"
#include "amber/checkpoint/node_config.hpp"
#include "amber/storage/status.hpp"

namespace amber::cli {

struct graph_file {
  std::string path;
  std::string node_name; ///< [node] name; defaults to the file's stem.
  node_config config;
  size_t threads = 0; ///< [node] threads; 0: one per core.
  std::vector<graph_def> graphs;

  size_t component_count() const;
  size_t wire_count() const;
};

/// The largest `count` a graph file may use.
constexpr int64_t max_count = 1'000'000;
/// The most components (and, separately, wires) a whole graph file may
/// expand to: a few `count`s must not add up to an out-of-memory.
constexpr int64_t max_total = 1'000'000;
/// The largest graph file read.
constexpr uint64_t max_graph_file_bytes = 16u << 20;

/// Reads and checks the graph file at `path`. `known_types` lists the
/// registered component types; empty skips that check. `remote_members`,
/// for a member of a cluster, names the other members: a wire's `to` may
/// then be `member/component` with `member` one of them (the component is
/// checked by that member); null (the default) allows no such wire.
/// @return the graph; not_found when the file does not exist;
///         unknown_type for a component type not in `known_types`;
///         invalid_argument naming file, line, key and problem.
result<graph_file> load_graph_file(const std::string& path,
                                   const std::set<std::string>& known_types,
                                   const std::set<std::string>* remote_members = nullptr);

/// As `load_graph_file`, from text; `path` is only used in messages.
result<graph_file> parse_graph_file(std::string_view text, const std::string& path,
                                    const std::set<std::string>& known_types,
                                    const std::set<std::string>* remote_members = nullptr);

/// Splits a wire end "member/component" into its two parts; false when
/// `end` has no '/' (a local component).
bool split_remote(std::string_view end, std::string_view* member, std::string_view* component);

/// Replaces each `{expr}` in `text` with its value for index `i`; `{{` and
/// `}}` stand for braces. `expr` is `i` followed by any number of
/// `+ - * / %` and a non-negative integer, evaluated left to right.
/// @return the text; invalid_argument describing the bad template. With
///         `has_index` false, any `{...}` is an error (no count was given).
result<std::string> expand_template(std::string_view text, int64_t i, bool has_index);

} // namespace amber::cli
