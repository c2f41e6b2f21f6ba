#include "amber/runtime/node_core.hpp"

#include <algorithm>
#include <mutex>

#include <caf/send.hpp>

#include "amber/runtime/atoms.hpp"
#include "amber/runtime/cut_report.hpp"

namespace amber {

bool node_core::add(const entry_ptr& e) {
  std::unique_lock<std::shared_mutex> guard(mutex_);
  auto& info = *e->info;
  if (by_id_.count(info.id) > 0 || by_name_.count(info.name) > 0)
    return false;
  by_id_.emplace(info.id, e);
  note_issued(info.id);
  by_name_.emplace(info.name, info.id);
  return true;
}

uint64_t node_core::remove(uint32_t id, const sent_counts& sent) {
  std::unique_lock<std::shared_mutex> guard(mutex_);
  auto i = by_id_.find(id);
  if (i == by_id_.end())
    return removals_;
  auto& e = *i->second;
  e.alive.store(false, std::memory_order_release);
  retired_totals_.sent += e.counters.sent.load(std::memory_order_relaxed);
  retired_totals_.received += e.counters.received.load(std::memory_order_relaxed);
  retired_totals_.handled += e.counters.handled.load(std::memory_order_relaxed);
  for (auto& [receiver, n] : sent)
    if (by_id_.count(receiver) > 0)
      retired_to_[receiver] += n;
  // Nothing will be expected of this receiver any more.
  retired_to_.erase(id);
  injected_.erase(id);
  by_name_.erase(e.info->name);
  by_id_.erase(i);
  return ++removals_;
}

void node_core::clear() {
  std::unique_lock<std::shared_mutex> guard(mutex_);
  for (auto& kv : by_id_)
    kv.second->alive.store(false, std::memory_order_release);
  by_id_.clear();
  by_name_.clear();
  // Pseudo entries hold the links: let the actors go.
  remote_by_name_.clear();
  remote_by_id_.clear();
  links_.clear();
  retired_to_.clear();
  injected_.clear();
}

entry_ptr node_core::find(std::string_view name) const {
  if (clustered()) {
    if (auto slash = name.find('/'); slash != std::string_view::npos) {
      auto member = name.substr(0, slash);
      if (member == member_)
        return find(name.substr(slash + 1));
      if (links_.count(std::string(member)) > 0)
        return find_remote(name);
    }
  }
  std::shared_lock<std::shared_mutex> guard(mutex_);
  auto i = by_name_.find(std::string(name));
  if (i == by_name_.end())
    return nullptr;
  return by_id_.at(i->second);
}

entry_ptr node_core::find(uint32_t id) const {
  std::shared_lock<std::shared_mutex> guard(mutex_);
  if (id >= remote_id_base) {
    auto r = remote_by_id_.find(id);
    return r == remote_by_id_.end() ? nullptr : r->second;
  }
  auto i = by_id_.find(id);
  return i == by_id_.end() ? nullptr : i->second;
}

std::vector<entry_ptr> node_core::entries() const {
  std::vector<entry_ptr> out;
  {
    std::shared_lock<std::shared_mutex> guard(mutex_);
    out.reserve(by_id_.size());
    for (auto& kv : by_id_)
      out.push_back(kv.second);
  }
  std::sort(out.begin(), out.end(),
            [](const entry_ptr& a, const entry_ptr& b) { return a->info->id < b->info->id; });
  return out;
}

size_t node_core::size() const {
  std::shared_lock<std::shared_mutex> guard(mutex_);
  return by_id_.size();
}

void node_core::wire(const std::string& from, const std::string& port, const std::string& to) {
  std::unique_lock<std::shared_mutex> guard(mutex_);
  wires_.emplace(std::make_pair(from, port), to);
  wiring_version_.fetch_add(1, std::memory_order_acq_rel);
}

std::vector<std::string> node_core::targets(const std::string& from,
                                            const std::string& port) const {
  std::shared_lock<std::shared_mutex> guard(mutex_);
  std::vector<std::string> out;
  auto range = wires_.equal_range(std::make_pair(from, port));
  for (auto i = range.first; i != range.second; ++i)
    out.push_back(i->second);
  return out;
}

void node_core::set_sinks(cut_sinks sinks) {
  // Bump first: a component that sees the new sinks must also see the new
  // generation, or it could report "unchanged" to a cache that never saw it.
  bump_generation();
  std::unique_lock<std::shared_mutex> guard(mutex_);
  sinks_ = std::move(sinks);
}

cut_sinks node_core::sinks() const {
  std::shared_lock<std::shared_mutex> guard(mutex_);
  return sinks_;
}

cut_start node_core::begin_cut() {
  return begin_cut(0);
}

cut_start node_core::begin_cut(uint64_t epoch) {
  cut_start out;
  std::unique_lock<std::shared_mutex> cut_guard(cut_mutex_);
  auto current = current_epoch_.load(std::memory_order_acquire);
  out.epoch = epoch == 0 ? current + 1 : std::max(epoch, current + 1);
  current_epoch_.store(out.epoch, std::memory_order_release);
  {
    std::shared_lock<std::shared_mutex> guard(mutex_);
    out.members.reserve(by_id_.size());
    for (auto& kv : by_id_)
      out.members.push_back(kv.second);
    out.graphs = graphs_;
    out.retired_to = retired_to_;
    out.injected = injected_;
    out.removal_seq = removals_;
  }
  std::sort(out.members.begin(), out.members.end(),
            [](const entry_ptr& a, const entry_ptr& b) { return a->info->id < b->info->id; });
  return out;
}

void node_core::add_graph(const graph_def& g) {
  std::unique_lock<std::shared_mutex> guard(mutex_);
  graphs_.push_back(g);
}

std::vector<graph_def> node_core::graphs() const {
  std::shared_lock<std::shared_mutex> guard(mutex_);
  return graphs_;
}

bool node_core::has_graph(const std::string& name) const {
  std::shared_lock<std::shared_mutex> guard(mutex_);
  for (auto& g : graphs_)
    if (g.name == name)
      return true;
  return false;
}

void node_core::note_issued(uint32_t id) {
  auto current = max_issued_.load(std::memory_order_relaxed);
  while (id > current
         && !max_issued_.compare_exchange_weak(current, id, std::memory_order_acq_rel)) {
  }
}

void node_core::spoil(uint64_t epoch) {
  auto current = spoiled_.load(std::memory_order_relaxed);
  while (epoch > current
         && !spoiled_.compare_exchange_weak(current, epoch, std::memory_order_acq_rel)) {
  }
}

void node_core::add_injected(uint32_t receiver, uint64_t n) {
  std::unique_lock<std::shared_mutex> guard(mutex_);
  injected_[receiver] += n;
  injected_total_ += n;
}

result<entry_ptr> node_core::spawn(spawn_request req) const {
  if (!spawner_)
    return status(errc::aborted, "the node is not running");
  return spawner_(std::move(req));
}

void node_core::on_lost(const stamp& st, caf::message payload) {
  lost_.fetch_add(1, std::memory_order_relaxed);
  auto trace = sinks().trace;
  if (!trace)
    return;
  auto f = std::make_shared<flight_report>();
  f->epoch = current_epoch();
  f->receiver = st.receiver;
  f->st = st;
  f->payload = std::move(payload);
  caf::anon_send(trace, lost_atom::value, flight_report_ptr{std::move(f)});
}

node_core::totals node_core::sum_counters() const {
  totals out;
  std::shared_lock<std::shared_mutex> guard(mutex_);
  out = retired_totals_;
  out.sent += injected_total_;
  out.injected = injected_total_;
  for (auto& kv : by_id_) {
    auto& c = kv.second->counters;
    out.sent += c.sent.load(std::memory_order_relaxed);
    out.received += c.received.load(std::memory_order_relaxed);
    out.handled += c.handled.load(std::memory_order_relaxed);
  }
  out.lost = lost_.load(std::memory_order_relaxed);
  // Messages to other members count as received once forwarded; messages
  // from them as sent once delivered (each side balances its own part).
  out.received += forwarded_.load(std::memory_order_relaxed);
  out.sent += delivered_.load(std::memory_order_relaxed);
  return out;
}

// -- cluster ----------------------------------------------------------------------

void node_core::set_cluster(std::string self, std::vector<std::string> members,
                            std::vector<std::pair<std::string, caf::actor>> links) {
  member_ = std::move(self);
  members_ = std::move(members);
  for (auto& [name, link] : links)
    links_.emplace(name, link);
}

uint32_t node_core::sender_id(std::string_view member) const {
  for (size_t i = 0; i < members_.size(); ++i)
    if (members_[i] == member)
      return remote_sender_base + static_cast<uint32_t>(i);
  return 0;
}

std::string node_core::sender_member(uint32_t id) const {
  if (id < remote_sender_base || id - remote_sender_base >= members_.size())
    return {};
  return members_[id - remote_sender_base];
}

entry_ptr node_core::find_remote(std::string_view qualified) const {
  auto member = qualified.substr(0, qualified.find('/'));
  auto link = links_.find(std::string(member));
  if (link == links_.end() || qualified.size() == member.size() + 1)
    return nullptr;
  auto key = std::string(qualified);
  {
    std::shared_lock<std::shared_mutex> guard(mutex_);
    if (auto i = remote_by_name_.find(key); i != remote_by_name_.end())
      return i->second;
  }
  // A remote component is known by name only: whether it exists is its
  // member's business (a message to an unknown one is dropped there).
  std::unique_lock<std::shared_mutex> guard(mutex_);
  auto& slot = remote_by_name_[key];
  if (!slot) {
    auto info = std::make_shared<component_info>();
    info->id = next_remote_id_++;
    info->name = key;
    auto e = std::make_shared<directory_entry>();
    e->info = std::move(info);
    e->handle = link->second;
    e->born_in = 0;
    slot = e;
    remote_by_id_.emplace(e->info->id, e);
  }
  return slot;
}

} // namespace amber
