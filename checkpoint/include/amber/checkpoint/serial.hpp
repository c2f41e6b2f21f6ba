#pragma once

// Boost.Serialization to and from byte strings.
//
// `encode_into` appends Boost's binary archive format to a caller's
// std::string; `decode` reads it back. Both use amber's own archives
// (string_archive.hpp), which write and read exactly the bytes of
// boost::archive::binary_oarchive/binary_iarchive without their per-call
// std::locale and without a stream: reusing one buffer across calls (clear,
// then `encode_into`) costs no allocation once it is large enough.
//
// `decode` turns every exception on bad input into a corruption status, and
// refuses bytes that do not start with a binary archive's header before the
// archive reads them (the header is a length-prefixed string, so any other
// bytes would first be taken for a length).
// Every length prefix (strings, collection counts) is checked against the
// bytes that remain before anything is allocated for it (string_archive.hpp),
// so hostile bytes — digests can be forged — give a corruption status, never
// a gigabyte allocation.
//
// Thread-safety: free functions on the caller's values; safe from any thread.

#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <boost/archive/basic_archive.hpp>

#include "amber/checkpoint/string_archive.hpp"
#include "amber/storage/status.hpp"

namespace amber {

/// Serializes `value` with Boost.Serialization's binary archive, appending to
/// `*out` and reusing its capacity. On an exception (bad_alloc, or one a
/// `serialize` throws) `*out` may hold a partial encoding past its old size.
template <class T>
void encode_into(const T& value, std::string* out) {
  detail::string_oarchive ar(*out);
  ar << value;
}

/// The encoding of `value` in a fresh string.
template <class T>
std::string encode(const T& value) {
  std::string out;
  out.reserve(128); // The archive header alone is ~40 bytes.
  encode_into(value, &out);
  return out;
}

namespace detail {

/// True when `bytes` start as every binary archive does: the length of
/// Boost's signature as a size_t, then the signature.
inline bool has_archive_header(std::string_view bytes) {
  const char* signature = boost::archive::BOOST_ARCHIVE_SIGNATURE();
  std::size_t length = std::strlen(signature);
  // The library version byte follows the signature: Boost reads a missing
  // one as EOF (-1) and asserts on it in debug builds, so require it here.
  if (bytes.size() < sizeof(length) + length + 1)
    return false;
  std::size_t stored = 0;
  std::memcpy(&stored, bytes.data(), sizeof(stored));
  return stored == length && bytes.substr(sizeof(length), length) == signature;
}

} // namespace detail

/// Deserializes `bytes` into `*value`.
/// @return ok, or corruption naming `what` when the bytes do not decode or
///         are not consumed to the end.
/// @note Boost reads a class version newer than the binary's without an
///       error (its check is compiled out since 1.3x): the caller compares
///       versions (registry::decode_state does for a state's top class).
template <class T>
status decode(std::string_view bytes, T* value, const std::string& what) {
  if (!detail::has_archive_header(bytes))
    return status::corruption(what + " does not decode: not a Boost binary archive");
  try {
    detail::view_iarchive ar(bytes);
    ar >> *value;
    if (!ar.at_end())
      return status::corruption(what + " has trailing bytes after its content");
    return status::ok();
  } catch (const std::exception& e) {
    return status::corruption(what + " does not decode: " + e.what());
  }
}

/// Serializes a std::optional<T> (Boost 1.74 has no std::optional support).
/// The presence flag is one byte, 0 or 1. It is read as uint8_t, not bool:
/// Boost loads a bool by copying the byte in (undefined behaviour for other
/// values, and a BOOST_ASSERT abort in debug builds), so a corrupt flag must
/// be checked before it becomes a bool.
template <class Archive, class T>
void serialize_optional(Archive& ar, std::optional<T>& value) {
  uint8_t present = value.has_value() ? 1 : 0;
  T content = present ? *value : T{};
  ar& present;
  if constexpr (Archive::is_loading::value) {
    if (present > 1)
      throw std::runtime_error("optional presence flag is " + std::to_string(present)
                               + ", not 0 or 1");
  }
  ar& content;
  if constexpr (Archive::is_loading::value) {
    if (present)
      value = std::move(content);
    else
      value.reset();
  }
}

} // namespace amber
