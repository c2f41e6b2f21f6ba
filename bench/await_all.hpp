#pragma once

// Waiting, from outside a node, until many actors have run: a component's
// make_behavior() runs on a scheduler thread some time after spawn() or
// install() returned, so a benchmark that times what follows must first ask
// every component something and wait for every answer.
//
// Threads: call `await_all` from a thread that is not one of the actor
// system's (it blocks). The helper actor it spawns is gone when it returns.

#include <cstdint>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

namespace bench {

/// Every benchmark component answers `get` with an int64_t.
using get_atom = caf::atom_constant<caf::atom("get")>;
using answered_atom = caf::atom_constant<caf::atom("answered")>;

/// Sends `get` to every target, at most `window` requests outstanding, and
/// reports (answered_atom, answered, failed) to `report` when all are back.
class asker : public caf::event_based_actor {
public:
  asker(caf::actor_config& cfg, std::vector<caf::actor> targets, caf::actor report,
        size_t window)
    : caf::event_based_actor(cfg),
      targets_(std::move(targets)),
      report_(std::move(report)),
      window_(window) {}

  caf::behavior make_behavior() override {
    issue();
    return {[](answered_atom) {}}; // Nothing arrives; the requests keep us busy.
  }

private:
  void issue() {
    if (answered_ + failed_ == targets_.size()) {
      send(report_, answered_atom::value, static_cast<int64_t>(answered_),
           static_cast<int64_t>(failed_));
      quit();
      return;
    }
    while (next_ < targets_.size() && next_ - answered_ - failed_ < window_) {
      request(targets_[next_++], caf::infinite, get_atom::value)
        .then(
          [this](int64_t) {
            ++answered_;
            issue();
          },
          [this](caf::error&) {
            ++failed_;
            issue();
          });
    }
  }

  std::vector<caf::actor> targets_;
  caf::actor report_;
  size_t window_;
  size_t next_ = 0;
  size_t answered_ = 0;
  size_t failed_ = 0;
};

/// Blocks until every actor in `targets` has answered `get`.
/// @return how many failed to answer (0 when all did).
inline int64_t await_all(caf::actor_system& sys, std::vector<caf::actor> targets,
                         size_t window = 4096) {
  caf::scoped_actor self{sys};
  sys.spawn<asker>(std::move(targets), caf::actor_cast<caf::actor>(self), window);
  int64_t failed = 0;
  self->receive([&](answered_atom, int64_t, int64_t f) { failed = f; });
  return failed;
}

} // namespace bench
