#pragma once

// A transactional sink kept in memory, for tests of the two-phase protocol:
// what it prepared, committed and aborted outlives the node using it (as a
// database outlives a crashed process), and a test can make it fail or
// hold a call until released.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "amber/runtime/effect.hpp"

namespace test {

class mem_txn_sink : public amber::transactional_sink {
public:
  explicit mem_txn_sink(std::string name) : name_(std::move(name)) {}
  const std::string& name() const override { return name_; }

  amber::status prepare(const std::string& txn, const std::vector<amber::effect>& fx) override {
    wait_gate();
    std::lock_guard<std::mutex> guard(mutex_);
    ++prepares;
    if (fail_prepare)
      return amber::status::io_error("sink '" + name_ + "': prepare refused (test)");
    prepared_[txn] = fx;
    return amber::status::ok();
  }
  amber::status commit(const std::string& txn) override {
    std::lock_guard<std::mutex> guard(mutex_);
    if (fail_commit)
      return amber::status::io_error("sink '" + name_ + "': commit refused (test)");
    if (committed_txns_.count(txn))
      return amber::status::ok();
    auto i = prepared_.find(txn);
    if (i == prepared_.end())
      return amber::status::not_found("transaction " + txn + " is not prepared");
    for (auto& e : i->second)
      if (keys_.insert(e.key).second)
        rows_.push_back(e.payload);
    committed_txns_.insert(txn);
    prepared_.erase(i);
    return amber::status::ok();
  }
  amber::status abort(const std::string& txn) override {
    std::lock_guard<std::mutex> guard(mutex_);
    if (prepared_.erase(txn))
      aborted_.push_back(txn);
    return amber::status::ok();
  }
  amber::result<std::vector<std::string>> in_doubt(const std::string& prefix) override {
    std::lock_guard<std::mutex> guard(mutex_);
    std::vector<std::string> out;
    for (auto& [txn, fx] : prepared_)
      if (txn.rfind(prefix, 0) == 0)
        out.push_back(txn);
    return out;
  }

  /// Holds every prepare until `open_gate` (at most 20 s: never forever).
  void close_gate() {
    std::lock_guard<std::mutex> guard(gate_mutex_);
    gate_closed_ = true;
  }
  void open_gate() {
    {
      std::lock_guard<std::mutex> guard(gate_mutex_);
      gate_closed_ = false;
    }
    gate_cv_.notify_all();
  }

  /// A transaction prepared behind the runtime's back, e.g. by a process
  /// that crashed before its snapshot committed.
  void add_prepared(const std::string& txn, std::vector<amber::effect> fx) {
    std::lock_guard<std::mutex> guard(mutex_);
    prepared_[txn] = std::move(fx);
  }
  /// Drops a prepared transaction as a database administrator would.
  void drop_prepared(const std::string& txn) {
    std::lock_guard<std::mutex> guard(mutex_);
    prepared_.erase(txn);
  }

  std::vector<std::string> rows() const {
    std::lock_guard<std::mutex> guard(mutex_);
    return rows_;
  }
  std::vector<std::string> prepared_ids() const {
    std::lock_guard<std::mutex> guard(mutex_);
    std::vector<std::string> out;
    for (auto& [txn, fx] : prepared_)
      out.push_back(txn);
    return out;
  }
  std::vector<std::string> aborted() const {
    std::lock_guard<std::mutex> guard(mutex_);
    return aborted_;
  }

  std::atomic<bool> fail_prepare{false};
  std::atomic<bool> fail_commit{false};
  std::atomic<int> prepares{0};

private:
  void wait_gate() {
    std::unique_lock<std::mutex> lock(gate_mutex_);
    gate_cv_.wait_for(lock, std::chrono::seconds(20), [this] { return !gate_closed_; });
  }

  std::string name_;
  mutable std::mutex mutex_;
  std::map<std::string, std::vector<amber::effect>> prepared_;
  std::set<std::string> committed_txns_;
  std::set<std::string> keys_;
  std::vector<std::string> rows_;
  std::vector<std::string> aborted_;
  std::mutex gate_mutex_;
  std::condition_variable gate_cv_;
  bool gate_closed_ = false;
};

} // namespace test
