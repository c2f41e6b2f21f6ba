// Must not compile: lambda_continuation bypasses the consistent cut (or cannot be checkpointed).
#define SEALED_CALL request_to<[](int64_t) {}>(std::string("peer"), poke_atom::value)
#include "component_prelude.hpp"
