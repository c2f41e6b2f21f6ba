#include "cluster_file.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/core.h>
#include <toml++/toml.h>

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
  auto join = [](const std::vector<std::string>& names) {
    std::string out;
    for (size_t i = 0; i < names.size(); ++i)
      out += (i == 0 ? "" : i + 1 == names.size() ? " and " : ", ") + names[i];
    return out;
  };
  return status::invalid_argument(
    fmt::format("{}: {} {} set but {} {} not; mutual TLS needs all three (a CA file alone "
                "aborts CAF)",
                where, join(set), set.size() == 1 ? "is" : "are", join(unset),
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

const char* type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    default: return "a date or time";
  }
}

class loader {
public:
  explicit loader(std::string path) : path_(std::move(path)) {
    base_ = fs::path(path_).parent_path();
  }

  result<cluster_spec> load(std::string_view text) {
    toml::table root;
    try {
      root = toml::parse(text, path_);
    } catch (const toml::parse_error& e) {
      return status::invalid_argument(fmt::format("{}:{}:{}: TOML syntax error: {}", path_,
                                                  e.source().begin.line, e.source().begin.column,
                                                  e.description()));
    }
    cluster_spec out;
    out.path = path_;
    AMBER_RETURN_IF_ERROR(check_keys(root, "", {"cluster", "member"}));
    auto* c = root.get("cluster");
    if (!c)
      return status::invalid_argument(path_ + ": [cluster] is missing (it names the cluster)");
    auto* ct = c->as_table();
    if (!ct)
      return at(c->source(), "cluster", std::string("must be a table, not ") + type_name(*c));
    AMBER_RETURN_IF_ERROR(load_cluster(*ct, &out));
    auto* m = root.get("member");
    if (!m)
      return status::invalid_argument(path_ + ": defines no member (add a [[member]] table)");
    auto* ma = m->as_array();
    if (!ma || !ma->is_array_of_tables())
      return at(m->source(), "member", std::string("must be [[member]] tables, not ") + type_name(*m));
    if (ma->empty())
      return at(m->source(), "member", "is empty: define at least one [[member]]");
    for (size_t i = 0; i < ma->size(); ++i)
      AMBER_RETURN_IF_ERROR(load_member(*(*ma)[i].as_table(), fmt::format("member[{}]", i), &out));
    return out;
  }

private:
  status at(const toml::source_region& where, const std::string& key, const std::string& what) const {
    return status::invalid_argument(fmt::format("{}:{}:{}: {}: {}", path_, where.begin.line,
                                                where.begin.column, key, what));
  }

  static std::string join(const std::string& prefix, std::string_view key) {
    return prefix.empty() ? std::string(key) : prefix + "." + std::string(key);
  }

  status check_keys(const toml::table& t, const std::string& where,
                    std::initializer_list<const char*> allowed) const {
    for (auto&& [k, v] : t) {
      bool ok = false;
      for (auto* a : allowed)
        ok = ok || k.str() == a;
      if (ok)
        continue;
      std::string list;
      for (auto* a : allowed)
        list += (list.empty() ? "" : ", ") + std::string(a);
      return at(k.source(), join(where, k.str()), "unknown key (expected one of: " + list + ")");
    }
    return status::ok();
  }

  // A string value: absent -> nullopt (or an error when required).
  result<std::optional<std::string>> get_string(const toml::table& t, const char* key,
                                                const std::string& where, bool required) const {
    auto* n = t.get(key);
    if (!n) {
      if (required)
        return at(t.source(), where, std::string("missing key '") + key + "'");
      return std::optional<std::string>{};
    }
    auto* s = n->as_string();
    if (!s)
      return at(n->source(), join(where, key), std::string("must be a string, not ") + type_name(*n));
    if (s->get().empty())
      return at(n->source(), join(where, key), "must not be empty");
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
      return at(t.get(key)->source(), join("cluster", key), d.error().message());
    if (!zero_ok && d->count() == 0)
      return at(t.get(key)->source(), join("cluster", key), "must be more than 0");
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
    AMBER_RETURN_IF_ERROR(check_keys(t, "cluster",
                                     {"name", "checkpoint_every", "checkpoint_timeout",
                                      "heartbeat", "member_timeout", "tls"}));
    auto name = get_string(t, "name", "cluster", true);
    if (!name)
      return name.error();
    if ((*name)->find('/') != std::string::npos)
      return at(t.get("name")->source(), "cluster.name",
                "'" + **name + "' must not contain '/' (it names the ref clusters/<name>/head)");
    out->name = **name;
    AMBER_RETURN_IF_ERROR(get_duration(t, "checkpoint_every", &out->checkpoint_every, true));
    AMBER_RETURN_IF_ERROR(get_duration(t, "checkpoint_timeout", &out->checkpoint_timeout, false));
    AMBER_RETURN_IF_ERROR(get_duration(t, "heartbeat", &out->heartbeat, false));
    AMBER_RETURN_IF_ERROR(get_duration(t, "member_timeout", &out->member_timeout, false));
    if (out->member_timeout <= out->heartbeat) {
      auto* n = t.get("member_timeout") ? t.get("member_timeout") : t.get("heartbeat");
      return at(n ? n->source() : t.source(), "cluster.member_timeout",
                fmt::format("{}ms must be longer than the heartbeat ({}ms), or every member "
                            "is lost between two heartbeats",
                            out->member_timeout.count(), out->heartbeat.count()));
    }
    if (auto* tls = t.get("tls")) {
      auto* tt = tls->as_table();
      if (!tt)
        return at(tls->source(), "cluster.tls", std::string("must be a table, not ") + type_name(*tls));
      AMBER_RETURN_IF_ERROR(check_keys(*tt, "cluster.tls", {"ca", "cert", "key"}));
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
        return at(tls->source(), "cluster.tls",
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
      return at(n->source(), join(where, key), "'" + text + "' is not HOST:PORT (the host is required)");
    auto e = parse_endpoint(text);
    if (!e)
      return at(n->source(), join(where, key), e.error().message());
    if (e->port == 0)
      return at(n->source(), join(where, key),
                "'" + text + "': the port must be from 1 to 65535 (peers dial it)");
    return *e;
  }

  status load_member(const toml::table& t, const std::string& where, cluster_spec* out) {
    AMBER_RETURN_IF_ERROR(check_keys(t, where, {"name", "address", "graph", "store", "control"}));
    cluster_member_spec m;
    auto name = get_string(t, "name", where, true);
    if (!name)
      return name.error();
    if ((*name)->find('/') != std::string::npos)
      return at(t.get("name")->source(), where + ".name",
                "'" + **name + "' must not contain '/' (wires name member/component)");
    if (auto i = names_.find(**name); i != names_.end())
      return at(t.get("name")->source(), where + ".name",
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
        return at(t.get("store")->source(), where + ".store",
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
      return at(where, key, "address " + addr + " is taken by " + it->second);
    return status::ok();
  }

  std::string path_;
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
  std::error_code ec;
  auto st = fs::status(path, ec);
  if (!fs::exists(st))
    return status::not_found("no cluster file at " + path);
  if (fs::is_directory(st))
    return status::invalid_argument(path + " is a directory, not a cluster file");
  if (!fs::is_regular_file(st))
    return status::invalid_argument(path + " is not a regular file");
  auto size = fs::file_size(path, ec);
  if (ec)
    return status::io_error("cannot read " + path + ": " + ec.message());
  if (size > max_cluster_file_bytes)
    return status::invalid_argument(path + " has " + std::to_string(size)
                                    + " bytes; a cluster file may have at most "
                                    + std::to_string(max_cluster_file_bytes));
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return status::io_error("cannot read " + path);
  std::stringstream buf;
  buf << in.rdbuf();
  if (in.bad())
    return status::io_error("cannot read " + path);
  return parse_cluster_file(buf.str(), path);
}

} // namespace amber::cli
