#pragma once

#include <cstdint>
#include <string>

#include "bank/bank.hpp"

namespace test {

/// The bank the crash test's child runs: small, so that a life is short.
inline bank::bank_params crash_bank() {
  bank::bank_params p;
  p.accounts = 200;
  p.clearing_houses = 2;
  p.drivers = 2;
  p.seed = 7;
  return p;
}

/// The total money of that bank, from its graph's initial balances.
inline int64_t crash_bank_total() {
  int64_t total = 0;
  for (auto& inst : bank::make_graph(crash_bank()).instances)
    if (auto i = inst.params.find("balance"); i != inst.params.end())
      total += std::stoll(i->second);
  return total;
}

} // namespace test
