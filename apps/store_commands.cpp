// log, show, diff, verify, gc, export, import: commands on a store. CAF-free.

#include <algorithm>
#include <map>

#include <fmt/core.h>

#include "amber/checkpoint/archive.hpp"
#include "amber/checkpoint/cluster_manifest.hpp"
#include "amber/checkpoint/gc.hpp"
#include "amber/storage/hex.hpp"
#include "amber/checkpoint/history.hpp"
#include "amber/checkpoint/manifest.hpp"
#include "amber/checkpoint/snapshot.hpp"
#include "amber/checkpoint/verify.hpp"
#include "commands.hpp"
#include "json_views.hpp"

namespace amber::cli {

using json = nlohmann::json;

namespace {

std::string plural(uint64_t n, const char* noun) {
  return fmt::format("{} {}{}", n, noun, n == 1 ? "" : "s");
}

std::string summary_text(const snapshot_summary& s) {
  std::string refs;
  if (!s.refs.empty()) {
    refs = "  (";
    for (size_t i = 0; i < s.refs.size(); ++i)
      refs += (i ? ", " : "") + s.refs[i];
    refs += ")";
  }
  return fmt::format("{}  {}  {}  #{}  {}{}", s.id.short_hex(), local_time(s.created_at_ms),
                     s.node, s.incarnation, human_bytes(s.bytes), refs);
}

} // namespace

int cmd_log(const context& ctx, const log_options& opts) {
  if (!opts.cluster.empty())
    return cmd_log_cluster(ctx, opts);
  auto db = open_store(ctx, store_access::read);
  if (!db)
    return fail(ctx, db.error());
  auto hist = read_history(**db);
  if (!hist)
    return fail(ctx, hist.error());
  auto& snaps = hist->snapshots;
  if (!opts.node.empty())
    snaps.erase(std::remove_if(snaps.begin(), snaps.end(),
                               [&](auto& s) { return s.node != opts.node; }),
                snaps.end());
  if (opts.max && snaps.size() > *opts.max)
    snaps.resize(*opts.max);
  if (ctx.json) {
    for (auto& s : snaps)
      print_json(summary_json(s));
  } else if (opts.graph) {
    auto lines = draw_history(snaps);
    size_t width = 0;
    for (auto& l : lines)
      width = std::max(width, l.lanes.size());
    for (auto& l : lines) {
      if (l.snapshot)
        fmt::print("{:<{}}  {}\n", l.lanes, width, summary_text(snaps[*l.snapshot]));
      else
        fmt::print("{}\n", l.lanes);
    }
  } else {
    for (auto& s : snaps)
      fmt::print("{}\n", summary_text(s));
  }
  std::fflush(stdout);
  for (auto& [id, why] : hist->unreadable)
    warn("snapshot " + id.to_hex() + " cannot be read: " + why.to_string()
         + " (run `amber verify`)");
  return hist->unreadable.empty() ? exit_ok : exit_failure;
}

namespace {

void print_manifest_text(const digest& id, const manifest& m, const std::vector<std::string>& refs) {
  fmt::print("snapshot    {}\n", id.to_hex());
  fmt::print("node        {} (incarnation {})\n", m.node.name, m.node.incarnation);
  fmt::print("peer id     {}\n", m.node.peer_id.empty() ? "none" : to_hex(m.node.peer_id));
  fmt::print("created     {} ({})\n", local_time(m.created_at_ms), iso_utc(m.created_at_ms));
  if (m.parents.empty())
    fmt::print("parents     none (a root snapshot)\n");
  for (auto& p : m.parents)
    fmt::print("parent      {}\n", p.to_hex());
  std::string ref_text;
  for (auto& r : refs)
    ref_text += (ref_text.empty() ? "" : ", ") + r;
  fmt::print("refs        {}\n", ref_text.empty() ? "none" : ref_text);
  fmt::print("runtime     {}\n", m.node.runtime_version);
  fmt::print("registry    {}\n", m.node.registry_fingerprint.to_hex());
  fmt::print("format      {} (schema {})\n", m.media_type, m.schema_version);
  uint64_t blobs = 0, bytes = 0;
  for (auto& l : m.layers) {
    blobs += l.blobs;
    bytes += l.bytes;
  }
  fmt::print("size        {} in {} blobs\n\nlayers\n", human_bytes(bytes), blobs);
  for (auto& l : m.layers)
    fmt::print("  {:<8} {:>6} blob{}  {:>10}  index {}  {}\n", to_string(l.kind), l.blobs,
               l.blobs == 1 ? " " : "s", human_bytes(l.bytes), l.index.short_hex(), l.media_type);
}

} // namespace

int cmd_show(const context& ctx, const show_options& opts) {
  if (!opts.component.empty())
    return cmd_cat(ctx, opts.spec, opts.component);
  auto db = open_store(ctx, store_access::read);
  if (!db)
    return fail(ctx, db.error());
  digest id;
  if (int rc = resolve(ctx, **db, opts.spec, &id))
    return rc;
  std::string bytes;
  if (status st = (*db)->get_manifest(id, &bytes); !st)
    return fail(ctx, st);
  if (is_cluster_manifest(bytes))
    return show_cluster_snapshot(ctx, **db, id, bytes);
  auto m = decode_manifest(bytes);
  if (!m)
    return fail(ctx, m.error().with_context("snapshot " + id.to_hex()));
  if (ctx.json) {
    status layers;
    auto out = snapshot_json(**db, id, &layers);
    if (!out)
      return fail(ctx, out.error());
    print_json(*out);
    if (!layers) {
      warn("the layers of snapshot " + id.short_hex() + " cannot be read");
      return fail(ctx, layers);
    }
    return exit_ok;
  }
  auto refs = refs_to(**db, id);
  auto snap = load_snapshot(**db, id);
  print_manifest_text(id, *m, refs);
  if (snap) {
    fmt::print("\ncomponents ({})\n", snap->cache.components.size());
    for (auto& t : components_by_type(snap->cache))
      fmt::print("  {:<24} {:>7}  {:<16} state {}\n", t.at("type").get<std::string>(),
                 t.at("count").get<uint64_t>(), t.at("package").get<std::string>(),
                 human_bytes(t.at("state_bytes").get<uint64_t>()));
    fmt::print("\ngraphs\n");
    for (auto& g : snap->model.graphs)
      fmt::print("  {:<24} {} components, {} wires\n", g.name, g.instances.size(),
                 g.edges.size());
    fmt::print("\nworld       next instance id {}, {} peers\n", snap->world.next_instance_id,
               snap->world.peers.size());
    fmt::print("effects     {} entries\n", snap->effects.entries.size());
    // The first ones; --json lists them all.
    constexpr size_t shown = 20;
    for (size_t i = 0; i < snap->effects.entries.size() && i < shown; ++i) {
      auto& e = snap->effects.entries[i];
      fmt::print("  {:<10} {:<16} {}{}\n", effect_state_name(e.state), e.sink, e.key,
                 e.txn.empty() ? "" : "  (" + e.txn + ")");
    }
    if (snap->effects.entries.size() > shown)
      fmt::print("  ... {} more (--json lists all)\n", snap->effects.entries.size() - shown);
    fmt::print("trace       {} messages in flight at the cut\n", snap->trace.messages.size());
    if (opts.components) {
      fmt::print("\n{:>6}  {:<24} {:<20} {:>10}  state\n", "id", "name", "type", "bytes");
      for (auto& c : snap->cache.components)
        fmt::print("{:>6}  {:<24} {:<20} {:>10}  {}\n", c.instance_id, c.name, c.type_name,
                   c.state_size, c.state.short_hex());
    }
  }
  if (!snap) {
    warn("the layers of snapshot " + id.short_hex() + " cannot be read");
    return fail(ctx, snap.error());
  }
  return exit_ok;
}

int cmd_verify(const context& ctx, const verify_cli_options& opts) {
  if (opts.types)
    return cmd_verify_types(ctx, opts);
  if (!opts.cluster_file.empty())
    return cmd_verify_cluster(ctx, opts);
  auto db = open_store(ctx, store_access::read);
  if (!db)
    return fail(ctx, db.error());
  auto decoder = ctx.make_decoder ? ctx.make_decoder() : nullptr;
  progress_line line(ctx);
  auto r = verify_store(**db, line.fn(), decoder.get());
  line.done();
  if (!r)
    return fail(ctx, r.error());
  if (ctx.json) {
    json problems = json::array();
    for (auto& p : r->problems)
      problems.push_back({{"kind", to_string(p.kind)}, {"object", p.object},
                          {"code", to_string(p.problem.code())}, {"message", p.problem.message()}});
    print_json({{"ok", r->ok()},
                {"blobs", r->blobs},
                {"blob_bytes", r->blob_bytes},
                {"snapshots", r->snapshots},
                {"cluster_snapshots", r->cluster_snapshots},
                {"refs", r->refs},
                {"missing_parents", r->missing_parents},
                {"undecoded", r->undecoded},
                {"problems", problems}});
  } else {
    for (auto& p : r->problems)
      fmt::print("bad {} {}: {}\n", to_string(p.kind), p.object, p.problem.to_string());
    fmt::print("checked {} ({}), {}, {}", plural(r->blobs, "blob"), human_bytes(r->blob_bytes),
               plural(r->snapshots, "snapshot"), plural(r->refs, "ref"));
    if (r->cluster_snapshots > 0)
      fmt::print(", {}", plural(r->cluster_snapshots, "cluster snapshot"));
    if (r->missing_parents > 0)
      fmt::print("; {} a parent that is not in this store (collected by gc, or not imported)",
                 r->missing_parents == 1 ? "1 snapshot has" : plural(r->missing_parents, "snapshot") + " have");
    if (r->undecoded > 0)
      fmt::print("; {} not decoded (types this program does not know)",
                 r->undecoded == 1 ? "1 component or message"
                                   : std::to_string(r->undecoded) + " components or messages");
    if (r->ok())
      fmt::print(": all ok\n");
    else
      fmt::print(": {} problem{} found\n", r->problems.size(), r->problems.size() == 1 ? "" : "s");
  }
  std::fflush(stdout);
  return r->ok() ? exit_ok : exit_failure;
}

int cmd_gc(const context& ctx, const gc_cli_options& opts) {
  auto lock_timeout = parse_duration(opts.lock_timeout);
  if (!lock_timeout)
    return fail(ctx, lock_timeout.error().with_context("--lock-timeout"), exit_usage);
  auto db = open_store(ctx, opts.dry_run ? store_access::read : store_access::write,
                       *lock_timeout);
  if (!db)
    return fail(ctx, db.error());
  gc_options o;
  o.keep = opts.keep;
  o.dry_run = opts.dry_run;
  progress_line line(ctx);
  auto r = collect_garbage(**db, o, line.fn());
  line.done();
  if (!r)
    return fail(ctx, r.error(), r.error().code() == errc::invalid_argument ? exit_usage
                                                                             : exit_code_for(r.error()));
  if (ctx.json) {
    print_json({{"dry_run", r->dry_run},
                {"removed_snapshots", hex_list(r->removed_snapshots)},
                {"removed_blobs", r->removed_blobs},
                {"freed_bytes", r->freed_bytes},
                {"kept_snapshots", r->kept_snapshots},
                {"kept_cluster_snapshots", r->kept_cluster_snapshots},
                {"kept_blobs", r->kept_blobs},
                {"kept_bytes", r->kept_bytes}});
    return exit_ok;
  }
  const char* verb = r->dry_run ? "would remove" : "removed";
  for (auto& id : r->removed_snapshots)
    fmt::print("{} snapshot {}\n", verb, id.short_hex());
  std::string kept_clusters;
  if (r->kept_cluster_snapshots > 0)
    kept_clusters = ", " + plural(r->kept_cluster_snapshots, "cluster snapshot");
  fmt::print("{} {} and {}, {} {}; kept {}{}, {} ({})\n", verb,
             plural(r->removed_snapshots.size(), "snapshot"), plural(r->removed_blobs, "blob"),
             r->dry_run ? "would free" : "freed", human_bytes(r->freed_bytes),
             plural(r->kept_snapshots, "snapshot"), kept_clusters, plural(r->kept_blobs, "blob"),
             human_bytes(r->kept_bytes));
  return exit_ok;
}

int cmd_export(const context& ctx, const std::string& spec, const std::string& file, bool force,
               const std::string& cluster_file) {
  if (!cluster_file.empty())
    return cmd_export_cluster(ctx, spec, file, force, cluster_file);
  auto db = open_store(ctx, store_access::read);
  if (!db)
    return fail(ctx, db.error());
  digest id;
  if (int rc = resolve(ctx, **db, spec, &id))
    return rc;
  export_options o;
  o.overwrite = force;
  progress_line line(ctx);
  auto r = export_snapshot(**db, id, file, o, line.fn());
  line.done();
  if (!r)
    return fail(ctx, r.error());
  if (ctx.json)
    print_json({{"id", id.to_hex()}, {"file", file}, {"blobs", r->blobs}, {"bytes", r->file_bytes}});
  else
    fmt::print("exported {} ({}) to {}: {}\n", id.to_hex(), plural(r->blobs, "blob"), file,
               human_bytes(r->file_bytes));
  return exit_ok;
}

int cmd_import(const context& ctx, const import_cli_options& opts) {
  if (!opts.cluster_file.empty())
    return cmd_import_cluster(ctx, opts);
  auto db = open_store(ctx, store_access::create);
  if (!db)
    return fail(ctx, db.error());
  import_options o;
  o.force_head = opts.set_head;
  progress_line line(ctx);
  auto r = import_snapshot(**db, opts.file, o, line.fn());
  line.done();
  if (!r)
    return fail(ctx, r.error());
  auto head = (*db)->get_ref(r->head_ref);
  if (ctx.json) {
    print_json({{"id", r->id.to_hex()},
                {"node", r->node},
                {"blobs", r->blobs},
                {"new_blobs", r->new_blobs},
                {"bytes_written", r->bytes_written},
                {"already_present", r->already_present},
                {"head_ref", r->head_ref},
                {"head", head ? json(head->to_hex()) : json(nullptr)},
                {"head_moved", r->head_moved}});
    return exit_ok;
  }
  fmt::print("imported {} (node {}): {}, {} new ({}){}\n", r->id.to_hex(), r->node,
             plural(r->blobs, "blob"), r->new_blobs, human_bytes(r->bytes_written),
             r->already_present ? "; the store already had it" : "");
  if (r->head_moved || (head && *head == r->id))
    fmt::print("{} -> {}\n", r->head_ref, r->id.short_hex());
  else if (head)
    fmt::print("{} stays at {} (pass --set-head to move it)\n", r->head_ref, head->short_hex());
  return exit_ok;
}

} // namespace amber::cli
