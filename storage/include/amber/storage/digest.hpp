#pragma once

// SHA-256 content ids.
//
// A `digest` names a blob or a manifest by the SHA-256 of its bytes and prints
// as 64 lowercase hex digits. Hashing uses OpenSSL's EVP interface (SHA-NI
// where the CPU has it); `sha256_all` spreads a large batch over threads, so
// a checkpoint can hash its blobs before, and outside, its write transaction.
//
// Thread-safety: plain values and free functions; safe from any thread.

#include <array>
#include <cstring>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

  /// 32 one-byte values. A binary archive takes them in one call (the same
  /// bytes, at a fraction of the cost: a checkpoint encodes one digest per
  /// component); other archives get them one by one.
  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    if constexpr (Archive::is_saving::value && has_save_binary<Archive>(0))
      ar.save_binary(bytes.data(), bytes.size());
    else if constexpr (Archive::is_loading::value && has_load_binary<Archive>(0))
      ar.load_binary(bytes.data(), bytes.size());
    else
      for (auto& b : bytes)
        ar& b;
  }

private:
  template <class Archive>
  static constexpr auto has_save_binary(int)
    -> decltype(std::declval<Archive&>().save_binary(std::declval<const void*>(), size_t{}),
                bool()) {
    return true;
  }
  template <class Archive>
  static constexpr bool has_save_binary(...) {
    return false;
  }
  template <class Archive>
  static constexpr auto has_load_binary(int)
    -> decltype(std::declval<Archive&>().load_binary(std::declval<void*>(), size_t{}), bool()) {
    return true;
  }
  template <class Archive>
  static constexpr bool has_load_binary(...) {
    return false;
  }
};

/// The SHA-256 of `bytes`.
digest sha256(std::string_view bytes);

/// Above this many bytes in total, `sha256_all` hashes on several threads.
constexpr uint64_t parallel_hash_threshold = uint64_t{4} << 20;

/// The SHA-256 of each of `blobs`, in input order. When they total more than
/// `parallel_hash_threshold` bytes, they are split into contiguous runs of
/// about equal size, hashed on up to `max_threads` threads (0: as many as
/// std::thread::hardware_concurrency(); the calling thread is one of them);
/// otherwise, or when no thread can be started, on the calling thread. One
/// blob is always hashed by one thread. The views must stay valid during the
/// call only.
std::vector<digest> sha256_all(const std::vector<std::string_view>& blobs,
                               unsigned max_threads = 0);

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
