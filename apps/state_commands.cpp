// cat, show --component and diff: what is inside states, described by the
// program's types (their to_json). CAF-free.

#include <cstdlib>
#include <map>

#include <fmt/core.h>

#include "amber/cli/state_view.hpp"
#include "commands.hpp"

namespace amber::cli {

using json = nlohmann::json;

namespace {

// Why a state is shown by size only, with the hint of which binary knows
// which types when this one does not know it.
std::string size_only_note(const context& ctx, const std::string& why) {
  if (why.find("is not registered") != std::string::npos)
    return why + "; " + types_hint(ctx);
  return why;
}

} // namespace

int cmd_cat(const context& ctx, const std::string& spec, const std::string& component) {
  auto db = open_store(ctx, store_access::read);
  if (!db)
    return fail(ctx, db.error());
  digest id;
  if (int rc = resolve(ctx, **db, spec, &id))
    return rc;
  auto st = read_component_state(**db, ctx.types.get(), id.to_hex(), component);
  if (!st)
    return fail(ctx, st.error());
  if (!st->value)
    warn("the state of '" + component + "' is shown by size and digest: "
         + size_only_note(ctx, st->why_not));
  if (ctx.json) {
    json out = {{"snapshot", id.to_hex()},        {"component", st->name},
                {"type", st->type_name},          {"package", st->package.to_string()},
                {"state_digest", st->state.to_hex()}, {"state_bytes", st->state_bytes},
                {"described", st->value.has_value()}, {"state", st->value_or_summary()}};
    if (!st->value)
      out["why_not"] = st->why_not;
    print_json(out);
  } else {
    auto text = st->value_or_summary().dump(2, ' ', false, json::error_handler_t::replace);
    fmt::print("{}\n", text);
  }
  std::fflush(stdout);
  return exit_ok;
}

int cmd_diff(const context& ctx, const std::string& a, const std::string& b) {
  auto db = open_store(ctx, store_access::read);
  if (!db)
    return fail(ctx, db.error());
  digest from, to;
  if (int rc = resolve(ctx, **db, a, &from))
    return rc;
  if (int rc = resolve(ctx, **db, b, &to))
    return rc;
  auto sd = diff_snapshot_states(**db, ctx.types.get(), from, to);
  if (!sd)
    return fail(ctx, sd.error());
  auto& d = sd->snapshot;
  if (ctx.json) {
    auto list = [](const std::vector<component_delta>& xs,
                   const std::vector<component_state_diff>* states) {
      json out = json::array();
      for (size_t i = 0; i < xs.size(); ++i) {
        auto& x = xs[i];
        json j = {{"name", x.name}, {"type", x.type_name}, {"old_bytes", x.old_bytes},
                  {"new_bytes", x.new_bytes}};
        j["old_state"] = x.old_state.is_zero() ? json(nullptr) : json(x.old_state.to_hex());
        j["new_state"] = x.new_state.is_zero() ? json(nullptr) : json(x.new_state.to_hex());
        if (!x.old_type_name.empty() && x.old_type_name != x.type_name)
          j["old_type"] = x.old_type_name;
        if (states) {
          auto& s = (*states)[i];
          j["state_diff"] = s.diff ? to_json(*s.diff) : json(nullptr);
          if (!s.diff)
            j["state_diff_unavailable"] = s.why_not;
        }
        out.push_back(j);
      }
      return out;
    };
    print_json({{"from", from.to_hex()},
                {"to", to.to_hex()},
                {"added", list(d.added, nullptr)},
                {"removed", list(d.removed, nullptr)},
                {"changed", list(d.changed, &sd->states)},
                {"unchanged", d.unchanged},
                {"state_bytes_delta", d.state_bytes_delta},
                {"graphs_added", d.graphs_added},
                {"graphs_removed", d.graphs_removed},
                {"graphs_changed", d.graphs_changed},
                {"node_renamed", d.node_renamed},
                {"config_changed", d.config_changed}});
    return exit_ok;
  }
  fmt::print("diff {} -> {}\n", from.short_hex(), to.short_hex());
  for (auto& x : d.removed)
    fmt::print("removed  {:<24} {:<20} -{}\n", x.name, x.type_name, human_bytes(x.old_bytes));
  for (auto& x : d.added)
    fmt::print("added    {:<24} {:<20} +{}\n", x.name, x.type_name, human_bytes(x.new_bytes));
  // Components shown by size only, counted per reason (one note each).
  std::map<std::string, uint64_t> size_only;
  for (size_t i = 0; i < d.changed.size(); ++i) {
    auto& x = d.changed[i];
    auto& s = sd->states[i];
    std::string type = x.old_type_name == x.type_name ? x.type_name
                                                      : x.old_type_name + " -> " + x.type_name;
    fmt::print("changed  {:<24} {:<20} {} -> {}\n", x.name, type, human_bytes(x.old_bytes),
               human_bytes(x.new_bytes));
    if (!s.diff) {
      ++size_only[s.why_not];
      continue;
    }
    auto lines = describe(*s.diff);
    if (lines.empty()) // same JSON, different bytes: a field to_json leaves out
      fmt::print("  (no change in its JSON)\n");
    for (auto& line : lines)
      fmt::print("  {}\n", line);
  }
  for (auto& g : d.graphs_added)
    fmt::print("graph added    {}\n", g);
  for (auto& g : d.graphs_removed)
    fmt::print("graph removed  {}\n", g);
  for (auto& g : d.graphs_changed)
    fmt::print("graph changed  {}\n", g);
  if (d.node_renamed)
    fmt::print("node renamed\n");
  if (d.config_changed)
    fmt::print("node config changed\n");
  fmt::print("{} changed, {} added, {} removed, {} unchanged; state {}{}\n", d.changed.size(),
             d.added.size(), d.removed.size(), d.unchanged, d.state_bytes_delta < 0 ? "-" : "+",
             human_bytes(static_cast<uint64_t>(std::abs(d.state_bytes_delta))));
  for (auto& [why, n] : size_only)
    fmt::print("sizes only for {} component{}: {}\n", n, n == 1 ? "" : "s",
               size_only_note(ctx, why));
  return exit_ok;
}

} // namespace amber::cli
