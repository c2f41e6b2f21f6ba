// Control: the sealed counterparts compile (so a failure below is the API's).
#define SEALED_CALL                                                            \
  send_to(std::string("peer"), poke_atom::value, n);                           \
  emit("out", poke_atom::value, n);                                            \
  request_to<&poker::on_reply>(std::string("peer"), poke_atom::value, n);      \
  start_timer(std::chrono::milliseconds(5), poke_atom::value, n);              \
  (void) spawn_child("sealed.poker", "child");                                 \
  monitor("peer");                                                             \
  become("busy");                                                              \
  stop()
#include "component_prelude.hpp"
