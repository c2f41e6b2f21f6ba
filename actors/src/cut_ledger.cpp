#include "cut_ledger.hpp"

#include <algorithm>

namespace amber {

void cut_ledger::start(const std::vector<entry_ptr>& members,
                       const std::unordered_map<uint32_t, uint64_t>& retired_to,
                       const std::unordered_map<uint32_t, uint64_t>& injected) {
  started_ = true;
  members_.reserve(members.size());
  for (auto& e : members)
    admit(e->info->id, e->info);
  auto credit = [this](const std::unordered_map<uint32_t, uint64_t>& counts) {
    for (auto& [receiver, n] : counts)
      if (auto i = members_.find(receiver); i != members_.end())
        adjust(i->second, static_cast<int64_t>(n));
  };
  credit(retired_to);
  credit(injected);
}

cut_ledger::member& cut_ledger::admit(uint32_t id, const component_info_ptr& info) {
  auto [i, added] = members_.try_emplace(id);
  auto& m = i->second;
  if (!added) {
    if (!m.info && info)
      m.info = info;
    return m;
  }
  m.info = info;
  ++outstanding_;
  // Messages sent to it before we knew it was a member.
  if (auto u = unknown_sent_.find(id); u != unknown_sent_.end()) {
    adjust(m, u->second);
    unknown_sent_.erase(u);
  }
  return m;
}

void cut_ledger::adjust(member& m, int64_t delta) {
  m.deficit += delta;
  if (!m.dropped)
    missing_ += delta;
}

void cut_ledger::add_sent(const sent_counts& sent) {
  for (auto& [receiver, n] : sent) {
    if (auto i = members_.find(receiver); i != members_.end())
      adjust(i->second, static_cast<int64_t>(n));
    else
      unknown_sent_[receiver] += static_cast<int64_t>(n);
  }
}

bool cut_ledger::on_report(uint32_t id, const component_info_ptr& info, const sent_counts& sent,
                           uint64_t received, const std::vector<component_info_ptr>& joiners) {
  auto& m = admit(id, info);
  if (m.reported || m.dropped)
    return false;
  m.reported = true;
  --outstanding_;
  ++reported_count_;
  adjust(m, -static_cast<int64_t>(received));
  for (auto& j : joiners)
    admit(j->id, j);
  add_sent(sent);
  return true;
}

bool cut_ledger::on_exit(uint32_t id, const sent_counts& sent,
                         const std::vector<component_info_ptr>& joiners) {
  auto i = members_.find(id);
  if (i != members_.end() && (i->second.reported || i->second.dropped))
    return false;
  if (i != members_.end()) {
    auto& m = i->second;
    missing_ -= m.deficit;
    m.dropped = true;
    --outstanding_;
  } else {
    // Not known yet (a joiner that died at birth): remember it as gone, so
    // that its parent's announcement does not make the cut wait for it.
    auto& m = members_[id];
    m.dropped = true;
    unknown_sent_.erase(id);
  }
  for (auto& j : joiners)
    admit(j->id, j);
  add_sent(sent);
  return true;
}

bool cut_ledger::on_flight(uint32_t receiver) {
  auto i = members_.find(receiver);
  if (i == members_.end() || !i->second.reported)
    return false;
  adjust(i->second, -1);
  return true;
}

std::string cut_ledger::stalled(size_t max) const {
  std::vector<std::pair<uint32_t, const member*>> sorted;
  for (auto& [id, m] : members_)
    sorted.emplace_back(id, &m);
  std::sort(sorted.begin(), sorted.end());
  auto name = [](uint32_t id, const member& m) {
    return m.info ? "'" + m.info->name + "'" : "instance " + std::to_string(id);
  };
  std::string not_cut, waiting;
  size_t n_not_cut = 0, n_waiting = 0;
  for (auto& [id, m] : sorted) {
    if (m->dropped)
      continue;
    if (!m->reported) {
      if (n_not_cut++ < max)
        not_cut += (not_cut.empty() ? "" : ", ") + name(id, *m);
    } else if (m->deficit > 0) {
      if (n_waiting++ < max)
        waiting += (waiting.empty() ? "" : ", ") + name(id, *m) + " ("
                   + std::to_string(m->deficit) + " message" + (m->deficit == 1 ? "" : "s")
                   + ")";
    }
  }
  auto more = [max](size_t n) {
    return n > max ? " and " + std::to_string(n - max) + " more" : std::string();
  };
  std::string out;
  if (n_not_cut > 0)
    out = std::to_string(n_not_cut) + " component(s) never cut (busy in a handler, or "
          "blocked): " + not_cut + more(n_not_cut);
  if (n_waiting > 0)
    out += (out.empty() ? "" : "; ") + std::to_string(n_waiting)
           + " component(s) still waiting for messages sent before the cut: " + waiting
           + more(n_waiting);
  return out;
}

bool cut_ledger::reported(uint32_t id) const {
  auto i = members_.find(id);
  return i != members_.end() && i->second.reported;
}

std::vector<component_info_ptr> cut_ledger::members() const {
  std::vector<component_info_ptr> out;
  out.reserve(reported_count_);
  for (auto& kv : members_)
    if (kv.second.reported)
      out.push_back(kv.second.info);
  std::sort(out.begin(), out.end(),
            [](const component_info_ptr& a, const component_info_ptr& b) { return a->id < b->id; });
  return out;
}

} // namespace amber
