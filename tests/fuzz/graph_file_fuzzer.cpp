// Graph files (TOML, apps/graph_file.cpp), with the bank's component types
// and two other cluster members to wire to.

#include <set>
#include <string>

#include "fuzz_target.hpp"
#include "graph_file.hpp"

using namespace amber;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::set<std::string> known = {"bank.account", "bank.clearing", "bank.driver"};
  static const std::set<std::string> others = {"b", "c"};
  auto g = cli::parse_graph_file(fuzz::as_text(data, size), "fuzz.toml", known,
                                 size % 2 == 0 ? &others : nullptr);
  if (g) {
    fuzz::fuzz_check(g->component_count() <= static_cast<size_t>(cli::max_total),
                     "a graph file expands to at most max_total components");
    fuzz::fuzz_check(g->wire_count() <= static_cast<size_t>(cli::max_total),
                     "a graph file expands to at most max_total wires");
  }
  return 0;
}
