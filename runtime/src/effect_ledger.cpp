#include "amber/runtime/effect_ledger.hpp"

#include <algorithm>

namespace amber {

status effect_ledger::add_sink(std::shared_ptr<effect_sink> sink) {
  if (!sink || sink->name().empty())
    return status::invalid_argument("an effect sink needs a name");
  if (sink->kind() != sink_kind::idempotent)
    return status::invalid_argument("effect sink '" + sink->name()
                                    + "' is transactional: only idempotent sinks are "
                                      "supported so far");
  std::lock_guard<std::mutex> guard(mutex_);
  auto name = sink->name();
  if (!sinks_.emplace(name, std::move(sink)).second)
    return status::invalid_argument("the node has an effect sink named '" + name + "' already");
  return status::ok();
}

bool effect_ledger::has_sink(const std::string& name) const {
  std::lock_guard<std::mutex> guard(mutex_);
  return sinks_.count(name) > 0;
}

void effect_ledger::issue(uint64_t epoch, effect e) {
  std::lock_guard<std::mutex> guard(mutex_);
  pending_.push_back({std::move(e), epoch, next_id_++, false});
  ++stats_.issued;
}

effects_layer effect_ledger::layer(uint64_t epoch) {
  effects_layer out;
  std::lock_guard<std::mutex> guard(mutex_);
  auto record = [](const effect& e, uint64_t id, uint8_t state) {
    return effect_record{id, e.component, e.sink, e.key, state, e.payload};
  };
  for (auto& d : done_)
    out.entries.push_back(record(d.e, d.id, effect_record::committed));
  // Issued after the cut (epoch >= the cut's): the next snapshot's.
  for (auto& p : pending_)
    if (p.ready || p.epoch < epoch)
      out.entries.push_back(record(p.e, p.id, effect_record::pending));
  std::stable_sort(out.entries.begin(), out.entries.end(),
                   [](const effect_record& a, const effect_record& b) { return a.id < b.id; });
  listed_[epoch] = serial_;
  return out;
}

void effect_ledger::committed(uint64_t epoch) {
  std::lock_guard<std::mutex> guard(mutex_);
  auto i = listed_.find(epoch);
  if (i == listed_.end())
    return; // Its layer was never taken: nothing of it is known.
  auto listed = i->second;
  listed_.erase(listed_.begin(), std::next(i)); // Earlier ones were aborted.
  // Committed entries the snapshot lists are on record now: forget them.
  done_.erase(std::remove_if(done_.begin(), done_.end(),
                             [listed](const done& d) { return d.serial <= listed; }),
              done_.end());
  for (auto& p : pending_)
    if (p.epoch < epoch)
      p.ready = true;
}

void effect_ledger::restore(const effects_layer& layer) {
  std::lock_guard<std::mutex> guard(mutex_);
  for (auto& r : layer.entries)
    if (r.state == effect_record::pending)
      pending_.push_back({effect{r.sink, r.key, r.component, r.payload}, 0, next_id_++, true});
}

status effect_ledger::deliver() {
  std::lock_guard<std::mutex> one_at_a_time(deliver_mutex_);
  struct job {
    uint64_t id;
    effect e;
    std::shared_ptr<effect_sink> sink;
  };
  std::vector<job> jobs;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    for (auto& p : pending_) {
      if (!p.ready)
        continue; // pending_ is in issue order, but restored entries come first anyway.
      auto s = sinks_.find(p.e.sink);
      jobs.push_back({p.id, p.e, s == sinks_.end() ? nullptr : s->second});
    }
  }
  status first;
  std::vector<std::string> failed_sinks;
  std::vector<std::pair<uint64_t, bool>> outcome; // id, performed
  for (auto& j : jobs) {
    if (std::find(failed_sinks.begin(), failed_sinks.end(), j.e.sink) != failed_sinks.end())
      continue; // Keep the sink's order: retried with the failed one.
    status st = j.sink ? j.sink->apply(j.e)
                       : status::not_found("the node has no effect sink named '" + j.e.sink
                                           + "'");
    if (!st) {
      st = st.with_context("effect " + j.e.key + " to sink '" + j.e.sink
                           + "' (still pending; retried after the next checkpoint)");
      failed_sinks.push_back(j.e.sink);
      if (first)
        first = st;
      std::lock_guard<std::mutex> guard(mutex_);
      ++stats_.failures;
      stats_.last_error = st;
      continue;
    }
    outcome.emplace_back(j.id, true);
  }
  if (!outcome.empty()) {
    std::lock_guard<std::mutex> guard(mutex_);
    size_t k = 0;
    std::vector<entry> keep;
    keep.reserve(pending_.size());
    for (auto& p : pending_) {
      if (k < outcome.size() && outcome[k].first == p.id) {
        done_.push_back({std::move(p.e), p.id, ++serial_});
        ++stats_.delivered;
        ++k;
      } else {
        keep.push_back(std::move(p));
      }
    }
    pending_ = std::move(keep);
  }
  return first;
}

effect_ledger::stats_t effect_ledger::stats() const {
  std::lock_guard<std::mutex> guard(mutex_);
  auto out = stats_;
  out.pending = pending_.size();
  return out;
}

} // namespace amber
