// verify --types: checks snapshots against this binary's registry — every
// type known, its package version compatible, every state decodable after
// its migrations — and reports each problem (runtime/type_check.hpp).

#include <fmt/core.h>

#include "amber/checkpoint/snapshot.hpp"
#include "amber/runtime/node.hpp"
#include "amber/runtime/registry.hpp"
#include "amber/runtime/type_check.hpp"
#include "commands.hpp"

namespace amber::cli {

namespace {

// The snapshots to check: the one `spec` names, or every node's head.
int snapshots_to_check(const context& ctx, store& s, const std::string& spec,
                       std::vector<std::pair<std::string, digest>>* out) {
  if (!spec.empty()) {
    digest id;
    if (int rc = resolve(ctx, s, spec, &id))
      return rc;
    out->emplace_back(spec, id);
    return exit_ok;
  }
  auto refs = s.list_refs();
  if (!refs)
    return fail(ctx, refs.error());
  auto prefix = head_ref("");
  auto stem = prefix.substr(0, prefix.find('/') + 1); // "nodes/"
  auto tail = prefix.substr(stem.size());             // "/head"
  for (auto& [name, id] : *refs)
    if (name.size() > prefix.size() && name.compare(0, stem.size(), stem) == 0
        && name.compare(name.size() - tail.size(), tail.size(), tail) == 0)
      out->emplace_back(name, id);
  return exit_ok;
}

} // namespace

int cmd_verify_types(const context& ctx, const verify_cli_options& opts) {
  auto db = open_store(ctx, store_access::read);
  if (!db)
    return fail(ctx, db.error());
  std::vector<std::pair<std::string, digest>> targets;
  if (int rc = snapshots_to_check(ctx, **db, opts.spec, &targets))
    return rc;
  // Timer messages decode with the types a node of this binary registers.
  node_options decoder_opts;
  decoder_opts.name = "decoder";
  decoder_opts.worker_threads = 1;
  decoder_opts.configure = ctx.configure;
  node decoder(ctx.types, std::move(decoder_opts));
  size_t components = 0, problems = 0;
  nlohmann::json reports = nlohmann::json::array();
  for (auto& [name, id] : targets) {
    auto snap = load_snapshot(**db, id);
    if (!snap)
      return fail(ctx, snap.error().with_context(name));
    auto r = check_snapshot_types(**db, decoder.system(), *snap, *ctx.types);
    if (!r)
      return fail(ctx, r.error().with_context(name));
    components += r->components;
    problems += r->problems.size();
    if (ctx.json) {
      nlohmann::json list = nlohmann::json::array();
      for (auto& p : r->problems)
        list.push_back({{"component", p.component}, {"type", p.type_name},
                        {"code", to_string(p.problem.code())}, {"message", p.problem.message()}});
      reports.push_back({{"name", name}, {"id", id.to_hex()}, {"node", snap->world.node_name},
                         {"components", r->components}, {"migrated", r->migrated},
                         {"problems", list}});
      continue;
    }
    // A snapshot named by its full id is shown by its short one only.
    auto label = name == id.to_hex() ? id.short_hex() : name + " " + id.short_hex();
    fmt::print("{} (node {}): {} component{}, {} to migrate: {}\n", label, snap->world.node_name, r->components, r->components == 1 ? "" : "s",
               r->migrated, r->ok() ? "ok" : "cannot restore here");
    for (auto& p : r->problems)
      fmt::print("  {} ({}): {}\n", p.component.empty() ? "type" : p.component, p.type_name,
                 p.problem.to_string());
  }
  if (ctx.json)
    print_json({{"ok", problems == 0}, {"program", ctx.program}, {"snapshots", reports}});
  else
    fmt::print("checked {} snapshot{} and {} component{} against the types of {}: {}\n",
               targets.size(), targets.size() == 1 ? "" : "s", components,
               components == 1 ? "" : "s", ctx.program,
               problems == 0 ? "all restorable"
                             : fmt::format("{} problem{} found", problems, problems == 1 ? "" : "s"));
  std::fflush(stdout);
  return problems == 0 ? exit_ok : exit_failure;
}

} // namespace amber::cli
