#include "amber/runtime/component.hpp"

#include <mutex>
#include <unordered_map>

#include "amber/runtime/atoms.hpp"
#include "component_host.hpp"

namespace amber {

// -- stamped elements -------------------------------------------------------------

namespace detail {

stamped_element_base::~stamped_element_base() = default;

void stamped_element_base::lost(caf::message payload) noexcept {
  st.consumed = true;
  // Destroyed in a mailbox that closed: its receiver exited first. The
  // sender is a host of the same node (the strong reference keeps it).
  auto* host = sender ? dynamic_cast<component_host*>(sender->get()) : nullptr;
  if (host == nullptr)
    return;
  auto& core = host->core();
  core.on_lost(st, std::move(payload));
  if (st.kind == stamp_kind::request) {
    // The requester waits for an answer that will never come: fail it.
    if (auto requester = core.find(st.sender)) {
      auto msg = caf::make_mailbox_element(nullptr, caf::make_message_id(), {}, fail_atom::value,
                                           st.ref, std::string("the component asked exited "
                                                               "before it answered"));
      caf::actor_cast<caf::abstract_actor*>(requester->handle)->enqueue(std::move(msg), nullptr);
    }
  }
}

caf::type_erased_tuple& stamped_message_element::content() {
  static caf::empty_type_erased_tuple empty;
  return msg_.empty() ? empty : msg_.content();
}

const caf::type_erased_tuple& stamped_message_element::content() const {
  static caf::empty_type_erased_tuple empty;
  return msg_.empty() ? empty : msg_.content();
}

void enqueue(send_ticket& t, caf::mailbox_element_ptr x) {
  t.receiver->enqueue(std::move(x), t.context);
}

// -- continuations ------------------------------------------------------------------

namespace {

struct continuation_table {
  std::mutex mutex;
  std::unordered_map<std::string, reply_fn> replies;
  std::unordered_map<std::string, error_fn> errors;
};

continuation_table& table() {
  static continuation_table t;
  return t;
}

} // namespace

void register_reply(const std::string& key, reply_fn f) {
  auto& t = table();
  std::lock_guard<std::mutex> guard(t.mutex);
  t.replies.emplace(key, f);
}

void register_error(const std::string& key, error_fn f) {
  auto& t = table();
  std::lock_guard<std::mutex> guard(t.mutex);
  t.errors.emplace(key, f);
}

reply_fn find_reply(const std::string& key) {
  auto& t = table();
  std::lock_guard<std::mutex> guard(t.mutex);
  auto i = t.replies.find(key);
  return i == t.replies.end() ? nullptr : i->second;
}

error_fn find_error(const std::string& key) {
  if (key.empty())
    return nullptr;
  auto& t = table();
  std::lock_guard<std::mutex> guard(t.mutex);
  auto i = t.errors.find(key);
  return i == t.errors.end() ? nullptr : i->second;
}

} // namespace detail

// -- component_base ---------------------------------------------------------------------

component_base::component_base(const component_init& init)
  : info_(init.entry->info), restored_(static_cast<bool>(init.state)) {}

component_base::~component_base() = default;

std::string component_base::param(const std::string& key, const std::string& fallback) const {
  auto i = info_->params.find(key);
  return i == info_->params.end() ? fallback : i->second;
}

const std::string& component_base::mode() const noexcept {
  return host_->mode();
}

caf::behavior component_base::mode_behavior(const std::string&) {
  return {};
}

send_result component_base::prepare_send(uint32_t to, stamp_kind kind, uint64_t ref,
                                         detail::send_ticket& t) {
  return host_->prepare_send(to, kind, ref, t);
}

send_result component_base::prepare_send_named(const std::string& to,
                                               detail::send_ticket& t) {
  return host_->prepare_send_named(to, t);
}

send_result component_base::prepare_request(uint32_t to, const std::string& reply_key,
                                             const std::string& error_key,
                                             detail::send_ticket& t) {
  return host_->prepare_request(to, reply_key, error_key, t);
}

send_result component_base::unknown_receiver() {
  return host_->unknown_receiver();
}

void component_base::fail_later(const std::string& error_key, std::string why) {
  host_->fail_later(error_key, std::move(why));
}

uint64_t component_base::start_timer_message(std::chrono::milliseconds delay, caf::message msg) {
  return host_->start_timer(delay, std::move(msg));
}

status component_base::effect(const std::string& sink, std::string payload) {
  return host_->issue_effect(sink, std::move(payload));
}

bool component_base::cancel_timer(uint64_t id) {
  return host_->cancel_timer(id);
}

result<uint32_t> component_base::spawn_child(const std::string& type_name,
                                             const std::string& name,
                                             std::map<std::string, std::string> params) {
  return host_->spawn_child(type_name, name, std::move(params));
}

void component_base::stop() {
  host_->stop_component();
}

bool component_base::monitor(const std::string& name) {
  return host_->watch(name);
}

void component_base::demonitor(uint32_t id) {
  host_->unwatch(id);
}

void component_base::become(const std::string& mode) {
  host_->switch_mode(mode);
}

std::optional<uint32_t> component_base::id_of(const std::string& name) {
  return host_->id_of(name);
}

const std::vector<uint32_t>& component_base::wired(const std::string& port) {
  return host_->wired(port);
}

} // namespace amber
