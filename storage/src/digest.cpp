#include "amber/storage/digest.hpp"

#include <openssl/evp.h>

namespace amber {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

} // namespace

std::string digest::to_hex() const {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(size * 2, '0');
  for (size_t i = 0; i < size; ++i) {
    out[2 * i] = digits[bytes[i] >> 4];
    out[2 * i + 1] = digits[bytes[i] & 0x0f];
  }
  return out;
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
  digest out;
  for (size_t i = 0; i < size; ++i) {
    int hi = hex_value(hex[2 * i]);
    int lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return status::invalid_argument("snapshot id '" + std::string(hex)
                                      + "' has a non-hex character");
    out.bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
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
    if (hex_value(c) < 0)
      return false;
  return true;
}

} // namespace amber
