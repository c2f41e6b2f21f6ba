// Must not compile: monitor_actor bypasses the consistent cut (or cannot be checkpointed).
#define SEALED_CALL monitor(caf::actor{})
#include "component_prelude.hpp"
