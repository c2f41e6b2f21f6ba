#include "node_host.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <future>
#include <mutex>
#include <thread>

#include <fmt/core.h>

#include "amber/actors/checkpointer.hpp"
#include "control_server.hpp"

namespace amber::cli {

using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;

namespace {

sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

const char* signal_name(int sig) {
  return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal";
}

double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

// Prints one event: a JSON object with --json, else a line of text. Called
// from the main thread and from checkpoint threads.
void event(const context& ctx, const json& j, const std::string& text) {
  static std::mutex mutex;
  std::lock_guard<std::mutex> guard(mutex);
  if (ctx.json) {
    print_json(j);
  } else {
    fmt::print("{}\n", text);
    std::fflush(stdout);
  }
}

// One checkpoint, retried while another runs or the node is not quiet,
// until `budget` is spent.
void report_checkpoint(const context& ctx, const char* reason, const result<digest>& r,
                       double ms) {
  if (r) {
    event(ctx, {{"event", "checkpoint"}, {"reason", reason}, {"id", r->to_hex()}, {"ms", ms}},
          fmt::format("checkpoint {} ({}, {:.1f} ms)", r->to_hex(), reason, ms));
  } else {
    event(ctx,
          {{"event", "checkpoint_failed"}, {"reason", reason}, {"error", to_json(r.error())}},
          fmt::format("checkpoint failed ({}): {}", reason, r.error().to_string()));
  }
}

// Test hook: AMBER_TEST_FINAL_CHECKPOINT_DELAY_MS holds the final checkpoint
// back, so that a test can deliver the second signal while it is pending.
void test_delay_final_checkpoint() {
  if (const char* ms = std::getenv("AMBER_TEST_FINAL_CHECKPOINT_DELAY_MS"))
    std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(ms)));
}

// How long a control request for a checkpoint waits while another
// checkpoint runs or the node is not quiet.
constexpr auto control_patience = std::chrono::seconds(60);

control_handlers control_for(node& n, checkpointer* cp, const lmdb_store* db) {
  control_handlers h;
  h.checkpoint = [&n, cp]() -> result<digest> {
    if (!cp)
      return status(errc::not_found, "node '" + n.name()
                                       + "' runs without a store (--no-store); start it with a "
                                         "store to take checkpoints");
    return cp->checkpoint_when_free(control_patience);
  };
  // Taken now: the server's thread must not read the running node.
  json status_reply = {{"ok", true},
                       {"node", n.name()},
                       {"incarnation", n.incarnation()},
                       {"store", db ? json(db->directory()) : json(nullptr)},
                       {"pid", ::getpid()}};
  h.status = [status_reply] { return status_reply; };
  // The main thread takes it as it takes a user's SIGTERM.
  h.stop = [] { ::kill(::getpid(), SIGTERM); };
  return h;
}

} // namespace

void block_stop_signals() {
  // A shell starts background jobs with SIGINT ignored; take it back.
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGTERM, SIG_DFL);
  ::signal(SIGPIPE, SIG_IGN);
  sigset_t set = stop_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int host_node(const context& ctx, node& n, std::shared_ptr<lmdb_store> db,
              const host_settings& hs) {
  std::unique_ptr<checkpointer> cp;
  if (db)
    cp = std::make_unique<checkpointer>(n, db);
  std::unique_ptr<control_server> ctl;
  std::optional<control_address> published;
  if (hs.control) {
    control_server_options co;
    co.address = *hs.control;
    co.token = hs.control_auth.token;
    co.tls = hs.control_auth.tls;
    auto started = control_server::start(co, control_for(n, cp.get(), db.get()));
    if (!started)
      return fail(ctx, started.error());
    ctl = std::move(*started);
    published = ctl->address();
  }
  const bool control_tls = published && hs.control_auth.tls.enabled();
  std::vector<std::string> graphs;
  for (auto& g : n.graphs())
    graphs.push_back(g.name);
  auto components = n.components().size();
  {
    json j = {{"event", "started"},
              {"node", n.name()},
              {"incarnation", n.incarnation()},
              {"components", components},
              {"graphs", graphs},
              {"store", db ? json(db->directory()) : json(nullptr)},
              {"checkpoint_every_ms", db ? hs.every.count() : 0},
              {"control", published ? json(published->to_string()) : json(nullptr)},
              {"control_tls", control_tls},
              {"restored_from", hs.restored_from ? json(hs.restored_from->to_hex()) : json(nullptr)},
              {"pid", ::getpid()}};
    std::string text = fmt::format("node '{}' running: {} components, incarnation {}", n.name(),
                                   components, n.incarnation());
    if (hs.restored_from)
      text += ", restored from " + hs.restored_from->short_hex();
    if (db)
      text += fmt::format("\nstore {}{}", db->directory(),
                          hs.every.count() > 0
                            ? fmt::format(", a checkpoint every {} ms", hs.every.count())
                            : std::string());
    else
      text += "\nno store: nothing will be checkpointed";
    if (published)
      text += "\ncontrol endpoint " + published->to_string()
              + (control_tls ? " (mutual TLS)" : "");
    text += "\nstop with Ctrl-C or SIGTERM (a final checkpoint is taken; signal again to stop at once)";
    event(ctx, j, text);
  }

  sigset_t set = stop_signals();
  const bool periodic_on = cp && hs.every.count() > 0;
  auto next = clock_type::now() + hs.every;
  std::future<void> periodic;
  std::future<result<digest>> final_cp;
  bool stopping = false;
  int rc = exit_ok;
  for (;;) {
    auto wait = std::chrono::milliseconds(200);
    if (periodic_on && !stopping && !periodic.valid()) {
      auto until = std::chrono::duration_cast<std::chrono::milliseconds>(next - clock_type::now());
      wait = std::clamp(until, std::chrono::milliseconds(1), wait);
    }
    if (periodic.valid() || final_cp.valid())
      wait = std::min(wait, std::chrono::milliseconds(20));
    timespec ts{static_cast<time_t>(wait.count() / 1000),
                static_cast<long>((wait.count() % 1000) * 1'000'000)};
    int sig = ::sigtimedwait(&set, nullptr, &ts);
    if (sig == SIGINT || sig == SIGTERM) {
      if (stopping) {
        event(ctx, {{"event", "killed"}, {"signal", signal_name(sig)}},
              fmt::format("{} again: stopping at once, without a final checkpoint",
                          signal_name(sig)));
        std::_Exit(128 + sig);
      }
      stopping = true;
      event(ctx, {{"event", "stopping"}, {"signal", signal_name(sig)}},
            cp ? fmt::format("{}: taking a final checkpoint, then stopping", signal_name(sig))
               : fmt::format("{}: stopping", signal_name(sig)));
      if (!cp)
        break;
      final_cp = std::async(std::launch::async, [&ctx, &n, &cp, p = std::move(periodic)]() mutable {
        if (p.valid())
          p.wait();
        test_delay_final_checkpoint();
        auto start = clock_type::now();
        auto r = cp->checkpoint_when_free(std::chrono::seconds(30));
        report_checkpoint(ctx, "final", r, ms_since(start));
        return r;
      });
    }
    if (periodic.valid()
        && periodic.wait_for(std::chrono::seconds(0)) == std::future_status::ready)
      periodic.get();
    if (periodic_on && !stopping && !periodic.valid() && clock_type::now() >= next) {
      periodic = std::async(std::launch::async, [&ctx, &cp] {
        // An idle node commits nothing: no snapshot equal to its parent.
        auto start = clock_type::now();
        auto r = cp->checkpoint_if_changed();
        if (r && r->unchanged)
          return;
        report_checkpoint(ctx, "periodic", r ? result<digest>(r->id) : result<digest>(r.error()),
                          ms_since(start));
      });
      next = clock_type::now() + hs.every;
    }
    if (final_cp.valid()
        && final_cp.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
      rc = final_cp.get() ? exit_ok : exit_failure;
      break;
    }
  }
  ctl.reset(); // waits for a checkpoint it runs: before the checkpointer goes
  cp.reset();
  n.stop();
  event(ctx, {{"event", "stopped"}, {"exit", rc}}, "stopped");
  return rc;
}

} // namespace amber::cli
