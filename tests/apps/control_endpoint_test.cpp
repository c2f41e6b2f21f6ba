// The control endpoint under attack (issue 10): callers that are not the
// node's user or lack the token are refused, and hostile frames (a header
// claiming 4 GiB, many large headers, garbage, floods, silent callers, an
// exit-like request) make it refuse, never crash or grow; a legitimate
// `amber checkpoint` still answers.

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <fstream>
#include <set>
#include <thread>

#include "cli_common.hpp"
#include "fixtures.hpp"

using namespace amber::apps_test;

namespace {

// A raw client socket: unix:PATH or 127.0.0.1:PORT.
class raw_client {
public:
  explicit raw_client(const std::string& control) {
    if (control.rfind("unix:", 0) == 0) {
      fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
      sockaddr_un sa{};
      sa.sun_family = AF_UNIX;
      std::strncpy(sa.sun_path, control.c_str() + 5, sizeof sa.sun_path - 1);
      connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    } else {
      fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      sa.sin_port = htons(static_cast<uint16_t>(std::stoi(control.substr(control.rfind(':') + 1))));
      connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    }
  }
  ~raw_client() { ::close(fd_); }
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;

  bool connected() const { return connected_; }
  void send(const std::string& bytes) { ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL); }

  // Everything the server sends until it closes, or until `timeout`.
  // `closed` tells which.
  std::string read_until_closed(std::chrono::milliseconds timeout, bool* closed) {
    std::string got;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    *closed = false;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0)
        continue;
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        *closed = true;
        break;
      }
      got.append(buf, static_cast<size_t>(n));
    }
    return got;
  }

private:
  int fd_ = -1;
  bool connected_ = false;
};

std::string header(uint32_t n) {
  std::string h(4, '\0');
  h[0] = static_cast<char>(n >> 24);
  h[1] = static_cast<char>(n >> 16);
  h[2] = static_cast<char>(n >> 8);
  h[3] = static_cast<char>(n);
  return h;
}

std::string frame(const std::string& payload) {
  return header(static_cast<uint32_t>(payload.size())) + payload;
}

// The JSON reply in a frame the server sent.
json reply_of(const std::string& bytes) {
  REQUIRE(bytes.size() >= 4);
  return json::parse(bytes.substr(4));
}

long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stol(line.substr(6));
  return -1;
}

bool alive(pid_t pid) { return ::kill(pid, 0) == 0; }

// Starts `run ... --json` and returns its "started" event.
json started(child& node) {
  auto line = node.wait_for_line([](auto& l) { return contains(l, "\"started\""); });
  REQUIRE_MESSAGE(line, (node.out + node.err));
  return json::parse(*line);
}

std::string make_token(const scratch& dir, const std::string& name, const std::string& token) {
  std::string path = dir / name;
  write_text(path, token + "\n");
  return path;
}

// The attack of issue 10 against `control`, then the checks: alive, RSS
// bounded, and a legitimate checkpoint still answered (exit 0).
void attack(child& node, pid_t pid, const std::string& control,
            const std::vector<std::string>& legit_args) {
  auto legit = [&] {
    std::vector<std::string> args = {"checkpoint", "--control", control, "--timeout", "20s"};
    args.insert(args.end(), legit_args.begin(), legit_args.end());
    return run_amber(args);
  };
  auto first = legit();
  REQUIRE_MESSAGE(first.code == 0, first.err);
  long before = rss_kib(pid);
  REQUIRE(before > 0);

  {
    // One 32-byte header claiming 4 GiB: refused from the header, closed.
    raw_client c(control);
    REQUIRE(c.connected());
    c.send(header(0xFFFFFFFFu) + std::string(28, '\0'));
    bool closed = false;
    auto got = c.read_until_closed(5s, &closed);
    CHECK(closed);
    auto r = reply_of(got);
    CHECK(r.at("ok") == false);
    CHECK(contains(r.at("error").at("message").get<std::string>(), "4294967295 bytes is larger"));
  }
  {
    // Many large headers: 64 callers each claiming 256 MiB.
    std::vector<std::unique_ptr<raw_client>> many;
    for (int i = 0; i < 64; ++i) {
      many.push_back(std::make_unique<raw_client>(control));
      many.back()->send(header(256u << 20) + std::string(1024, 'x'));
    }
  }
  {
    // Garbage, and an exit-like request (CAF's would kill the control actor).
    raw_client g(control);
    std::string junk(32 * 1024, '\0');
    for (size_t i = 0; i < junk.size(); ++i)
      junk[i] = static_cast<char>((i * 2654435761u) >> 13);
    g.send(junk);
    raw_client e(control);
    e.send(frame("exit user_shutdown"));
    bool closed = false;
    auto r = reply_of(e.read_until_closed(5s, &closed));
    CHECK(closed);
    CHECK(r.at("ok") == false);
  }
  {
    // A flood of connections that connect and send nothing: the idle ones
    // are closed (timeout, or evicted for newcomers), and a prompt caller
    // still gets in while they hang.
    std::vector<std::unique_ptr<raw_client>> silent;
    for (int i = 0; i < 40; ++i)
      silent.push_back(std::make_unique<raw_client>(control));
    auto during = legit();
    CHECK_MESSAGE(during.code == 0, during.err);
    raw_client last(control);
    bool closed = false;
    last.read_until_closed(12s, &closed);
    CHECK_MESSAGE(closed, "a silent caller must be disconnected (idle timeout)");
  }
  CHECK(alive(pid));
  long after = rss_kib(pid);
  MESSAGE("control endpoint RSS: " << before << " KiB before the attack, " << after << " after");
  CHECK(after < before + 32 * 1024);
  auto last = legit();
  CHECK_MESSAGE(last.code == 0, last.err);
  CHECK(alive(pid));
  // The node's --json output stayed JSON: nothing printed unexpected messages.
  node.pump(100ms);
  for (auto& line : json_lines(node.out))
    CHECK(line.is_object());
}

// `amber run` of the small bank on `store` with its control socket at `sock`.
std::vector<std::string> unix_node(const std::string& store, const std::string& sock) {
  return {"run", example("bank-small.toml"), "--store", store, "--control", "unix:" + sock,
          "--json"};
}

} // namespace

TEST_CASE("a Unix control socket is 0600, answers amber checkpoint, and survives hostile callers") {
  scratch dir;
  std::string store = dir / "s";
  std::string sock = dir / "ctl.sock";
  child node(unix_node(store, sock));
  auto ev = started(node);
  CHECK(ev.at("control") == "unix:" + sock);
  struct stat st{};
  REQUIRE(::stat(sock.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  auto j = amber_json({"checkpoint", "--control", "unix:" + sock});
  CHECK(j.at("id") == log_ids(store).at(0));
  {
    raw_client c("unix:" + sock);
    c.send(frame("status"));
    bool closed = false;
    auto r = reply_of(c.read_until_closed(1s, &closed));
    CHECK(!closed); // one request at a time, on a connection that stays open
    CHECK(r.at("node") == "small-bank");
    CHECK(r.at("pid") == ev.at("pid"));
  }

  attack(node, ev.at("pid").get<pid_t>(), "unix:" + sock, {});

  // `stop` over the socket stops the node as SIGTERM does: a final checkpoint.
  raw_client s("unix:" + sock);
  s.send(frame("stop"));
  CHECK(node.wait() == 0);
  CHECK(contains(node.out, "\"final\""));
  CHECK(!std::filesystem::exists(sock));
}

TEST_CASE("a flood of checkpoint requests shares checkpoints instead of taking one each") {
  scratch dir;
  std::string store = dir / "s";
  std::string sock = dir / "ctl.sock";
  child node(unix_node(store, sock));
  started(node);
  auto before = log_ids(store).size();
  constexpr int callers = 12;
  std::vector<std::unique_ptr<raw_client>> flood;
  for (int i = 0; i < callers; ++i) {
    flood.push_back(std::make_unique<raw_client>("unix:" + sock));
    flood.back()->send(frame("checkpoint"));
  }
  std::set<std::string> ids;
  for (auto& c : flood) {
    bool closed = false;
    auto got = c->read_until_closed(3s, &closed);
    auto r = reply_of(got);
    REQUIRE_MESSAGE(r.at("ok") == true, r.dump());
    ids.insert(r.at("id").get<std::string>());
  }
  // One runs while the others arrive; those share the next (at most a few).
  auto taken = log_ids(store).size() - before;
  MESSAGE(callers << " requests took " << taken << " checkpoints");
  CHECK(taken == ids.size());
  CHECK(taken < callers / 2);
}

TEST_CASE("a TCP control endpoint needs a token and refuses callers without it") {
  scratch dir;
  std::string store = dir / "s";
  auto token = make_token(dir, "token", "0123456789abcdef0123456789abcdef");
  auto wrong = make_token(dir, "wrong", "fedcba9876543210fedcba9876543210");

  auto bare = run_amber({"run", example("bank-small.toml"), "--control", "127.0.0.1:0"});
  CHECK(bare.code == 2);
  CHECK(contains(bare.err, "needs --control-token-file"));
  auto weak = make_token(dir, "weak", "short");
  auto short_token = run_amber({"run", example("bank-small.toml"), "--control", "127.0.0.1:0",
                                "--control-token-file", weak});
  CHECK(short_token.code == 2);
  // The loopback check parses the address: a name that merely starts so is not loopback.
  auto fake = run_amber({"run", example("bank-small.toml"), "--control",
                         "127.attacker.invalid:0", "--control-token-file", token});
  CHECK(fake.code == 2);
  CHECK(contains(fake.err, "loopback"));

  child node({"run", example("bank-small.toml"), "--store", store, "--control", "127.0.0.1:0",
              "--control-token-file", token, "--json"});
  auto ev = started(node);
  std::string control = ev.at("control");
  auto refused = run_amber({"checkpoint", "--control", control, "--control-token-file", wrong});
  CHECK(refused.code == 1);
  CHECK(contains(refused.err, "no valid token"));
  {
    raw_client c(control);
    c.send(frame("stop")); // no token: refused, the node keeps running
    bool closed = false;
    auto r = reply_of(c.read_until_closed(5s, &closed));
    CHECK(r.at("ok") == false);
    CHECK(closed);
  }
  attack(node, ev.at("pid").get<pid_t>(), control, {"--control-token-file", token});
  node.signal(SIGTERM);
  CHECK(node.wait() == 0);
}

TEST_CASE("is_loopback parses the address instead of matching a prefix") {
  using amber::cli::is_loopback;
  CHECK(is_loopback("127.0.0.1"));
  CHECK(is_loopback("127.1.2.3"));
  CHECK(is_loopback("::1"));
  CHECK(is_loopback("::ffff:127.0.0.1"));
  CHECK(is_loopback("localhost"));
  CHECK_FALSE(is_loopback("127.attacker.invalid"));
  CHECK_FALSE(is_loopback("127.0.0.1.nip.io"));
  CHECK_FALSE(is_loopback("1270.0.0.1"));
  CHECK_FALSE(is_loopback("0.0.0.0"));
  CHECK_FALSE(is_loopback("::"));
  CHECK_FALSE(is_loopback("10.0.0.1"));
}
