#pragma once

// Builds snapshots straight into a store, without a node or CAF, for the
// store-level operations' tests (history, verify, gc, diff, archive).

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "amber/checkpoint/layers.hpp"
#include "amber/checkpoint/manifest.hpp"
#include "amber/checkpoint/model.hpp"
#include "amber/checkpoint/serial.hpp"
#include "amber/checkpoint/snapshot.hpp"
#include "amber/storage/store.hpp"

namespace amber::ops_test {

struct spec {
  std::string node = "n";
  uint64_t incarnation = 0;
  int64_t created_at_ms = 1'700'000'000'000;
  std::vector<digest> parents;
  /// Component name -> state bytes; every component is of type "t.counter".
  std::map<std::string, std::string> states;
  bool move_head = true;
};

struct built {
  digest id;
  manifest meta;
  cache_layer cache;
};

/// Writes and commits the snapshot `sp` describes, without asserting, so
/// that threads other than the test's may call it.
inline result<built> try_make_snapshot(store& s, const spec& sp) {
  built out;
  model_layer model;
  graph_def g;
  g.name = "g";
  for (auto& [name, bytes] : sp.states)
    g.instances.push_back({name, "t.counter", {{"start", "1"}}});
  model.graphs.push_back(g);
  model.types.push_back({"t.counter", {"t", "1.0.0"}});
  std::vector<std::string_view> views;
  for (auto& kv : sp.states)
    views.push_back(kv.second);
  auto put = s.put_blobs(views);
  if (!put)
    return put.error();
  uint32_t next = 1;
  uint64_t state_bytes = 0;
  size_t i = 0;
  for (auto& [name, bytes] : sp.states) {
    out.cache.components.push_back(
      {next++, name, "t.counter", {"t", "1.0.0"}, "g", put->ids[i++], bytes.size()});
    state_bytes += bytes.size();
  }
  world_layer world;
  world.node_name = sp.node;
  world.incarnation = sp.incarnation;
  world.next_instance_id = next;
  manifest& m = out.meta;
  m.node.name = sp.node;
  m.node.incarnation = sp.incarnation;
  m.node.runtime_version = "test";
  m.created_at_ms = sp.created_at_ms;
  m.parents = sp.parents;
  auto layer = [&](layer_kind k, const std::string& bytes, uint64_t extra_blobs = 0,
                   uint64_t extra_bytes = 0) {
    auto d = write_layer(s, k, bytes, extra_blobs, extra_bytes);
    if (!d)
      return d.error();
    m.layer(k) = *d;
    return status::ok();
  };
  AMBER_RETURN_IF_ERROR(layer(layer_kind::model, encode(model)));
  AMBER_RETURN_IF_ERROR(
    layer(layer_kind::cache, encode(out.cache), sp.states.size(), state_bytes));
  AMBER_RETURN_IF_ERROR(layer(layer_kind::world, encode(world)));
  AMBER_RETURN_IF_ERROR(layer(layer_kind::effects, encode(effects_layer{})));
  AMBER_RETURN_IF_ERROR(layer(layer_kind::trace, encode(trace_layer{})));
  snapshot_commit c;
  c.manifest = encode_manifest(m);
  for (auto& l : m.layers)
    c.references.push_back(l.index);
  for (auto& comp : out.cache.components)
    c.references.push_back(comp.state);
  if (sp.move_head) {
    c.ref = head_ref(sp.node);
    c.check_expected_head = false;
  }
  auto id = s.commit_snapshot(c);
  if (!id)
    return id.error();
  out.id = *id;
  return out;
}

inline built make_snapshot(store& s, const spec& sp) {
  auto r = try_make_snapshot(s, sp);
  REQUIRE_MESSAGE(r, r.error().to_string());
  return std::move(*r);
}

/// A chain of `n` snapshots of node `node`, oldest first, each changing
/// component "a" and keeping "b"; the last one is the head.
inline std::vector<built> make_chain(store& s, const std::string& node, int n,
                                     int64_t start_ms = 1'700'000'000'000) {
  std::vector<built> out;
  for (int i = 0; i < n; ++i) {
    spec sp;
    sp.node = node;
    sp.incarnation = static_cast<uint64_t>(i);
    sp.created_at_ms = start_ms + i * 1000;
    if (!out.empty())
      sp.parents.push_back(out.back().id);
    sp.states = {{"a", node + "-a-" + std::to_string(i)}, {"b", node + "-b"}};
    out.push_back(make_snapshot(s, sp));
  }
  return out;
}

} // namespace amber::ops_test

#include <filesystem>
#include <random>
#include <unistd.h>

namespace amber::ops_test {

/// A fresh directory under the system temp directory, removed on destruction.
class scratch_dir {
public:
  scratch_dir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path()
            / ("amber-ops-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~scratch_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }

private:
  std::filesystem::path path_;
};

} // namespace amber::ops_test
