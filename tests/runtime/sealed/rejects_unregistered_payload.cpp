// Must not compile: unregistered_payload bypasses the consistent cut (or cannot be checkpointed).
#define SEALED_CALL send_to(std::string("peer"), no_inspect{})
#include "component_prelude.hpp"
