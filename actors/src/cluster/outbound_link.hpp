#pragma once

// @private The sending half of the link from this member to one peer.
//
// Components send to another member's component as to a local one: their
// stamped message lands in this actor's mailbox (the peer's components are
// pseudo entries of the directory whose handle is this link, see
// node_core::set_cluster). The link turns each into an envelope with the
// next link sequence number, keeps it until the peer acknowledges it, and
// sends batches to the peer's endpoint. After a reconnect it sends again
// everything the peer has not acknowledged: the peer drops what it has
// seen, so a broken connection loses and duplicates nothing.
//
// Heartbeats: a ping every `heartbeat`; a peer silent for `member_timeout`
// is reported lost to the agent, and the link dials again until it answers
// (or, on the side that does not dial, waits for the peer's next hello).

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include <caf/event_based_actor.hpp>

#include "amber/runtime/node_core.hpp"
#include "wire.hpp"

namespace amber::cluster {

struct link_config {
  std::shared_ptr<node_core> core;
  std::string self;        ///< This member.
  std::string peer;        ///< The member this link goes to.
  std::string host;        ///< Where the peer's endpoint listens.
  uint16_t port = 0;
  bool tls = false;
  uint64_t incarnation = 0;
  std::chrono::milliseconds heartbeat{200};
  std::chrono::milliseconds member_timeout{2000};
  caf::actor agent;        ///< Hears peer_lost / peer_up and control messages.
  caf::actor endpoint;     ///< Ours: a hello hands it to the peer.
  /// One connection per pair of members (CAF keeps one per pair of nodes,
  /// and two dialing each other close each other's): the member whose name
  /// sorts first dials; the other gets the dialer's endpoint from its hello.
  bool dialer = true;
};

class outbound_link : public caf::event_based_actor {
public:
  outbound_link(caf::actor_config& cfg, link_config conf);

  const char* name() const override { return "amber.link"; }
  caf::behavior make_behavior() override;
  caf::invoke_message_result consume(caf::mailbox_element& x) override;
  void on_exit() override;

private:
  using clock_type = std::chrono::steady_clock;

  void on_component_message(caf::mailbox_element& x);
  void push(wire_envelope env);
  void flush();
  void dial();
  void on_connected(caf::actor remote);
  void connect_to(caf::actor remote);
  void on_disconnected(const std::string& why);
  void on_acked(uint64_t delivered);
  void beat();
  std::string receiver_name(uint32_t id);

  link_config conf_;
  caf::actor remote_;      ///< The peer's endpoint; null while disconnected.
  bool ready_ = false;     ///< The peer welcomed us: data may flow.
  bool dialing_ = false;
  bool flush_queued_ = false;
  bool lost_reported_ = false;
  clock_type::time_point last_heard_;
  uint64_t session_ = 0; ///< Tells the peer a new link from a restarted process.
  uint64_t next_seq_ = 1;
  uint64_t acked_ = 0;
  std::deque<wire_envelope> unacked_; ///< In sequence order.
  wire_batch batch_;                  ///< Not yet sent to the peer.
  std::map<uint64_t, uint64_t> by_epoch_; ///< Message envelopes per stamp epoch.
  uint64_t folded_ = 0; ///< Envelopes stamped before the latest marker's epoch.
  std::unordered_map<uint32_t, std::string> names_;
};

/// Spawns the link from `conf.self` to `conf.peer`.
caf::actor spawn_outbound_link(caf::actor_system& sys, link_config conf);

} // namespace amber::cluster
