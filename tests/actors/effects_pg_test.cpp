// Issue 9: the PostgreSQL sink, exactly once across a restore and a replay,
// and a server that is down. A throwaway server from Debian's postgresql
// package runs in a temporary directory on a Unix socket (as the
// unprivileged user amberpg when the test runs as root); without the server
// binaries the tests are skipped.

#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>

#include <caf/scoped_actor.hpp>
#include <doctest/doctest.h>
#include <libpq-fe.h>
#include <unistd.h>

#include "amber/actors/checkpointer.hpp"
#include "amber/actors/restore.hpp"
#include "amber/runtime/atoms.hpp"
#include "amber/runtime/component.hpp"
#include "amber/runtime/pg_sink.hpp"
#include "amber/storage/memory_store.hpp"
#include "support/temp_dir.hpp"

using namespace amber;
namespace fs = std::filesystem;

namespace {

using feed_atom = caf::atom_constant<caf::atom("feed")>;
using row_atom = caf::atom_constant<caf::atom("row")>;

struct count_state {
  int64_t count = 0;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& count;
  }
};

class source : public component<count_state> {
public:
  static constexpr const char* type_name = "pg.source";
  static package_ref package() { return {"pgfx", "1.0.0"}; }
  using component::component;
  caf::behavior make_behavior() override {
    return {[this](feed_atom, int64_t i) {
      ++state().count;
      send_to("writer", row_atom::value, i);
    }};
  }
};

// Turns each message into one effect on the "rows" sink.
class writer : public component<count_state> {
public:
  static constexpr const char* type_name = "pg.writer";
  static package_ref package() { return {"pgfx", "1.0.0"}; }
  using component::component;
  bool issues_effects() const override { return true; }
  caf::behavior make_behavior() override {
    return {[this](row_atom, int64_t i) {
      ++state().count;
      (void)effect("rows", "row-" + std::to_string(i));
    }};
  }
};

std::shared_ptr<registry> make_types() {
  auto reg = std::make_shared<registry>();
  reg->add<source>();
  reg->add<writer>();
  return reg;
}

// The newest /usr/lib/postgresql/<v>/bin holding initdb and pg_ctl (or the
// directory in AMBER_PG_BIN); empty when none.
fs::path pg_bin() {
  if (const char* env = std::getenv("AMBER_PG_BIN")) {
    fs::path bin = env;
    return fs::exists(bin / "initdb") && fs::exists(bin / "pg_ctl") ? bin : fs::path();
  }
  fs::path best;
  std::error_code ec;
  for (auto& d : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    auto bin = d.path() / "bin";
    if (fs::exists(bin / "initdb") && fs::exists(bin / "pg_ctl") && bin > best)
      best = bin;
  }
  return best;
}

// A throwaway server in a temporary directory, stopped on scope exit.
class pg_server {
public:
  pg_server() : dir_("amber-pg") {
    bin_ = pg_bin();
    if (bin_.empty()) {
      why_ = "no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql/*/bin"
             " or AMBER_PG_BIN (apt-get install postgresql)";
      return;
    }
    fs::create_directories(dir_.path());
    if (::getuid() == 0) {
      if (std::system("id -u amberpg >/dev/null 2>&1 || useradd -r amberpg") != 0) {
        why_ = "running as root and cannot create the user amberpg for initdb";
        return;
      }
      as_ = "runuser -u amberpg -- ";
      if (std::system(("chown amberpg " + dir_.str()).c_str()) != 0) {
        why_ = "cannot chown " + dir_.str() + " to amberpg";
        return;
      }
    }
    auto init = as_ + (bin_ / "initdb").string() + " -D " + data() + " -A trust -U amber"
                + " >" + dir_.str() + "/initdb.log 2>&1";
    if (std::system(init.c_str()) != 0) {
      why_ = "initdb failed (see " + dir_.str() + "/initdb.log)";
      return;
    }
    if (!start())
      why_ = "pg_ctl start failed";
  }
  ~pg_server() { stop(); }
  pg_server(const pg_server&) = delete;
  pg_server& operator=(const pg_server&) = delete;

  bool start() {
    auto cmd = as_ + (bin_ / "pg_ctl").string() + " -D " + data() + " -l " + dir_.str()
               + "/server.log -o \"-k " + dir_.str()
               + " -c listen_addresses='' -c max_prepared_transactions=8\" -w start"
               + " >/dev/null 2>&1";
    running_ = std::system(cmd.c_str()) == 0;
    return running_;
  }
  void stop() {
    if (!running_)
      return;
    auto cmd = as_ + (bin_ / "pg_ctl").string() + " -D " + data()
               + " -m immediate stop >/dev/null 2>&1";
    (void)std::system(cmd.c_str());
    running_ = false;
  }

  /// Empty when the server runs; else why it does not.
  const std::string& why_not() const { return why_; }
  std::string conninfo() const { return "host=" + dir_.str() + " user=amber dbname=postgres"; }

private:
  std::string data() const { return dir_.str() + "/data"; }

  test::temp_dir dir_;
  fs::path bin_;
  std::string as_;
  std::string why_;
  bool running_ = false;
};

std::shared_ptr<pg_sink> open_sink(const pg_server& pg) {
  auto s = pg_sink::open("rows", pg.conninfo(), "effect rows");
  REQUIRE_MESSAGE(s.ok(), s.error().to_string());
  return *s;
}

// The table's payloads and its number of rows.
std::pair<std::set<std::string>, int> rows_of(const pg_server& pg) {
  PGconn* c = PQconnectdb(pg.conninfo().c_str());
  REQUIRE(PQstatus(c) == CONNECTION_OK);
  PGresult* r = PQexec(c, "SELECT convert_from(payload, 'UTF8') FROM \"effect rows\"");
  REQUIRE(PQresultStatus(r) == PGRES_TUPLES_OK);
  std::set<std::string> out;
  int n = PQntuples(r);
  for (int i = 0; i < n; ++i)
    out.insert(PQgetvalue(r, i, 0));
  PQclear(r);
  PQfinish(c);
  return {out, n};
}

std::pair<std::set<std::string>, int> expected(int64_t from, int64_t to) {
  std::set<std::string> out;
  for (auto i = from; i <= to; ++i)
    out.insert("row-" + std::to_string(i));
  return {out, static_cast<int>(to - from + 1)};
}

std::unique_ptr<node> make_node(std::shared_ptr<registry> reg,
                                std::shared_ptr<effect_sink> sink) {
  node_options opts;
  opts.name = "pgfx";
  auto n = std::make_unique<node>(reg, opts);
  REQUIRE(n->add_sink(sink).is_ok());
  graph_def g;
  g.name = "pgfx";
  g.instances.push_back({"source", "pg.source", {}});
  g.instances.push_back({"writer", "pg.writer", {}});
  REQUIRE(n->install(g).is_ok());
  return n;
}

void feed(node& n, int64_t from, int64_t to) {
  {
    caf::scoped_actor self{n.system()};
    auto src = n.find("source")->handle;
    for (auto i = from; i <= to; ++i)
      self->send(src, feed_atom::value, i);
    self->request(src, std::chrono::seconds(10), snapshot_atom::value)
      .receive([](std::string&) {}, [](caf::error&) { FAIL("no answer"); });
  }
  REQUIRE(n.wait_quiet(std::chrono::seconds(10)));
}

digest checkpoint(node& n, std::shared_ptr<store> db) {
  checkpointer cp(n, db);
  auto r = cp.checkpoint();
  REQUIRE_MESSAGE(r.ok(), r.error().to_string());
  return *r;
}

std::unique_ptr<node> restore(store& s, const digest& id, std::shared_ptr<registry> reg,
                              std::shared_ptr<effect_sink> sink) {
  restore_options opts;
  opts.sinks.push_back(std::move(sink));
  auto n = restore_node(s, id.to_hex(), reg, opts);
  REQUIRE_MESSAGE(n.ok(), n.error().to_string());
  return std::move(*n);
}

} // namespace

TEST_CASE("the PostgreSQL sink: every row exactly once after a restore and a replay") {
  pg_server pg;
  if (!pg.why_not().empty()) {
    MESSAGE("SKIPPED: " << pg.why_not());
    return;
  }
  auto reg = make_types();
  auto db = std::make_shared<memory_store>();
  digest s1, s2;
  {
    auto n = make_node(reg, open_sink(pg));
    feed(*n, 1, 10);
    CHECK(rows_of(pg).second == 0); // Nothing before a snapshot holds it.
    s1 = checkpoint(*n, db);
    CHECK(rows_of(pg) == expected(1, 10));
    feed(*n, 11, 20);
    s2 = checkpoint(*n, db);
    feed(*n, 21, 25); // Never committed: the "crash" loses them.
  }
  CHECK(rows_of(pg) == expected(1, 20));

  SUBCASE("from the newest snapshot") {
    auto n = restore(*db, s2, reg, open_sink(pg)); // 11..20 again: dropped.
    CHECK(rows_of(pg) == expected(1, 20));
    feed(*n, 21, 25);
    checkpoint(*n, db);
    CHECK(rows_of(pg) == expected(1, 25));
  }
  SUBCASE("from an older snapshot, replaying the same inputs") {
    auto n = restore(*db, s1, reg, open_sink(pg));
    CHECK(rows_of(pg) == expected(1, 20));
    feed(*n, 11, 25);
    checkpoint(*n, db);
    CHECK(rows_of(pg) == expected(1, 25));
  }
}

TEST_CASE("the PostgreSQL sink: a server that is down leaves effects pending, then delivers") {
  pg_server pg;
  if (!pg.why_not().empty()) {
    MESSAGE("SKIPPED: " << pg.why_not());
    return;
  }
  auto reg = make_types();
  auto db = std::make_shared<memory_store>();
  auto n = make_node(reg, open_sink(pg));
  feed(*n, 1, 3);
  pg.stop();
  checkpoint(*n, db); // The snapshot commits; the effects wait.
  auto stats = n->effect_stats();
  CHECK(stats.pending == 3);
  CHECK(stats.failures >= 1);
  auto why = stats.last_error.to_string();
  CHECK(why.find("PostgreSQL sink 'rows'") != std::string::npos);
  CHECK(why.find("table 'effect rows'") != std::string::npos);
  CHECK(why.find("still pending") != std::string::npos);
  MESSAGE("the error: " << why);
  auto none = pg_sink::open("rows", pg.conninfo(), "effect rows"); // Server down.
  REQUIRE(!none.ok());
  CHECK(none.error().code() == errc::io_error);
  CHECK(none.error().to_string().find("PostgreSQL sink 'rows', table 'effect rows': connecting")
        != std::string::npos);

  SUBCASE("after the server is back: deliver_effects") {
    REQUIRE(pg.start());
    auto st = n->deliver_effects();
    CHECK_MESSAGE(st.is_ok(), st.to_string());
    CHECK(rows_of(pg) == expected(1, 3));
    CHECK(n->effect_stats().pending == 0);
  }
  SUBCASE("after the server is back: the next checkpoint") {
    REQUIRE(pg.start());
    feed(*n, 4, 5);
    checkpoint(*n, db);
    CHECK(rows_of(pg) == expected(1, 5));
    checkpoint(*n, db);
    CHECK(n->effect_stats().pending == 0);
  }
}
