#pragma once

// The bank spread over the members of a cluster (docs/CLUSTER.md).
//
// - bank.xaccount holds a balance. On `withdraw(amount, to)` it debits
//   itself (when it can) and sends `deposit(amount, from, seq)` to `to`, a
//   `member/account` name: the money crosses members. Every (from, to)
//   channel numbers its deposits, and the receiver audits the numbers: a
//   gap is a lost deposit, a repeat a duplicate.
// - bank.xdriver, on a timer, tells accounts of its own member to pay
//   random accounts of any member.
//
// Money is conserved: the balances of every member plus the deposits in
// flight (on this member or between members) never change.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <nlohmann/json.hpp>

#include "amber/runtime/component.hpp"
#include "amber/runtime/registry.hpp"
#include "amber/storage/store.hpp"

namespace caf {
class actor_system;
}

namespace bank {

using xdeposit_atom = caf::atom_constant<caf::atom("xdeposit")>;
using xwithdraw_atom = caf::atom_constant<caf::atom("xwithdraw")>;
using xtick_atom = caf::atom_constant<caf::atom("xtick")>;
using xaudit_atom = caf::atom_constant<caf::atom("xaudit")>;
using xstart_atom = caf::atom_constant<caf::atom("xstart")>;
using xhalt_atom = caf::atom_constant<caf::atom("xhalt")>;

struct xaccount_state {
  std::string self; ///< member/name, as others address it.
  int64_t balance = 0;
  uint64_t paid = 0;
  uint64_t deposits = 0;
  uint64_t gaps = 0;       ///< Deposits whose number skipped one: lost messages.
  uint64_t duplicates = 0; ///< Deposits whose number came again.
  std::map<std::string, uint64_t> next_out; ///< Per receiver.
  std::map<std::string, uint64_t> last_in;  ///< Per sender.

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& self& balance& paid& deposits& gaps& duplicates& next_out& last_in;
  }
};

class xaccount : public amber::component<xaccount_state> {
public:
  static constexpr const char* type_name = "bank.xaccount";
  static amber::package_ref package() { return {"bank", "1.1.0"}; }
  /// The state as `amber cat` and `amber diff` show it.
  static nlohmann::json to_json(const xaccount_state& s);
  using component::component;
  caf::behavior make_behavior() override;
};

struct xdriver_state {
  uint64_t rng = 1;
  uint64_t issued = 0;
  bool running = true;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& rng& issued& running;
  }
};

/// Params: member (its own), accounts ("a:8,b:8": accounts acct-0.. per
/// member), batch (withdrawals per tick), interval_ms, max_amount, seed.
class xdriver : public amber::component<xdriver_state> {
public:
  static constexpr const char* type_name = "bank.xdriver";
  static amber::package_ref package() { return {"bank", "1.1.0"}; }
  /// The state as `amber cat` and `amber diff` show it.
  static nlohmann::json to_json(const xdriver_state& s);
  using component::component;
  caf::behavior make_behavior() override;

private:
  void tick();
};

amber::status register_cluster_types(amber::registry& reg);

/// One member's part of a cluster snapshot, read from its store alone.
struct xmoney {
  int64_t balances = 0;
  int64_t local_in_flight = 0;  ///< Deposits in flight between its own accounts.
  int64_t remote_in_flight = 0; ///< Deposits from other members in flight to it.
  uint64_t remote_messages = 0;
  uint64_t gaps = 0;       ///< Summed over its accounts' audits.
  uint64_t duplicates = 0;
  uint64_t deposits = 0;
  int64_t total() const { return balances + local_in_flight + remote_in_flight; }
};
amber::result<xmoney> xmoney_in_snapshot(amber::store& s, const amber::digest& id,
                                         caf::actor_system& sys);

} // namespace bank
