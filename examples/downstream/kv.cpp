#include "kv.hpp"

#include <functional>

namespace kv {

namespace {

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

} // namespace

caf::behavior shard::make_behavior() {
  return {
    [this](const put& p) {
      state().data[p.key] = p.value;
      ++state().puts;
    },
    [this](get_atom, const std::string& key) -> std::string {
      auto i = state().data.find(key);
      return i == state().data.end() ? std::string() : i->second;
    },
  };
}

caf::behavior router::make_behavior() {
  return {
    [this](const put& p) {
      auto shards = std::stoul(param("shards", "1"));
      auto target = "shard-" + std::to_string(std::hash<std::string>{}(p.key) % shards);
      send_to(target, p);
      ++state().routed;
    },
  };
}

std::chrono::milliseconds loader::interval() const {
  return std::chrono::milliseconds(std::stoll(param("interval_ms", "20")));
}

caf::behavior loader::make_behavior() {
  if (!restored()) { // a restore keeps the state and the pending timer
    state().rng = std::stoull(param("seed", "1"));
    state().total = std::stoull(param("total", "1000"));
    start_timer(interval(), tick_atom::value);
  }
  return {
    [this](tick_atom) {
      auto& s = state();
      auto batch = std::stoull(param("batch", "10"));
      for (uint64_t i = 0; i < batch && s.sent < s.total; ++i, ++s.sent)
        send_to(param("router", "router"),
                put{"key-" + std::to_string(splitmix64(s.rng) % 5000),
                    "value-" + std::to_string(s.sent)});
      if (s.sent < s.total)
        start_timer(interval(), tick_atom::value);
    },
  };
}

amber::status register_types(amber::registry& reg) {
  AMBER_RETURN_IF_ERROR(reg.add_message_type<put>("kv.put"));
  AMBER_RETURN_IF_ERROR(reg.add<shard>());
  AMBER_RETURN_IF_ERROR(reg.add<router>());
  AMBER_RETURN_IF_ERROR(reg.add<loader>());
  return amber::status::ok();
}

} // namespace kv
