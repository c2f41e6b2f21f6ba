// kv: the key-value service's own binary. It has every command of `amber`
// (run, restore, checkpoint, log, show, diff, verify, gc, export, import,
// graph) with kv's component and message types.

#include <cstdio>

#include <amber/cli/main.hpp>

#include "kv.hpp"

int main(int argc, char** argv) {
  auto types = std::make_shared<amber::registry>();
  if (auto st = kv::register_types(*types); !st) {
    std::fprintf(stderr, "kv: error: %s\n", st.to_string().c_str());
    return 1;
  }
  return amber::cli::main(argc, argv, types);
}
