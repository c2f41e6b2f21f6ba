#pragma once

// A handle to a component: its stable identity (instance id and name) and
// its current actor. Ids and names survive restores; actor handles do not.

#include <cstdint>
#include <map>
#include <string>

#include <caf/actor.hpp>

#include "amber/checkpoint/model.hpp"

namespace amber {

struct component_ref {
  uint32_t id = 0;
  std::string name;
  std::string type_name;
  package_ref package;
  std::string graph; ///< The graph that installed it; empty when spawned directly.
  std::map<std::string, std::string> params; ///< What it was spawned with.
  caf::actor handle;

  explicit operator bool() const { return static_cast<bool>(handle); }
};

} // namespace amber
