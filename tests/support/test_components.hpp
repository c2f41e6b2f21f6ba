#pragma once

// Component types for the runtime and actors suites: three types with
// strings, maps and vectors in their state, plus a look-alike of one of them
// from another package version.

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <caf/atom.hpp>
#include <caf/event_based_actor.hpp>

#include <caf/message_handler.hpp>

#include "amber/runtime/component.hpp"
#include "amber/runtime/registry.hpp"

namespace test {

using note_atom = caf::atom_constant<caf::atom("note")>;
using add_atom = caf::atom_constant<caf::atom("add")>;
using forward_atom = caf::atom_constant<caf::atom("forward")>;
using spin_atom = caf::atom_constant<caf::atom("spin")>;
using get_atom = caf::atom_constant<caf::atom("get")>;
using sleep_atom = caf::atom_constant<caf::atom("sleep")>;

struct profile_state {
  std::string name;
  std::vector<std::string> tags;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& name& tags;
  }
};

/// Keeps a name and a list of tags; `note(text)` appends a tag.
class profile : public amber::component<profile_state> {
public:
  static constexpr const char* type_name = "test.profile";
  static amber::package_ref package() { return {"testpkg", "1.0.0"}; }
  using component::component;
  caf::behavior make_behavior() override {
    if (!restored()) {
      state().name = param("name", instance_name());
      state().tags.assign(static_cast<size_t>(std::stoi(param("tags", "0"))), "t");
    }
    return {
      [this](note_atom, const std::string& text) { state().tags.push_back(text); },
      [this](get_atom) { return static_cast<int64_t>(state().tags.size()); },
    };
  }
};

struct ledger_state {
  std::map<std::string, int64_t> entries;
  std::vector<int64_t> history;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& entries& history;
  }
};

/// A map of sums; `add(key, n)` adds and records, `forward(to, key, n)`
/// passes an add on to another component through the runtime.
class ledger : public amber::component<ledger_state> {
public:
  static constexpr const char* type_name = "test.ledger";
  static amber::package_ref package() { return {"testpkg", "1.0.0"}; }
  using component::component;
  caf::behavior make_behavior() override {
    if (!restored()) {
      auto n = std::stoi(param("entries", "0"));
      for (int i = 0; i < n; ++i)
        state().entries["k" + std::to_string(i)] = i * 7;
    }
    return {
      [this](add_atom, const std::string& key, int64_t n) {
        state().entries[key] += n;
        state().history.push_back(n);
      },
      [this](forward_atom, const std::string& to, const std::string& key, int64_t n) {
        send_to(to, add_atom::value, key, n);
      },
      [this](get_atom, const std::string& key) -> int64_t {
        auto i = state().entries.find(key);
        return i == state().entries.end() ? -1 : i->second;
      },
    };
  }
};

struct counter_state {
  int64_t count = 0;
  std::string label;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& count& label;
  }
};

/// A counter; `spin(n)` sends itself n messages, one at a time, so that a
/// message is in flight until it is done.
class counter : public amber::component<counter_state> {
public:
  static constexpr const char* type_name = "test.counter";
  static amber::package_ref package() { return {"testpkg", "1.0.0"}; }
  using component::component;
  caf::behavior make_behavior() override {
    if (!restored()) {
      state().label = param("label", "none");
      state().count = std::stoll(param("start", "0"));
    }
    return {
      [this](spin_atom, int64_t n) {
        ++state().count;
        if (n > 0)
          send_to(instance_id(), spin_atom::value, n - 1);
      },
      [this](get_atom) { return state().count; },
      [](sleep_atom, int64_t ms) {
        // Busy on purpose: whatever arrives meanwhile waits in the mailbox.
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      },
    };
  }
};

using arm_atom = caf::atom_constant<caf::atom("arm")>;

/// A counter that, once armed, crashes while it serializes its state: it
/// dies in the middle of a cut, having sent nothing for it.
class fragile : public counter {
public:
  static constexpr const char* type_name = "test.fragile";
  using counter::counter;
  caf::behavior make_behavior() override {
    caf::message_handler arm{[this](arm_atom) { armed_ = true; }};
    return arm.or_else(counter::make_behavior());
  }
  std::string save_state() const override {
    if (armed_)
      throw std::runtime_error("test.fragile crashed while serializing");
    return counter::save_state();
  }

private:
  bool armed_ = false;
};

/// test.counter as package version 2.0.0 ships it.
class counter_v2 : public counter {
public:
  static amber::package_ref package() { return {"testpkg", "2.0.0"}; }
  using counter::counter;
};

inline std::shared_ptr<amber::registry> make_registry(bool with_ledger = true,
                                                      bool counter_version_2 = false) {
  auto reg = std::make_shared<amber::registry>();
  reg->add<profile>();
  if (with_ledger)
    reg->add<ledger>();
  if (counter_version_2)
    reg->add<counter_v2>();
  else
    reg->add<counter>();
  return reg;
}

} // namespace test
