// Components, the registry and the node, without checkpoints.

#include <caf/scoped_actor.hpp>
#include <doctest/doctest.h>

#include "amber/runtime/atoms.hpp"
#include "amber/runtime/error.hpp"
#include "amber/runtime/node.hpp"
#include "support/test_components.hpp"

using namespace amber;

namespace {

int64_t ask(node& n, const std::string& name, const std::string& key) {
  caf::scoped_actor self{n.system()};
  int64_t out = -2;
  self->request(n.find(name)->handle, std::chrono::seconds(5), test::get_atom::value, key)
    .receive([&](int64_t v) { out = v; }, [&](caf::error&) {});
  return out;
}

} // namespace

TEST_CASE("a fresh node has incarnation 0 and spawns registered types by name") {
  node n(test::make_registry(), {});
  CHECK(n.incarnation() == 0);
  auto a = n.spawn("test.ledger", "a");
  REQUIRE(a.ok());
  CHECK(a->id == 1);
  CHECK(a->package.to_string() == "testpkg@1.0.0");
  auto b = n.spawn("test.ledger", "b");
  REQUIRE(b.ok());
  CHECK(b->id == 2);
  CHECK(n.find("a")->id == 1);
  CHECK(n.find(2u)->name == "b");
  CHECK_FALSE(n.find("c").has_value());
  CHECK(n.components().size() == 2);
}

TEST_CASE("spawning an unknown type or a taken name fails with a typed error") {
  node n(test::make_registry(), {});
  REQUIRE(n.spawn("test.ledger", "a").ok());
  auto unknown = n.spawn("no.such.type", "x");
  CHECK(unknown.error().code() == errc::unknown_type);
  CHECK(unknown.error().message().find("no.such.type") != std::string::npos);
  CHECK(n.spawn("test.ledger", "a").error().code() == errc::invalid_argument);
  CHECK(n.spawn("test.ledger", "").error().code() == errc::invalid_argument);
}

TEST_CASE("components message each other by name through the runtime") {
  node n(test::make_registry(), {});
  REQUIRE(n.spawn("test.ledger", "a").ok());
  REQUIRE(n.spawn("test.ledger", "b").ok());
  {
    // A request, not a send: wait_quiet sees messages between components,
    // not one from outside still waiting in a mailbox.
    caf::scoped_actor self{n.system()};
    self->request(n.find("a")->handle, std::chrono::seconds(5), test::forward_atom::value,
                  std::string("b"), std::string("k"), int64_t{5})
      .receive([] {}, [](caf::error&) { FAIL("a did not answer"); });
  }
  REQUIRE(n.wait_quiet(std::chrono::seconds(5)));
  CHECK(ask(n, "b", "k") == 5);
  CHECK(ask(n, "a", "k") == -1);
  CHECK(n.stats().sent == 1);
  CHECK(n.stats().received == 1);
}

TEST_CASE("a graph installs its instances with their parameters and wires") {
  node n(test::make_registry(), {});
  graph_def g{"g",
              {{"x", "test.ledger", {{"entries", "3"}}}, {"y", "test.counter", {{"start", "9"}}}},
              {{"x", "next", "y"}}};
  REQUIRE(n.install(g).is_ok());
  CHECK(n.graphs().size() == 1);
  CHECK(n.find("x")->graph == "g");
  CHECK(ask(n, "x", "k2") == 14);
  CHECK(n.core().targets("x", "next") == std::vector<std::string>{"y"});
}

TEST_CASE("a bad graph is refused before anything is spawned") {
  node n(test::make_registry(), {});
  SUBCASE("unknown type") {
    graph_def g{"g", {{"x", "test.ledger", {}}, {"y", "nope", {}}}, {}};
    CHECK(n.install(g).code() == errc::unknown_type);
  }
  SUBCASE("duplicate instance name") {
    graph_def g{"g", {{"x", "test.ledger", {}}, {"x", "test.counter", {}}}, {}};
    CHECK(n.install(g).code() == errc::invalid_argument);
  }
  SUBCASE("a wire to nowhere") {
    graph_def g{"g", {{"x", "test.ledger", {}}}, {{"x", "out", "ghost"}}};
    auto st = n.install(g);
    CHECK(st.code() == errc::invalid_argument);
    CHECK(st.message().find("ghost") != std::string::npos);
  }
  CHECK(n.components().empty());
  CHECK(n.graphs().empty());
}

TEST_CASE("a graph name can be installed only once") {
  node n(test::make_registry(), {});
  REQUIRE(n.install(graph_def{"g", {{"x", "test.ledger", {}}}, {}}).is_ok());
  CHECK(n.install(graph_def{"g", {{"z", "test.ledger", {}}}, {}}).code()
        == errc::invalid_argument);
}

TEST_CASE("the registry refuses a type twice and fingerprints its content") {
  registry a;
  CHECK(a.add<test::counter>().is_ok());
  CHECK(a.add<test::counter>().code() == errc::invalid_argument);
  registry b;
  REQUIRE(b.add<test::counter_v2>().is_ok());
  CHECK(a.fingerprint() != b.fingerprint());
  CHECK(a.check("test.counter", {"testpkg", "1.0.0"}).is_ok());
  CHECK(b.check("test.counter", {"testpkg", "1.0.0"}).code() == errc::version_mismatch);
  CHECK(a.check("nope", {"testpkg", "1.0.0"}).code() == errc::unknown_type);
  registry c;
  REQUIRE(c.add<test::counter>().is_ok());
  CHECK(a.fingerprint() == c.fingerprint());
}

TEST_CASE("a status survives the trip through caf::error") {
  node n(test::make_registry(), {});
  status st(errc::config_mismatch, "field 'x' differs");
  auto err = to_caf_error(st);
  CHECK(err.category() == error_category);
  CHECK(from_caf_error(n.system(), err) == st);
  CHECK(n.system().render(err).find("field 'x' differs") != std::string::npos);
  CHECK(from_caf_error(n.system(), caf::error{}).is_ok());
}

TEST_CASE("the seed's cycle_op_budget becomes CAF's scheduler throughput") {
  node_options opts;
  opts.config.cycle_op_budget = 17;
  node n(test::make_registry(), opts);
  CHECK(caf::get_or(n.system().config(), "scheduler.max-throughput", size_t{0}) == 17);
}
