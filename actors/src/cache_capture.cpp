#include <cstring>
#include <set>
#include <unordered_set>

#include "amber/checkpoint/serial.hpp"
#include "amber/checkpoint/snapshot.hpp"
#include "amber/runtime/atoms.hpp"
#include "amber/runtime/error.hpp"
#include "cut_captures.hpp"

namespace amber {

namespace {

using state_type = cache_capture_state;

struct digest_hash {
  size_t operator()(const digest& d) const noexcept {
    size_t h;
    std::memcpy(&h, d.bytes.data(), sizeof(h)); // A digest's bytes are uniform already.
    return h;
  }
};
using self_ptr = caf::stateful_actor<state_type>*;

struct member_state {
  component_info_ptr info;
  std::string bytes;   ///< Empty when reused.
  std::string runtime;
  std::pair<digest, uint64_t> blob; ///< The reused blob, when not changed.
  bool changed = false;
};

// The CPU-heavy part, run by the worker: hash the changed states, build the
// layer index.
result<capture_result> build_cache(std::vector<member_state>& members) {
  std::vector<std::string_view> changed;
  for (auto& m : members)
    if (m.changed)
      changed.push_back(m.bytes);
  auto ids = sha256_all(changed);
  capture_result out;
  cache_layer layer;
  layer.components.reserve(members.size());
  std::unordered_set<digest, digest_hash> distinct;
  distinct.reserve(members.size());
  std::set<std::pair<std::string, std::string>> types;
  uint64_t distinct_bytes = 0;
  size_t next = 0;
  for (auto& m : members) {
    auto& c = *m.info;
    auto blob = m.changed ? std::make_pair(ids[next++], uint64_t{m.bytes.size()}) : m.blob;
    if (!m.changed)
      ++out.reused;
    out.states[c.id] = blob;
    component_record rec;
    rec.instance_id = c.id;
    rec.name = c.name;
    rec.type_name = c.type_name;
    rec.package = c.package;
    rec.state_version = c.state_version;
    rec.state_class_version = c.state_class_version;
    rec.graph = c.graph;
    rec.state = blob.first;
    rec.state_size = blob.second;
    rec.params = c.params;
    rec.runtime = std::move(m.runtime);
    layer.components.push_back(std::move(rec));
    if (types.emplace(c.type_name, c.package.name + "@" + c.package.version).second)
      out.types.push_back({c.type_name, c.package, c.state_version});
    if (distinct.insert(blob.first).second) {
      out.references.push_back(blob.first);
      distinct_bytes += blob.second;
      if (m.changed)
        out.blobs.push_back({blob.first, std::move(m.bytes)});
    }
  }
  std::sort(out.types.begin(), out.types.end(),
            [](const component_type_record& a, const component_type_record& b) {
              return a.type_name < b.type_name;
            });
  out.components = members.size();
  add_layer(layer_kind::cache, encode(layer), distinct.size(), distinct_bytes, out);
  return out;
}

void abort_round(self_ptr self, uint64_t epoch, caf::response_promise promise,
                 const status& why) {
  promise.deliver(to_caf_error(why));
  close_rounds_through(self->state, epoch);
}

// Once the request is in and every member has reported, hands the hashing
// to the worker and answers the coordinator when it is done.
void try_finish(self_ptr self, uint64_t epoch) {
  auto& st = self->state;
  auto i = st.rounds.find(epoch);
  if (i == st.rounds.end() || !i->second.ctx || !i->second.ledger.all_reported())
    return;
  auto& r = i->second;
  auto promise = r.promise;
  auto members = std::make_shared<std::vector<member_state>>();
  auto infos = r.ledger.members();
  members->reserve(infos.size());
  for (auto& info : infos) {
    auto& rep = r.reports.at(info->id);
    member_state m;
    m.info = info;
    m.changed = rep->changed;
    if (m.changed) {
      // The trace capture never reads these (see cut_report.hpp).
      m.bytes = std::move(rep->state);
      m.runtime = std::move(rep->runtime);
    } else {
      auto known = st.last.find(info->id);
      if (known == st.last.end() || known->second.epoch != rep->blob_epoch) {
        // Its bytes went to a cut this capture dropped: the blob we hold is
        // older than the state it reports unchanged. Abort; the next cut
        // serializes everything afresh.
        abort_round(self, epoch, promise,
                    status(errc::aborted, "component '" + info->name
                                            + "' reported an unchanged state whose bytes "
                                              "this capture does not hold"));
        return;
      }
      m.blob = {known->second.blob, known->second.size};
      m.runtime = known->second.runtime;
    }
    members->push_back(std::move(m));
  }
  close_rounds_through(st, epoch);
  // Members that exited are forgotten only now: one that reported
  // "unchanged" before it exited needed its blob until this cut completed.
  // No later cut has them.
  std::set<uint32_t> exited(st.exited.begin(), st.exited.end());
  for (auto id : exited)
    st.last.erase(id);
  st.exited.clear();
  // The changed members (and their runtime records), for reuse by later cuts.
  auto changed = std::make_shared<std::vector<std::pair<uint32_t, std::string>>>();
  for (auto& m : *members)
    if (m.changed && exited.count(m.info->id) == 0)
      changed->emplace_back(m.info->id, m.runtime);
  auto job = std::make_shared<const capture_job>(
    [members] { return build_cache(*members); });
  self->request(st.worker, caf::infinite, work_atom::value, capture_job_ptr{job})
    .then(
      [self, promise, epoch, changed](capture_result_ptr& res) mutable {
        for (auto& [id, runtime] : *changed) {
          auto& blob = res->states.at(id);
          self->state.last[id] = {blob.first, blob.second, epoch, std::move(runtime)};
        }
        promise.deliver(std::move(res));
      },
      [promise](caf::error& err) mutable { promise.deliver(std::move(err)); });
}

void apply_exit(self_ptr self, state_type::round& r, const exit_report& x) {
  if (exit_matters(x, *r.ctx))
    r.ledger.on_exit(x.id, {}, x.joiners);
  (void) self;
}

} // namespace

caf::behavior cache_capture(self_ptr self) {
  self->set_default_handler(caf::drop); // Never CAF's print to stdout.
  self->state.worker = spawn_capture_worker(self->system());
  self->link_to(self->state.worker);
  return {
    [self](capture_atom, capture_context_ptr ctx) -> caf::result<capture_result_ptr> {
      auto& st = self->state;
      auto epoch = ctx->epoch();
      auto& r = open_round(self, ctx);
      auto promise = r.promise;
      r.ledger.start(ctx->start.members, {}, {});
      for (auto& [id, rep] : r.reports)
        r.ledger.on_report(id, rep->info, {}, 0, rep->joiners);
      for (auto& [seq, x] : st.exits.by_seq)
        apply_exit(self, r, *x);
      st.exits.prune_through(ctx->start.removal_seq);
      try_finish(self, epoch);
      return promise;
    },
    [self](state_atom, cut_report_ptr& rep) {
      auto& st = self->state;
      if (rep->epoch <= st.done_up_to)
        return; // A straggler of an aborted cut.
      auto& r = st.rounds[rep->epoch];
      if (!r.reports.emplace(rep->id, rep).second)
        return;
      if (r.ctx) {
        r.ledger.on_report(rep->id, rep->info, {}, 0, rep->joiners);
        try_finish(self, rep->epoch);
      }
    },
    [self](stop_atom, exit_report_ptr& x) {
      auto& st = self->state;
      st.exited.push_back(x->id); // Its blob may still be reused by a running cut.
      st.exits.by_seq.emplace(x->removal_seq, x);
      for (auto& [epoch, r] : st.rounds)
        if (r.ctx)
          apply_exit(self, r, *x);
      // Completion may now be reached; copy the keys first (try_finish
      // erases rounds).
      std::vector<uint64_t> epochs;
      for (auto& kv : st.rounds)
        epochs.push_back(kv.first);
      for (auto e : epochs)
        try_finish(self, e);
    },
    [self](abort_atom, uint64_t epoch) { close_rounds_through(self->state, epoch); },
  };
}

} // namespace amber
