// decode_message: a caf::message recorded in the trace layer or a timer. A
// message that decodes re-encodes to one that decodes.

#include "amber/runtime/message_codec.hpp"
#include "fuzz_target.hpp"
#include "system.hpp"

using namespace amber;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto& sys = fuzz::system();
  auto msg = decode_message(sys, fuzz::as_text(data, size));
  if (msg) {
    auto bytes = encode_message(sys, *msg);
    fuzz::fuzz_check(bytes.ok(), "a decoded message re-encodes");
    fuzz::fuzz_check(decode_message(sys, *bytes).ok(), "a re-encoded message decodes");
  }
  return 0;
}
