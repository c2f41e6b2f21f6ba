#include "amber/runtime/node_core.hpp"

#include <algorithm>
#include <mutex>

namespace amber {

bool node_core::add(const component_ref& ref) {
  std::unique_lock<std::shared_mutex> guard(mutex_);
  if (by_id_.count(ref.id) > 0 || by_name_.count(ref.name) > 0)
    return false;
  by_id_[ref.id] = ref;
  by_name_[ref.name] = ref.id;
  return true;
}

void node_core::remove(uint32_t id) {
  std::unique_lock<std::shared_mutex> guard(mutex_);
  auto i = by_id_.find(id);
  if (i == by_id_.end())
    return;
  by_name_.erase(i->second.name);
  by_id_.erase(i);
}

std::optional<component_ref> node_core::find(std::string_view name) const {
  std::shared_lock<std::shared_mutex> guard(mutex_);
  auto i = by_name_.find(std::string(name));
  if (i == by_name_.end())
    return std::nullopt;
  return by_id_.at(i->second);
}

std::optional<component_ref> node_core::find(uint32_t id) const {
  std::shared_lock<std::shared_mutex> guard(mutex_);
  auto i = by_id_.find(id);
  if (i == by_id_.end())
    return std::nullopt;
  return i->second;
}

std::vector<component_ref> node_core::components() const {
  std::vector<component_ref> out;
  {
    std::shared_lock<std::shared_mutex> guard(mutex_);
    out.reserve(by_id_.size());
    for (auto& kv : by_id_)
      out.push_back(kv.second);
  }
  std::sort(out.begin(), out.end(),
            [](const component_ref& a, const component_ref& b) { return a.id < b.id; });
  return out;
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

void node_core::retire(uint32_t id, sent_counts sent) {
  std::unique_lock<std::shared_mutex> guard(mutex_);
  retired_[id] = std::move(sent);
}

std::map<uint32_t, sent_counts> node_core::retired() const {
  std::shared_lock<std::shared_mutex> guard(mutex_);
  return retired_;
}

void node_core::add_injected(uint32_t receiver, uint64_t n) {
  std::unique_lock<std::shared_mutex> guard(mutex_);
  injected_[receiver] += n;
}

std::unordered_map<uint32_t, uint64_t> node_core::injected() const {
  std::shared_lock<std::shared_mutex> guard(mutex_);
  return injected_;
}

} // namespace amber
