#pragma once

// Builds whole snapshots by hand, the way the coordinator does: five layers
// through write_layer, component state through put_blobs, then one
// commit_snapshot; or everything in one commit. Shared by snapshot_test.cpp
// and resolve_test.cpp.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "amber/checkpoint/layers.hpp"
#include "amber/checkpoint/manifest.hpp"
#include "amber/checkpoint/model.hpp"
#include "amber/checkpoint/serial.hpp"
#include "amber/checkpoint/snapshot.hpp"
#include "amber/storage/memory_store.hpp"
#include "amber/storage/store.hpp"

namespace amber::test {

/// Everything that went into one snapshot, to compare a load against.
struct built_snapshot {
  digest id;
  manifest meta;
  model_layer model;
  cache_layer cache;
  world_layer world;
  effects_layer effects;
  trace_layer trace;
  std::vector<std::string> states; ///< State bytes, one per cache component.
};

inline model_layer sample_model() {
  model_layer m;
  graph_def g;
  g.name = "pipeline";
  g.instances.push_back({"src", "source", {{"rate", "10"}, {"burst", "3"}}});
  g.instances.push_back({"sink", "sink", {}});
  g.edges.push_back({"src", "out", "sink"});
  m.graphs.push_back(g);
  m.types.push_back({"sink", {"core", "1.2.0"}});
  m.types.push_back({"source", {"core", "1.2.0"}});
  return m;
}

inline world_layer sample_world(const std::string& node_name) {
  world_layer w;
  w.node_name = node_name;
  w.config.peer_id = std::string("\x00\x01\xfe\x00", 4);
  w.config.cycle_op_budget = 50;
  w.config.max_outbound_queue = 0; // Set to zero, which is not "unset".
  w.config.bus_capacity = 4096;
  w.incarnation = 3;
  w.next_instance_id = 7;
  w.peers.push_back({"other", std::string("\x00\xaa", 2), "tcp://10.0.0.2:4242"});
  return w;
}

inline effects_layer sample_effects() {
  effects_layer e;
  effect_record r;
  r.id = 11;
  r.component = 1;
  r.sink = "http.post";
  r.key = "idem-11";
  r.state = effect_record::committed;
  r.payload = std::string("{\"x\":1}\0tail", 12);
  e.entries.push_back(r);
  r.id = 12;
  r.state = effect_record::pending;
  r.payload.clear();
  e.entries.push_back(r);
  return e;
}

inline trace_layer sample_trace() {
  trace_layer t;
  t.pre_cut_sent = 100;
  t.pre_cut_received = 98;
  in_flight_message a;
  a.sender = 1;
  a.receiver = 2;
  a.seq = 41;
  a.epoch = 5;
  a.payload = std::string("\x00\x01\x02", 3);
  t.messages.push_back(a);
  a.sender_node = "other";
  a.seq = 42;
  t.messages.push_back(a);
  return t;
}

/// How build_snapshot writes: layer by layer as write_layer does, or every
/// blob with the manifest in one commit (make_layer_blob, snapshot_commit::blobs).
enum class write_mode { layer_by_layer, one_transaction };

/// Writes and commits a snapshot of node `node_name` with the sample layers
/// and `states` as component state; `created_at_ms` varies the manifest (and
/// so the id). Moves head_ref(node_name) unconditionally.
inline built_snapshot build_snapshot(store& s, const std::string& node_name,
                                     std::vector<std::string> states, int64_t created_at_ms = 1000,
                                     std::vector<digest> parents = {},
                                     write_mode mode = write_mode::layer_by_layer) {
  built_snapshot out;
  out.states = std::move(states);
  out.model = sample_model();
  out.world = sample_world(node_name);
  out.effects = sample_effects();
  out.trace = sample_trace();

  snapshot_commit commit;
  std::vector<std::string_view> views(out.states.begin(), out.states.end());
  std::vector<digest> state_ids;
  if (mode == write_mode::layer_by_layer) {
    auto put = s.put_blobs(views);
    REQUIRE(put);
    state_ids = put->ids;
  } else {
    commit.blobs = make_blob_puts(out.states);
    for (auto& b : commit.blobs)
      state_ids.push_back(b.id);
  }
  std::vector<digest> distinct;
  uint64_t state_bytes = 0;
  for (size_t i = 0; i < out.states.size(); ++i) {
    component_record c;
    c.instance_id = static_cast<uint32_t>(i + 1);
    c.name = "component-" + std::to_string(i + 1);
    c.type_name = i % 2 == 0 ? "source" : "sink";
    c.package = {"core", "1.2.0"};
    c.graph = "pipeline";
    c.state = state_ids[i];
    c.state_size = out.states[i].size();
    out.cache.components.push_back(c);
    bool seen = false;
    for (auto& d : distinct)
      seen = seen || d == c.state;
    if (!seen) {
      distinct.push_back(c.state);
      state_bytes += c.state_size;
    }
  }

  std::vector<std::string> indexes = {encode(out.model), encode(out.cache), encode(out.world),
                                      encode(out.effects), encode(out.trace)};
  for (size_t i = 0; i < layer_count; ++i) {
    auto kind = static_cast<layer_kind>(i);
    bool is_cache = kind == layer_kind::cache;
    uint64_t extra_blobs = is_cache ? distinct.size() : 0;
    uint64_t extra_bytes = is_cache ? state_bytes : 0;
    if (mode == write_mode::layer_by_layer) {
      auto d = write_layer(s, kind, indexes[i], extra_blobs, extra_bytes);
      REQUIRE(d);
      out.meta.layers[i] = *d;
    } else {
      auto l = make_layer_blob(kind, indexes[i], extra_blobs, extra_bytes);
      out.meta.layers[i] = l.descriptor;
      commit.blobs.push_back(std::move(l.blob));
    }
    commit.references.push_back(out.meta.layers[i].index);
  }
  commit.references.insert(commit.references.end(), distinct.begin(), distinct.end());
  out.meta.node.name = node_name;
  out.meta.node.peer_id = out.world.config.peer_id;
  out.meta.node.incarnation = out.world.incarnation;
  out.meta.node.runtime_version = "0.1.0-test";
  out.meta.node.registry_fingerprint = sha256("registry");
  out.meta.created_at_ms = created_at_ms;
  out.meta.parents = std::move(parents);
  commit.manifest = encode_manifest(out.meta);
  commit.ref = head_ref(node_name);
  commit.check_expected_head = false;
  auto id = s.commit_snapshot(commit);
  REQUIRE(id);
  out.id = *id;
  return out;
}

/// Stores `m` as a manifest (its layers' index blobs must exist) and
/// returns its id, without moving any ref.
inline digest commit_manifest(store& s, const manifest& m) {
  snapshot_commit commit;
  commit.manifest = encode_manifest(m);
  auto id = s.commit_snapshot(commit);
  REQUIRE(id);
  return *id;
}

/// A memory_store whose chosen calls fail with io_error, to check that
/// errors from the store come back out unchanged in code.
class faulty_store final : public store {
public:
  bool fail_put = false;
  bool fail_get_ref = false;
  bool fail_list_manifests = false;

  result<put_stats> put_blobs(const std::vector<std::string_view>& blobs) override {
    if (fail_put)
      return status::io_error("disk full");
    return inner_.put_blobs(blobs);
  }
  status get_blob(const digest& id, std::string* out) override {
    return inner_.get_blob(id, out);
  }
  status has_blob(const digest& id) override { return inner_.has_blob(id); }
  result<uint64_t> blob_size(const digest& id) override { return inner_.blob_size(id); }
  result<commit_stats> commit(const snapshot_commit& c) override { return inner_.commit(c); }
  status get_manifest(const digest& id, std::string* out) override {
    return inner_.get_manifest(id, out);
  }
  result<digest> get_ref(std::string_view name) override {
    if (fail_get_ref)
      return status::io_error("cannot read refs");
    return inner_.get_ref(name);
  }
  status set_ref(std::string_view name, const digest& id) override {
    return inner_.set_ref(name, id);
  }
  result<std::vector<std::pair<std::string, digest>>> list_refs() override {
    return inner_.list_refs();
  }
  result<std::vector<digest>> list_manifests() override {
    if (fail_list_manifests)
      return status::io_error("cannot list manifests");
    return inner_.list_manifests();
  }
  result<std::vector<digest>> list_blobs() override { return inner_.list_blobs(); }
  status remove(const removal& what) override { return inner_.remove(what); }
  result<store_stats> stats() override { return inner_.stats(); }
  std::string describe() const override { return "faulty store"; }

private:
  memory_store inner_;
};

} // namespace amber::test
