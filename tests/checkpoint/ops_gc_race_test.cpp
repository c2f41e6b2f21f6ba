// gc.hpp's promise under concurrency, on a real lmdb_store: gc racing
// checkpoints that bring back blobs it plans to remove never leaves a ref
// pointing at a snapshot with a missing blob.

#include "amber/checkpoint/gc.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>

#include "amber/checkpoint/snapshot.hpp"
#include "amber/storage/lmdb_store.hpp"
#include "ops_fixture.hpp"
#include "support/temp_dir.hpp"

using namespace amber;
using namespace amber::ops_test;

namespace {

std::shared_ptr<lmdb_store> open_store(const test::temp_dir& dir) {
  lmdb_options opts;
  opts.create_if_missing = true;
  opts.map_size = uint64_t{64} << 20;
  opts.no_sync = true; // Durability is not what this tests.
  auto r = lmdb_store::open(dir.str(), opts);
  REQUIRE_MESSAGE(r, r.error().to_string());
  return *r;
}

// An lmdb_store whose `remove` stalls first while `stall` is set, as when
// the OS takes the CPU from gc between its decision and its deletion (on a
// loaded 2-core machine: milliseconds). Everything else goes straight through.
class stalling_store final : public store {
public:
  explicit stalling_store(std::shared_ptr<lmdb_store> inner) : inner_(std::move(inner)) {}
  std::atomic<bool> stall{false};
  std::atomic<int> conflicts{0}; ///< Removals the store refused.

  result<put_stats> put_blobs(const std::vector<std::string_view>& blobs) override {
    return inner_->put_blobs(blobs);
  }
  status get_blob(const digest& id, std::string* out) override {
    return inner_->get_blob(id, out);
  }
  status has_blob(const digest& id) override { return inner_->has_blob(id); }
  result<uint64_t> blob_size(const digest& id) override { return inner_->blob_size(id); }
  result<commit_stats> commit(const snapshot_commit& c) override { return inner_->commit(c); }
  status get_manifest(const digest& id, std::string* out) override {
    return inner_->get_manifest(id, out);
  }
  result<digest> get_ref(std::string_view name) override { return inner_->get_ref(name); }
  status set_ref(std::string_view name, const digest& id) override {
    return inner_->set_ref(name, id);
  }
  result<std::vector<std::pair<std::string, digest>>> list_refs() override {
    return inner_->list_refs();
  }
  result<std::vector<digest>> list_manifests() override { return inner_->list_manifests(); }
  result<std::vector<digest>> list_blobs() override { return inner_->list_blobs(); }
  status remove(const removal& what) override {
    if (stall)
      std::this_thread::sleep_for(std::chrono::milliseconds(3));
    status st = inner_->remove(what);
    if (st.code() == errc::conflict)
      ++conflicts;
    return st;
  }
  result<store_stats> stats() override { return inner_->stats(); }
  std::string describe() const override { return inner_->describe(); }

private:
  std::shared_ptr<lmdb_store> inner_;
};

// Every ref's snapshot loads and every blob it references reads back.
void check_refs_intact(store& s) {
  auto refs = s.list_refs();
  REQUIRE(refs);
  for (auto& ref_entry : *refs) {
    const auto& name = ref_entry.first; // Not a binding: CAPTURE's lambda names it.
    const auto& id = ref_entry.second;
    CAPTURE(name);
    auto snap = load_snapshot(s, id);
    REQUIRE_MESSAGE(snap, snap.error().to_string());
    for (auto& ref : snap->references()) {
      status st = s.get_blob(ref, nullptr);
      REQUIRE_MESSAGE(st, st.to_string());
    }
  }
}

} // namespace

TEST_CASE("gc racing checkpoints that reuse the blobs it removes never breaks a ref") {
  // Each round: node n has an old snapshot A and a head B; gc --keep 1 plans
  // to remove A with the blobs only A has (its state "n-a-0", its cache and
  // world indexes). Meanwhile checkpoints bring n back to A's state: each
  // "writes" A's blobs (present, so skipped) and commits a snapshot that
  // references them. gc's removal stalls while they run, so some commit
  // lands between gc's decision and its deletion in most rounds. Whatever
  // the interleaving, every ref must stay whole.
  constexpr int rounds = 200;
  std::mt19937 rng(20240607);
  int removed = 0, busy = 0, commits = 0, refused = 0, conflicts = 0;
  for (int round = 0; round < rounds; ++round) {
    CAPTURE(round);
    test::temp_dir dir("amber-gc-race");
    stalling_store s(open_store(dir));
    auto chain = make_chain(s, "n", 2);
    const int64_t base = 1'700'000'000'000 + 10'000;
    std::vector<std::chrono::microseconds> pauses;
    for (int k = 0; k < 3; ++k)
      pauses.emplace_back(rng() % 800);
    std::atomic<bool> start{false};
    int ok_commits = 0, bad_commits = 0;
    std::string commit_error;
    s.stall = true;
    std::thread checkpointer([&] {
      while (!start)
        std::this_thread::yield();
      for (size_t k = 0; k < pauses.size(); ++k) {
        std::this_thread::sleep_for(pauses[k]);
        spec sp;
        sp.node = "n";
        sp.incarnation = 0; // A's world layer, so A's world index too.
        sp.created_at_ms = base + static_cast<int64_t>(k);
        sp.parents = {chain[1].id};
        sp.states = {{"a", "n-a-0"}, {"b", "n-b"}}; // A's states.
        auto r = try_make_snapshot(s, sp);
        if (r) {
          ++ok_commits;
        } else if (r.error().is_not_found()) {
          // gc removed a blob between this checkpoint's writes and its
          // commit: the commit refuses, and the head stays where it was.
          ++bad_commits;
        } else {
          commit_error = r.error().to_string();
          ++bad_commits;
        }
      }
      s.stall = false;
    });
    gc_options opts;
    opts.keep = 1;
    start = true;
    auto r = collect_garbage(s, opts);
    checkpointer.join();
    REQUIRE_MESSAGE(commit_error.empty(), commit_error);
    if (r) {
      ++removed;
    } else {
      REQUIRE_MESSAGE(r.error().code() == errc::busy, r.error().to_string());
      ++busy;
    }
    commits += ok_commits;
    refused += bad_commits;
    conflicts += s.conflicts;
    check_refs_intact(s);
    // Once quiet, gc finishes and leaves everything whole.
    auto quiet = collect_garbage(s, opts);
    REQUIRE_MESSAGE(quiet, quiet.error().to_string());
    check_refs_intact(s);
  }
  MESSAGE("gc finished " << removed << " times and was busy " << busy << " times, its removal "
                         << "was refused " << conflicts << " times; " << commits
                         << " checkpoints committed, " << refused << " refused");
  CHECK(removed > 0);
  CHECK(commits > 0);
  CHECK(conflicts > 0); // The race happened: commits landed inside gc's window.
}
