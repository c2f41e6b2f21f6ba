// The model, world and effects captures, and the actor that hosts a capture.

#include <set>

#include <caf/event_based_actor.hpp>

#include "amber/checkpoint/layers.hpp"
#include "amber/checkpoint/serial.hpp"
#include "amber/checkpoint/snapshot.hpp"
#include "amber/runtime/atoms.hpp"
#include "amber/runtime/error.hpp"
#include "capture.hpp"
#include "cut_captures.hpp"

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

caf::behavior simple_capture(caf::event_based_actor*, layer_kind kind) {
  return {
    [kind](capture_atom, capture_context_ptr ctx) -> reply {
      switch (kind) {
        case layer_kind::model: return capture_model(*ctx);
        case layer_kind::world: return capture_world(*ctx);
        case layer_kind::effects: return capture_effects(*ctx);
        default: break;
      }
      return to_caf_error(status(errc::internal, "not a simple layer"));
    },
    [](abort_atom, uint64_t) {},
  };
}

} // namespace

caf::actor spawn_store_writer(caf::actor_system& sys) {
  return sys.spawn<caf::detached>(
    [](caf::event_based_actor*, int) -> caf::behavior {
      return {
        [](write_atom, store_job_ptr job) -> caf::result<capture_result_ptr> {
          auto r = (*job)();
          if (!r)
            return to_caf_error(r.error());
          return capture_result_ptr{std::make_shared<const capture_result>(std::move(*r))};
        },
      };
    },
    0);
}

caf::actor spawn_capture(caf::actor_system& sys, layer_kind kind) {
  // Every spawn passes an argument: CAF 0.17 dereferences a null tuple when
  // a function actor is spawned without one (UBSan reports it).
  switch (kind) {
    case layer_kind::cache:
      return sys.spawn(
        [](caf::stateful_actor<cache_capture_state>* self, layer_kind) {
          return cache_capture(self);
        },
        kind);
    case layer_kind::trace:
      return sys.spawn(
        [](caf::stateful_actor<trace_capture_state>* self, layer_kind) {
          return trace_capture(self);
        },
        kind);
    default:
      return sys.spawn<caf::detached>(simple_capture, kind);
  }
}

} // namespace amber
