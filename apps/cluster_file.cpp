#include "cluster_file.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/core.h>
#include <toml++/toml.h>

#include "toml_checks.hpp"

#include "cli_common.hpp"

namespace amber::cli {

namespace fs = std::filesystem;

status check_tls_complete(const tls_settings& tls, const std::string& where) {
  const std::pair<const char*, const std::string*> files[] = {
    {"ca", &tls.ca_file}, {"cert", &tls.cert_file}, {"key", &tls.key_file}};
  std::vector<std::string> set, unset;
  for (auto& [name, value] : files)
    (value->empty() ? unset : set).push_back(name);
  if (set.empty() || unset.empty())
    return status::ok();
  auto list = [](const std::vector<std::string>& names) {
    std::string out;
    for (size_t i = 0; i < names.size(); ++i)
      out += (i == 0 ? "" : i + 1 == names.size() ? " and " : ", ") + names[i];
    return out;
  };
  return status::invalid_argument(
    fmt::format("{}: {} {} set but {} {} not; mutual TLS needs all three (a CA file alone "
                "aborts CAF)",
                where, list(set), set.size() == 1 ? "is" : "are", list(unset),
                unset.size() == 1 ? "is" : "are"));
}

std::set<std::string> other_members(const cluster_spec& spec, std::string_view member) {
  std::set<std::string> out;
  for (auto& m : spec.members)
    if (m.name != member)
      out.insert(m.name);
  return out;
}

namespace {


class loader {
public:
  explicit loader(std::string path) : path_(std::move(path)) {
    base_ = fs::path(path_).parent_path();
  }

  result<cluster_spec> load(std::string_view text) {
    auto parsed = checks_.parse(text);
    if (!parsed)
      return parsed.error();
    auto& root = *parsed;
    cluster_spec out;
    out.path = path_;
    AMBER_RETURN_IF_ERROR(checks_.check_keys(root, "", {"cluster", "member"}));
    auto* c = root.get("cluster");
    if (!c)
      return status::invalid_argument(path_ + ": [cluster] is missing (it names the cluster)");
    auto* ct = c->as_table();
    if (!ct)
      return checks_.at(c->source(), "cluster", std::string("must be a table, not ") + toml_checks::type_name(*c));
    AMBER_RETURN_IF_ERROR(load_cluster(*ct, &out));
    auto* m = root.get("member");
    if (!m)
      return status::invalid_argument(path_ + ": defines no member (add a [[member]] table)");
    auto* ma = m->as_array();
    if (!ma || !ma->is_array_of_tables())
      return checks_.at(m->source(), "member", std::string("must be [[member]] tables, not ") + toml_checks::type_name(*m));
    if (ma->empty())
      return checks_.at(m->source(), "member", "is empty: define at least one [[member]]");
    for (size_t i = 0; i < ma->size(); ++i)
      AMBER_RETURN_IF_ERROR(load_member(*(*ma)[i].as_table(), fmt::format("member[{}]", i), &out));
    return out;
  }

private:

  // A string value: absent -> nullopt (or an error when required).
  result<std::optional<std::string>> get_string(const toml::table& t, const char* key,
                                                const std::string& where, bool required) const {
    auto* n = t.get(key);
    if (!n) {
      if (required)
        return checks_.at(t.source(), where, std::string("missing key '") + key + "'");
      return std::optional<std::string>{};
    }
    auto* s = n->as_string();
    if (!s)
      return checks_.at(n->source(), toml_checks::join(where, key), std::string("must be a string, not ") + toml_checks::type_name(*n));
    if (s->get().empty())
      return checks_.at(n->source(), toml_checks::join(where, key), "must not be empty");
    return std::optional<std::string>{s->get()};
  }

  status get_duration(const toml::table& t, const char* key, std::chrono::milliseconds* out,
                      bool zero_ok) const {
    auto v = get_string(t, key, "cluster", false);
    if (!v)
      return v.error();
    if (!*v)
      return status::ok();
    auto d = parse_duration(**v);
    if (!d)
      return checks_.at(t.get(key)->source(), toml_checks::join("cluster", key), d.error().message());
    if (!zero_ok && d->count() == 0)
      return checks_.at(t.get(key)->source(), toml_checks::join("cluster", key), "must be more than 0");
    *out = *d;
    return status::ok();
  }

  std::string resolve(const std::string& p) const {
    fs::path path(p);
    if (path.is_absolute() || base_.empty())
      return path.lexically_normal().string();
    return (base_ / path).lexically_normal().string();
  }

  status load_cluster(const toml::table& t, cluster_spec* out) {
    AMBER_RETURN_IF_ERROR(checks_.check_keys(t, "cluster",
                                     {"name", "checkpoint_every", "checkpoint_timeout",
                                      "heartbeat", "member_timeout", "tls"}));
    auto name = get_string(t, "name", "cluster", true);
    if (!name)
      return name.error();
    if ((*name)->find('/') != std::string::npos)
      return checks_.at(t.get("name")->source(), "cluster.name",
                "'" + **name + "' must not contain '/' (it names the ref clusters/<name>/head)");
    out->name = **name;
    AMBER_RETURN_IF_ERROR(get_duration(t, "checkpoint_every", &out->checkpoint_every, true));
    AMBER_RETURN_IF_ERROR(get_duration(t, "checkpoint_timeout", &out->checkpoint_timeout, false));
    AMBER_RETURN_IF_ERROR(get_duration(t, "heartbeat", &out->heartbeat, false));
    AMBER_RETURN_IF_ERROR(get_duration(t, "member_timeout", &out->member_timeout, false));
    if (out->member_timeout <= out->heartbeat) {
      auto* n = t.get("member_timeout") ? t.get("member_timeout") : t.get("heartbeat");
      return checks_.at(n ? n->source() : t.source(), "cluster.member_timeout",
                fmt::format("{}ms must be longer than the heartbeat ({}ms), or every member "
                            "is lost between two heartbeats",
                            out->member_timeout.count(), out->heartbeat.count()));
    }
    if (auto* tls = t.get("tls")) {
      auto* tt = tls->as_table();
      if (!tt)
        return checks_.at(tls->source(), "cluster.tls", std::string("must be a table, not ") + toml_checks::type_name(*tls));
      AMBER_RETURN_IF_ERROR(checks_.check_keys(*tt, "cluster.tls", {"ca", "cert", "key"}));
      const std::pair<const char*, std::string*> files[] = {
        {"ca", &out->tls.ca_file}, {"cert", &out->tls.cert_file}, {"key", &out->tls.key_file}};
      for (auto& [key, field] : files) {
        auto v = get_string(*tt, key, "cluster.tls", false);
        if (!v)
          return v.error();
        if (*v)
          *field = resolve(**v);
      }
      status st = check_tls_complete(out->tls);
      if (!st)
        return checks_.at(tls->source(), "cluster.tls",
                  st.message().substr(std::string("cluster.tls: ").size()));
    }
    return status::ok();
  }

  result<endpoint> address(const toml::table& t, const char* key, const std::string& where,
                           bool required) const {
    auto v = get_string(t, key, where, required);
    if (!v)
      return v.error();
    if (!*v)
      return endpoint{};
    auto& text = **v;
    auto* n = t.get(key);
    if (text.find(':') == std::string::npos)
      return checks_.at(n->source(), toml_checks::join(where, key), "'" + text + "' is not HOST:PORT (the host is required)");
    auto e = parse_endpoint(text);
    if (!e)
      return checks_.at(n->source(), toml_checks::join(where, key), e.error().message());
    if (e->port == 0)
      return checks_.at(n->source(), toml_checks::join(where, key),
                "'" + text + "': the port must be from 1 to 65535 (peers dial it)");
    return *e;
  }

  status load_member(const toml::table& t, const std::string& where, cluster_spec* out) {
    AMBER_RETURN_IF_ERROR(checks_.check_keys(t, where, {"name", "address", "graph", "store", "control"}));
    cluster_member_spec m;
    auto name = get_string(t, "name", where, true);
    if (!name)
      return name.error();
    if ((*name)->find('/') != std::string::npos)
      return checks_.at(t.get("name")->source(), where + ".name",
                "'" + **name + "' must not contain '/' (wires name member/component)");
    if (auto i = names_.find(**name); i != names_.end())
      return checks_.at(t.get("name")->source(), where + ".name",
                fmt::format("member '{}' is defined twice (first at line {})", **name, i->second));
    names_.emplace(**name, t.source().begin.line);
    m.name = **name;
    auto addr = address(t, "address", where, true);
    if (!addr)
      return addr.error();
    m.host = addr->host;
    m.port = addr->port;
    AMBER_RETURN_IF_ERROR(claim(addr->to_string(), t.get("address")->source(), where + ".address"));
    auto graph = get_string(t, "graph", where, true);
    if (!graph)
      return graph.error();
    m.graph_file = resolve(**graph);
    auto store = get_string(t, "store", where, true);
    if (!store)
      return store.error();
    m.store_dir = resolve(**store);
    for (auto& other : out->members)
      if (other.store_dir == m.store_dir)
        return checks_.at(t.get("store")->source(), where + ".store",
                  "'" + m.store_dir + "' is member '" + other.name
                    + "''s store too; each member needs its own");
    if (t.get("control")) {
      auto control = address(t, "control", where, false);
      if (!control)
        return control.error();
      m.control = control->to_string();
      AMBER_RETURN_IF_ERROR(claim(m.control, t.get("control")->source(), where + ".control"));
    }
    out->members.push_back(std::move(m));
    return status::ok();
  }

  // Each HOST:PORT serves one endpoint.
  status claim(const std::string& addr, const toml::source_region& where, const std::string& key) {
    auto [it, fresh] = addresses_.emplace(addr, key);
    if (!fresh)
      return checks_.at(where, key, "address " + addr + " is taken by " + it->second);
    return status::ok();
  }

  std::string path_;
  toml_checks checks_{path_};
  fs::path base_;
  std::map<std::string, uint32_t> names_;       // member -> line
  std::map<std::string, std::string> addresses_; // HOST:PORT -> key
};

} // namespace

result<cluster_spec> parse_cluster_file(std::string_view text, const std::string& path) {
  loader l(path);
  return l.load(text);
}

result<cluster_spec> load_cluster_file(const std::string& path) {
  auto text = read_bounded_file(path, max_cluster_file_bytes, "cluster file");
  if (!text)
    return text.error();
  return parse_cluster_file(*text, path);
}

} // namespace amber::cli
