// manifest.hpp: canonical JSON out, and a decoder that names what is wrong
// with every kind of bad manifest instead of crashing.

#include "amber/checkpoint/manifest.hpp"

#include <doctest/doctest.h>

#include <cctype>
#include <cstdint>
#include <functional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

using amber::decode_manifest;
using amber::digest;
using amber::encode_manifest;
using amber::errc;
using amber::layer_count;
using amber::layer_kind;
using amber::manifest;
using amber::sha256;
using json = nlohmann::json;

namespace {

manifest sample_manifest() {
  manifest m;
  m.node.name = "bank";
  m.node.peer_id = std::string("\x00\x01\x00\xff\x00", 5);
  m.node.incarnation = 7;
  m.node.runtime_version = "0.1.0";
  m.node.registry_fingerprint = sha256("types");
  for (size_t i = 0; i < layer_count; ++i) {
    auto& l = m.layers[i];
    l.kind = static_cast<layer_kind>(i);
    l.media_type = std::string("application/vnd.amber.layer.") + to_string(l.kind) + ".v1";
    l.index = sha256("index " + std::to_string(i));
    l.blobs = i + 1;
    l.bytes = 1000 * (i + 1);
  }
  m.created_at_ms = 1700000000123;
  m.parents = {sha256("parent a"), sha256("parent b")};
  return m;
}

void check_same(const manifest& a, const manifest& b) {
  CHECK(a.schema_version == b.schema_version);
  CHECK(a.media_type == b.media_type);
  CHECK(a.node.name == b.node.name);
  CHECK(a.node.peer_id == b.node.peer_id);
  CHECK(a.node.incarnation == b.node.incarnation);
  CHECK(a.node.runtime_version == b.node.runtime_version);
  CHECK(a.node.registry_fingerprint == b.node.registry_fingerprint);
  for (size_t i = 0; i < layer_count; ++i) {
    CAPTURE(i);
    CHECK(a.layers[i].kind == b.layers[i].kind);
    CHECK(a.layers[i].media_type == b.layers[i].media_type);
    CHECK(a.layers[i].index == b.layers[i].index);
    CHECK(a.layers[i].blobs == b.layers[i].blobs);
    CHECK(a.layers[i].bytes == b.layers[i].bytes);
  }
  CHECK(a.created_at_ms == b.created_at_ms);
  CHECK(a.parents == b.parents);
}

// The sample manifest as JSON, changed by `edit`, decoded.
amber::result<manifest> decode_edited(const std::function<void(json&)>& edit) {
  auto doc = json::parse(encode_manifest(sample_manifest()));
  edit(doc);
  return decode_manifest(doc.dump());
}

// Checks that `r` failed with `code` and a message holding `text`.
void check_fails(const amber::result<manifest>& r, errc code, const std::string& text) {
  REQUIRE_FALSE(r);
  CHECK(r.error().code() == code);
  CAPTURE(r.error().message());
  CHECK(r.error().message().find(text) != std::string::npos);
}

} // namespace

TEST_CASE("layer kinds print as their names") {
  CHECK(std::string(to_string(layer_kind::model)) == "model");
  CHECK(std::string(to_string(layer_kind::cache)) == "cache");
  CHECK(std::string(to_string(layer_kind::world)) == "world");
  CHECK(std::string(to_string(layer_kind::effects)) == "effects");
  CHECK(std::string(to_string(layer_kind::trace)) == "trace");
}

TEST_CASE("every manifest field survives an encode and decode") {
  auto m = sample_manifest();
  auto decoded = decode_manifest(encode_manifest(m));
  REQUIRE(decoded);
  check_same(m, *decoded);
  CHECK(decoded->node.peer_id.size() == 5);
}

TEST_CASE("a root manifest with empty strings, no peer and a negative time survives a round trip") {
  auto m = sample_manifest();
  m.node.name = "";
  m.node.peer_id = "";
  m.node.runtime_version = "";
  m.node.incarnation = UINT64_MAX;
  m.layers[2].bytes = UINT64_MAX;
  m.created_at_ms = -5;
  m.parents.clear();
  auto decoded = decode_manifest(encode_manifest(m));
  REQUIRE(decoded);
  check_same(m, *decoded);
}

TEST_CASE("a manifest with non-ASCII UTF-8 names survives a round trip") {
  auto m = sample_manifest();
  m.node.name = "z\xc3\xbcrich-\xe2\x82\xac";
  auto decoded = decode_manifest(encode_manifest(m));
  REQUIRE(decoded);
  CHECK(decoded->node.name == m.node.name);
}

TEST_CASE("a node name that is not UTF-8 is encoded without throwing") {
  auto m = sample_manifest();
  m.node.name = "bad\xff\xfename";
  std::string bytes;
  CHECK_NOTHROW(bytes = encode_manifest(m));
  auto decoded = decode_manifest(bytes);
  REQUIRE(decoded);
  CHECK(decoded->node.name.compare(0, 3, "bad") == 0);
  CHECK(decoded->node.incarnation == m.node.incarnation);
}

TEST_CASE("encoding is deterministic and canonical") {
  auto a = encode_manifest(sample_manifest());
  CHECK(a == encode_manifest(sample_manifest()));
  // Keys sorted, no whitespace.
  CHECK(a.compare(0, 17, "{\"created_at_ms\":") == 0);
  CHECK(a.find(' ') == std::string::npos);
  CHECK(a.find('\n') == std::string::npos);
  // Decoding and encoding again gives the same bytes, so the same id.
  auto decoded = decode_manifest(a);
  REQUIRE(decoded);
  CHECK(encode_manifest(*decoded) == a);
  // A different field gives different bytes.
  auto m = sample_manifest();
  m.created_at_ms += 1;
  CHECK(encode_manifest(m) != a);
}

TEST_CASE("the peer id is written as lowercase hex") {
  auto doc = json::parse(encode_manifest(sample_manifest()));
  CHECK(doc["node"]["peer_id"] == "000100ff00");
  CHECK(doc["layers"].size() == layer_count);
  CHECK(doc["layers"][3]["kind"] == "effects");
}

TEST_CASE("every truncation of a valid manifest is corruption") {
  auto bytes = encode_manifest(sample_manifest());
  for (size_t len = 0; len < bytes.size(); ++len) {
    CAPTURE(len);
    auto r = decode_manifest(std::string_view(bytes).substr(0, len));
    REQUIRE_FALSE(r);
    REQUIRE(r.error().code() == errc::corruption);
  }
}

TEST_CASE("garbage and trailing bytes are corruption") {
  for (std::string bad : {std::string(), std::string("not json"), std::string(100, '\0'),
                          std::string("\xff\xfe{"), std::string("{\"a\":"),
                          encode_manifest(sample_manifest()) + "x",
                          encode_manifest(sample_manifest()) + "{}"}) {
    CAPTURE(bad);
    auto r = decode_manifest(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == errc::corruption);
  }
}

TEST_CASE("valid JSON that is not an object is corruption") {
  for (const char* bad : {"[]", "[1,2]", "1", "\"manifest\"", "null", "true"}) {
    CAPTURE(bad);
    check_fails(decode_manifest(bad), errc::corruption, "not a JSON object");
  }
}

TEST_CASE("a missing required field is corruption naming the field") {
  std::vector<std::pair<std::string, std::string>> fields = {
    {"/schema_version", "schema_version"},
    {"/media_type", "media_type"},
    {"/node", "node"},
    {"/node/name", "node.name"},
    {"/node/peer_id", "node.peer_id"},
    {"/node/incarnation", "node.incarnation"},
    {"/node/runtime_version", "node.runtime_version"},
    {"/node/registry_fingerprint", "node.registry_fingerprint"},
    {"/layers", "layers"},
    {"/created_at_ms", "created_at_ms"},
    {"/parents", "parents"},
  };
  for (size_t i = 0; i < layer_count; ++i)
    for (const char* key : {"kind", "media_type", "index", "blobs", "bytes"})
      fields.emplace_back("/layers/" + std::to_string(i) + "/" + key,
                          "layers[" + std::to_string(i) + "]." + key);
  for (auto& field : fields) {
    // Named copies, not a structured binding: lambdas (CAPTURE's too)
    // cannot capture one before C++20 (clang refuses).
    const auto& pointer = field.first;
    const auto& name = field.second;
    CAPTURE(pointer);
    auto r = decode_edited([&](json& doc) {
      auto ptr = json::json_pointer(pointer);
      doc[ptr.parent_pointer()].erase(ptr.back());
    });
    check_fails(r, errc::corruption, "'" + name + "' is missing");
  }
}

TEST_CASE("a field of the wrong type is corruption naming the field") {
  std::vector<std::tuple<std::string, json, std::string>> cases = {
    {"/schema_version", "1", "schema_version"},
    {"/schema_version", -1, "schema_version"},
    {"/schema_version", 1.0, "schema_version"},
    {"/media_type", 1, "media_type"},
    {"/node", json::array(), "node"},
    {"/node/name", 5, "node.name"},
    {"/node/peer_id", nullptr, "node.peer_id"},
    {"/node/incarnation", "7", "node.incarnation"},
    {"/node/incarnation", -7, "node.incarnation"},
    {"/node/runtime_version", json::object(), "node.runtime_version"},
    {"/node/registry_fingerprint", 0, "node.registry_fingerprint"},
    {"/layers", json::object(), "layers"},
    {"/layers/1/kind", 1, "layers[1].kind"},
    {"/layers/2/media_type", false, "layers[2].media_type"},
    {"/layers/3/index", json::array(), "layers[3].index"},
    {"/layers/4/blobs", 1.5, "layers[4].blobs"},
    {"/layers/0/bytes", "1000", "layers[0].bytes"},
    {"/created_at_ms", "now", "created_at_ms"},
    {"/created_at_ms", 1.5, "created_at_ms"},
    {"/parents", "none", "parents"},
  };
  for (auto& c : cases) {
    const auto& pointer = std::get<0>(c);
    const auto& value = std::get<1>(c);
    const auto& name = std::get<2>(c);
    CAPTURE(pointer);
    CAPTURE(value.dump());
    auto r = decode_edited([&](json& doc) { doc[json::json_pointer(pointer)] = value; });
    check_fails(r, errc::corruption, "'" + name + "'");
  }
}

TEST_CASE("a layer entry that is not an object is corruption") {
  auto r = decode_edited([](json& doc) { doc["layers"][2] = "world"; });
  check_fails(r, errc::corruption, "layer 2");
}

TEST_CASE("a manifest without exactly five layers is corruption") {
  for (size_t n : {0, 4, 6}) {
    CAPTURE(n);
    auto r = decode_edited([&](json& doc) {
      auto& layers = doc["layers"];
      json first = layers[0];
      while (layers.size() > n)
        layers.erase(layers.size() - 1);
      while (layers.size() < n)
        layers.push_back(first);
    });
    check_fails(r, errc::corruption, std::to_string(n) + " layers");
  }
}

TEST_CASE("layers in the wrong order are corruption") {
  auto r = decode_edited([](json& doc) { std::swap(doc["layers"][1], doc["layers"][2]); });
  check_fails(r, errc::corruption, "expected 'cache'");
  r = decode_edited([](json& doc) { doc["layers"][4]["kind"] = "traces"; });
  check_fails(r, errc::corruption, "expected 'trace'");
}

TEST_CASE("a digest that is not 64 hex digits is corruption") {
  std::vector<std::pair<std::string, std::string>> cases = {
    {"/layers/0/index", "layers[0].index"},
    {"/node/registry_fingerprint", "node.registry_fingerprint"},
  };
  for (auto& c : cases)
    for (std::string bad : {std::string(), std::string(63, 'a'), std::string(65, 'a'),
                            std::string(64, 'g'), std::string("zz") + std::string(62, '0')}) {
      const auto& pointer = c.first;
      const auto& name = c.second;
      CAPTURE(pointer);
      CAPTURE(bad);
      auto r = decode_edited([&](json& doc) { doc[json::json_pointer(pointer)] = bad; });
      check_fails(r, errc::corruption, "'" + name + "' is not a digest");
    }
  for (json bad : {json("xyz"), json(std::string(63, '0')), json(7), json(nullptr)}) {
    CAPTURE(bad.dump());
    auto r = decode_edited([&](json& doc) { doc["parents"][1] = bad; });
    check_fails(r, errc::corruption, "parents");
  }
}

TEST_CASE("a peer id that is not hex is corruption") {
  for (const char* bad : {"abc", "zz", "0x00"}) {
    CAPTURE(bad);
    auto r = decode_edited([&](json& doc) { doc["node"]["peer_id"] = bad; });
    check_fails(r, errc::corruption, "node.peer_id");
  }
}

TEST_CASE("an uppercase digest is read as the same digest") {
  auto m = sample_manifest();
  auto r = decode_edited([&](json& doc) {
    std::string hex = doc["layers"][0]["index"];
    for (auto& c : hex)
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    doc["layers"][0]["index"] = hex;
  });
  REQUIRE(r);
  CHECK(r->layers[0].index == m.layers[0].index);
}

TEST_CASE("another schema version or media type is format_mismatch") {
  for (json version : {json(0), json(2), json(4294967297ull)}) {
    CAPTURE(version.dump());
    auto r = decode_edited([&](json& doc) { doc["schema_version"] = version; });
    check_fails(r, errc::format_mismatch, "schema");
  }
  auto r = decode_edited(
    [](json& doc) { doc["media_type"] = "application/vnd.amber.manifest.v2+json"; });
  check_fails(r, errc::format_mismatch, "v2");
}

TEST_CASE("a newer schema is format_mismatch even when the rest would not decode") {
  auto r = decode_manifest(R"({"schema_version":2,"media_type":"x"})");
  check_fails(r, errc::format_mismatch, "schema 2");
}

TEST_CASE("a creation time beyond the signed 64-bit range is corruption") {
  auto r = decode_edited([](json& doc) { doc["created_at_ms"] = uint64_t{INT64_MAX} + 1; });
  check_fails(r, errc::corruption, "created_at_ms");
  r = decode_edited([](json& doc) { doc["created_at_ms"] = INT64_MAX; });
  REQUIRE(r);
  CHECK(r->created_at_ms == INT64_MAX);
  r = decode_edited([](json& doc) { doc["created_at_ms"] = INT64_MIN; });
  REQUIRE(r);
  CHECK(r->created_at_ms == INT64_MIN);
}

TEST_CASE("unknown extra fields are ignored") {
  auto r = decode_edited([](json& doc) {
    doc["comment"] = "hello";
    doc["node"]["zone"] = 3;
  });
  REQUIRE(r);
  check_same(*r, sample_manifest());
}
