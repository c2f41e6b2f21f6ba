#include "coordinator.hpp"

#include <array>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <mutex>

#include <caf/event_based_actor.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>
#include <caf/stateful_actor.hpp>

#include "amber/checkpoint/snapshot.hpp"
#include "amber/runtime/atoms.hpp"
#include "amber/runtime/error.hpp"
#include "capture.hpp"
#include "cluster/wire.hpp"

namespace amber {

using cluster::cluster_abort_atom;
using cluster::cluster_setup_atom;
using cluster::open_epoch_atom;
using cluster::round_done_atom;

namespace {

using clock_type = std::chrono::steady_clock;

// One checkpoint in progress: the five answers as they arrive.
struct round {
  std::shared_ptr<capture_context> ctx;
  std::optional<digest> parent;        ///< The snapshot this node descends from.
  std::optional<digest> expected_head; ///< Where the head must be to move it.
  std::array<capture_result_ptr, layer_count> results;
  size_t pending = layer_count;
  bool done = false;
  clock_type::time_point start = clock_type::now();
  /// Who asked; empty for a periodic checkpoint.
  std::function<void(const result<checkpoint_report>&)> reply;
  int retries_left = 2; ///< For a spoiled cut (see node_core::spoil).
  bool cluster = false;  ///< Opened for a cluster cut (no retries: the cluster moves on).
  bool if_changed = false; ///< Commit nothing when the cut equals its parent.
  bool diagnosing = false; ///< Timed out: asking which components stall it.
};

struct coordinator_state {
  static inline const char* name = "amber.coordinator";
  std::array<caf::actor, layer_count> captures;
  bool busy = false;
  /// A cluster member: cuts open at the cluster's epochs, and their
  /// outcome goes to the member's agent.
  caf::actor agent;
  std::vector<std::string> peers;
  uint64_t cluster_epoch = 0; ///< The latest cluster cut opened.
};

using coordinator_actor = caf::stateful_actor<coordinator_state>;

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// Builds the manifest and commits it with every new blob and the head move.
result<digest> commit(node& n, store& s, const round& r) {
  manifest m;
  m.node.name = n.name();
  m.node.peer_id = n.config().peer_id;
  m.node.incarnation = n.incarnation();
  m.node.runtime_version = runtime_version();
  m.node.registry_fingerprint = n.types().fingerprint();
  m.created_at_ms = now_ms();
  if (r.parent)
    m.parents.push_back(*r.parent);
  snapshot_commit c;
  for (size_t i = 0; i < layer_count; ++i) {
    auto& res = *r.results[i];
    m.layers[i] = res.descriptor;
    c.references.insert(c.references.end(), res.references.begin(), res.references.end());
    // Moved, not copied: a full checkpoint of large states is mostly these.
    for (auto& b : res.blobs)
      c.blobs.push_back(std::move(b));
    res.blobs.clear();
  }
  c.manifest = encode_manifest(m);
  c.ref = head_ref(n.name());
  // The head must still be where this node left it (or absent for a node
  // that never committed): a second live writer of the same node gets
  // `conflict` instead of moving the head off the other's lineage.
  c.expected_head = r.expected_head;
  // Blobs, layer indexes, manifest and head: one durable transaction.
  auto committed = s.commit_snapshot(c);
  if (!committed) {
    if (committed.error().code() == errc::conflict)
      return status(errc::conflict,
                    "node '" + n.name() + "': its head ref was moved by another writer (it "
                      + (r.expected_head ? "was at " + r.expected_head->short_hex()
                                         : std::string("did not exist"))
                      + " when this node claimed it); is a second process running this "
                        "node? Nothing was committed");
    return committed.error();
  }
  n.set_last_snapshot(*committed);
  n.set_expected_head(*committed);
  return committed;
}

// True when the cut of `r` is its parent snapshot over again: the same node,
// incarnation, runtime and registry, and every layer's index blob the same —
// so the same states, members, graphs, timers, requests, effects and
// messages in flight. A parent taken by an earlier incarnation never
// matches (a restored node's first checkpoint records its incarnation).
bool same_as_parent(node& n, store& s, const round& r) {
  if (!r.parent)
    return false;
  std::string bytes;
  if (!s.get_manifest(*r.parent, &bytes))
    return false; // Unreadable or collected: commit, and let verify say why.
  auto m = decode_manifest(bytes);
  if (!m || m->node.name != n.name() || m->node.incarnation != n.incarnation()
      || m->node.peer_id != n.config().peer_id || m->node.runtime_version != runtime_version()
      || m->node.registry_fingerprint != n.types().fingerprint())
    return false;
  for (size_t i = 0; i < layer_count; ++i) {
    auto& now = r.results[i]->descriptor;
    auto& then = m->layers[i];
    if (now.index != then.index || now.media_type != then.media_type)
      return false;
  }
  return true;
}

class coordinator_logic {
public:
  coordinator_logic(coordinator_actor* self, node* n, std::shared_ptr<store> s,
                    checkpoint_options opts)
    : self_(self), node_(n), store_(std::move(s)), opts_(std::move(opts)) {}

  /// Starts a checkpoint; `reply` hears how it ended (also on refusal).
  void begin(std::function<void(const result<checkpoint_report>&)> reply, int retries = 2,
             uint64_t cluster_epoch = 0, bool if_changed = false) {
    auto& st = self_->state;
    if (st.agent && cluster_epoch == 0) {
      reply(status(errc::invalid_argument,
                   "node '" + node_->name() + "' is a member of a cluster: its checkpoints are "
                   "cluster checkpoints (ask the cluster, e.g. amber checkpoint --control)"));
      return;
    }
    if (st.busy) {
      reply(status(errc::busy, "a checkpoint of node '" + node_->name() + "' is already running"));
      return;
    }
    auto r = std::make_shared<round>();
    r->reply = std::move(reply);
    r->retries_left = retries;
    r->if_changed = if_changed && cluster_epoch == 0;
    r->parent = node_->last_snapshot();
    auto claim = node_->expected_head();
    if (!claim.known) {
      // First checkpoint of a fresh node: claim the head as it is now.
      auto head = store_->get_ref(head_ref(node_->name()));
      if (head) {
        claim.head = *head;
      } else if (!head.error().is_not_found()) {
        r->reply(head.error());
        return;
      }
      node_->set_expected_head(claim.head);
    }
    r->expected_head = claim.head;
    r->ctx = std::make_shared<capture_context>();
    r->ctx->source = node_;
    r->ctx->sink = store_;
    // Epochs are the node's: components keep theirs from cuts of an
    // earlier checkpointer on the same node.
    r->ctx->start = node_->core().begin_cut(cluster_epoch);
    if (cluster_epoch != 0) {
      r->cluster = true;
      r->ctx->remote_members = st.peers;
      r->ctx->on_all_reported = st.agent;
    }
    st.busy = true;
    current_ = r;
    capture_context_ptr ctx = r->ctx;
    for (size_t i = 0; i < layer_count; ++i) {
      auto kind = static_cast<layer_kind>(i);
      if (kind == layer_kind::model || kind == layer_kind::effects)
        continue; // Asked once the cache capture knows the final members.
      ask(r, kind, caf::make_message(capture_atom::value, ctx));
    }
    auto epoch = ctx->epoch();
    for (auto& e : ctx->start.members)
      self_->send(e->handle, cut_atom::value, epoch);
  }

  /// A cluster cut: opens epoch `epoch` unless it (or a later one) is open
  /// already; a running earlier one is aborted (the cluster moved on). The
  /// agent hears (round_done, epoch, ok, snapshot id or why).
  void begin_cluster(uint64_t epoch) {
    auto& st = self_->state;
    if (!st.agent || epoch <= st.cluster_epoch)
      return;
    st.cluster_epoch = epoch;
    if (st.busy && current_) {
      auto running = current_; // end() resets current_: keep the round alive through it.
      end(running, status(errc::aborted, "cut " + std::to_string(running->ctx->epoch())
                                           + " was superseded by cut " + std::to_string(epoch)));
    }
    auto agent = st.agent;
    auto self = self_;
    begin(
      [self, agent, epoch](const result<checkpoint_report>& r) {
        if (r)
          self->send(agent, round_done_atom::value, epoch, true, r->id.to_hex());
        else
          self->send(agent, round_done_atom::value, epoch, false, r.error().to_string());
      },
      0, epoch);
  }

  /// The cluster aborted `epoch`: drop its cut if it is still running.
  void abort_cluster(uint64_t epoch) {
    if (self_->state.busy && current_ && current_->cluster && current_->ctx->epoch() <= epoch) {
      auto running = current_; // end() resets current_: keep the round alive through it.
      end(running, status(errc::aborted, "the cluster aborted cut " + std::to_string(epoch)));
    }
  }

  void tick() {
    node_->core().effects().retry(); // Deliveries and commits that failed before.
    if (!self_->state.busy)
      begin([](const result<checkpoint_report>&) {}, 2, 0, /*if_changed=*/true);
    self_->delayed_send(self_, opts_.interval, tick_atom::value);
  }

private:
  void ask(const std::shared_ptr<round>& r, layer_kind kind, caf::message msg) {
    auto i = static_cast<size_t>(kind);
    auto budget = opts_.timeout - std::chrono::duration_cast<std::chrono::milliseconds>(
                                    clock_type::now() - r->start);
    if (budget.count() < 1)
      budget = std::chrono::milliseconds(1);
    self_->request(self_->state.captures[i], budget, std::move(msg))
      .then([this, r, i](capture_result_ptr& res) { on_layer(r, i, std::move(res)); },
            [this, r, kind](caf::error& err) {
              if (r->done || r->diagnosing)
                return;
              auto why = from_caf_error(self_->system(), err);
              auto context = std::string("capturing the ") + to_string(kind) + " layer";
              if (why.code() != errc::timeout) {
                end(r, why.with_context(context));
                return;
              }
              if (kind == layer_kind::effects) {
                auto busy = node_->core().effects().busy();
                end(r, status(errc::timeout, "the effect sinks did not prepare the cut's "
                                             "transactions within "
                                               + std::to_string(opts_.timeout.count()) + " ms"
                                               + (busy.empty() ? "" : " (" + busy + ")")
                                               + "; nothing was committed")
                         .with_context(context));
                return;
              }
              why = status(errc::timeout, "the cut of node '" + node_->name()
                                            + "' did not complete within "
                                            + std::to_string(opts_.timeout.count())
                                            + " ms; nothing was committed");
              // Name who holds the cut up: the trace capture's ledger knows.
              r->diagnosing = true;
              self_->request(self_->state.captures[static_cast<size_t>(layer_kind::trace)],
                             std::chrono::seconds(2), stalled_atom::value, r->ctx->epoch())
                .then(
                  [this, r, why, context](std::string& who) {
                    auto st = who.empty() ? why : status(why.code(), why.message() + ": " + who);
                    end(r, st.with_context(context));
                  },
                  [this, r, why, context](caf::error&) { end(r, why.with_context(context)); });
            });
  }

  void on_layer(const std::shared_ptr<round>& r, size_t i, capture_result_ptr res) {
    if (r->done)
      return;
    r->results[i] = res;
    if (i == static_cast<size_t>(layer_kind::cache)) {
      ask(r, layer_kind::model, caf::make_message(capture_atom::value,
                                                  capture_context_ptr{r->ctx}, res));
      // Every member has cut: the ledger holds every effect before the cut.
      ask(r, layer_kind::effects, caf::make_message(capture_atom::value,
                                                    capture_context_ptr{r->ctx}, res));
    }
    if (--r->pending > 0)
      return;
    auto captured = clock_type::now();
    if (node_->core().spoiled() >= r->ctx->epoch()) {
      if (r->cluster)
        r->retries_left = 0; // The cluster takes its next epoch instead.
      auto why = status(errc::aborted,
                        "cut " + std::to_string(r->ctx->epoch()) + " of node '" + node_->name()
                          + "' was spoiled: a handler running when it opened sent a message "
                            "to a component born after it; nothing was committed");
      if (r->retries_left > 0) {
        // Rare (it takes a spawn and a send inside one handler's run while
        // the cut opens): take the next cut instead, for the same caller.
        auto reply = r->reply;
        auto retries = r->retries_left - 1;
        auto if_changed = r->if_changed;
        end(r, why, /*tell=*/false);
        begin(std::move(reply), retries, 0, if_changed);
        return;
      }
      end(r, why);
      return;
    }
    auto& cache = *r->results[static_cast<size_t>(layer_kind::cache)];
    if (r->if_changed && same_as_parent(*node_, *store_, *r)) {
      // Nothing to commit: every blob of this cut is the parent's already.
      checkpoint_report rep;
      rep.id = *r->parent;
      rep.unchanged = true;
      rep.components = cache.components;
      rep.reused = cache.reused;
      rep.duration = std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now()
                                                                           - r->start);
      rep.capture = rep.duration;
      // The parent lists all this cut does: let the ledger forget the cut
      // (an idle node would otherwise keep one record per tick).
      node_->core().effects().committed(r->ctx->epoch());
      end(r, rep);
      return;
    }
    auto id = commit(*node_, *store_, *r);
    if (!id) {
      end(r, id.error());
      return;
    }
    // The snapshot holds the handlers that issued its effects: perform
    // them now, on the sinks' threads (a failure leaves them pending,
    // retried next time; the node's effect_stats() names it). A cluster
    // member waits for the cluster snapshot instead (the agent says).
    if (!r->cluster)
      node_->core().effects().committed(r->ctx->epoch());
#ifdef __GLIBC__
    // A large cut frees a lot of small objects on many threads; glibc keeps
    // them in per-thread arenas, so without this the node's RSS would grow
    // by a fraction of the cut with each checkpoint (its heap in use does not).
    if (cache.components >= 10000)
      malloc_trim(0);
#endif
    checkpoint_report rep;
    rep.id = *id;
    using us = std::chrono::microseconds;
    auto now = clock_type::now();
    rep.duration = std::chrono::duration_cast<us>(now - r->start);
    rep.capture = std::chrono::duration_cast<us>(captured - r->start);
    rep.commit = std::chrono::duration_cast<us>(now - captured);
    rep.components = cache.components;
    rep.reused = cache.reused;
    rep.in_flight = r->results[static_cast<size_t>(layer_kind::trace)]->in_flight;
    end(r, rep);
  }

  void end(const std::shared_ptr<round>& r, const result<checkpoint_report>& outcome,
           bool tell = true) {
    if (r->done)
      return;
    r->done = true;
    self_->state.busy = false;
    if (current_ == r)
      current_.reset();
    if (!outcome) {
      // Drop the aborted cut's stragglers, and make every component
      // serialize in full next time: its reused blob may not be committed.
      for (auto& cap : self_->state.captures)
        self_->send(cap, abort_atom::value, r->ctx->epoch());
      // The ledger hears it now, not when the effects capture gets to its
      // message: once the caller knows the checkpoint failed, the cut's
      // transactions are being aborted (abort_cut is idempotent).
      node_->core().effects().abort_cut(r->ctx->epoch());
      node_->core().bump_generation();
    }
    if (!tell)
      return;
    if (opts_.on_checkpoint)
      opts_.on_checkpoint(outcome);
    r->reply(outcome);
  }

  coordinator_actor* self_;
  std::shared_ptr<round> current_; ///< The running checkpoint, if any.
  node* node_;
  std::shared_ptr<store> store_;
  checkpoint_options opts_;
};

caf::behavior coordinator(coordinator_actor* self, node* n, std::shared_ptr<store> s,
                          checkpoint_options opts) {
  self->set_default_handler(caf::drop); // Never CAF's print to stdout.
  for (size_t i = 0; i < layer_count; ++i) {
    self->state.captures[i] = spawn_capture(self->system(), static_cast<layer_kind>(i));
    self->link_to(self->state.captures[i]);
  }
  n->core().set_sinks({self->state.captures[static_cast<size_t>(layer_kind::cache)],
                       self->state.captures[static_cast<size_t>(layer_kind::trace)]});
  auto logic = std::make_shared<coordinator_logic>(self, n, std::move(s), opts);
  if (opts.interval.count() > 0)
    self->delayed_send(self, opts.interval, tick_atom::value);
  return {
    [self, logic](checkpoint_atom) -> caf::result<std::string> {
      auto rp = self->make_response_promise<std::string>();
      logic->begin([rp](const result<checkpoint_report>& r) mutable {
        if (r)
          rp.deliver(r->id.to_hex());
        else
          rp.deliver(to_caf_error(r.error()));
      });
      return rp;
    },
    [self, logic](checkpoint_atom, report_atom, bool if_changed)
      -> caf::result<checkpoint_report_ptr> {
      auto rp = self->make_response_promise<checkpoint_report_ptr>();
      logic->begin(
        [rp](const result<checkpoint_report>& r) mutable {
          if (r)
            rp.deliver(std::make_shared<const checkpoint_report>(*r));
          else
            rp.deliver(to_caf_error(r.error()));
        },
        2, 0, if_changed);
      return rp;
    },
    [logic](tick_atom) { logic->tick(); },
    [self](cluster_setup_atom, caf::actor& agent, std::vector<std::string>& peers) {
      self->state.agent = std::move(agent);
      self->state.peers = std::move(peers);
    },
    [logic](open_epoch_atom, uint64_t epoch) { logic->begin_cluster(epoch); },
    [logic](cluster_abort_atom, uint64_t epoch) { logic->abort_cluster(epoch); },
  };
}

} // namespace

caf::actor spawn_coordinator(node& n, std::shared_ptr<store> s, checkpoint_options opts) {
  // Detached, as CAF does with its own utility actors, except on CAF's
  // deterministic test_coordinator (scheduler.policy = testing), which
  // detaches no utility actor: there a thread of its own would race the
  // test's single-threaded job queue, and tests step the coordinator
  // together with the components.
  if (!n.system().scheduler().detaches_utility_actors())
    return n.system().spawn(coordinator, &n, std::move(s), std::move(opts));
  return n.system().spawn<caf::detached>(coordinator, &n, std::move(s), std::move(opts));
}

} // namespace amber
