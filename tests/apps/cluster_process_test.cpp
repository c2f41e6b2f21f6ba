// Cluster checkpoints with every member in its own `amber run --cluster`
// process on loopback (issue 8): checkpoints under load, SIGKILL at each
// step of the two-phase commit, a member killed and restored (the whole
// cluster rolls back), and links broken under load by a proxy. Every check
// of money reads the cluster snapshots back from the members' stores alone.

#include <doctest/doctest.h>

#include <thread>

#include "support/cluster_harness.hpp"
#include "support/tcp_proxy.hpp"
#include "support/test_pki.hpp"

using namespace amber;
using namespace amber::cluster_harness;
using namespace std::chrono_literals;

namespace {

// The test talks to members over sockets and a proxy that resets them: a
// write to a peer that is gone must be an error, not the end of the test.
const bool sigpipe_ignored = [] {
  ::signal(SIGPIPE, SIG_IGN);
  return true;
}();

} // namespace

namespace {

// Kept under a minute on two shared cores.
constexpr int checkpoints_under_load = 100;

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

struct scratch_dir {
  fs::path path;
  scratch_dir() {
    static int n = 0;
    path = fs::temp_directory_path()
           / ("amber-cluster-proc-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    fs::remove_all(path);
  }
  ~scratch_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// Money in cluster snapshot `id` (read from `from`'s store) is the initial
// total, nothing was lost or duplicated, and every member snapshot exists.
void check_money(process_cluster& c, const std::string& from, const std::string& id) {
  auto m = c.money_in(from, id);
  INFO("cluster snapshot " << id << " (incarnation " << m.meta.incarnation << ", epoch "
                           << m.meta.epoch << ")");
  CHECK(m.missing.empty());
  CHECK(m.meta.members.size() == c.opts().members.size());
  CHECK(m.sum.total() == c.initial_total());
  CHECK(m.sum.gaps == 0);
  CHECK(m.sum.duplicates == 0);
}

// A successful checkpoint through `via`, retried while the cluster settles.
std::string checkpoint_eventually(process_cluster& c, const std::string& via,
                                  std::chrono::seconds within = 20s) {
  auto deadline = clock_type::now() + within;
  checkpoint_outcome r;
  do {
    r = c.checkpoint(via);
    if (r.code == 0 && r.id.size() == 64)
      return r.id;
    std::this_thread::sleep_for(200ms);
  } while (clock_type::now() < deadline);
  FAIL("no cluster checkpoint succeeded through " << via << " within " << within.count()
                                                  << " s; last: exit " << r.code << ": " << r.err);
  return {};
}

uint64_t max_incarnation(const std::map<std::string, uint64_t>& incs) {
  uint64_t out = 0;
  for (auto& [n, i] : incs)
    out = std::max(out, i);
  return out;
}

} // namespace

TEST_CASE("cluster checkpoints of three member processes under load conserve money") {
  auto t0 = clock_type::now();
  scratch_dir dir;
  process_cluster c(dir.path, {});
  c.start_all();
  c.wait_ready();
  std::this_thread::sleep_for(300ms); // Transfers under way.
  std::vector<std::string> ids;
  const auto& names = c.opts().members;
  for (int i = 0; i < checkpoints_under_load; ++i) {
    auto via = names[static_cast<size_t>(i) % names.size()]; // Rotating members.
    auto r = c.checkpoint(via);
    REQUIRE_MESSAGE(r.code == 0, "checkpoint " << i << " via " << via << ": " << r.err);
    REQUIRE(r.id.size() == 64);
    ids.push_back(r.id);
  }
  std::this_thread::sleep_for(300ms); // The last commit reaches every member.
  auto bad = c.stop_all();
  CHECK_MESSAGE(bad.empty(), bad);

  // Read from the stores alone: one chain, the same head in every store.
  auto chain = c.chain("a");
  REQUIRE(chain.size() == ids.size());
  CHECK(chain.front().id.to_hex() == ids.back());
  for (auto& n : names)
    CHECK_MESSAGE(c.head(n) == ids.back(), "member " << n);
  uint64_t remote_in_flight = 0;
  for (size_t i = 0; i < chain.size(); ++i) {
    CHECK(chain[i].id.to_hex() == ids[ids.size() - 1 - i]);
    check_money(c, "a", chain[i].id.to_hex());
    remote_in_flight += c.money_in("a", chain[i].id.to_hex()).sum.remote_messages;
  }
  CHECK(c.money_in("a", ids.back()).sum.deposits > 0);
  MESSAGE(checkpoints_under_load << " cluster checkpoints; cross-member deposits in flight "
                                 << "recorded: " << remote_in_flight << "; "
                                 << seconds_since(t0) << " s");
}

TEST_CASE("a member SIGKILLed at a step of the two-phase commit: all or none, then it comes back"
          * doctest::timeout(150)) {
  struct crash_step {
    const char* member;
    const char* step;
  };
  // b is not the leader; a (the first member) is.
  const crash_step steps[] = {{"b", "before_prepare"}, {"b", "after_prepare"},
                              {"a", "after_manifest"}};
  for (auto& s : steps) {
    auto t0 = clock_type::now();
    CAPTURE(s.member);
    CAPTURE(s.step);
    scratch_dir dir;
    process_cluster c(dir.path, {});
    const std::string victim = s.member;
    const std::string asker = "c"; // A survivor in every case.
    c.start_all();
    c.wait_ready();
    // A committed cluster snapshot to come back to.
    auto first = checkpoint_eventually(c, asker);
    // The victim dies and comes back with the crash hook armed.
    c.kill(victim);
    CHECK(c.wait_exit(victim) == 128 + SIGKILL);
    c.start(victim, /*restore=*/true,
            {"AMBER_TEST_CLUSTER_CRASH=" + victim + ":" + std::string(s.step)});
    auto incs = c.wait_ready({}, 1);
    // The checkpoint that kills it: answered or not, the victim dies.
    auto r = c.checkpoint(asker, "8s");
    CHECK(c.wait_exit(victim, 15s) == 128 + SIGKILL);
    MESSAGE("checkpoint during the crash: exit " << r.code << " " << r.err);
    // The survivors keep running.
    std::this_thread::sleep_for(1500ms);
    c.pump_all();
    for (auto& n : c.opts().members)
      if (n != victim)
        CHECK_MESSAGE(c.alive(n), "survivor " << n << ": " << c.output(n));
    // Back without the hook: the cluster rolls back to the newest committed snapshot.
    c.start(victim, /*restore=*/true);
    c.wait_ready({}, max_incarnation(incs) + 1);
    // All or none: every store has the same head, the newest committed one.
    std::string head = c.head("a");
    REQUIRE(head.size() == 64);
    for (auto& n : c.opts().members)
      CHECK_MESSAGE(c.head(n) == head, "member " << n);
    if (r.code == 0)
      CHECK(head == r.id); // Committed: everywhere.
    else
      CHECK((head == first || s.step == std::string("after_manifest")));
    // The next checkpoint succeeds and conserves money.
    auto next = checkpoint_eventually(c, asker);
    std::this_thread::sleep_for(300ms);
    auto bad = c.stop_all();
    CHECK_MESSAGE(bad.empty(), bad);
    check_money(c, "a", next);
    check_money(c, "a", head);
    MESSAGE("crash at " << s.member << ":" << s.step << ": " << seconds_since(t0) << " s");
  }
}

TEST_CASE("a killed member restored from its store rolls the whole cluster back at max + 1"
          * doctest::timeout(60)) {
  auto t0 = clock_type::now();
  scratch_dir dir;
  process_cluster c(dir.path, {});
  c.start_all();
  auto before = c.wait_ready();
  std::this_thread::sleep_for(300ms);
  std::string last;
  for (int i = 0; i < 3; ++i)
    last = checkpoint_eventually(c, "b");
  auto old_meta = c.money_in("a", last).meta;
  uint64_t max_before = max_incarnation(before);
  for (auto& m : old_meta.members)
    max_before = std::max(max_before, m.incarnation);
  std::this_thread::sleep_for(500ms); // Transfers after the snapshot: rolled back.
  c.kill("c");
  CHECK(c.wait_exit("c") == 128 + SIGKILL);
  c.start("c", /*restore=*/true);
  auto after = c.wait_ready({}, max_before + 1);
  std::this_thread::sleep_for(500ms); // Transfers resume.
  auto next = checkpoint_eventually(c, "a");
  std::this_thread::sleep_for(300ms);
  auto bad = c.stop_all();
  CHECK_MESSAGE(bad.empty(), bad);
  auto m = c.money_in("a", next);
  // Every member at one new incarnation, one above the highest before.
  for (auto& part : m.meta.members)
    CHECK_MESSAGE(part.incarnation == max_before + 1,
                  "member " << part.member << " at incarnation " << part.incarnation
                            << ", the highest before was " << max_before);
  CHECK(m.meta.incarnation == max_before + 1);
  for (auto& [n, inc] : after)
    CHECK(inc == max_before + 1);
  check_money(c, "a", next);
  CHECK(m.sum.deposits > c.money_in("a", last).sum.deposits); // Transfers resumed.
  MESSAGE("kill and restore: " << seconds_since(t0) << " s");
}

TEST_CASE("links reset under load by a proxy lose and duplicate no deposit") {
  auto t0 = clock_type::now();
  scratch_dir dir;
  process_cluster c(dir.path, {});
  // Every connection between a and b goes through a proxy (whichever side
  // dials, CAF keeps one connection per pair); c is reached directly.
  test::tcp_proxy to_a(c.port("a"));
  test::tcp_proxy to_b(c.port("b"));
  auto file_a = c.write_cluster_file("cluster-a.toml", {{"b", to_b.port()}});
  auto file_b = c.write_cluster_file("cluster-b.toml", {{"a", to_a.port()}});
  c.start("a", false, {}, file_a);
  c.start("b", false, {}, file_b);
  c.start("c");
  c.wait_ready();
  std::this_thread::sleep_for(300ms);
  std::vector<std::string> ids{checkpoint_eventually(c, "c")};
  for (int i = 0; i < 5; ++i) {
    to_a.reset_all();
    to_b.reset_all();
    std::this_thread::sleep_for(400ms);
    c.pump_all();
    auto r = c.checkpoint("c", "5s"); // May abort while the link is down.
    if (r.code == 0)
      ids.push_back(r.id);
  }
  ids.push_back(checkpoint_eventually(c, "c"));
  std::this_thread::sleep_for(300ms);
  auto bad = c.stop_all();
  CHECK_MESSAGE(bad.empty(), bad);
  CHECK(to_a.resets() + to_b.resets() >= 5); // The links really went through the proxies.
  for (auto& id : ids)
    check_money(c, "a", id);
  auto chain = c.chain("a");
  for (auto& e : chain)
    check_money(c, "a", e.id.to_hex());
  MESSAGE("proxy connections " << to_a.connections() + to_b.connections() << ", resets "
                               << to_a.resets() + to_b.resets() << ", checkpoints "
                               << ids.size() << "; " << seconds_since(t0) << " s");
}

TEST_CASE("three members over mutual TLS: checkpoints, a kill and a rollback, money conserved"
          * doctest::timeout(90)) {
  auto t0 = clock_type::now();
  auto& certs = ::test::pki::get();
  scratch_dir dir;
  options o;
  auto tls = certs.settings("server");
  o.tls_ca = tls.ca_file;
  o.tls_cert = tls.cert_file;
  o.tls_key = tls.key_file;
  process_cluster c(dir.path, o);
  c.start_all();
  auto before = c.wait_ready();
  std::string last;
  for (int i = 0; i < 10; ++i)
    last = checkpoint_eventually(c, i % 2 == 0 ? "b" : "c");
  c.kill("b");
  CHECK(c.wait_exit("b") == 128 + SIGKILL);
  c.start("b", /*restore=*/true);
  c.wait_ready({}, max_incarnation(before) + 1);
  auto next = checkpoint_eventually(c, "a");
  std::this_thread::sleep_for(200ms);
  auto bad = c.stop_all();
  CHECK_MESSAGE(bad.empty(), bad);
  check_money(c, "a", last);
  check_money(c, "a", next);
  MESSAGE("TLS cluster: " << seconds_since(t0) << " s");
}

TEST_CASE("a rollback to an older cluster snapshot becomes the head, so a later crash keeps it"
          * doctest::timeout(90)) {
  scratch_dir dir;
  process_cluster c(dir.path, {});
  c.start_all();
  auto before = c.wait_ready();
  auto oldest = checkpoint_eventually(c, "a");
  std::string newest;
  for (int i = 0; i < 3; ++i)
    newest = checkpoint_eventually(c, "b");
  auto r = c.rollback("c", oldest);
  REQUIRE_MESSAGE(r.code == 0, r.err << r.out);
  auto incs = c.wait_ready({}, max_incarnation(before) + 1);
  // Every store's head: a new cluster snapshot at the new incarnation whose
  // parent is the one rolled back to, naming the same member snapshots.
  std::this_thread::sleep_for(1500ms); // Hellos carry the head to every member.
  auto head = c.head("a");
  for (auto& n : c.opts().members)
    CHECK_MESSAGE(c.head(n) == head, "member " << n);
  auto m = c.money_in("a", head);
  auto was = c.money_in("a", oldest);
  CHECK(m.meta.incarnation == max_incarnation(incs));
  REQUIRE(m.meta.parents.size() == 1);
  CHECK(m.meta.parents[0].to_hex() == oldest);
  CHECK(m.meta.members == was.meta.members);
  // A member that dies now comes back to it, not to the newer one.
  c.kill("b");
  CHECK(c.wait_exit("b") == 128 + SIGKILL);
  c.start("b", /*restore=*/true);
  c.wait_ready({}, max_incarnation(incs) + 1);
  auto next = checkpoint_eventually(c, "a");
  auto after = c.money_in("a", next);
  REQUIRE(after.meta.parents.size() == 1);
  CHECK(after.meta.parents[0].to_hex() == head);
  auto bad = c.stop_all();
  CHECK_MESSAGE(bad.empty(), bad);
  check_money(c, "a", next);
}
