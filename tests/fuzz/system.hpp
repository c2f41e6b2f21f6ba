#pragma once

// The actor system the CAF-facing harnesses decode with: a node's (it
// registers what every node registers) over the bank's component types,
// made once per process and kept to the end.

#include "amber/runtime/node.hpp"
#include "bank/bank.hpp"

namespace amber::fuzz {

inline std::shared_ptr<registry> bank_types() {
  static auto types = [] {
    auto t = std::make_shared<registry>();
    if (!bank::register_types(*t))
      std::abort();
    return t;
  }();
  return types;
}

// Never destroyed: ~actor_system at exit runs after CAF's own statics are
// gone (a heap corruption at exit otherwise). Reachable, so no leak report.
inline caf::actor_system& system() {
  static node* n = new node(bank_types(), [] {
    node_options o;
    o.name = "fuzz";
    o.worker_threads = 1;
    return o;
  }());
  return n->system();
}

} // namespace amber::fuzz
