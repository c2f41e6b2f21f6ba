// graph_file.hpp: the TOML graph format, in-process.

#include "graph_file.hpp"

#include <fstream>

#include <sys/stat.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include "fixtures.hpp"

using namespace amber;
using namespace amber::cli;
using amber::apps_test::contains;
using amber::apps_test::example;

namespace {

const std::set<std::string> bank_types = {"bank.account", "bank.clearing", "bank.driver"};

std::string error_of(const std::string& text) {
  auto r = parse_graph_file(text, "g.toml", bank_types);
  REQUIRE_MESSAGE(!r, "expected an error for:\n" << text);
  // An unknown component type is unknown_type (the CLI adds which binary
  // knows which types); every other mistake invalid_argument.
  if (r.error().message().find("unknown component type") != std::string::npos)
    CHECK(r.error().code() == errc::unknown_type);
  else
    CHECK(r.error().code() == errc::invalid_argument);
  return r.error().message();
}

const char* prelude = "[node]\nname = \"n\"\n[[graph]]\nname = \"g\"\n";

} // namespace

TEST_CASE("templates expand {i} with left-to-right integer arithmetic") {
  CHECK(*expand_template("acct-{i}", 7, true) == "acct-7");
  CHECK(*expand_template("{i % 4}", 7, true) == "3");
  CHECK(*expand_template("{i*7919%10001}", 3, true) == std::to_string(3 * 7919 % 10001));
  CHECK(*expand_template("{ i + 1 }-{i - 1}-{i / 2}", 5, true) == "6-4-2");
  CHECK(*expand_template("{{literal}} {i}", 1, true) == "{literal} 1");
  CHECK(*expand_template("plain", 0, false) == "plain");
  CHECK(!expand_template("{i}", 0, false));
  CHECK(!expand_template("{j}", 0, true));
  CHECK(!expand_template("{i % 0}", 0, true));
  CHECK(!expand_template("{i ^ 2}", 0, true));
  CHECK(!expand_template("{i", 0, true));
  CHECK(!expand_template("i}", 0, true));
  CHECK(!expand_template("{i +}", 0, true));
}

TEST_CASE("the example bank graph is the demo's bank: 1008 components, 1000 wires") {
  auto g = load_graph_file(example("bank.toml"), bank_types);
  REQUIRE_MESSAGE(g, g.error().to_string());
  CHECK(g->node_name == "bank");
  REQUIRE(g->graphs.size() == 1);
  CHECK(g->component_count() == 1008);
  CHECK(g->wire_count() == 1000);
  auto& bank = g->graphs[0];
  CHECK(bank.instances[4].name == "acct-0");
  CHECK(bank.instances[4 + 5].params.at("balance") == std::to_string(5 * 7919 % 10001));
  CHECK(bank.instances.back().name == "driver-3");
  CHECK(bank.instances.back().params.at("accounts") == "1000");
  CHECK(bank.edges[6].from == "acct-6");
  CHECK(bank.edges[6].to == "clearing-2");
  CHECK(bank.edges[6].port == "clearing");
}

TEST_CASE("the small example sets threads, config and typed params") {
  auto g = load_graph_file(example("bank-small.toml"), bank_types);
  REQUIRE_MESSAGE(g, g.error().to_string());
  CHECK(g->node_name == "small-bank");
  CHECK(g->threads == 2);
  CHECK(g->config.bus_capacity == 1024);
  CHECK(g->component_count() == 5);
  CHECK(g->graphs[0].instances[1].params.at("balance") == "100");
  CHECK(g->graphs[0].instances[1].params.at("owner") == "Alice");
}

TEST_CASE("node defaults and config keys") {
  auto g = parse_graph_file("[[graph]]\nname = \"g\"\n", "dir/my-node.toml", {});
  REQUIRE(g);
  CHECK(g->node_name == "my-node");
  CHECK(g->threads == 0);
  CHECK(g->config == node_config{});
  auto c = parse_graph_file(
    "[node]\nname = \"n\"\n[node.config]\npeer_id = \"0a0b\"\ncycle_op_budget = 5\n"
    "max_pending_async = 6\nmax_outbound_queue = 7\nbus_capacity = 8\n[[graph]]\nname = \"g\"\n",
    "c.toml", {});
  REQUIRE_MESSAGE(c, c.error().to_string());
  CHECK(c->config.peer_id == std::string("\x0a\x0b"));
  CHECK(c->config.cycle_op_budget == 5u);
  CHECK(c->config.max_pending_async == 6u);
  CHECK(c->config.max_outbound_queue == 7u);
  CHECK(c->config.bus_capacity == 8u);
  auto params = parse_graph_file(std::string(prelude)
                                   + "[[graph.component]]\nname = \"a\"\ntype = \"bank.account\"\n"
                                     "params = { f = 1.5, b = true, i = -3, s = \"x\" }\n",
                                 "p.toml", bank_types);
  REQUIRE(params);
  auto& p = params->graphs[0].instances[0].params;
  CHECK(p.at("f") == "1.5");
  CHECK(p.at("b") == "true");
  CHECK(p.at("i") == "-3");
  CHECK(p.at("s") == "x");
}

TEST_CASE("count = 0 gives no instances and a single [graph] table is accepted") {
  auto g = parse_graph_file("[graph]\nname = \"g\"\n[[graph.component]]\nname = \"a{i}\"\n"
                            "type = \"bank.account\"\ncount = 0\n",
                            "n.toml", bank_types);
  REQUIRE_MESSAGE(g, g.error().to_string());
  CHECK(g->component_count() == 0);
}

TEST_CASE("every mistake names file, line, column and key") {
  std::string comp = "[[graph.component]]\nname = \"a\"\ntype = \"bank.account\"\n";
  CHECK(contains(error_of("x = 1\n"), "g.toml:1:1: x: unknown key"));
  CHECK(contains(error_of("format = 2\n[[graph]]\nname = \"g\"\n"), "g.toml:1:"));
  CHECK(contains(error_of("[node]\nname = \"bad name\"\n[[graph]]\nname = \"g\"\n"),
                 "g.toml:2:8: node.name: 'bad name' is not a valid node name"));
  CHECK(contains(error_of("[node]\nname = \"n\"\nthreads = -1\n[[graph]]\nname = \"g\"\n"),
                 "g.toml:3:11: node.threads: -1 is out of range"));
  CHECK(contains(error_of("[node]\nname = \"n\"\n[node.config]\nbus_capacity = \"big\"\n[[graph]]\nname = \"g\"\n"),
                 "g.toml:4:16: node.config.bus_capacity: must be an integer, not a string"));
  CHECK(contains(error_of("[node]\nname = \"n\"\n[node.config]\npeer_id = \"xyz\"\n[[graph]]\nname = \"g\"\n"),
                 "node.config.peer_id: must be an even number of hex digits"));
  CHECK(contains(error_of("[node]\nname = \"n\"\n"), "g.toml: defines no graph"));
  CHECK(contains(error_of("graph = 3\n"), "g.toml:1:9: graph: must be [[graph]] tables"));
  CHECK(contains(error_of("[[graph]]\nkind = 1\n"), "g.toml:2:1: graph[0].kind: unknown key"));
  CHECK(contains(error_of("[[graph]]\n[[graph.component]]\n"), "g.toml:1:1: graph[0]: missing key 'name'"));
  CHECK(contains(error_of(std::string(prelude) + "[[graph.component]]\nname = \"a\"\n"),
                 "g.toml:5:1: graph[0].component[0]: missing key 'type'"));
  CHECK(contains(error_of(std::string(prelude) + "[[graph.component]]\nname = 5\ntype = \"bank.account\"\n"),
                 "g.toml:6:8: graph[0].component[0].name: must be a string, not an integer"));
  CHECK(contains(error_of(std::string(prelude) + comp + "count = 2000000\n"),
                 "graph[0].component[0].count: 2000000 is out of range"));
  CHECK(contains(error_of(std::string(prelude) + comp + "params = { a = [1] }\n"),
                 "g.toml:8:12: graph[0].component[0].params.a: must be a string, integer, float or boolean"));
  CHECK(contains(error_of(std::string(prelude) + comp + "[[graph]]\nname = \"h\"\n" + comp),
                 "g.toml:11:8: graph[1].component[0].name: component name 'a' is taken (by graph[0].component[0], line 5)"));
  CHECK(contains(error_of(std::string(prelude) + "[[graph]]\nname = \"g\"\n"),
                 "g.toml:6:8: graph[1].name: graph 'g' is defined twice"));
  CHECK(contains(error_of(std::string(prelude) + comp + "[[graph.wire]]\nfrom = \"a\"\nto = \"a\"\n"),
                 "g.toml:8:1: graph[0].wire[0]: missing key 'port'"));
  CHECK(contains(error_of(std::string(prelude) + comp + "[[graph.wire]]\nfrom = \"z\"\nport = \"p\"\nto = \"a\"\n"),
                 "g.toml:9:8: graph[0].wire[0].from: 'z' names no component of this file"));
  CHECK(contains(error_of(std::string(prelude) + "[[graph.component]]\nname = \"a\"\ntype = \"bank.vault\"\n"),
                 "g.toml:7:8: graph[0].component[0].type: unknown component type 'bank.vault'"));
  CHECK(contains(error_of("[[graph]\n"), "g.toml:1:"));
}

TEST_CASE("a missing graph file is not_found") {
  auto r = load_graph_file("/nonexistent/graph.toml", bank_types);
  REQUIRE(!r);
  CHECK(r.error().code() == errc::not_found);
  CHECK(contains(r.error().message(), "/nonexistent/graph.toml"));
}

// Issue 10, hostile graph files: each case made the old loader overflow a
// signed integer (undefined behaviour, accepted), run out of memory, read
// for ever or block for ever.
TEST_CASE("template arithmetic that overflows 64 bits is an error, not undefined behaviour") {
  auto r = expand_template("{i * 999999999999 * 999999999999}", 3, true);
  REQUIRE(!r);
  CHECK(contains(r.error().message(), "overflows"));
  CHECK(!expand_template("{i + 999999999999 * 999999999999 * 99}", 1, true));
  CHECK(!expand_template("{i - 999999999999 * 999999999999 * 99}", 1, true));
  CHECK(*expand_template("{i * 999999999999}", 2, true) == "1999999999998");
}

TEST_CASE("counts that add up past the total cap are refused before anything expands") {
  std::string text = prelude;
  for (int k = 0; k < 20; ++k)
    text += "[[graph.component]]\nname = \"c" + std::to_string(k)
            + "-{i}\"\ntype = \"bank.account\"\ncount = 1000000\n";
  CHECK(text.size() < 2500);
  auto why = error_of(text);
  CHECK(contains(why, "more than 1000000 components"));
  CHECK(contains(why, "g.toml:"));
}

TEST_CASE("a graph file that is not a regular file, or too large, is refused without reading it") {
  auto dev = load_graph_file("/dev/zero", bank_types);
  REQUIRE(!dev);
  CHECK(dev.error().code() == errc::invalid_argument);
  CHECK(contains(dev.error().message(), "not a regular file"));

  auto dir = load_graph_file("/tmp", bank_types);
  REQUIRE(!dir);
  CHECK(contains(dir.error().message(), "is a directory"));

  auto fifo = std::string("/tmp/amber-graph-fifo-") + std::to_string(::getpid());
  ::unlink(fifo.c_str());
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  auto f = load_graph_file(fifo, bank_types); // Would block for ever if opened.
  ::unlink(fifo.c_str());
  REQUIRE(!f);
  CHECK(contains(f.error().message(), "not a regular file"));

  auto big = std::string("/tmp/amber-graph-big-") + std::to_string(::getpid()) + ".toml";
  {
    std::ofstream out(big);
    out << prelude << std::string(max_graph_file_bytes, '#');
  }
  auto b = load_graph_file(big, bank_types);
  ::unlink(big.c_str());
  REQUIRE(!b);
  CHECK(contains(b.error().message(), "at most"));
}
