#include "xbank.hpp"

#include <sstream>

#include "amber/checkpoint/serial.hpp"
#include "amber/checkpoint/snapshot.hpp"
#include "amber/runtime/message_codec.hpp"

namespace bank {

namespace {

uint64_t mix(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

int64_t number(const std::string& text, int64_t fallback) {
  try {
    return text.empty() ? fallback : std::stoll(text);
  } catch (const std::exception&) {
    return fallback;
  }
}

// "a:8,b:8" -> {{"a", 8}, {"b", 8}}
std::vector<std::pair<std::string, int64_t>> parse_accounts(const std::string& text) {
  std::vector<std::pair<std::string, int64_t>> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    auto colon = item.find(':');
    if (colon == std::string::npos)
      continue;
    out.emplace_back(item.substr(0, colon), number(item.substr(colon + 1), 0));
  }
  return out;
}

} // namespace

caf::behavior xaccount::make_behavior() {
  if (!restored()) {
    state().balance = number(param("balance"), 0);
    state().self = param("member") + "/" + instance_name();
  }
  return {
    [this](xwithdraw_atom, int64_t amount, const std::string& to) {
      auto& s = state();
      if (amount <= 0 || amount > s.balance || to == s.self)
        return;
      auto seq = ++s.next_out[to];
      if (send_to(to, xdeposit_atom::value, amount, s.self, seq)) {
        s.balance -= amount;
        ++s.paid;
      } else {
        --s.next_out[to];
      }
    },
    [this](xdeposit_atom, int64_t amount, const std::string& from, uint64_t seq) {
      auto& s = state();
      s.balance += amount;
      ++s.deposits;
      auto& last = s.last_in[from];
      if (seq <= last)
        ++s.duplicates;
      else if (seq != last + 1)
        ++s.gaps;
      last = std::max(last, seq);
    },
    [this](xaudit_atom) {
      auto& s = state();
      return caf::make_message(s.balance, s.gaps, s.duplicates, s.deposits);
    },
  };
}

caf::behavior xdriver::make_behavior() {
  if (!restored()) {
    state().rng = static_cast<uint64_t>(number(param("seed"), 1));
    state().running = number(param("autostart"), 1) != 0;
    if (state().running)
      start_timer(std::chrono::milliseconds(number(param("interval_ms"), 5)), xtick_atom::value);
  }
  return {
    [this](xtick_atom) { tick(); },
    [this](xstart_atom) {
      if (!state().running) {
        state().running = true;
        start_timer(std::chrono::milliseconds(number(param("interval_ms"), 5)), xtick_atom::value);
      }
    },
    [this](xhalt_atom) { state().running = false; },
  };
}

void xdriver::tick() {
  auto& s = state();
  if (!s.running)
    return;
  auto accounts = parse_accounts(param("accounts"));
  auto me = param("member");
  int64_t mine = 0;
  int64_t total = 0;
  for (auto& [m, n] : accounts) {
    total += n;
    if (m == me)
      mine = n;
  }
  auto batch = number(param("batch"), 8);
  auto max_amount = number(param("max_amount"), 50);
  if (mine > 0 && total > 1) {
    for (int64_t k = 0; k < batch; ++k) {
      auto from = static_cast<int64_t>(mix(s.rng) % static_cast<uint64_t>(mine));
      auto pick = static_cast<int64_t>(mix(s.rng) % static_cast<uint64_t>(total));
      std::string to;
      for (auto& [m, n] : accounts) {
        if (pick < n) {
          to = m + "/acct-" + std::to_string(pick);
          break;
        }
        pick -= n;
      }
      auto amount = static_cast<int64_t>(mix(s.rng) % static_cast<uint64_t>(max_amount)) + 1;
      send_to("acct-" + std::to_string(from), xwithdraw_atom::value, amount, to);
      ++s.issued;
    }
  }
  start_timer(std::chrono::milliseconds(number(param("interval_ms"), 5)), xtick_atom::value);
}

amber::result<xmoney> xmoney_in_snapshot(amber::store& s, const amber::digest& id,
                                         caf::actor_system& sys) {
  auto snap = amber::load_snapshot(s, id);
  if (!snap)
    return snap.error();
  xmoney out;
  std::string bytes;
  for (auto& c : snap->cache.components) {
    if (c.type_name != xaccount::type_name)
      continue;
    AMBER_RETURN_IF_ERROR(s.get_blob(c.state, &bytes));
    xaccount_state st;
    AMBER_RETURN_IF_ERROR(amber::decode(bytes, &st, "state of " + c.name));
    out.balances += st.balance;
    out.gaps += st.gaps;
    out.duplicates += st.duplicates;
    out.deposits += st.deposits;
  }
  for (auto& m : snap->trace.messages) {
    auto msg = amber::decode_message(sys, m.payload);
    if (!msg)
      return msg.error();
    if (!msg->match_elements<xdeposit_atom, int64_t, std::string, uint64_t>())
      continue;
    if (m.sender_node.empty()) {
      out.local_in_flight += msg->get_as<int64_t>(1);
    } else {
      out.remote_in_flight += msg->get_as<int64_t>(1);
      ++out.remote_messages;
    }
  }
  return out;
}

nlohmann::json xaccount::to_json(const xaccount_state& s) {
  return {{"self", s.self},         {"balance", s.balance}, {"paid", s.paid},
          {"deposits", s.deposits}, {"gaps", s.gaps},       {"duplicates", s.duplicates},
          {"next_out", s.next_out}, {"last_in", s.last_in}};
}

nlohmann::json xdriver::to_json(const xdriver_state& s) {
  return {{"rng", s.rng}, {"issued", s.issued}, {"running", s.running}};
}

amber::status register_cluster_types(amber::registry& reg) {
  AMBER_RETURN_IF_ERROR(reg.add<xaccount>());
  return reg.add<xdriver>();
}

} // namespace bank
