#pragma once

// The LMDB environment behind lmdb_store: transactions, guarded reads, the
// one write path, and the checks made when a store is opened.
//
// Every LMDB call that touches the map runs under `guarded` (lmdb_guard.hpp),
// and every value handed out is checked to lie inside data.mdb before it is
// copied, so a damaged file becomes a corruption status, never a signal.
//
// Writes go through `write`: one writer thread per process (LMDB's rule),
// the store's write lock across processes (write.lock, with a timeout and a
// message naming its holder), the transaction id recorded inside the tree
// and in `last-commit`, and a map that grows when it is full.
//
// Thread-safety: every member function may be called from any thread.
// Transactions of this process hold `remap` shared; growing the map takes it
// exclusively.

#include <lmdb.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>

#include "amber/storage/file_lock.hpp"
#include "amber/storage/lmdb_store.hpp"
#include "commit_record.hpp"

namespace amber {

/// Translates an LMDB return code (not mdb_fault) into a status.
status from_mdb(int rc, const std::string& what);

inline MDB_val to_val(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}

inline std::string_view from_val(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

class lmdb_txn;

struct lmdb_store::impl {
  MDB_env* env = nullptr;
  MDB_dbi meta = 0;
  MDB_dbi blobs = 0;
  MDB_dbi manifests = 0;
  MDB_dbi refs = 0;
  std::string dir;
  std::string canonical_dir;
  lmdb_options opts;
  bool no_lock = false; ///< Read-only without lock.mdb (it could not be opened).

  std::shared_mutex remap;
  uintptr_t map_base = 0;   // guarded by remap: where data.mdb is mapped
  uint64_t map_length = 0;  // guarded by remap
  std::mutex writer;                      // one write transaction per process
  std::atomic<std::thread::id> writer_thread{};
  std::unique_ptr<file_lock> write_lock;  // null when read-only
  std::optional<detail::commit_record> record; // null when read-only

  std::mutex broken_mutex;
  std::optional<status> broken; // guarded by broken_mutex: a write faulted

  ~impl();

  /// A status for `rc`; for mdb_fault, says what faulted and where, and
  /// refuses further writes when it happened in a write transaction.
  status check(int rc, const std::string& what);

  /// Copies `v` (from the map) into `*out` when it lies inside data.mdb.
  status copy_out(const MDB_val& v, std::string* out, const std::string& what);
  /// Corruption unless `v` lies inside data.mdb.
  status check_inside(const MDB_val& v, const std::string& what);

  /// Reads `key` of `dbi` into `*out` (copied before the transaction ends).
  status get(MDB_dbi dbi, std::string_view key, std::string* out, const std::string& what);
  status get(MDB_txn* t, MDB_dbi dbi, std::string_view key, std::string* out,
             const std::string& what);
  /// Reads a content-addressed object and checks that its bytes hash to `id`.
  status get_verified(MDB_dbi dbi, const digest& id, std::string* out, const char* kind);

  /// Visits every entry of `dbi`, in its own read transaction or in `t`.
  /// `visit(key, value)` gets views into the map, both checked to lie inside it.
  status scan(MDB_dbi dbi, const std::function<status(std::string_view, const MDB_val&)>& visit);
  status scan(MDB_txn* t, MDB_dbi dbi,
              const std::function<status(std::string_view, const MDB_val&)>& visit);

  status put(MDB_txn* t, MDB_dbi dbi, std::string_view key, std::string_view value,
             unsigned flags, const std::string& what);
  status del(MDB_txn* t, MDB_dbi dbi, std::string_view key);

  /// Runs `body` in one write transaction and commits it (see the top).
  /// `body` may run more than once (after the map grew): it must start
  /// from scratch each time.
  status write(const std::function<status(MDB_txn*)>& body);

  /// The file size of data.mdb now (0 when it cannot be read).
  uint64_t data_file_size();
  /// Finds where data.mdb is mapped. REQUIRES: `remap` held exclusively
  /// (or no other thread uses the store yet).
  void find_map();
  /// "the store at DIR".
  std::string name() const { return "the store at " + dir; }

private:
  status commit(lmdb_txn& t);
  status grow_map(uint64_t at_least);
  status classify_commit_error(int rc, const std::string& what);
  std::string describe_fault();
};

/// A transaction that aborts on scope exit unless committed. Holds the
/// store's `remap` lock shared while it lives.
class lmdb_txn {
public:
  explicit lmdb_txn(lmdb_store::impl& s) : s_(s) {}
  lmdb_txn(const lmdb_txn&) = delete;
  lmdb_txn& operator=(const lmdb_txn&) = delete;
  ~lmdb_txn() { abort(); }

  status begin(bool read_only);
  void abort() {
    if (ptr_)
      mdb_txn_abort(ptr_); // Frees memory and the reader slot; reads no page.
    ptr_ = nullptr;
    if (lock_.owns_lock())
      lock_.unlock();
  }
  /// Hands the transaction to mdb_txn_commit, which ends it either way.
  MDB_txn* release() {
    MDB_txn* p = ptr_;
    ptr_ = nullptr;
    return p;
  }
  MDB_txn* get() const { return ptr_; }

private:
  lmdb_store::impl& s_;
  MDB_txn* ptr_ = nullptr;
  std::shared_lock<std::shared_mutex> lock_;
};

/// Marks `canonical` open in this process; false when it already is.
bool mark_open(const std::string& canonical);

/// Opens the environment of `dir` into `s` and checks it (see lmdb_store::open).
status open_env(lmdb_store::impl& s, bool has_data, bool create);

} // namespace amber
