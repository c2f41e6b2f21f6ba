#include "amber/storage/digest.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

using amber::digest;
using amber::errc;
using amber::is_hex_prefix;
using amber::sha256;

namespace {

digest counting_digest() {
  digest d;
  for (size_t i = 0; i < digest::size; ++i)
    d.bytes[i] = static_cast<uint8_t>(i * 8 + 1);
  return d;
}

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

} // namespace

TEST_CASE("sha256 matches the published test vectors") {
  CHECK(sha256("abc").to_hex()
        == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256("").to_hex()
        == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq").to_hex()
        == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(sha256(std::string(1000000, 'a')).to_hex()
        == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("sha256 hashes embedded zero bytes instead of stopping at them") {
  std::string with_nul("ab\0c", 4);
  CHECK(sha256(with_nul) != sha256("ab"));
  CHECK(sha256(with_nul) != sha256(std::string("ab\0d", 4)));
  CHECK(sha256(with_nul) == sha256(std::string("ab\0c", 4)));
}

TEST_CASE("a default digest is all zero and a real hash is not") {
  digest d;
  CHECK(d.is_zero());
  CHECK(d.to_hex() == std::string(64, '0'));
  CHECK_FALSE(sha256("abc").is_zero());
  digest last_byte;
  last_byte.bytes[31] = 1;
  CHECK_FALSE(last_byte.is_zero());
}

TEST_CASE("to_hex prints 64 lowercase digits, high nibble first") {
  digest d;
  d.bytes[0] = 0xab;
  d.bytes[1] = 0x0f;
  d.bytes[31] = 0xf0;
  std::string hex = d.to_hex();
  CHECK(hex.size() == 64);
  CHECK(hex.substr(0, 4) == "ab0f");
  CHECK(hex.substr(60) == "00f0");
  for (char c : sha256("x").to_hex())
    CHECK(((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')));
}

TEST_CASE("a digest survives a round trip through hex") {
  for (const digest& d : {counting_digest(), sha256("abc"), sha256(""), digest{}}) {
    auto back = digest::from_hex(d.to_hex());
    REQUIRE(back.ok());
    CHECK(*back == d);
  }
}

TEST_CASE("from_hex accepts upper case digits") {
  digest d = sha256("abc");
  auto back = digest::from_hex(upper(d.to_hex()));
  REQUIRE(back.ok());
  CHECK(*back == d);
}

TEST_CASE("from_hex rejects a string that is not exactly 64 digits long") {
  std::string hex = sha256("abc").to_hex();
  for (std::string bad : {std::string(), hex.substr(0, 63), hex + "0", hex.substr(0, 12),
                          hex + hex}) {
    CAPTURE(bad);
    auto r = digest::from_hex(bad);
    CHECK_FALSE(r.ok());
    CHECK(r.error().code() == errc::invalid_argument);
  }
}

TEST_CASE("from_hex rejects a non-hex character anywhere in the string") {
  std::string hex = sha256("abc").to_hex();
  for (size_t pos : {size_t{0}, size_t{1}, size_t{31}, size_t{62}, size_t{63}}) {
    for (char c : {'g', 'G', 'z', ' ', '-', 'x', '\0'}) {
      std::string bad = hex;
      bad[pos] = c;
      CAPTURE(pos);
      CAPTURE(c);
      auto r = digest::from_hex(bad);
      CHECK_FALSE(r.ok());
      CHECK(r.error().code() == errc::invalid_argument);
    }
  }
}

TEST_CASE("from_hex names the offending text in its error") {
  auto r = digest::from_hex("nothex");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message().find("nothex") != std::string::npos);
}

TEST_CASE("from_raw takes exactly 32 bytes and calls anything else corruption") {
  digest d = counting_digest();
  auto back = digest::from_raw(d.raw());
  REQUIRE(back.ok());
  CHECK(*back == d);
  CHECK(d.raw().size() == 32);
  CHECK(std::string(d.raw()).substr(0, 2) == std::string("\x01\x09", 2));

  std::string raw(d.raw());
  for (std::string bad : {std::string(), raw.substr(0, 31), raw + "x"}) {
    auto r = digest::from_raw(bad);
    CHECK_FALSE(r.ok());
    CHECK(r.error().code() == errc::corruption);
  }
}

TEST_CASE("short_hex is a prefix of the full hex") {
  digest d = sha256("abc");
  CHECK(d.short_hex() == "ba7816bf8f01");
  CHECK(d.short_hex(4) == "ba78");
  CHECK(d.short_hex(64) == d.to_hex());
  CHECK(d.short_hex(100) == d.to_hex());
}

TEST_CASE("digests order by their bytes like their hex and hash consistently") {
  digest a = sha256("a"), b = sha256("b"), c = sha256("c");
  std::set<digest> ordered{a, b, c};
  std::string previous;
  for (const digest& d : ordered) {
    CHECK(previous < d.to_hex());
    previous = d.to_hex();
  }
  CHECK(a == sha256("a"));
  CHECK(a != b);
  CHECK_FALSE(a < a);
  CHECK(((a < b) != (b < a)));

  std::unordered_set<digest> set{a, b, c, sha256("a")};
  CHECK(set.size() == 3);
  CHECK(std::hash<digest>{}(a) == std::hash<digest>{}(sha256("a")));
}

TEST_CASE("is_hex_prefix accepts 1 to 64 hex digits of either case") {
  CHECK(is_hex_prefix("a"));
  CHECK(is_hex_prefix("0"));
  CHECK(is_hex_prefix("ba7816"));
  CHECK(is_hex_prefix("BA7816"));
  CHECK(is_hex_prefix("0123456789abcdefABCDEF"));
  CHECK(is_hex_prefix(sha256("abc").to_hex()));
}

TEST_CASE("is_hex_prefix rejects empty, too long and non-hex text") {
  CHECK_FALSE(is_hex_prefix(""));
  CHECK_FALSE(is_hex_prefix(sha256("abc").to_hex() + "0"));
  CHECK_FALSE(is_hex_prefix("main"));
  CHECK_FALSE(is_hex_prefix("abcg"));
  CHECK_FALSE(is_hex_prefix("ab cd"));
  CHECK_FALSE(is_hex_prefix("nodes/bank/head"));
  CHECK_FALSE(is_hex_prefix(std::string("ab\0", 3)));
}

TEST_CASE("sha256_all hashes each blob in input order, on one thread or several") {
  // Small: the calling thread; large (> 4 MiB, uneven sizes): several threads.
  std::vector<std::string> small = {"a", "", "bc", "a"};
  std::vector<std::string> large;
  for (int i = 0; i < 40; ++i)
    large.push_back(std::string(static_cast<size_t>(i % 7) * 50'000 + static_cast<size_t>(i),
                                static_cast<char>('a' + i % 26)));
  large.push_back(std::string(3 << 20, 'z')); // One blob bigger than a share.
  large.push_back("");
  for (auto* blobs : {&small, &large}) {
    std::vector<std::string_view> views(blobs->begin(), blobs->end());
    for (unsigned threads : {0u, 1u, 2u, 3u, 64u}) {
      CAPTURE(blobs->size());
      CAPTURE(threads);
      auto ids = amber::sha256_all(views, threads);
      REQUIRE(ids.size() == blobs->size());
      for (size_t i = 0; i < ids.size(); ++i)
        REQUIRE(ids[i] == sha256((*blobs)[i]));
    }
  }
  CHECK(amber::sha256_all({}).empty());
}
