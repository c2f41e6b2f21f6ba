// Cluster checkpoints with three members in one test process, each with
// its own actor system, store and loopback endpoint (the multi-process and
// multi-host tests live in tests/apps and scripts/).

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "amber/actors/cluster_member.hpp"
#include "amber/checkpoint/cluster_manifest.hpp"
#include "amber/checkpoint/snapshot.hpp"
#include "amber/storage/lmdb_store.hpp"
#include "bank/bank.hpp"
#include "bank/xbank.hpp"
#include "support/effect_components.hpp"
#include "support/mem_txn_sink.hpp"
#include "support/temp_dir.hpp"
#include "support/test_pki.hpp"

namespace {

using namespace amber;
using namespace std::chrono_literals;

uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

constexpr int accounts_per_member = 6;
constexpr int64_t initial_balance = 1000;

struct test_cluster {
  ::test::temp_dir dir{"cluster"};
  cluster_spec spec;
  std::shared_ptr<registry> types = std::make_shared<registry>();
  std::map<std::string, std::shared_ptr<lmdb_store>> stores;
  std::map<std::string, std::unique_ptr<cluster_member>> members;
  /// Each member's graph also has fx.source -> fx.writer issuing effects to sink "db".
  bool effects = false;
  std::map<std::string, std::vector<std::shared_ptr<effect_sink>>> sinks;

  explicit test_cluster(std::vector<std::string> names) {
    REQUIRE(bank::register_types(*types).is_ok());
    spec.name = "xbank";
    spec.checkpoint_timeout = 10s;
    spec.heartbeat = 100ms;
    spec.member_timeout = 1500ms;
    for (auto& n : names) {
      cluster_member_spec m;
      m.name = n;
      m.host = "127.0.0.1";
      m.port = free_port();
      spec.members.push_back(m);
      lmdb_options lo;
      lo.create_if_missing = true;
      auto s = lmdb_store::open((dir.path() / n).string(), lo);
      REQUIRE(s);
      stores[n] = std::move(*s);
    }
  }

  std::string accounts_param() const {
    std::string out;
    for (auto& m : spec.members)
      out += (out.empty() ? "" : ",") + m.name + ":" + std::to_string(accounts_per_member);
    return out;
  }

  graph_def graph_for(const std::string& member) const {
    graph_def g;
    g.name = "xbank";
    for (int i = 0; i < accounts_per_member; ++i)
      g.instances.push_back({"acct-" + std::to_string(i), bank::xaccount::type_name,
                             {{"balance", std::to_string(initial_balance)}, {"member", member}}});
    g.instances.push_back({"driver", bank::xdriver::type_name,
                           {{"member", member},
                            {"accounts", accounts_param()},
                            {"batch", "4"},
                            {"interval_ms", "2"},
                            {"seed", std::to_string(member.size() * 7919 + member[0])}}});
    if (effects) {
      g.instances.push_back({"source", fx::source::type_name, {}});
      g.instances.push_back({"writer", fx::writer::type_name, {{"sinks", "db"}, {"prefix", "row"}}});
    }
    return g;
  }

  void start(const std::string& n, bool from_store) {
    cluster_member_options o;
    o.from_store = from_store;
    if (!from_store)
      o.graphs.push_back(graph_for(n));
    o.worker_threads = 2;
    o.sinks = sinks[n];
    auto m = cluster_member::start(spec, n, types, stores[n], std::move(o));
    REQUIRE_MESSAGE(m, (m ? "" : m.error().to_string()));
    members[n] = std::move(*m);
  }

  void start_all() {
    for (auto& m : spec.members)
      start(m.name, false);
    for (auto& entry : members) // Not a binding: REQUIRE_MESSAGE's lambda names it.
      REQUIRE_MESSAGE(entry.second->wait_ready(15s),
                      "member " << entry.first << " never became ready");
  }

  int64_t initial_total() const {
    return static_cast<int64_t>(spec.members.size()) * accounts_per_member * initial_balance;
  }

  /// Money in cluster snapshot `id`, read from the members' stores alone.
  bank::xmoney money(const digest& id) {
    auto& first = *stores.begin()->second;
    std::string bytes;
    REQUIRE(first.get_manifest(id, &bytes).is_ok());
    auto cm = decode_cluster_manifest(bytes);
    REQUIRE(cm);
    REQUIRE(cm->members.size() == spec.members.size());
    bank::xmoney sum;
    // Any actor system decodes the messages (their types are built in).
    caf::actor_system_config cfg;
    caf::actor_system sys{cfg};
    for (auto& part : cm->members) {
      auto m = bank::xmoney_in_snapshot(*stores.at(part.member), part.snapshot, sys);
      REQUIRE_MESSAGE(m, (m ? "" : m.error().to_string()));
      sum.balances += m->balances;
      sum.local_in_flight += m->local_in_flight;
      sum.remote_in_flight += m->remote_in_flight;
      sum.remote_messages += m->remote_messages;
      sum.gaps += m->gaps;
      sum.duplicates += m->duplicates;
      sum.deposits += m->deposits;
    }
    return sum;
  }
};

TEST_CASE("cluster checkpoints under load conserve money, read from the members' stores") {
  test_cluster c({"a", "b", "c"});
  c.start_all();
  std::this_thread::sleep_for(200ms);
  std::vector<digest> ids;
  uint64_t remote_in_flight_seen = 0;
  for (int i = 0; i < 20; ++i) {
    // Asked of any member: the leader runs it.
    auto& asked = *c.members[c.spec.members[static_cast<size_t>(i) % 3].name];
    auto id = asked.checkpoint();
    REQUIRE_MESSAGE(id, (id ? "" : id.error().to_string()));
    ids.push_back(*id);
    std::this_thread::sleep_for(20ms);
  }
  for (auto& id : ids) {
    auto m = c.money(id);
    CHECK(m.total() == c.initial_total());
    CHECK(m.gaps == 0);
    CHECK(m.duplicates == 0);
    remote_in_flight_seen += m.remote_messages;
  }
  // The load really crossed members (deposits arrived from elsewhere).
  CHECK(c.money(ids.back()).deposits > 0);
  MESSAGE("cross-member deposits recorded in flight over 20 snapshots: " << remote_in_flight_seen);
  // Every member stores the committed cluster manifest and moves its head.
  for (auto& [n, s] : c.stores) {
    auto head = s->get_ref(cluster_head_ref("xbank"));
    REQUIRE(head);
    CHECK(*head == ids.back());
  }
}

// Rollbacks and members that come back need one process per member (CAF 0.17
// gives every actor system of a process the same node id, and a rebuilt one
// confuses its peers' routing): tests/apps/cluster_cli_test.cpp has them.

} // namespace

// -- mutual TLS between members -------------------------------------------------------

namespace {

using namespace amber;
using namespace std::chrono_literals;

// Two members, a and b, where b may bring other TLS settings than a.
struct tls_pair {
  ::test::temp_dir dir{"cluster-tls"};
  std::shared_ptr<registry> types = std::make_shared<registry>();
  cluster_spec base;
  std::map<std::string, std::shared_ptr<lmdb_store>> stores;
  std::map<std::string, std::unique_ptr<cluster_member>> members;

  tls_pair() {
    REQUIRE(bank::register_types(*types).is_ok());
    base.name = "tlsbank";
    base.heartbeat = 100ms;
    base.member_timeout = 1500ms;
    base.checkpoint_timeout = 5s;
    for (std::string n : {"a", "b"}) {
      cluster_member_spec m;
      m.name = n;
      m.host = "127.0.0.1";
      m.port = free_port();
      base.members.push_back(m);
      lmdb_options lo;
      lo.create_if_missing = true;
      auto s = lmdb_store::open((dir.path() / n).string(), lo);
      REQUIRE(s);
      stores[n] = std::move(*s);
    }
  }

  void start(const std::string& n, tls_settings tls) {
    auto spec = base;
    spec.tls = std::move(tls);
    cluster_member_options o;
    graph_def g;
    g.name = "tlsbank";
    g.instances.push_back({"acct-0", bank::xaccount::type_name,
                           {{"balance", "100"}, {"member", n}}});
    o.graphs.push_back(g);
    o.worker_threads = 2;
    auto m = cluster_member::start(spec, n, types, stores[n], std::move(o));
    REQUIRE_MESSAGE(m, (m ? "" : m.error().to_string()));
    members[n] = std::move(*m);
  }
};

TEST_CASE("a member performs its effects only once the cluster snapshot holding them commits") {
  test_cluster c({"a", "b"});
  REQUIRE(c.types->add<fx::source>().is_ok());
  REQUIRE(c.types->add<fx::writer>().is_ok());
  c.effects = true;
  std::map<std::string, std::shared_ptr<::test::mem_txn_sink>> db;
  for (std::string n : {"a", "b"}) {
    db[n] = std::make_shared<::test::mem_txn_sink>("db");
    c.sinks[n] = {db[n]};
  }
  c.start_all();
  for (auto& [name, m] : c.members)
    m->with_node([](node& n) {
      auto src = n.find("source")->handle;
      for (int64_t i = 1; i <= 3; ++i)
        caf::anon_send(src, fx::feed_atom::value, i);
    });
  // The banks never go quiet: wait for the three effects instead.
  auto until = [&](const std::function<bool()>& done) {
    for (int i = 0; i < 200 && !done(); ++i)
      std::this_thread::sleep_for(50ms);
    return done();
  };
  for (auto& [name, m] : c.members)
    REQUIRE(until([&, m = m.get()] {
      uint64_t issued = 0;
      m->with_node([&](node& n) { issued = n.effect_stats().issued; });
      return issued == 3;
    }));
  // b's sink hangs in prepare: a commits its part of the cut, the cluster
  // snapshot never commits (the leader gives up after 3 s).
  db["b"]->close_gate();
  auto aborted = c.members["a"]->checkpoint(3s);
  REQUIRE(!aborted);
  MESSAGE(aborted.error().to_string());
  CHECK(c.stores["a"]->get_ref(head_ref("a")).ok()); // a's node snapshot committed.
  c.members["a"]->with_node([](node& n) { (void)n.deliver_effects(); });
  CHECK(db["a"]->rows().empty()); // Its effects wait for the cluster's snapshot.
  CHECK(db["b"]->rows().empty());
  db["b"]->open_gate();
  auto id = c.members["a"]->checkpoint(10s);
  REQUIRE_MESSAGE(id, (id ? "" : id.error().to_string()));
  for (std::string n : {"a", "b"}) {
    INFO("member " << n);
    CHECK(until([&] { return db[n]->rows().size() == 3; }));
    auto rows = db[n]->rows();
    std::sort(rows.begin(), rows.end());
    CHECK(rows == std::vector<std::string>{"row-1", "row-2", "row-3"});
    CHECK(until([&] { return db[n]->prepared_ids().empty(); }));
  }
}

TEST_CASE("members linked over mutual TLS take cluster checkpoints") {
  auto& certs = ::test::pki::get();
  tls_pair c;
  c.start("a", certs.settings("server"));
  c.start("b", certs.settings("client"));
  REQUIRE(c.members["a"]->wait_ready(15s));
  auto id = c.members["b"]->checkpoint(10s);
  REQUIRE_MESSAGE(id, (id ? "" : id.error().to_string()));
}

TEST_CASE("a member with a certificate of another CA is refused: nothing commits") {
  auto& certs = ::test::pki::get();
  tls_pair c;
  c.start("a", certs.settings("server"));
  c.start("b", certs.settings("rogue", "wrong-ca"));
  CHECK_FALSE(c.members["a"]->wait_ready(3s));
  auto id = c.members["a"]->checkpoint(5s);
  REQUIRE_FALSE(id);
  CHECK(id.error().message().find("'b' is not linked") != std::string::npos);
}

TEST_CASE("a plain member is refused by TLS members") {
  auto& certs = ::test::pki::get();
  tls_pair c;
  c.start("a", certs.settings("server"));
  c.start("b", tls_settings{});
  CHECK_FALSE(c.members["a"]->wait_ready(3s));
  auto id = c.members["a"]->checkpoint(5s);
  REQUIRE_FALSE(id);
}

TEST_CASE("a half TLS setup is refused by amber, before CAF could abort the process") {
  tls_pair c;
  auto spec = c.base;
  spec.tls.ca_file = "/nonexistent/ca.pem";
  auto m = cluster_member::start(spec, "a", c.types, c.stores["a"], {});
  REQUIRE_FALSE(m);
  CHECK(m.error().message().find("cert and key are not") != std::string::npos);
}

} // namespace
