#pragma once

// The LMDB implementation of `store`, in one directory.
//
// Layout: one LMDB environment (data.mdb, lock.mdb) with four named
// databases: "meta" (the store's format version and the id of the last
// transaction), "blobs", "manifests" and "refs". LMDB's copy-on-write B-tree
// and synchronous commits give the crash safety `store` promises. Beside
// them: `write.lock` (the write lock across processes: one writer at a time,
// waited for at most `lock_timeout`), `last-commit` (the id of the last
// committed transaction, kept outside data.mdb to notice a rollback by a
// damaged meta page) and `leases/` (see `lease`).
//
// Damage: data.mdb's meta pages are checked before it is mapped, each LMDB
// call that reads the map runs under a recovery point (SIGBUS, SIGSEGV and
// LMDB's assertions become a corruption status) and every value is checked
// to lie inside the file before it is copied out. docs/STORAGE.md lists
// what is detected and the limits.
//
// Errors beyond `store`'s: every write may also return busy (another
// process held the write lock past `lock_timeout`, naming it), no_space (the
// disk is full: "no space left on device"), invalid_argument (the store is
// open read-only) and corruption (the store is damaged); every read may
// return corruption naming the damage.
//
// An environment must be opened at most once per process (an LMDB rule):
// `open` refuses a second open of the same directory with `busy` while the
// first `lmdb_store` lives. Share one instance (it is thread-safe).

#include <chrono>
#include <memory>
#include <string>

#include "amber/storage/file_lock.hpp"
#include "amber/storage/store.hpp"

namespace amber {

struct lmdb_options {
  /// Create the directory and an empty store when there is none.
  bool create_if_missing = false;
  /// The map LMDB reserves for the data file at first; sparse, so large is
  /// cheap. A write that fills it doubles it and is tried again.
  uint64_t map_size = uint64_t{64} << 30;
  /// Skip fsync at commit (tests and benchmarks only: loses durability).
  bool no_sync = false;
  /// Open for reading only (MDB_RDONLY; without LMDB's lock file, MDB_NOLOCK,
  /// when it cannot be opened for writing). Writes then fail with
  /// invalid_argument. Implies !create_if_missing.
  bool read_only = false;
  /// How long a write waits for another process's write to finish.
  std::chrono::milliseconds lock_timeout{std::chrono::seconds(60)};
  /// Hears once per waiting write who holds the write lock (may be empty).
  file_lock::wait_fn on_lock_wait{};
};

class lmdb_store final : public store {
public:
  /// The format version a store of this build writes and reads.
  static constexpr const char* format_version = "amber-store/1";

  /// Opens (or creates, per `opts`) the store in `dir`.
  /// @return the store; not_a_store when `dir` is missing (without
  ///         create_if_missing) or holds something that is not an amber
  ///         store; format_mismatch for a store of another format version;
  ///         corruption naming the damage (a truncated data.mdb, a damaged
  ///         meta page, a store rolled back behind its last commit);
  ///         busy when this process already has it open; io_error.
  static result<std::shared_ptr<lmdb_store>> open(const std::string& dir,
                                                  const lmdb_options& opts = {});

  ~lmdb_store() override;

  result<put_stats> put_blobs(const std::vector<std::string_view>& blobs) override;
  status get_blob(const digest& id, std::string* out) override;
  status has_blob(const digest& id) override;
  result<uint64_t> blob_size(const digest& id) override;
  result<commit_stats> commit(const snapshot_commit& c) override;
  status get_manifest(const digest& id, std::string* out) override;
  result<digest> get_ref(std::string_view name) override;
  status set_ref(std::string_view name, const digest& id) override;
  result<std::vector<std::pair<std::string, digest>>> list_refs() override;
  result<std::vector<digest>> list_manifests() override;
  result<std::vector<digest>> list_blobs() override;
  status remove(const removal& what) override;
  result<store_stats> stats() override;
  std::string describe() const override;

  const std::string& directory() const { return dir_; }
  bool read_only() const;

  /// Takes the lease called `name` (e.g. "nodes/bank": the right to move a
  /// node's head) in this store, for as long as the returned lock lives or
  /// the process runs: `leases/<name>.lock`, an OFD lock (file_lock.hpp).
  /// @return the lease; busy naming its holder (pid and command line);
  ///         io_error (e.g. a read-only store directory).
  result<std::unique_ptr<file_lock>> lease(std::string_view name);

  /// Test hook: overwrites a blob's bytes without hashing them, to simulate
  /// on-disk corruption.
  status test_overwrite_blob(const digest& id, std::string_view bytes);
  /// Test hook: overwrites a manifest's bytes without hashing them.
  status test_overwrite_manifest(const digest& id, std::string_view bytes);
  /// Test hook: the id of the last committed write transaction, to count
  /// the durable commits an operation takes.
  uint64_t test_last_txn_id() const;

  struct impl;

private:
  explicit lmdb_store(std::unique_ptr<impl> p, std::string dir);
  std::unique_ptr<impl> impl_;
  std::string dir_;
};

} // namespace amber
