// cluster_file.hpp: the TOML cluster format, and graph files whose wires
// reach other members (member/component), in-process.

#include "cluster_file.hpp"

#include <doctest/doctest.h>

#include "fixtures.hpp"
#include "graph_file.hpp"

using namespace amber;
using namespace amber::cli;
using amber::apps_test::contains;

namespace {

const char* good = R"([cluster]
name = "bank"
checkpoint_every = "1s"
checkpoint_timeout = "10s"
heartbeat = "200ms"
member_timeout = "2s"

[cluster.tls]
ca = "ca.pem"
cert = "node.pem"
key = "/etc/amber/node.key"

[[member]]
name = "a"
address = "127.0.0.1:7101"
graph = "a.toml"
store = "data/a"
control = "127.0.0.1:7201"

[[member]]
name = "b"
address = "127.0.0.1:7102"
graph = "../graphs/b.toml"
store = "data/b"
)";

std::string error_of(const std::string& text) {
  auto r = parse_cluster_file(text, "dir/c.toml");
  REQUIRE_MESSAGE(!r, "expected an error for:\n" << text);
  CHECK(r.error().code() == errc::invalid_argument);
  return r.error().message();
}

const char* head = "[cluster]\nname = \"c\"\n";
const char* member_a = "[[member]]\nname = \"a\"\naddress = \"127.0.0.1:7101\"\n"
                       "graph = \"a.toml\"\nstore = \"a\"\n";

} // namespace

TEST_CASE("a cluster file parses: names, durations, TLS, members, paths resolved") {
  auto r = parse_cluster_file(good, "conf/bank.toml");
  REQUIRE_MESSAGE(r, r.error().to_string());
  CHECK(r->name == "bank");
  CHECK(r->path == "conf/bank.toml");
  CHECK(r->checkpoint_every == std::chrono::seconds(1));
  CHECK(r->checkpoint_timeout == std::chrono::seconds(10));
  CHECK(r->heartbeat == std::chrono::milliseconds(200));
  CHECK(r->member_timeout == std::chrono::seconds(2));
  CHECK(r->tls.ca_file == "conf/ca.pem");
  CHECK(r->tls.key_file == "/etc/amber/node.key");
  REQUIRE(r->members.size() == 2);
  auto& a = r->members[0];
  CHECK(a.name == "a");
  CHECK(a.host == "127.0.0.1");
  CHECK(a.port == 7101);
  CHECK(a.graph_file == "conf/a.toml");
  CHECK(a.store_dir == "conf/data/a");
  CHECK(a.control == "127.0.0.1:7201");
  CHECK(r->members[1].graph_file == "graphs/b.toml");
  CHECK(r->members[1].control.empty());
  CHECK(r->find("b") == &r->members[1]);
  CHECK(other_members(*r, "a") == std::set<std::string>{"b"});
}

TEST_CASE("optional settings keep their defaults") {
  auto r = parse_cluster_file(std::string(head) + member_a, "c.toml");
  REQUIRE_MESSAGE(r, r.error().to_string());
  CHECK(r->checkpoint_every.count() == 0);
  CHECK(r->checkpoint_timeout == std::chrono::seconds(10));
  CHECK_FALSE(r->tls.enabled());
  CHECK(r->members[0].store_dir == "a");
}

TEST_CASE("a half-configured TLS setup is refused with a clear message") {
  auto msg = error_of(std::string(head) + "[cluster.tls]\nca = \"ca.pem\"\n" + member_a);
  CHECK(contains(msg, "dir/c.toml:3:1: cluster.tls: ca is set but cert and key are not; "
                      "mutual TLS needs all three (a CA file alone aborts CAF)"));
  msg = error_of(std::string(head) + "[cluster.tls]\ncert = \"c\"\nkey = \"k\"\n" + member_a);
  CHECK(contains(msg, "cert and key are set but ca is not"));
  CHECK(check_tls_complete({"", "", ""}).is_ok());
  CHECK(check_tls_complete({"a", "b", "c"}).is_ok());
  CHECK(contains(check_tls_complete({"", "", "k"}, "x").message(), "x: key is set but ca and cert are not"));
}

TEST_CASE("every mistake names file, line, column and key") {
  struct bad_case {
    std::string text;
    std::string expect;
  };
  std::string a2 = "[[member]]\nname = \"b\"\naddress = \"127.0.0.1:7102\"\ngraph = \"b.toml\"\n"
                   "store = \"b\"\n";
  const bad_case cases[] = {
    {member_a, "[cluster] is missing"},
    {head, "defines no member"},
    {"[cluster]\nname = \"a/b\"\n" + std::string(member_a), "cluster.name: 'a/b' must not contain '/'"},
    {"[cluster]\nname = \"\"\n" + std::string(member_a), "dir/c.toml:2:8: cluster.name: must not be empty"},
    {"[cluster]\n" + std::string(member_a), "cluster: missing key 'name'"},
    {std::string(head) + "color = 1\n" + member_a, "dir/c.toml:3:1: cluster.color: unknown key"},
    {std::string(head) + "heartbeat = \"fast\"\n" + member_a, "cluster.heartbeat: 'fast' is not a duration"},
    {std::string(head) + "heartbeat = 5\n" + member_a, "cluster.heartbeat: must be a string"},
    {std::string(head) + "heartbeat = \"0s\"\n" + member_a, "cluster.heartbeat: must be more than 0"},
    {std::string(head) + "heartbeat = \"3s\"\n" + member_a, "must be longer than the heartbeat"},
    {std::string(head) + member_a + member_a, "member[1].name: member 'a' is defined twice (first at line 3)"},
    {std::string(head) + "[[member]]\nname = \"x/y\"\n", "member[0].name: 'x/y' must not contain '/'"},
    {std::string(head) + "[[member]]\nname = \"\"\n", "member[0].name: must not be empty"},
    {std::string(head) + "[[member]]\nname = \"a\"\n", "member[0]: missing key 'address'"},
    {std::string(head) + "[[member]]\nname = \"a\"\naddress = \"7101\"\n", "member[0].address: '7101' is not HOST:PORT"},
    {std::string(head) + "[[member]]\nname = \"a\"\naddress = \"h:0\"\n", "the port must be from 1 to 65535"},
    {std::string(head) + "[[member]]\nname = \"a\"\naddress = \"h:70000\"\n", "member[0].address: 'h:70000' is not HOST:PORT"},
    {std::string(head) + "[[member]]\nname = \"a\"\naddress = \"h:1\"\n", "member[0]: missing key 'graph'"},
    {std::string(head) + "[[member]]\nname = \"a\"\naddress = \"h:1\"\ngraph = \"g\"\n", "member[0]: missing key 'store'"},
    {std::string(head) + member_a + "[[member]]\nname = \"b\"\naddress = \"127.0.0.1:7101\"\n",
     "dir/c.toml:10:11: member[1].address: address 127.0.0.1:7101 is taken by member[0].address"},
    {std::string(head) + member_a + "control = \"127.0.0.1:7101\"\n", "member[0].control: address 127.0.0.1:7101 is taken"},
    {std::string(head) + member_a + "[[member]]\nname = \"b\"\naddress = \"h:2\"\ngraph = \"g\"\nstore = \"a\"\n",
     "member[1].store: 'dir/a' is member 'a''s store too"},
    {std::string(head) + member_a + "port = 1\n", "member[0].port: unknown key"},
    {"member = 3\n" + std::string(head), "member: must be [[member]] tables, not an integer"},
    {std::string(head) + member_a + "[cluster.tls]\nca = 1\n", "dir/c.toml:9:6: cluster.tls.ca: must be a string"},
    {std::string(head) + "[cluster.tls]\nca = 1\n" + member_a, "cluster.tls.ca: must be a string"},
    {"[cluster\n", "dir/c.toml:1:"},
  };
  for (auto& c : cases) {
    CAPTURE(c.text);
    auto msg = error_of(c.text);
    CHECK_MESSAGE(contains(msg, c.expect), msg);
  }
  (void)a2;
}

TEST_CASE("load_cluster_file refuses what is not a small regular file") {
  apps_test::scratch dir;
  CHECK(load_cluster_file(dir / "none.toml").error().is_not_found());
  CHECK(load_cluster_file(dir.path().string()).error().code() == errc::invalid_argument);
  CHECK(contains(load_cluster_file("/dev/null").error().message(), "not a regular file"));
  apps_test::write_text(dir / "big.toml", std::string(max_cluster_file_bytes + 1, '#'));
  CHECK(contains(load_cluster_file(dir / "big.toml").error().message(), "at most"));
  apps_test::write_text(dir / "ok.toml", good);
  auto r = load_cluster_file(dir / "ok.toml");
  REQUIRE_MESSAGE(r, r.error().to_string());
  CHECK(r->members[0].graph_file == (dir / "a.toml"));
}

TEST_CASE("a member's graph file may wire to member/component when told the other members") {
  const std::set<std::string> types = {"t"};
  std::string text = "[node]\nname = \"a\"\n[[graph]]\nname = \"g\"\n"
                     "[[graph.component]]\nname = \"x\"\ntype = \"t\"\n"
                     "[[graph.wire]]\nfrom = \"x\"\nport = \"out\"\nto = \"b/y\"\n";
  // Default: no cross-member wires.
  auto plain = parse_graph_file(text, "a.toml", types);
  REQUIRE_FALSE(plain);
  CHECK(contains(plain.error().message(), "a.toml:11:6: graph[0].wire[0].to: 'b/y' names no component"));
  std::set<std::string> others{"b", "c"};
  auto r = parse_graph_file(text, "a.toml", types, &others);
  REQUIRE_MESSAGE(r, r.error().to_string());
  CHECK(r->graphs[0].edges[0].to == "b/y");
  std::set<std::string> only_c{"c"};
  auto bad = parse_graph_file(text, "a.toml", types, &only_c);
  REQUIRE_FALSE(bad);
  CHECK(contains(bad.error().message(), "'b/y' names no other member of the cluster (others: c)"));
  // `from` is always local, and an empty component is refused.
  std::string from_remote = text;
  from_remote.replace(from_remote.find("from = \"x\""), 10, "from = \"b/y\"");
  CHECK_FALSE(parse_graph_file(from_remote, "a.toml", types, &others));
  std::string empty = text;
  empty.replace(empty.find("\"b/y\""), 5, "\"b/\"");
  CHECK_FALSE(parse_graph_file(empty, "a.toml", types, &others));
  std::string_view m, c;
  CHECK(split_remote("b/y", &m, &c));
  CHECK(m == "b");
  CHECK(c == "y");
  CHECK_FALSE(split_remote("y", &m, &c));
}
