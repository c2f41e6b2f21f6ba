#pragma once

// A cluster of `amber run --cluster` processes on loopback, for the process
// tests (tests/apps/cluster_process_test.cpp) and bench/cluster.cpp: writes
// the cluster file and one graph file per member (the cluster bank,
// bank.xaccount / bank.xdriver), starts, kills and restores members, asks
// their control endpoints, and reads cluster snapshots back from the
// members' stores alone.
//
// Needs AMBER_BINARY (the `amber` executable) defined, as tests/apps/process.hpp.
// No doctest: failures throw std::runtime_error with what happened (a test
// reports it as the case's exception; a benchmark prints it).
//
// Ownership: a `process_cluster` owns its member processes (SIGKILLed and
// reaped on destruction) and writes under a directory it is given.
// Threads: one thread at a time.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <nlohmann/json.hpp>

#include "amber/checkpoint/cluster_manifest.hpp"
#include "amber/storage/lmdb_store.hpp"
#include "apps/process.hpp"
#include "bank/xbank.hpp"

namespace amber::cluster_harness {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;
using apps_test::child;

/// A TCP port on 127.0.0.1 nothing listens on (bound, then released).
inline uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0
      || ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot bind a free port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

struct options {
  std::vector<std::string> members{"a", "b", "c"};
  std::string cluster = "xbank";
  int accounts = 8;         ///< Per member.
  int64_t balance = 1000;   ///< Per account.
  int batch = 4;            ///< Withdrawals per driver tick.
  int interval_ms = 5;      ///< Driver tick.
  int max_amount = 50;
  int threads = 2;          ///< Scheduler threads per member.
  std::string heartbeat = "100ms";
  std::string member_timeout = "1s";
  std::string checkpoint_timeout = "5s";
  std::string checkpoint_every; ///< Empty: checkpoints only on request.
  /// Mutual TLS for links and control endpoints (all three or none).
  std::string tls_ca, tls_cert, tls_key;
};

/// A member's part of the cluster money, summed over members.
struct money {
  bank::xmoney sum;
  std::vector<std::string> missing; ///< "member: snapshot" not in that member's store.
  cluster_manifest meta;
  digest id;
};

/// The outcome of `amber checkpoint --control`.
struct checkpoint_outcome {
  int code = -1;
  std::string id; ///< 64 hex when code == 0.
  std::string err;
  std::chrono::duration<double, std::milli> took{};
};

class process_cluster {
public:
  process_cluster(fs::path dir, options o) : dir_(std::move(dir)), opts_(std::move(o)) {
    fs::create_directories(dir_);
    for (auto& name : opts_.members) {
      member m;
      m.name = name;
      m.port = free_port();
      m.control_port = free_port();
      m.store = (dir_ / ("store-" + name)).string();
      members_.emplace(name, std::move(m));
      write_graph(name);
    }
    file_ = write_cluster_file("cluster.toml", {});
  }

  const options& opts() const { return opts_; }
  const std::string& file() const { return file_; }
  const fs::path& dir() const { return dir_; }
  uint16_t port(const std::string& name) const { return at(name).port; }
  std::string store_dir(const std::string& name) const { return at(name).store; }
  std::string control(const std::string& name) const {
    return "127.0.0.1:" + std::to_string(at(name).control_port);
  }
  int64_t initial_total() const {
    return static_cast<int64_t>(opts_.members.size()) * opts_.accounts * opts_.balance;
  }

  /// Writes a cluster file `fname` in the directory; `address` overrides
  /// members' link ports (the member itself still listens on what its own
  /// file says). @return its path.
  std::string write_cluster_file(const std::string& fname,
                                 const std::map<std::string, uint16_t>& address) const {
    std::string text = "[cluster]\nname = \"" + opts_.cluster + "\"\n";
    text += "checkpoint_timeout = \"" + opts_.checkpoint_timeout + "\"\n";
    text += "heartbeat = \"" + opts_.heartbeat + "\"\n";
    text += "member_timeout = \"" + opts_.member_timeout + "\"\n";
    if (!opts_.checkpoint_every.empty())
      text += "checkpoint_every = \"" + opts_.checkpoint_every + "\"\n";
    if (!opts_.tls_ca.empty())
      text += "[cluster.tls]\nca = \"" + opts_.tls_ca + "\"\ncert = \"" + opts_.tls_cert
              + "\"\nkey = \"" + opts_.tls_key + "\"\n";
    for (auto& name : opts_.members) {
      auto& m = at(name);
      auto i = address.find(name);
      auto port = i == address.end() ? m.port : i->second;
      text += "\n[[member]]\nname = \"" + name + "\"\naddress = \"127.0.0.1:"
              + std::to_string(port) + "\"\ngraph = \"graph-" + name + ".toml\"\nstore = \"store-"
              + name + "\"\ncontrol = \"" + control(name) + "\"\n";
    }
    auto path = (dir_ / fname).string();
    std::ofstream(path, std::ios::trunc) << text;
    return path;
  }

  /// Starts member `name` (`amber run`, or `amber restore` when `restore`),
  /// with `env` ("NAME=value") added and cluster file `file` (default: the
  /// cluster's own).
  void start(const std::string& name, bool restore = false, std::vector<std::string> env = {},
             std::string file = {}) {
    auto& m = at(name);
    m.proc.reset();
    m.cursor = 0;
    if (std::getenv("AMBER_HARNESS_DEBUG"))
      env.push_back("AMBER_CLUSTER_DEBUG=1");
    m.proc = std::make_unique<child>(
      std::vector<std::string>{restore ? "restore" : "run", "--cluster",
                               file.empty() ? file_ : file, "--member", name, "--json"},
      std::move(env));
  }

  void start_all() {
    for (auto& name : opts_.members)
      start(name);
  }

  /// Waits for the next JSON event of member `name` (after those taken
  /// already) with "event" == `event`. @return it, or nullopt on timeout
  /// or when the process ended.
  std::optional<json> next_event(const std::string& name, const std::string& event,
                                 std::chrono::milliseconds timeout = 20s) {
    auto& m = at(name);
    if (!m.proc)
      return std::nullopt;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      size_t nl;
      while ((nl = m.proc->out.find('\n', m.cursor)) != std::string::npos) {
        auto line = m.proc->out.substr(m.cursor, nl - m.cursor);
        m.cursor = nl + 1;
        auto j = json::parse(line, nullptr, false);
        if (!j.is_discarded() && j.is_object() && j.value("event", "") == event)
          return j;
      }
      if (std::chrono::steady_clock::now() >= deadline)
        return std::nullopt;
      if (!m.proc->pump(20ms) && m.proc->out.find('\n', m.cursor) == std::string::npos)
        return std::nullopt;
    }
  }

  /// Waits until every member in `names` (default: all) printed a "ready"
  /// at an incarnation of at least `min_incarnation` (earlier events are
  /// skipped). @return the incarnation each reported; @throw naming the
  /// member that did not.
  std::map<std::string, uint64_t> wait_ready(std::vector<std::string> names = {},
                                             uint64_t min_incarnation = 0,
                                             std::chrono::milliseconds timeout = 20s) {
    if (names.empty())
      names = opts_.members;
    std::map<std::string, uint64_t> out;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (auto& n : names) {
      for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
        auto e = next_event(n, "ready", std::max(left, std::chrono::milliseconds(1)));
        if (!e)
          throw std::runtime_error("member '" + n + "' did not become ready at incarnation >= "
                                   + std::to_string(min_incarnation) + ": " + output(n));
        auto inc = e->value("incarnation", uint64_t{0});
        if (inc >= min_incarnation) {
          out[n] = inc;
          break;
        }
      }
    }
    return out;
  }

  /// Reads what the members printed, so their pipes never fill.
  void pump_all() {
    for (auto& [n, m] : members_)
      if (m.proc)
        m.proc->pump(0ms);
  }

  /// True while member `name`'s process runs.
  bool alive(const std::string& name) {
    auto& m = at(name);
    if (!m.proc || m.exit_code)
      return false;
    int st;
    if (::waitpid(m.proc->pid(), &st, WNOHANG) == m.proc->pid()) {
      m.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      return false;
    }
    return true;
  }

  /// Waits up to `timeout` for member `name`'s process to end. @return its
  /// exit code (128 + signal), or -1 (then it is killed).
  int wait_exit(const std::string& name, std::chrono::milliseconds timeout = 20s) {
    auto& m = at(name);
    if (m.exit_code)
      return *m.exit_code;
    int code = m.proc->wait(timeout);
    m.exit_code = code;
    return code;
  }

  void kill(const std::string& name, int sig = SIGKILL) {
    at(name).proc->signal(sig);
  }

  /// SIGTERM to every member, then waits for each. @return the members that
  /// did not exit 0, with their output.
  std::string stop_all(std::chrono::milliseconds timeout = 20s) {
    for (auto& [n, m] : members_)
      if (m.proc && !m.exit_code)
        m.proc->signal(SIGTERM);
    std::string bad;
    for (auto& [n, m] : members_) {
      if (!m.proc)
        continue;
      bool was_dead = m.exit_code.has_value();
      int code = wait_exit(n, timeout);
      if (!was_dead && code != 0)
        bad += "member '" + n + "' exited " + std::to_string(code) + ": " + output(n) + "\n";
    }
    return bad;
  }

  std::string output(const std::string& name) {
    auto& m = at(name);
    return m.proc ? "stdout: " + m.proc->out + " stderr: " + m.proc->err : "(not started)";
  }

  /// `amber checkpoint --control` of member `name`.
  checkpoint_outcome checkpoint(const std::string& name, const std::string& timeout = "15s") {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::string> args{"checkpoint", "--control", control(name), "--timeout", timeout,
                                  "--json"};
    if (!opts_.tls_ca.empty())
      args.insert(args.end(), {"--tls-ca", opts_.tls_ca, "--tls-cert", opts_.tls_cert,
                               "--tls-key", opts_.tls_key});
    auto r = apps_test::run_amber(args, 60s);
    checkpoint_outcome out;
    out.took = std::chrono::steady_clock::now() - t0;
    out.code = r.code;
    out.err = r.err + r.out;
    if (r.code == 0) {
      auto j = json::parse(r.out, nullptr, false);
      if (!j.is_discarded() && j.contains("id"))
        out.id = j.at("id").get<std::string>();
    }
    pump_all();
    return out;
  }

  /// `amber rollback --control` of member `name` (latest cluster snapshot).
  apps_test::outcome rollback(const std::string& name, const std::string& id = {}) {
    std::vector<std::string> args{"rollback", "--control", control(name), "--json"};
    if (!id.empty())
      args.push_back(id);
    return apps_test::run_amber(args, 60s);
  }

  /// `clusters/<cluster>/head` in member `name`'s store (hex), or "".
  std::string head(const std::string& name) const {
    auto db = lmdb_store::open(store_dir(name));
    if (!db)
      return {};
    auto h = (*db)->get_ref(cluster_head_ref(opts_.cluster));
    return h ? h->to_hex() : std::string();
  }

  /// The cluster snapshot chain in member `name`'s store, newest first.
  std::vector<cluster_snapshot_entry> chain(const std::string& name) const {
    auto db = lmdb_store::open(store_dir(name));
    if (!db)
      throw std::runtime_error("cannot open the store of '" + name
                               + "': " + db.error().to_string());
    auto c = cluster_chain(**db, opts_.cluster);
    if (!c)
      throw std::runtime_error("cluster chain of '" + name + "': " + c.error().to_string());
    return std::move(*c);
  }

  /// The money in cluster snapshot `id` (its manifest read from member
  /// `from`'s store), each member's part from its own store.
  money money_in(const std::string& from, const std::string& id_hex) const {
    auto id = digest::from_hex(id_hex);
    if (!id)
      throw std::runtime_error("'" + id_hex + "' is not a snapshot id");
    money out;
    out.id = *id;
    {
      auto db = lmdb_store::open(store_dir(from));
      if (!db)
        throw std::runtime_error("cannot open the store of '" + from + "'");
      auto m = read_cluster_manifest(**db, *id);
      if (!m)
        throw std::runtime_error("cluster snapshot " + id_hex + " in '" + from
                                 + "': " + m.error().to_string());
      out.meta = std::move(*m);
    }
    // Any actor system decodes the deposits (their types are built in).
    caf::actor_system_config cfg;
    cfg.set("scheduler.max-threads", 1);
    caf::actor_system sys{cfg};
    for (auto& part : out.meta.members) {
      auto db = lmdb_store::open(store_dir(part.member));
      if (!db)
        throw std::runtime_error("cannot open the store of '" + part.member + "'");
      std::string ignored;
      if (!(*db)->get_manifest(part.snapshot, &ignored).is_ok()) {
        out.missing.push_back(part.member + ": " + part.snapshot.to_hex());
        continue;
      }
      auto m = bank::xmoney_in_snapshot(**db, part.snapshot, sys);
      if (!m)
        throw std::runtime_error("money of '" + part.member + "' in " + id_hex + ": "
                                 + m.error().to_string());
      out.sum.balances += m->balances;
      out.sum.local_in_flight += m->local_in_flight;
      out.sum.remote_in_flight += m->remote_in_flight;
      out.sum.remote_messages += m->remote_messages;
      out.sum.gaps += m->gaps;
      out.sum.duplicates += m->duplicates;
      out.sum.deposits += m->deposits;
    }
    return out;
  }

private:
  struct member {
    std::string name;
    uint16_t port = 0;
    uint16_t control_port = 0;
    std::string store;
    std::unique_ptr<child> proc;
    size_t cursor = 0;
    std::optional<int> exit_code;
  };

  member& at(const std::string& name) {
    auto i = members_.find(name);
    if (i == members_.end())
      throw std::runtime_error("no member '" + name + "'");
    return i->second;
  }
  const member& at(const std::string& name) const {
    return const_cast<process_cluster*>(this)->at(name);
  }

  void write_graph(const std::string& name) {
    std::string accounts;
    for (auto& n : opts_.members)
      accounts += (accounts.empty() ? "" : ",") + n + ":" + std::to_string(opts_.accounts);
    uint64_t seed = 7919;
    for (char ch : name)
      seed = seed * 31 + static_cast<unsigned char>(ch);
    std::string text = "format = 1\n\n[node]\nname = \"" + name + "\"\nthreads = "
                       + std::to_string(opts_.threads) + "\n\n[[graph]]\nname = \"xbank\"\n\n"
                       + "[[graph.component]]\nname = \"acct-{i}\"\ntype = \"bank.xaccount\"\n"
                       + "count = " + std::to_string(opts_.accounts) + "\nparams = { balance = \""
                       + std::to_string(opts_.balance) + "\", member = \"" + name + "\" }\n\n"
                       + "[[graph.component]]\nname = \"driver\"\ntype = \"bank.xdriver\"\n"
                       + "params = { member = \"" + name + "\", accounts = \"" + accounts
                       + "\", batch = \"" + std::to_string(opts_.batch) + "\", interval_ms = \""
                       + std::to_string(opts_.interval_ms) + "\", max_amount = \""
                       + std::to_string(opts_.max_amount) + "\", seed = \""
                       + std::to_string(seed % 1000003) + "\" }\n";
    std::ofstream(dir_ / ("graph-" + name + ".toml"), std::ios::trunc) << text;
  }

  fs::path dir_;
  options opts_;
  std::string file_;
  std::map<std::string, member> members_;
};

} // namespace amber::cluster_harness
