#pragma once

// Component types for the cut-protocol and sealed-API suites: each one
// exercises one part of the sealed API (send_to results, stop, requests,
// timers, modes, monitors, children) and keeps what it saw in its state, so
// that a test can compare a live node, a snapshot and a restore.

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/serialization/map.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>
#include <caf/atom.hpp>
#include <doctest/doctest.h>

#include "amber/checkpoint/snapshot.hpp"
#include "amber/runtime/component.hpp"
#include "amber/runtime/message_codec.hpp"
#include "amber/runtime/node.hpp"
#include "amber/runtime/registry.hpp"
#include "support/stepping.hpp"
#include "bank/bank.hpp"
#include "support/test_components.hpp"

namespace proto {

using pay_atom = caf::atom_constant<caf::atom("pay")>;
using take_atom = caf::atom_constant<caf::atom("take")>;
using lend_atom = caf::atom_constant<caf::atom("lend")>;
using borrow_atom = caf::atom_constant<caf::atom("borrow")>;
using kid_atom = caf::atom_constant<caf::atom("kid")>;
using param_atom = caf::atom_constant<caf::atom("param")>;
using quit_atom = caf::atom_constant<caf::atom("quit")>;
using crash_atom = caf::atom_constant<caf::atom("crash")>;
using ping_atom = caf::atom_constant<caf::atom("ping")>;
using to_name_atom = caf::atom_constant<caf::atom("to_name")>;
using to_id_atom = caf::atom_constant<caf::atom("to_id")>;
using burst_atom = caf::atom_constant<caf::atom("burst")>;
using relay_atom = caf::atom_constant<caf::atom("relay")>;
using log_atom = caf::atom_constant<caf::atom("log")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using cancel_atom = caf::atom_constant<caf::atom("cancel")>;
using flip_atom = caf::atom_constant<caf::atom("flip")>;
using watch_atom = caf::atom_constant<caf::atom("watch")>;
using shout_atom = caf::atom_constant<caf::atom("shout")>;

/// Joins a log for comparison in one string.
inline std::string join(const std::vector<std::string>& xs) {
  std::string out;
  for (auto& x : xs)
    out += (out.empty() ? "" : ",") + x;
  return out;
}

struct purse_state {
  int64_t balance = 0;
  int64_t borrowed = 0; ///< Money that came back as responses.
  std::vector<std::string> log;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& balance& borrowed& log;
  }
};

/// Money that moves only in messages: `pay` sends a `take`, a `lend`
/// request is answered with the money as the response, `kid` spawns a child
/// purse and pays it. The total of all purses plus the money in flight
/// (take messages and responses) never changes.
class purse : public amber::component<purse_state> {
public:
  static constexpr const char* type_name = "test.purse";
  static amber::package_ref package() { return {"testpkg", "1.0.0"}; }
  using component::component;

  caf::behavior make_behavior() override {
    if (!restored())
      state().balance = std::stoll(param("balance", "0"));
    return {
      [this](pay_atom, const std::string& to, int64_t n) {
        state().balance -= n;
        send_to(to, take_atom::value, n);
      },
      [this](take_atom, int64_t n) {
        state().balance += n;
        state().log.push_back("take " + std::to_string(n));
      },
      [this](lend_atom, int64_t n) -> int64_t {
        state().balance -= n;
        return n;
      },
      [this](borrow_atom, const std::string& from, int64_t n) {
        request_to<&purse::on_lent, &purse::on_refused>(from, lend_atom::value, n);
      },
      [this](kid_atom, const std::string& name, int64_t n) {
        auto id = spawn_child(type_name, name, {{"born_of", instance_name()}});
        if (!id) {
          state().log.push_back("spawn failed: " + id.error().to_string());
          return;
        }
        state().balance -= n;
        send_to(*id, take_atom::value, n);
      },
      [this](test::get_atom) { return state().balance; },
      [this](param_atom, const std::string& key) { return param(key, "<none>"); },
      [this](log_atom) { return join(state().log); },
    };
  }

  void on_lent(int64_t n) {
    state().balance += n;
    state().borrowed += n;
    state().log.push_back("lent " + std::to_string(n));
  }

  void on_refused(const amber::status& why) {
    state().log.push_back("refused: " + why.message());
  }
};

struct mortal_state {
  int64_t pings = 0;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& pings;
  }
};

/// Counts pings; `quit` ends it through stop(), `crash` throws in a handler.
class mortal : public amber::component<mortal_state> {
public:
  static constexpr const char* type_name = "test.mortal";
  static amber::package_ref package() { return {"testpkg", "1.0.0"}; }
  using component::component;
  caf::behavior make_behavior() override {
    return {
      [this](ping_atom) { ++state().pings; },
      [this](quit_atom) { stop(); },
      [](crash_atom) { throw std::runtime_error("test.mortal crashed in a handler"); },
      [this](test::get_atom) { return state().pings; },
    };
  }
};

struct probe_state {
  std::vector<int> codes; ///< send_result codes, in order.
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& codes;
  }
};

/// Sends pings on request and answers with the send_result code:
/// `to_name(name)`, `to_id(id)`; `burst(id)` sends quit then two pings to
/// a mortal, so the pings die in its mailbox; `relay(to, text)` sends a note;
/// `shout(port)` emits a ping on `port` and answers how many it reached.
class probe : public amber::component<probe_state> {
public:
  static constexpr const char* type_name = "test.probe";
  static amber::package_ref package() { return {"testpkg", "1.0.0"}; }
  using component::component;
  caf::behavior make_behavior() override {
    return {
      [this](to_name_atom, const std::string& to) { return record(send_to(to, ping_atom::value)); },
      [this](to_id_atom, uint32_t to) { return record(send_to(to, ping_atom::value)); },
      [this](burst_atom, uint32_t to) {
        int ok = record(send_to(to, quit_atom::value)) == amber::send_result::sent;
        ok += record(send_to(to, ping_atom::value)) == amber::send_result::sent;
        ok += record(send_to(to, ping_atom::value)) == amber::send_result::sent;
        return ok;
      },
      [this](relay_atom, const std::string& to, const std::string& text) {
        send_to(to, test::note_atom::value, text);
      },
      [this](shout_atom, const std::string& port) {
        return static_cast<int64_t>(emit(port, ping_atom::value));
      },
    };
  }

private:
  int record(amber::send_result r) {
    state().codes.push_back(static_cast<int>(r.code));
    return static_cast<int>(r.code);
  }
};

struct recorder_state {
  std::vector<std::string> notes;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& notes;
  }
};

/// Logs the notes it receives, in order.
class recorder : public amber::component<recorder_state> {
public:
  static constexpr const char* type_name = "test.recorder";
  static amber::package_ref package() { return {"testpkg", "1.0.0"}; }
  using component::component;
  caf::behavior make_behavior() override {
    return {
      [this](test::note_atom, const std::string& text) { state().notes.push_back(text); },
      [this](log_atom) { return join(state().notes); },
    };
  }
};

/// A probe whose make_behavior greets the component named by its `to`
/// parameter, on a fresh start and after every restore.
class greeter : public probe {
public:
  static constexpr const char* type_name = "test.greeter";
  using probe::probe;
  caf::behavior make_behavior() override {
    send_to(param("to"), test::note_atom::value,
            std::string(restored() ? "hello after restore" : "hello"));
    return probe::make_behavior();
  }
};

struct ticker_state {
  int64_t fired = 0;
  std::map<std::string, uint64_t> timers; ///< By label.
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& fired& timers;
  }
};

/// `arm(label, ms)` starts a timer that delivers `tick(label)`;
/// `cancel(label)` cancels it; `log` lists what fired.
class ticker : public amber::component<ticker_state> {
public:
  static constexpr const char* type_name = "test.ticker";
  static amber::package_ref package() { return {"testpkg", "1.0.0"}; }
  using component::component;
  caf::behavior make_behavior() override {
    return {
      [this](test::arm_atom, const std::string& label, int64_t ms) {
        state().timers[label]
          = start_timer(std::chrono::milliseconds(ms), tick_atom::value, label);
      },
      [this](cancel_atom, const std::string& label) {
        return cancel_timer(state().timers.at(label));
      },
      [this](tick_atom, const std::string& label) {
        ++state().fired;
        fired_.push_back(label);
      },
      [this](test::get_atom) { return state().fired; },
      [this](log_atom) { return join(fired_); },
    };
  }

private:
  std::vector<std::string> fired_; ///< Since this incarnation started.
};

/// Two modes: "" answers get with "calm", "grumpy" with "grumpy"; `flip`
/// switches between them.
class moody : public amber::component<mortal_state> {
public:
  static constexpr const char* type_name = "test.moody";
  static amber::package_ref package() { return {"testpkg", "1.0.0"}; }
  using component::component;
  caf::behavior make_behavior() override {
    return {
      [this](flip_atom) { become("grumpy"); },
      [](test::get_atom) { return std::string("calm"); },
    };
  }
  caf::behavior mode_behavior(const std::string& m) override {
    if (m != "grumpy")
      return {};
    return {
      [this](flip_atom) { become(""); },
      [](test::get_atom) { return std::string("grumpy"); },
    };
  }
};

/// `watch(name)` monitors a component (so does a fresh start with a
/// `watch` parameter, from make_behavior); each component_down is logged
/// as "down:<name>:<id>".
class watcher : public amber::component<recorder_state> {
public:
  static constexpr const char* type_name = "test.watcher";
  static amber::package_ref package() { return {"testpkg", "1.0.0"}; }
  using component::component;
  caf::behavior make_behavior() override {
    if (!restored() && !param("watch").empty())
      monitor(param("watch"));
    return {
      [this](watch_atom, const std::string& name) { return monitor(name); },
      [this](const amber::component_down& d) {
        state().notes.push_back("down:" + d.name + ":" + std::to_string(d.id));
      },
      [this](log_atom) { return join(state().notes); },
    };
  }
};

/// Every type above, the bank's and the test suite's counter.
inline std::shared_ptr<amber::registry> make_registry() {
  auto reg = std::make_shared<amber::registry>();
  REQUIRE(bank::register_types(*reg).is_ok());
  REQUIRE(reg->add<test::counter>().is_ok());
  REQUIRE(reg->add<purse>().is_ok());
  REQUIRE(reg->add<mortal>().is_ok());
  REQUIRE(reg->add<probe>().is_ok());
  REQUIRE(reg->add<recorder>().is_ok());
  REQUIRE(reg->add<greeter>().is_ok());
  REQUIRE(reg->add<ticker>().is_ok());
  REQUIRE(reg->add<moody>().is_ok());
  REQUIRE(reg->add<watcher>().is_ok());
  return reg;
}

/// The money of every purse and bank account of a live node, asked of them.
inline int64_t live_money(amber::node& n) {
  int64_t total = 0;
  for (auto& c : n.components()) {
    if (c.type_name == purse::type_name)
      total += test::ask<int64_t>(n, c.handle, test::get_atom::value);
    else if (c.type_name == bank::account::type_name)
      total += test::ask<int64_t>(n, c.handle, bank::balance_atom::value);
  }
  return total;
}

/// The money in a snapshot, from the store alone: every purse's and bank
/// account's balance, plus what was in flight (take and deposit messages,
/// bank transfers, and responses, which carry lent money).
inline int64_t snapshot_money(amber::store& s, const amber::digest& id, caf::actor_system& sys) {
  auto snap = amber::load_snapshot(s, id);
  REQUIRE_MESSAGE(snap.ok(), snap.error().to_string());
  int64_t total = 0;
  std::string bytes;
  for (auto& c : snap->cache.components) {
    if (c.type_name == purse::type_name) {
      REQUIRE(s.get_blob(c.state, &bytes).is_ok());
      purse_state st;
      REQUIRE(amber::decode(bytes, &st, c.name).is_ok());
      total += st.balance;
    } else if (c.type_name == bank::account::type_name) {
      REQUIRE(s.get_blob(c.state, &bytes).is_ok());
      bank::account_state st;
      REQUIRE(amber::decode(bytes, &st, c.name).is_ok());
      total += st.balance;
    }
  }
  for (auto& m : snap->trace.messages) {
    auto msg = amber::decode_message(sys, m.payload);
    REQUIRE(msg.ok());
    if (msg->match_elements<take_atom, int64_t>()
        || msg->match_elements<bank::deposit_atom, int64_t, uint32_t>())
      total += msg->get_as<int64_t>(1);
    else if (msg->match_elements<bank::transfer_atom, int64_t, uint32_t, uint32_t>())
      total += msg->get_as<int64_t>(1);
    else if (m.kind == static_cast<uint8_t>(amber::stamp_kind::response)
             && msg->match_elements<int64_t>())
      total += msg->get_as<int64_t>(0);
  }
  return total;
}

} // namespace proto
