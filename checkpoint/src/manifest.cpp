#include "amber/checkpoint/manifest.hpp"

#include <nlohmann/json.hpp>

#include "amber/storage/hex.hpp"
#include "json_fields.hpp"

namespace amber {

using json = nlohmann::json;

const char* to_string(layer_kind kind) noexcept {
  switch (kind) {
    case layer_kind::model: return "model";
    case layer_kind::cache: return "cache";
    case layer_kind::world: return "world";
    case layer_kind::effects: return "effects";
    case layer_kind::trace: return "trace";
  }
  return "unknown";
}

std::string encode_manifest(const manifest& m) {
  json layers = json::array();
  for (auto& l : m.layers)
    layers.push_back({{"kind", to_string(l.kind)},
                      {"media_type", l.media_type},
                      {"index", l.index.to_hex()},
                      {"blobs", l.blobs},
                      {"bytes", l.bytes}});
  json parents = json::array();
  for (auto& p : m.parents)
    parents.push_back(p.to_hex());
  json doc = {
    {"schema_version", m.schema_version},
    {"media_type", m.media_type},
    {"node",
     {{"name", m.node.name},
      {"peer_id", to_hex(m.node.peer_id)},
      {"incarnation", m.node.incarnation},
      {"runtime_version", m.node.runtime_version},
      {"registry_fingerprint", m.node.registry_fingerprint.to_hex()}}},
    {"layers", layers},
    {"created_at_ms", m.created_at_ms},
    {"parents", parents},
  };
  // nlohmann::json keeps object keys sorted: dump() is canonical. JSON holds
  // only UTF-8, and dump() throws on anything else; a name that is not UTF-8
  // gets U+FFFD for each bad byte rather than an exception out of a commit.
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

namespace {

using reader = detail::json_fields;

} // namespace

result<manifest> decode_manifest(std::string_view bytes) {
  auto parsed = reader::parse_object(bytes, "manifest");
  if (!parsed)
    return parsed.error();
  auto& doc = *parsed;
  reader r{"manifest"};
  manifest m;
  // Compared as read, before narrowing: 2^32 + 1 must not pass for schema 1.
  uint64_t schema = r.u64(doc, "schema_version", "");
  m.media_type = r.str(doc, "media_type", "");
  if (!r.state())
    return r.state();
  if (schema != manifest::current_schema || m.media_type != manifest::current_media_type)
    return status(errc::format_mismatch,
                  "manifest has schema " + std::to_string(schema) + " ("
                    + m.media_type + "); this build reads schema "
                    + std::to_string(manifest::current_schema));
  auto node = r.find(doc, "node", &json::is_object, "");
  if (!node)
    return r.state();
  m.node.name = r.str(*node, "name", "node.");
  auto peer_hex = r.str(*node, "peer_id", "node.");
  m.node.incarnation = r.u64(*node, "incarnation", "node.");
  m.node.runtime_version = r.str(*node, "runtime_version", "node.");
  m.node.registry_fingerprint = r.hex_digest(*node, "registry_fingerprint", "node.");
  if (!r.state())
    return r.state();
  auto peer = from_hex(peer_hex);
  if (!peer)
    return status::corruption("manifest field 'node.peer_id' is not hex");
  m.node.peer_id = *peer;
  auto layers = r.find(doc, "layers", &json::is_array, "");
  if (!layers)
    return r.state();
  if (layers->size() != layer_count)
    return status::corruption("manifest has " + std::to_string(layers->size())
                              + " layers instead of 5");
  for (size_t i = 0; i < layer_count; ++i) {
    auto& l = (*layers)[i];
    auto where = "layers[" + std::to_string(i) + "].";
    if (!l.is_object())
      return status::corruption("manifest layer " + std::to_string(i) + " is not an object");
    auto& d = m.layers[i];
    d.kind = static_cast<layer_kind>(i);
    auto kind = r.str(l, "kind", where);
    if (r.state() && kind != to_string(d.kind))
      r.fail(status::corruption("manifest layer " + std::to_string(i) + " is '" + kind
                                + "', expected '" + to_string(d.kind) + "'"));
    d.media_type = r.str(l, "media_type", where);
    d.index = r.hex_digest(l, "index", where);
    d.blobs = r.u64(l, "blobs", where);
    d.bytes = r.u64(l, "bytes", where);
    if (!r.state())
      return r.state();
  }
  m.created_at_ms = r.i64(doc, "created_at_ms", "");
  auto parents = r.find(doc, "parents", &json::is_array, "");
  if (!parents)
    return r.state();
  for (auto& p : *parents) {
    auto d = p.is_string() ? digest::from_hex(p.get<std::string>())
                           : result<digest>(status::corruption(""));
    if (!d)
      return status::corruption("manifest field 'parents' holds something that is not a digest");
    m.parents.push_back(*d);
  }
  return m;
}

} // namespace amber
