#pragma once

// SHA-256 content ids.
//
// A `digest` names a blob or a manifest by the SHA-256 of its bytes and prints
// as 64 lowercase hex digits. Hashing uses OpenSSL's EVP interface (SHA-NI
// where the CPU has it).
//
// Thread-safety: plain values and free functions; safe from any thread.

#include <array>
#include <cstring>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "amber/storage/status.hpp"

namespace amber {

struct digest {
  static constexpr size_t size = 32;
  std::array<uint8_t, size> bytes{};

  /// 64 lowercase hex digits.
  std::string to_hex() const;
  /// The first `n` hex digits, for display.
  std::string short_hex(size_t n = 12) const { return to_hex().substr(0, n); }
  /// The raw 32 bytes as a string, the key under which LMDB stores the object.
  std::string_view raw() const {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
  }
  bool is_zero() const;

  /// Parses exactly 64 hex digits (either case).
  static result<digest> from_hex(std::string_view hex);
  /// Takes exactly 32 raw bytes; anything else is corruption.
  static result<digest> from_raw(std::string_view raw);

  friend bool operator==(const digest& a, const digest& b) { return a.bytes == b.bytes; }
  friend bool operator!=(const digest& a, const digest& b) { return a.bytes != b.bytes; }
  friend bool operator<(const digest& a, const digest& b) { return a.bytes < b.bytes; }

  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    for (auto& b : bytes)
      ar& b;
  }
};

/// The SHA-256 of `bytes`.
digest sha256(std::string_view bytes);

/// True when `text` has only hex digits and is 1 to 64 long: a possible short id.
bool is_hex_prefix(std::string_view text);

} // namespace amber

template <>
struct std::hash<amber::digest> {
  size_t operator()(const amber::digest& d) const noexcept {
    size_t h;
    static_assert(sizeof(h) <= amber::digest::size);
    std::memcpy(&h, d.bytes.data(), sizeof(h));
    return h;
  }
};
