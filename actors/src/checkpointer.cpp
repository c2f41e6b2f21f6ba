#include "amber/actors/checkpointer.hpp"

#include <thread>

#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "amber/checkpoint/snapshot.hpp"
#include "amber/runtime/atoms.hpp"
#include "amber/runtime/error.hpp"
#include "coordinator.hpp"

namespace amber {

checkpointer::checkpointer(node& n, std::shared_ptr<store> s, checkpoint_options opts)
  : node_(n), store_(std::move(s)), opts_(std::move(opts)) {
  if (!node_.expected_head().known) {
    // A fresh node claims its head ref as it is now: if another live writer
    // of the same node moves it meanwhile, our commits fail with conflict.
    auto head = store_->get_ref(head_ref(node_.name()));
    if (head)
      node_.set_expected_head(*head);
    else if (head.error().is_not_found())
      node_.set_expected_head(std::nullopt);
    // Otherwise the first checkpoint reads it again and reports the error.
  }
  coordinator_ = spawn_coordinator(node_, store_, opts_);
  node_.attach(coordinator_);
}

namespace {

// Ends the coordinator (its captures are linked to it and go with it) and
// waits until it is gone, so no callback of ours runs after we return.
void end_coordinator(node& n, const caf::actor& coordinator) {
  n.core().set_sinks({});
  caf::anon_send_exit(coordinator, caf::exit_reason::user_shutdown);
  caf::scoped_actor self{n.system()};
  self->wait_for(coordinator);
}

} // namespace

checkpointer::~checkpointer() {
  if (!stopped_)
    end_coordinator(node_, coordinator_);
}

result<checkpoint_report> checkpointer::checkpoint_with_report() {
  return ask(false);
}

result<checkpoint_report> checkpointer::checkpoint_if_changed() {
  return ask(true);
}

result<checkpoint_report> checkpointer::ask(bool if_changed) {
  caf::scoped_actor self{node_.system()};
  result<checkpoint_report> out = status(errc::internal, "the coordinator gave no answer");
  // The coordinator enforces opts_.timeout itself; the margin here only
  // guards against a coordinator that died without answering.
  auto wait = opts_.timeout + std::chrono::seconds(5);
  self->request(coordinator_, wait, checkpoint_atom::value, report_atom::value, if_changed)
    .receive([&](checkpoint_report_ptr& rep) { out = *rep; },
             [&](caf::error& err) { out = from_caf_error(node_.system(), err); });
  return out;
}

result<digest> checkpointer::checkpoint() {
  auto rep = checkpoint_with_report();
  if (!rep)
    return rep.error();
  return rep->id;
}

result<digest> checkpointer::checkpoint_when_free(std::chrono::milliseconds budget) {
  auto deadline = std::chrono::steady_clock::now() + budget;
  for (;;) {
    auto out = checkpoint();
    if (out || out.error().code() != errc::busy || std::chrono::steady_clock::now() >= deadline)
      return out;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

result<digest> checkpointer::stop() {
  if (stopped_)
    return status(errc::aborted, "the checkpointer is already stopped");
  result<digest> out = status(errc::aborted, "no final checkpoint was asked for");
  if (opts_.checkpoint_on_stop)
    out = checkpoint_when_free(opts_.timeout); // A periodic one may be running.
  stopped_ = true;
  end_coordinator(node_, coordinator_);
  return out;
}

} // namespace amber
