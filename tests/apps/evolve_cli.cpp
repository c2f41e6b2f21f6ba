// A service's own binary in two releases (EVOLVE_RELEASE 1 or 2) of the
// types in tests/support/evolving_components.hpp: the whole command line
// through amber::cli::main.

#include "amber/cli/main.hpp"
#include "support/evolving_components.hpp"

int main(int argc, char** argv) {
#if EVOLVE_RELEASE == 2
  auto types = evolve::binary_v2();
#else
  auto types = evolve::binary_v1();
#endif
  return amber::cli::main(argc, argv, std::move(types));
}
