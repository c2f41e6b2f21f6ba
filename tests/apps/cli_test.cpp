// The command line itself: help, versions, usage errors, JSON errors, and
// the progress line on a terminal.

#include <doctest/doctest.h>

#include <pty.h>
#include <sys/wait.h>

#include "fixtures.hpp"

using namespace amber::apps_test;

namespace {

const std::vector<std::string> commands = {"run",    "restore", "checkpoint", "log",
                                           "show",   "diff",    "verify",     "gc",
                                           "export", "import",  "graph",      "demo"};

// Runs the binary on a pseudo-terminal and returns all it printed.
std::string on_terminal(std::vector<std::string> args) {
  int master = -1;
  pid_t pid = ::forkpty(&master, nullptr, nullptr, nullptr);
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::unsetenv("AMBER_STORE");
    exec_amber(args);
  }
  std::string out;
  char buf[4096];
  auto deadline = std::chrono::steady_clock::now() + 30s;
  for (;;) {
    pollfd p{master, POLLIN, 0};
    if (::poll(&p, 1, 100) > 0) {
      ssize_t n = ::read(master, buf, sizeof buf);
      if (n <= 0)
        break; // EIO once the child has exited
      out.append(buf, static_cast<size_t>(n));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      break;
    }
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  ::close(master);
  CHECK(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
  return out;
}

} // namespace

TEST_CASE("--help lists every command and the exit codes") {
  auto r = run_amber({"--help"});
  CHECK(r.code == 0);
  for (auto& c : commands)
    CHECK_MESSAGE(contains(r.out, "  " + c + " "), c);
  CHECK(contains(r.out, "Exit codes"));
}

TEST_CASE("every command has --help, and --version, and all but demo have --json") {
  for (auto& c : commands) {
    CAPTURE(c);
    auto help = run_amber({c, "--help"});
    CHECK(help.code == 0);
    CHECK(contains(help.out, "Usage"));
    if (c != "demo") {
      CHECK(contains(help.out, "--json"));
      auto version = run_amber({c, "--version"});
      CHECK(version.code == 0);
      CHECK(contains(version.out, "amber 0."));
    }
  }
  auto v = run_amber({"--version"});
  CHECK(v.code == 0);
  CHECK(contains(v.out, "store format amber-store/1"));
}

TEST_CASE("bad command lines exit 2") {
  for (auto args : std::vector<std::vector<std::string>>{
         {},
         {"frobnicate"},
         {"log", "--no-such-flag"},
         {"show"},
         {"diff", "a"},
         {"gc", "--keep", "0"},
         {"gc", "--keep", "many"},
         // Issue 10: numbers CLI11 wrapped or let through (they exited 0).
         {"gc", "--keep", "99999999999999999999999"},
         {"log", "-n", "-1"},
         {"run", example("bank-small.toml"), "--threads", "-1"},
         {"run", example("bank-small.toml"), "--threads", "0"},
         {"checkpoint"},
         {"checkpoint", "--control", "127.0.0.1:notaport"},
         {"checkpoint", "--control", "127.0.0.1:1", "--timeout", "soon"},
         {"run", example("bank-small.toml"), "--checkpoint-every", "5 minutes"},
         {"run", example("bank-small.toml"), "--checkpoint-every", "1s", "--no-store"},
         {"run", example("bank-small.toml"), "--store", "x", "--no-store"},
         {"run", example("bank-small.toml"), "--control", "0.0.0.0:0"},
         // Issue 10: TCP control needs a token; unix: needs a path.
         {"run", example("bank-small.toml"), "--control", "127.0.0.1:0"},
         {"run", example("bank-small.toml"), "--control", "unix:"},
         {"run", example("bank-small.toml"), "--control-token-file", "t"},
       }) {
    std::string joined;
    for (auto& a : args)
      joined += a + " ";
    CAPTURE(joined);
    auto r = run_amber(args);
    CHECK(r.code == 2);
    CHECK(!r.err.empty());
  }
}

TEST_CASE("amber graph of a directory says it is not a graph file (issue 10)") {
  scratch dir;
  auto r = run_amber({"graph", dir.path().string()});
  CHECK(r.code == 5);
  CHECK(contains(r.err, "is a directory"));
}

TEST_CASE("a missing store exits 3 and says how to name one") {
  scratch dir;
  auto r = run_amber({"log", "--store", dir / "nope"});
  CHECK(r.code == 3);
  CHECK(contains(r.err, dir / "nope"));
  auto j = run_amber({"verify", "--store", dir / "nope", "--json"});
  CHECK(j.code == 3);
  auto err = json::parse(j.out);
  CHECK(err.at("error").at("code") == "not_a_store");
  CHECK(err.at("error").at("exit") == 3);
}

TEST_CASE("long work draws a progress line on a terminal, and never into a pipe") {
  const auto& store = history_store();
  auto tty = on_terminal({"verify", "--store", store});
  CHECK(contains(tty, "\rchecking blobs: "));
  CHECK(contains(tty, "all ok"));
  auto piped = run_amber({"verify", "--store", store});
  CHECK(piped.code == 0);
  CHECK(!contains(piped.out, "\r"));
  CHECK(!contains(piped.out, "checking blobs"));
}
