// Must not compile: send bypasses the consistent cut (or cannot be checkpointed).
#define SEALED_CALL send(caf::actor{}, poke_atom::value, n)
#include "component_prelude.hpp"
