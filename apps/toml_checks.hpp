#pragma once

// @private What graph files and cluster files share: errors that name the
// file, line, column and key ("bank.toml:12:1: graph[0].component[1].type:
// ..."), dotted key paths, and refusing keys a table does not know.

#include <initializer_list>
#include <string>
#include <string_view>

#include <fmt/core.h>
#include <toml++/toml.h>

#include "amber/storage/status.hpp"

namespace amber::cli {

class toml_checks {
public:
  explicit toml_checks(std::string path) : path_(std::move(path)) {}

  const std::string& path() const { return path_; }

  /// invalid_argument "PATH:LINE:COL: KEY: WHAT".
  status at(const toml::source_region& where, const std::string& key,
            const std::string& what) const {
    return status::invalid_argument(fmt::format("{}:{}:{}: {}: {}", path_, where.begin.line,
                                                where.begin.column, key, what));
  }

  static std::string join(const std::string& prefix, std::string_view key) {
    return prefix.empty() ? std::string(key) : prefix + "." + std::string(key);
  }

  /// Parses `text`; a syntax error names the file, line and column.
  result<toml::table> parse(std::string_view text) const {
    try {
      return toml::parse(text, path_);
    } catch (const toml::parse_error& e) {
      return status::invalid_argument(fmt::format("{}:{}:{}: TOML syntax error: {}", path_,
                                                  e.source().begin.line, e.source().begin.column,
                                                  e.description()));
    }
  }

  /// An error naming the first key of `t` not in `allowed`.
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

  /// "a table", "an integer", ...: for messages.
  static const char* type_name(const toml::node& n) {
    switch (n.type()) {
      case toml::node_type::table: return "a table";
      case toml::node_type::array: return "an array";
      case toml::node_type::string: return "a string";
      case toml::node_type::integer: return "an integer";
      case toml::node_type::floating_point: return "a float";
      case toml::node_type::boolean: return "a boolean";
      case toml::node_type::date: return "a date";
      case toml::node_type::time: return "a time";
      case toml::node_type::date_time: return "a date-time";
      default: return "nothing";
    }
  }

private:
  std::string path_;
};

/// Reads a whole regular file of at most `max_bytes` — not a FIFO (a read
/// would block for ever) nor a device such as /dev/zero (it would never
/// end), and bounded before a byte is read. `what` names it in messages
/// ("graph file"). @return its text; not_found; invalid_argument; io_error.
result<std::string> read_bounded_file(const std::string& path, uint64_t max_bytes,
                                      const std::string& what);

} // namespace amber::cli
