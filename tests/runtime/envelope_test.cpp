// The envelope crosses CAF's serializer and network layer unchanged.

#include <caf/event_based_actor.hpp>
#include <caf/io/all.hpp>
#include <caf/scoped_actor.hpp>
#include <doctest/doctest.h>

#include "amber/runtime/envelope.hpp"
#include "amber/runtime/message_codec.hpp"
#include "amber/runtime/node.hpp"
#include "support/test_components.hpp"

using namespace amber;

TEST_CASE("an envelope survives CAF's binary serializer field by field") {
  node n(test::make_registry(), {});
  envelope in{7, 42, 99, caf::make_message(test::add_atom::value, std::string("k"), int64_t{5})};
  auto bytes = encode_message(n.system(), caf::make_message(in));
  REQUIRE(bytes.ok());
  auto back = decode_message(n.system(), *bytes);
  REQUIRE(back.ok());
  REQUIRE(back->match_elements<envelope>());
  auto& out = back->get_as<envelope>(0);
  CHECK(out.epoch == 7);
  CHECK(out.sender == 42);
  CHECK(out.seq == 99);
  REQUIRE(out.payload.match_elements<test::add_atom, std::string, int64_t>());
  CHECK(out.payload.get_as<std::string>(1) == "k");
  CHECK(out.payload.get_as<int64_t>(2) == 5);
}

TEST_CASE("truncated message bytes are corruption, not a crash") {
  node n(test::make_registry(), {});
  envelope in{1, 2, 3, caf::make_message(std::string(100, 'x'))};
  auto bytes = encode_message(n.system(), caf::make_message(in));
  REQUIRE(bytes.ok());
  for (size_t len = 0; len < bytes->size(); len += 7) {
    auto r = decode_message(n.system(), std::string_view(*bytes).substr(0, len));
    CHECK_FALSE(r.ok());
  }
  auto longer = decode_message(n.system(), *bytes + "zz");
  CHECK(longer.error().code() == errc::corruption);
}

TEST_CASE("an envelope crosses caf::io between two nodes on loopback unchanged") {
  node_options opts;
  opts.configure = [](caf::actor_system_config& cfg) { cfg.load<caf::io::middleman>(); };
  node a(test::make_registry(), opts);
  node b(test::make_registry(), opts);
  // On b, an actor that answers with what it received.
  // (An unused argument: CAF 0.17 trips UBSan spawning a function actor without one.)
  auto echo = b.system().spawn(
    [](caf::event_based_actor*, int) -> caf::behavior {
      return {[](envelope& e) {
        return caf::make_message(e.epoch, e.sender, e.seq, e.payload.get_as<std::string>(1));
      }};
    },
    0);
  auto port = b.system().middleman().publish(echo, 0, "127.0.0.1");
  REQUIRE(static_cast<bool>(port));
  {
    auto remote = a.system().middleman().remote_actor("127.0.0.1", *port);
    REQUIRE(static_cast<bool>(remote));
    caf::scoped_actor self{a.system()};
    envelope e{3, 17, 1234, caf::make_message(test::add_atom::value, std::string("over the wire"),
                                              int64_t{1})};
    bool answered = false;
    self->request(*remote, std::chrono::seconds(10), e)
      .receive(
        [&](uint64_t epoch, uint32_t sender, uint64_t seq, const std::string& text) {
          answered = true;
          CHECK(epoch == 3);
          CHECK(sender == 17);
          CHECK(seq == 1234);
          CHECK(text == "over the wire");
        },
        [&](caf::error& err) { FAIL("no answer: " << a.system().render(err)); });
    CHECK(answered);
  }
  caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
}
