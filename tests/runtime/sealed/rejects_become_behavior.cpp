// Must not compile: become_behavior bypasses the consistent cut (or cannot be checkpointed).
#define SEALED_CALL become(caf::behavior{[](int) {}})
#include "component_prelude.hpp"
