#include "amber/runtime/message_codec.hpp"

#include <vector>

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

namespace amber {

result<std::string> encode_message(caf::actor_system& sys, const caf::message& msg) {
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  if (auto err = msg.save(sink))
    return status(errc::unknown_type, "cannot serialize message " + caf::to_string(msg)
                                        + ": " + sys.render(err)
                                        + " (is every type in it registered?)");
  return std::string(buf.begin(), buf.end());
}

result<caf::message> decode_message(caf::actor_system& sys, std::string_view bytes) {
  caf::binary_deserializer source{sys, bytes.data(), bytes.size()};
  caf::message msg;
  if (auto err = msg.load(source))
    return status::corruption("a recorded message does not decode: " + sys.render(err));
  if (source.remaining() != 0)
    return status::corruption("a recorded message has " + std::to_string(source.remaining())
                              + " trailing bytes");
  return msg;
}

} // namespace amber
