// The stock `amber` binary: the command line (amber::cli::main) with the
// bank example's component types, and `amber demo`.

#include <fmt/core.h>

#include "amber/cli/main.hpp"
#include "bank/bank.hpp"
#include "demo.hpp"

namespace {

// amber demo [--store DIR]
int demo(const std::vector<std::string>& args) {
  std::string store = "./amber-data";
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "-h" || args[i] == "--help") {
      fmt::print("Run the bank demo: run, checkpoint, restore, run on\n"
                 "Usage: amber demo [--store DIR]\n"
                 "  --store DIR  Store directory (created when missing; default ./amber-data)\n");
      return 0;
    }
    if (args[i] == "--store" && i + 1 < args.size()) {
      store = args[++i];
    } else if (args[i].rfind("--store=", 0) == 0) {
      store = args[i].substr(8);
    } else {
      fmt::print(stderr, "amber: error: demo: unexpected argument '{}' (usage: amber demo "
                         "[--store DIR])\n", args[i]);
      return 2;
    }
  }
  return amber::app::run_demo(store);
}

} // namespace

int main(int argc, char** argv) {
  auto types = std::make_shared<amber::registry>();
  if (auto st = bank::register_types(*types); !st) {
    fmt::print(stderr, "amber: error: {}\n", st.to_string());
    return 1;
  }
  amber::cli::program prog;
  prog.name = "amber";
  prog.types = types;
  prog.commands.push_back(
    {"demo", "Run the bank demo: run, checkpoint, restore, run on", demo});
  return amber::cli::main(argc, argv, prog);
}
