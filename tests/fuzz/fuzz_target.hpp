#pragma once

// The libFuzzer entry point every harness in tests/fuzz defines. Built with
// -fsanitize=fuzzer (scripts/fuzz.sh) it is driven by libFuzzer; in the
// normal build replay_main.cpp drives it over the seed corpus and the
// regression inputs (ctest fuzz_replay_<harness>).
//
// A harness returns 0 for every input: an input that does not decode must
// give a status, never a crash, a sanitizer report or an exception. A
// property that must hold for the inputs that do decode is checked with
// fuzz_check (an abort, which libFuzzer reports as a crash).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace amber::fuzz {

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

/// Aborts with `what` when `ok` is false.
inline void fuzz_check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz property violated: %s\n", what);
    std::abort();
  }
}

} // namespace amber::fuzz
