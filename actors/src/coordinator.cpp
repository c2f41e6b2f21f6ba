#include "coordinator.hpp"

#include <array>
#include <mutex>

#include <caf/stateful_actor.hpp>

#include "amber/checkpoint/snapshot.hpp"
#include "amber/runtime/atoms.hpp"
#include "amber/runtime/error.hpp"
#include "capture.hpp"

namespace amber {

namespace {

using clock_type = std::chrono::steady_clock;

// One checkpoint in progress: the five answers as they arrive.
struct round {
  std::shared_ptr<capture_context> ctx;
  std::optional<digest> expected_head;
  std::array<capture_result_ptr, layer_count> results;
  size_t pending = layer_count;
  bool done = false;
  clock_type::time_point start = clock_type::now();
  /// Who asked; empty for a periodic checkpoint.
  std::function<void(const result<checkpoint_report>&)> reply;
};

struct coordinator_state {
  static inline const char* name = "amber.coordinator";
  std::array<caf::actor, layer_count> captures;
  bool busy = false;
};

using coordinator_actor = caf::stateful_actor<coordinator_state>;

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// Builds and commits the manifest once all five layers are in.
result<digest> commit(node& n, store& s, const round& r) {
  manifest m;
  m.node.name = n.name();
  m.node.peer_id = n.config().peer_id;
  m.node.incarnation = n.incarnation();
  m.node.runtime_version = runtime_version();
  m.node.registry_fingerprint = n.types().fingerprint();
  m.created_at_ms = now_ms();
  if (auto parent = n.last_snapshot())
    m.parents.push_back(*parent);
  snapshot_commit c;
  for (size_t i = 0; i < layer_count; ++i) {
    m.layers[i] = r.results[i]->descriptor;
    auto& refs = r.results[i]->references;
    c.references.insert(c.references.end(), refs.begin(), refs.end());
  }
  c.manifest = encode_manifest(m);
  c.ref = head_ref(n.name());
  c.expected_head = r.expected_head;
  auto committed = s.commit_snapshot(c);
  if (committed)
    n.set_last_snapshot(*committed);
  return committed;
}

class coordinator_logic {
public:
  coordinator_logic(coordinator_actor* self, node* n, std::shared_ptr<store> s,
                    checkpoint_options opts)
    : self_(self), node_(n), store_(std::move(s)), opts_(std::move(opts)) {}

  /// Starts a checkpoint; `reply` hears how it ended (also on refusal).
  void begin(std::function<void(const result<checkpoint_report>&)> reply) {
    auto& st = self_->state;
    if (st.busy) {
      reply(status(errc::busy, "a checkpoint of node '" + node_->name() + "' is already running"));
      return;
    }
    auto r = std::make_shared<round>();
    r->reply = std::move(reply);
    auto head = store_->get_ref(head_ref(node_->name()));
    if (head) {
      r->expected_head = *head;
    } else if (!head.error().is_not_found()) {
      r->reply(head.error());
      return;
    }
    r->ctx = std::make_shared<capture_context>();
    r->ctx->source = node_;
    r->ctx->sink = store_;
    auto& core = node_->core();
    {
      // No spawn in between: every component is in the list or born after.
      std::unique_lock<std::shared_mutex> guard(core.cut_mutex());
      // Epochs are the node's, not this coordinator's: components keep theirs
      // from cuts of an earlier checkpointer on the same node.
      r->ctx->epoch = core.current_epoch.load(std::memory_order_acquire) + 1;
      core.current_epoch.store(r->ctx->epoch, std::memory_order_release);
      r->ctx->components = node_->components();
      r->ctx->retired = core.retired();
    }
    r->ctx->injected = core.injected();
    st.busy = true;
    capture_context_ptr ctx = r->ctx;
    for (size_t i = 0; i < layer_count; ++i) {
      auto kind = static_cast<layer_kind>(i);
      self_->request(st.captures[i], opts_.timeout, capture_atom::value, ctx)
        .then([this, r, i](capture_result_ptr& res) { on_layer(r, i, std::move(res)); },
              [this, r, kind](caf::error& err) {
                auto why = from_caf_error(self_->system(), err);
                if (why.code() == errc::timeout)
                  why = status(errc::timeout, "the cut did not complete within "
                                                + std::to_string(opts_.timeout.count())
                                                + " ms (a component died or counts never "
                                                  "balanced); nothing was committed");
                end(r, why.with_context(std::string("capturing the ") + to_string(kind)
                                        + " layer"));
              });
    }
    for (auto& c : ctx->components)
      self_->send(c.handle, cut_atom::value, ctx->epoch);
  }

  void tick() {
    if (!self_->state.busy)
      begin([this](const result<checkpoint_report>&) {});
    self_->delayed_send(self_, opts_.interval, tick_atom::value);
  }

private:
  void on_layer(const std::shared_ptr<round>& r, size_t i, capture_result_ptr res) {
    if (r->done)
      return;
    r->results[i] = std::move(res);
    if (--r->pending > 0)
      return;
    auto id = commit(*node_, *store_, *r);
    if (!id) {
      end(r, id.error());
      return;
    }
    checkpoint_report rep;
    rep.id = *id;
    rep.duration = std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now()
                                                                         - r->start);
    rep.components = r->ctx->components.size();
    rep.reused = r->results[static_cast<size_t>(layer_kind::cache)]->reused;
    rep.in_flight = r->results[static_cast<size_t>(layer_kind::trace)]->in_flight;
    end(r, rep);
  }

  void end(const std::shared_ptr<round>& r, const result<checkpoint_report>& outcome) {
    if (r->done)
      return;
    r->done = true;
    self_->state.busy = false;
    if (!outcome) {
      // Drop the aborted cut's stragglers, and make every component
      // serialize in full next time: its reused blob may not be committed.
      for (auto& cap : self_->state.captures)
        self_->send(cap, abort_atom::value, r->ctx->epoch);
      node_->core().bump_generation();
    }
    if (opts_.on_checkpoint)
      opts_.on_checkpoint(outcome);
    r->reply(outcome);
  }

  coordinator_actor* self_;
  node* node_;
  std::shared_ptr<store> store_;
  checkpoint_options opts_;
};

caf::behavior coordinator(coordinator_actor* self, node* n, std::shared_ptr<store> s,
                          checkpoint_options opts) {
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
    [self, logic](checkpoint_atom, report_atom) -> caf::result<checkpoint_report_ptr> {
      auto rp = self->make_response_promise<checkpoint_report_ptr>();
      logic->begin([rp](const result<checkpoint_report>& r) mutable {
        if (r)
          rp.deliver(std::make_shared<const checkpoint_report>(*r));
        else
          rp.deliver(to_caf_error(r.error()));
      });
      return rp;
    },
    [logic](tick_atom) { logic->tick(); },
  };
}

} // namespace

caf::actor spawn_coordinator(node& n, std::shared_ptr<store> s, checkpoint_options opts) {
  return n.system().spawn<caf::detached>(coordinator, &n, std::move(s), std::move(opts));
}

} // namespace amber
