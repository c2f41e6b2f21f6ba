// layers.hpp: records that gained fields still decode from the bytes of
// their older versions, and the new fields round-trip.

#include "amber/checkpoint/layers.hpp"

#include <doctest/doctest.h>

#include <string>

#include "amber/checkpoint/serial.hpp"
#include "amber/storage/hex.hpp"

using namespace amber;

namespace {

// Encoded by the code before component_record and in_flight_message had
// class versions (both version 0): a cache layer of two components,
//   {1, "src", "source", {"core", "1.2.0"}, "pipeline", sha256("state-a"), 7}
//   {2, "sink", "sink", {"core", "1.2.0"}, "", sha256("state-b"), 7}
// and a trace layer {100, 98, two messages}:
//   {"", 1, 2, 41, 5, "\0\1\2"} and {"other", 1, 2, 42, 5, "\0\1\2"}.
// Never regenerate these: they stand for snapshots already on disk.
constexpr const char* cache_v0_hex =
  "160000000000000073657269616c697a6174696f6e3a3a61726368697665120004080408010000000000000000"
  "000000000002000000000000000000000000000000000100000003000000000000007372630600000000000000"
  "736f7572636500000000000400000000000000636f72650500000000000000312e322e30080000000000000070"
  "6970656c696e650000000000c73b6af0dd2d6e3bbbf2e513983243c41bf734cbf7c7bc9ee67d4e3123e5faaa07"
  "0000000000000002000000040000000000000073696e6b040000000000000073696e6b0400000000000000636f"
  "72650500000000000000312e322e300000000000000000bd2f3bf9bfb6c67f02330d78a20ca65b9cada3324004"
  "260e4218f8056806a11b0700000000000000";
constexpr const char* trace_v0_hex =
  "160000000000000073657269616c697a6174696f6e3a3a61726368697665120004080408010000000000000000"
  "64000000000000006200000000000000000000000002000000000000000000000000000000000000000000000000"
  "010000000200000029000000000000000500000000000000030000000000000000010205000000000000006f74"
  "68657201000000020000002a0000000000000005000000000000000300000000000000000102";

std::string bytes_of(const char* hex) {
  auto r = from_hex(hex);
  REQUIRE_MESSAGE(r, r.error().to_string());
  return *r;
}

component_record with_new_fields() {
  component_record c;
  c.instance_id = 9;
  c.name = "spawned";
  c.type_name = "t.counter";
  c.package = {"t", "1.0.0"};
  c.state = sha256("s");
  c.state_size = 1;
  c.params = {{"start", "5"}, {"", std::string("\0x", 2)}, {"step", ""}};
  c.runtime = std::string("mode=2\0timers", 13);
  return c;
}

} // namespace

TEST_CASE("a cache layer of version-0 records still decodes, without params or runtime bytes") {
  cache_layer c;
  // Decoding over records that hold new fields must clear them.
  c.components = {with_new_fields(), with_new_fields()};
  REQUIRE(decode(bytes_of(cache_v0_hex), &c, "cache v0") == status::ok());
  REQUIRE(c.components.size() == 2);
  auto& a = c.components[0];
  CHECK(a.instance_id == 1);
  CHECK(a.name == "src");
  CHECK(a.type_name == "source");
  CHECK(a.package == package_ref{"core", "1.2.0"});
  CHECK(a.graph == "pipeline");
  CHECK(a.state == sha256("state-a"));
  CHECK(a.state_size == 7);
  CHECK(a.params.empty());
  CHECK(a.runtime.empty());
  auto& b = c.components[1];
  CHECK(b.instance_id == 2);
  CHECK(b.name == "sink");
  CHECK(b.graph.empty());
  CHECK(b.state == sha256("state-b"));
  CHECK(b.params.empty());
  CHECK(b.runtime.empty());
}

TEST_CASE("a trace layer of version-0 messages still decodes, each a plain message") {
  trace_layer t;
  in_flight_message stale;
  stale.kind = in_flight_message::response;
  stale.ref = 77;
  t.messages = {stale, stale};
  REQUIRE(decode(bytes_of(trace_v0_hex), &t, "trace v0") == status::ok());
  CHECK(t.pre_cut_sent == 100);
  CHECK(t.pre_cut_received == 98);
  REQUIRE(t.messages.size() == 2);
  for (auto& m : t.messages) {
    CHECK(m.sender == 1);
    CHECK(m.receiver == 2);
    CHECK(m.epoch == 5);
    CHECK(m.payload == std::string("\0\1\2", 3));
    CHECK(m.kind == in_flight_message::message);
    CHECK(m.ref == 0);
  }
  CHECK(t.messages[0].sender_node.empty());
  CHECK(t.messages[0].seq == 41);
  CHECK(t.messages[1].sender_node == "other");
  CHECK(t.messages[1].seq == 42);
}

TEST_CASE("a version-0 layer re-encodes as the current version and keeps its content") {
  cache_layer c;
  REQUIRE(decode(bytes_of(cache_v0_hex), &c, "cache v0").is_ok());
  auto again = encode(c);
  CHECK(again != bytes_of(cache_v0_hex));
  cache_layer back;
  REQUIRE(decode(again, &back, "cache v1").is_ok());
  REQUIRE(back.components.size() == 2);
  CHECK(back.components[1].name == "sink");
  CHECK(back.components[1].state == sha256("state-b"));
}

TEST_CASE("a component's params and runtime bytes round-trip") {
  cache_layer c;
  c.components = {with_new_fields(), component_record{}};
  cache_layer out;
  REQUIRE(decode(encode(c), &out, "cache") == status::ok());
  REQUIRE(out.components.size() == 2);
  CHECK(out.components[0].params == c.components[0].params);
  CHECK(out.components[0].runtime == c.components[0].runtime);
  CHECK(out.components[0].name == "spawned");
  CHECK(out.components[1].params.empty());
  CHECK(out.components[1].runtime.empty());
  // The new fields are part of the encoding, so they change a layer's digest.
  auto changed = c;
  changed.components[0].params["start"] = "6";
  CHECK(encode(changed) != encode(c));
}

TEST_CASE("an in-flight message's kind and request id round-trip") {
  trace_layer t;
  in_flight_message m;
  m.sender = 3;
  m.receiver = 4;
  m.payload = "p";
  for (auto kind : {in_flight_message::message, in_flight_message::request,
                    in_flight_message::response, in_flight_message::failure}) {
    m.kind = kind;
    m.ref = kind == in_flight_message::message ? 0 : 0x1122334455667788 + kind;
    t.messages.push_back(m);
  }
  trace_layer out;
  REQUIRE(decode(encode(t), &out, "trace") == status::ok());
  REQUIRE(out.messages.size() == 4);
  for (size_t i = 0; i < 4; ++i) {
    CAPTURE(i);
    CHECK(out.messages[i].kind == t.messages[i].kind);
    CHECK(out.messages[i].ref == t.messages[i].ref);
    CHECK(out.messages[i].payload == "p");
  }
}

TEST_CASE("an in-flight message kind other than 0 to 3 is corruption") {
  trace_layer t;
  in_flight_message m;
  m.kind = in_flight_message::response;
  m.ref = 0x0102030405060708;
  t.messages.push_back(m);
  auto bytes = encode(t);
  std::string ref(reinterpret_cast<const char*>(&m.ref), sizeof(m.ref));
  auto pos = bytes.find(ref);
  REQUIRE(pos != std::string::npos);
  REQUIRE(pos >= 1);
  REQUIRE(bytes[pos - 1] == 2); // The kind sits right before the request id.
  bytes[pos - 1] = 4;
  trace_layer out;
  auto st = decode(bytes, &out, "trace index");
  CHECK(st.code() == errc::corruption);
  CHECK(st.message().find("trace index") != std::string::npos);
  CHECK(st.message().find("kind") != std::string::npos);
}
