#pragma once

// A small key-value service: a loader writes keys through a router to
// shards. Three component types and one message type of its own.

#include <cstdint>
#include <map>
#include <string>

#include <boost/serialization/map.hpp>
#include <boost/serialization/string.hpp>
#include <caf/atom.hpp>
#include <nlohmann/json.hpp>

#include <amber/runtime/component.hpp>
#include <amber/runtime/registry.hpp>

namespace kv {

using tick_atom = caf::atom_constant<caf::atom("kv_tick")>;
using get_atom = caf::atom_constant<caf::atom("kv_get")>;

/// The service's own message type: registered with the registry (so every
/// node and every kv process knows it by one name) and declared by the
/// components that send or receive it.
struct put {
  std::string key;
  std::string value;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, put& x) {
  return f(caf::meta::type_name("kv.put"), x.key, x.value);
}

inline amber::package_ref package() {
  return {"kv", "1.0.0"};
}

struct shard_state {
  std::map<std::string, std::string> data;
  uint64_t puts = 0;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & data & puts;
  }
};

/// Holds the keys routed to it; answers (kv_get, key) with the value.
class shard : public amber::component<shard_state> {
public:
  static constexpr const char* type_name = "kv.shard";
  static amber::package_ref package() { return kv::package(); }
  /// What `kv cat` and `kv diff` show: the keys and the number of puts.
  static nlohmann::json to_json(const shard_state& s) {
    return {{"data", s.data}, {"puts", s.puts}};
  }
  using message_types = amber::message_list<put>;
  using component::component;
  caf::behavior make_behavior() override;
};

struct router_state {
  uint64_t routed = 0;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & routed;
  }
};

/// nlohmann's own way, found by ADL: amber's registry uses it too.
inline void to_json(nlohmann::json& j, const router_state& s) {
  j = {{"routed", s.routed}};
}

/// Sends each put to shard-<hash % shards> (param `shards`).
class router : public amber::component<router_state> {
public:
  static constexpr const char* type_name = "kv.router";
  static amber::package_ref package() { return kv::package(); }
  using message_types = amber::message_list<put>;
  using component::component;
  caf::behavior make_behavior() override;
};

struct loader_state {
  uint64_t rng = 1;
  uint64_t sent = 0;
  uint64_t total = 0;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & rng & sent & total;
  }
};

inline void to_json(nlohmann::json& j, const loader_state& s) {
  j = {{"rng", s.rng}, {"sent", s.sent}, {"total", s.total}};
}

/// Every `interval_ms`, sends `batch` puts of random keys to `router` until
/// `total` were sent; then the service is idle.
class loader : public amber::component<loader_state> {
public:
  static constexpr const char* type_name = "kv.loader";
  static amber::package_ref package() { return kv::package(); }
  using message_types = amber::message_list<put>;
  using component::component;
  caf::behavior make_behavior() override;

private:
  std::chrono::milliseconds interval() const;
};

/// The service's component and message types.
amber::status register_types(amber::registry& reg);

} // namespace kv
