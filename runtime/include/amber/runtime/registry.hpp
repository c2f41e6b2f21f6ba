#pragma once

// The registry of component types: type name -> package and factories, so a
// restore can rebuild any component from its recorded type name; and of the
// message types components send each other, so that every node (and every
// process reading its snapshots) registers them with CAF under one name.
//
// Fill it once at start-up (`add<T>()` for each component class,
// `add_message_type<M>(name)` for each custom message type), then share it
// read-only: a const registry is safe from any thread.
//
// A component class may list the custom types it sends or receives:
//
//   using message_types = amber::message_list<kv::put, kv::got>;
//
// Spawning it (install, spawn, spawn_child, restore) then fails with
// unknown_type naming the type when one of them is not registered with the
// node's actor system, instead of a checkpoint failing later when such a
// message happens to be in flight.
//
// A component class may also describe its state as JSON, for `amber show
// --component`, `amber cat` and the field-level `amber diff`: either a static
// member on the component class
//
//   static nlohmann::json to_json(const kv::shard_state& s);
//
// or nlohmann's free `void to_json(nlohmann::json&, const State&)` next to
// the state struct (found by ADL). Types with neither are shown by size and
// digest.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <type_traits>
#include <typeindex>
#include <typeinfo>

#include <caf/actor_system_config.hpp>
#include <caf/detail/pretty_type_name.hpp>
#include <nlohmann/json.hpp>

#include "amber/checkpoint/model.hpp"
#include "amber/runtime/component.hpp"
#include "amber/storage/digest.hpp"

namespace amber {

/// The custom message types a component class sends or receives (see the
/// top of this file). Atoms and CAF's built-in types need no listing.
template <class... Ts>
struct message_list {};

/// One C++ type as the registry refers to it.
struct message_type_ref {
  std::type_index type;
  std::string cpp_name; ///< Readable, for messages: "kv::put".
};

/// A custom message type with its CAF name, and how to register it.
struct message_type {
  std::string name; ///< CAF's portable name, the same in every process.
  message_type_ref ref;
  std::function<void(caf::actor_system_config&)> add_to;
};

namespace detail {

template <class T>
message_type_ref message_ref() {
  return {std::type_index(typeid(T)), caf::detail::pretty_type_name(typeid(T))};
}

template <class T, class = void>
struct declared_messages {
  static std::vector<message_type_ref> get() { return {}; }
};

template <class T>
struct declared_messages<T, std::void_t<typename T::message_types>> {
  template <class... Ms>
  static std::vector<message_type_ref> list(message_list<Ms...>) {
    static_assert((caf::is_serializable_or_whitelisted<Ms>::value && ...),
                  "every type in message_types needs an inspect overload");
    return {message_ref<Ms>()...};
  }
  static std::vector<message_type_ref> get() { return list(typename T::message_types{}); }
};

template <class T, class = void>
struct has_static_to_json : std::false_type {};

template <class T>
struct has_static_to_json<
  T, std::void_t<decltype(T::to_json(std::declval<const typename T::state_type&>()))>>
  : std::true_type {};

/// Decodes the state bytes of component class `T` and describes them with
/// its `to_json`; an empty function when `T` has none.
template <class T>
std::function<result<nlohmann::json>(std::string_view)> state_json_of() {
  using state = typename T::state_type;
  constexpr bool member = has_static_to_json<T>::value;
  if constexpr (member || std::is_constructible_v<nlohmann::json, const state&>) {
    return [](std::string_view bytes) -> result<nlohmann::json> {
      state s;
      AMBER_RETURN_IF_ERROR(decode(bytes, &s, std::string("state of ") + T::type_name));
      try { // user code: a throwing to_json is an error of this state, not a crash
        if constexpr (member)
          return nlohmann::json(T::to_json(s));
        else
          return nlohmann::json(s);
      } catch (const std::exception& e) {
        return status::invalid_argument(std::string("to_json of ") + T::type_name
                                        + " threw: " + e.what());
      }
    };
  } else {
    return {};
  }
}

} // namespace detail

/// Everything the runtime knows about one component type.
struct component_type {
  std::string type_name;
  package_ref package;
  /// The custom message types it declares (`T::message_types`).
  std::vector<message_type_ref> messages;
  /// Decodes state bytes (digest-checked) into a fresh State, type-erased.
  std::function<result<std::shared_ptr<void>>(std::string_view bytes)> decode_state;
  /// Decodes state bytes into the JSON its type describes them as (see the
  /// top of this file); empty when the type has no `to_json`.
  std::function<result<nlohmann::json>(std::string_view bytes)> state_json;
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
    t.messages = detail::declared_messages<T>::get();
    t.decode_state = [](std::string_view bytes) -> result<std::shared_ptr<void>> {
      auto state = std::make_shared<typename T::state_type>();
      AMBER_RETURN_IF_ERROR(decode(bytes, state.get(), std::string("state of ") + T::type_name));
      return std::shared_ptr<void>(std::move(state));
    };
    t.state_json = detail::state_json_of<T>();
    static_assert(std::is_base_of_v<component_base, T>,
                  "a component type derives from amber::component<State>");
    t.make = [](const component_init& init) -> std::unique_ptr<component_base> {
      return std::make_unique<T>(init);
    };
    return add(std::move(t));
  }

  status add(component_type t);

  /// Registers message type `M` under `name` (CAF's `add_message_type`),
  /// for every node made with this registry: it needs an `inspect`.
  /// @return invalid_argument when the name or the type is registered
  ///         already, or the name is empty.
  template <class M>
  status add_message_type(std::string name) {
    static_assert(caf::is_serializable_or_whitelisted<M>::value,
                  "a message type needs an inspect overload");
    message_type m{name, detail::message_ref<M>(),
                   [name](caf::actor_system_config& cfg) { cfg.add_message_type<M>(name); }};
    return add_message(std::move(m));
  }

  status add_message(message_type m);

  /// Every registered message type, in registration order.
  const std::vector<message_type>& message_types() const { return messages_; }

  /// Registers every message type with `cfg` (a node does this before its
  /// own `configure`).
  void configure(caf::actor_system_config& cfg) const;

  /// ok when every message type component type `t` declares is registered
  /// in `cfg`; unknown_type naming the first one missing otherwise.
  static status check_messages(const component_type& t, const caf::actor_system_config& cfg);

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
  std::vector<message_type> messages_;
};

} // namespace amber
