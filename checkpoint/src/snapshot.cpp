#include "amber/checkpoint/snapshot.hpp"

#include <algorithm>
#include <cctype>
#include <set>

#include "amber/checkpoint/cluster_manifest.hpp"
#include "amber/checkpoint/serial.hpp"

namespace amber {

std::string head_ref(std::string_view node_name) {
  return "nodes/" + std::string(node_name) + "/head";
}

std::string layer_media_type(layer_kind kind) {
  return std::string("application/vnd.amber.layer.") + to_string(kind) + ".v1";
}

std::vector<digest> loaded_snapshot::references() const {
  std::vector<digest> out;
  for (auto& l : meta.layers)
    out.push_back(l.index);
  for (auto& c : cache.components)
    out.push_back(c.state);
  out.insert(out.end(), effects.segments.begin(), effects.segments.end());
  return out;
}

namespace {

// A blob the manifest names but the store lacks is damage (a snapshot is
// committed with all its blobs, and gc keeps them), not an unknown name.
status referenced(status st, const digest& blob) {
  if (!st.is_not_found())
    return st;
  return status::corruption("blob " + blob.to_hex()
                            + " is missing from the store although the snapshot references it");
}

template <class T>
status load_layer(store& s, const manifest& m, layer_kind kind, T* out) {
  auto& d = m.layer(kind);
  std::string what = std::string(to_string(kind)) + " layer";
  if (d.media_type != layer_media_type(kind))
    return status(errc::format_mismatch,
                  what + " has media type '" + d.media_type + "', expected '"
                    + layer_media_type(kind) + "'");
  std::string bytes;
  status st = referenced(s.get_blob(d.index, &bytes), d.index);
  if (!st)
    return st.with_context(what);
  return decode(bytes, out, what + " index " + d.index.short_hex());
}

// Reads the segments an effects layer names into its entries (settled ones
// as committed), in id order.
status load_effect_segments(store& s, effects_layer* layer) {
  for (auto& id : layer->segments) {
    std::string bytes;
    auto what = "effects segment " + id.short_hex();
    AMBER_RETURN_IF_ERROR(s.get_blob(id, &bytes).with_context(what));
    effect_segment seg;
    AMBER_RETURN_IF_ERROR(decode(bytes, &seg, what));
    for (auto& r : seg.entries) {
      if (layer->is_settled(r.id))
        r.state = effect_record::committed;
      layer->entries.push_back(std::move(r));
    }
  }
  std::stable_sort(layer->entries.begin(), layer->entries.end(),
                   [](const effect_record& a, const effect_record& b) { return a.id < b.id; });
  return status::ok();
}

} // namespace

result<loaded_snapshot> load_snapshot(store& s, const digest& id) {
  loaded_snapshot out;
  out.id = id;
  std::string bytes;
  AMBER_RETURN_IF_ERROR(s.get_manifest(id, &bytes));
  if (is_cluster_manifest(bytes))
    return status::invalid_argument("snapshot " + id.to_hex()
                                    + " is a cluster snapshot (its members' node snapshots live "
                                      "in their own stores); use the --cluster form of the command");
  auto m = decode_manifest(bytes);
  if (!m)
    return m.error().with_context("snapshot " + id.to_hex());
  out.meta = std::move(*m);
  AMBER_RETURN_IF_ERROR(load_layer(s, out.meta, layer_kind::model, &out.model));
  AMBER_RETURN_IF_ERROR(load_layer(s, out.meta, layer_kind::cache, &out.cache));
  AMBER_RETURN_IF_ERROR(load_layer(s, out.meta, layer_kind::world, &out.world));
  AMBER_RETURN_IF_ERROR(load_layer(s, out.meta, layer_kind::effects, &out.effects));
  AMBER_RETURN_IF_ERROR(load_effect_segments(s, &out.effects));
  AMBER_RETURN_IF_ERROR(load_layer(s, out.meta, layer_kind::trace, &out.trace));
  for (auto& c : out.cache.components) {
    status st = referenced(s.has_blob(c.state), c.state);
    if (!st)
      return st.with_context("state of component '" + c.name + "'");
  }
  return out;
}

namespace {

// The snapshot a name without `~N` designates.
result<digest> resolve_base(store& s, std::string_view spec) {
  if (spec.empty())
    return status::invalid_argument("an empty snapshot name");
  std::string text(spec);
  constexpr std::string_view cluster_prefix = "cluster:";
  if (spec.substr(0, cluster_prefix.size()) == cluster_prefix) {
    auto name = spec.substr(cluster_prefix.size());
    if (name.empty() || name.find('/') != std::string_view::npos)
      return status::invalid_argument("'" + text + "': expected cluster:NAME");
    auto r = s.get_ref(cluster_head_ref(name));
    if (!r && r.error().is_not_found())
      return status::not_found("no cluster snapshot of cluster '" + std::string(name)
                               + "' in this store (no " + cluster_head_ref(name) + ")");
    return r;
  }
  for (auto& candidate : {text, head_ref(text)}) {
    auto r = s.get_ref(candidate);
    if (r)
      return *r;
    if (!r.error().is_not_found())
      return r.error();
  }
  if (!is_hex_prefix(spec))
    return status::not_found("no snapshot or ref named '" + text + "'");
  if (spec.size() == digest::size * 2) {
    auto d = digest::from_hex(spec);
    if (!d)
      return d.error();
    AMBER_RETURN_IF_ERROR(s.get_manifest(*d, nullptr));
    return *d;
  }
  if (spec.size() < 4)
    return status::invalid_argument("snapshot id prefix '" + text
                                    + "' is too short (4 hex digits at least)");
  auto ids = s.list_manifests();
  if (!ids)
    return ids.error();
  std::vector<digest> matches;
  std::string lower;
  for (char c : text)
    lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (auto& id : *ids)
    if (id.to_hex().compare(0, lower.size(), lower) == 0)
      matches.push_back(id);
  if (matches.empty())
    return status::not_found("no snapshot id starts with '" + text + "'");
  if (matches.size() > 1) {
    std::string names;
    for (auto& m : matches)
      names += " " + m.short_hex();
    return status::invalid_argument("snapshot id prefix '" + text + "' is ambiguous:" + names);
  }
  return matches.front();
}

// Splits "spec~N" into ("spec", N); "spec~" means N = 1.
bool split_ancestry(std::string_view spec, std::string_view* base, uint64_t* steps) {
  auto tilde = spec.find('~');
  *base = spec;
  *steps = 0;
  if (tilde == std::string_view::npos)
    return true;
  *base = spec.substr(0, tilde);
  auto digits = spec.substr(tilde + 1);
  if (digits.empty()) {
    *steps = 1;
    return true;
  }
  if (digits.size() > 9)
    return false;
  for (char c : digits)
    if (!std::isdigit(static_cast<unsigned char>(c)))
      return false;
  *steps = std::stoull(std::string(digits));
  return true;
}

// Walks `steps` first parents up from `current` (node or cluster snapshots).
result<digest> follow_parents(store& s, std::string_view spec, digest current, uint64_t steps) {
  std::string bytes;
  for (uint64_t i = 0; i < steps; ++i) {
    AMBER_RETURN_IF_ERROR(s.get_manifest(current, &bytes));
    auto parents = manifest_parents(bytes);
    if (!parents)
      return parents.error().with_context("snapshot " + current.to_hex());
    if (parents->empty())
      return status::not_found("'" + std::string(spec) + "': snapshot " + current.short_hex()
                               + " has no parent");
    digest parent = parents->front();
    status st = s.get_manifest(parent, nullptr);
    if (st.is_not_found())
      return status::not_found("'" + std::string(spec) + "': parent " + parent.short_hex()
                               + " of " + current.short_hex()
                               + " is no longer stored (collected by gc)");
    AMBER_RETURN_IF_ERROR(st);
    current = parent;
  }
  return current;
}

} // namespace

std::string_view snapshot_spec_base(std::string_view spec) {
  return spec.substr(0, spec.find('~'));
}

result<digest> resolve_snapshot(store& s, std::string_view spec) {
  std::string_view base;
  uint64_t steps = 0;
  if (!split_ancestry(spec, &base, &steps))
    return status::invalid_argument("'" + std::string(spec) + "': expected NAME~N with N a number");
  auto id = resolve_base(s, base);
  if (!id)
    return id.error();
  return follow_parents(s, spec, *id, steps);
}

namespace {

layer_descriptor describe_layer(layer_kind kind, const digest& index, uint64_t index_size,
                                uint64_t extra_blobs, uint64_t extra_bytes) {
  layer_descriptor d;
  d.kind = kind;
  d.media_type = layer_media_type(kind);
  d.index = index;
  d.blobs = 1 + extra_blobs;
  d.bytes = index_size + extra_bytes;
  return d;
}

} // namespace

layer_blob make_layer_blob(layer_kind kind, std::string index_bytes, uint64_t extra_blobs,
                           uint64_t extra_bytes) {
  layer_blob out;
  out.blob.id = sha256(index_bytes);
  out.descriptor =
    describe_layer(kind, out.blob.id, index_bytes.size(), extra_blobs, extra_bytes);
  out.blob.bytes = std::move(index_bytes);
  return out;
}

result<layer_descriptor> write_layer(store& s, layer_kind kind, const std::string& index_bytes,
                                     uint64_t extra_blobs, uint64_t extra_bytes) {
  // put_blobs hashes the bytes itself: going through make_layer_blob would
  // hash them twice.
  auto put = s.put_blobs({index_bytes});
  if (!put)
    return put.error().with_context(std::string("writing the ") + to_string(kind) + " layer");
  return describe_layer(kind, put->ids.front(), index_bytes.size(), extra_blobs, extra_bytes);
}

} // namespace amber
