// Must not compile: request bypasses the consistent cut (or cannot be checkpointed).
#define SEALED_CALL request(caf::actor{}, std::chrono::seconds(1), poke_atom::value)
#include "component_prelude.hpp"
