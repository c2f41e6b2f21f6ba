#include <set>

#include "amber/checkpoint/serial.hpp"
#include "amber/checkpoint/snapshot.hpp"
#include "amber/runtime/atoms.hpp"
#include "amber/runtime/error.hpp"
#include "cut_captures.hpp"

namespace amber {

namespace {

using state_type = cache_capture_state;

// Writes the cache layer once the request and every component's state are in.
void try_finish(caf::stateful_actor<state_type>* self, uint64_t epoch) {
  auto& st = self->state;
  auto i = st.rounds.find(epoch);
  if (i == st.rounds.end() || !i->second.ctx)
    return;
  auto& r = i->second;
  auto& ctx = *r.ctx;
  for (auto& c : ctx.components)
    if (r.states.count(c.id) == 0)
      return;
  auto finish = [&](caf::error err, capture_result_ptr res) {
    if (err)
      r.promise.deliver(std::move(err));
    else
      r.promise.deliver(std::move(res));
    st.rounds.erase(st.rounds.begin(), std::next(i));
    st.done_up_to = std::max(st.done_up_to, epoch);
  };
  // Hash and store the states that changed, all in one transaction.
  std::vector<std::string_view> changed;
  for (auto& c : ctx.components)
    if (auto& s = r.states[c.id]; s.second)
      changed.push_back(s.first);
  auto put = ctx.sink->put_blobs(changed);
  if (!put) {
    finish(to_caf_error(put.error().with_context("writing component state")), nullptr);
    return;
  }
  cache_layer layer;
  layer.components.reserve(ctx.components.size());
  auto out = std::make_shared<capture_result>();
  std::set<digest> distinct;
  uint64_t distinct_bytes = 0;
  size_t next_put = 0;
  for (auto& c : ctx.components) {
    auto& s = r.states[c.id];
    std::pair<digest, uint64_t> blob;
    if (s.second) {
      blob = {put->ids[next_put++], s.first.size()};
      st.last[c.id] = blob;
    } else {
      auto known = st.last.find(c.id);
      if (known == st.last.end()) {
        finish(to_caf_error(status(errc::internal,
                                   "component '" + c.name
                                     + "' reported an unchanged state this capture never saw")),
               nullptr);
        return;
      }
      blob = known->second;
      ++out->reused;
    }
    layer.components.push_back({c.id, c.name, c.type_name, c.package, c.graph, blob.first,
                                 blob.second});
    if (distinct.insert(blob.first).second) {
      out->references.push_back(blob.first);
      distinct_bytes += blob.second;
    }
  }
  auto d = write_layer(*ctx.sink, layer_kind::cache, encode(layer), distinct.size(),
                       distinct_bytes);
  if (!d) {
    finish(to_caf_error(d.error()), nullptr);
    return;
  }
  out->descriptor = *d;
  out->references.push_back(d->index);
  finish(caf::error{}, std::move(out));
}

} // namespace

caf::behavior cache_capture(caf::stateful_actor<state_type>* self) {
  return {
    [self](capture_atom, capture_context_ptr ctx) -> caf::result<capture_result_ptr> {
      auto& r = self->state.rounds[ctx->epoch];
      r.ctx = ctx;
      r.promise = self->make_response_promise();
      auto promise = r.promise;
      try_finish(self, ctx->epoch);
      return promise;
    },
    [self](state_atom, uint64_t epoch, uint32_t id, std::string& bytes, bool changed) {
      if (epoch <= self->state.done_up_to)
        return; // A straggler of an aborted cut.
      self->state.rounds[epoch].states[id] = {std::move(bytes), changed};
      try_finish(self, epoch);
    },
    [self](abort_atom, uint64_t epoch) {
      auto& st = self->state;
      st.done_up_to = std::max(st.done_up_to, epoch);
      st.rounds.erase(st.rounds.begin(), st.rounds.upper_bound(epoch));
    },
  };
}

} // namespace amber
