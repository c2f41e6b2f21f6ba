#include <algorithm>

#include "amber/checkpoint/serial.hpp"
#include "amber/checkpoint/snapshot.hpp"
#include "amber/runtime/atoms.hpp"
#include "amber/runtime/error.hpp"
#include "amber/runtime/message_codec.hpp"
#include "cut_captures.hpp"

namespace amber {

namespace {

using state_type = trace_capture_state;
using self_ptr = caf::stateful_actor<state_type>*;

struct totals {
  uint64_t sent = 0;
  uint64_t received = 0;
};

// The CPU-heavy part, run by the worker: serialize the recorded messages
// and encode the layer.
result<capture_result> build_trace(caf::actor_system& sys,
                                   std::vector<flight_report_ptr>& flights, totals t,
                                   const node_core& core) {
  trace_layer layer;
  layer.pre_cut_sent = t.sent;
  layer.pre_cut_received = t.received;
  // Grouped by receiver, then by sender in channel order: a receiver's
  // recordings arrive in the order it got them, but messages lost with an
  // exited receiver reach us from two threads. The channel sequence wraps at
  // 2^32 (compared as a difference); a restore's re-delivery has 0 and its
  // messages keep their arrival order ahead of newer ones.
  std::stable_sort(flights.begin(), flights.end(),
                   [](const flight_report_ptr& a, const flight_report_ptr& b) {
                     if (a->receiver != b->receiver)
                       return a->receiver < b->receiver;
                     if (a->st.sender != b->st.sender)
                       return a->st.sender < b->st.sender;
                     // From another member: one sender id for many channels,
                     // whose numbers do not compare; arrival order is link order.
                     if (a->st.sender >= node_core::remote_sender_base)
                       return false;
                     if (a->st.seq == 0 || b->st.seq == 0)
                       return a->st.seq == 0 && b->st.seq != 0;
                     return static_cast<int32_t>(a->st.seq - b->st.seq) < 0;
                   });
  layer.messages.reserve(flights.size());
  uint32_t last_receiver = 0;
  uint64_t position = 0;
  for (auto& f : flights) {
    // seq: the position in its receiver's arrival order, which keeps every
    // sender's order (a channel between two components is FIFO).
    position = f->receiver == last_receiver ? position + 1 : 0;
    last_receiver = f->receiver;
    auto bytes = encode_message(sys, f->payload);
    if (!bytes)
      return bytes.error().with_context("recording a message in flight to component "
                                        + std::to_string(f->receiver));
    in_flight_message m;
    m.sender = f->st.sender;
    m.sender_node = core.sender_member(f->st.sender); // Empty for a local sender.
    m.receiver = f->receiver;
    m.seq = position;
    m.epoch = f->st.epoch;
    m.payload = std::move(*bytes);
    m.kind = static_cast<uint8_t>(f->st.kind);
    m.ref = f->st.ref;
    layer.messages.push_back(std::move(m));
  }
  capture_result out;
  out.in_flight = layer.messages.size();
  add_layer(layer_kind::trace, encode(layer), 0, 0, out);
  return out;
}

void count(state_type::round& r, const cut_report& rep, totals& t) {
  if (!r.ledger.on_report(rep.id, rep.info, rep.sent, rep.received, rep.joiners))
    return;
  for (auto& s : rep.sent)
    t.sent += s.second;
  t.received += rep.received;
}

void record(state_type::round& r, const flight_report_ptr& f) {
  // Only what was stamped before this cut, to a member that had cut.
  if (f->st.epoch < r.ctx->epoch() && r.ledger.on_flight(f->receiver))
    r.messages.push_back(f);
}

struct round_totals {
  std::map<uint64_t, totals> by_epoch;
};

void on_remote(state_type::round& r, const remote_count_report& rep) {
  if (r.remote_pending.erase(rep.member) == 0)
    return; // Not a peer of this cut, or counted already.
  if (!rep.consistent && r.failed.empty())
    r.failed = rep.why;
  r.ledger.on_remote(rep.counts);
}

void try_finish(self_ptr self, uint64_t epoch, totals t) {
  auto& st = self->state;
  auto i = st.rounds.find(epoch);
  if (i == st.rounds.end() || !i->second.ctx)
    return;
  auto& r = i->second;
  if (!r.told_all_reported && r.ctx->on_all_reported && r.ledger.all_reported()) {
    // No member sends anything stamped before this cut any more: the
    // links may close their pre-cut streams with a marker.
    r.told_all_reported = true;
    self->send(r.ctx->on_all_reported, all_reported_atom::value, epoch);
  }
  if (!r.failed.empty()) {
    auto promise = r.promise;
    auto why = r.failed;
    close_rounds_through(st, epoch);
    promise.deliver(to_caf_error(status(errc::aborted, "cut " + std::to_string(epoch) + ": "
                                                         + why + "; nothing was committed")));
    return;
  }
  if (!r.remote_pending.empty() || !r.ledger.balanced())
    return;
  auto promise = r.promise;
  const node_core* core = &r.ctx->source->core();
  auto flights = std::make_shared<std::vector<flight_report_ptr>>(std::move(r.messages));
  close_rounds_through(st, epoch);
  auto* sys = &self->system();
  auto job = std::make_shared<const capture_job>(
    [sys, flights, t, core] { return build_trace(*sys, *flights, t, *core); });
  self->request(st.worker, caf::infinite, work_atom::value, capture_job_ptr{job})
    .then([promise](capture_result_ptr& res) mutable { promise.deliver(std::move(res)); },
          [promise](caf::error& err) mutable { promise.deliver(std::move(err)); });
}

} // namespace

caf::behavior trace_capture(self_ptr self) {
  self->set_default_handler(caf::drop); // Never CAF's print to stdout.
  self->state.worker = spawn_capture_worker(self->system());
  self->link_to(self->state.worker);
  // Pre-cut totals per open round, for the layer's summary.
  auto sums = std::make_shared<round_totals>();
  auto finish = [self, sums](uint64_t epoch) {
    auto t = sums->by_epoch[epoch];
    try_finish(self, epoch, t);
    if (self->state.rounds.count(epoch) == 0)
      sums->by_epoch.erase(sums->by_epoch.begin(), sums->by_epoch.upper_bound(epoch));
  };
  auto apply_exit = [](state_type::round& r, const exit_report& x) {
    if (exit_matters(x, *r.ctx))
      r.ledger.on_exit(x.id, x.sent, x.joiners);
  };
  auto on_flight = [self, finish](flight_report_ptr& f) {
    auto& st = self->state;
    if (f->epoch <= st.done_up_to)
      return;
    auto& r = st.rounds[f->epoch];
    if (!r.ctx) {
      r.early_flights.push_back(std::move(f));
      return;
    }
    record(r, f);
    finish(f->epoch);
  };
  return {
    [self, sums, finish, apply_exit](capture_atom,
                                     capture_context_ptr ctx) -> caf::result<capture_result_ptr> {
      auto& st = self->state;
      auto epoch = ctx->epoch();
      auto& r = open_round(self, ctx);
      auto promise = r.promise;
      r.ledger.start(ctx->start.members, ctx->start.retired_to, ctx->start.injected);
      r.remote_pending.insert(ctx->remote_members.begin(), ctx->remote_members.end());
      for (auto& rep : r.early_remote)
        on_remote(r, *rep);
      r.early_remote.clear();
      auto& t = sums->by_epoch[epoch];
      for (auto& rep : r.early_reports)
        count(r, *rep, t);
      r.early_reports.clear();
      for (auto& [seq, x] : st.exits.by_seq)
        apply_exit(r, *x);
      st.exits.prune_through(ctx->start.removal_seq);
      for (auto& f : r.early_flights)
        record(r, f);
      r.early_flights.clear();
      finish(epoch);
      return promise;
    },
    [self, sums, finish](count_atom, cut_report_ptr& rep) {
      auto& st = self->state;
      if (rep->epoch <= st.done_up_to)
        return;
      auto& r = st.rounds[rep->epoch];
      if (!r.ctx) {
        r.early_reports.push_back(std::move(rep));
        return;
      }
      count(r, *rep, sums->by_epoch[rep->epoch]);
      finish(rep->epoch);
    },
    [on_flight](flight_atom, flight_report_ptr& f) mutable { on_flight(f); },
    [self, finish](remote_count_atom, remote_count_ptr& rep) {
      auto& st = self->state;
      if (rep->epoch <= st.done_up_to)
        return;
      auto& r = st.rounds[rep->epoch];
      if (!r.ctx) {
        r.early_remote.push_back(std::move(rep));
        return;
      }
      on_remote(r, *rep);
      finish(rep->epoch);
    },
    [on_flight](lost_atom, flight_report_ptr& f) mutable { on_flight(f); },
    [self, finish, apply_exit](stop_atom, exit_report_ptr& x) {
      auto& st = self->state;
      st.exits.by_seq.emplace(x->removal_seq, x);
      std::vector<uint64_t> epochs;
      for (auto& [epoch, r] : st.rounds) {
        if (r.ctx)
          apply_exit(r, *x);
        epochs.push_back(epoch);
      }
      for (auto e : epochs)
        finish(e);
    },
    [self](stalled_atom, uint64_t epoch) -> std::string {
      auto i = self->state.rounds.find(epoch);
      if (i == self->state.rounds.end() || !i->second.ctx)
        return std::string();
      auto& r = i->second;
      auto out = r.ledger.stalled();
      if (!r.remote_pending.empty()) {
        std::string members;
        for (auto& m : r.remote_pending)
          members += (members.empty() ? "'" : ", '") + m + "'";
        out += (out.empty() ? "" : "; ") + std::string("no marker yet from member(s) ") + members;
      }
      return out;
    },
    [self, sums](abort_atom, uint64_t epoch) {
      close_rounds_through(self->state, epoch);
      sums->by_epoch.erase(sums->by_epoch.begin(), sums->by_epoch.upper_bound(epoch));
    },
  };
}

} // namespace amber
