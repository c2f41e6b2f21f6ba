// Issue 9: exactly once across SIGKILLs. A child process (effects_crash_child)
// records transfers as lines in a file sink and rows in a two-phase
// PostgreSQL sink while checkpointing in a loop; it is killed at random
// instants 30 times and restored each time, then runs to the end. Every
// transfer must then be in the file once and in the table once.

#include <map>
#include <random>
#include <sstream>
#include <thread>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include "support/effects_fixture.hpp"
#include "support/pg_server.hpp"
#include "support/temp_dir.hpp"

namespace {

pid_t start_child(const std::vector<std::string>& args) {
  pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> argv{const_cast<char*>(AMBER_EFFECTS_CRASH_CHILD)};
    for (auto& a : args)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(AMBER_EFFECTS_CRASH_CHILD, argv.data());
    ::_exit(127);
  }
  return pid;
}

// Transfer id -> how often `payloads` hold it ("transfer <id> ...").
std::map<int64_t, int> count_ids(const std::vector<std::string>& payloads) {
  std::map<int64_t, int> out;
  for (auto& p : payloads) {
    std::istringstream in(p);
    std::string word;
    int64_t id = 0;
    in >> word >> id;
    ++out[word == "transfer" ? id : -1];
  }
  return out;
}

void check_exactly_once(const std::map<int64_t, int>& ids, int64_t total, const char* where) {
  INFO(where);
  CHECK(ids.count(-1) == 0); // Nothing that is not a transfer.
  int64_t missing = 0, repeated = 0;
  for (int64_t id = 1; id <= total; ++id) {
    auto i = ids.find(id);
    if (i == ids.end())
      ++missing;
    else if (i->second > 1)
      ++repeated;
  }
  CHECK(missing == 0);
  CHECK(repeated == 0);
  CHECK(static_cast<int64_t>(ids.size()) == total);
}

} // namespace

TEST_CASE("every transfer exactly once in a file and in PostgreSQL across 30 SIGKILLs") {
  test::pg_server pg;
  if (!pg.why_not().empty()) {
    MESSAGE("SKIPPED: " << pg.why_not());
    return;
  }
  constexpr int kills = 30;
  const int64_t total = 3000;
  test::temp_dir dir{"amber-fxcrash"};
  std::filesystem::create_directories(dir.path());
  auto store = (dir.path() / "store").string();
  auto file = (dir.path() / "transfers.txt").string();
  std::vector<std::string> args{store, file, pg.conninfo(), std::to_string(total)};
  auto seed = std::random_device{}();
  MESSAGE("seed " << seed);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> delay_ms(20, 400);
  for (int life = 0; life < kills; ++life) {
    pid_t pid = start_child(args);
    REQUIRE(pid > 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(life == 0 ? 1000 : delay_ms(rng)));
    ::kill(pid, SIGKILL);
    int wstatus = 0;
    REQUIRE(::waitpid(pid, &wstatus, 0) == pid);
    INFO("life " << life);
    // Without "finish" the child only ever stops by a signal.
    REQUIRE_MESSAGE(WIFSIGNALED(wstatus), "the child exited with " << WEXITSTATUS(wstatus));
  }
  // How far the killed lives got (the rest is the last life's).
  MESSAGE(count_ids(test::lines_of(file)).size() << " of " << total
                                                  << " transfers performed before the last life");
  // The last life runs to the end (bounded: the child's own timeouts, and this).
  args.push_back("finish");
  pid_t pid = start_child(args);
  int wstatus = 0;
  for (int waited = 0; waited < 1200; ++waited) { // At most 120 s.
    if (::waitpid(pid, &wstatus, WNOHANG) == pid)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (waited == 1199) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &wstatus, 0);
      FAIL("the last life did not finish within 120 s");
    }
  }
  REQUIRE(WIFEXITED(wstatus));
  REQUIRE(WEXITSTATUS(wstatus) == 0);

  check_exactly_once(count_ids(test::lines_of(file)), total, "the file");
  check_exactly_once(count_ids(test::pg_query(pg.conninfo(),
                                              "SELECT convert_from(payload, 'UTF8') FROM transfers")),
                     total, "the table");
  CHECK(test::pg_query(pg.conninfo(), "SELECT gid FROM pg_prepared_xacts").empty());
}
