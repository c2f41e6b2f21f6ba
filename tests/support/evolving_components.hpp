#pragma once

// Two binaries in one process: the same component type name, "evolve.kv",
// as version 1 and version 2 of a service ship it. Version 2 adds a field to
// the state (state version 2) and registers the migration from version 1;
// each registry made here stands for one binary.

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include <boost/serialization/map.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/version.hpp>

#include "amber/runtime/component.hpp"
#include "amber/runtime/registry.hpp"

namespace evolve {

using put_atom = caf::atom_constant<caf::atom("put")>;

namespace v1 {

struct kv_state {
  std::map<std::string, int64_t> entries;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& entries;
  }
};

/// Version 1: a map; param "keys" fills k0..kN-1 with 0, 10, 20, ...
class kv : public amber::component<kv_state> {
public:
  static constexpr const char* type_name = "evolve.kv";
  static amber::package_ref package() { return {"evolve", "1.0.0"}; }
  using component::component;
  caf::behavior make_behavior() override {
    if (!restored())
      for (int i = 0; i < std::stoi(param("keys", "0")); ++i)
        state().entries["k" + std::to_string(i)] = 10 * i;
    return {[this](put_atom, const std::string& k, int64_t v) { state().entries[k] = v; }};
  }
};

} // namespace v1

namespace v2 {

struct kv_state {
  std::map<std::string, int64_t> entries;
  int64_t total = 0; ///< New in state version 2: the sum of the entries.
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& entries& total;
  }
};

/// Version 2: keeps a running total of the entries.
class kv : public amber::component<kv_state> {
public:
  static constexpr const char* type_name = "evolve.kv";
  static constexpr uint32_t state_version = 2;
  static amber::package_ref package() { return {"evolve", "1.1.0"}; }
  using component::component;
  caf::behavior make_behavior() override {
    if (!restored())
      for (int i = 0; i < std::stoi(param("keys", "0")); ++i)
        put("k" + std::to_string(i), 10 * i);
    return {[this](put_atom, const std::string& k, int64_t v) { put(k, v); }};
  }

private:
  void put(const std::string& k, int64_t v) {
    auto& old = state().entries[k];
    state().total += v - old;
    old = v;
  }
};

/// The upgrade a version 2 binary registers.
inline kv_state from_v1(v1::kv_state old) {
  kv_state s;
  for (auto& [k, v] : old.entries)
    s.total += v;
  s.entries = std::move(old.entries);
  return s;
}

} // namespace v2

/// v1::kv with another package version and the same state: a release that
/// did not change the type.
template <const char* Version>
class kv_release : public v1::kv {
public:
  static amber::package_ref package() { return {"evolve", Version}; }
  using v1::kv::kv;
};

inline constexpr char minor_bump[] = "1.1.0";
inline constexpr char patch_bump[] = "1.0.7";
inline constexpr char major_bump[] = "2.0.0";

/// The graph the tests snapshot: kv0 (3 keys) and kv1 (5 keys).
inline amber::graph_def kv_graph() {
  return {"g",
          {{"kv0", "evolve.kv", {{"keys", "3"}}}, {"kv1", "evolve.kv", {{"keys", "5"}}}},
          {}};
}

/// The binary of version 1.
inline std::shared_ptr<amber::registry> binary_v1() {
  auto reg = std::make_shared<amber::registry>();
  reg->add<v1::kv>();
  return reg;
}

/// The binary of version 2; without the migration when `migrate` is false.
inline std::shared_ptr<amber::registry> binary_v2(bool migrate = true) {
  auto reg = std::make_shared<amber::registry>();
  reg->add<v2::kv>();
  if (migrate)
    reg->add_migration<v2::kv>(1, v2::from_v1);
  return reg;
}

/// A binary whose `evolve.kv` is v1's, released as `Version`.
template <const char* Version>
std::shared_ptr<amber::registry> binary_release() {
  auto reg = std::make_shared<amber::registry>();
  reg->add<kv_release<Version>>();
  return reg;
}

} // namespace evolve

// Version 2's struct also carries a Boost class version, so the tests see
// the capture record it.
BOOST_CLASS_VERSION(evolve::v2::kv_state, 1)
