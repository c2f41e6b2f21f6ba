// Must not compile: spawn bypasses the consistent cut (or cannot be checkpointed).
#define SEALED_CALL spawn([](caf::event_based_actor*) -> caf::behavior { return {}; })
#include "component_prelude.hpp"
