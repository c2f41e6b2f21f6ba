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
// State versions. A component class may declare the version of its state
// format (1 when it declares none):
//
//   static constexpr uint32_t state_version = 2;
//
// Every checkpoint records, per component, the state version it was written
// in. A restore reads an older state by decoding it as the old struct and
// running the upgrade functions registered for each step n -> n+1:
//
//   reg.add<kv_shard>();  // state_version = 2, state_type = shard_state
//   reg.add_migration<kv_shard>(1, [](shard_state_v1 old) {
//     shard_state s;
//     s.entries = std::move(old.entries);
//     s.puts = old.entries.size(); // the new field, filled in
//     return s;                    // (or an amber::result<shard_state>)
//   });
//
// A state newer than the binary's, or an older one with a step missing, is
// version_mismatch naming the type and both versions; so is a snapshot whose
// package version the policy in compatibility.hpp refuses. Boost class
// versions (BOOST_CLASS_VERSION and `serialize(ar, version)`) work inside
// any state version too; docs/COMPONENTS.md, "Changing a state type", shows
// both.
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

#include <boost/serialization/version.hpp>

#include "amber/checkpoint/model.hpp"
#include "amber/checkpoint/serial.hpp"
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
struct declared_state_version {
  static constexpr uint32_t value = 1;
};

template <class T>
struct declared_state_version<T, std::void_t<decltype(T::state_version)>> {
  static constexpr uint32_t value = T::state_version;
};

/// The argument and result of a one-argument call signature.
template <class Signature>
struct unary_signature;

template <class R, class A>
struct unary_signature<R (*)(A)> {
  using from = std::decay_t<A>;
  using to = R;
};

template <class C, class R, class A>
struct unary_signature<R (C::*)(A) const> : unary_signature<R (*)(A)> {};

template <class C, class R, class A>
struct unary_signature<R (C::*)(A)> : unary_signature<R (*)(A)> {};

/// The old and new state of an upgrade function `F` (a lambda or function
/// object taking one argument, or a function pointer).
template <class F, class = void>
struct migration_traits : unary_signature<F> {};

template <class F>
struct migration_traits<F, std::void_t<decltype(&F::operator())>>
  : unary_signature<decltype(&F::operator())> {};

template <class T>
struct unwrap_result {
  using type = T;
  static constexpr bool is_result = false;
};

template <class T>
struct unwrap_result<result<T>> {
  using type = T;
  static constexpr bool is_result = true;
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

/// Turns a state encoded at one state version into its encoding at the next.
using state_migration = std::function<result<std::string>(std::string_view bytes)>;

/// Everything the runtime knows about one component type.
struct component_type {
  std::string type_name;
  package_ref package;
  /// The custom message types it declares (`T::message_types`).
  std::vector<message_type_ref> messages;
  /// The version of its state format (`T::state_version`, else 1).
  uint32_t state_version = 1;
  /// BOOST_CLASS_VERSION of its state struct (0 without one).
  uint32_t state_class_version = 0;
  /// Upgrade steps by the version they start from: n -> n + 1.
  std::map<uint32_t, state_migration> migrations;
  /// Decodes state bytes (digest-checked) of the current state version into
  /// a fresh State, type-erased.
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
    t.state_version = detail::declared_state_version<T>::value;
    t.state_class_version = boost::serialization::version<typename T::state_type>::value;
    static_assert(detail::declared_state_version<T>::value >= 1, "state versions start at 1");
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

  /// Registers the upgrade of `T`'s state from state version `from` to
  /// `from + 1`: `fn` takes the old state struct (by value or const&) and
  /// returns the new one, or an amber::result of it. The step to `T`'s
  /// current version must return `T::state_type`.
  /// REQUIRES: `T` is registered (add<T>()).
  /// @return invalid_argument when `T` is not registered, `from` is not in
  ///         [1, T::state_version), the step is registered already, or the
  ///         last step returns another type than `T::state_type`.
  template <class T, class F>
  status add_migration(uint32_t from, F fn) {
    using traits = detail::migration_traits<std::decay_t<F>>;
    using old_state = typename traits::from;
    using returned = detail::unwrap_result<std::decay_t<typename traits::to>>;
    using new_state = typename returned::type;
    static_assert(std::is_default_constructible_v<old_state>,
                  "an old state struct needs a default constructor to be decoded into");
    std::string type_name = T::type_name;
    if (from + 1 == detail::declared_state_version<T>::value
        && !std::is_same_v<new_state, typename T::state_type>)
      return status::invalid_argument("the migration of '" + type_name + "' from state version "
                                      + std::to_string(from)
                                      + " must return its state_type, the current state");
    auto step = [fn = std::move(fn), type_name, from](std::string_view bytes) -> result<std::string> {
      old_state old;
      AMBER_RETURN_IF_ERROR(decode(bytes, &old,
                                   "state of " + type_name + " at state version "
                                     + std::to_string(from)));
      auto failed = [&](const std::string& why) {
        return status(errc::aborted, "migrating the state of " + type_name + " from version "
                                       + std::to_string(from) + " to "
                                       + std::to_string(from + 1) + " failed: " + why);
      };
      try {
        if constexpr (returned::is_result) {
          auto next = fn(std::move(old));
          if (!next)
            return failed(next.error().message());
          return encode(*next);
        } else {
          return encode(fn(std::move(old)));
        }
      } catch (const std::exception& e) {
        return failed(e.what());
      }
    };
    return add_migration(type_name, from, std::move(step));
  }

  /// Registers an upgrade step on encoded states (the form add_migration<T>
  /// builds): `step` turns the bytes of state version `from` into those of
  /// `from + 1`. Same errors as above.
  status add_migration(std::string_view type_name, uint32_t from, state_migration step);

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

  /// ok when this registry can restore states of `type_name` recorded from
  /// `package` at `state_version`: the type is registered, its package is
  /// compatible (compatibility.hpp), and the state version is the current
  /// one or an older one with every upgrade step registered.
  /// @return unknown_type, or version_mismatch naming the type and both
  ///         versions.
  status check(std::string_view type_name, const package_ref& package,
               uint32_t state_version = 1) const;

  /// `bytes`, a state of `type_name` written at `state_version`, brought to
  /// the type's current state version: `bytes` itself when current, else
  /// the migrated encoding, held in `*scratch` (the view lives as long as
  /// `bytes` and `*scratch` do, unchanged).
  /// @return as decode_state, but no corruption of the final decode.
  result<std::string_view> upgrade_state(std::string_view type_name, uint32_t state_version,
                                         std::string_view bytes, uint32_t class_version,
                                         std::string* scratch) const;

  /// Decodes `bytes`, a state of `type_name` written at `state_version`,
  /// running the upgrade steps up to the current version first.
  /// `class_version` is the BOOST_CLASS_VERSION of the state struct the
  /// bytes were written with (component_record::state_class_version).
  /// REQUIRES: `bytes` come from a digest-checked read (see serial.hpp).
  /// @return unknown_type; version_mismatch (as `check`, or a class version
  ///         newer than the state struct's at the current state version);
  ///         corruption when the bytes do not decode; aborted when an
  ///         upgrade function fails.
  result<std::shared_ptr<void>> decode_state(std::string_view type_name,
                                             uint32_t state_version, std::string_view bytes,
                                             uint32_t class_version = 0) const;

  /// Every type with its package and state version, sorted by name.
  std::vector<component_type_record> records() const;

  /// SHA-256 over the sorted (type, package, version, state version) list:
  /// two nodes with the same fingerprint can restore each other's snapshots.
  digest fingerprint() const;

private:
  std::map<std::string, component_type, std::less<>> types_;
  std::vector<message_type> messages_;
};

} // namespace amber
