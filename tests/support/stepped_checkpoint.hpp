#pragma once

// A checkpoint driven one step at a time on CAF's deterministic scheduler
// (see stepping.hpp).
//
// Why this way: `checkpointer::checkpoint()` blocks its caller on a
// scoped_actor until the coordinator answers, and on the test scheduler
// nothing answers while the test's thread is blocked. So the test asks the
// coordinator itself, asynchronously, exactly as an actor inside the node
// would (`checkpoint_atom` to `checkpointer::coordinator()`), and runs the
// scheduler. `open()` runs the coordinator alone: the cut begins
// (node_core::begin_cut) and every member finds its cut marker at the end
// of its mailbox, behind whatever the test queued before; the test then
// spawns, installs, stops or steps single components in the exact order it
// wants, and `finish()` runs everything and collects the answer. No timer
// is ever fired, so a cut that would only end by its timeout gives no
// answer at all: `finish()` reports that as a stall.

#include <chrono>
#include <optional>
#include <string>

#include <caf/scoped_actor.hpp>
#include <doctest/doctest.h>

#include "amber/actors/checkpointer.hpp"
#include "amber/actors/restore.hpp"
#include "amber/checkpoint/snapshot.hpp"
#include "amber/runtime/atoms.hpp"
#include "amber/runtime/error.hpp"
#include "support/stepping.hpp"

namespace test {

class stepped_checkpoint {
public:
  stepped_checkpoint(amber::node& n, const amber::checkpointer& cp)
    : node_(n), coordinator_(cp.coordinator()), self_(n.system()) {
    self_->send(coordinator_, amber::checkpoint_atom::value);
  }

  /// Runs the coordinator alone: the cut is open, markers are queued.
  void open() {
    REQUIRE(step(node_, coordinator_));
    opened_ = node_.core().current_epoch();
  }

  /// The epoch `open()` began.
  uint64_t epoch() const { return opened_; }

  /// Runs everything until nothing moves. @return the snapshot's id, or why
  /// there is none; fails the test when no answer came (a stalled cut).
  amber::result<amber::digest> finish() {
    if (opened_ == 0)
      open();
    run_all(node_);
    std::optional<amber::result<amber::digest>> out;
    self_->receive(
      [&](std::string& hex) { out = amber::digest::from_hex(hex); },
      [&](caf::error& err) { out = amber::from_caf_error(node_.system(), err); },
      caf::after(std::chrono::seconds(0)) >> [] {});
    REQUIRE_MESSAGE(out.has_value(), "the checkpoint never answered: the cut stalled");
    return *out;
  }

private:
  amber::node& node_;
  caf::actor coordinator_;
  caf::scoped_actor self_;
  uint64_t opened_ = 0;
};

/// A whole checkpoint, run to its end. REQUIRE-s success.
inline amber::digest checkpoint_now(amber::node& n, const amber::checkpointer& cp) {
  stepped_checkpoint c(n, cp);
  auto id = c.finish();
  REQUIRE_MESSAGE(id.ok(), id.error().to_string());
  return *id;
}

/// A node on the deterministic scheduler and, optionally, its
/// checkpointer; winds both down (see stepping.hpp) before destroying them.
struct stepped_node {
  std::unique_ptr<amber::node> node;
  std::unique_ptr<amber::checkpointer> cp;

  stepped_node() = default;
  explicit stepped_node(std::unique_ptr<amber::node> n) : node(std::move(n)) { run_all(*node); }
  stepped_node(std::shared_ptr<const amber::registry> types, std::string name)
    : stepped_node(std::make_unique<amber::node>(std::move(types),
                                                 stepped_options(std::move(name)))) {}
  stepped_node(stepped_node&&) = default;
  stepped_node& operator=(stepped_node&&) = delete;
  ~stepped_node() { close(); }

  amber::node& operator*() { return *node; }
  amber::node* operator->() { return node.get(); }

  /// Starts a checkpointer writing to `db` (its coordinator initializes
  /// when run: done here).
  amber::checkpointer& checkpoint_to(std::shared_ptr<amber::store> db,
                                     amber::checkpoint_options opts = {}) {
    cp = std::make_unique<amber::checkpointer>(*node, std::move(db), std::move(opts));
    run_all(*node);
    return *cp;
  }

  amber::digest checkpoint() { return checkpoint_now(*node, *cp); }

  void close() {
    if (!node)
      return;
    wind_down(*node, cp ? cp->coordinator() : caf::actor{});
    cp.reset();
    node.reset();
  }
};

/// Restores `id` onto the deterministic scheduler.
inline stepped_node restore_stepped(amber::store& db, const amber::digest& id,
                                    std::shared_ptr<const amber::registry> types) {
  amber::restore_options opts;
  opts.configure = testing_scheduler;
  auto r = amber::restore_node(db, id.to_hex(), std::move(types), opts);
  REQUIRE_MESSAGE(r.ok(), r.error().to_string());
  return stepped_node(std::move(*r));
}

inline amber::loaded_snapshot load(amber::store& db, const amber::digest& id) {
  auto snap = amber::load_snapshot(db, id);
  REQUIRE_MESSAGE(snap.ok(), snap.error().to_string());
  return std::move(*snap);
}

} // namespace test
