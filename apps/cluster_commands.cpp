// The cluster forms of log, show, verify, export and import: a cluster
// snapshot's chain and manifest from one store, and its members' snapshots
// from the members' stores named by a cluster file. CAF-free.

#include <map>
#include <memory>

#include <fmt/core.h>

#include "amber/checkpoint/archive.hpp"
#include "amber/checkpoint/cluster_manifest.hpp"
#include "amber/checkpoint/verify.hpp"
#include "cluster_file.hpp"
#include "commands.hpp"
#include "json_views.hpp"

namespace amber::cli {

using json = nlohmann::json;

namespace {

std::string plural(uint64_t n, const char* noun) {
  return fmt::format("{} {}{}", n, noun, n == 1 ? "" : "s");
}

json members_json(const cluster_manifest& m) {
  json out = json::array();
  for (auto& x : m.members)
    out.push_back({{"member", x.member},
                   {"snapshot", x.snapshot.to_hex()},
                   {"incarnation", x.incarnation}});
  return out;
}

json parents_json(const cluster_manifest& m) {
  json out = json::array();
  for (auto& p : m.parents)
    out.push_back(p.to_hex());
  return out;
}

json cluster_json(const digest& id, const cluster_manifest& m) {
  return {{"id", id.to_hex()},
          {"cluster", m.cluster},
          {"incarnation", m.incarnation},
          {"epoch", m.epoch},
          {"created_at", iso_utc(m.created_at_ms)},
          {"created_at_ms", m.created_at_ms},
          {"parents", parents_json(m)},
          {"members", members_json(m)}};
}

std::string members_text(const cluster_manifest& m) {
  std::string out;
  for (auto& x : m.members)
    out += fmt::format("{}{}={}", out.empty() ? "" : " ", x.member, x.snapshot.short_hex());
  return out;
}

// Each member's store, opened (created for an import) from the cluster file.
struct member_stores {
  cluster_spec spec;
  std::vector<std::shared_ptr<lmdb_store>> open; // in file order
  std::map<std::string, store*> by_name;
};

result<member_stores> open_members(const std::string& cluster_file, bool create) {
  auto spec = load_cluster_file(cluster_file);
  if (!spec)
    return spec.error();
  member_stores out;
  out.spec = std::move(*spec);
  for (auto& m : out.spec.members) {
    lmdb_options opts;
    opts.create_if_missing = create;
    opts.read_only = !create; // verify and export only read
    auto db = lmdb_store::open(m.store_dir, opts);
    if (!db)
      return db.error().with_context("member '" + m.name + "'");
    out.by_name.emplace(m.name, db->get());
    out.open.push_back(std::move(*db));
  }
  return out;
}

// The exit code for a failure to load a cluster file or open a store.
int fail_members(const context& ctx, const status& st) {
  return fail(ctx, st, st.code() == errc::invalid_argument ? exit_usage : exit_code_for(st));
}

// The cluster snapshot `spec` names in the first member store where it
// resolves; empty `spec`: the newest clusters/<name>/head among the stores.
result<digest> find_cluster_snapshot(const member_stores& ms, const std::string& spec) {
  if (!spec.empty()) {
    status last = status::not_found("no member store of cluster '" + ms.spec.name
                                    + "' knows '" + spec + "'");
    for (size_t i = 0; i < ms.spec.members.size(); ++i) {
      auto id = resolve_spec(*ms.open[i], spec);
      if (id) {
        std::string bytes;
        AMBER_RETURN_IF_ERROR(ms.open[i]->get_manifest(*id, &bytes));
        if (!is_cluster_manifest(bytes))
          return status::invalid_argument("'" + spec + "' is node snapshot " + id->short_hex()
                                          + " of member '" + ms.spec.members[i].name
                                          + "', not a cluster snapshot");
        return id;
      }
      if (!id.error().is_not_found())
        return id.error().with_context("member '" + ms.spec.members[i].name + "'");
    }
    return last;
  }
  std::optional<std::pair<digest, cluster_manifest>> best;
  for (size_t i = 0; i < ms.spec.members.size(); ++i) {
    auto head = ms.open[i]->get_ref(cluster_head_ref(ms.spec.name));
    if (!head) {
      if (head.error().is_not_found())
        continue;
      return head.error().with_context("member '" + ms.spec.members[i].name + "'");
    }
    auto m = read_cluster_manifest(*ms.open[i], *head);
    if (!m)
      return m.error().with_context("member '" + ms.spec.members[i].name + "'");
    if (!best || std::tie(best->second.incarnation, best->second.epoch)
                   < std::tie(m->incarnation, m->epoch))
      best.emplace(*head, std::move(*m));
  }
  if (!best)
    return status::not_found("no member store of cluster '" + ms.spec.name + "' has "
                             + cluster_head_ref(ms.spec.name) + " (no cluster checkpoint yet)");
  return best->first;
}

} // namespace

int cmd_log_cluster(const context& ctx, const log_options& opts) {
  auto db = open_store(ctx, store_access::read);
  if (!db)
    return fail(ctx, db.error());
  auto chain = cluster_chain(**db, opts.cluster);
  if (!chain)
    return fail(ctx, chain.error());
  if (chain->empty())
    return fail(ctx, status::not_found("no cluster snapshot of cluster '" + opts.cluster
                                       + "' in this store (no "
                                       + cluster_head_ref(opts.cluster) + ")"));
  if (opts.max && chain->size() > *opts.max)
    chain->resize(*opts.max);
  for (auto& e : *chain) {
    if (ctx.json)
      print_json(cluster_json(e.id, e.meta));
    else
      fmt::print("{}  {}  {} #{} epoch {}  {}\n", e.id.short_hex(),
                 local_time(e.meta.created_at_ms), e.meta.cluster, e.meta.incarnation,
                 e.meta.epoch, members_text(e.meta));
  }
  std::fflush(stdout);
  return exit_ok;
}

int show_cluster_snapshot(const context& ctx, store& s, const digest& id,
                          const std::string& bytes) {
  auto m = decode_cluster_manifest(bytes);
  if (!m)
    return fail(ctx, m.error().with_context("cluster snapshot " + id.to_hex()));
  auto refs = refs_to(s, id);
  if (ctx.json) {
    status layers;
    auto out = snapshot_json(s, id, &layers);
    if (!out)
      return fail(ctx, out.error());
    print_json(*out);
    return exit_ok;
  }
  fmt::print("cluster snapshot {}\n", id.to_hex());
  fmt::print("cluster     {} (incarnation {}, epoch {})\n", m->cluster, m->incarnation, m->epoch);
  fmt::print("created     {} ({})\n", local_time(m->created_at_ms), iso_utc(m->created_at_ms));
  if (m->parents.empty())
    fmt::print("parents     none (the cluster's first snapshot)\n");
  for (auto& p : m->parents)
    fmt::print("parent      {}\n", p.to_hex());
  std::string ref_text;
  for (auto& r : refs)
    ref_text += (ref_text.empty() ? "" : ", ") + r;
  fmt::print("refs        {}\n", ref_text.empty() ? "none" : ref_text);
  fmt::print("format      {} (schema {})\n\nmembers ({})\n", m->media_type, m->schema_version,
             m->members.size());
  for (auto& x : m->members) {
    status here = s.get_manifest(x.snapshot, nullptr);
    fmt::print("  {:<16} #{:<4} {}{}\n", x.member, x.incarnation, x.snapshot.to_hex(),
               here.is_ok() ? "  (in this store)" : "");
  }
  return exit_ok;
}

int cmd_verify_cluster(const context& ctx, const verify_cli_options& opts) {
  auto ms = open_members(opts.cluster_file, false);
  if (!ms)
    return fail_members(ctx, ms.error());
  auto id = find_cluster_snapshot(*ms, opts.spec);
  if (!id)
    return fail(ctx, id.error());
  auto decoder = ctx.make_decoder ? ctx.make_decoder() : nullptr;
  progress_line line(ctx);
  auto r = verify_cluster_snapshot(ms->by_name, *id, line.fn(), decoder.get());
  line.done();
  if (!r)
    return fail(ctx, r.error());
  if (ctx.json) {
    json members = json::array();
    for (auto& c : r->members) {
      auto* spec = ms->spec.find(c.member);
      members.push_back({{"member", c.member},
                         {"snapshot", c.snapshot.to_hex()},
                         {"store", spec ? json(spec->store_dir) : json(nullptr)},
                         {"ok", c.ok()},
                         {"holds_cluster_manifest", c.holds_cluster_manifest},
                         {"blobs", c.report.blobs},
                         {"blob_bytes", c.report.blob_bytes},
                         {"problem", c.ok() ? json(nullptr) : to_json(c.problem)}});
    }
    print_json({{"ok", r->ok()},
                {"id", id->to_hex()},
                {"cluster", r->meta.cluster},
                {"incarnation", r->meta.incarnation},
                {"epoch", r->meta.epoch},
                {"members", members},
                {"unlisted", r->unlisted}});
  } else {
    fmt::print("cluster snapshot {} (cluster {}, incarnation {}, epoch {})\n", id->to_hex(),
               r->meta.cluster, r->meta.incarnation, r->meta.epoch);
    size_t bad = 0;
    for (auto& c : r->members) {
      if (c.ok())
        fmt::print("  {:<16} {}  ok: {} ({}){}\n", c.member, c.snapshot.short_hex(),
                   plural(c.report.blobs, "blob"), human_bytes(c.report.blob_bytes),
                   c.holds_cluster_manifest ? "" : "; its store lacks the cluster manifest");
      else
        fmt::print("  {:<16} {}  bad: {}\n", c.member, c.snapshot.short_hex(),
                   c.problem.to_string());
      bad += c.ok() ? 0 : 1;
    }
    for (auto& u : r->unlisted)
      fmt::print("  {:<16} not a member of this cluster snapshot\n", u);
    if (bad == 0)
      fmt::print("checked {}: all ok\n", plural(r->members.size(), "member"));
    else
      fmt::print("checked {}: {} damaged or missing\n", plural(r->members.size(), "member"), bad);
  }
  std::fflush(stdout);
  return r->ok() ? exit_ok : exit_failure;
}

int cmd_export_cluster(const context& ctx, const std::string& spec, const std::string& file,
                       bool force, const std::string& cluster_file) {
  auto ms = open_members(cluster_file, false);
  if (!ms)
    return fail_members(ctx, ms.error());
  auto id = find_cluster_snapshot(*ms, spec);
  if (!id)
    return fail(ctx, id.error());
  export_options o;
  o.overwrite = force;
  progress_line line(ctx);
  auto r = export_cluster_snapshot(ms->by_name, *id, file, o, line.fn());
  line.done();
  if (!r)
    return fail(ctx, r.error());
  if (ctx.json) {
    json members = json::array();
    for (auto& m : r->members)
      members.push_back({{"member", m.member}, {"snapshot", m.snapshot.to_hex()},
                         {"blobs", m.blobs}});
    print_json({{"id", id->to_hex()}, {"cluster", r->cluster}, {"file", file},
                {"members", members}, {"bytes", r->file_bytes}});
  } else {
    fmt::print("exported cluster snapshot {} (cluster {}, {}) to {}: {}\n", id->to_hex(),
               r->cluster, plural(r->members.size(), "member"), file, human_bytes(r->file_bytes));
    for (auto& m : r->members)
      fmt::print("  {:<16} {}  {}\n", m.member, m.snapshot.short_hex(), plural(m.blobs, "blob"));
  }
  return exit_ok;
}

int cmd_import_cluster(const context& ctx, const import_cli_options& opts) {
  auto ms = open_members(opts.cluster_file, true);
  if (!ms)
    return fail_members(ctx, ms.error());
  import_options o;
  o.force_head = opts.set_head;
  progress_line line(ctx);
  auto r = import_cluster_snapshot(ms->by_name, opts.file, o, line.fn());
  line.done();
  if (!r)
    return fail(ctx, r.error());
  if (r->cluster != ms->spec.name)
    warn("the imported snapshot is of cluster '" + r->cluster + "', the cluster file names '"
         + ms->spec.name + "'");
  if (ctx.json) {
    json members = json::array();
    for (auto& m : r->members)
      members.push_back({{"member", m.member},
                         {"snapshot", m.snapshot.id.to_hex()},
                         {"node", m.snapshot.node},
                         {"new_blobs", m.snapshot.new_blobs},
                         {"bytes_written", m.snapshot.bytes_written},
                         {"head_moved", m.snapshot.head_moved},
                         {"cluster_head_moved", m.cluster_head_moved}});
    print_json({{"id", r->id.to_hex()}, {"cluster", r->cluster}, {"members", members}});
    return exit_ok;
  }
  fmt::print("imported cluster snapshot {} (cluster {})\n", r->id.to_hex(), r->cluster);
  for (auto& m : r->members)
    fmt::print("  {:<16} {}  {} new ({}){}{}\n", m.member, m.snapshot.id.short_hex(),
               plural(m.snapshot.new_blobs, "blob"), human_bytes(m.snapshot.bytes_written),
               m.cluster_head_moved ? "; " + cluster_head_ref(r->cluster) + " moved" : "",
               m.snapshot.head_moved ? "; " + m.snapshot.head_ref + " moved" : "");
  return exit_ok;
}

} // namespace amber::cli
