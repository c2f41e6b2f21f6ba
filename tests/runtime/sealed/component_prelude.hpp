#pragma once
// Shared by the sealed-API snippets: one component, with a hole where each
// snippet puts the call under test (SEALED_CALL).
#include <chrono>
#include <cstdint>
#include "amber/runtime/component.hpp"
using poke_atom = caf::atom_constant<caf::atom("poke")>;
struct poke_state {
  int64_t n = 0;
  template <class Archive>
  void serialize(Archive& ar, unsigned) { ar& n; }
};
struct no_inspect {
  int x = 0;
};
class poker : public amber::component<poke_state> {
public:
  static constexpr const char* type_name = "sealed.poker";
  static amber::package_ref package() { return {"sealed", "1.0.0"}; }
  using component::component;
  void on_reply(int64_t n) { state().n = n; }
  caf::behavior make_behavior() override {
    return {[this](poke_atom, int64_t n) {
      state().n += n;
      SEALED_CALL;
    }};
  }
};
