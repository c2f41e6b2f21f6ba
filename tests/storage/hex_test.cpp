// hex.hpp: byte strings to lowercase hex and back.

#include "amber/storage/hex.hpp"

#include <doctest/doctest.h>

#include <string>

using amber::errc;
using amber::from_hex;
using amber::to_hex;

TEST_CASE("to_hex writes two lowercase digits per byte") {
  CHECK(to_hex("") == "");
  CHECK(to_hex(std::string("\x00", 1)) == "00");
  CHECK(to_hex("\x01\xab\xff") == "01abff");
  CHECK(to_hex("AZ") == "415a");
}

TEST_CASE("every byte value survives a hex round trip") {
  std::string all;
  for (int i = 0; i < 256; ++i)
    all += static_cast<char>(i);
  auto hex = to_hex(all);
  CHECK(hex.size() == 512);
  auto back = from_hex(hex);
  REQUIRE(back);
  CHECK(*back == all);
}

TEST_CASE("from_hex accepts upper and lower case and the empty string") {
  auto upper = from_hex("01ABff");
  REQUIRE(upper);
  CHECK(*upper == "\x01\xab\xff");
  auto empty = from_hex("");
  REQUIRE(empty);
  CHECK(empty->empty());
}

TEST_CASE("from_hex rejects an odd length") {
  for (const char* text : {"0", "abc", "00112"}) {
    CAPTURE(text);
    auto r = from_hex(text);
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == errc::invalid_argument);
    CHECK(r.error().message().find("odd") != std::string::npos);
  }
}

TEST_CASE("from_hex rejects characters that are not hex digits") {
  for (const char* text : {"zz", "0g", "g0", "0x12", " 1", "12 ", "-1", "1\n"}) {
    CAPTURE(text);
    auto r = from_hex(text);
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == errc::invalid_argument);
  }
  auto nul = from_hex(std::string("0\0", 2));
  CHECK_FALSE(nul);
}
