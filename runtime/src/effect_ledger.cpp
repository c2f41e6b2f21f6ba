#include "amber/runtime/effect_ledger.hpp"

#include "amber/checkpoint/serial.hpp"
#include "amber/storage/digest.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace amber {

namespace {

using clock_type = std::chrono::steady_clock;

std::chrono::milliseconds since(clock_type::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t);
}

// '/' separates the parts of a transaction id, so names escape it.
std::string escaped(const std::string& name) {
  std::string out;
  for (char c : name) {
    if (c == '%')
      out += "%25";
    else if (c == '/')
      out += "%2F";
    else
      out += c;
  }
  return out;
}

// "<inc>.<epoch>": what follows a node's prefix in one of its transaction ids.
bool is_txn_suffix(const std::string& s) {
  auto dot = s.find('.');
  auto digits = [](const std::string& t) {
    return !t.empty() && std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  return dot != std::string::npos && digits(s.substr(0, dot)) && digits(s.substr(dot + 1));
}

/// A sink is user code: what it throws is its call's error, not the end of
/// the sink's thread (std::terminate).
template <class Call>
auto guarded(const std::string& what, Call&& call) -> decltype(call()) {
  try {
    return call();
  } catch (const std::exception& e) {
    return status::io_error(what + " threw: " + e.what());
  } catch (...) {
    return status::io_error(what + " threw an exception");
  }
}

} // namespace

// Everything the ledger knows, shared with the sinks' threads (which may
// outlive the ledger when a sink hangs at shutdown).
struct effect_ledger::state {
  enum class stage : uint8_t { issued, ready, applying, in_txn };

  struct entry {
    std::shared_ptr<const effect> e; ///< Shared with the segment being encoded.
    uint64_t epoch = 0; ///< The epoch of the handler that issued it.
    stage at = stage::issued;
    std::string txn; ///< Set while in_txn.
    int64_t seg = -1; ///< The segment that lists it; -1: not listed yet.
  };
  /// Effects first listed by one cut (see effect_segment): stored once,
  /// referenced by later layers until all its effects are settled.
  struct segment {
    digest id;
    uint64_t bytes = 0;
    uint64_t epoch = 0;           ///< The cut that listed it.
    std::vector<uint64_t> ids;    ///< Its effects.
    size_t settled = 0;           ///< How many of them are settled.
    bool listed_settled = false;  ///< A cut listed it with all settled: drop it next.
  };
  enum class txn_state : uint8_t { preparing, prepared, committing, aborting };
  struct txn {
    std::string sink;
    uint64_t epoch = 0; ///< The cut that prepared it (0: restored).
    txn_state at = txn_state::preparing;
    bool abort_requested = false;
    bool queued = false; ///< A commit or abort call is queued or running.
    clock_type::time_point prepared_at;
    std::vector<uint64_t> entries;
  };
  /// One cut's prepares: `prepared` is told when all are done or one failed.
  struct cut_wait {
    size_t remaining = 0;
    std::function<void(status)> prepared;
  };
  struct worker {
    std::shared_ptr<effect_sink> sink;
    std::deque<std::function<void()>> jobs;
    std::thread thread;
    bool busy = false;
    bool apply_queued = false;
    std::deque<uint64_t> ready; ///< Idempotent: ids to apply, in issue order.
    std::string op; ///< What the running call does (for `busy()`).
    clock_type::time_point op_start;
  };

  mutable std::mutex mutex;
  std::condition_variable work_cv; ///< Workers wait for jobs.
  std::condition_variable idle_cv; ///< `deliver` and `shutdown` wait for idle workers.
  bool stopping = false;
  std::string node = "node";
  uint64_t incarnation = 0;
  std::map<std::string, std::unique_ptr<worker>> workers;
  std::map<uint64_t, entry> pending; ///< By id: issue order.
  std::map<int64_t, segment> segments; ///< Live, by number.
  int64_t next_segment = 0;
  std::set<uint64_t> settled;          ///< Ids of live segments that are settled.
  /// Ids not listed by a segment yet, in issue order: a cut looks at these
  /// only, not at every pending effect.
  std::deque<uint64_t> unlisted;
  /// Per cut: its idempotent effects, ready once a snapshot at or after it commits.
  std::map<uint64_t, std::vector<uint64_t>> listed_idempotent;
  std::map<std::string, txn> txns;
  std::map<uint64_t, cut_wait> cuts;
  uint64_t next_id = 1;
  /// The cuts whose layer was taken (a commit of another is ignored).
  std::map<uint64_t, uint64_t> listed;
  stats_t stats;

  /// Callbacks run under this (not `mutex`); `shutdown` takes it to know
  /// that none runs any more.
  std::mutex callback_mutex;
  bool listening = true;

  std::string prefix(const std::string& sink) const {
    return "amber/" + escaped(node) + "/" + escaped(sink) + "/";
  }

  void fail(status st) { // Under mutex.
    ++stats.failures;
    stats.last_error = std::move(st);
  }

  void make_ready(uint64_t id, entry& p) { // Under mutex; idempotent sinks only.
    p.at = stage::ready;
    if (auto* w = find(p.e->sink))
      w->ready.push_back(id);
  }

  void settle(const entry& p, uint64_t id) { // Under mutex.
    auto seg = segments.find(p.seg);
    if (seg == segments.end())
      return; // Never listed (restored, performed before the first cut).
    if (settled.insert(id).second)
      ++seg->second.settled;
  }

  void finish(uint64_t id) { // Under mutex: `id` was performed.
    auto i = pending.find(id);
    if (i == pending.end())
      return;
    settle(i->second, id);
    pending.erase(i);
    ++stats.delivered;
  }

  /// Under mutex: `id` leaves its transaction; it becomes a new entry,
  /// listed anew by the next cut (its segment says the old transaction).
  void relist(uint64_t id) {
    auto i = pending.find(id);
    if (i == pending.end())
      return;
    auto p = std::move(i->second);
    settle(p, id);
    pending.erase(i);
    p.at = stage::issued;
    p.txn.clear();
    p.seg = -1;
    unlisted.push_back(next_id);
    pending.emplace(next_id++, std::move(p));
  }

  void post(worker& w, std::function<void()> job) { // Under mutex.
    w.jobs.push_back(std::move(job));
    work_cv.notify_all();
  }

  worker* find(const std::string& sink) { // Under mutex.
    auto i = workers.find(sink);
    return i == workers.end() ? nullptr : i->second.get();
  }

  void notify_cut(uint64_t epoch, const status& st) { // Under mutex; calls outside.
    auto i = cuts.find(epoch);
    if (i == cuts.end())
      return;
    if (st.is_ok() && --i->second.remaining > 0)
      return;
    auto cb = std::move(i->second.prepared);
    cuts.erase(i);
    if (!cb)
      return;
    // Called on this thread, but not under `mutex` (it may send a message).
    later.push_back([cb = std::move(cb), st] { cb(st); });
  }
  std::vector<std::function<void()>> later; ///< Callbacks to run after unlocking.

  void run_later(std::unique_lock<std::mutex>& lock) {
    auto calls = std::move(later);
    later.clear();
    lock.unlock();
    std::lock_guard<std::mutex> guard(callback_mutex);
    if (!listening)
      return;
    for (auto& c : calls)
      c();
  }

  // -- jobs (run on a sink's thread) ----------------------------------------------

  void apply_batch(worker& w, idempotent_sink& sink) {
    // Batches: one sink call (for the file sink one write) and two lock
    // holds for up to `batch` effects, not per effect.
    constexpr size_t batch = 4096;
    std::unique_lock<std::mutex> lock(mutex);
    for (;;) {
      std::vector<uint64_t> ids;
      std::vector<effect> effects;
      while (!w.ready.empty() && ids.size() < batch) {
        auto id = w.ready.front();
        w.ready.pop_front();
        auto p = pending.find(id);
        if (p == pending.end() || p->second.at != stage::ready)
          continue;
        p->second.at = stage::applying;
        ids.push_back(id);
        effects.push_back(*p->second.e);
      }
      if (ids.empty() || stopping) {
        w.apply_queued = false;
        return;
      }
      w.op = "apply of effect " + effects.front().key
             + (ids.size() > 1 ? " and " + std::to_string(ids.size() - 1) + " more" : "");
      w.op_start = clock_type::now();
      lock.unlock();
      size_t performed = 0;
      auto st = guarded("effect sink '" + sink.name() + "'",
                        [&] { return sink.apply_all(effects, &performed); });
      lock.lock();
      performed = std::min(performed, ids.size());
      for (size_t i = 0; i < performed; ++i)
        finish(ids[i]);
      for (size_t i = performed; i < ids.size(); ++i)
        if (auto j = pending.find(ids[i]); j != pending.end())
          j->second.at = stage::ready;
      // Back to the front, in order: the sink's later effects wait for them.
      w.ready.insert(w.ready.begin(), ids.begin() + static_cast<std::ptrdiff_t>(performed),
                     ids.end());
      if (!st.is_ok() || performed < ids.size()) {
        // Keep the sink's order: its later effects wait for this one.
        auto& key = effects[performed < ids.size() ? performed : 0].key;
        if (st.is_ok())
          st = status(errc::internal, "the sink performed only part of a batch without an error");
        fail(st.with_context("effect " + key + " to sink '" + sink.name()
                             + "' (still pending; retried after the next checkpoint)"));
        w.apply_queued = false;
        return;
      }
    }
  }

  void prepare(worker& w, transactional_sink& sink, const std::string& id) {
    std::unique_lock<std::mutex> lock(mutex);
    auto t = txns.find(id);
    if (t == txns.end())
      return;
    uint64_t epoch = t->second.epoch;
    if (t->second.abort_requested) { // Never prepared: nothing to abort.
      txns.erase(t);
      notify_cut(epoch, status(errc::aborted, "transaction " + id + " was aborted"));
      run_later(lock);
      return;
    }
    std::vector<effect> effects;
    for (auto e : t->second.entries)
      if (auto p = pending.find(e); p != pending.end())
        effects.push_back(*p->second.e);
    w.op = "prepare of transaction " + id;
    w.op_start = clock_type::now();
    lock.unlock();
    auto st = guarded("effect sink '" + sink.name() + "'",
                      [&] { return sink.prepare(id, effects); });
    lock.lock();
    t = txns.find(id);
    if (t == txns.end())
      return;
    if (st.is_ok()) {
      t->second.at = txn_state::prepared;
      t->second.prepared_at = clock_type::now();
      // An abort requested meanwhile is queued behind this call.
      notify_cut(epoch, t->second.abort_requested
                          ? status(errc::aborted, "transaction " + id + " was aborted")
                          : status::ok());
    } else {
      st = st.with_context("preparing transaction " + id + " of effect sink '" + sink.name()
                           + "' (the checkpoint aborts; its effects go into the next one)");
      fail(st);
      release(id);
      notify_cut(epoch, st);
    }
    run_later(lock);
  }

  void commit(worker& w, transactional_sink& sink, const std::string& id) {
    std::unique_lock<std::mutex> lock(mutex);
    auto t = txns.find(id);
    if (t == txns.end() || t->second.at != txn_state::committing)
      return;
    w.op = "commit of transaction " + id;
    w.op_start = clock_type::now();
    lock.unlock();
    auto st = guarded("effect sink '" + sink.name() + "'", [&] { return sink.commit(id); });
    lock.lock();
    t = txns.find(id);
    if (t == txns.end())
      return;
    t->second.queued = false;
    if (st.is_ok()) {
      for (auto e : t->second.entries)
        finish(e);
      txns.erase(t);
    } else if (st.is_not_found()) {
      // Aborted behind our back (or by a restore of an older snapshot):
      // its effects go into the next cut's transaction.
      fail(st.with_context("committing transaction " + id + " of effect sink '" + sink.name()
                           + "' (its effects are prepared again in the next checkpoint)"));
      release(id);
    } else {
      t->second.at = txn_state::prepared;
      fail(st.with_context("committing transaction " + id + " of effect sink '" + sink.name()
                           + "' (still prepared; retried after the next checkpoint)"));
    }
  }

  void abort(worker& w, transactional_sink& sink, const std::string& id) {
    std::unique_lock<std::mutex> lock(mutex);
    auto t = txns.find(id);
    if (t == txns.end())
      return;
    if (t->second.at == txn_state::preparing) { // Its prepare failed or was skipped.
      txns.erase(t);
      return;
    }
    w.op = "abort of transaction " + id;
    w.op_start = clock_type::now();
    lock.unlock();
    auto st = guarded("effect sink '" + sink.name() + "'", [&] { return sink.abort(id); });
    lock.lock();
    t = txns.find(id);
    if (t == txns.end())
      return;
    t->second.queued = false;
    if (st.is_ok())
      txns.erase(t);
    else
      fail(st.with_context("aborting transaction " + id + " of effect sink '" + sink.name()
                           + "' (retried after the next checkpoint)"));
  }

  /// Under mutex: `id`'s effects leave it (they go into the next cut).
  void release(const std::string& id) {
    auto t = txns.find(id);
    if (t == txns.end())
      return;
    auto entries = std::move(t->second.entries);
    t->second.entries.clear();
    if (t->second.at == txn_state::preparing || t->second.at == txn_state::committing)
      txns.erase(t);
    for (auto e : entries)
      relist(e);
  }

  // -- queuing (under mutex) ---------------------------------------------------

  void queue_apply(worker& w) {
    if (w.apply_queued)
      return;
    w.apply_queued = true;
    auto* sink = static_cast<idempotent_sink*>(w.sink.get());
    post(w, [this, &w, sink] { apply_batch(w, *sink); });
  }

  void queue_commit(const std::string& id, txn& t) {
    auto* w = find(t.sink);
    if (!w || t.queued)
      return;
    t.queued = true;
    t.at = txn_state::committing;
    auto* sink = static_cast<transactional_sink*>(w->sink.get());
    post(*w, [this, w, sink, id] { commit(*w, *sink, id); });
  }

  void queue_abort(const std::string& id, txn& t) {
    auto* w = find(t.sink);
    if (!w || t.queued)
      return;
    t.queued = true;
    auto* sink = static_cast<transactional_sink*>(w->sink.get());
    post(*w, [this, w, sink, id] { abort(*w, *sink, id); });
  }

  /// Queues whatever waits for a retry: ready effects, prepared
  /// transactions of committed snapshots, aborts that failed.
  void queue_retries() {
    for (auto& [name, w] : workers)
      if (w->sink->kind() == sink_kind::idempotent && !w->ready.empty())
        queue_apply(*w);
    for (auto& [id, t] : txns) {
      if (t.queued)
        continue;
      if (t.abort_requested)
        queue_abort(id, t);
      else if (t.at == txn_state::prepared && committable.count(id))
        queue_commit(id, t);
    }
  }
  /// Prepared transactions whose snapshot committed (commit retried until done).
  std::set<std::string> committable;

  bool all_idle() const { // Under mutex.
    for (auto& [name, w] : workers)
      if (w->busy || !w->jobs.empty())
        return false;
    return true;
  }

  std::string busiest() const { // Under mutex.
    const worker* slowest = nullptr;
    for (auto& [name, w] : workers)
      if (w->busy && !w->op.empty() && (!slowest || w->op_start < slowest->op_start))
        slowest = w.get();
    if (!slowest)
      return {};
    return "effect sink '" + slowest->sink->name() + "' has been in " + slowest->op + " for "
           + std::to_string(since(slowest->op_start).count()) + " ms";
  }

  void run(worker& w) {
    std::unique_lock<std::mutex> lock(mutex);
    for (;;) {
      work_cv.wait(lock, [&] { return stopping || !w.jobs.empty(); });
      if (stopping)
        break;
      auto job = std::move(w.jobs.front());
      w.jobs.pop_front();
      w.busy = true;
      lock.unlock();
      job();
      lock.lock();
      w.busy = false;
      w.op.clear();
      idle_cv.notify_all();
    }
    w.busy = false;
    idle_cv.notify_all();
  }
};

effect_ledger::effect_ledger() : s_(std::make_shared<state>()) {}

effect_ledger::~effect_ledger() {
  shutdown();
}

void effect_ledger::set_identity(const std::string& node, uint64_t incarnation) {
  std::lock_guard<std::mutex> guard(s_->mutex);
  s_->node = node;
  s_->incarnation = incarnation;
}

status effect_ledger::add_sink(std::shared_ptr<effect_sink> sink) {
  if (!sink || sink->name().empty())
    return status::invalid_argument("an effect sink needs a name");
  std::lock_guard<std::mutex> guard(s_->mutex);
  auto name = sink->name();
  if (s_->workers.count(name))
    return status::invalid_argument("the node has an effect sink named '" + name + "' already");
  if (s_->stopping)
    return status(errc::invalid_argument, "the node is shutting down");
  auto w = std::make_unique<state::worker>();
  w->sink = std::move(sink);
  // The thread holds the state, not the ledger: a sink hung at shutdown
  // finishes on its own later.
  w->thread = std::thread([s = s_, raw = w.get()] { s->run(*raw); });
  s_->workers.emplace(name, std::move(w));
  return status::ok();
}

bool effect_ledger::has_sink(const std::string& name) const {
  std::lock_guard<std::mutex> guard(s_->mutex);
  return s_->workers.count(name) > 0;
}

void effect_ledger::issue(uint64_t epoch, effect e) {
  auto shared = std::make_shared<const effect>(std::move(e)); // Allocated outside the lock.
  std::lock_guard<std::mutex> guard(s_->mutex);
  s_->unlisted.push_back(s_->next_id);
  s_->pending.emplace(s_->next_id++,
                      state::entry{std::move(shared), epoch, state::stage::issued, {}, -1});
  ++s_->stats.issued;
}

effect_ledger::cut_listing effect_ledger::begin_cut(uint64_t epoch,
                                                    std::function<void(status)> prepared) {
  cut_listing out;
  std::vector<std::pair<uint64_t, std::shared_ptr<const effect>>> fresh_entries;
  std::vector<std::string> fresh_txns; // Per fresh entry: its transaction, or "".
  std::map<std::string, std::string> fresh; // sink -> its new transaction of this cut
  int64_t seg_no = -1;
  {
    std::lock_guard<std::mutex> guard(s_->mutex);
    auto& s = *s_;
    // Segments a cut listed fully settled are dropped; fully settled ones
    // are listed once more (their effects show as committed once).
    for (auto it = s.segments.begin(); it != s.segments.end();) {
      auto& seg = it->second;
      if (seg.settled < seg.ids.size()) {
        ++it;
        continue;
      }
      if (!seg.listed_settled) {
        seg.listed_settled = true;
        ++it;
        continue;
      }
      for (auto id : seg.ids)
        s.settled.erase(id);
      it = s.segments.erase(it);
    }
    std::deque<uint64_t> later;
    auto& idempotent = s.listed_idempotent[epoch];
    for (auto id : s.unlisted) {
      auto i = s.pending.find(id);
      if (i == s.pending.end() || i->second.seg >= 0)
        continue; // Performed (a restored effect) or listed already.
      auto& p = i->second;
      if (p.at == state::stage::issued && p.epoch >= epoch) {
        later.push_back(id); // Issued after the cut: the next snapshot's.
        continue;
      }
      std::string txn = p.txn;
      auto* w = s.find(p.e->sink);
      if (p.at != state::stage::in_txn && w && w->sink->kind() == sink_kind::transactional) {
        auto& t_id = fresh[p.e->sink];
        if (t_id.empty()) {
          t_id = s.prefix(p.e->sink) + std::to_string(s.incarnation) + "." + std::to_string(epoch);
          auto& t = s.txns[t_id];
          t = state::txn{};
          t.sink = p.e->sink;
          t.epoch = epoch;
        }
        p.at = state::stage::in_txn;
        p.txn = t_id;
        s.txns[t_id].entries.push_back(id);
        txn = t_id;
      }
      if (seg_no < 0)
        seg_no = s.next_segment++;
      p.seg = seg_no;
      if (p.at == state::stage::issued && w && w->sink->kind() == sink_kind::idempotent)
        idempotent.push_back(id);
      fresh_entries.emplace_back(id, p.e);
      fresh_txns.push_back(p.at == state::stage::in_txn ? txn : std::string());
    }
    s.unlisted = std::move(later);
    // Read with the listing, not after encoding: a transaction found
    // aborted meanwhile settles its old ids and relists the effects under
    // new ones, which this cut no longer lists (they would be lost).
    for (auto id : s.settled) {
      if (!out.layer.settled.empty() && out.layer.settled.back().second + 1 == id)
        out.layer.settled.back().second = id;
      else
        out.layer.settled.emplace_back(id, id);
    }
    if (seg_no >= 0) {
      auto& seg = s.segments[seg_no];
      seg.epoch = epoch;
      for (auto& [id, e] : fresh_entries)
        seg.ids.push_back(id);
    }
    s.listed[epoch] = 0;
    if (!fresh.empty())
      s.cuts[epoch] = {fresh.size(), prepared};
  }
  // Encoded outside the lock: components keep issuing meanwhile.
  if (seg_no >= 0) {
    effect_segment seg;
    seg.entries.reserve(fresh_entries.size());
    for (size_t i = 0; i < fresh_entries.size(); ++i) {
      auto& [id, e] = fresh_entries[i];
      seg.entries.push_back({id, e->component, e->sink, e->key,
                             fresh_txns[i].empty() ? uint8_t{effect_record::pending}
                                                   : uint8_t{effect_record::prepared},
                             e->payload, fresh_txns[i]});
    }
    blob_put put;
    put.bytes = encode(seg);
    put.id = sha256(put.bytes);
    std::lock_guard<std::mutex> guard(s_->mutex);
    if (auto i = s_->segments.find(seg_no); i != s_->segments.end()) {
      i->second.id = put.id;
      i->second.bytes = put.bytes.size();
    }
    out.segment = std::move(put);
  }
  {
    std::lock_guard<std::mutex> guard(s_->mutex);
    auto& s = *s_;
    for (auto& [no, seg] : s.segments) {
      if (seg.epoch > epoch)
        continue;
      out.layer.segments.push_back(seg.id);
      ++out.segment_blobs;
      out.segment_bytes += seg.bytes;
    }
    for (auto& [sink, id] : fresh) {
      auto* w = s.find(sink);
      auto* ts = static_cast<transactional_sink*>(w->sink.get());
      s.post(*w, [sp = s_.get(), w, ts, id = id] { sp->prepare(*w, *ts, id); });
    }
  }
  if (fresh.empty() && prepared)
    prepared(status::ok());
  return out;
}

void effect_ledger::abort_cut(uint64_t epoch) {
  std::unique_lock<std::mutex> lock(s_->mutex);
  auto& s = *s_;
  s.listed.erase(epoch);
  for (auto& [id, t] : s.txns) {
    if (t.epoch != epoch || t.abort_requested)
      continue;
    t.abort_requested = true;
    // Its effects go into the next cut at once; the abort call runs after
    // a prepare still in progress (one thread per sink, in order).
    for (auto e : t.entries)
      if (auto p = s.pending.find(e); p != s.pending.end()) {
        p->second.at = state::stage::issued;
        p->second.txn.clear();
      }
    t.entries.clear();
    s.queue_abort(id, t);
  }
  // The cut's segment was never committed: its effects are listed anew.
  for (auto it = s.segments.begin(); it != s.segments.end();) {
    if (it->second.epoch != epoch) {
      ++it;
      continue;
    }
    for (auto id : it->second.ids) {
      s.settled.erase(id);
      if (auto p = s.pending.find(id); p != s.pending.end()) {
        p->second.seg = -1;
        s.unlisted.push_back(id);
      }
    }
    it = s.segments.erase(it);
  }
  std::sort(s.unlisted.begin(), s.unlisted.end()); // Issue order again.
  s.listed_idempotent.erase(epoch);
  s.notify_cut(epoch, status(errc::aborted, "cut " + std::to_string(epoch) + " was aborted"));
  s.later.clear(); // The coordinator knows: no callback for an aborted cut.
}

void effect_ledger::committed(uint64_t epoch) {
  std::lock_guard<std::mutex> guard(s_->mutex);
  auto& s = *s_;
  auto i = s.listed.find(epoch);
  if (i == s.listed.end())
    return; // Its layer was never taken: nothing of it is known.
  s.listed.erase(s.listed.begin(), std::next(i)); // Earlier ones were aborted.
  for (auto it = s.listed_idempotent.begin();
       it != s.listed_idempotent.end() && it->first <= epoch;) {
    for (auto id : it->second)
      if (auto p = s.pending.find(id); p != s.pending.end() && p->second.at == state::stage::issued)
        s.make_ready(id, p->second);
    it = s.listed_idempotent.erase(it);
  }
  for (auto& [id, t] : s.txns)
    if (t.epoch <= epoch && !t.abort_requested
        && (t.at == state::txn_state::prepared || t.at == state::txn_state::committing))
      s.committable.insert(id);
  for (auto it = s.committable.begin(); it != s.committable.end();)
    it = s.txns.count(*it) ? std::next(it) : s.committable.erase(it);
  s.queue_retries();
}

status effect_ledger::restore(const effects_layer& layer, std::chrono::milliseconds timeout) {
  auto& s = *s_;
  std::vector<std::pair<std::string, std::shared_ptr<transactional_sink>>> tx_sinks;
  std::set<std::string> listed_txns;
  {
    std::lock_guard<std::mutex> guard(s.mutex);
    for (auto& r : layer.entries) {
      if (r.state == effect_record::committed || r.state == effect_record::aborted)
        continue;
      auto id = s.next_id++;
      state::entry p{std::make_shared<const effect>(effect{r.sink, r.key, r.component, r.payload}),
                     0, state::stage::issued, {}, -1};
      auto* w = s.find(r.sink);
      if (r.state == effect_record::prepared) {
        if (!w || w->sink->kind() != sink_kind::transactional)
          return status(errc::invalid_argument,
                        "the snapshot lists transaction " + r.txn + " of effect sink '" + r.sink
                          + "', which the restored node does not have as a transactional sink "
                            "(restore_options::sinks)");
        p.at = state::stage::in_txn;
        p.txn = r.txn;
        auto& t = s.txns[r.txn];
        t.sink = r.sink;
        t.at = state::txn_state::prepared;
        t.prepared_at = clock_type::now();
        t.entries.push_back(id);
        listed_txns.insert(r.txn);
        s.committable.insert(r.txn);
      } else if (!w || w->sink->kind() == sink_kind::idempotent) {
        s.make_ready(id, p); // Without its sink it waits, listed, for a node that has one.
      }
      s.unlisted.push_back(id);
      s.pending.emplace(id, std::move(p));
    }
    for (auto& [name, w] : s.workers)
      if (w->sink->kind() == sink_kind::transactional)
        tx_sinks.emplace_back(s.prefix(name),
                              std::static_pointer_cast<transactional_sink>(w->sink));
  }
  // In-doubt transactions of this node that the snapshot does not list
  // belong to a future the restore discards: abort them before any
  // component runs (their rows would block the re-issued keys).
  for (auto& [prefix, sink] : tx_sinks) {
    // Copies: the task may outlive this call when the sink hangs.
    auto task = std::make_shared<std::packaged_task<status()>>([prefix = prefix, sink = sink,
                                                               listed = listed_txns]() -> status {
      auto what = "effect sink '" + sink->name() + "'";
      auto ids = guarded(what, [&] { return sink->in_doubt(prefix); });
      if (!ids)
        return ids.error().with_context("listing the in-doubt transactions of effect sink '"
                                         + sink->name() + "'");
      for (auto& id : *ids) {
        if (id.compare(0, prefix.size(), prefix) != 0 || !is_txn_suffix(id.substr(prefix.size()))
            || listed.count(id))
          continue;
        if (auto st = guarded(what, [&] { return sink->abort(id); }); !st.is_ok())
          return st.with_context("aborting in-doubt transaction " + id + " of effect sink '"
                                 + sink->name() + "'");
      }
      return status::ok();
    });
    auto done = task->get_future();
    {
      std::lock_guard<std::mutex> guard(s.mutex);
      auto* w = s.find(sink->name());
      s.post(*w, [sp = &s, w, task] {
        {
          std::lock_guard<std::mutex> guard(sp->mutex);
          w->op = "recovery of its in-doubt transactions";
          w->op_start = clock_type::now();
        }
        (*task)();
      });
    }
    if (done.wait_for(timeout) != std::future_status::ready)
      return status(errc::timeout, "effect sink '" + sink->name()
                                     + "' did not list and abort its in-doubt transactions "
                                       "within "
                                     + std::to_string(timeout.count()) + " ms");
    if (auto st = done.get(); !st.is_ok())
      return st;
  }
  std::lock_guard<std::mutex> guard(s.mutex);
  s.queue_retries(); // Commits the listed transactions, applies the pending effects.
  return status::ok();
}

void effect_ledger::retry() {
  std::lock_guard<std::mutex> guard(s_->mutex);
  s_->queue_retries();
}

status effect_ledger::deliver(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(s_->mutex);
  auto failures = s_->stats.failures;
  s_->queue_retries();
  if (!s_->idle_cv.wait_for(lock, timeout, [&] { return s_->all_idle(); })) {
    auto what = s_->busiest();
    return status(errc::timeout, what.empty() ? "the effect sinks did not finish in time"
                                              : what);
  }
  if (s_->stats.failures > failures)
    return s_->stats.last_error;
  return status::ok();
}

std::string effect_ledger::busy() const {
  std::lock_guard<std::mutex> guard(s_->mutex);
  return s_->busiest();
}

void effect_ledger::shutdown(std::chrono::milliseconds grace) {
  {
    std::lock_guard<std::mutex> guard(s_->callback_mutex);
    s_->listening = false;
  }
  std::vector<std::unique_ptr<state::worker>> workers;
  {
    std::unique_lock<std::mutex> lock(s_->mutex);
    // Only threads left to finish a hung call remain after a first call:
    // nothing to wait for or detach again (a second detach throws).
    if (s_->stopping
        && std::none_of(s_->workers.begin(), s_->workers.end(),
                        [](auto& w) { return w.second->thread.joinable(); }))
      return;
    s_->stopping = true;
    s_->work_cv.notify_all();
    // Their callbacks hold actor handles, which must not outlive the system.
    s_->cuts.clear();
    s_->later.clear();
    s_->idle_cv.wait_for(lock, grace, [&] {
      for (auto& [name, w] : s_->workers)
        if (w->busy)
          return false;
      return true;
    });
    for (auto& [name, w] : s_->workers) {
      w->jobs.clear();
      if (w->busy) {
        // Hung in a sink call: leave the thread to finish it; it holds the
        // state (and the worker, left in the map) alive.
        w->thread.detach();
        continue;
      }
      workers.push_back(std::move(w));
    }
    for (auto it = s_->workers.begin(); it != s_->workers.end();)
      it = it->second ? std::next(it) : s_->workers.erase(it);
  }
  for (auto& w : workers)
    if (w->thread.joinable())
      w->thread.join();
}

effect_ledger::stats_t effect_ledger::stats() const {
  std::lock_guard<std::mutex> guard(s_->mutex);
  auto out = s_->stats;
  out.pending = s_->pending.size();
  auto now = clock_type::now();
  for (auto& [id, t] : s_->txns) {
    if (t.at != state::txn_state::prepared && t.at != state::txn_state::committing)
      continue;
    ++out.prepared_txns;
    out.oldest_prepared = std::max(out.oldest_prepared,
                                   std::chrono::duration_cast<std::chrono::milliseconds>(
                                     now - t.prepared_at));
  }
  return out;
}

} // namespace amber
