// Must not compile: quit bypasses the consistent cut (or cannot be checkpointed).
#define SEALED_CALL quit()
#include "component_prelude.hpp"
