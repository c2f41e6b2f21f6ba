// The model, world and effects captures, the capture worker, and the
// actor that hosts a capture.

#include <algorithm>
#include <map>

#include <caf/event_based_actor.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include "amber/checkpoint/layers.hpp"
#include "amber/checkpoint/serial.hpp"
#include "amber/checkpoint/snapshot.hpp"
#include "amber/runtime/atoms.hpp"
#include "amber/runtime/error.hpp"
#include "capture.hpp"
#include "cut_captures.hpp"

namespace amber {

void add_layer(layer_kind kind, std::string index_bytes, uint64_t extra_blobs,
               uint64_t extra_bytes, capture_result& out) {
  auto layer = make_layer_blob(kind, std::move(index_bytes), extra_blobs, extra_bytes);
  out.descriptor = layer.descriptor;
  out.references.push_back(layer.descriptor.index);
  out.blobs.push_back(std::move(layer.blob));
}

namespace {

using reply = caf::result<capture_result_ptr>;

template <class Layer>
capture_result_ptr index_only(layer_kind kind, const Layer& layer) {
  auto out = std::make_shared<capture_result>();
  add_layer(kind, encode(layer), 0, 0, *out);
  return out;
}

capture_result_ptr capture_model(const capture_context& ctx, const capture_result& cache) {
  model_layer layer;
  // Read at the cut: installs hold the cut lock, so each graph is whole.
  layer.graphs = ctx.start.graphs;
  layer.types = cache.types; // Every type a member has, joiners included.
  return index_only(layer_kind::model, layer);
}

capture_result_ptr capture_world(const capture_context& ctx) {
  world_layer layer;
  layer.node_name = ctx.source->name();
  layer.config = ctx.source->config();
  layer.incarnation = ctx.source->incarnation();
  layer.next_instance_id = ctx.source->next_instance_id();
  return index_only(layer_kind::world, layer);
}

using prepared_atom = caf::atom_constant<caf::atom("a_prepd")>;

// The effects capture. Asked once the cache capture is complete: every
// member has cut, so every effect issued before the cut is in the ledger.
// It answers once the cut's transactions are prepared (the ledger tells it
// from a sink's thread with a message, so nothing here blocks), or with
// the first prepare's error, which aborts the checkpoint.
struct effects_capture_state {
  static inline const char* name = "amber.capture.effects";
  struct waiting {
    caf::response_promise rp;
    capture_result_ptr layer;
    node* source = nullptr;
  };
  std::map<uint64_t, waiting> cuts;
  node* source = nullptr; ///< The node whose ledger the cuts list.
};

caf::behavior effects_capture(caf::stateful_actor<effects_capture_state>* self) {
  self->set_default_handler(caf::drop); // Never CAF's print to stdout.
  return {
    [self](capture_atom, capture_context_ptr ctx, capture_result_ptr) -> reply {
      auto epoch = ctx->epoch();
      auto rp = self->make_response_promise<capture_result_ptr>();
      auto me = caf::actor_cast<caf::actor>(self);
      auto& w = self->state.cuts[epoch];
      w.rp = rp;
      w.source = ctx->source;
      self->state.source = ctx->source;
      auto listing = ctx->source->core().effects().begin_cut(epoch, [me, epoch](status st) {
        caf::anon_send(me, prepared_atom::value, epoch, static_cast<uint8_t>(st.code()),
                       st.message());
      });
      // The index, the segment this cut adds, and every segment it names.
      auto out = std::make_shared<capture_result>();
      add_layer(layer_kind::effects, encode(listing.layer), listing.segment_blobs,
                listing.segment_bytes, *out);
      out->references.insert(out->references.end(), listing.layer.segments.begin(),
                             listing.layer.segments.end());
      if (listing.segment)
        out->blobs.push_back(std::move(*listing.segment));
      self->state.cuts[epoch].layer = std::move(out);
      return rp;
    },
    [self](prepared_atom, uint64_t epoch, uint8_t code, std::string& why) {
      auto i = self->state.cuts.find(epoch);
      if (i == self->state.cuts.end())
        return; // Aborted meanwhile.
      auto w = std::move(i->second);
      self->state.cuts.erase(i);
      auto st = status(static_cast<errc>(code), std::move(why));
      if (st.is_ok())
        w.rp.deliver(std::move(w.layer));
      else
        w.rp.deliver(to_caf_error(st));
    },
    [self](abort_atom, uint64_t epoch) {
      // Also after a failed prepare answered the cut: its segment and its
      // other transactions must go.
      if (self->state.source)
        self->state.source->core().effects().abort_cut(epoch);
      self->state.cuts.erase(epoch);
    },
  };
}

caf::behavior simple_capture(caf::event_based_actor* self, layer_kind kind) {
  self->set_default_handler(caf::drop); // Never CAF's print to stdout.
  return {
    [kind](capture_atom, capture_context_ptr ctx) -> reply {
      switch (kind) {
        case layer_kind::world: return capture_world(*ctx);
        default: break;
      }
      return to_caf_error(status(errc::internal, "not a simple layer"));
    },
    [kind](capture_atom, capture_context_ptr ctx, capture_result_ptr cache) -> reply {
      switch (kind) {
        case layer_kind::model: return capture_model(*ctx, *cache);
        default: break;
      }
      return to_caf_error(status(errc::internal, "not a layer asked after the cache"));
    },
    [](abort_atom, uint64_t) {},
  };
}

} // namespace

namespace {

caf::behavior capture_worker(caf::event_based_actor* self, int) {
  self->set_default_handler(caf::drop); // Never CAF's print to stdout.
  return {
    [](work_atom, capture_job_ptr job) -> caf::result<capture_result_ptr> {
      auto r = (*job)();
      if (!r)
        return to_caf_error(r.error());
      return capture_result_ptr{std::make_shared<capture_result>(std::move(*r))};
    },
  };
}

} // namespace

caf::actor spawn_capture_worker(caf::actor_system& sys) {
  // Scheduled on CAF's deterministic test_coordinator, like the coordinator
  // (see spawn_coordinator).
  if (!sys.scheduler().detaches_utility_actors())
    return sys.spawn(capture_worker, 0);
  return sys.spawn<caf::detached>(capture_worker, 0);
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
    case layer_kind::effects:
      return sys.spawn(
        [](caf::stateful_actor<effects_capture_state>* self, layer_kind) {
          return effects_capture(self);
        },
        kind);
    default:
      // Cheap answers from the cut's start: no thread of their own needed.
      return sys.spawn(simple_capture, kind);
  }
}

} // namespace amber
