#pragma once

// The Boost archives behind serial.hpp: Boost's binary archive format,
// written straight into a std::string and read straight out of a byte range.
//
// Why not boost::archive::binary_oarchive over a streambuf: in Boost 1.74
// its primitive layer builds a std::locale (a copy of every facet, plus one)
// in every constructor, whatever the flags (`no_codecvt` only skips the
// imbue), and sends every value through a virtual streambuf call. For a
// small component state that was ~70 % of an encode. These archives derive
// from the same `basic_binary_oarchive`/`basic_binary_iarchive` (which write
// and read the header, class ids, versions and tracking) and replace only
// the primitive layer, byte for byte: `binary_iarchive` reads what
// `string_oarchive` writes and `view_iarchive` reads what `binary_oarchive`
// wrote (tests/checkpoint/serial_test.cpp checks both against fixtures).
//
// The reader is stricter than Boost's on bad input: a read past the end, a
// string longer than the bytes left, a collection claiming more elements
// than bytes left, or a bool other than 0 or 1 throws an archive_exception
// instead of allocating or producing an invalid bool. Boost reserves or
// resizes a collection for its stored count before it reads an element, so
// without the count check a 4 KB blob could make it allocate gigabytes.
// Each element of a collection takes at least one byte in an archive —
// except elements whose `serialize` writes nothing, whose collections are
// refused past that count (no amber record has such elements). The bucket
// count Boost stores for an unordered container is only a hint: it is cut
// to the element count instead of being refused (an emptied map keeps its
// buckets, so a sound archive may claim many).
//
// Use them through `encode_into` and `decode` (serial.hpp). Their template
// members are instantiated for these archives in checkpoint/src/string_archive.cpp.
//
// Thread-safety: an archive is used by one thread; the output string and
// input bytes must outlive it.

#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <streambuf>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include <boost/archive/archive_exception.hpp>
#include <boost/archive/basic_binary_iarchive.hpp>
#include <boost/archive/basic_binary_oarchive.hpp>
#include <boost/archive/detail/register_archive.hpp>
#include <boost/serialization/array_optimization.hpp>
#include <boost/serialization/array_wrapper.hpp>
#include <boost/serialization/collection_size_type.hpp>
#include <boost/serialization/is_bitwise_serializable.hpp>
#include <boost/serialization/unordered_map.hpp>
#include <boost/serialization/unordered_set.hpp>

namespace amber::detail {

/// Appends a binary archive to a std::string. The constructor writes the
/// header; every later `<<` appends. On an exception the string may hold a
/// partial encoding past its old size.
class string_oarchive final : public boost::archive::basic_binary_oarchive<string_oarchive> {
  using base = boost::archive::basic_binary_oarchive<string_oarchive>;
  friend class boost::archive::detail::interface_oarchive<string_oarchive>;
  friend class boost::archive::detail::common_oarchive<string_oarchive>;
  friend class boost::archive::basic_binary_oarchive<string_oarchive>;
  friend class boost::archive::save_access;

public:
  explicit string_oarchive(std::string& out) : base(0), out_(out) {
    base::init(); // Signature and library version.
    // What basic_binary_oprimitive::init writes: native sizes and an
    // endianness probe, which binary_iarchive checks.
    save(static_cast<unsigned char>(sizeof(int)));
    save(static_cast<unsigned char>(sizeof(long)));
    save(static_cast<unsigned char>(sizeof(float)));
    save(static_cast<unsigned char>(sizeof(double)));
    save(int(1));
  }

  void save_binary(const void* address, std::size_t count) {
    out_.append(static_cast<const char*>(address), count);
  }

  /// Arrays of bitwise-serializable values are written with one append.
  struct use_array_optimization {
    template <class T>
    struct apply : boost::serialization::is_bitwise_serializable<T> {};
  };
  template <class T>
  void save_array(const boost::serialization::array_wrapper<T>& a, unsigned) {
    save_binary(a.address(), a.count() * sizeof(T));
  }

private:
  template <class T>
  void save_override(T& t) {
    base::save_override(t);
  }
  template <class T>
  void save(const T& t) {
    save_binary(&t, sizeof(T));
  }
  void save(const std::string& s) {
    std::size_t length = s.size();
    save(length);
    save_binary(s.data(), length);
  }
  // As basic_binary_oprimitive: the length in characters, then the bytes.
  void save(const std::wstring& s) {
    std::size_t length = s.size();
    save(length);
    save_binary(s.data(), length * sizeof(wchar_t));
  }

  std::string& out_;
};

/// The byte range a view_iarchive reads, as a streambuf because
/// basic_binary_iarchive::init reads the library version through `m_sb`.
/// Never writes to the bytes.
class view_streambuf final : public std::streambuf {
public:
  explicit view_streambuf(std::string_view bytes) {
    char* first = const_cast<char*>(bytes.data());
    setg(first, first, first + bytes.size());
  }
  std::size_t remaining() const { return static_cast<std::size_t>(egptr() - gptr()); }
  /// The next `count` bytes, consumed; throws when fewer are left.
  const char* take(std::size_t count) {
    if (count > remaining())
      throw boost::archive::archive_exception(boost::archive::archive_exception::input_stream_error,
                                              "read past the end of the bytes");
    char* at = gptr();
    setg(eback(), at + count, egptr());
    return at;
  }
};

/// Reads a binary archive from a byte range it does not own. The
/// constructor reads and checks the header (throwing archive_exception).
class view_iarchive final : public boost::archive::basic_binary_iarchive<view_iarchive> {
  using base = boost::archive::basic_binary_iarchive<view_iarchive>;
  friend class boost::archive::detail::interface_iarchive<view_iarchive>;
  friend class boost::archive::detail::common_iarchive<view_iarchive>;
  friend class boost::archive::basic_binary_iarchive<view_iarchive>;
  friend class boost::archive::load_access;

public:
  explicit view_iarchive(std::string_view bytes) : base(0), m_sb(bytes) {
    base::init(); // Signature and library version.
    // basic_binary_iprimitive::init's checks.
    const char* what[] = {"size of int", "size of long", "size of float", "size of double"};
    const unsigned char sizes[] = {sizeof(int), sizeof(long), sizeof(float), sizeof(double)};
    for (int i = 0; i < 4; ++i) {
      unsigned char size = 0;
      load(size);
      if (size != sizes[i])
        incompatible(what[i]);
    }
    int one = 0;
    load(one);
    if (one != 1)
      incompatible("endian setting");
  }

  /// True when every byte has been read.
  bool at_end() const { return m_sb.remaining() == 0; }

  /// The next collection is an unordered container: its element count is
  /// followed by a bucket count, which is a hint (see the file comment).
  void next_collection_is_unordered() { unordered_ = unordered_step::count; }

  void load_binary(void* address, std::size_t count) {
    std::memcpy(address, m_sb.take(count), count);
  }

  struct use_array_optimization {
    template <class T>
    struct apply : boost::serialization::is_bitwise_serializable<T> {};
  };
  template <class T>
  void load_array(boost::serialization::array_wrapper<T>& a, unsigned) {
    load_binary(a.address(), a.count() * sizeof(T));
  }

private:
  [[noreturn]] static void refuse(const std::string& what) {
    throw boost::archive::archive_exception(boost::archive::archive_exception::input_stream_error,
                                            what.c_str());
  }
  [[noreturn]] static void incompatible(const char* what) {
    throw boost::archive::archive_exception(
      boost::archive::archive_exception::incompatible_native_format, what);
  }
  template <class T>
  void load_override(T& t) {
    base::load_override(t);
  }
  // Boost allocates for this count before reading any element.
  void load_override(boost::serialization::collection_size_type& t) {
    base::load_override(t);
    std::size_t n = t;
    if (unordered_ == unordered_step::buckets) {
      unordered_ = unordered_step::none;
      t = boost::serialization::collection_size_type(std::min(n, unordered_count_));
      return;
    }
    if (n > m_sb.remaining())
      refuse("a collection claims " + std::to_string(n) + " elements, but only "
             + std::to_string(m_sb.remaining()) + " bytes remain");
    if (unordered_ == unordered_step::count) {
      unordered_ = unordered_step::buckets;
      unordered_count_ = n;
    }
  }
  template <class T>
  void load(T& t) {
    load_binary(&t, sizeof(T));
  }
  void load(bool& t) {
    unsigned char byte = 0;
    load_binary(&byte, 1);
    if (byte > 1)
      throw boost::archive::archive_exception(boost::archive::archive_exception::input_stream_error,
                                              "a bool that is neither 0 nor 1");
    t = byte == 1;
  }
  void load(std::string& s) {
    std::size_t length = 0;
    load(length);
    s.assign(m_sb.take(length), length); // take() throws before any allocation.
  }
  void load(std::wstring& s) {
    std::size_t length = 0;
    load(length);
    if (length > m_sb.remaining() / sizeof(wchar_t))
      refuse("a wide string claims " + std::to_string(length) + " characters, but only "
             + std::to_string(m_sb.remaining()) + " bytes remain");
    s.resize(length);
    load_binary(s.data(), length * sizeof(wchar_t));
  }

  enum class unordered_step { none, count, buckets };

  view_streambuf m_sb; // The name basic_binary_iarchive::init uses.
  unordered_step unordered_ = unordered_step::none;
  std::size_t unordered_count_ = 0;
};

// Found by argument-dependent lookup from Boost's split_free, and more
// specialized than Boost's own overloads: they mark the collection as
// unordered, then load it as Boost does.
template <class K, class T, class H, class E, class A>
void load(view_iarchive& ar, std::unordered_map<K, T, H, E, A>& t, const unsigned int version) {
  ar.next_collection_is_unordered();
  boost::serialization::load(ar, t, version);
}
template <class K, class T, class H, class E, class A>
void load(view_iarchive& ar, std::unordered_multimap<K, T, H, E, A>& t,
          const unsigned int version) {
  ar.next_collection_is_unordered();
  boost::serialization::load(ar, t, version);
}
template <class K, class H, class E, class A>
void load(view_iarchive& ar, std::unordered_set<K, H, E, A>& t, const unsigned int version) {
  ar.next_collection_is_unordered();
  boost::serialization::load(ar, t, version);
}
template <class K, class H, class E, class A>
void load(view_iarchive& ar, std::unordered_multiset<K, H, E, A>& t,
          const unsigned int version) {
  ar.next_collection_is_unordered();
  boost::serialization::load(ar, t, version);
}

} // namespace amber::detail

BOOST_SERIALIZATION_REGISTER_ARCHIVE(amber::detail::string_oarchive)
BOOST_SERIALIZATION_USE_ARRAY_OPTIMIZATION(amber::detail::string_oarchive)
BOOST_SERIALIZATION_REGISTER_ARCHIVE(amber::detail::view_iarchive)
BOOST_SERIALIZATION_USE_ARRAY_OPTIMIZATION(amber::detail::view_iarchive)
