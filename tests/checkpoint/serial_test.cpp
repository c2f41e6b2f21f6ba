// serial.hpp: Boost binary encoding to and from strings, and the promise that
// bad bytes come back as corruption instead of a crash.

#include "amber/checkpoint/serial.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <boost/serialization/map.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>

#include "amber/checkpoint/layers.hpp"
#include "amber/checkpoint/model.hpp"
#include "amber/checkpoint/node_config.hpp"

using amber::decode;
using amber::encode;
using amber::encode_into;
using amber::errc;
using amber::status;

namespace {

// A struct with one of everything the layers use.
struct sample {
  std::string name;
  std::map<std::string, std::vector<std::string>> tags;
  std::vector<uint64_t> numbers;
  std::optional<uint64_t> limit;
  std::optional<std::string> note;
  int32_t signed_value = 0;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& name& tags& numbers;
    amber::serialize_optional(ar, limit);
    amber::serialize_optional(ar, note);
    ar& signed_value;
  }
};

sample full_sample() {
  sample s;
  s.name = std::string("na\0me", 5);
  s.tags = {{"a", {"x", "y"}}, {"b", {}}, {"", {std::string(300, 'z')}}};
  s.numbers = {0, 1, UINT64_MAX};
  s.limit = 0;
  s.note = "";
  s.signed_value = -7;
  return s;
}

void check_same(const sample& a, const sample& b) {
  CHECK(a.name == b.name);
  CHECK(a.tags == b.tags);
  CHECK(a.numbers == b.numbers);
  CHECK(a.limit == b.limit);
  CHECK(a.note == b.note);
  CHECK(a.signed_value == b.signed_value);
}

// The position of `needle` in `hay`; fails the test when it is absent.
size_t find_bytes(const std::string& hay, const std::string& needle) {
  auto pos = hay.find(needle);
  REQUIRE(pos != std::string::npos);
  return pos;
}

} // namespace

TEST_CASE("a struct with strings, maps, vectors and set optionals survives a round trip") {
  auto in = full_sample();
  auto bytes = encode(in);
  sample out;
  REQUIRE(decode(bytes, &out, "sample") == status::ok());
  check_same(in, out);
}

TEST_CASE("unset optionals decode as unset, even over a value that was there before") {
  sample in;
  in.name = "empty";
  auto bytes = encode(in);
  sample out = full_sample();
  REQUIRE(decode(bytes, &out, "sample").is_ok());
  CHECK_FALSE(out.limit.has_value());
  CHECK_FALSE(out.note.has_value());
  CHECK(out.tags.empty());
  CHECK(out.numbers.empty());
  CHECK(out.name == "empty");
}

TEST_CASE("a set optional holding zero is told apart from an unset one") {
  sample zero;
  zero.limit = 0;
  sample unset;
  CHECK(encode(zero) != encode(unset));
}

TEST_CASE("encoding is deterministic") {
  CHECK(encode(full_sample()) == encode(full_sample()));
  CHECK(encode(amber::model_layer{}) == encode(amber::model_layer{}));
}

TEST_CASE("encode_into appends to what the string already holds") {
  std::string out = "prefix";
  encode_into(full_sample(), &out);
  REQUIRE(out.size() > 6);
  CHECK(out.compare(0, 6, "prefix") == 0);
  CHECK(out.substr(6) == encode(full_sample()));
}

TEST_CASE("a node config with unset and set optionals survives a round trip") {
  amber::node_config c;
  c.peer_id = std::string("\0\x7f\xff", 3);
  c.max_pending_async = 9;
  c.bus_capacity = 1;
  amber::node_config out;
  out.cycle_op_budget = 5; // Must be reset to unset by the decode.
  REQUIRE(decode(encode(c), &out, "config").is_ok());
  CHECK(out == c);
  CHECK_FALSE(out.cycle_op_budget.has_value());
}

TEST_CASE("every truncation of an encoding is corruption naming what was decoded") {
  auto bytes = encode(full_sample());
  for (size_t len = 0; len < bytes.size(); ++len) {
    CAPTURE(len);
    sample out;
    auto st = decode(std::string_view(bytes).substr(0, len), &out, "the sample");
    REQUIRE(st.code() == errc::corruption);
    CHECK(st.message().find("the sample") != std::string::npos);
  }
}

TEST_CASE("bytes after the encoded value are corruption") {
  auto bytes = encode(full_sample());
  sample out;
  auto st = decode(bytes + "x", &out, "sample");
  CHECK(st.code() == errc::corruption);
  CHECK(st.message().find("trailing") != std::string::npos);
  CHECK(decode(bytes + bytes, &out, "sample").code() == errc::corruption);
  CHECK(decode(bytes + std::string(1, '\0'), &out, "sample").code() == errc::corruption);
}

TEST_CASE("garbage bytes are corruption") {
  sample out;
  CHECK(decode("", &out, "sample").code() == errc::corruption);
  CHECK(decode("hello, world", &out, "sample").code() == errc::corruption);
  CHECK(decode(std::string(64, '\0'), &out, "sample").code() == errc::corruption);
  CHECK(decode(std::string(64, '\xff'), &out, "sample").code() == errc::corruption);
  std::mt19937 rng(42);
  for (int round = 0; round < 500; ++round) {
    std::string junk(rng() % 200, '\0');
    for (auto& c : junk)
      c = static_cast<char>(rng());
    CAPTURE(round);
    REQUIRE(decode(junk, &out, "sample").code() == errc::corruption);
  }
}

TEST_CASE("bytes that do not start with an archive header are corruption before Boost reads them") {
  // Boost would read the first eight bytes as the signature's length and
  // allocate that much; these spell 2^31 and 2^39.
  sample out;
  for (uint64_t length : {uint64_t{1} << 31, uint64_t{1} << 39}) {
    CAPTURE(length);
    std::string bytes(reinterpret_cast<const char*>(&length), sizeof(length));
    bytes += std::string(64, 'x');
    auto st = decode(bytes, &out, "sample");
    CHECK(st.code() == errc::corruption);
    CHECK(st.message().find("not a Boost binary archive") != std::string::npos);
  }
  // A damaged signature in an otherwise valid encoding.
  auto bytes = encode(full_sample());
  auto pos = find_bytes(bytes, "serialization::archive");
  bytes[pos] = 'S';
  CHECK(decode(bytes, &out, "sample").code() == errc::corruption);
}

TEST_CASE("a string length larger than memory is corruption, not a crash") {
  sample in;
  in.name = "MARKER";
  auto bytes = encode(in);
  auto pos = find_bytes(bytes, "MARKER");
  REQUIRE(pos >= sizeof(uint64_t));
  uint64_t length = 0;
  std::memcpy(&length, bytes.data() + pos - sizeof(length), sizeof(length));
  REQUIRE(length == 6); // The length prefix sits right before the characters.
  std::memset(bytes.data() + pos - sizeof(length), 0xff, sizeof(length));
  sample out;
  CHECK(decode(bytes, &out, "sample").code() == errc::corruption);
}

TEST_CASE("an optional's presence flag other than 0 or 1 is corruption") {
  sample in;
  in.limit = 0x1122334455667788;
  auto bytes = encode(in);
  uint64_t value = *in.limit;
  auto pos = find_bytes(bytes, std::string(reinterpret_cast<const char*>(&value), sizeof(value)));
  REQUIRE(pos >= 1);
  REQUIRE(bytes[pos - 1] == 1); // The flag sits right before the value.
  sample out;
  REQUIRE(decode(bytes, &out, "sample").is_ok());
  bytes[pos - 1] = 2;
  auto st = decode(bytes, &out, "sample");
  CHECK(st.code() == errc::corruption);
  bytes[pos - 1] = '\xff';
  CHECK(decode(bytes, &out, "sample").code() == errc::corruption);
}

namespace {

// What Boost's own binary_oarchive writes for `value`.
template <class T>
std::string boost_encode(const T& value) {
  std::ostringstream os(std::ios::binary);
  {
    boost::archive::binary_oarchive ar(os);
    ar << value;
  }
  return os.str();
}

// What Boost's own binary_iarchive reads from `bytes`.
template <class T>
T boost_decode(const std::string& bytes) {
  std::istringstream is(bytes, std::ios::binary);
  boost::archive::binary_iarchive ar(is);
  T out;
  ar >> out;
  return out;
}

struct flag {
  bool value = true;
  uint32_t marker = 0xabcdef01;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& value& marker;
  }
};

amber::cache_layer sample_cache() {
  amber::cache_layer c;
  for (uint32_t i = 1; i <= 3; ++i) {
    amber::component_record r;
    r.instance_id = i;
    r.name = "component-" + std::to_string(i);
    r.type_name = "t";
    r.package = {"p", "1.0.0"};
    r.state = amber::sha256(r.name);
    r.state_size = i;
    c.components.push_back(r);
  }
  return c;
}

} // namespace

TEST_CASE("encode writes the bytes Boost's binary_oarchive writes, and each reads the other") {
  CHECK(encode(full_sample()) == boost_encode(full_sample()));
  check_same(boost_decode<sample>(encode(full_sample())), full_sample());
  sample out;
  REQUIRE(decode(boost_encode(full_sample()), &out, "sample").is_ok());
  check_same(out, full_sample());

  auto cache = sample_cache();
  CHECK(encode(cache) == boost_encode(cache));
  CHECK(encode(amber::model_layer{}) == boost_encode(amber::model_layer{}));
  std::vector<char> bytes(100'000, 'x');
  bytes[7] = '\0';
  CHECK(encode(bytes) == boost_encode(bytes));
  CHECK(boost_decode<std::vector<char>>(encode(bytes)) == bytes);
  std::vector<uint64_t> numbers = {1, 2, UINT64_MAX};
  CHECK(encode(numbers) == boost_encode(numbers));
  amber::digest d = amber::sha256("x");
  CHECK(encode(d) == boost_encode(d));
  CHECK(boost_decode<amber::digest>(encode(d)) == d);
}

TEST_CASE("encode_into reuses the buffer's capacity") {
  std::string buffer;
  encode_into(full_sample(), &buffer);
  auto first = buffer;
  auto capacity = buffer.capacity();
  const char* data = buffer.data();
  for (int i = 0; i < 3; ++i) {
    buffer.clear();
    encode_into(full_sample(), &buffer);
    CHECK(buffer == first);
    CHECK(buffer.capacity() == capacity);
    CHECK(buffer.data() == data);
  }
}

TEST_CASE("a bool stored as anything but 0 or 1 is corruption") {
  auto bytes = encode(flag{});
  uint32_t marker = 0xabcdef01;
  auto pos = find_bytes(bytes, std::string(reinterpret_cast<const char*>(&marker), sizeof(marker)));
  REQUIRE(pos >= 1);
  REQUIRE(bytes[pos - 1] == 1);
  flag out;
  REQUIRE(decode(bytes, &out, "flag").is_ok());
  bytes[pos - 1] = 2;
  CHECK(decode(bytes, &out, "flag").code() == errc::corruption);
}

// Issue 10: counts are checked against the bytes left before Boost
// allocates; sound archives with large counts of another kind still decode.
namespace {

struct unordered_sample {
  std::unordered_map<std::string, int64_t> map;
  std::unordered_set<uint8_t> set;
  std::wstring wide;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& map& set& wide;
  }
};

} // namespace

TEST_CASE("an emptied unordered map keeps its buckets and still decodes") {
  unordered_sample in;
  for (int i = 0; i < 5000; ++i)
    in.map.emplace(std::to_string(i), i);
  in.map.clear(); // Thousands of buckets, no element: the count is a hint.
  for (int i = 0; i < 200; ++i)
    in.set.insert(static_cast<uint8_t>(i));
  in.wide = L"wide \u00e9";
  auto bytes = encode(in);
  REQUIRE(in.map.bucket_count() > bytes.size());
  unordered_sample out;
  REQUIRE(decode(bytes, &out, "sample").is_ok());
  CHECK(out.map.empty());
  CHECK(out.set == in.set);
  CHECK(out.wide == in.wide);
  // Byte for byte what Boost's own binary archive writes.
  std::ostringstream os;
  {
    boost::archive::binary_oarchive oa(os);
    oa << in;
  }
  CHECK(os.str() == bytes);
}

TEST_CASE("a string, wide string or vector longer than the bytes left is corruption") {
  std::vector<uint64_t> numbers(4, 7);
  auto bytes = encode(numbers);
  // The count sits right before the 32 bytes of numbers.
  uint64_t claim = uint64_t{1} << 40;
  std::memcpy(bytes.data() + bytes.size() - 32 - 8, &claim, sizeof(claim));
  std::vector<uint64_t> back;
  status st = decode(bytes, &back, "numbers");
  CHECK(st.code() == errc::corruption);
  CHECK(st.message().find("claims 1099511627776 elements") != std::string::npos);

  std::wstring wide = L"abc";
  auto w = encode(wide);
  std::memcpy(w.data() + w.size() - 3 * sizeof(wchar_t) - 8, &claim, sizeof(claim));
  std::wstring wide_back;
  CHECK(decode(w, &wide_back, "wide").code() == errc::corruption);
}
