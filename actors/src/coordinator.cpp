#include "coordinator.hpp"

#include <array>

#include <caf/stateful_actor.hpp>

#include "amber/checkpoint/snapshot.hpp"
#include "amber/runtime/atoms.hpp"
#include "amber/runtime/error.hpp"
#include "capture.hpp"

namespace amber {

namespace {

struct counter_reading {
  uint64_t sent = 0;
  uint64_t delivered = 0;
  uint64_t handled = 0;

  static counter_reading of(const message_counters& c) {
    return {c.sent.load(std::memory_order_acquire), c.delivered.load(std::memory_order_acquire),
            c.handled.load(std::memory_order_acquire)};
  }
  friend bool operator!=(const counter_reading& a, const counter_reading& b) {
    return a.sent != b.sent || a.delivered != b.delivered || a.handled != b.handled;
  }
};

status not_quiescent(const std::string& node, const counter_reading& r) {
  return status(errc::not_quiescent,
                "node '" + node + "' has " + std::to_string(r.sent - r.delivered)
                  + " component message(s) in flight; a checkpoint needs a quiet node");
}

struct coordinator_state {
  static inline const char* name = "amber.coordinator";
  std::array<caf::actor, layer_count> captures;
  uint64_t epoch = 0;
  bool busy = false;
};

// One checkpoint in progress: the five answers as they arrive.
struct round {
  std::shared_ptr<capture_context> ctx;
  counter_reading before;
  std::optional<digest> expected_head;
  std::array<capture_result_ptr, layer_count> results;
  size_t pending = layer_count;
  bool failed = false;
  caf::response_promise promise;
};

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// Builds and commits the manifest once all five layers are in.
status commit(node& n, store& s, round& r, digest* id) {
  auto after = counter_reading::of(n.core().counters);
  if (after != r.before)
    return status(errc::not_quiescent, "node '" + n.name()
                                         + "' processed messages while the checkpoint ran ("
                                         + std::to_string(after.handled - r.before.handled)
                                         + " handled); nothing was committed");
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
  if (!committed)
    return committed.error();
  n.set_last_snapshot(*committed);
  *id = *committed;
  return status::ok();
}

caf::behavior coordinator(caf::stateful_actor<coordinator_state>* self, node* n,
                          std::shared_ptr<store> s, checkpoint_options opts) {
  for (size_t i = 0; i < layer_count; ++i) {
    self->state.captures[i] = spawn_capture(self->system(), static_cast<layer_kind>(i));
    self->link_to(self->state.captures[i]);
  }
  return {
    [=](checkpoint_atom) -> caf::result<std::string> {
      if (self->state.busy)
        return to_caf_error(status(errc::busy, "a checkpoint of node '" + n->name()
                                                 + "' is already running"));
      auto r = std::make_shared<round>();
      r->before = counter_reading::of(n->core().counters);
      if (r->before.sent != r->before.delivered)
        return to_caf_error(not_quiescent(n->name(), r->before));
      auto head = s->get_ref(head_ref(n->name()));
      if (head)
        r->expected_head = *head;
      else if (!head.error().is_not_found())
        return to_caf_error(head.error());
      r->ctx = std::make_shared<capture_context>();
      r->ctx->source = n;
      r->ctx->sink = s;
      r->ctx->epoch = ++self->state.epoch;
      r->ctx->components = n->components();
      r->ctx->timeout = opts.timeout;
      r->promise = self->make_response_promise();
      self->state.busy = true;
      auto fail = [self, r](const status& st) {
        if (r->failed)
          return;
        r->failed = true;
        self->state.busy = false;
        r->promise.deliver(to_caf_error(st));
      };
      capture_context_ptr ctx = r->ctx;
      for (size_t i = 0; i < layer_count; ++i) {
        auto kind = static_cast<layer_kind>(i);
        self->request(self->state.captures[i], opts.timeout, capture_atom::value, ctx)
          .then(
            [=](capture_result_ptr& res) {
              if (r->failed)
                return;
              r->results[i] = std::move(res);
              if (--r->pending > 0)
                return;
              digest id;
              status st = commit(*n, *s, *r, &id);
              if (!st) {
                fail(st);
                return;
              }
              self->state.busy = false;
              r->promise.deliver(id.to_hex());
            },
            [=](caf::error& err) {
              fail(from_caf_error(self->system(), err)
                     .with_context(std::string("capturing the ") + to_string(kind) + " layer"));
            });
      }
      return r->promise;
    },
  };
}

} // namespace

caf::actor spawn_coordinator(node& n, std::shared_ptr<store> s, checkpoint_options opts) {
  return n.system().spawn<caf::detached>(coordinator, &n, std::move(s), opts);
}

} // namespace amber
