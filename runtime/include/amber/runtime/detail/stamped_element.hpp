#pragma once

// @private How a stamped message travels between components of one node.
//
// A component's message is one mailbox element carrying both the payload
// and the stamp a consistent cut needs (the sender's epoch, id and sequence
// number): one allocation per message, as for a plain CAF send, and the
// receiver dispatches the payload straight to its behavior. The stamp rides
// in the element (not in the payload), so handlers never see it.
//
// A stamped element is recognised by its message id: an asynchronous id with
// CAF's "answered" flag set, which CAF never puts on a message it enqueues
// itself (it marks requests as answered in the receiver, after delivery).
//
// A stamped element destroyed without being processed (its receiver exited
// with it in the mailbox) counts itself as lost with the node (found through
// its sender, always a host of the same node), so that `node::wait_quiet`
// still balances, and a lost request fails its requester.

#include <array>
#include <cstdint>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include <caf/mailbox_element.hpp>
#include <caf/message.hpp>
#include <caf/message_id.hpp>
#include <caf/deep_to_string.hpp>
#include <caf/make_type_erased_value.hpp>
#include <caf/type_erased_tuple.hpp>

namespace amber {

class node_core;

/// What a stamped element is.
enum class stamp_kind : uint8_t {
  message = 0,  ///< A plain message (send_to, emit).
  request = 1,  ///< Expects a response; `ref` is the requester's request id.
  response = 2, ///< Answers request `ref`.
  failure = 3,  ///< Request `ref` failed; the payload is one std::string.
};

/// 32 bytes, so that a stamped element of a two-value message is no larger
/// than CAF's own mailbox element (120 bytes): allocators keep such small
/// blocks on their fastest path, and a message crosses threads per send.
struct stamp {
  uint64_t epoch = 0;    ///< The sender's epoch when it sent this.
  uint64_t ref = 0;      ///< Request id, for requests, responses and failures.
  uint32_t sender = 0;   ///< The sender's instance id.
  uint32_t receiver = 0; ///< The receiver's instance id.
  /// Messages sent on this (sender, receiver) channel, this one included
  /// (modulo 2^32); 0 for a restore's re-delivery, which comes first.
  uint32_t seq = 0;
  stamp_kind kind = stamp_kind::message;
  bool consumed = false; ///< Set by the receiver when it processes the element.
};


namespace detail {

constexpr caf::message_id stamped_message_id() {
  return caf::message_id{caf::message_id::default_async_value
                         | caf::message_id::answered_flag_mask};
}

inline bool is_stamped(const caf::mailbox_element& x) {
  // Not `x.mid == ...`: CAF compares ids by a signed subtraction, which
  // overflows (undefined behaviour) for a response id against this one.
  return x.mid.integer_value() == stamped_message_id().integer_value();
}

class stamped_element_base : public caf::mailbox_element {
public:
  /// `sender` must be a component host of the node (the receiver's own host
  /// for a restore's re-delivery): a lost element finds its node through it.
  stamped_element_base(caf::strong_actor_ptr sender, const stamp& st)
    : caf::mailbox_element(std::move(sender), stamped_message_id(), {}), st(st) {}

  ~stamped_element_base() override;

  stamp st;

protected:
  /// Called by a subclass destructor for an element never processed: the
  /// node counts it, a running cut may record it, a requester is failed.
  void lost(caf::message payload) noexcept;
};

/// A type-erased tuple whose type table is static, not per message (CAF's
/// tuple_vals keeps 16 bytes per element in every message).
template <class... Ts>
class packed_tuple : public caf::type_erased_tuple {
public:
  template <class... Us>
  explicit packed_tuple(Us&&... xs) : data_(std::forward<Us>(xs)...) {}

  std::tuple<Ts...>& data() { return data_; }
  const std::tuple<Ts...>& data() const { return data_; }

  void* get_mutable(size_t pos) override {
    return visit(pos, [](auto& x) -> void* { return &x; });
  }
  caf::error load(size_t pos, caf::deserializer& source) override {
    return visit(pos, [&](auto& x) -> caf::error { return source(x); });
  }
  size_t size() const noexcept override { return sizeof...(Ts); }
  uint32_t type_token() const noexcept override { return caf::make_type_token<Ts...>(); }
  caf::rtti_pair type(size_t pos) const noexcept override { return types()[pos]; }
  const void* get(size_t pos) const noexcept override {
    return self().visit(pos, [](auto& x) -> void* { return &x; });
  }
  std::string stringify(size_t pos) const override {
    return self().visit(pos, [](auto& x) { return caf::deep_to_string(x); });
  }
  caf::type_erased_value_ptr copy(size_t pos) const override {
    return self().visit(pos, [](auto& x) -> caf::type_erased_value_ptr {
      return caf::make_type_erased_value<std::decay_t<decltype(x)>>(x);
    });
  }
  caf::error save(size_t pos, caf::serializer& sink) const override {
    return self().visit(pos, [&](auto& x) -> caf::error { return sink(x); });
  }

private:
  static const std::array<caf::rtti_pair, sizeof...(Ts)>& types() {
    static const std::array<caf::rtti_pair, sizeof...(Ts)> table{{caf::make_rtti_pair<Ts>()...}};
    return table;
  }
  // Inspectors take mutable references; CAF's own tuples cast away const too.
  packed_tuple& self() const { return const_cast<packed_tuple&>(*this); }

  template <class F>
  auto visit(size_t pos, F f) {
    return visit(pos, f, std::index_sequence_for<Ts...>{});
  }
  template <class F, size_t... Is>
  auto visit(size_t pos, F& f, std::index_sequence<Is...>) {
    decltype(f(std::get<0>(data_))) out{};
    (void) ((pos == Is ? (out = f(std::get<Is>(data_)), true) : false) || ...);
    return out;
  }

  std::tuple<Ts...> data_;
};

/// A stamped element holding its payload values in place.
template <class... Ts>
class stamped_element final : public stamped_element_base, public packed_tuple<Ts...> {
public:
  template <class... Us>
  stamped_element(caf::strong_actor_ptr sender, const stamp& st, Us&&... xs)
    : stamped_element_base(std::move(sender), st),
      packed_tuple<Ts...>(std::forward<Us>(xs)...) {}

  ~stamped_element() override {
    if (!st.consumed)
      lost(copy_content_to_message());
  }

  caf::type_erased_tuple& content() override { return *this; }
  const caf::type_erased_tuple& content() const override { return *this; }

  caf::message move_content_to_message() override {
    caf::message_factory f;
    auto& xs = this->data();
    return caf::detail::apply_moved_args(f, caf::detail::get_indices(xs), xs);
  }

  caf::message copy_content_to_message() const override {
    caf::message_factory f;
    auto& xs = this->data();
    return caf::detail::apply_args(f, caf::detail::get_indices(xs), xs);
  }
};

/// A stamped element around an existing message (emit's shared payload is
/// copied per receiver instead; this one serves re-delivery and responses).
class stamped_message_element final : public stamped_element_base {
public:
  stamped_message_element(caf::strong_actor_ptr sender, const stamp& st, caf::message msg)
    : stamped_element_base(std::move(sender), st), msg_(std::move(msg)) {}

  ~stamped_message_element() override {
    if (!st.consumed)
      lost(msg_);
  }

  caf::type_erased_tuple& content() override;
  const caf::type_erased_tuple& content() const override;
  caf::message move_content_to_message() override { return std::move(msg_); }
  caf::message copy_content_to_message() const override { return msg_; }

private:
  caf::message msg_;
};

template <class T>
using payload_t =
  typename caf::unbox_message_element<typename caf::detail::strip_and_convert<T>::type>::type;

template <class... Ts>
caf::mailbox_element_ptr make_stamped(caf::strong_actor_ptr sender, const stamp& st,
                                      Ts&&... xs) {
  static_assert(sizeof...(Ts) > 0, "a message needs at least one element");
  static_assert((caf::is_serializable_or_whitelisted<payload_t<Ts>>::value && ...),
                "every type in a component message needs an inspect overload (and an "
                "add_message_type registration) so a checkpoint can record it in flight");
  using impl = stamped_element<payload_t<Ts>...>;
  return caf::mailbox_element_ptr{
    new impl(std::move(sender), st, std::forward<Ts>(xs)...)};
}

} // namespace detail

} // namespace amber
