#include "capture.hpp"

#include <set>

#include <caf/event_based_actor.hpp>

#include "amber/checkpoint/layers.hpp"
#include "amber/checkpoint/serial.hpp"
#include "amber/checkpoint/snapshot.hpp"
#include "amber/runtime/atoms.hpp"
#include "amber/runtime/error.hpp"

namespace amber {

namespace {

using reply = caf::result<capture_result_ptr>;

// Stores a layer whose only blob is its index.
template <class Layer>
reply store_index_only(const capture_context& ctx, layer_kind kind, const Layer& layer) {
  auto d = write_layer(*ctx.sink, kind, encode(layer));
  if (!d)
    return to_caf_error(d.error());
  auto out = std::make_shared<capture_result>();
  out->descriptor = *d;
  out->references.push_back(d->index);
  return capture_result_ptr{std::move(out)};
}

reply capture_model(const capture_context& ctx) {
  model_layer layer;
  layer.graphs = ctx.source->graphs();
  std::set<std::string> used;
  for (auto& c : ctx.components)
    used.insert(c.type_name);
  for (auto& rec : ctx.source->types().records())
    if (used.count(rec.type_name) > 0)
      layer.types.push_back(rec);
  return store_index_only(ctx, layer_kind::model, layer);
}

reply capture_world(const capture_context& ctx) {
  world_layer layer;
  layer.node_name = ctx.source->name();
  layer.config = ctx.source->config();
  layer.incarnation = ctx.source->incarnation();
  layer.next_instance_id = ctx.source->next_instance_id();
  return store_index_only(ctx, layer_kind::world, layer);
}

reply capture_effects(const capture_context& ctx) {
  // The effect ledger arrives with the effects issue; the layer already has
  // its real shape so that snapshots taken now stay readable then.
  return store_index_only(ctx, layer_kind::effects, effects_layer{});
}

reply capture_trace(const capture_context& ctx) {
  trace_layer layer;
  auto& counters = ctx.source->core().counters;
  layer.pre_cut_sent = counters.sent.load(std::memory_order_acquire);
  layer.pre_cut_received = counters.delivered.load(std::memory_order_acquire);
  return store_index_only(ctx, layer_kind::trace, layer);
}

// Collects every component's state (serialized by the component itself, on
// its own thread), then hashes and writes all state blobs in one transaction.
reply capture_cache(caf::event_based_actor* self, capture_context_ptr ctx) {
  auto rp = self->make_response_promise<capture_result_ptr>();
  struct gather {
    std::vector<std::string> states;
    size_t pending = 0;
    bool failed = false;
  };
  auto g = std::make_shared<gather>();
  g->states.resize(ctx->components.size());
  g->pending = ctx->components.size();
  auto finish = [ctx, g, rp]() mutable {
    std::vector<std::string_view> views(g->states.begin(), g->states.end());
    auto put = ctx->sink->put_blobs(views);
    if (!put) {
      rp.deliver(to_caf_error(put.error().with_context("writing component state")));
      return;
    }
    cache_layer layer;
    auto out = std::make_shared<capture_result>();
    std::set<digest> distinct;
    uint64_t distinct_bytes = 0;
    for (size_t i = 0; i < ctx->components.size(); ++i) {
      auto& c = ctx->components[i];
      auto& id = put->ids[i];
      layer.components.push_back(
        {c.id, c.name, c.type_name, c.package, c.graph, id, g->states[i].size()});
      if (distinct.insert(id).second) {
        out->references.push_back(id);
        distinct_bytes += g->states[i].size();
      }
    }
    auto d = write_layer(*ctx->sink, layer_kind::cache, encode(layer), distinct.size(),
                         distinct_bytes);
    if (!d) {
      rp.deliver(to_caf_error(d.error()));
      return;
    }
    out->descriptor = *d;
    out->references.push_back(d->index);
    rp.deliver(capture_result_ptr{std::move(out)});
  };
  if (ctx->components.empty()) {
    finish();
    return rp;
  }
  for (size_t i = 0; i < ctx->components.size(); ++i) {
    auto& c = ctx->components[i];
    self->request(c.handle, ctx->timeout, snapshot_atom::value)
      .then(
        [g, i, finish](std::string& bytes) mutable {
          if (g->failed)
            return;
          g->states[i] = std::move(bytes);
          if (--g->pending == 0)
            finish();
        },
        [g, rp, name = c.name, self](caf::error& err) mutable {
          if (g->failed)
            return;
          g->failed = true;
          auto st = from_caf_error(self->system(), err);
          rp.deliver(to_caf_error(status(errc::aborted, "component '" + name
                                                          + "' did not hand over its state: "
                                                          + st.to_string())));
        });
  }
  return rp;
}

caf::behavior capture_actor(caf::event_based_actor* self, layer_kind kind) {
  return {
    [self, kind](capture_atom, capture_context_ptr ctx) -> reply {
      switch (kind) {
        case layer_kind::model: return capture_model(*ctx);
        case layer_kind::cache: return capture_cache(self, ctx);
        case layer_kind::world: return capture_world(*ctx);
        case layer_kind::effects: return capture_effects(*ctx);
        case layer_kind::trace: return capture_trace(*ctx);
      }
      return to_caf_error(status(errc::internal, "unknown layer kind"));
    },
  };
}

} // namespace

caf::actor spawn_capture(caf::actor_system& sys, layer_kind kind) {
  return sys.spawn<caf::detached>(capture_actor, kind);
}

} // namespace amber
