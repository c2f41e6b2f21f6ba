#include "bank.hpp"

#include <caf/scoped_actor.hpp>

#include "amber/runtime/error.hpp"

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
    [this](withdraw_atom, int64_t amount, uint32_t to) {
      auto& s = state();
      if (amount <= 0 || amount > s.balance || to == instance_id()) {
        ++s.rejected;
        return;
      }
      s.balance -= amount;
      ++s.sent;
      if (emit("clearing", transfer_atom::value, amount, to) == 0)
        send_to(to, deposit_atom::value, amount);
    },
    [this](deposit_atom, int64_t amount) {
      state().balance += amount;
      ++state().received;
    },
    [this](balance_atom) { return state().balance; },
  };
}

caf::behavior clearing::make_behavior() {
  return {
    [this](transfer_atom, int64_t amount, uint32_t to) {
      ++state().forwarded;
      state().volume[to] += amount;
      send_to(to, deposit_atom::value, amount);
    },
  };
}

caf::behavior driver::make_behavior() {
  if (!restored()) {
    state().rng = static_cast<uint64_t>(to_int(param("seed"), 1));
    state().max_amount = to_int(param("max_amount"), 100);
  }
  return {
    [this](run_atom, uint32_t n) -> uint64_t {
      auto& s = state();
      if (s.accounts.empty()) {
        auto count = static_cast<uint32_t>(to_int(param("accounts"), 0));
        for (uint32_t i = 0; i < count; ++i)
          if (auto id = id_of("acct-" + std::to_string(i)))
            s.accounts.push_back(*id);
      }
      if (s.accounts.size() < 2)
        return 0;
      for (uint32_t i = 0; i < n; ++i) {
        auto from = s.accounts[splitmix64(s.rng) % s.accounts.size()];
        auto to = s.accounts[splitmix64(s.rng) % s.accounts.size()];
        auto amount = static_cast<int64_t>(splitmix64(s.rng) % s.max_amount) + 1;
        send_to(from, withdraw_atom::value, amount, to);
        ++s.issued;
      }
      return s.issued;
    },
  };
}

amber::status register_types(amber::registry& reg) {
  AMBER_RETURN_IF_ERROR(reg.add<account>());
  AMBER_RETURN_IF_ERROR(reg.add<clearing>());
  return reg.add<driver>();
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

} // namespace bank
