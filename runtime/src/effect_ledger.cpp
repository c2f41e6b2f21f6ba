#include "amber/runtime/effect_ledger.hpp"

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

} // namespace

// Everything the ledger knows, shared with the sinks' threads (which may
// outlive the ledger when a sink hangs at shutdown).
struct effect_ledger::state {
  enum class stage : uint8_t { issued, ready, applying, in_txn };

  struct entry {
    effect e;
    uint64_t epoch = 0; ///< The epoch of the handler that issued it.
    stage at = stage::issued;
    std::string txn; ///< Set while in_txn.
  };
  struct done {
    effect e;
    uint64_t id = 0;
    uint64_t serial = 0; ///< Order of completion.
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
  std::vector<done> finished;
  std::map<std::string, txn> txns;
  std::map<uint64_t, cut_wait> cuts;
  uint64_t next_id = 1;
  uint64_t serial = 0;
  /// Per cut whose layer was taken: the last completion serial it lists.
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

  void finish(uint64_t id) { // Under mutex: `id` was performed.
    auto i = pending.find(id);
    if (i == pending.end())
      return;
    finished.push_back({std::move(i->second.e), id, ++serial});
    pending.erase(i);
    ++stats.delivered;
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
    std::unique_lock<std::mutex> lock(mutex);
    for (;;) {
      std::vector<uint64_t> ids;
      for (auto& [id, p] : pending)
        if (p.at == stage::ready && p.e.sink == sink.name())
          ids.push_back(id);
      if (ids.empty() || stopping) {
        w.apply_queued = false;
        return;
      }
      for (auto id : ids) {
        auto i = pending.find(id);
        if (i == pending.end() || i->second.at != stage::ready)
          continue;
        i->second.at = stage::applying;
        auto e = i->second.e;
        w.op = "apply of effect " + e.key;
        w.op_start = clock_type::now();
        lock.unlock();
        auto st = sink.apply(e);
        lock.lock();
        if (st.is_ok()) {
          finish(id);
          continue;
        }
        // Keep the sink's order: its later effects wait for this one.
        if (auto j = pending.find(id); j != pending.end())
          j->second.at = stage::ready;
        fail(st.with_context("effect " + e.key + " to sink '" + sink.name()
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
        effects.push_back(p->second.e);
    w.op = "prepare of transaction " + id;
    w.op_start = clock_type::now();
    lock.unlock();
    auto st = sink.prepare(id, effects);
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
    auto st = sink.commit(id);
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
    auto st = sink.abort(id);
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
    for (auto e : t->second.entries)
      if (auto p = pending.find(e); p != pending.end()) {
        p->second.at = stage::issued;
        p->second.txn.clear();
      }
    t->second.entries.clear();
    if (t->second.at == txn_state::preparing || t->second.at == txn_state::committing)
      txns.erase(t);
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
      if (w->sink->kind() == sink_kind::idempotent)
        for (auto& [id, p] : pending)
          if (p.e.sink == name && p.at == stage::ready) {
            queue_apply(*w);
            break;
          }
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
  std::lock_guard<std::mutex> guard(s_->mutex);
  s_->pending.emplace(s_->next_id++, state::entry{std::move(e), epoch, state::stage::issued, {}});
  ++s_->stats.issued;
}

effects_layer effect_ledger::begin_cut(uint64_t epoch, std::function<void(status)> prepared) {
  effects_layer out;
  std::unique_lock<std::mutex> lock(s_->mutex);
  auto& s = *s_;
  auto record = [](const effect& e, uint64_t id, uint8_t st, std::string txn = {}) {
    return effect_record{id, e.component, e.sink, e.key, st, e.payload, std::move(txn)};
  };
  for (auto& d : s.finished)
    out.entries.push_back(record(d.e, d.id, effect_record::committed));
  std::map<std::string, std::string> fresh; // sink -> its new transaction of this cut
  for (auto& [id, p] : s.pending) {
    if (p.at == state::stage::in_txn) {
      out.entries.push_back(record(p.e, id, effect_record::prepared, p.txn));
      continue;
    }
    if (p.at == state::stage::issued && p.epoch >= epoch)
      continue; // Issued after the cut: the next snapshot's.
    auto* w = s.find(p.e.sink);
    if (w && w->sink->kind() == sink_kind::transactional) {
      auto& txn = fresh[p.e.sink];
      if (txn.empty()) {
        txn = s.prefix(p.e.sink) + std::to_string(s.incarnation) + "." + std::to_string(epoch);
        auto& t = s.txns[txn];
        t = state::txn{};
        t.sink = p.e.sink;
        t.epoch = epoch;
      }
      p.at = state::stage::in_txn;
      p.txn = txn;
      s.txns[txn].entries.push_back(id);
      out.entries.push_back(record(p.e, id, effect_record::prepared, txn));
      continue;
    }
    // Idempotent (or a sink the node lacks: pending until it has one).
    out.entries.push_back(record(p.e, id, effect_record::pending));
  }
  s.listed[epoch] = s.serial;
  if (fresh.empty()) {
    lock.unlock();
    if (prepared)
      prepared(status::ok());
    return out;
  }
  s.cuts[epoch] = {fresh.size(), std::move(prepared)};
  for (auto& [sink, id] : fresh) {
    auto* w = s.find(sink);
    auto* ts = static_cast<transactional_sink*>(w->sink.get());
    s.post(*w, [sp = s_.get(), w, ts, id = id] { sp->prepare(*w, *ts, id); });
  }
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
  s.notify_cut(epoch, status(errc::aborted, "cut " + std::to_string(epoch) + " was aborted"));
  s.later.clear(); // The coordinator knows: no callback for an aborted cut.
}

void effect_ledger::committed(uint64_t epoch) {
  std::lock_guard<std::mutex> guard(s_->mutex);
  auto& s = *s_;
  auto i = s.listed.find(epoch);
  if (i == s.listed.end())
    return; // Its layer was never taken: nothing of it is known.
  auto listed = i->second;
  s.listed.erase(s.listed.begin(), std::next(i)); // Earlier ones were aborted.
  // Completed entries the snapshot lists are on record now: forget them.
  s.finished.erase(std::remove_if(s.finished.begin(), s.finished.end(),
                                  [listed](const state::done& d) { return d.serial <= listed; }),
                   s.finished.end());
  for (auto& [id, p] : s.pending)
    if (p.at == state::stage::issued && p.epoch < epoch) {
      auto* w = s.find(p.e.sink);
      if (w && w->sink->kind() == sink_kind::idempotent)
        p.at = state::stage::ready;
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
      state::entry p{effect{r.sink, r.key, r.component, r.payload}, 0, state::stage::issued, {}};
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
      } else {
        p.at = w && w->sink->kind() == sink_kind::transactional ? state::stage::issued
                                                                 : state::stage::ready;
      }
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
      auto ids = sink->in_doubt(prefix);
      if (!ids)
        return ids.error().with_context("listing the in-doubt transactions of effect sink '"
                                         + sink->name() + "'");
      for (auto& id : *ids) {
        if (id.compare(0, prefix.size(), prefix) != 0 || !is_txn_suffix(id.substr(prefix.size()))
            || listed.count(id))
          continue;
        if (auto st = sink->abort(id); !st.is_ok())
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
    if (s_->stopping && s_->workers.empty())
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
