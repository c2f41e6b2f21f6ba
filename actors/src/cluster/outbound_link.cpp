#include "outbound_link.hpp"

#include <random>

#include <caf/actor_system.hpp>
#include <caf/send.hpp>

#include "amber/runtime/atoms.hpp"
#include "amber/runtime/detail/stamped_element.hpp"
#include "amber/runtime/message_codec.hpp"
#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/openssl/manager.hpp>

#include "publish.hpp"

namespace amber::cluster {

namespace {


// How many envelopes one data message carries at most.
constexpr size_t max_batch = 512;

} // namespace

outbound_link::outbound_link(caf::actor_config& cfg, link_config conf)
  : caf::event_based_actor(cfg), conf_(std::move(conf)) {
  last_heard_ = clock_type::now();
  session_ = std::random_device{}();
  session_ = (session_ << 32) ^ std::random_device{}() ^ static_cast<uint64_t>(
    clock_type::now().time_since_epoch().count());
}

void outbound_link::on_exit() {
  remote_ = nullptr;
  conf_.agent = nullptr;
  conf_.core.reset();
  caf::event_based_actor::on_exit();
}

caf::invoke_message_result outbound_link::consume(caf::mailbox_element& x) {
  if (detail::is_stamped(x)) {
    on_component_message(x);
    return caf::invoke_message_result::consumed;
  }
  return caf::event_based_actor::consume(x);
}

std::string outbound_link::receiver_name(uint32_t id) {
  auto i = names_.find(id);
  if (i != names_.end())
    return i->second;
  std::string name;
  if (auto e = conf_.core->find(id)) {
    auto& qualified = e->info->name;
    name = qualified.substr(qualified.find('/') + 1);
  }
  names_.emplace(id, name);
  return name;
}

void outbound_link::on_component_message(caf::mailbox_element& x) {
  auto& el = static_cast<detail::stamped_element_base&>(x);
  el.st.consumed = true; // Taken over by the link: never "lost" in our mailbox.
  auto& st = el.st;
  conf_.core->count_forwarded(1);
  if (st.kind != stamp_kind::message) {
    // Requests between members are not supported: a response would have to
    // find its way back through a rollback. Fail the requester at once.
    if (st.kind == stamp_kind::request) {
      if (auto requester = conf_.core->find(st.sender))
        caf::actor_cast<caf::abstract_actor*>(requester->handle)
          ->enqueue(caf::make_mailbox_element(
                      nullptr, caf::make_message_id(), {}, fail_atom::value, st.ref,
                      std::string("requests to another member are not supported (member '")
                        + conf_.peer + "'); use send_to"),
                    context());
    }
    return;
  }
  auto bytes = encode_message(system(), x.copy_content_to_message());
  if (!bytes) {
    // A type without add_message_type cannot cross: say so once per link.
    static thread_local bool told = false;
    if (!told) {
      told = true;
      fprintf(stderr, "amber: a message to member '%s' was dropped: %s\n", conf_.peer.c_str(),
              bytes.error().to_string().c_str());
    }
    return;
  }
  wire_envelope env;
  env.epoch = st.epoch;
  env.sender = st.sender;
  env.sender_seq = st.seq;
  env.kind = wire_envelope::message;
  env.receiver = receiver_name(st.receiver);
  env.payload = std::move(*bytes);
  ++by_epoch_[st.epoch];
  push(std::move(env));
}

void outbound_link::push(wire_envelope env) {
  env.link_seq = next_seq_++;
  unacked_.push_back(env);
  if (!ready_)
    return; // Sent with the rest once the peer welcomes us.
  batch_.push_back(std::move(env));
  if (batch_.size() >= max_batch) {
    flush();
  } else if (!flush_queued_) {
    // Behind every message already in the mailbox: they join this batch.
    flush_queued_ = true;
    send(this, flush_atom::value);
  }
}

void outbound_link::flush() {
  if (ready_ && !batch_.empty())
    send(remote_, link_data_atom::value, conf_.self, conf_.incarnation, std::move(batch_));
  batch_.clear();
}

void outbound_link::dial() {
  if (dialing_ || remote_ || !conf_.dialer)
    return;
  dialing_ = true;
  // Asked of the middleman actor (or CAF's TLS manager) without blocking:
  // a blocking connect would need a thread of its own, and one started
  // while the node shuts down keeps the actor system from ever finishing.
  caf::io::middleman_actor mm = conf_.tls ? system().openssl_manager().actor_handle()
                                          : system().middleman().actor_handle();
  request(mm, std::chrono::seconds(2), caf::connect_atom::value, conf_.host, conf_.port)
    .then(
      [this](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
        if (ptr) {
          on_connected(caf::actor_cast<caf::actor>(std::move(ptr)));
        } else {
          dialing_ = false;
          delayed_send(this, conf_.heartbeat, dial_atom::value);
        }
      },
      [this](caf::error&) {
        dialing_ = false;
        delayed_send(this, conf_.heartbeat, dial_atom::value);
      });
}

void outbound_link::on_connected(caf::actor remote) {
  dialing_ = false;
  if (remote_)
    demonitor(remote_);
  remote_ = std::move(remote);
  ready_ = false;
  monitor(remote_);
  last_heard_ = clock_type::now();
  send(remote_, link_hello_atom::value, conf_.self, conf_.incarnation, session_, conf_.endpoint);
}

void outbound_link::on_disconnected(const std::string& why) {
  if (remote_)
    demonitor(remote_);
  remote_ = nullptr;
  ready_ = false;
  batch_.clear();
  if (!lost_reported_) {
    lost_reported_ = true;
    send(conf_.agent, peer_lost_atom::value, conf_.peer, why);
  }
  if (conf_.dialer)
    delayed_send(this, conf_.heartbeat, dial_atom::value);
}

void outbound_link::on_acked(uint64_t delivered) {
  last_heard_ = clock_type::now();
  if (delivered > acked_)
    acked_ = delivered;
  while (!unacked_.empty() && unacked_.front().link_seq <= acked_)
    unacked_.pop_front();
}

void outbound_link::beat() {
  delayed_send(this, conf_.heartbeat, beat_atom::value);
  if (!remote_)
    return;
  if (clock_type::now() - last_heard_ > conf_.member_timeout) {
    if (conf_.dialer) {
      on_disconnected("no answer for " + std::to_string(conf_.member_timeout.count()) + " ms");
      return;
    }
    // The side that does not dial cannot make a new connection: report the
    // peer lost, keep its endpoint (until CAF says the connection is gone)
    // and introduce ourselves again on every beat until it welcomes us.
    ready_ = false;
    batch_.clear();
    if (!lost_reported_) {
      lost_reported_ = true;
      send(conf_.agent, peer_lost_atom::value, conf_.peer,
           "no answer for " + std::to_string(conf_.member_timeout.count()) + " ms");
    }
    send(remote_, link_hello_atom::value, conf_.self, conf_.incarnation, session_,
         conf_.endpoint);
    return;
  }
  send(remote_, link_ping_atom::value, conf_.self, conf_.incarnation);
}

caf::behavior outbound_link::make_behavior() {
  set_default_handler(caf::drop);
  set_down_handler([this](caf::down_msg& dm) {
    if (remote_ && dm.source == remote_.address())
      on_disconnected("connection lost: " + system().render(dm.reason));
  });
  send(this, dial_atom::value);
  delayed_send(this, conf_.heartbeat, beat_atom::value);
  return {
    [this](dial_atom) { dial(); },
    [this](peer_endpoint_atom, caf::actor& remote) {
      // The dialing peer's endpoint, from its hello over its connection.
      if (!conf_.dialer && remote && remote != remote_)
        on_connected(std::move(remote));
    },
    [this](link_welcome_atom, const std::string&, uint64_t, uint64_t delivered) {
      if (!remote_)
        return;
      on_acked(delivered);
      ready_ = true;
      lost_reported_ = false;
      // Everything the peer has not seen, in order, then whatever follows.
      batch_.clear();
      wire_batch resend;
      for (auto& env : unacked_) {
        resend.push_back(env);
        if (resend.size() >= max_batch) {
          send(remote_, link_data_atom::value, conf_.self, conf_.incarnation, std::move(resend));
          resend.clear();
        }
      }
      if (!resend.empty())
        send(remote_, link_data_atom::value, conf_.self, conf_.incarnation, std::move(resend));
      send(conf_.agent, peer_up_atom::value, conf_.peer);
    },
    [this](link_ack_atom, const std::string&, uint64_t, uint64_t delivered) {
      on_acked(delivered);
    },
    [this](flush_atom) {
      flush_queued_ = false;
      flush();
    },
    [this](beat_atom) { beat(); },
    [this](marker_atom, uint64_t epoch) {
      // Every envelope stamped before `epoch` is in the stream by now (the
      // agent asks only once every component has cut): count them.
      for (auto i = by_epoch_.begin(); i != by_epoch_.end() && i->first < epoch;) {
        folded_ += i->second;
        i = by_epoch_.erase(i);
      }
      wire_envelope env;
      env.kind = wire_envelope::marker;
      env.epoch = epoch;
      env.count = folded_;
      push(std::move(env));
    },
    [this](control_atom atm, std::string& from, uint8_t kind, uint64_t inc, uint64_t epoch,
           std::string& text, std::string& blob) {
      // Control is not sequenced: when the peer is unreachable it is lost,
      // and the protocol's timeouts and repeats take care of it.
      if (remote_)
        send(remote_, atm, std::move(from), kind, inc, epoch, std::move(text), std::move(blob));
    },
  };
}

caf::actor spawn_outbound_link(caf::actor_system& sys, link_config conf) {
  return sys.spawn<outbound_link>(std::move(conf));
}

} // namespace amber::cluster
