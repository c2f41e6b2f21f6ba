#pragma once

// The registry of component types: type name -> package and factories, so a
// restore can rebuild any component from its recorded type name.
//
// Fill it once at start-up (`add<T>()` for each component class), then share
// it read-only: a const registry is safe from any thread.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <type_traits>

#include "amber/checkpoint/model.hpp"
#include "amber/runtime/component.hpp"
#include "amber/storage/digest.hpp"

namespace amber {

/// Everything the runtime knows about one component type.
struct component_type {
  std::string type_name;
  package_ref package;
  /// Decodes state bytes (digest-checked) into a fresh State, type-erased.
  std::function<result<std::shared_ptr<void>>(std::string_view bytes)> decode_state;
  /// Makes the component object a node's host actor runs.
  std::function<std::unique_ptr<component_base>(const component_init& init)> make;
};

class registry {
public:
  /// Registers component class `T` (see component.hpp for what it needs).
  /// @return invalid_argument when the type name is taken.
  template <class T>
  status add() {
    component_type t;
    t.type_name = T::type_name;
    t.package = T::package();
    t.decode_state = [](std::string_view bytes) -> result<std::shared_ptr<void>> {
      auto state = std::make_shared<typename T::state_type>();
      AMBER_RETURN_IF_ERROR(decode(bytes, state.get(), std::string("state of ") + T::type_name));
      return std::shared_ptr<void>(std::move(state));
    };
    static_assert(std::is_base_of_v<component_base, T>,
                  "a component type derives from amber::component<State>");
    t.make = [](const component_init& init) -> std::unique_ptr<component_base> {
      return std::make_unique<T>(init);
    };
    return add(std::move(t));
  }

  status add(component_type t);

  /// The type named `type_name`, or nullptr.
  const component_type* find(std::string_view type_name) const;

  /// ok when `type_name` is registered in exactly `package`'s version;
  /// unknown_type or version_mismatch (naming both versions) otherwise.
  status check(std::string_view type_name, const package_ref& package) const;

  /// Every type with its package, sorted by name.
  std::vector<component_type_record> records() const;

  /// SHA-256 over the sorted (type, package, version) list: two nodes with
  /// the same fingerprint can restore each other's snapshots.
  digest fingerprint() const;

private:
  std::map<std::string, component_type, std::less<>> types_;
};

} // namespace amber
