#pragma once

// The store's own record of its last committed LMDB transaction, kept
// outside data.mdb in the file `last-commit` of the store's directory.
//
// Why: LMDB picks the newer of its two meta pages by transaction id and has
// no checksum. One bit flipped in the newer meta page makes LMDB open the
// previous commit as if it were the newest, and nothing inside data.mdb can
// tell (the older tree is whole). A record kept apart from data.mdb survives
// that damage, so opening a store whose data reads older than the record
// says "rolled back" instead of serving the old head.
//
// Format: two 32-byte slots; a commit of transaction T writes slot T % 2
// (like LMDB's meta pages), so a writer that lags behind another one never
// overwrites the newer slot, and a torn write leaves the other slot whole.
// Slot: "amberlc1", txn id, unix ms (little-endian u64 each), and the first
// eight bytes of the SHA-256 of the 24 bytes before them.
//
// The record is written after LMDB's durable commit returned, so it never
// claims a commit LMDB did not make durable, even after a power failure; it
// may lag (a crash in between, or a power failure before the page cache
// wrote it back), which only narrows what it can notice. It is not synced:
// an fdatasync per commit cost ~0.35 ms, +50 % on a small durable commit
// (bench_store_commit), for a record whose loss is harmless.
//
// Thread-safety: `write` may be called from several threads at once (pwrite
// of one slot each).

#include <cstdint>
#include <optional>
#include <string>

#include "amber/storage/status.hpp"

namespace amber::detail {

class commit_record {
public:
  /// The record's file name inside the store directory.
  static constexpr const char* file_name = "last-commit";

  /// Reads the newest valid slot of the record in `dir`.
  /// @return the transaction id; nullopt when there is no record (a store
  ///         of an older build, or a copy of data.mdb alone), the user may
  ///         not read it, or no slot is valid; io_error when reading fails.
  static result<std::optional<uint64_t>> read(const std::string& dir);

  /// Opens the record in `dir` for writing (creating it).
  static result<commit_record> open(const std::string& dir);

  commit_record(commit_record&& other) noexcept;
  commit_record& operator=(commit_record&&) = delete;
  ~commit_record();

  /// Records that transaction `txn_id` committed.
  status write(uint64_t txn_id);

private:
  commit_record(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
};

} // namespace amber::detail
