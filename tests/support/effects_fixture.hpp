#pragma once

// Helpers shared by the effects suites: a node of fx.source -> fx.writer
// with sinks, feeding it, checkpoints and restores that wait for the sinks.

#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/scoped_actor.hpp>
#include <doctest/doctest.h>

#include "amber/actors/checkpointer.hpp"
#include "amber/actors/restore.hpp"
#include "amber/checkpoint/snapshot.hpp"
#include "amber/runtime/atoms.hpp"
#include "amber/runtime/node.hpp"
#include "support/effect_components.hpp"

namespace test {

using sink_list = std::vector<std::shared_ptr<amber::effect_sink>>;

/// A node "fx" running source -> writer; `writer_params` as fx.writer takes them.
inline std::unique_ptr<amber::node>
make_fx_node(const sink_list& sinks, std::map<std::string, std::string> writer_params = {}) {
  amber::node_options opts;
  opts.name = "fx";
  auto n = std::make_unique<amber::node>(fx::make_types(), opts);
  for (auto& s : sinks)
    REQUIRE(n->add_sink(s).is_ok());
  amber::graph_def g;
  g.name = "fx";
  g.instances.push_back({"source", "fx.source", {}});
  g.instances.push_back({"writer", "fx.writer", std::move(writer_params)});
  REQUIRE(n->install(g).is_ok());
  return n;
}

/// Feeds `from..to` to the source and waits until the node is quiet.
inline void feed(amber::node& n, int64_t from, int64_t to) {
  {
    caf::scoped_actor self{n.system()};
    auto src = n.find("source")->handle;
    for (auto i = from; i <= to; ++i)
      self->send(src, fx::feed_atom::value, i);
    // Answered after the feeds before it (FIFO per sender).
    self->request(src, std::chrono::seconds(10), amber::snapshot_atom::value)
      .receive([](std::string&) {}, [](caf::error&) { FAIL("no answer"); });
  }
  REQUIRE(n.wait_quiet(std::chrono::seconds(10)));
}

/// A checkpoint that must succeed; then waits for the sinks (their own threads).
inline amber::digest checkpoint(amber::node& n, std::shared_ptr<amber::store> db) {
  amber::checkpointer cp(n, db);
  auto r = cp.checkpoint();
  REQUIRE_MESSAGE(r.ok(), r.error().to_string());
  (void)n.deliver_effects();
  return *r;
}

/// A restore that must succeed; then waits for the sinks.
inline std::unique_ptr<amber::node> restore(amber::store& s, const amber::digest& id,
                                            const sink_list& sinks) {
  amber::restore_options opts;
  opts.sinks = sinks;
  auto n = amber::restore_node(s, id.to_hex(), fx::make_types(), opts);
  REQUIRE_MESSAGE(n.ok(), n.error().to_string());
  (void)(*n)->deliver_effects();
  return std::move(*n);
}

/// "<prefix>-<from>" .. "<prefix>-<to>".
inline std::vector<std::string> items(const std::string& prefix, int64_t from, int64_t to) {
  std::vector<std::string> out;
  for (auto i = from; i <= to; ++i)
    out.push_back(prefix + "-" + std::to_string(i));
  return out;
}

/// payload -> state, as snapshot `id`'s effects layer lists them.
inline std::map<std::string, int> ledger_of(amber::store& s, const amber::digest& id) {
  auto snap = amber::load_snapshot(s, id);
  REQUIRE(snap.ok());
  std::map<std::string, int> out;
  for (auto& e : snap->effects.entries)
    out[e.payload] = e.state;
  return out;
}

/// The payloads of a file sink's file, in order.
inline std::vector<std::string> lines_of(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    out.push_back(line.substr(line.find('\t') + 1));
  return out;
}

} // namespace test
