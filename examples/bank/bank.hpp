#pragma once

// A bank, written as amber components: the example behind `amber demo`.
//
// - bank.account holds a balance. On `withdraw(amount, to, driver)` it debits
//   itself (when it can) and sends the money on: through its "clearing" wire
//   when it has one, else straight to the receiving account as `deposit`.
//   The receiving account tells the driver the transfer is `settled` (as
//   does a refused withdrawal).
// - bank.clearing forwards transfers to their receiving account, so money is
//   in flight across two hops, and keeps per-account volumes.
// - bank.driver issues random transfers between accounts: `run(n)` issues n
//   at once; `start` keeps a window of transfers in flight until `halt`,
//   issuing a new one whenever one settles. All of it is component messages,
//   so a checkpoint records the stream and a restored bank drives on.
//
// Money is conserved: the sum of all balances, plus the amounts in flight,
// never changes.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <nlohmann/json.hpp>

#include "amber/runtime/component.hpp"
#include "amber/runtime/node.hpp"
#include "amber/storage/store.hpp"

namespace bank {

using withdraw_atom = caf::atom_constant<caf::atom("withdraw")>;
using deposit_atom = caf::atom_constant<caf::atom("deposit")>;
using transfer_atom = caf::atom_constant<caf::atom("transfer")>;
using balance_atom = caf::atom_constant<caf::atom("balance")>;
using run_atom = caf::atom_constant<caf::atom("run")>;
using start_atom = caf::atom_constant<caf::atom("start")>;
using halt_atom = caf::atom_constant<caf::atom("halt")>;
using settled_atom = caf::atom_constant<caf::atom("settled")>;

struct account_state {
  std::string owner;
  int64_t balance = 0;
  uint64_t sent = 0;
  uint64_t received = 0;
  uint64_t rejected = 0;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& owner& balance& sent& received& rejected;
  }
};

class account : public amber::component<account_state> {
public:
  static constexpr const char* type_name = "bank.account";
  static amber::package_ref package() { return {"bank", "1.1.0"}; }
  using component::component;
  /// The state as `amber cat` and `amber diff` show it.
  static nlohmann::json to_json(const account_state& s);
  caf::behavior make_behavior() override;
};

struct clearing_state {
  uint64_t forwarded = 0;
  std::map<uint32_t, int64_t> volume; ///< Money forwarded to each account.

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& forwarded& volume;
  }
};

class clearing : public amber::component<clearing_state> {
public:
  static constexpr const char* type_name = "bank.clearing";
  static amber::package_ref package() { return {"bank", "1.1.0"}; }
  using component::component;
  /// The state as `amber cat` and `amber diff` show it.
  static nlohmann::json to_json(const clearing_state& s);
  caf::behavior make_behavior() override;
};

struct driver_state {
  uint64_t rng = 0; ///< splitmix64 state: a restored driver continues its sequence.
  uint64_t issued = 0;
  std::vector<uint32_t> accounts; ///< Instance ids, resolved on first run.
  int64_t max_amount = 100;
  bool running = false;  ///< Between start and halt.
  uint32_t window = 64;  ///< Transfers kept in flight while running.
  uint64_t outstanding = 0; ///< Issued and not yet settled.

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& rng& issued& accounts& max_amount& running& window& outstanding;
  }
};

class driver : public amber::component<driver_state> {
public:
  static constexpr const char* type_name = "bank.driver";
  static amber::package_ref package() { return {"bank", "1.1.0"}; }
  using component::component;
  /// The state as `amber cat` and `amber diff` show it.
  static nlohmann::json to_json(const driver_state& s);
  caf::behavior make_behavior() override;

private:
  void issue(uint32_t n);
};

/// Registers the three bank types.
amber::status register_types(amber::registry& reg);

struct bank_params {
  uint32_t accounts = 1000;
  uint32_t clearing_houses = 4;
  uint32_t drivers = 4;
  int64_t max_initial_balance = 10000;
  int64_t max_amount = 100;
  uint64_t seed = 1;
};

/// The bank as a graph named "bank": accounts "acct-<i>", clearing houses
/// "clearing-<i>", drivers "driver-<i>", with random initial balances.
amber::graph_def make_graph(const bank_params& p);

/// Sum of all account balances, asked of the accounts (a quiet node gives
/// the conserved total).
amber::result<int64_t> total_balance(amber::node& n);

/// Tells every driver to issue `per_driver` transfers and waits until they
/// have been sent (not until they have arrived).
amber::status run_drivers(amber::node& n, uint32_t per_driver);

/// Starts (or halts) every driver's continuous stream of transfers.
void start_drivers(amber::node& n);
void halt_drivers(amber::node& n);

/// The money in a snapshot, read from the store alone: the balances of all
/// accounts plus the amounts in flight (transfers and deposits recorded in
/// the trace layer). `sys` decodes the recorded messages.
struct money {
  int64_t balances = 0;
  int64_t in_flight = 0;
  uint64_t messages_in_flight = 0;
  int64_t total() const { return balances + in_flight; }
};
amber::result<money> money_in_snapshot(amber::store& s, const amber::digest& id,
                                       caf::actor_system& sys);

} // namespace bank
