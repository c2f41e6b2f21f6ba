#include "bank.hpp"
#include "xbank.hpp"

#include <caf/scoped_actor.hpp>

#include <caf/send.hpp>

#include "amber/checkpoint/snapshot.hpp"
#include "amber/runtime/error.hpp"
#include "amber/runtime/message_codec.hpp"

namespace bank {

namespace {

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

int64_t to_int(const std::string& text, int64_t fallback) {
  try {
    return text.empty() ? fallback : std::stoll(text);
  } catch (const std::exception&) {
    return fallback;
  }
}

} // namespace

caf::behavior account::make_behavior() {
  if (!restored()) {
    state().owner = param("owner", instance_name());
    state().balance = to_int(param("balance"), 0);
  }
  return {
    [this](withdraw_atom, int64_t amount, uint32_t to, uint32_t driver) {
      auto& s = state();
      if (amount <= 0 || amount > s.balance || to == instance_id()) {
        ++s.rejected;
        if (driver != 0)
          send_to(driver, settled_atom::value);
        return;
      }
      s.balance -= amount;
      ++s.sent;
      if (emit("clearing", transfer_atom::value, amount, to, driver) > 0
          || send_to(to, deposit_atom::value, amount, driver))
        return;
      // No such account (any more): nothing was sent, so the money stays.
      s.balance += amount;
      --s.sent;
      ++s.rejected;
      if (driver != 0)
        send_to(driver, settled_atom::value);
    },
    [this](deposit_atom, int64_t amount, uint32_t driver) {
      state().balance += amount;
      ++state().received;
      if (driver != 0)
        send_to(driver, settled_atom::value);
    },
    [this](balance_atom) { return state().balance; },
  };
}

caf::behavior clearing::make_behavior() {
  return {
    [this](transfer_atom, int64_t amount, uint32_t to, uint32_t driver) {
      ++state().forwarded;
      state().volume[to] += amount;
      send_to(to, deposit_atom::value, amount, driver);
    },
  };
}

caf::behavior driver::make_behavior() {
  if (!restored()) {
    state().rng = static_cast<uint64_t>(to_int(param("seed"), 1));
    state().max_amount = to_int(param("max_amount"), 100);
    state().window = static_cast<uint32_t>(to_int(param("window"), 64));
  }
  return {
    [this](run_atom, uint32_t n) -> uint64_t {
      issue(n);
      return state().issued;
    },
    [this](start_atom) {
      auto& s = state();
      if (s.running)
        return;
      s.running = true;
      if (s.outstanding < s.window)
        issue(static_cast<uint32_t>(s.window - s.outstanding));
    },
    [this](halt_atom) { state().running = false; },
    [this](settled_atom) {
      auto& s = state();
      if (s.outstanding > 0)
        --s.outstanding;
      if (s.running && s.outstanding < s.window)
        issue(1);
    },
  };
}

void driver::issue(uint32_t n) {
  auto& s = state();
  if (s.accounts.empty()) {
    auto count = static_cast<uint32_t>(to_int(param("accounts"), 0));
    for (uint32_t i = 0; i < count; ++i)
      if (auto id = id_of("acct-" + std::to_string(i)))
        s.accounts.push_back(*id);
  }
  if (s.accounts.size() < 2)
    return;
  for (uint32_t i = 0; i < n; ++i) {
    auto from = s.accounts[splitmix64(s.rng) % s.accounts.size()];
    auto to = s.accounts[splitmix64(s.rng) % s.accounts.size()];
    auto amount = static_cast<int64_t>(splitmix64(s.rng) % s.max_amount) + 1;
    send_to(from, withdraw_atom::value, amount, to, instance_id());
    ++s.issued;
    ++s.outstanding;
  }
}

nlohmann::json account::to_json(const account_state& s) {
  return {{"owner", s.owner},       {"balance", s.balance},   {"sent", s.sent},
          {"received", s.received}, {"rejected", s.rejected}};
}

nlohmann::json clearing::to_json(const clearing_state& s) {
  // Keyed by account instance id; JSON object keys are strings.
  nlohmann::json volume = nlohmann::json::object();
  for (auto& [account, amount] : s.volume)
    volume[std::to_string(account)] = amount;
  return {{"forwarded", s.forwarded}, {"volume", volume}};
}

nlohmann::json driver::to_json(const driver_state& s) {
  return {{"rng", s.rng},         {"issued", s.issued}, {"accounts", s.accounts},
          {"max_amount", s.max_amount}, {"running", s.running}, {"window", s.window},
          {"outstanding", s.outstanding}};
}

amber::status register_types(amber::registry& reg) {
  AMBER_RETURN_IF_ERROR(reg.add<account>());
  AMBER_RETURN_IF_ERROR(reg.add<clearing>());
  AMBER_RETURN_IF_ERROR(reg.add<driver>());
  return register_cluster_types(reg);
}

amber::graph_def make_graph(const bank_params& p) {
  amber::graph_def g;
  g.name = "bank";
  uint64_t rng = p.seed;
  for (uint32_t i = 0; i < p.clearing_houses; ++i)
    g.instances.push_back({"clearing-" + std::to_string(i), clearing::type_name, {}});
  for (uint32_t i = 0; i < p.accounts; ++i) {
    auto name = "acct-" + std::to_string(i);
    auto balance = static_cast<int64_t>(splitmix64(rng) % (p.max_initial_balance + 1));
    g.instances.push_back({name, account::type_name, {{"balance", std::to_string(balance)}}});
    if (p.clearing_houses > 0)
      g.edges.push_back({name, "clearing", "clearing-" + std::to_string(i % p.clearing_houses)});
  }
  for (uint32_t i = 0; i < p.drivers; ++i)
    g.instances.push_back({"driver-" + std::to_string(i),
                           driver::type_name,
                           {{"seed", std::to_string(splitmix64(rng) >> 1)},
                            {"accounts", std::to_string(p.accounts)},
                            {"max_amount", std::to_string(p.max_amount)}}});
  return g;
}

amber::result<int64_t> total_balance(amber::node& n) {
  caf::scoped_actor self{n.system()};
  int64_t total = 0;
  amber::status failure;
  for (auto& c : n.components()) {
    if (c.type_name != account::type_name)
      continue;
    self->request(c.handle, std::chrono::seconds(30), balance_atom::value)
      .receive([&](int64_t balance) { total += balance; },
               [&](caf::error& err) {
                 failure = amber::from_caf_error(n.system(), err).with_context(c.name);
               });
    if (!failure)
      return failure;
  }
  if (!failure)
    return failure;
  return total;
}

amber::status run_drivers(amber::node& n, uint32_t per_driver) {
  caf::scoped_actor self{n.system()};
  amber::status failure;
  for (auto& c : n.components()) {
    if (c.type_name != driver::type_name)
      continue;
    self->request(c.handle, std::chrono::seconds(60), run_atom::value, per_driver)
      .receive([](uint64_t) {},
               [&](caf::error& err) { failure = amber::from_caf_error(n.system(), err); });
    if (!failure)
      return failure;
  }
  return amber::status::ok();
}

namespace {

void tell_drivers(amber::node& n, const caf::message& msg) {
  for (auto& c : n.components())
    if (c.type_name == driver::type_name)
      caf::anon_send(c.handle, msg);
}

} // namespace

void start_drivers(amber::node& n) {
  tell_drivers(n, caf::make_message(start_atom::value));
}

void halt_drivers(amber::node& n) {
  tell_drivers(n, caf::make_message(halt_atom::value));
}

amber::result<money> money_in_snapshot(amber::store& s, const amber::digest& id,
                                       caf::actor_system& sys) {
  auto snap = amber::load_snapshot(s, id);
  if (!snap)
    return snap.error();
  money out;
  std::string bytes;
  for (auto& c : snap->cache.components) {
    if (c.type_name != account::type_name)
      continue;
    AMBER_RETURN_IF_ERROR(s.get_blob(c.state, &bytes));
    account_state st;
    AMBER_RETURN_IF_ERROR(amber::decode(bytes, &st, "state of " + c.name));
    out.balances += st.balance;
  }
  for (auto& m : snap->trace.messages) {
    auto msg = amber::decode_message(sys, m.payload);
    if (!msg)
      return msg.error();
    ++out.messages_in_flight;
    if (msg->match_elements<transfer_atom, int64_t, uint32_t, uint32_t>())
      out.in_flight += msg->get_as<int64_t>(1);
    else if (msg->match_elements<deposit_atom, int64_t, uint32_t>())
      out.in_flight += msg->get_as<int64_t>(1);
  }
  return out;
}

} // namespace bank
