// amber graph [--dot] [ID|GRAPH]: a component topology (from a graph file or
// a snapshot's model layer), or the snapshot DAG of a store. CAF-free.

#include <algorithm>
#include <filesystem>
#include <set>

#include <fmt/core.h>

#include "amber/checkpoint/history.hpp"
#include "amber/checkpoint/snapshot.hpp"
#include "commands.hpp"
#include "cluster_file.hpp"
#include "graph_file.hpp"
#include "json_views.hpp"

namespace amber::cli {

using json = nlohmann::json;

namespace {

// A DOT double-quoted string.
std::string quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\')
      out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

void print_topology_dot(const std::string& title, const std::vector<graph_def>& graphs) {
  fmt::print("digraph {} {{\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
             quote(title));
  for (size_t i = 0; i < graphs.size(); ++i) {
    auto& g = graphs[i];
    fmt::print("  subgraph {} {{\n    label={};\n", quote("cluster_" + std::to_string(i)),
               quote(g.name));
    for (auto& inst : g.instances)
      fmt::print("    {} [label={}];\n", quote(inst.name), quote(inst.name + "\n" + inst.type_name));
    fmt::print("  }}\n");
  }
  for (auto& g : graphs)
    for (auto& e : g.edges)
      fmt::print("  {} -> {} [label={}];\n", quote(e.from), quote(e.to), quote(e.port));
  fmt::print("}}\n");
}

void print_topology_text(const std::vector<graph_def>& graphs) {
  for (auto& g : graphs) {
    fmt::print("graph {}: {} components, {} wires\n", g.name, g.instances.size(), g.edges.size());
    for (auto& inst : g.instances)
      fmt::print("  {} ({})\n", inst.name, inst.type_name);
    for (auto& e : g.edges)
      fmt::print("  {} --{}--> {}\n", e.from, e.port, e.to);
  }
}

// graph only draws a file, so it takes any component type; a type this
// binary could not run is noted on stderr.
void note_unknown_types(const context& ctx, const std::vector<graph_def>& graphs) {
  std::set<std::string> unknown;
  for (auto& g : graphs)
    for (auto& inst : g.instances)
      if (ctx.known_types.count(inst.type_name) == 0)
        unknown.insert(inst.type_name);
  if (unknown.empty())
    return;
  std::string list;
  for (auto& t : unknown)
    list += (list.empty() ? "" : ", ") + t;
  warn("this binary cannot run component types " + list + "; " + types_hint(ctx));
}

int show_topology(const context& ctx, const graph_options& opts, const std::string& node,
                  const std::vector<graph_def>& graphs) {
  if (ctx.json)
    print_json(topology_json(node, graphs));
  else if (opts.dot)
    print_topology_dot(node, graphs);
  else
    print_topology_text(graphs);
  return exit_ok;
}

int show_dag(const context& ctx, const graph_options& opts) {
  auto db = open_store(ctx, store_access::read);
  if (!db)
    return fail(ctx, db.error());
  auto hist = read_history(**db);
  if (!hist)
    return fail(ctx, hist.error());
  auto& snaps = hist->snapshots;
  if (ctx.json) {
    json nodes = json::array();
    for (auto& s : snaps) {
      json parents = json::array();
      for (auto& p : s.parents)
        parents.push_back(p.to_hex());
      nodes.push_back({{"id", s.id.to_hex()}, {"parents", parents}, {"node", s.node},
                       {"incarnation", s.incarnation}, {"refs", s.refs}});
    }
    print_json({{"snapshots", nodes}});
  } else if (opts.dot) {
    fmt::print("digraph \"snapshots\" {{\n  rankdir=BT;\n"
               "  node [shape=box, fontname=\"monospace\"];\n");
    std::set<digest> present;
    for (auto& s : snaps)
      present.insert(s.id);
    for (auto& s : snaps) {
      std::string label = fmt::format("{}\n{} #{}\n{}", s.id.short_hex(), s.node, s.incarnation,
                                      local_time(s.created_at_ms));
      for (auto& r : s.refs)
        label += "\n" + r;
      fmt::print("  {} [label={}{}];\n", quote(s.id.to_hex()), quote(label),
                 s.refs.empty() ? "" : ", style=bold");
    }
    for (auto& s : snaps)
      for (auto& p : s.parents)
        if (present.count(p) > 0)
          fmt::print("  {} -> {};\n", quote(s.id.to_hex()), quote(p.to_hex()));
    fmt::print("}}\n");
  } else {
    auto lines = draw_history(snaps);
    size_t width = 0;
    for (auto& l : lines)
      width = std::max(width, l.lanes.size());
    for (auto& l : lines) {
      if (l.snapshot) {
        auto& s = snaps[*l.snapshot];
        fmt::print("{:<{}}  {} {} #{}\n", l.lanes, width, s.id.short_hex(), s.node, s.incarnation);
      } else {
        fmt::print("{}\n", l.lanes);
      }
    }
  }
  for (auto& [id, why] : hist->unreadable)
    warn("snapshot " + id.to_hex() + " cannot be read: " + why.to_string());
  return hist->unreadable.empty() ? exit_ok : exit_failure;
}

// Anything that exists on disk (a directory or a FIFO too, which the graph
// loader then refuses by name), or a name ending in .toml, is a graph file;
// anything else names a snapshot.
bool looks_like_file(const std::string& target) {
  std::error_code ec;
  return std::filesystem::exists(std::filesystem::symlink_status(target, ec))
         || std::filesystem::path(target).extension() == ".toml";
}

} // namespace

int cmd_graph_cluster(const context& ctx, const graph_options& opts) {
  auto spec = load_cluster_file(opts.cluster_file);
  if (!spec)
    return fail(ctx, spec.error(), spec.error().is_not_found() ? exit_not_found : exit_usage);
  struct member_graphs {
    const cluster_member_spec* member;
    graph_file file;
  };
  std::vector<member_graphs> members;
  for (auto& m : spec->members) {
    auto others = other_members(*spec, m.name);
    auto g = load_graph_file(m.graph_file, {}, &others);
    if (!g)
      return fail(ctx, g.error().with_context("member '" + m.name + "'"),
                  g.error().is_not_found() ? exit_not_found : exit_bad_graph);
    note_unknown_types(ctx, g->graphs);
    members.push_back({&m, std::move(*g)});
  }
  // A wire's far end: "member/component" as written, or this member's own.
  auto far_end = [](const std::string& member, const std::string& to, bool* remote) {
    std::string_view m, c;
    *remote = split_remote(to, &m, &c);
    return *remote ? to : member + "/" + to;
  };
  if (ctx.json) {
    json out = json::array();
    for (auto& mg : members) {
      auto topo = topology_json(mg.file.node_name, mg.file.graphs);
      topo["member"] = mg.member->name;
      topo["address"] = mg.member->host + ":" + std::to_string(mg.member->port);
      out.push_back(topo);
    }
    print_json({{"cluster", spec->name}, {"members", out}});
    return exit_ok;
  }
  if (!opts.dot) {
    for (auto& mg : members) {
      fmt::print("member {} ({}:{}, node {})\n", mg.member->name, mg.member->host,
                 mg.member->port, mg.file.node_name);
      for (auto& g : mg.file.graphs) {
        fmt::print("  graph {}: {} components, {} wires\n", g.name, g.instances.size(),
                   g.edges.size());
        for (auto& inst : g.instances)
          fmt::print("    {} ({})\n", inst.name, inst.type_name);
        for (auto& e : g.edges) {
          bool remote = false;
          auto to = far_end(mg.member->name, e.to, &remote);
          fmt::print("    {} --{}--> {}{}\n", e.from, e.port, remote ? to : e.to,
                     remote ? "  (cross-member)" : "");
        }
      }
    }
    return exit_ok;
  }
  fmt::print("digraph {} {{\n  rankdir=LR;\n  compound=true;\n"
             "  node [shape=box, fontname=\"monospace\"];\n",
             quote(spec->name));
  for (size_t i = 0; i < members.size(); ++i) {
    auto& mg = members[i];
    fmt::print("  subgraph {} {{\n    label={};\n", quote("cluster_" + std::to_string(i)),
               quote(mg.member->name + " (" + mg.member->host + ":"
                     + std::to_string(mg.member->port) + ")"));
    for (auto& g : mg.file.graphs)
      for (auto& inst : g.instances)
        fmt::print("    {} [label={}];\n", quote(mg.member->name + "/" + inst.name),
                   quote(inst.name + "\n" + inst.type_name));
    fmt::print("  }}\n");
  }
  for (auto& mg : members)
    for (auto& g : mg.file.graphs)
      for (auto& e : g.edges) {
        bool remote = false;
        auto to = far_end(mg.member->name, e.to, &remote);
        fmt::print("  {} -> {} [label={}{}];\n", quote(mg.member->name + "/" + e.from),
                   quote(to), quote(e.port), remote ? ", style=dashed, color=blue" : "");
      }
  fmt::print("}}\n");
  return exit_ok;
}

int cmd_graph(const context& ctx, const graph_options& opts) {
  if (!opts.cluster_file.empty())
    return cmd_graph_cluster(ctx, opts);
  if (opts.target.empty())
    return show_dag(ctx, opts);
  if (looks_like_file(opts.target)) {
    auto g = load_graph_file(opts.target, {});
    if (!g)
      return fail(ctx, g.error(), g.error().is_not_found() ? exit_not_found : exit_bad_graph);
    note_unknown_types(ctx, g->graphs);
    return show_topology(ctx, opts, g->node_name, g->graphs);
  }
  auto db = open_store(ctx, store_access::read);
  if (!db)
    return fail(ctx, db.error());
  digest id;
  if (int rc = resolve(ctx, **db, opts.target, &id))
    return rc;
  auto snap = load_snapshot(**db, id);
  if (!snap)
    return fail(ctx, snap.error());
  return show_topology(ctx, opts, snap->world.node_name, snap->model.graphs);
}

} // namespace amber::cli
