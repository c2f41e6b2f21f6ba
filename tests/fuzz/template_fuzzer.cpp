// The template expander of graph files (`{i * 7 % 4}`). Input: 8 bytes of
// the index (little-endian), 1 byte has_index, then the template text.

#include <cstring>

#include "fuzz_target.hpp"
#include "graph_file.hpp"

using namespace amber;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 9)
    return 0;
  int64_t i = 0;
  std::memcpy(&i, data, sizeof(i));
  bool has_index = (data[8] & 1) != 0;
  auto text = fuzz::as_text(data + 9, size - 9);
  auto r = cli::expand_template(text, i, has_index);
  if (r && text.find_first_of("{}") == std::string_view::npos)
    fuzz::fuzz_check(*r == text, "text without braces expands to itself");
  return 0;
}
