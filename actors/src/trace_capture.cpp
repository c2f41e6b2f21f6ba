#include <algorithm>

#include "amber/checkpoint/serial.hpp"
#include "amber/checkpoint/snapshot.hpp"
#include "amber/runtime/atoms.hpp"
#include "amber/runtime/envelope.hpp"
#include "amber/runtime/error.hpp"
#include "amber/runtime/message_codec.hpp"
#include "cut_captures.hpp"

namespace amber {

namespace {

using state_type = trace_capture_state;

void finish(caf::stateful_actor<state_type>* self, uint64_t epoch, caf::error err,
            capture_result_ptr res) {
  auto& st = self->state;
  auto i = st.rounds.find(epoch);
  if (err)
    i->second.promise.deliver(std::move(err));
  else
    i->second.promise.deliver(std::move(res));
  close_rounds_through(st, epoch);
}

// Once every component reported its counts, works out how many in-flight
// messages each receiver still awaits.
void compute_deficits(state_type::round& r) {
  auto& ctx = *r.ctx;
  std::unordered_map<uint32_t, int64_t> expected;
  for (auto& c : ctx.components)
    expected[c.id] = 0;
  auto add_sent = [&](const sent_counts& sent) {
    for (auto& [receiver, n] : sent)
      if (auto i = expected.find(receiver); i != expected.end())
        i->second += static_cast<int64_t>(n);
  };
  for (auto& kv : r.counts)
    add_sent(kv.second.first);
  // Senders that exited before the cut still sent what they sent.
  for (auto& [sender, sent] : ctx.retired)
    if (r.counts.count(sender) == 0)
      add_sent(sent);
  for (auto& [receiver, n] : ctx.injected)
    if (auto i = expected.find(receiver); i != expected.end())
      i->second += static_cast<int64_t>(n);
  r.missing = 0;
  r.deficit.clear();
  for (auto& [receiver, n] : expected) {
    auto have = static_cast<int64_t>(r.counts[receiver].second);
    if (auto f = r.in_flight_to.find(receiver); f != r.in_flight_to.end())
      have += static_cast<int64_t>(f->second);
    r.deficit[receiver] = n - have;
    r.missing += n - have;
  }
}

void try_finish(caf::stateful_actor<state_type>* self, uint64_t epoch) {
  auto i = self->state.rounds.find(epoch);
  if (i == self->state.rounds.end() || !i->second.ctx)
    return;
  auto& r = i->second;
  if (!r.failure.is_ok()) {
    finish(self, epoch, to_caf_error(r.failure), nullptr);
    return;
  }
  if (r.missing < 0) {
    for (auto& c : r.ctx->components)
      if (r.counts.count(c.id) == 0)
        return;
    compute_deficits(r);
  }
  if (r.missing != 0)
    return;
  for (auto& kv : r.deficit)
    if (kv.second != 0)
      return; // Balanced in sum but not per receiver: wait (or time out).
  trace_layer layer;
  for (auto& kv : r.counts) {
    for (auto& sent : kv.second.first)
      layer.pre_cut_sent += sent.second;
    layer.pre_cut_received += kv.second.second;
  }
  // Only messages to components in the cut (one born during it records
  // nothing, but a stray must not reach the layer). Grouped by receiver, in
  // the order each receiver got them, which keeps every sender's order
  // (sequence numbers restart with each incarnation; arrival order does not).
  for (auto& m : r.messages)
    if (r.deficit.count(m.receiver) > 0)
      layer.messages.push_back(std::move(m));
  std::stable_sort(layer.messages.begin(), layer.messages.end(),
                   [](const in_flight_message& a, const in_flight_message& b) {
                     return a.receiver < b.receiver;
                   });
  // Encoding and storing happen in the store writer, off the scheduler.
  auto promise = r.promise;
  auto job = std::make_shared<const store_job>(
    [sink = r.ctx->sink, layer = std::move(layer)]() -> result<capture_result> {
      capture_result out;
      out.in_flight = layer.messages.size();
      auto d = write_layer(*sink, layer_kind::trace, encode(layer));
      if (!d)
        return d.error();
      out.descriptor = *d;
      out.references.push_back(d->index);
      return out;
    });
  auto& st = self->state;
  close_rounds_through(st, epoch);
  self->request(st.writer, caf::infinite, write_atom::value, store_job_ptr{job})
    .then([promise](capture_result_ptr& res) mutable { promise.deliver(std::move(res)); },
          [promise](caf::error& err) mutable { promise.deliver(std::move(err)); });
}

} // namespace

caf::behavior trace_capture(caf::stateful_actor<state_type>* self) {
  self->state.writer = spawn_store_writer(self->system());
  self->link_to(self->state.writer);
  return {
    [self](capture_atom, capture_context_ptr ctx) {
      return accept_request(self, std::move(ctx), try_finish);
    },
    [self](count_atom, uint64_t epoch, uint32_t id, sent_counts& sent, uint64_t received) {
      if (epoch <= self->state.done_up_to)
        return;
      self->state.rounds[epoch].counts[id] = {std::move(sent), received};
      try_finish(self, epoch);
    },
    [self](flight_atom, uint64_t epoch, uint32_t receiver, envelope& e) {
      if (epoch <= self->state.done_up_to)
        return;
      auto& r = self->state.rounds[epoch];
      // Serialized here, off the receiving component's thread.
      auto bytes = encode_message(self->system(), e.payload);
      if (!bytes) {
        if (r.failure.is_ok())
          r.failure = bytes.error().with_context("recording a message in flight to component "
                                                 + std::to_string(receiver));
      } else {
        r.messages.push_back({"", e.sender, receiver, e.seq, e.epoch, std::move(*bytes)});
      }
      ++r.in_flight_to[receiver];
      if (r.missing >= 0) {
        if (auto d = r.deficit.find(receiver); d != r.deficit.end()) {
          --d->second;
          --r.missing;
        }
      }
      try_finish(self, epoch);
    },
    [self](abort_atom, uint64_t epoch) { close_rounds_through(self->state, epoch); },
  };
}

} // namespace amber
