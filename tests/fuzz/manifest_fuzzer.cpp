// The manifest decoders (node and cluster manifests, JSON). A manifest that
// decodes encodes to bytes that decode again.

#include "amber/checkpoint/cluster_manifest.hpp"
#include "amber/checkpoint/manifest.hpp"
#include "fuzz_target.hpp"

using namespace amber;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto text = fuzz::as_text(data, size);
  if (is_cluster_manifest(text)) {
    auto c = decode_cluster_manifest(text);
    if (c)
      fuzz::fuzz_check(decode_cluster_manifest(encode_cluster_manifest(*c)).ok(),
                       "a decoded cluster manifest re-encodes to one that decodes");
    return 0;
  }
  auto m = decode_manifest(text);
  if (m) {
    auto again = decode_manifest(encode_manifest(*m));
    fuzz::fuzz_check(again.ok(), "a decoded manifest re-encodes to one that decodes");
    fuzz::fuzz_check(encode_manifest(*again) == encode_manifest(*m),
                     "a manifest's encoding is stable");
  }
  return 0;
}
