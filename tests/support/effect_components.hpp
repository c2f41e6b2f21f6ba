#pragma once

// Components that issue effects, for the effects suites, the crash child
// and the benchmark.
//
// - fx.source: `feed(i)` from outside -> `line(i)` to "writer".
// - fx.writer: `line(i)` -> one effect per sink named in its parameter
//   "sinks" (comma-separated, default "lines"), payload "<prefix>-<i>"
//   (parameter "prefix", default "line").
// - fx.teller: `run(n)` from outside issues the next n transfers (up to
//   parameter "total"), each a `transfer(id, from, to, amount)` message to
//   "recorder"; `count` answers how many it issued. Deterministic: a
//   restored teller issues the same transfers again.
// - fx.recorder: each transfer becomes one line in sink "file" and one row
//   in sink "pg", payload "transfer <id> <from> <to> <amount>".

#include <cstdint>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <caf/atom.hpp>

#include "amber/runtime/component.hpp"
#include "amber/runtime/registry.hpp"

namespace fx {

using feed_atom = caf::atom_constant<caf::atom("feed")>;
using line_atom = caf::atom_constant<caf::atom("line")>;
using direct_atom = caf::atom_constant<caf::atom("direct")>;
using run_atom = caf::atom_constant<caf::atom("run")>;
using count_atom = caf::atom_constant<caf::atom("count")>;
using transfer_atom = caf::atom_constant<caf::atom("transfer")>;

struct count_state {
  int64_t count = 0;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& count;
  }
};

class source : public amber::component<count_state> {
public:
  static constexpr const char* type_name = "fx.source";
  static amber::package_ref package() { return {"fx", "1.0.0"}; }
  using component::component;
  caf::behavior make_behavior() override {
    return {[this](feed_atom, int64_t i) {
      ++state().count;
      send_to("writer", line_atom::value, i);
    }};
  }
};

inline std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty())
      out.push_back(item);
  return out;
}

class writer : public amber::component<count_state> {
public:
  static constexpr const char* type_name = "fx.writer";
  static amber::package_ref package() { return {"fx", "1.0.0"}; }
  using component::component;
  bool issues_effects() const override { return true; }
  caf::behavior make_behavior() override {
    return {
      [this](line_atom, int64_t i) {
        ++state().count;
        for (auto& sink : split(param("sinks", "lines")))
          (void)effect(sink, param("prefix", "line") + "-" + std::to_string(i));
      },
      // From outside the node, two effects in one handler.
      [this](direct_atom, int64_t i) -> std::string {
        (void)effect("lines", "direct-" + std::to_string(i) + "a");
        (void)effect("lines", "direct-" + std::to_string(i) + "b");
        return effect("nowhere", "x").to_string();
      },
    };
  }
};

struct teller_state {
  uint64_t issued = 0;
  uint64_t rng = 42; ///< splitmix64: a restored teller continues its sequence.
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& issued& rng;
  }
};

class teller : public amber::component<teller_state> {
public:
  static constexpr const char* type_name = "fx.teller";
  static amber::package_ref package() { return {"fx", "1.0.0"}; }
  using component::component;
  caf::behavior make_behavior() override {
    return {
      [this](run_atom, int64_t n) {
        auto total = std::stoull(param("total", "1000"));
        for (int64_t k = 0; k < n && state().issued < total; ++k) {
          auto id = ++state().issued;
          auto r = next();
          auto from = static_cast<int64_t>(r % 100);
          auto to = static_cast<int64_t>((r >> 8) % 100);
          auto amount = static_cast<int64_t>((r >> 16) % 1000) + 1;
          send_to("recorder", transfer_atom::value, static_cast<int64_t>(id), from, to, amount);
        }
      },
      [this](count_atom) { return static_cast<int64_t>(state().issued); },
    };
  }

private:
  uint64_t next() {
    uint64_t z = (state().rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
};

class recorder : public amber::component<count_state> {
public:
  static constexpr const char* type_name = "fx.recorder";
  static amber::package_ref package() { return {"fx", "1.0.0"}; }
  using component::component;
  bool issues_effects() const override { return true; }
  caf::behavior make_behavior() override {
    return {[this](transfer_atom, int64_t id, int64_t from, int64_t to, int64_t amount) {
      ++state().count;
      auto text = "transfer " + std::to_string(id) + " " + std::to_string(from) + " "
                  + std::to_string(to) + " " + std::to_string(amount);
      (void)effect("file", text);
      (void)effect("pg", text);
    }};
  }
};

inline std::shared_ptr<amber::registry> make_types() {
  auto reg = std::make_shared<amber::registry>();
  reg->add<source>();
  reg->add<writer>();
  reg->add<teller>();
  reg->add<recorder>();
  return reg;
}

} // namespace fx
