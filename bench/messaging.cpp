// What does messaging through amber components cost against plain CAF?
//
// In one node (one actor_system, --workers scheduler threads):
//  (a) ping-pong: two components bounce a counter with send_to() until it
//      has made --pingpong hops, vs two plain caf::event_based_actors doing
//      the same with send();
//  (b) fan-out: one driver sends --fanout messages round-robin to
//      --receivers components (one message to each receiver per handler
//      call, then a message to itself to go on); each receiver counts and
//      tells the driver when it has its share; vs the same with plain actors.
// The clock starts when the first message is sent from outside and stops
// when a poll (a request every --poll-us) sees the last message handled; the
// plain actors are polled the same way. Modes alternate within each round
// (A/B in odd rounds, B/A in even ones) because throughput on a small VM
// swings by 2x between runs; the summary gives medians of per-round ratios.
// Goal (issue 7): components >= 0.95x plain CAF in both.

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>

#include "amber/runtime/component.hpp"
#include "amber/runtime/node.hpp"
#include "amber/runtime/registry.hpp"

#include "await_all.hpp"
#include "bench_util.hpp"

namespace {

using bench::get_atom;
using ball_atom = caf::atom_constant<caf::atom("ball")>;
using item_atom = caf::atom_constant<caf::atom("item")>;
using go_atom = caf::atom_constant<caf::atom("go")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using peer_atom = caf::atom_constant<caf::atom("peer")>;

// --- the components ---------------------------------------------------------

struct player_state {
  int64_t hits = 0;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& hits;
  }
};

/// Counts the balls it gets and sends each on to its "peer" with one hop less.
class player : public amber::component<player_state> {
public:
  static constexpr const char* type_name = "bench.player";
  static amber::package_ref package() { return {"bench", "1.0.0"}; }
  using component::component;
  caf::behavior make_behavior() override {
    peer_ = param("peer");
    return {
      [this](ball_atom, int64_t n) {
        ++state().hits;
        if (n > 0)
          send_to(peer_, ball_atom::value, n - 1);
      },
      [this](get_atom) { return state().hits; },
    };
  }

private:
  std::string peer_;
};

struct sink_state {
  int64_t received = 0;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& received;
  }
};

/// Counts items; tells its "driver" each time it has another "quota" of them.
class sink : public amber::component<sink_state> {
public:
  static constexpr const char* type_name = "bench.sink";
  static amber::package_ref package() { return {"bench", "1.0.0"}; }
  using component::component;
  caf::behavior make_behavior() override {
    driver_ = param("driver");
    quota_ = std::stoll(param("quota", "1"));
    return {
      [this](item_atom, int64_t) {
        if (++state().received % quota_ == 0)
          send_to(driver_, done_atom::value);
      },
      [this](get_atom) { return state().received; },
    };
  }

private:
  std::string driver_;
  int64_t quota_ = 1;
};

struct driver_state {
  int64_t done = 0;  ///< Quotas reported by the sinks (cumulative).
  int64_t next = 0;  ///< The sink the next item goes to.
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& done& next;
  }
};

/// `go(n)` sends n items round-robin to the sinks "<prefix>0".."<prefix>R-1",
/// R per handler call, then sends itself the rest.
class driver : public amber::component<driver_state> {
public:
  static constexpr const char* type_name = "bench.driver";
  static amber::package_ref package() { return {"bench", "1.0.0"}; }
  using component::component;
  caf::behavior make_behavior() override {
    auto prefix = param("prefix", "s");
    auto receivers = std::stoll(param("receivers", "1"));
    for (int64_t i = 0; i < receivers; ++i)
      sinks_.push_back(prefix + std::to_string(i));
    return {
      [this](go_atom, int64_t n) {
        auto batch = std::min<int64_t>(n, static_cast<int64_t>(sinks_.size()));
        for (int64_t i = 0; i < batch; ++i) {
          send_to(sinks_[static_cast<size_t>(state().next)], item_atom::value, i);
          state().next = (state().next + 1) % static_cast<int64_t>(sinks_.size());
        }
        if (n > batch)
          send_to(instance_id(), go_atom::value, n - batch);
      },
      [this](done_atom) { ++state().done; },
      [this](get_atom) { return state().done; },
    };
  }

private:
  std::vector<std::string> sinks_;
};

// --- the same in plain CAF ----------------------------------------------------

struct raw_player_state {
  int64_t hits = 0;
  caf::actor peer;
};

caf::behavior raw_player(caf::stateful_actor<raw_player_state>* self) {
  return {
    [=](peer_atom, caf::actor p) { self->state.peer = std::move(p); },
    [=](ball_atom, int64_t n) {
      ++self->state.hits;
      if (n > 0)
        self->send(self->state.peer, ball_atom::value, n - 1);
    },
    [=](get_atom) { return self->state.hits; },
  };
}

caf::behavior raw_sink(caf::stateful_actor<sink_state>* self, caf::actor driver, int64_t quota) {
  return {
    [=](item_atom, int64_t) {
      if (++self->state.received % quota == 0)
        self->send(driver, done_atom::value);
    },
    [=](get_atom) { return self->state.received; },
  };
}

struct raw_driver_state {
  driver_state counts;
  std::vector<caf::actor> sinks;
};

caf::behavior raw_driver(caf::stateful_actor<raw_driver_state>* self) {
  return {
    [=](std::vector<caf::actor> sinks) { self->state.sinks = std::move(sinks); },
    [=](go_atom, int64_t n) {
      auto& st = self->state;
      auto batch = std::min<int64_t>(n, static_cast<int64_t>(st.sinks.size()));
      for (int64_t i = 0; i < batch; ++i) {
        self->send(st.sinks[static_cast<size_t>(st.counts.next)], item_atom::value, i);
        st.counts.next = (st.counts.next + 1) % static_cast<int64_t>(st.sinks.size());
      }
      if (n > batch)
        self->send(self, go_atom::value, n - batch);
    },
    [=](done_atom) { ++self->state.counts.done; },
    [=](get_atom) { return self->state.counts.done; },
  };
}

// --- measuring ----------------------------------------------------------------

struct settings {
  int64_t workers = 2;
  int64_t pingpong = 1000000;
  int64_t fanout = 1000000;
  int64_t receivers = 1000;
  int64_t rounds = 7;
  int64_t poll_us = 500;
  int64_t timeout_s = 120;
};

int64_t ask(caf::scoped_actor& self, const caf::actor& who) {
  int64_t out = -1;
  self->request(who, std::chrono::seconds(30), get_atom::value)
    .receive([&](int64_t v) { out = v; },
             [&](caf::error& e) {
               std::fprintf(stderr, "poll failed: %s\n", caf::to_string(e).c_str());
               std::exit(1);
             });
  return out;
}

/// Sends `start` to `first`, then polls `probe` until it answers at least
/// `target`. @return messages per second for `messages` messages.
template <class Start>
double timed(caf::actor_system& sys, const caf::actor& first, Start start, const caf::actor& probe,
             int64_t target, int64_t messages, const settings& s) {
  caf::scoped_actor self{sys};
  auto t0 = bench::clock_type::now();
  start(first);
  auto deadline = t0 + std::chrono::seconds(s.timeout_s);
  while (ask(self, probe) < target) {
    if (bench::clock_type::now() > deadline) {
      std::printf("TIMEOUT: %lld messages not handled within %lld s (exit 3)\n",
                  static_cast<long long>(messages), static_cast<long long>(s.timeout_s));
      std::fflush(stdout);
      std::_Exit(3);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(s.poll_us));
  }
  return static_cast<double>(messages) / bench::seconds_since(t0);
}

struct pair_of_modes {
  double component = 0;
  double raw = 0;
};

} // namespace

int main(int argc, char** argv) {
  settings s;
  bench::options cli(
    "bench_messaging",
    "Messages/s of amber components against plain CAF actors in the same actor system:\n"
    "ping-pong between two, and one driver fanning out round-robin to many.\n"
    "Modes alternate within each round; prints per-round figures and median ratios.");
  cli.add("workers", &s.workers, 1, 64, "scheduler threads of the node");
  cli.add("pingpong", &s.pingpong, 2, int64_t{1} << 40, "ping-pong hops per run (made even)");
  cli.add("fanout", &s.fanout, 1, int64_t{1} << 40,
          "fan-out messages per run (a multiple of --receivers)");
  cli.add("receivers", &s.receivers, 1, 100000, "fan-out receivers");
  cli.add("rounds", &s.rounds, 1, 1000, "rounds, each running every mode once");
  cli.add("poll-us", &s.poll_us, 10, 100000, "interval between completion polls, microseconds");
  cli.add("timeout-s", &s.timeout_s, 1, 3600, "give up (exit 3) when one run takes longer");
  cli.parse(argc, argv);
  if (s.fanout % s.receivers != 0)
    cli.fail("--fanout must be a multiple of --receivers");
  s.pingpong += s.pingpong % 2; // The second player handles the last hop.
  const int64_t quota = s.fanout / s.receivers;

  auto types = std::make_shared<amber::registry>();
  types->add<player>();
  types->add<sink>();
  types->add<driver>();
  amber::node_options nopts;
  nopts.name = "messaging";
  nopts.worker_threads = static_cast<size_t>(s.workers);
  amber::node n(types, nopts);
  auto& sys = n.system();

  amber::graph_def g{"messaging", {}, {}};
  g.instances.push_back({"ping", "bench.player", {{"peer", "pong"}}});
  g.instances.push_back({"pong", "bench.player", {{"peer", "ping"}}});
  g.instances.push_back({"driver", "bench.driver",
                         {{"prefix", "s"},
                          {"receivers", std::to_string(s.receivers)}}});
  for (int64_t i = 0; i < s.receivers; ++i)
    g.instances.push_back(
      {"s" + std::to_string(i), "bench.sink", {{"driver", "driver"}, {"quota", std::to_string(quota)}}});
  if (auto st = n.install(g); !st) {
    std::fprintf(stderr, "install: %s\n", st.to_string().c_str());
    return 1;
  }
  auto handle = [&](const std::string& name) { return n.find(name)->handle; };
  std::vector<caf::actor> all;
  for (auto& c : n.components())
    all.push_back(c.handle);
  bench::await_all(sys, all);
  auto c_ping = handle("ping"), c_pong = handle("pong"), c_driver = handle("driver");

  auto r_ping = sys.spawn(raw_player);
  auto r_pong = sys.spawn(raw_player);
  caf::anon_send(r_ping, peer_atom::value, r_pong);
  caf::anon_send(r_pong, peer_atom::value, r_ping);
  auto r_driver = sys.spawn(raw_driver);
  std::vector<caf::actor> r_sinks;
  for (int64_t i = 0; i < s.receivers; ++i)
    r_sinks.push_back(sys.spawn(raw_sink, r_driver, quota));
  caf::anon_send(r_driver, r_sinks);
  std::vector<caf::actor> raw_all = r_sinks;
  raw_all.insert(raw_all.end(), {r_ping, r_pong, r_driver});
  bench::await_all(sys, raw_all);

  // Cumulative counters: each run waits for its own increment.
  int64_t pong_hits[2] = {0, 0};
  int64_t quotas[2] = {0, 0};
  auto pingpong = [&](bool component, int64_t hops) {
    auto& first = component ? c_ping : r_ping;
    auto& probe = component ? c_pong : r_pong;
    pong_hits[component] += hops / 2;
    return timed(
      sys, first, [&](const caf::actor& a) { caf::anon_send(a, ball_atom::value, hops - 1); },
      probe, pong_hits[component], hops, s);
  };
  auto fanout = [&](bool component, int64_t items) {
    auto& d = component ? c_driver : r_driver;
    quotas[component] += items / quota;
    return timed(
      sys, d, [&](const caf::actor& a) { caf::anon_send(a, go_atom::value, items); }, d,
      quotas[component], items, s);
  };

  // Warm-up, not reported: a tenth of a ping-pong run, a whole fan-out run
  // (a sink reports only whole quotas).
  for (bool component : {true, false}) {
    pingpong(component, std::max<int64_t>(2, (s.pingpong / 10) & ~int64_t{1}));
    fanout(component, s.fanout);
  }

  std::printf("bench_messaging: %lld worker threads, ping-pong %lld hops, fan-out %lld messages "
              "to %lld receivers, %lld rounds\n",
              static_cast<long long>(s.workers), static_cast<long long>(s.pingpong),
              static_cast<long long>(s.fanout), static_cast<long long>(s.receivers),
              static_cast<long long>(s.rounds));
  std::printf("%5s  %13s  %13s  %6s  %13s  %13s  %6s\n", "round", "pp comp msg/s", "pp CAF msg/s",
              "ratio", "fo comp msg/s", "fo CAF msg/s", "ratio");
  std::vector<double> pp_c, pp_r, pp_ratio, fo_c, fo_r, fo_ratio;
  for (int64_t round = 1; round <= s.rounds; ++round) {
    pair_of_modes pp, fo;
    bool component_first = round % 2 == 1;
    for (bool component : {component_first, !component_first})
      (component ? pp.component : pp.raw) = pingpong(component, s.pingpong);
    for (bool component : {component_first, !component_first})
      (component ? fo.component : fo.raw) = fanout(component, s.fanout);
    pp_c.push_back(pp.component);
    pp_r.push_back(pp.raw);
    pp_ratio.push_back(pp.component / pp.raw);
    fo_c.push_back(fo.component);
    fo_r.push_back(fo.raw);
    fo_ratio.push_back(fo.component / fo.raw);
    std::printf("%5lld  %13.0f  %13.0f  %6.3f  %13.0f  %13.0f  %6.3f\n",
                static_cast<long long>(round), pp.component, pp.raw, pp_ratio.back(),
                fo.component, fo.raw, fo_ratio.back());
    std::fflush(stdout);
  }
  std::printf("%5s  %13.0f  %13.0f  %6.3f  %13.0f  %13.0f  %6.3f\n", "med",
              bench::median(pp_c), bench::median(pp_r), bench::median(pp_ratio),
              bench::median(fo_c), bench::median(fo_r), bench::median(fo_ratio));

  for (auto& a : raw_all)
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  raw_all.clear();
  r_sinks.clear();
  r_ping = r_pong = r_driver = nullptr;
  c_ping = c_pong = c_driver = nullptr;
  all.clear();
  n.stop();
  std::printf("ratios (components / plain CAF, median of %lld rounds): ping-pong %.3f, "
              "fan-out %.3f (goal >= 0.95 both)\n",
              static_cast<long long>(s.rounds), bench::median(pp_ratio),
              bench::median(fo_ratio));
  return 0;
}
