#pragma once

// @private Continuations of requests between components.
//
// A pending request is part of a checkpoint, so what runs when its response
// arrives must be found again by a restored process: continuations are
// member functions, named by a key derived from the function's name
// (stable across runs of the same program), and registered before main
// through a static member of a class template that each `request_to`
// instantiation odr-uses.

#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <caf/behavior.hpp>
#include <caf/type_erased_tuple.hpp>

#include "amber/storage/status.hpp"

namespace amber {

class component_base;

namespace detail {

/// Runs a reply continuation. @return false when the response's values do
/// not match its parameters.
using reply_fn = bool (*)(component_base& self, caf::type_erased_tuple& xs);
/// Runs an error continuation.
using error_fn = void (*)(component_base& self, const status& why);

void register_reply(const std::string& key, reply_fn f);
void register_error(const std::string& key, error_fn f);
/// @return null when no continuation has that key in this program.
reply_fn find_reply(const std::string& key);
error_fn find_error(const std::string& key);

/// The value of template parameter F in a function's __PRETTY_FUNCTION__.
inline std::string template_argument_f(std::string_view pretty) {
  auto at = pretty.find("F = ");
  auto text = at == std::string_view::npos ? pretty : pretty.substr(at + 4);
  auto end = text.find_first_of(";]");
  return std::string(text.substr(0, end));
}

/// The key of continuation `F`: what the compiler calls it.
template <auto F>
const std::string& continuation_key() {
  // __PRETTY_FUNCTION__ read here, not inside a lambda: clang names the
  // lambda there, without F, so every continuation got one key.
  static const std::string key = template_argument_f(__PRETTY_FUNCTION__);
  return key;
}

template <class T>
struct member_fn_traits;

template <class C, class... Args>
struct member_fn_traits<void (C::*)(Args...)> {
  using owner = C;
};

template <auto F, class C, class... Args>
caf::behavior call_reply_behavior(C& obj, void (C::*)(Args...)) {
  return {[&obj](Args... xs) { (obj.*F)(std::forward<Args>(xs)...); }};
}

template <auto F>
bool call_reply(component_base& self, caf::type_erased_tuple& xs) {
  using owner = typename member_fn_traits<decltype(F)>::owner;
  auto& obj = static_cast<owner&>(self);
  // A behavior matches like any CAF handler (atom constants included).
  caf::behavior bhvr = call_reply_behavior<F>(obj, F);
  return static_cast<bool>(bhvr(xs));
}

template <auto F>
void call_error(component_base& self, const status& why) {
  using owner = typename member_fn_traits<decltype(F)>::owner;
  (static_cast<owner&>(self).*F)(why);
}

template <auto F>
struct reply_registration {
  static inline const bool done = (register_reply(continuation_key<F>(), &call_reply<F>), true);
};

template <auto F>
struct error_registration {
  static inline const bool done = (register_error(continuation_key<F>(), &call_error<F>), true);
};

/// Keys of a request's two continuations; the error key is empty for none.
template <auto OnReply, auto OnError>
std::pair<std::string, std::string> continuation_keys() {
  static_assert(std::is_member_function_pointer_v<decltype(OnReply)>,
                "request_to<OnReply>: OnReply must be a member function such as "
                "&my_component::on_reply, so that a restored component can run it");
  (void) reply_registration<OnReply>::done;
  if constexpr (std::is_same_v<decltype(OnError), std::nullptr_t>) {
    return {continuation_key<OnReply>(), std::string()};
  } else {
    static_assert(std::is_member_function_pointer_v<decltype(OnError)>,
                  "request_to<OnReply, OnError>: OnError must be a member function "
                  "taking const amber::status&");
    (void) error_registration<OnError>::done;
    return {continuation_key<OnReply>(), continuation_key<OnError>()};
  }
}

} // namespace detail

} // namespace amber
