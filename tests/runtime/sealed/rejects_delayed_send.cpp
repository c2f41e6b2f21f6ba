// Must not compile: delayed_send bypasses the consistent cut (or cannot be checkpointed).
#define SEALED_CALL delayed_send(caf::actor{}, std::chrono::seconds(1), poke_atom::value)
#include "component_prelude.hpp"
