#include "link_endpoint.hpp"

#include <map>
#include <unordered_map>

#include <caf/stateful_actor.hpp>

#include "../capture.hpp"
#include "amber/runtime/message_codec.hpp"
#include "agent.hpp"

namespace amber::cluster {

namespace {

// What arrived from one peer in this incarnation.
struct inbound {
  uint64_t incarnation = 0;
  uint64_t session = 0;   ///< The sending process's link (a restart makes a new one).
  uint64_t delivered = 0; ///< The highest link_seq taken (delivered or dropped).
  /// Message envelopes delivered, per stamp epoch and receiver; folded into
  /// `before` when a marker shows an epoch complete.
  std::map<uint64_t, std::unordered_map<uint32_t, uint64_t>> by_epoch;
  std::unordered_map<uint32_t, uint64_t> before;
  /// Every message envelope taken, delivered or not (an unknown receiver,
  /// a payload this binary cannot decode), per stamp epoch: the marker's
  /// count is checked against these.
  std::map<uint64_t, uint64_t> taken_by_epoch;
  uint64_t before_total = 0;
};

struct endpoint_state {
  static inline const char* name = "amber.link_endpoint";
  std::map<std::string, inbound> peers;
  std::unordered_map<std::string, entry_ptr> receivers;
  uint64_t fenced = 0; ///< Envelopes dropped: from an older incarnation.
  std::map<std::string, caf::actor> links; ///< Our links, by peer.
};

using endpoint_actor = caf::stateful_actor<endpoint_state>;

entry_ptr find_receiver(endpoint_actor* self, node_core& core, const std::string& name) {
  auto& cache = self->state.receivers;
  auto i = cache.find(name);
  if (i != cache.end() && i->second->alive.load(std::memory_order_acquire))
    return i->second;
  auto e = core.find(name);
  if (!e || e->info->id >= node_core::remote_id_base) {
    if (i != cache.end())
      cache.erase(i);
    return nullptr;
  }
  cache[name] = e;
  return e;
}

void deliver(endpoint_actor* self, const endpoint_config& conf, const std::string& from,
             inbound& in, wire_envelope& env) {
  auto& core = *conf.core;
  if (env.epoch > core.current_epoch())
    self->send(conf.coordinator, open_epoch_atom::value, env.epoch);
  if (env.kind == wire_envelope::marker) {
    // Every envelope stamped before env.epoch from this peer is in: what
    // we delivered before it is what was in flight or received before the
    // cut on this channel.
    for (auto i = in.by_epoch.begin(); i != in.by_epoch.end() && i->first < env.epoch;) {
      for (auto& [receiver, n] : i->second)
        in.before[receiver] += n;
      i = in.by_epoch.erase(i);
    }
    for (auto i = in.taken_by_epoch.begin();
         i != in.taken_by_epoch.end() && i->first < env.epoch;) {
      in.before_total += i->second;
      i = in.taken_by_epoch.erase(i);
    }
    auto rep = std::make_shared<remote_count_report>();
    rep->epoch = env.epoch;
    rep->member = from;
    rep->counts.assign(in.before.begin(), in.before.end());
    if (in.before_total != env.count) {
      rep->consistent = false;
      rep->why = "member '" + from + "' sent " + std::to_string(env.count)
                 + " messages before cut " + std::to_string(env.epoch) + ", "
                 + std::to_string(in.before_total) + " arrived";
    }
    if (auto trace = core.sinks().trace)
      self->send(trace, remote_count_atom::value, remote_count_ptr{std::move(rep)});
    return;
  }
  ++in.taken_by_epoch[env.epoch];
  auto receiver = find_receiver(self, core, env.receiver);
  if (!receiver) {
    core.count_undeliverable();
    return;
  }
  auto msg = decode_message(self->system(), env.payload);
  if (!msg) {
    core.count_undeliverable();
    return;
  }
  auto id = receiver->info->id;
  ++in.by_epoch[env.epoch][id];
  core.count_delivered(1);
  stamp st;
  st.epoch = env.epoch;
  st.sender = core.sender_id(from);
  st.receiver = id;
  st.seq = env.sender_seq;
  st.kind = stamp_kind::message;
  auto* dest = caf::actor_cast<caf::abstract_actor*>(receiver->handle);
  // The receiver's own host as sender: a lost element finds the node
  // through it (see stamped_element.hpp).
  dest->enqueue(caf::mailbox_element_ptr{new detail::stamped_message_element(
                  caf::actor_cast<caf::strong_actor_ptr>(receiver->handle), st,
                  std::move(*msg))},
                self->context());
}

caf::behavior endpoint(endpoint_actor* self, endpoint_config conf) {
  self->set_default_handler(caf::drop);
  auto reply_ack = [self, conf](const std::string& from) {
    auto& in = self->state.peers[from];
    return caf::make_message(link_ack_atom::value, conf.self, conf.incarnation, in.delivered);
  };
  return {
    [self](links_atom, std::map<std::string, caf::actor>& links) {
      self->state.links = std::move(links);
    },
    [self, conf](link_hello_atom, const std::string& from, uint64_t inc, uint64_t session,
                 caf::actor& peer_endpoint) {
      // Our link to that member rides on the connection it dialed.
      if (auto l = self->state.links.find(from); l != self->state.links.end() && peer_endpoint)
        self->send(l->second, peer_endpoint_atom::value, std::move(peer_endpoint));
      auto& in = self->state.peers[from];
      if (inc < in.incarnation) // Late, from before that member rolled back.
        return caf::make_message(link_welcome_atom::value, conf.self, conf.incarnation,
                                 uint64_t{0});
      if (inc != in.incarnation || session != in.session) {
        // A new incarnation of that member, or a new link (our first word
        // with it, or it restarted): numbering starts over.
        in = inbound{};
        in.incarnation = inc;
        in.session = session;
      }
      return caf::make_message(link_welcome_atom::value, conf.self, conf.incarnation,
                               inc == conf.incarnation ? in.delivered : uint64_t{0});
    },
    [self, conf, reply_ack](link_data_atom, const std::string& from, uint64_t inc,
                            wire_batch& batch) -> caf::message {
      auto& in = self->state.peers[from];
      if (inc != conf.incarnation || inc != in.incarnation) {
        // Fencing: an older incarnation's envelopes are never delivered; a
        // newer one's wait (unacknowledged) until we have rolled back too.
        if (inc < conf.incarnation)
          self->state.fenced += batch.size();
        return caf::make_message(link_ack_atom::value, conf.self, conf.incarnation, uint64_t{0});
      }
      for (auto& env : batch) {
        if (env.link_seq <= in.delivered)
          continue; // Sent again after a reconnect: seen already.
        if (env.link_seq != in.delivered + 1)
          break; // A gap (cannot happen on one connection): wait for a resend.
        in.delivered = env.link_seq;
        deliver(self, conf, from, in, env);
      }
      return reply_ack(from);
    },
    [reply_ack](link_ping_atom, const std::string& from, uint64_t) {
      return reply_ack(from);
    },
    [self, conf](control_atom atm, std::string& from, uint8_t kind, uint64_t inc,
                 uint64_t epoch, std::string& text, std::string& blob) {
      self->send(conf.agent, atm, std::move(from), kind, inc, epoch, std::move(text),
                 std::move(blob));
    },
    [self](fenced_atom) { return self->state.fenced; },
  };
}

} // namespace

caf::actor spawn_endpoint(caf::actor_system& sys, endpoint_config conf) {
  return sys.spawn(endpoint, std::move(conf));
}

} // namespace amber::cluster
