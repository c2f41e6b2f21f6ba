#pragma once

// caf::message <-> bytes, with CAF's binary serializer, for the trace layer.
//
// Every type inside the message must be registered with the actor system
// (`add_message_type`) on both ends; an unregistered one is an error here,
// never silently zero bytes (CAF's `sink(msg)` would drop it).
// decode_message bounds every length prefix by the bytes that remain before
// CAF allocates for it (CAF alone trusts them), so hostile bytes give a
// corruption status, not an out-of-memory.

#include <string>
#include <string_view>

#include <caf/actor_system.hpp>
#include <caf/message.hpp>

#include "amber/storage/status.hpp"

namespace amber {

/// @return the bytes; unknown_type for an unregistered element type;
///         invalid_argument for an infinite float or double (CAF 0.17's
///         serializer loops for ever on one).
result<std::string> encode_message(caf::actor_system& sys, const caf::message& msg);

/// @return the message; corruption when the bytes do not decode, hold an
///         infinity (never written) or have trailing bytes; unknown_type for
///         an element type named in the bytes that this program lacks.
result<caf::message> decode_message(caf::actor_system& sys, std::string_view bytes);

} // namespace amber
