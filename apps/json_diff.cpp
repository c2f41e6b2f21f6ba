#include "amber/cli/json_diff.hpp"

#include <algorithm>
#include <cctype>
#include <map>

namespace amber::cli {

using json = nlohmann::json;

namespace {

bool is_identifier(const std::string& key) {
  if (key.empty() || !(std::isalpha(static_cast<unsigned char>(key[0])) || key[0] == '_'))
    return false;
  for (char c : key)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_'))
      return false;
  return true;
}

std::string member_path(const std::string& parent, const std::string& key) {
  if (is_identifier(key))
    return parent.empty() ? key : parent + "." + key;
  return parent + "[" + compact(json(key), SIZE_MAX) + "]";
}

std::string element_path(const std::string& parent, size_t i) {
  return parent + "[" + std::to_string(i) + "]";
}

class differ {
public:
  explicit differ(json_diff& out) : out_(out) {}

  void compare(const std::string& path, const json& a, const json& b) {
    if (a.is_object() && b.is_object())
      objects(path, a, b);
    else if (a.is_array() && b.is_array())
      arrays(path, a, b);
  }

private:
  // Records the member at `path` of container `delta` as added, removed or
  // changed; descends into it when both sides are containers of one kind.
  void member(json_container_delta& delta, const std::string& path, const json* a,
              const json* b) {
    if (!a) {
      ++delta.added;
      out_.changes.push_back({json_change::kind::added, path, delta.path, nullptr, *b});
    } else if (!b) {
      ++delta.removed;
      out_.changes.push_back({json_change::kind::removed, path, delta.path, *a, nullptr});
    } else if (*a != *b) {
      ++delta.changed;
      bool same_kind = (a->is_object() && b->is_object()) || (a->is_array() && b->is_array());
      if (same_kind)
        compare(path, *a, *b);
      else
        out_.changes.push_back({json_change::kind::changed, path, delta.path, *a, *b});
    }
  }

  // The container's delta is recorded before its members' (document order)
  // and dropped again when no member differs.
  template <class Walk>
  void container(const std::string& path, bool array, Walk walk) {
    size_t index = out_.containers.size();
    out_.containers.push_back({path, array, 0, 0, 0});
    json_container_delta delta = out_.containers[index];
    walk(delta);
    if (delta.added + delta.removed + delta.changed == 0)
      out_.containers.erase(out_.containers.begin() + static_cast<std::ptrdiff_t>(index));
    else
      out_.containers[index] = delta;
  }

  void objects(const std::string& path, const json& a, const json& b) {
    container(path, false, [&](json_container_delta& delta) {
      // nlohmann's objects are std::maps: walk both in key order.
      auto i = a.begin(), j = b.begin();
      while (i != a.end() || j != b.end()) {
        if (j == b.end() || (i != a.end() && i.key() < j.key())) {
          member(delta, member_path(path, i.key()), &i.value(), nullptr);
          ++i;
        } else if (i == a.end() || j.key() < i.key()) {
          member(delta, member_path(path, j.key()), nullptr, &j.value());
          ++j;
        } else {
          member(delta, member_path(path, i.key()), &i.value(), &j.value());
          ++i;
          ++j;
        }
      }
    });
  }

  void arrays(const std::string& path, const json& a, const json& b) {
    container(path, true, [&](json_container_delta& delta) {
      size_t n = std::max(a.size(), b.size());
      for (size_t k = 0; k < n; ++k)
        member(delta, element_path(path, k), k < a.size() ? &a[k] : nullptr,
               k < b.size() ? &b[k] : nullptr);
    });
  }

  json_diff& out_;
};

std::string counted(uint64_t n, const char* sign, bool array) {
  return sign + std::to_string(n) + (array ? " element" : " key") + (n == 1 ? "" : "s");
}

std::string summary(const json_container_delta& c) {
  std::string text;
  auto add = [&](const std::string& part) { text += (text.empty() ? "" : ", ") + part; };
  if (c.added)
    add(counted(c.added, "+", c.array));
  if (c.removed)
    add(counted(c.removed, "-", c.array));
  if (c.changed)
    add(std::to_string(c.changed) + " changed");
  return c.path.empty() ? text : c.path + ": " + text;
}

const char* op_name(json_change::kind k) {
  switch (k) {
    case json_change::kind::added: return "added";
    case json_change::kind::removed: return "removed";
    default: return "changed";
  }
}

} // namespace

json_diff diff_json(const json& before, const json& after) {
  json_diff out;
  if (before == after)
    return out;
  bool same_kind = (before.is_object() && after.is_object())
                   || (before.is_array() && after.is_array());
  if (same_kind)
    differ(out).compare("", before, after);
  else
    out.changes.push_back({json_change::kind::changed, "", "", before, after});
  return out;
}

std::string compact(const json& value, size_t max_chars) {
  auto text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > max_chars && max_chars >= 3)
    text = text.substr(0, max_chars - 3) + "...";
  return text;
}

std::vector<std::string> describe(const json_diff& d, size_t max_per_container) {
  std::vector<std::string> lines;
  std::map<std::string, uint64_t> listed; // changes listed per container
  std::map<std::string, uint64_t> total;  // innermost changes per container
  for (auto& c : d.changes)
    ++total[c.container];
  for (auto& c : d.containers)
    if (c.added || c.removed || total[c.path] > max_per_container)
      lines.push_back(summary(c));
  for (auto& c : d.changes) {
    if (listed[c.container]++ >= max_per_container)
      continue;
    auto path = c.path.empty() ? std::string("(state)") : c.path;
    switch (c.what) {
      case json_change::kind::added:
        lines.push_back("+ " + path + " " + compact(c.after));
        break;
      case json_change::kind::removed:
        lines.push_back("- " + path + " " + compact(c.before));
        break;
      case json_change::kind::changed:
        lines.push_back(path + " " + compact(c.before, 40) + " -> " + compact(c.after, 40));
        break;
    }
  }
  for (auto& [container, n] : total)
    if (n > max_per_container)
      lines.push_back("... " + std::to_string(n - max_per_container) + " more in "
                      + (container.empty() ? std::string("(state)") : container));
  return lines;
}

json to_json(const json_diff& d) {
  json containers = json::array();
  for (auto& c : d.containers)
    containers.push_back({{"path", c.path}, {"array", c.array}, {"added", c.added},
                          {"removed", c.removed}, {"changed", c.changed}});
  json changes = json::array();
  for (auto& c : d.changes)
    changes.push_back({{"op", op_name(c.what)}, {"path", c.path}, {"before", c.before},
                       {"after", c.after}});
  return {{"containers", containers}, {"changes", changes}};
}

} // namespace amber::cli
