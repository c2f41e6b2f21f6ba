#pragma once

// Boost.Serialization to and from byte strings.
//
// `encode` writes a binary archive straight into a std::string (no
// ostringstream: that is ~15x slower, see shared/NOTES.md). `decode` turns
// every exception Boost throws on bad input into a corruption status, and
// refuses bytes that do not start with a binary archive's header before Boost
// reads them (Boost reads that header as a length-prefixed string, so any
// other bytes would first be taken for an allocation size).
// REQUIRES: bytes handed to `decode` come from a digest-checked read: past the
// header Boost trusts length prefixes, and a corrupt one can make it allocate
// gigabytes.

#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <boost/iostreams/device/array.hpp>
#include <boost/iostreams/device/back_inserter.hpp>
#include <boost/iostreams/stream.hpp>

#include "amber/storage/status.hpp"

namespace amber {

/// Serializes `value` with Boost.Serialization's binary archive, appending to `*out`.
template <class T>
void encode_into(const T& value, std::string* out) {
  boost::iostreams::back_insert_device<std::string> sink(*out);
  boost::iostreams::stream<boost::iostreams::back_insert_device<std::string>> os(sink);
  {
    boost::archive::binary_oarchive ar(os);
    ar << value;
  }
  os.flush();
}

template <class T>
std::string encode(const T& value) {
  std::string out;
  encode_into(value, &out);
  return out;
}

namespace detail {

/// True when `bytes` start as every binary archive does: the length of
/// Boost's signature as a size_t, then the signature.
inline bool has_archive_header(std::string_view bytes) {
  const char* signature = boost::archive::BOOST_ARCHIVE_SIGNATURE();
  std::size_t length = std::strlen(signature);
  if (bytes.size() < sizeof(length) + length)
    return false;
  std::size_t stored = 0;
  std::memcpy(&stored, bytes.data(), sizeof(stored));
  return stored == length && bytes.substr(sizeof(length), length) == signature;
}

} // namespace detail

/// Deserializes `bytes` into `*value`.
/// @return ok, or corruption naming `what` when the bytes do not decode or
///         are not consumed to the end.
template <class T>
status decode(std::string_view bytes, T* value, const std::string& what) {
  if (!detail::has_archive_header(bytes))
    return status::corruption(what + " does not decode: not a Boost binary archive");
  try {
    boost::iostreams::array_source source(bytes.data(), bytes.size());
    boost::iostreams::stream<boost::iostreams::array_source> is(source);
    boost::archive::binary_iarchive ar(is);
    ar >> *value;
    if (is.peek() != std::char_traits<char>::eof())
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
