#pragma once

// @private The CAF actor that runs one component.
//
// The host owns the component object and is the only CAF actor involved:
// it stamps what the component sends, takes the component's part in cuts
// (Lai-Yang colouring with Mattern's counters, see checkpointer.hpp),
// records messages that were in flight, and keeps the runtime's record
// (mode, pending timers and requests, monitors) that a checkpoint stores
// next to the state.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/event_based_actor.hpp>

#include "amber/runtime/component.hpp"
#include "amber/runtime/cut_report.hpp"
#include "amber/runtime/runtime_record.hpp"

namespace amber {

using make_component_fn = std::function<std::unique_ptr<component_base>(const component_init&)>;

class component_host : public caf::event_based_actor {
public:
  component_host(caf::actor_config& cfg, component_init init, make_component_fn make);
  ~component_host() override;

  const char* name() const override;
  void initialize() override;
  caf::invoke_message_result consume(caf::mailbox_element& x) override;
  void on_exit() override;

  // -- for component_base ---------------------------------------------------------

  send_result prepare_send(uint32_t to, stamp_kind kind, uint64_t ref, detail::send_ticket& t);
  send_result prepare_send_named(const std::string& name, detail::send_ticket& t);
  send_result prepare_request(uint32_t to, const std::string& reply_key,
                              const std::string& error_key, detail::send_ticket& t);
  send_result unknown_receiver();
  void fail_later(const std::string& error_key, std::string why);
  uint64_t start_timer(std::chrono::milliseconds delay, caf::message msg);
  status issue_effect(const std::string& sink, std::string payload);
  bool cancel_timer(uint64_t id);
  result<uint32_t> spawn_child(const std::string& type_name, const std::string& name,
                               std::map<std::string, std::string> params);
  void stop_component();
  bool watch(const std::string& name);
  void unwatch(uint32_t id);
  void switch_mode(const std::string& mode);
  const std::string& mode() const { return record_.mode; }
  node_core& core() { return *core_; }
  std::optional<uint32_t> id_of(const std::string& name);
  const std::vector<uint32_t>& wired(const std::string& port);

private:
  caf::result<caf::message> on_unexpected(caf::message_view& x);
  caf::scheduled_actor::default_handler unexpected_handler();

  struct peer {
    entry_ptr entry;
    uint64_t sent = 0; ///< Stamped messages sent to it, for the cut's counts.
    bool dead_at_last_cut = false; ///< See prune_peers.
  };
  struct pending_timer {
    std::chrono::steady_clock::time_point due;
    caf::message payload;
  };
  struct pending_request {
    uint32_t target = 0;
    std::string reply_key;
    std::string error_key;
    std::string failed; ///< Set when it failed before it was sent: why.
  };
  struct watched {
    std::string name;
    caf::actor_addr addr;
  };

  send_result prepare_send_to(peer& p, stamp_kind kind, uint64_t ref,
                              detail::send_ticket& t);
  void start_user_code();
  void restore_record();
  void on_stamped(detail::stamped_element_base& x);
  bool on_control(caf::mailbox_element& x);
  void dispatch(caf::type_erased_tuple& xs);
  void answer(const stamp& st, caf::type_erased_tuple& xs);
  void on_response(const stamp& st, caf::type_erased_tuple& xs);
  void on_failure(uint64_t ref, const std::string& why);
  /// Queues request `ref`'s failure to ourselves (handled by on_control).
  void deliver_failure_later(uint64_t ref, std::string why);
  void on_timer(uint64_t at);
  void on_down(const caf::down_msg& dm);
  void reply(uint32_t to, stamp_kind kind, uint64_t ref, caf::message msg);
  void apply_pending_mode();
  void take_cut(uint64_t epoch);
  std::string encode_record();
  sent_counts counts() const;
  void prune_peers();
  /// Leaves the directory and tells a running cut (see on_exit).
  void retire();
  void arm_timers();
  void touch() { dirty_ = true; }
  /// A handler starts: the cause of the effects it issues (effect keys).
  enum class cause_kind : uint8_t { message, timer, other };
  void begin_cause(cause_kind kind, uint64_t a = 0, uint64_t b = 0) {
    cause_ = {kind, a, b};
    ordinal_ = 0;
  }

  std::shared_ptr<node_core> core_;
  entry_ptr entry_;
  uint64_t unexpected_ = 0; ///< Messages no handler took.
  std::unique_ptr<component_base> impl_;
  std::string restored_record_; ///< A restore's runtime record, until release.
  bool held_;
  bool started_ = false;
  uint64_t epoch_;
  uint64_t sent_ = 0;
  uint64_t received_ = 0;
  uint64_t handled_ = 0;
  bool dirty_ = true;       ///< State may differ from the last cut's blob.
  uint64_t generation_ = 0; ///< node_core::generation() at the last cut.
  /// The epoch whose cut carried our latest bytes: an "unchanged" report
  /// names it, so a cache that kept other bytes (a late cut of an aborted
  /// epoch was dropped) refuses to reuse them.
  uint64_t blob_epoch_ = 0;
  caf::behavior initial_behavior_; ///< make_behavior()'s, for mode "".
  std::optional<std::string> pending_mode_;
  runtime_record record_; ///< mode and next_ref; the rest lives below.
  std::map<uint64_t, pending_timer> timers_;
  /// When the timer entry now in CAF's clock fires; none when there is none.
  std::optional<std::chrono::steady_clock::time_point> armed_;
  std::map<uint64_t, pending_request> requests_;
  std::map<uint32_t, watched> monitors_;
  std::vector<component_info_ptr> joiners_; ///< Spawned into an open cut.
  std::unordered_map<uint32_t, peer> peers_;
  std::unordered_map<std::string, entry_ptr> names_;
  /// Name -> its peer (nodes of peers_ never move): send_to(name) looks up once.
  std::unordered_map<std::string, peer*> named_;
  struct port_cache {
    std::vector<uint32_t> ids;
    std::vector<entry_ptr> entries; ///< To notice a target that exited.
  };
  std::unordered_map<std::string, port_cache> ports_;
  std::vector<uint32_t> unresolved_; ///< A port's targets while one is missing.
  uint64_t wiring_version_ = 0;
  // Effects (only when the component issues_effects()).
  bool effects_on_ = false;
  std::unordered_map<uint32_t, uint64_t> inbound_; ///< Stamped messages per sender.
  uint64_t other_causes_ = 0; ///< Handlers of other causes that issued effects.
  struct cause {
    cause_kind kind = cause_kind::other;
    uint64_t a = 0; ///< Sender, timer id, or the other-cause count.
    uint64_t b = 0; ///< The n-th message from the sender.
  } cause_;
  uint64_t ordinal_ = 0; ///< Effects the current handler issued so far.
};

} // namespace amber
