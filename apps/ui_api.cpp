#include "ui_api.hpp"

#include <vector>

#include <nlohmann/json.hpp>

#include "amber/checkpoint/snapshot.hpp"
#include "amber/cli/state_view.hpp"
#include "amber/storage/hex.hpp"
#include "cli_common.hpp"
#include "json_views.hpp"
#include "ui_assets.hpp"

namespace amber::cli {

using json = nlohmann::json;

namespace {

// Names longer than these are refused before they reach the store: a
// snapshot name is an id, a node name or a ref; a component name is what a
// graph file or spawn_child gave.
constexpr size_t max_spec_bytes = 512;
constexpr size_t max_component_bytes = 1024;

ui_response json_response(int code, const json& body) {
  return {code, "application/json; charset=utf-8",
          body.dump(-1, ' ', false, json::error_handler_t::replace)};
}

int http_status_for(const status& st) {
  switch (st.code()) {
    case errc::not_found:
    case errc::not_a_store:
      return 404;
    case errc::invalid_argument:
      return 400;
    default:
      return 500;
  }
}

ui_response error_response(const status& st) {
  return json_response(http_status_for(st), {{"error", to_json(st)}});
}

ui_response error_response(int code, const status& st) {
  return json_response(code, {{"error", to_json(st)}});
}

// The snapshot a request names, after checking the name.
result<digest> requested_snapshot(store& s, const std::string& spec) {
  AMBER_RETURN_IF_ERROR(check_request_name(spec, "snapshot name", max_spec_bytes));
  return resolve_snapshot(s, spec);
}

ui_response api_log(store& s) {
  auto hist = read_history(s);
  if (!hist)
    return error_response(hist.error());
  json snaps = json::array();
  for (auto& snap : hist->snapshots)
    snaps.push_back(summary_json(snap));
  json unreadable = json::array();
  for (auto& [id, why] : hist->unreadable)
    unreadable.push_back({{"id", id.to_hex()}, {"error", to_json(why)}});
  return json_response(200, {{"snapshots", snaps}, {"unreadable", unreadable}});
}

ui_response api_snapshot(store& s, const std::string& spec) {
  auto id = requested_snapshot(s, spec);
  if (!id)
    return error_response(id.error());
  status layers;
  auto out = snapshot_json(s, *id, &layers);
  if (!out)
    return error_response(out.error());
  return json_response(layers ? 200 : http_status_for(layers), *out);
}

ui_response api_graph(store& s, const std::string& spec) {
  auto id = requested_snapshot(s, spec);
  if (!id)
    return error_response(id.error());
  auto snap = load_snapshot(s, *id);
  if (!snap)
    return error_response(snap.error());
  auto out = topology_json(snap->world.node_name, snap->model.graphs);
  out["snapshot"] = id->to_hex();
  return json_response(200, out);
}

ui_response api_state(store& s, const registry* types, const std::string& spec,
                      const std::string& component) {
  auto id = requested_snapshot(s, spec);
  if (!id)
    return error_response(id.error());
  if (status st = check_request_name(component, "component name", max_component_bytes); !st)
    return error_response(st);
  auto state = read_component_state(s, types, id->to_hex(), component);
  if (!state)
    return error_response(state.error());
  return json_response(200, component_state_json(*state));
}

ui_response api_diff(store& s, const registry* types, const std::string& a,
                     const std::string& b) {
  auto from = requested_snapshot(s, a);
  if (!from)
    return error_response(from.error());
  auto to = requested_snapshot(s, b);
  if (!to)
    return error_response(to.error());
  auto d = diff_snapshot_states(s, types, *from, *to);
  if (!d)
    return error_response(d.error());
  return json_response(200, state_diff_json(*from, *to, *d));
}

// The decoded segments of the path of `target` ("/api/log?x" -> api, log).
result<std::vector<std::string>> path_segments(std::string_view target) {
  auto path = target.substr(0, target.find_first_of("?#"));
  if (path.empty() || path.front() != '/')
    return status::invalid_argument("a request target must be a path starting with '/'");
  std::vector<std::string> out;
  path.remove_prefix(1);
  while (true) {
    auto slash = path.find('/');
    auto segment = percent_decode(path.substr(0, slash));
    if (!segment)
      return segment.error();
    out.push_back(std::move(*segment));
    if (slash == std::string_view::npos)
      break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

ui_response answer_api(store& s, const registry* types, const std::vector<std::string>& p) {
  auto is = [&p](const char* name, size_t n) { return p.size() == n && p[1] == name; };
  if (is("log", 2))
    return api_log(s);
  if (is("snapshot", 3))
    return api_snapshot(s, p[2]);
  if (is("graph", 3))
    return api_graph(s, p[2]);
  if (is("state", 4))
    return api_state(s, types, p[2], p[3]);
  if (is("diff", 4))
    return api_diff(s, types, p[2], p[3]);
  return error_response(404, status::not_found("no such API path; the paths are /api/log, "
                                               "/api/snapshot/ID, /api/graph/ID, "
                                               "/api/state/ID/COMPONENT, /api/diff/A/B"));
}

} // namespace

result<std::string> percent_decode(std::string_view segment) {
  std::string out;
  out.reserve(segment.size());
  for (size_t i = 0; i < segment.size(); ++i) {
    if (segment[i] != '%') {
      out += segment[i];
      continue;
    }
    auto byte = from_hex(segment.substr(i + 1, 2));
    if (i + 2 >= segment.size() || !byte)
      return status::invalid_argument("a '%' in the path is not followed by two hex digits");
    out += *byte;
    i += 2;
  }
  return out;
}

status check_request_name(std::string_view name, const char* what, size_t max_bytes) {
  if (name.empty())
    return status::invalid_argument(std::string("an empty ") + what);
  if (name.size() > max_bytes)
    return status::invalid_argument(std::string("a ") + what + " of " + std::to_string(name.size())
                                    + " bytes (at most " + std::to_string(max_bytes) + ")");
  for (size_t i = 0; i < name.size();) {
    auto c = static_cast<unsigned char>(name[i]);
    if (c < 0x20 || c == 0x7f)
      return status::invalid_argument(std::string("a ") + what + " with a control character");
    // UTF-8: a lead byte and its continuation bytes (no overlong forms or
    // surrogates, as JSON needs them).
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    bool ok = len > 0 && i + len <= name.size() && !(len == 2 && c < 0xc2)
              && !(len == 4 && c > 0xf4);
    for (size_t k = 1; ok && k < len; ++k)
      ok = (static_cast<unsigned char>(name[i + k]) & 0xc0) == 0x80;
    if (ok && len == 3) {
      auto c1 = static_cast<unsigned char>(name[i + 1]);
      ok = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 >= 0xa0);
    }
    if (ok && len == 4) {
      auto c1 = static_cast<unsigned char>(name[i + 1]);
      ok = !(c == 0xf0 && c1 < 0x90) && !(c == 0xf4 && c1 >= 0x90);
    }
    if (!ok)
      return status::invalid_argument(std::string("a ") + what + " that is not valid UTF-8");
    i += len;
  }
  return status::ok();
}

ui_response answer_ui_request(store& s, const registry* types, std::string_view target) {
  auto segments = path_segments(target);
  if (!segments)
    return error_response(400, segments.error());
  auto& p = *segments;
  if (p.size() >= 2 && p[0] == "api")
    return answer_api(s, types, p);
  std::string path = p.size() == 1 && p[0].empty() ? "/index.html" : "/";
  if (p.size() == 1 && !p[0].empty())
    path += p[0];
  if (auto asset = find_ui_asset(path))
    return {200, std::string(asset->content_type), std::string(asset->body)};
  return {404, "text/plain; charset=utf-8", "not found\n"};
}

} // namespace amber::cli
