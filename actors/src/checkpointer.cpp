#include "amber/actors/checkpointer.hpp"

#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "amber/runtime/atoms.hpp"
#include "amber/runtime/error.hpp"
#include "coordinator.hpp"

namespace amber {

checkpointer::checkpointer(node& n, std::shared_ptr<store> s, checkpoint_options opts)
  : node_(n), store_(std::move(s)), opts_(opts) {
  coordinator_ = spawn_coordinator(node_, store_, opts_);
}

checkpointer::~checkpointer() {
  // The capture actors are linked to the coordinator and go with it.
  caf::anon_send_exit(coordinator_, caf::exit_reason::user_shutdown);
}

result<digest> checkpointer::checkpoint() {
  caf::scoped_actor self{node_.system()};
  result<digest> out = status(errc::internal, "the coordinator gave no answer");
  // The coordinator enforces opts_.timeout itself; the margin here only
  // guards against a coordinator that died without answering.
  auto wait = opts_.timeout + std::chrono::seconds(5);
  self->request(coordinator_, wait, checkpoint_atom::value)
    .receive(
      [&](std::string& hex) {
        auto id = digest::from_hex(hex);
        out = id ? result<digest>(*id) : result<digest>(id.error());
      },
      [&](caf::error& err) { out = from_caf_error(node_.system(), err); });
  return out;
}

} // namespace amber
