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
// with it in the mailbox) counts itself as lost with the node, so that
// `node::wait_quiet` still balances, and a lost request fails its requester.

#include <cstdint>
#include <utility>

#include <caf/mailbox_element.hpp>
#include <caf/message.hpp>
#include <caf/message_id.hpp>

namespace amber {

class node_core;

/// What a stamped element is.
enum class stamp_kind : uint8_t {
  message = 0,  ///< A plain message (send_to, emit).
  request = 1,  ///< Expects a response; `ref` is the requester's request id.
  response = 2, ///< Answers request `ref`.
  failure = 3,  ///< Request `ref` failed; the payload is one std::string.
};

struct stamp {
  uint64_t epoch = 0;  ///< The sender's epoch when it sent this.
  uint64_t seq = 0;    ///< The sender's send counter (per incarnation).
  uint64_t ref = 0;    ///< Request id, for requests, responses and failures.
  uint32_t sender = 0; ///< The sender's instance id.
  uint32_t receiver = 0;
  stamp_kind kind = stamp_kind::message;
};

namespace detail {

constexpr caf::message_id stamped_message_id() {
  return caf::message_id{caf::message_id::default_async_value
                         | caf::message_id::answered_flag_mask};
}

inline bool is_stamped(const caf::mailbox_element& x) {
  return x.mid == stamped_message_id();
}

class stamped_element_base : public caf::mailbox_element {
public:
  stamped_element_base(caf::strong_actor_ptr sender, const stamp& st, node_core* core)
    : caf::mailbox_element(std::move(sender), stamped_message_id(), {}), st(st), core_(core) {}

  ~stamped_element_base() override;

  stamp st;
  bool consumed = false; ///< Set by the receiver when it processes the element.

protected:
  /// Called by a subclass destructor for an element never processed: the
  /// node counts it, a running cut may record it, a requester is failed.
  void lost(caf::message payload) noexcept;

private:
  node_core* core_; ///< Outlives every actor of its node.
};

/// A stamped element holding its payload values in place.
template <class... Ts>
class stamped_element final : public stamped_element_base,
                              public caf::detail::tuple_vals_impl<caf::type_erased_tuple, Ts...> {
public:
  template <class... Us>
  stamped_element(caf::strong_actor_ptr sender, const stamp& st, node_core* core, Us&&... xs)
    : stamped_element_base(std::move(sender), st, core),
      caf::detail::tuple_vals_impl<caf::type_erased_tuple, Ts...>(std::forward<Us>(xs)...) {}

  ~stamped_element() override {
    if (!consumed)
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
  stamped_message_element(caf::strong_actor_ptr sender, const stamp& st, node_core* core,
                          caf::message msg)
    : stamped_element_base(std::move(sender), st, core), msg_(std::move(msg)) {}

  ~stamped_message_element() override {
    if (!consumed)
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
                                      node_core* core, Ts&&... xs) {
  static_assert(sizeof...(Ts) > 0, "a message needs at least one element");
  static_assert((caf::is_serializable_or_whitelisted<payload_t<Ts>>::value && ...),
                "every type in a component message needs an inspect overload (and an "
                "add_message_type registration) so a checkpoint can record it in flight");
  using impl = stamped_element<payload_t<Ts>...>;
  return caf::mailbox_element_ptr{
    new impl(std::move(sender), st, core, std::forward<Ts>(xs)...)};
}

} // namespace detail

} // namespace amber
