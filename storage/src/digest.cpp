#include "amber/storage/digest.hpp"

#include <cctype>

#include <openssl/evp.h>

#include "amber/storage/hex.hpp"

namespace amber {

std::string digest::to_hex() const {
  return amber::to_hex(raw());
}

bool digest::is_zero() const {
  for (auto b : bytes)
    if (b != 0)
      return false;
  return true;
}

result<digest> digest::from_hex(std::string_view hex) {
  if (hex.size() != size * 2)
    return status::invalid_argument("snapshot id '" + std::string(hex)
                                    + "' is not 64 hex digits");
  auto raw = amber::from_hex(hex);
  if (!raw)
    return status::invalid_argument("snapshot id '" + std::string(hex)
                                    + "' has a non-hex character");
  digest out;
  std::memcpy(out.bytes.data(), raw->data(), size);
  return out;
}

result<digest> digest::from_raw(std::string_view raw) {
  if (raw.size() != size)
    return status::corruption("a stored digest has " + std::to_string(raw.size())
                              + " bytes instead of 32");
  digest out;
  std::memcpy(out.bytes.data(), raw.data(), size);
  return out;
}

digest sha256(std::string_view bytes) {
  digest out;
  unsigned int len = 0;
  // EVP_Digest is one call: no context to leak, and it picks SHA-NI when present.
  EVP_Digest(bytes.data(), bytes.size(), out.bytes.data(), &len, EVP_sha256(), nullptr);
  return out;
}

bool is_hex_prefix(std::string_view text) {
  if (text.empty() || text.size() > digest::size * 2)
    return false;
  for (char c : text)
    if (!std::isxdigit(static_cast<unsigned char>(c)))
      return false;
  return true;
}

} // namespace amber
