#include "amber/checkpoint/cluster_manifest.hpp"

#include <algorithm>
#include <optional>
#include <set>
#include <tuple>

#include <nlohmann/json.hpp>

#include "json_fields.hpp"

#include "amber/checkpoint/manifest.hpp"

namespace amber {

using json = nlohmann::json;

const cluster_member_snapshot* cluster_manifest::find(std::string_view member) const {
  for (auto& m : members)
    if (m.member == member)
      return &m;
  return nullptr;
}

std::string encode_cluster_manifest(const cluster_manifest& m) {
  auto members = m.members;
  std::sort(members.begin(), members.end(),
            [](auto& a, auto& b) { return a.member < b.member; });
  json ms = json::array();
  for (auto& x : members)
    ms.push_back({{"member", x.member},
                  {"snapshot", x.snapshot.to_hex()},
                  {"incarnation", x.incarnation}});
  json parents = json::array();
  for (auto& p : m.parents)
    parents.push_back(p.to_hex());
  json doc = {
    {"schema_version", m.schema_version},
    {"media_type", m.media_type},
    {"cluster", m.cluster},
    {"incarnation", m.incarnation},
    {"epoch", m.epoch},
    {"members", ms},
    {"created_at_ms", m.created_at_ms},
    {"parents", parents},
  };
  // Sorted keys, no whitespace: canonical (see encode_manifest).
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

namespace {

using reader = detail::json_fields;

bool valid_name(std::string_view name) {
  return !name.empty() && name.size() <= 255 && name.find('/') == std::string_view::npos;
}

constexpr std::string_view media_type_needle =
  "\"media_type\":\"application/vnd.amber.cluster-manifest.";

} // namespace

bool is_cluster_manifest(std::string_view bytes) {
  // Inside a JSON string every '"' is escaped, so the needle (which starts
  // and ends a key with bare quotes) only matches a real media_type key.
  return bytes.find(media_type_needle) != std::string_view::npos;
}

result<cluster_manifest> decode_cluster_manifest(std::string_view bytes) {
  if (bytes.size() > max_cluster_manifest_bytes)
    return status::corruption("cluster manifest has " + std::to_string(bytes.size())
                              + " bytes; at most " + std::to_string(max_cluster_manifest_bytes)
                              + " are read");
  auto parsed = reader::parse_object(bytes, "cluster manifest");
  if (!parsed)
    return parsed.error();
  auto& doc = *parsed;
  reader r{"cluster manifest"};
  cluster_manifest m;
  uint64_t schema = r.u64(doc, "schema_version", "");
  m.media_type = r.str(doc, "media_type", "");
  if (!r.state())
    return r.state();
  if (schema != cluster_manifest::current_schema
      || m.media_type != cluster_manifest::current_media_type)
    return status(errc::format_mismatch,
                  "cluster manifest has schema " + std::to_string(schema) + " (" + m.media_type
                    + "); this build reads schema "
                    + std::to_string(cluster_manifest::current_schema) + " ("
                    + cluster_manifest::current_media_type + ")");
  m.schema_version = static_cast<uint32_t>(schema);
  m.cluster = r.str(doc, "cluster", "");
  m.incarnation = r.u64(doc, "incarnation", "");
  m.epoch = r.u64(doc, "epoch", "");
  m.created_at_ms = r.i64(doc, "created_at_ms", "");
  if (!r.state())
    return r.state();
  if (!valid_name(m.cluster))
    return status::corruption("cluster manifest field 'cluster' is empty, too long or has a '/'");
  auto members = r.find(doc, "members", &json::is_array, "");
  if (!members)
    return r.state();
  if (members->empty())
    return status::corruption("cluster manifest field 'members' is empty");
  if (members->size() > max_cluster_members)
    return status::corruption("cluster manifest field 'members' has "
                              + std::to_string(members->size()) + " entries; at most "
                              + std::to_string(max_cluster_members) + " are read");
  for (size_t i = 0; i < members->size(); ++i) {
    auto& x = (*members)[i];
    auto where = "members[" + std::to_string(i) + "].";
    if (!x.is_object())
      return status::corruption("cluster manifest field 'members[" + std::to_string(i)
                                + "]' is not an object");
    cluster_member_snapshot s;
    s.member = r.str(x, "member", where);
    s.snapshot = r.hex_digest(x, "snapshot", where);
    s.incarnation = r.u64(x, "incarnation", where);
    if (!r.state())
      return r.state();
    if (!valid_name(s.member))
      return status::corruption("cluster manifest field '" + where
                                + "member' is empty, too long or has a '/'");
    if (!m.members.empty() && !(m.members.back().member < s.member))
      return status::corruption("cluster manifest field '" + where + "member' ('" + s.member
                                + "') is out of order or a duplicate");
    m.members.push_back(std::move(s));
  }
  auto parents = r.find(doc, "parents", &json::is_array, "");
  if (!parents)
    return r.state();
  if (parents->size() > max_cluster_parents)
    return status::corruption("cluster manifest field 'parents' has "
                              + std::to_string(parents->size()) + " entries; at most "
                              + std::to_string(max_cluster_parents) + " are read");
  for (auto& p : *parents) {
    auto d = p.is_string() ? digest::from_hex(p.get<std::string>())
                           : result<digest>(status::corruption(""));
    if (!d)
      return status::corruption(
        "cluster manifest field 'parents' holds something that is not a digest");
    m.parents.push_back(*d);
  }
  return m;
}

std::string cluster_head_ref(std::string_view cluster) {
  return "clusters/" + std::string(cluster) + "/head";
}

result<cluster_manifest> read_cluster_manifest(store& s, const digest& id) {
  std::string bytes;
  AMBER_RETURN_IF_ERROR(s.get_manifest(id, &bytes));
  if (!is_cluster_manifest(bytes))
    return status::invalid_argument("snapshot " + id.to_hex()
                                    + " is a node snapshot, not a cluster snapshot");
  auto m = decode_cluster_manifest(bytes);
  if (!m)
    return m.error().with_context("cluster snapshot " + id.to_hex());
  return m;
}

result<std::pair<digest, bool>> adopt_cluster_manifest(store& s, std::string_view encoded) {
  auto m = decode_cluster_manifest(encoded);
  if (!m)
    return m.error();
  const digest id = sha256(encoded);
  const std::string ref = cluster_head_ref(m->cluster);
  constexpr int attempts = 16;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    auto head = s.get_ref(ref);
    if (!head && !head.error().is_not_found())
      return head.error();
    snapshot_commit c;
    c.manifest = std::string(encoded);
    bool forward = true;
    if (head) {
      if (*head == id)
        return std::make_pair(id, false);
      auto current = read_cluster_manifest(s, *head);
      if (!current)
        return current.error().with_context(ref);
      if (current->cluster != m->cluster)
        return status::corruption(ref + " points at a snapshot of cluster '" + current->cluster
                                  + "'");
      forward = std::tie(current->incarnation, current->epoch)
                < std::tie(m->incarnation, m->epoch);
    }
    if (forward) {
      c.ref = ref;
      c.expected_head = head ? std::optional<digest>(*head) : std::nullopt;
    }
    auto done = s.commit(c);
    if (!done && done.error().code() == errc::conflict)
      continue; // The head moved meanwhile: look again.
    if (!done)
      return done.error().with_context("adopting cluster snapshot " + id.short_hex());
    if (done->id != id)
      return status(errc::internal, "cluster manifest stored as " + done->id.to_hex()
                                      + " instead of " + id.to_hex());
    return std::make_pair(id, forward);
  }
  return status(errc::busy, ref + " kept moving while cluster snapshot " + id.short_hex()
                              + " was adopted");
}

result<std::vector<digest>> manifest_parents(std::string_view bytes) {
  if (is_cluster_manifest(bytes)) {
    auto m = decode_cluster_manifest(bytes);
    if (!m)
      return m.error();
    return m->parents;
  }
  auto m = decode_manifest(bytes);
  if (!m)
    return m.error();
  return m->parents;
}

result<std::vector<cluster_snapshot_entry>> cluster_chain(store& s, std::string_view cluster) {
  std::vector<cluster_snapshot_entry> out;
  auto head = s.get_ref(cluster_head_ref(cluster));
  if (!head) {
    if (head.error().is_not_found())
      return out;
    return head.error();
  }
  std::optional<digest> next = *head;
  std::set<digest> seen;
  while (next) {
    // Content addressing rules out a cycle; bound the walk anyway.
    if (!seen.insert(*next).second)
      return status::corruption("cluster snapshot " + next->to_hex() + " is its own ancestor");
    auto m = read_cluster_manifest(s, *next);
    if (!m) {
      if (m.error().is_not_found() && !out.empty())
        break; // A parent collected by gc ends the chain.
      return m.error();
    }
    std::optional<digest> parent;
    if (!m->parents.empty())
      parent = m->parents.front();
    out.push_back({*next, std::move(*m)});
    next = parent;
  }
  return out;
}

} // namespace amber
