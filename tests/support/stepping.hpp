#pragma once

// Running a node on CAF's deterministic scheduler, one actor at a time.
//
// With `scheduler.policy = testing` nothing runs until the test says so:
// `step(n, who)` runs one actor's queued work ahead of everyone else,
// `run_all(n)` runs every actor until none has work (pending timers stay
// pending until `fire_timers`). Protocol tests use it to build one exact
// interleaving (a spawn, an exit or an install between the start of a cut
// and a component's part of it) instead of hoping a sleep produces it.
//
// The checkpointer's coordinator and capture workers are spawned scheduled
// on this scheduler (it detaches no utility actor, see spawn_coordinator),
// so a checkpoint is stepped like any other actor (stepped_checkpoint.hpp).
//
// Teardown: `node::stop()` and `~checkpointer()` block until actors have
// finished, which on this scheduler only happens while the test runs it:
// end with `wind_down` (the `stepped_node` holder does it for you).
//
// Threads: everything here runs on the test's thread, as does the node.

#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include <caf/actor_system_config.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <doctest/doctest.h>

#include "amber/runtime/node.hpp"

namespace test {

/// For node_options::configure / restore_options::configure.
inline void testing_scheduler(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("testing"));
}

inline amber::node_options stepped_options(std::string name) {
  amber::node_options opts;
  opts.name = std::move(name);
  opts.configure = testing_scheduler;
  return opts;
}

inline caf::scheduler::test_coordinator& sched(amber::node& n) {
  return dynamic_cast<caf::scheduler::test_coordinator&>(n.system().scheduler());
}

/// Runs the queued work of `who` ahead of every other actor.
/// @return false when `who` had nothing to do.
inline bool step(amber::node& n, const caf::actor& who) {
  auto& s = sched(n);
  if (!s.prioritize(who))
    return false;
  s.run_once();
  return true;
}

/// Runs every actor until none has work. @return the jobs run.
inline size_t run_all(amber::node& n) {
  return sched(n).run();
}

/// Fires every pending timer (CAF's test clock: due times are ignored),
/// then runs everything.
inline void fire_timers(amber::node& n) {
  sched(n).trigger_timeouts();
  run_all(n);
}

/// Asks `who` from outside the node, runs the node, and returns the answer.
/// Fails the test (never blocks) when there is none.
template <class T, class... Ts>
T ask(amber::node& n, const caf::actor& who, Ts&&... xs) {
  caf::scoped_actor self{n.system()};
  auto handle = self->request(who, caf::infinite, std::forward<Ts>(xs)...);
  run_all(n);
  REQUIRE_MESSAGE(!self->mailbox().empty(), "no answer from the component");
  T out{};
  handle.receive([&](T& value) { out = std::move(value); },
                 [&](caf::error& err) { FAIL("the component failed: " << n.system().render(err)); });
  return out;
}

template <class T, class... Ts>
T ask(amber::node& n, const std::string& name, Ts&&... xs) {
  auto ref = n.find(name);
  REQUIRE_MESSAGE(ref.has_value(), "no component named " << name);
  return ask<T>(n, ref->handle, std::forward<Ts>(xs)...);
}

/// Tells `name` something from outside the node (no answer expected).
template <class... Ts>
void tell(amber::node& n, const std::string& name, Ts&&... xs) {
  auto ref = n.find(name);
  REQUIRE_MESSAGE(ref.has_value(), "no component named " << name);
  caf::anon_send(ref->handle, std::forward<Ts>(xs)...);
}

/// Ends every component and `coordinator` (its captures are linked to it)
/// and runs them to the end, so that `~checkpointer()` and `node::stop()`
/// find nothing left to wait for.
inline void wind_down(amber::node& n, const caf::actor& coordinator = {}) {
  if (coordinator)
    caf::anon_send_exit(coordinator, caf::exit_reason::user_shutdown);
  for (auto& c : n.components())
    caf::anon_send_exit(c.handle, caf::exit_reason::user_shutdown);
  run_all(n);
}

} // namespace test
