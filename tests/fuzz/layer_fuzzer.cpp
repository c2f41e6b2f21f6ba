// One layer decoder, chosen at compile time by AMBER_FUZZ_LAYER (model,
// cache, world, effects or trace): `decode` of that layer's index record. A
// record that decodes encodes to bytes that decode to the same encoding.

#include "amber/checkpoint/layers.hpp"
#include "amber/checkpoint/model.hpp"
#include "amber/checkpoint/serial.hpp"
#include "fuzz_target.hpp"

using namespace amber;

#define AMBER_LAYER_TYPE_(name) name##_layer
#define AMBER_LAYER_TYPE(name) AMBER_LAYER_TYPE_(name)
using layer_type = AMBER_LAYER_TYPE(AMBER_FUZZ_LAYER);

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  layer_type value;
  if (decode(fuzz::as_text(data, size), &value, "layer").is_ok()) {
    auto bytes = encode(value);
    layer_type again;
    fuzz::fuzz_check(decode(bytes, &again, "layer").is_ok(), "a decoded layer re-encodes");
    fuzz::fuzz_check(encode(again) == bytes, "a layer's encoding is stable");
  }
  return 0;
}
