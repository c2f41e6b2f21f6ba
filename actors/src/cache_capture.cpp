#include <set>

#include "amber/checkpoint/serial.hpp"
#include "amber/checkpoint/snapshot.hpp"
#include "amber/runtime/atoms.hpp"
#include "amber/runtime/error.hpp"
#include "cut_captures.hpp"

namespace amber {

namespace {

using state_type = cache_capture_state;

struct pending_state {
  component_ref component;
  std::string bytes;               ///< Empty when reused.
  std::pair<digest, uint64_t> blob; ///< The reused blob, when not changed.
  bool changed = false;
};

// The blocking part, run by the store writer: hash and store the changed
// states in one transaction, then the layer index.
result<capture_result> write_cache(store& sink, std::vector<pending_state>& states) {
  std::vector<std::string_view> changed;
  for (auto& s : states)
    if (s.changed)
      changed.push_back(s.bytes);
  auto put = sink.put_blobs(changed);
  if (!put)
    return put.error().with_context("writing component state");
  capture_result out;
  cache_layer layer;
  layer.components.reserve(states.size());
  std::set<digest> distinct;
  uint64_t distinct_bytes = 0;
  size_t next_put = 0;
  for (auto& s : states) {
    auto& c = s.component;
    auto blob = s.changed ? std::make_pair(put->ids[next_put++], uint64_t{s.bytes.size()})
                          : s.blob;
    if (!s.changed)
      ++out.reused;
    out.blobs[c.id] = blob;
    layer.components.push_back({c.id, c.name, c.type_name, c.package, c.graph, blob.first,
                                blob.second});
    if (distinct.insert(blob.first).second) {
      out.references.push_back(blob.first);
      distinct_bytes += blob.second;
    }
  }
  auto d = write_layer(sink, layer_kind::cache, encode(layer), distinct.size(), distinct_bytes);
  if (!d)
    return d.error();
  out.descriptor = *d;
  out.references.push_back(d->index);
  return out;
}

// Once the request and every component's state are in, hands the writing
// to the store writer and answers the coordinator when it is done.
void try_finish(caf::stateful_actor<state_type>* self, uint64_t epoch) {
  auto& st = self->state;
  auto i = st.rounds.find(epoch);
  if (i == st.rounds.end() || !i->second.ctx)
    return;
  auto& r = i->second;
  auto ctx = r.ctx;
  for (auto& c : ctx->components)
    if (r.states.count(c.id) == 0)
      return;
  auto promise = r.promise;
  auto states = std::make_shared<std::vector<pending_state>>();
  states->reserve(ctx->components.size());
  for (auto& c : ctx->components) {
    auto& s = r.states[c.id];
    pending_state p{c, std::move(s.bytes), {}, s.changed};
    if (!p.changed) {
      auto known = st.last.find(c.id);
      if (known == st.last.end() || known->second.epoch != s.blob_epoch) {
        // Its bytes went to a cut this capture dropped: the blob we hold is
        // older than the state it reports unchanged. Abort; the next cut
        // serializes everything afresh.
        promise.deliver(to_caf_error(status(
          errc::aborted, "component '" + c.name + "' reported an unchanged state whose bytes "
                                                    "this capture does not hold")));
        close_rounds_through(st, epoch);
        return;
      }
      p.blob = {known->second.blob, known->second.size};
    }
    states->push_back(std::move(p));
  }
  close_rounds_through(st, epoch);
  auto job = std::make_shared<const store_job>(
    [sink = ctx->sink, states] { return write_cache(*sink, *states); });
  self->request(st.writer, caf::infinite, write_atom::value, store_job_ptr{job})
    .then(
      [self, promise, epoch, states](capture_result_ptr& res) mutable {
        for (auto& p : *states)
          if (p.changed) {
            auto& blob = res->blobs.at(p.component.id);
            self->state.last[p.component.id] = {blob.first, blob.second, epoch};
          }
        promise.deliver(std::move(res));
      },
      [promise](caf::error& err) mutable { promise.deliver(std::move(err)); });
}

} // namespace

caf::behavior cache_capture(caf::stateful_actor<state_type>* self) {
  self->state.writer = spawn_store_writer(self->system());
  self->link_to(self->state.writer);
  return {
    [self](capture_atom, capture_context_ptr ctx) {
      return accept_request(self, std::move(ctx), try_finish);
    },
    [self](state_atom, uint64_t epoch, uint32_t id, std::string& bytes, bool changed,
           uint64_t blob_epoch) {
      if (epoch <= self->state.done_up_to)
        return; // A straggler of an aborted cut.
      self->state.rounds[epoch].states[id] = {std::move(bytes), changed, blob_epoch};
      try_finish(self, epoch);
    },
    [self](abort_atom, uint64_t epoch) { close_rounds_through(self->state, epoch); },
  };
}

} // namespace amber
