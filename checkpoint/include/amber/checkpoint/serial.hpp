#pragma once

// Boost.Serialization to and from byte strings.
//
// `encode` writes a binary archive straight into a std::string (no
// ostringstream: that is ~15x slower, see shared/NOTES.md). `decode` turns
// every exception Boost throws on bad input into a corruption status.
// REQUIRES: bytes handed to `decode` come from a digest-checked read: Boost
// trusts length prefixes, and a corrupt one can make it allocate gigabytes.

#include <optional>
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

/// Deserializes `bytes` into `*value`.
/// @return ok, or corruption naming `what` when the bytes do not decode or
///         are not consumed to the end.
template <class T>
status decode(std::string_view bytes, T* value, const std::string& what) {
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
template <class Archive, class T>
void serialize_optional(Archive& ar, std::optional<T>& value) {
  bool present = value.has_value();
  T content = present ? *value : T{};
  ar& present;
  ar& content;
  if constexpr (Archive::is_loading::value) {
    if (present)
      value = std::move(content);
    else
      value.reset();
  }
}

} // namespace amber
