#include "graph_file.hpp"

#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/core.h>
#include <toml++/toml.h>

#include "toml_checks.hpp"

#include "amber/storage/hex.hpp"

namespace amber::cli {

size_t graph_file::component_count() const {
  size_t n = 0;
  for (auto& g : graphs)
    n += g.instances.size();
  return n;
}

size_t graph_file::wire_count() const {
  size_t n = 0;
  for (auto& g : graphs)
    n += g.edges.size();
  return n;
}

result<std::string> expand_template(std::string_view text, int64_t i, bool has_index) {
  std::string out;
  for (size_t p = 0; p < text.size(); ++p) {
    char c = text[p];
    if (c == '}') {
      if (p + 1 < text.size() && text[p + 1] == '}') {
        out += '}';
        ++p;
        continue;
      }
      return status::invalid_argument("'" + std::string(text)
                                      + "' has a '}' without '{' (write '}}' for a brace)");
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (p + 1 < text.size() && text[p + 1] == '{') {
      out += '{';
      ++p;
      continue;
    }
    auto close = text.find('}', p);
    if (close == std::string_view::npos)
      return status::invalid_argument("'" + std::string(text) + "' has a '{' without '}'");
    auto expr = text.substr(p + 1, close - p - 1);
    auto bad = [&](const std::string& why) {
      return status::invalid_argument("'{" + std::string(expr) + "}' in '" + std::string(text)
                                      + "': " + why);
    };
    if (!has_index)
      return bad("{i} needs a count (this entry has none)");
    size_t q = 0;
    auto skip = [&] {
      while (q < expr.size() && std::isspace(static_cast<unsigned char>(expr[q])))
        ++q;
    };
    skip();
    if (q >= expr.size() || expr[q] != 'i')
      return bad("expected i, as in {i} or {i % 4}");
    ++q;
    int64_t value = i;
    for (;;) {
      skip();
      if (q >= expr.size())
        break;
      char op = expr[q++];
      if (std::string_view("+-*/%").find(op) == std::string_view::npos)
        return bad(std::string("unknown operator '") + op + "' (use + - * / %)");
      skip();
      size_t start = q;
      while (q < expr.size() && std::isdigit(static_cast<unsigned char>(expr[q])))
        ++q;
      if (q == start || q - start > 12)
        return bad(std::string("expected a number after '") + op + "'");
      int64_t n = std::stoll(std::string(expr.substr(start, q - start)));
      bool overflow = false;
      switch (op) {
        case '+': overflow = __builtin_add_overflow(value, n, &value); break;
        case '-': overflow = __builtin_sub_overflow(value, n, &value); break;
        case '*': overflow = __builtin_mul_overflow(value, n, &value); break;
        case '/':
        case '%':
          if (n == 0)
            return bad("division by zero");
          value = op == '/' ? value / n : value % n;
          break;
      }
      if (overflow)
        return bad("the value overflows a 64-bit integer");
    }
    out += std::to_string(value);
    p = close;
  }
  return out;
}

namespace {


bool valid_node_name(std::string_view name) {
  if (name.empty())
    return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
      return false;
  return true;
}

class loader {
public:
  loader(std::string path, const std::set<std::string>& known,
         const std::set<std::string>* remote)
    : path_(std::move(path)), known_(known), remote_(remote) {}

  result<graph_file> load(std::string_view text) {
    auto parsed = checks_.parse(text);
    if (!parsed)
      return parsed.error();
    auto& root = *parsed;
    graph_file out;
    out.path = path_;
    out.node_name = std::filesystem::path(path_).stem().string();
    AMBER_RETURN_IF_ERROR(checks_.check_keys(root, "", {"format", "node", "graph"}));
    if (auto* f = root.get("format")) {
      auto v = f->as_integer();
      if (!v || v->get() != 1)
        return checks_.at(f->source(), "format", "must be 1 (the only graph file format there is)");
    }
    if (auto* n = root.get("node"))
      AMBER_RETURN_IF_ERROR(load_node(*n, &out));
    else if (!valid_node_name(out.node_name))
      return status::invalid_argument(path_ + ": [node] name is missing and the file name '"
                                      + out.node_name + "' is not a valid node name");
    auto* graphs = root.get("graph");
    if (!graphs)
      return status::invalid_argument(path_ + ": defines no graph (add a [[graph]] table)");
    if (auto* t = graphs->as_table()) {
      AMBER_RETURN_IF_ERROR(load_graph(*t, "graph", &out));
    } else if (auto* a = graphs->as_array()) {
      if (a->empty())
        return checks_.at(graphs->source(), "graph", "is empty: define at least one [[graph]]");
      for (size_t i = 0; i < a->size(); ++i) {
        auto key = fmt::format("graph[{}]", i);
        auto* t = (*a)[i].as_table();
        if (!t)
          return checks_.at((*a)[i].source(), key, std::string("must be a table, not ") + toml_checks::type_name((*a)[i]));
        AMBER_RETURN_IF_ERROR(load_graph(*t, key, &out));
      }
    } else {
      return checks_.at(graphs->source(), "graph", std::string("must be [[graph]] tables, not ") + toml_checks::type_name(*graphs));
    }
    AMBER_RETURN_IF_ERROR(check_wires(out));
    return out;
  }

private:
  struct origin {
    toml::source_region where;
    std::string key;
  };


  // A string value: absent -> nullopt; not a string -> error.
  result<std::optional<std::string>> get_string(const toml::table& t, const char* key,
                                                const std::string& where, bool required,
                                                const toml::source_region& table_at) const {
    auto* n = t.get(key);
    if (!n) {
      if (required)
        return checks_.at(table_at, where, std::string("missing key '") + key + "'");
      return std::optional<std::string>{};
    }
    auto* s = n->as_string();
    if (!s)
      return checks_.at(n->source(), toml_checks::join(where, key), std::string("must be a string, not ") + toml_checks::type_name(*n));
    return std::optional<std::string>{s->get()};
  }

  result<std::optional<int64_t>> get_int(const toml::table& t, const char* key,
                                         const std::string& where, int64_t min, int64_t max) const {
    auto* n = t.get(key);
    if (!n)
      return std::optional<int64_t>{};
    auto* v = n->as_integer();
    if (!v)
      return checks_.at(n->source(), toml_checks::join(where, key), std::string("must be an integer, not ") + toml_checks::type_name(*n));
    if (v->get() < min || v->get() > max)
      return checks_.at(n->source(), toml_checks::join(where, key),
                fmt::format("{} is out of range ({} to {})", v->get(), min, max));
    return std::optional<int64_t>{v->get()};
  }

  status load_node(const toml::node& n, graph_file* out) {
    auto* t = n.as_table();
    if (!t)
      return checks_.at(n.source(), "node", std::string("must be a table, not ") + toml_checks::type_name(n));
    AMBER_RETURN_IF_ERROR(checks_.check_keys(*t, "node", {"name", "threads", "config"}));
    auto name = get_string(*t, "name", "node", false, n.source());
    if (!name)
      return name.error();
    if (*name) {
      if (!valid_node_name(**name))
        return checks_.at(t->get("name")->source(), "node.name",
                  "'" + **name + "' is not a valid node name (letters, digits, '-', '_', '.')");
      out->node_name = **name;
    } else if (!valid_node_name(out->node_name)) {
      return checks_.at(n.source(), "node", "missing key 'name' (the file name '" + out->node_name
                                      + "' is not a valid node name)");
    }
    auto threads = get_int(*t, "threads", "node", 0, 1024);
    if (!threads)
      return threads.error();
    out->threads = static_cast<size_t>(threads->value_or(0));
    if (auto* c = t->get("config")) {
      auto* ct = c->as_table();
      if (!ct)
        return checks_.at(c->source(), "node.config", std::string("must be a table, not ") + toml_checks::type_name(*c));
      AMBER_RETURN_IF_ERROR(checks_.check_keys(*ct, "node.config",
                                       {"peer_id", "cycle_op_budget", "max_pending_async",
                                        "max_outbound_queue", "bus_capacity"}));
      auto peer = get_string(*ct, "peer_id", "node.config", false, c->source());
      if (!peer)
        return peer.error();
      if (*peer) {
        auto bytes = from_hex(**peer);
        if (!bytes)
          return checks_.at(ct->get("peer_id")->source(), "node.config.peer_id",
                    "must be an even number of hex digits");
        out->config.peer_id = *bytes;
      }
      const std::pair<const char*, std::optional<uint64_t>*> optional_fields[] = {
        {"cycle_op_budget", &out->config.cycle_op_budget},
        {"max_pending_async", &out->config.max_pending_async},
        {"max_outbound_queue", &out->config.max_outbound_queue},
      };
      for (auto [key, field] : optional_fields) {
        auto v = get_int(*ct, key, "node.config", 1, INT64_MAX);
        if (!v)
          return v.error();
        if (*v)
          *field = static_cast<uint64_t>(**v);
      }
      auto bus = get_int(*ct, "bus_capacity", "node.config", 1, INT64_MAX);
      if (!bus)
        return bus.error();
      if (*bus)
        out->config.bus_capacity = static_cast<uint64_t>(**bus);
    }
    return status::ok();
  }

  // The entries of an array of tables `key` in `t`, or none.
  result<const toml::array*> tables(const toml::table& t, const char* key, const std::string& where) const {
    auto* n = t.get(key);
    if (!n)
      return static_cast<const toml::array*>(nullptr);
    auto* a = n->as_array();
    if (!a || !a->is_array_of_tables())
      return checks_.at(n->source(), toml_checks::join(where, key),
                std::string("must be [[") + toml_checks::join("graph", key) + "]] tables, not " + toml_checks::type_name(*n));
    return a;
  }

  result<int64_t> count_of(const toml::table& t, const std::string& where, bool* has_index) const {
    auto count = get_int(t, "count", where, 0, max_count);
    if (!count)
      return count.error();
    *has_index = count->has_value();
    return count->value_or(1);
  }

  status expand(const toml::node& n, const std::string& key, std::string_view text, int64_t i,
                bool has_index, std::string* out) const {
    auto r = expand_template(text, i, has_index);
    if (!r)
      return checks_.at(n.source(), key, r.error().message());
    *out = std::move(*r);
    return status::ok();
  }

  status load_graph(const toml::table& t, const std::string& where, graph_file* out) {
    AMBER_RETURN_IF_ERROR(checks_.check_keys(t, where, {"name", "component", "wire"}));
    auto name = get_string(t, "name", where, true, t.source());
    if (!name)
      return name.error();
    if ((*name)->empty())
      return checks_.at(t.get("name")->source(), where + ".name", "must not be empty");
    for (auto& g : out->graphs)
      if (g.name == **name)
        return checks_.at(t.get("name")->source(), where + ".name",
                  "graph '" + **name + "' is defined twice");
    graph_def g;
    g.name = **name;
    auto components = tables(t, "component", where);
    if (!components)
      return components.error();
    if (*components) {
      for (size_t c = 0; c < (*components)->size(); ++c)
        AMBER_RETURN_IF_ERROR(load_component(*(**components)[c].as_table(),
                                             fmt::format("{}.component[{}]", where, c), &g));
    }
    auto wires = tables(t, "wire", where);
    if (!wires)
      return wires.error();
    if (*wires) {
      for (size_t w = 0; w < (*wires)->size(); ++w)
        AMBER_RETURN_IF_ERROR(load_wire(*(**wires)[w].as_table(),
                                        fmt::format("{}.wire[{}]", where, w), &g));
    }
    out->graphs.push_back(std::move(g));
    return status::ok();
  }

  status load_component(const toml::table& t, const std::string& where, graph_def* g) {
    AMBER_RETURN_IF_ERROR(checks_.check_keys(t, where, {"name", "type", "count", "params"}));
    auto name = get_string(t, "name", where, true, t.source());
    if (!name)
      return name.error();
    auto type = get_string(t, "type", where, true, t.source());
    if (!type)
      return type.error();
    if (!known_.empty() && known_.count(**type) == 0) {
      // unknown_type: the command line adds which binary knows which types.
      return status(errc::unknown_type,
                    checks_.at(t.get("type")->source(), where + ".type",
                               "unknown component type '" + **type + "'").message());
    }
    bool has_index = false;
    auto count = count_of(t, where, &has_index);
    if (!count)
      return count.error();
    if ((components_ += *count) > max_total)
      return checks_.at(t.source(), where,
                fmt::format("the file expands to more than {} components", max_total));
    const toml::table* params = nullptr;
    if (auto* p = t.get("params")) {
      params = p->as_table();
      if (!params)
        return checks_.at(p->source(), where + ".params", std::string("must be a table, not ") + toml_checks::type_name(*p));
      for (auto&& [k, v] : *params)
        if (!v.is_string() && !v.is_integer() && !v.is_floating_point() && !v.is_boolean())
          return checks_.at(k.source(), where + ".params." + std::string(k.str()),
                    std::string("must be a string, integer, float or boolean, not ") + toml_checks::type_name(v));
    }
    for (int64_t i = 0; i < *count; ++i) {
      instance_def inst;
      AMBER_RETURN_IF_ERROR(expand(*t.get("name"), where + ".name", **name, i, has_index, &inst.name));
      if (inst.name.empty())
        return checks_.at(t.get("name")->source(), where + ".name", "must not be empty");
      inst.type_name = **type;
      if (params) {
        for (auto&& [k, v] : *params) {
          std::string key = where + ".params." + std::string(k.str());
          std::string value;
          if (auto* s = v.as_string())
            AMBER_RETURN_IF_ERROR(expand(v, key, s->get(), i, has_index, &value));
          else if (auto* n = v.as_integer())
            value = std::to_string(n->get());
          else if (auto* f = v.as_floating_point())
            value = fmt::format("{}", f->get());
          else if (auto* b = v.as_boolean())
            value = b->get() ? "true" : "false";
          inst.params[std::string(k.str())] = std::move(value);
        }
      }
      auto [it, fresh] = names_.emplace(inst.name, origin{t.source(), where});
      if (!fresh)
        return checks_.at(t.get("name")->source(), where + ".name",
                  fmt::format("component name '{}' is taken (by {}, line {})", inst.name,
                              it->second.key, it->second.where.begin.line));
      g->instances.push_back(std::move(inst));
    }
    return status::ok();
  }

  status load_wire(const toml::table& t, const std::string& where, graph_def* g) {
    AMBER_RETURN_IF_ERROR(checks_.check_keys(t, where, {"from", "port", "to", "count"}));
    std::optional<std::string> fields[3];
    const char* keys[3] = {"from", "port", "to"};
    for (int k = 0; k < 3; ++k) {
      auto v = get_string(t, keys[k], where, true, t.source());
      if (!v)
        return v.error();
      fields[k] = **v;
    }
    bool has_index = false;
    auto count = count_of(t, where, &has_index);
    if (!count)
      return count.error();
    if ((wires_ += *count) > max_total)
      return checks_.at(t.source(), where, fmt::format("the file expands to more than {} wires", max_total));
    for (int64_t i = 0; i < *count; ++i) {
      edge_def e;
      std::string* outs[3] = {&e.from, &e.port, &e.to};
      for (int k = 0; k < 3; ++k)
        AMBER_RETURN_IF_ERROR(expand(*t.get(keys[k]), where + "." + keys[k], *fields[k], i,
                                     has_index, outs[k]));
      if (e.port.empty())
        return checks_.at(t.get("port")->source(), where + ".port", "must not be empty");
      g->edges.push_back(std::move(e));
      wire_origins_.push_back(
        {t.get("from")->source(), t.get("to")->source(), where, has_index ? i : -1});
    }
    return status::ok();
  }

  // Every wire joins two components of this file.
  status check_wires(const graph_file& f) const {
    size_t k = 0;
    for (auto& g : f.graphs) {
      for (auto& e : g.edges) {
        auto& o = wire_origins_[k++];
        for (int side = 0; side < 2; ++side) {
          const std::string& end = side == 0 ? e.from : e.to;
          if (names_.count(end) > 0)
            continue;
          std::string index = o.index >= 0 ? fmt::format(" (i = {})", o.index) : "";
          std::string_view member, component;
          if (side == 1 && remote_ && split_remote(end, &member, &component)) {
            if (remote_->count(std::string(member)) > 0 && !component.empty()
                && component.find('/') == std::string_view::npos)
              continue;
            std::string list;
            for (auto& m : *remote_)
              list += (list.empty() ? "" : ", ") + m;
            return checks_.at(o.to_at, o.key + ".to",
                      "'" + end + "'" + index + " names no other member of the cluster (others: "
                        + (list.empty() ? "none" : list) + ") or no component");
          }
          return checks_.at(side == 0 ? o.from_at : o.to_at, o.key + (side == 0 ? ".from" : ".to"),
                    "'" + end + "'" + index + " names no component of this file");
        }
      }
    }
    return status::ok();
  }

  struct wire_origin {
    toml::source_region from_at;
    toml::source_region to_at;
    std::string key;
    int64_t index;
  };

  std::string path_;
  toml_checks checks_{path_};
  const std::set<std::string>& known_;
  const std::set<std::string>* remote_; ///< Other members of the cluster, or null.
  int64_t components_ = 0; ///< Expanded so far, against max_total.
  int64_t wires_ = 0;
  std::map<std::string, origin> names_;
  std::vector<wire_origin> wire_origins_;
};

} // namespace

bool split_remote(std::string_view end, std::string_view* member, std::string_view* component) {
  auto slash = end.find('/');
  if (slash == std::string_view::npos)
    return false;
  *member = end.substr(0, slash);
  *component = end.substr(slash + 1);
  return true;
}

result<graph_file> parse_graph_file(std::string_view text, const std::string& path,
                                    const std::set<std::string>& known_types,
                                    const std::set<std::string>* remote_members) {
  loader l(path, known_types, remote_members);
  return l.load(text);
}

result<graph_file> load_graph_file(const std::string& path,
                                   const std::set<std::string>& known_types,
                                   const std::set<std::string>* remote_members) {
  auto text = read_bounded_file(path, max_graph_file_bytes, "graph file");
  if (!text)
    return text.error();
  return parse_graph_file(*text, path, known_types, remote_members);
}

} // namespace amber::cli
