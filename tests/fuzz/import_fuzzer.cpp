// `amber import`: an export file (framing, digests, manifest, layers) into
// an empty store. The harness recomputes nothing, so only framing and
// digest checks are reached by random bytes; the seeds (real exports)
// and the dictionary-free mutations of their payloads reach the decoders.

#include <unistd.h>

#include <cstdio>
#include <string>

#include "amber/checkpoint/archive.hpp"
#include "amber/storage/memory_store.hpp"
#include "fuzz_target.hpp"

using namespace amber;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/amber-fuzz-import-" + std::to_string(::getpid());
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f)
    return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  memory_store s;
  auto r = import_snapshot(s, path);
  if (!r && r.error().code() == errc::invalid_argument) {
    // A cluster export: check it against no member stores.
    (void) import_cluster_snapshot({}, path);
  }
  if (r) {
    fuzz::fuzz_check(s.get_manifest(r->id, nullptr).is_ok(), "an import stores its manifest");
  }
  return 0;
}
