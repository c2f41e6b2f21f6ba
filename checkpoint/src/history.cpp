#include "amber/checkpoint/history.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <queue>
#include <unordered_map>

namespace amber {

snapshot_summary summarize(const digest& id, const manifest& m) {
  snapshot_summary out;
  out.id = id;
  out.parents = m.parents;
  out.node = m.node.name;
  out.incarnation = m.node.incarnation;
  out.created_at_ms = m.created_at_ms;
  for (auto& l : m.layers) {
    out.bytes += l.bytes;
    out.blobs += l.blobs;
  }
  return out;
}

result<snapshot_history> read_history(store& s) {
  auto ids = s.list_manifests();
  if (!ids)
    return ids.error();
  auto refs = s.list_refs();
  if (!refs)
    return refs.error();
  std::unordered_map<digest, std::vector<std::string>> refs_of;
  for (auto& [name, target] : *refs)
    refs_of[target].push_back(name);
  snapshot_history out;
  std::string bytes;
  for (auto& id : *ids) {
    status st = s.get_manifest(id, &bytes);
    if (!st) {
      out.unreadable.emplace_back(id, st);
      continue;
    }
    if (is_cluster_manifest(bytes)) {
      auto c = decode_cluster_manifest(bytes);
      if (!c)
        out.unreadable.emplace_back(id, c.error().with_context("cluster snapshot " + id.to_hex()));
      else
        out.clusters.push_back({id, std::move(*c)});
      continue;
    }
    auto m = decode_manifest(bytes);
    if (!m) {
      out.unreadable.emplace_back(id, m.error().with_context("snapshot " + id.to_hex()));
      continue;
    }
    auto summary = summarize(id, *m);
    if (auto i = refs_of.find(id); i != refs_of.end())
      summary.refs = i->second; // list_refs is sorted by name
    out.snapshots.push_back(std::move(summary));
  }
  sort_topologically(out.snapshots);
  return out;
}

void sort_topologically(std::vector<snapshot_summary>& snaps) {
  const size_t n = snaps.size();
  std::unordered_map<digest, size_t> index;
  for (size_t i = 0; i < n; ++i)
    index.emplace(snaps[i].id, i);
  // children[i]: how many snapshots in the set name snapshot i as a parent
  // and have not been emitted yet.
  std::vector<size_t> children(n, 0);
  for (auto& s : snaps)
    for (auto& p : s.parents)
      if (auto i = index.find(p); i != index.end())
        ++children[i->second];
  auto newer = [&](size_t a, size_t b) {
    // Priority-queue order: true when `a` should come after `b`.
    if (snaps[a].created_at_ms != snaps[b].created_at_ms)
      return snaps[a].created_at_ms < snaps[b].created_at_ms;
    return snaps[b].id < snaps[a].id;
  };
  std::priority_queue<size_t, std::vector<size_t>, decltype(newer)> ready(newer);
  for (size_t i = 0; i < n; ++i)
    if (children[i] == 0)
      ready.push(i);
  std::vector<size_t> order;
  std::vector<bool> emitted(n, false);
  order.reserve(n);
  while (!ready.empty()) {
    size_t i = ready.top();
    ready.pop();
    order.push_back(i);
    emitted[i] = true;
    for (auto& p : snaps[i].parents)
      if (auto j = index.find(p); j != index.end() && --children[j->second] == 0)
        ready.push(j->second);
  }
  if (order.size() < n) {
    // Only a cycle leaves snapshots behind, which content addressing rules
    // out; keep them anyway, newest first, rather than drop them.
    std::vector<size_t> rest;
    for (size_t i = 0; i < n; ++i)
      if (!emitted[i])
        rest.push_back(i);
    std::sort(rest.begin(), rest.end(), [&](size_t a, size_t b) { return newer(b, a); });
    order.insert(order.end(), rest.begin(), rest.end());
  }
  std::vector<snapshot_summary> sorted;
  sorted.reserve(n);
  for (auto i : order)
    sorted.push_back(std::move(snaps[i]));
  snaps = std::move(sorted);
}

result<std::vector<digest>> find_by_prefix(store& s, std::string_view prefix) {
  if (!is_hex_prefix(prefix))
    return status::invalid_argument("'" + std::string(prefix) + "' is not a hex id prefix");
  std::string lower;
  for (char c : prefix)
    lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto ids = s.list_manifests();
  if (!ids)
    return ids.error();
  std::vector<digest> out;
  for (auto& id : *ids)
    if (id.to_hex().compare(0, lower.size(), lower) == 0)
      out.push_back(id);
  return out;
}

namespace {

// Lane art for one line: columns at even offsets, the gaps between them at
// odd offsets. Trailing blanks are trimmed.
class canvas {
public:
  explicit canvas(size_t columns) : chars_(columns * 2, ' ') {}
  void column(size_t j, char c) { at(2 * j) = c; }
  void gap_after(size_t j, char c) { at(2 * j + 1) = c; }
  std::string text() const {
    auto end = chars_.find_last_not_of(' ');
    return end == std::string::npos ? std::string() : chars_.substr(0, end + 1);
  }

private:
  char& at(size_t i) {
    if (i >= chars_.size())
      chars_.resize(i + 1, ' ');
    return chars_[i];
  }
  std::string chars_;
};

} // namespace

std::vector<graph_line> draw_history(const std::vector<snapshot_summary>& snaps) {
  std::unordered_map<digest, size_t> present;
  for (size_t i = 0; i < snaps.size(); ++i)
    present.emplace(snaps[i].id, i);
  std::vector<graph_line> out;
  std::vector<digest> cols; // What each lane waits for.
  for (size_t k = 0; k < snaps.size(); ++k) {
    auto& c = snaps[k];
    std::vector<size_t> at;
    for (size_t j = 0; j < cols.size(); ++j)
      if (cols[j] == c.id)
        at.push_back(j);
    if (at.empty()) {
      cols.push_back(c.id);
      at.push_back(cols.size() - 1);
    }
    const size_t t = at.front();
    // Join every other lane waiting for c into lane t, rightmost first.
    while (at.size() > 1) {
      size_t r = at.back();
      at.pop_back();
      canvas line(cols.size());
      for (size_t j = 0; j < r; ++j)
        line.column(j, '|');
      for (size_t j = t; j + 1 < r; ++j)
        line.gap_after(j, '_');
      line.gap_after(r - 1, '/');
      for (size_t j = r + 1; j < cols.size(); ++j)
        line.gap_after(j - 1, '/');
      cols.erase(cols.begin() + static_cast<std::ptrdiff_t>(r));
      out.push_back({line.text(), std::nullopt});
    }
    canvas line(cols.size());
    for (size_t j = 0; j < cols.size(); ++j)
      line.column(j, j == t ? '*' : '|');
    out.push_back({line.text(), k});
    std::vector<digest> parents;
    for (auto& p : c.parents)
      if (present.count(p) > 0 && std::find(parents.begin(), parents.end(), p) == parents.end())
        parents.push_back(p);
    if (parents.empty()) {
      cols.erase(cols.begin() + static_cast<std::ptrdiff_t>(t));
      if (t < cols.size()) { // Lanes to the right move over.
        canvas shift(cols.size() + 1);
        for (size_t j = 0; j < t; ++j)
          shift.column(j, '|');
        for (size_t j = t + 1; j <= cols.size(); ++j)
          shift.gap_after(j - 1, '/');
        out.push_back({shift.text(), std::nullopt});
      }
      continue;
    }
    cols[t] = parents.front();
    // Fork a lane for each further parent (a merge), last one first.
    for (size_t m = parents.size(); m-- > 1;) {
      canvas fork(cols.size() + 1);
      for (size_t j = 0; j <= t; ++j)
        fork.column(j, '|');
      fork.gap_after(t, '\\');
      for (size_t j = t + 1; j < cols.size(); ++j)
        fork.gap_after(j, '\\');
      cols.insert(cols.begin() + static_cast<std::ptrdiff_t>(t + 1), parents[m]);
      out.push_back({fork.text(), std::nullopt});
    }
  }
  return out;
}

} // namespace amber
