#include "agent.hpp"

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <set>

#include <caf/stateful_actor.hpp>

#include "amber/checkpoint/cluster_manifest.hpp"
#include "amber/runtime/atoms.hpp"
#include "amber/runtime/error.hpp"
#include "../capture.hpp"
#include "wire.hpp"

namespace amber::cluster {

namespace {

using clock_type = std::chrono::steady_clock;
using round_timeout_atom = caf::atom_constant<caf::atom("g_rtimeo")>;
using tick_atom = caf::atom_constant<caf::atom("g_tick")>;
using release_tick_atom = caf::atom_constant<caf::atom("g_reltick")>;
using ask_timeout_atom = caf::atom_constant<caf::atom("g_asktime")>;
using prepare_again_atom = caf::atom_constant<caf::atom("g_prepagn")>;
using hello_tick_atom = caf::atom_constant<caf::atom("g_hellot")>;

struct hello_info {
  uint64_t incarnation = 0;
  std::string phase; ///< "running" or "held".
  std::string head;  ///< The peer's cluster head manifest (may be empty).
};

/// A cluster checkpoint the leader runs.
struct leader_round {
  uint64_t epoch = 0;
  std::map<std::string, std::pair<digest, uint64_t>> prepared;
  std::vector<std::function<void(const result<digest>&)>> waiting;
  bool done = false;
};

struct agent_state {
  static inline const char* name = "amber.cluster_agent";
  std::map<std::string, caf::actor> links;
  std::set<std::string> up;                 ///< Peers whose link is welcomed.
  std::map<std::string, hello_info> hellos; ///< The latest hello of each peer.
  // Member side.
  std::map<uint64_t, std::string> prepares;                 ///< Epoch -> leader.
  std::map<uint64_t, std::pair<bool, std::string>> done;    ///< Epoch -> outcome.
  // Leader side.
  std::shared_ptr<leader_round> round;
  uint64_t last_epoch = 0;
  uint64_t next_ask = 1;
  std::map<uint64_t, caf::typed_response_promise<std::string>> asks;
  bool rollback_started = false;
  bool was_ready = false;
};

using agent_actor = caf::stateful_actor<agent_state>;

// Test hook: AMBER_TEST_CLUSTER_CRASH=<member>:<step> kills this process
// (SIGKILL, no cleanup) when `member` reaches `step` of a cluster checkpoint.
void crash_point(const agent_config& conf, const char* step) {
  const char* spec = std::getenv("AMBER_TEST_CLUSTER_CRASH");
  if (spec == nullptr)
    return;
  if (std::string(spec) == conf.self + ":" + step)
    ::raise(SIGKILL);
}

std::string head_bytes(store& db, const std::string& cluster) {
  auto head = db.get_ref(cluster_head_ref(cluster));
  if (!head)
    return {};
  std::string bytes;
  if (!db.get_manifest(*head, &bytes).is_ok())
    return {};
  return bytes;
}

// Orders cluster manifests: (incarnation, epoch); an empty one is oldest.
std::pair<uint64_t, uint64_t> order_of(const std::string& bytes) {
  if (bytes.empty())
    return {0, 0};
  auto m = decode_cluster_manifest(bytes);
  if (!m)
    return {0, 0};
  return {m->incarnation, m->epoch + 1};
}

bool debug() {
  static const bool on = std::getenv("AMBER_CLUSTER_DEBUG") != nullptr;
  return on;
}

class agent_logic {
public:
  agent_logic(agent_actor* self, agent_config conf) : self_(self), conf_(std::move(conf)) {}

  const agent_config& conf() const { return conf_; }
  bool is_leader() const { return conf_.spec->members.front().name == conf_.self; }
  bool held() const { return conf_.held; }

  // -- sending ----------------------------------------------------------------------

  void control(const std::string& to, control_kind kind, uint64_t epoch, std::string text = {},
               std::string blob = {}) {
    auto msg = caf::make_message(control_atom::value, conf_.self, static_cast<uint8_t>(kind),
                                 conf_.incarnation, epoch, std::move(text), std::move(blob));
    if (to == conf_.self) {
      self_->send(self_, std::move(msg));
      return;
    }
    auto i = self_->state.links.find(to);
    if (i != self_->state.links.end())
      self_->send(i->second, std::move(msg));
  }

  void control_all(control_kind kind, uint64_t epoch, const std::string& text = {},
                   const std::string& blob = {}) {
    for (auto& m : conf_.spec->members)
      control(m.name, kind, epoch, text, blob);
  }

  /// "running", or "held:<id>" naming the cluster snapshot this member was
  /// restored from: a rollback leader releases only members held at its
  /// own target (two rollbacks at once must not release a mixed cluster).
  std::string phase() const {
    return conf_.held ? "held:" + conf_.restored_from : std::string("running");
  }

  void hello(const std::string& to) {
    control(to, control_kind::hello, 0, phase(), head_bytes(*conf_.db, conf_.spec->name));
  }

  bool all_up() const {
    for (auto& m : conf_.spec->members)
      if (m.name != conf_.self && self_->state.up.count(m.name) == 0)
        return false;
    return true;
  }

  /// Every peer said hello at our incarnation, in `phase`.
  bool all_at(const std::string& phase) const {
    for (auto& m : conf_.spec->members) {
      if (m.name == conf_.self)
        continue;
      auto i = self_->state.hellos.find(m.name);
      if (i == self_->state.hellos.end() || i->second.incarnation != conf_.incarnation
          || i->second.phase != phase || self_->state.up.count(m.name) == 0)
        return false;
    }
    return true;
  }

  void check_ready() {
    bool ready = !conf_.held && all_up() && all_at("running");
    if (ready != self_->state.was_ready) {
      self_->state.was_ready = ready;
      if (conf_.on_ready)
        conf_.on_ready(ready);
    }
  }

  // -- the leader's round -------------------------------------------------------------

  void ask_checkpoint(std::function<void(const result<digest>&)> reply) {
    if (!is_leader()) {
      reply(status(errc::invalid_argument, "only the leader runs cluster checkpoints"));
      return;
    }
    auto& st = self_->state;
    if (st.round && !st.round->done) {
      st.round->waiting.push_back(std::move(reply)); // Joins the running one.
      return;
    }
    if (conf_.held) {
      reply(status(errc::busy, "member '" + conf_.self + "' is held by a rollback"));
      return;
    }
    for (auto& m : conf_.spec->members)
      if (m.name != conf_.self && (st.up.count(m.name) == 0 || !all_at("running"))) {
        reply(status(errc::busy, "cluster '" + conf_.spec->name + "': member '" + m.name
                                   + "' is not linked and running at incarnation "
                                   + std::to_string(conf_.incarnation)
                                   + "; nothing was committed"));
        return;
      }
    auto r = std::make_shared<leader_round>();
    r->epoch = std::max(st.last_epoch, conf_.n->core().current_epoch()) + 1;
    st.last_epoch = r->epoch;
    r->waiting.push_back(std::move(reply));
    st.round = r;
    control_all(control_kind::prepare, r->epoch);
    self_->delayed_send(self_, conf_.spec->checkpoint_timeout, round_timeout_atom::value,
                        r->epoch);
    self_->delayed_send(self_, resend_after(), prepare_again_atom::value, r->epoch);
  }

  std::chrono::milliseconds resend_after() const {
    return std::max(std::chrono::milliseconds(50), conf_.spec->heartbeat * 2);
  }

  /// Control messages are not sequenced (a reconnect may lose one): ask
  /// again whoever has not answered; a member answers a prepare of an epoch
  /// it has finished from its record.
  void prepare_again(uint64_t epoch) {
    auto r = self_->state.round;
    if (!r || r->done || r->epoch != epoch)
      return;
    for (auto& m : conf_.spec->members)
      if (r->prepared.count(m.name) == 0)
        control(m.name, control_kind::prepare, epoch);
    self_->delayed_send(self_, resend_after(), prepare_again_atom::value, epoch);
  }

  void abort_round(const std::string& why) {
    auto r = self_->state.round;
    if (!r || r->done)
      return;
    r->done = true;
    control_all(control_kind::abort, r->epoch);
    status err(errc::aborted, "cluster checkpoint " + std::to_string(r->epoch) + " of '"
                                + conf_.spec->name + "' aborted: " + why
                                + "; nothing was committed");
    for (auto& w : r->waiting)
      w(err);
  }

  void on_prepared(const std::string& from, uint64_t epoch, const std::string& id_hex,
                   const std::string& inc_text) {
    auto r = self_->state.round;
    if (!r || r->done || r->epoch != epoch)
      return; // Late: that epoch is over.
    auto id = digest::from_hex(id_hex);
    if (!id) {
      abort_round("member '" + from + "' answered with a bad snapshot id");
      return;
    }
    auto member_inc = std::strtoull(inc_text.c_str(), nullptr, 10);
    if (member_inc != conf_.incarnation)
      return; // A snapshot of another incarnation: not part of this cut.
    r->prepared[from] = {*id, member_inc};
    if (r->prepared.size() < conf_.spec->members.size())
      return;
    commit_round(*r);
  }

  void commit_round(leader_round& r) {
    cluster_manifest m;
    m.cluster = conf_.spec->name;
    m.incarnation = conf_.incarnation;
    m.epoch = r.epoch;
    for (auto& [name, p] : r.prepared)
      m.members.push_back({name, p.first, p.second});
    m.created_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
    if (auto head = conf_.db->get_ref(cluster_head_ref(m.cluster)))
      m.parents.push_back(*head);
    auto bytes = encode_cluster_manifest(m);
    // The commit point: the cluster manifest in the leader's store.
    auto adopted = adopt_cluster_manifest(*conf_.db, bytes);
    if (!adopted) {
      abort_round("the leader could not store the cluster manifest: "
                  + adopted.error().to_string());
      return;
    }
    crash_point(conf_, "after_manifest");
    r.done = true;
    effects_committed(m);
    for (auto& mem : conf_.spec->members)
      if (mem.name != conf_.self)
        control(mem.name, control_kind::commit, r.epoch, {}, bytes);
    for (auto& w : r.waiting)
      w(adopted->first);
  }

  // -- a member's part ----------------------------------------------------------------

  void on_prepare(const std::string& leader, uint64_t inc, uint64_t epoch) {
    if (inc != conf_.incarnation || conf_.held) {
      control(leader, control_kind::declined, epoch,
              "member '" + conf_.self + "' is at incarnation "
                + std::to_string(conf_.incarnation) + (conf_.held ? ", held" : ""));
      return;
    }
    crash_point(conf_, "before_prepare");
    auto& st = self_->state;
    if (auto d = st.done.find(epoch); d != st.done.end()) {
      answer(leader, epoch, d->second.first, d->second.second);
      return;
    }
    st.prepares[epoch] = leader;
    self_->send(conf_.coordinator, open_epoch_atom::value, epoch);
  }

  void on_round_done(uint64_t epoch, bool ok, const std::string& text) {
    auto& st = self_->state;
    st.done[epoch] = {ok, text};
    while (st.done.size() > 16)
      st.done.erase(st.done.begin());
    auto i = st.prepares.find(epoch);
    if (i == st.prepares.end()) {
      // Opened by a message or marker, and the prepare is late or was lost
      // with a connection: answer the leader now (it ignores a stale answer).
      answer(conf_.spec->members.front().name, epoch, ok, text);
      return;
    }
    auto leader = i->second;
    st.prepares.erase(st.prepares.begin(), std::next(i));
    answer(leader, epoch, ok, text);
  }

  void answer(const std::string& leader, uint64_t epoch, bool ok, const std::string& text) {
    if (ok) {
      control(leader, control_kind::prepared, epoch, text, std::to_string(conf_.incarnation));
      crash_point(conf_, "after_prepare");
    } else {
      control(leader, control_kind::declined, epoch,
              "member '" + conf_.self + "': " + text);
    }
  }

  void on_all_reported(uint64_t epoch) {
    for (auto& [peer, link] : self_->state.links)
      self_->send(link, marker_atom::value, epoch);
  }

  void adopt(const std::string& bytes) {
    if (bytes.empty())
      return;
    auto m = decode_cluster_manifest(bytes);
    if (!m || m->cluster != conf_.spec->name || !m->find(conf_.self))
      return;
    // Only if our part of it is in our store (it is, unless the store was
    // replaced): a head must name something this member can restore.
    std::string ignored;
    if (!conf_.db->get_manifest(m->find(conf_.self)->snapshot, &ignored).is_ok())
      return;
    (void) adopt_cluster_manifest(*conf_.db, bytes);
    effects_committed(*m);
  }

  // Effects wait for the cluster snapshot, not the member's own: perform
  // those of our part of `m` once it committed (again is harmless).
  void effects_committed(const cluster_manifest& m) {
    auto* part = m.find(conf_.self);
    if (part && part->incarnation == conf_.incarnation && conf_.n)
      conf_.n->core().effects().committed(m.epoch);
  }

  // -- rollback ---------------------------------------------------------------------

  status start_rollback(std::optional<digest> target) {
    auto& st = self_->state;
    if (!all_up())
      return status(errc::busy, "cannot roll cluster '" + conf_.spec->name
                                  + "' back: not every member is linked yet");
    std::string chosen;
    if (target) {
      if (!conf_.db->get_manifest(*target, &chosen).is_ok())
        return status::not_found("cluster snapshot " + target->short_hex() + " is not in "
                                 + conf_.self + "'s store");
    } else {
      chosen = head_bytes(*conf_.db, conf_.spec->name);
      for (auto& [peer, h] : st.hellos)
        if (order_of(h.head) > order_of(chosen))
          chosen = h.head;
    }
    auto m = decode_cluster_manifest(chosen);
    if (chosen.empty() || !m)
      return status::not_found("cluster '" + conf_.spec->name
                               + "' has no committed cluster snapshot to roll back to");
    // A member back from its store runs provisionally and does not count.
    uint64_t inc = conf_.start_rollback ? 0 : conf_.incarnation;
    for (auto& [peer, h] : st.hellos)
      inc = std::max(inc, h.incarnation);
    for (auto& mem : m->members)
      inc = std::max(inc, mem.incarnation);
    ++inc;
    if (target) {
      // Back to an older snapshot: it becomes the head, as a new cluster
      // snapshot at the new incarnation naming the same member snapshots
      // (its parent: the target). Heads only move forward, so without it a
      // member restarting later would roll the cluster forward again.
      auto again = *m;
      again.incarnation = inc;
      again.epoch = 0;
      again.parents = {*target};
      again.created_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
      chosen = encode_cluster_manifest(again);
      auto adopted = adopt_cluster_manifest(*conf_.db, chosen);
      if (!adopted)
        return adopted.error().with_context("rolling cluster '" + conf_.spec->name + "' back");
    }
    st.rollback_started = true;
    for (auto& mem : conf_.spec->members)
      if (mem.name != conf_.self)
        control(mem.name, control_kind::rollback, inc, {}, chosen); // epoch field: the new incarnation
    // Our own last: it replaces this agent.
    conf_.on_rollback({chosen, inc, true});
    return status::ok();
  }

  void on_rollback(uint64_t inc, const std::string& bytes) {
    if (inc <= conf_.incarnation)
      return; // Done already (or an older order).
    conf_.on_rollback({bytes, inc, false});
  }

  void release_tick() {
    if (!conf_.lead_rollback)
      return;
    // A member still at an older incarnation missed the order: say it again.
    for (auto& m : conf_.spec->members) {
      auto h = self_->state.hellos.find(m.name);
      if (m.name != conf_.self && h != self_->state.hellos.end()
          && h->second.incarnation < conf_.incarnation && !conf_.rollback_manifest.empty())
        control(m.name, control_kind::rollback, conf_.incarnation, {}, conf_.rollback_manifest);
    }
    if (conf_.held && all_at(phase())) {
      control_all(control_kind::release, 0);
    } else if (!conf_.held && all_at("running")) {
      return; // Everybody runs: the rollback is complete.
    } else if (!conf_.held) {
      // Some member missed the release: say it again.
      for (auto& m : conf_.spec->members) {
        auto h = self_->state.hellos.find(m.name);
        if (m.name != conf_.self && h != self_->state.hellos.end()
            && h->second.incarnation == conf_.incarnation
            && h->second.phase == "held:" + conf_.restored_from)
          control(m.name, control_kind::release, 0);
      }
    }
    self_->delayed_send(self_, std::chrono::milliseconds(100), release_tick_atom::value);
  }

  void on_release(uint64_t inc) {
    if (inc != conf_.incarnation || !conf_.held)
      return;
    conf_.held = false;
    for (auto& e : conf_.n->core().entries())
      caf::anon_send(e->handle, release_atom::value);
    for (auto& m : conf_.spec->members)
      if (m.name != conf_.self)
        hello(m.name);
    check_ready();
  }

private:
  agent_actor* self_;
  agent_config conf_;
};

caf::behavior agent(agent_actor* self, agent_config conf) {
  self->set_default_handler(caf::drop);
  auto logic = std::make_shared<agent_logic>(self, std::move(conf));
  if (logic->conf().lead_rollback)
    self->send(self, release_tick_atom::value);
  // Hellos again now and then: they carry the cluster head (a commit lost
  // with a connection reaches the member this way) and the phase.
  self->delayed_send(self, std::chrono::seconds(1), hello_tick_atom::value);
  if (logic->is_leader() && logic->conf().spec->checkpoint_every.count() > 0)
    self->delayed_send(self, logic->conf().spec->checkpoint_every, tick_atom::value);
  return {
    [self](links_atom, std::map<std::string, caf::actor>& links) {
      self->state.links = std::move(links);
    },
    [self, logic](peer_up_atom, const std::string& peer) {
      if (debug())
        fprintf(stderr, "[%s] peer up %s\n", logic->conf().self.c_str(), peer.c_str());
      self->state.up.insert(peer);
      logic->hello(peer);
      logic->check_ready();
    },
    [self, logic](peer_lost_atom, const std::string& peer, const std::string& why) {
      if (debug())
        fprintf(stderr, "[%s] peer lost %s: %s\n", logic->conf().self.c_str(), peer.c_str(),
                why.c_str());
      self->state.up.erase(peer);
      logic->abort_round("member '" + peer + "' was lost (" + why + ")");
      logic->check_ready();
    },
    [logic](all_reported_atom, uint64_t epoch) { logic->on_all_reported(epoch); },
    [logic](round_done_atom, uint64_t epoch, bool ok, const std::string& text) {
      logic->on_round_done(epoch, ok, text);
    },
    [self, logic](round_timeout_atom, uint64_t epoch) {
      auto r = self->state.round;
      if (!r || r->done || r->epoch != epoch)
        return; // The timer of a round that is over: it must not abort a later one.
      logic->abort_round("not every member prepared cut " + std::to_string(epoch) + " within "
                         + std::to_string(logic->conf().spec->checkpoint_timeout.count())
                         + " ms");
    },
    [logic](prepare_again_atom, uint64_t epoch) { logic->prepare_again(epoch); },
    [self, logic](hello_tick_atom) {
      self->delayed_send(self, std::chrono::seconds(1), hello_tick_atom::value);
      for (auto& peer : self->state.up)
        logic->hello(peer);
    },
    [self, logic](tick_atom) {
      self->delayed_send(self, logic->conf().spec->checkpoint_every, tick_atom::value);
      if (!self->state.round || self->state.round->done)
        logic->ask_checkpoint([](const result<digest>&) {});
    },
    [logic](release_tick_atom) { logic->release_tick(); },
    [self, logic](checkpoint_atom) -> caf::result<std::string> {
      auto rp = self->make_response_promise<std::string>();
      if (logic->is_leader()) {
        logic->ask_checkpoint([rp](const result<digest>& r) mutable {
          if (r)
            rp.deliver(r->to_hex());
          else
            rp.deliver(to_caf_error(r.error()));
        });
        return rp;
      }
      // Any member may be asked: the leader runs it.
      auto id = self->state.next_ask++;
      self->state.asks.emplace(id, rp);
      logic->control(logic->conf().spec->members.front().name, control_kind::ask, id);
      self->delayed_send(self, logic->conf().spec->checkpoint_timeout
                                 + std::chrono::milliseconds(2000),
                         ask_timeout_atom::value, id);
      return rp;
    },
    [self, logic](ask_timeout_atom, uint64_t id) {
      auto i = self->state.asks.find(id);
      if (i == self->state.asks.end())
        return;
      i->second.deliver(to_caf_error(
        status(errc::timeout, "the cluster's leader '"
                                + logic->conf().spec->members.front().name
                                + "' did not answer; is it running?")));
      self->state.asks.erase(i);
    },
    [self, logic](rollback_req_atom, const std::string& spec) -> caf::result<std::string> {
      std::optional<digest> target;
      if (!spec.empty()) {
        auto id = digest::from_hex(spec);
        if (!id)
          return to_caf_error(status::invalid_argument("'" + spec
                                                       + "' is not a cluster snapshot id"));
        target = *id;
      }
      auto st = logic->start_rollback(target);
      if (!st.is_ok())
        return to_caf_error(st);
      return std::string("ok");
    },
    [self, logic](control_atom, const std::string& from, uint8_t kind, uint64_t inc,
                  uint64_t epoch, std::string& text, std::string& blob) {
      auto& st = self->state;
      if (debug())
        fprintf(stderr, "[%s inc %llu%s] control %d from %s inc %llu epoch %llu\n",
                logic->conf().self.c_str(), (unsigned long long) logic->conf().incarnation,
                logic->held() ? " held" : "", int(kind), from.c_str(),
                (unsigned long long) inc, (unsigned long long) epoch);
      switch (static_cast<control_kind>(kind)) {
        case control_kind::hello: {
          st.hellos[from] = {inc, text, blob};
          logic->adopt(blob); // A commit we may have missed.
          logic->check_ready();
          if (logic->conf().start_rollback && !st.rollback_started && logic->all_up()) {
            bool all_heard = true;
            for (auto& m : logic->conf().spec->members)
              if (m.name != logic->conf().self && st.hellos.count(m.name) == 0)
                all_heard = false;
            if (all_heard) {
              auto s = logic->start_rollback(std::nullopt);
              if (!s.is_ok())
                fprintf(stderr, "amber: %s\n", s.to_string().c_str());
            }
          }
          break;
        }
        case control_kind::prepare:
          logic->on_prepare(from, inc, epoch);
          break;
        case control_kind::prepared:
          // Epochs restart with each incarnation: an answer from another
          // incarnation (late, over an old connection) is not about this round.
          if (inc == logic->conf().incarnation)
            logic->on_prepared(from, epoch, text, blob);
          break;
        case control_kind::declined: {
          auto r = st.round;
          if (r && !r->done && r->epoch == epoch && inc == logic->conf().incarnation)
            logic->abort_round(text);
          break;
        }
        case control_kind::commit:
          logic->adopt(blob);
          break;
        case control_kind::abort:
          if (inc == logic->conf().incarnation)
            self->send(logic->conf().coordinator, cluster_abort_atom::value, epoch);
          break;
        case control_kind::rollback:
          (void) inc;
          logic->on_rollback(epoch, blob);
          break;
        case control_kind::release:
          logic->on_release(inc);
          break;
        case control_kind::ask: {
          auto leader_reply = [self, logic, from, epoch](const result<digest>& r) {
            logic->control(from, control_kind::answer, epoch,
                           r ? r->to_hex() : r.error().to_string(), r ? "ok" : "error");
          };
          logic->ask_checkpoint(leader_reply);
          break;
        }
        case control_kind::answer: {
          auto i = st.asks.find(epoch);
          if (i == st.asks.end())
            break;
          if (blob == "ok")
            i->second.deliver(text);
          else
            i->second.deliver(to_caf_error(status(errc::aborted, text)));
          st.asks.erase(i);
          break;
        }
      }
    },
  };
}

} // namespace

caf::actor spawn_agent(caf::actor_system& sys, agent_config conf) {
  // Not detached: the agent answers remote requests (checkpoint, rollback),
  // and CAF's registry keeps an actor whose address went over the network
  // until the system is torn down; a detached one's thread waits for its
  // object to go, and ~actor_system waits for that thread: a rollback's
  // teardown hung. Its store writes (one small LMDB commit) are short.
  return sys.spawn(agent, std::move(conf));
}

} // namespace amber::cluster
