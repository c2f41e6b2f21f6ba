#pragma once

// The content-addressed object store behind every checkpoint.
//
// A store holds three kinds of objects:
//   - blobs: opaque bytes keyed by their SHA-256 (component state, layer
//     indexes). A blob already present is never written again.
//   - manifests: the bytes of a snapshot manifest keyed by their SHA-256,
//     which is the snapshot id.
//   - refs: names (e.g. "nodes/bank/head") that point at a manifest.
//
// Every read of a blob or manifest recomputes its digest before handing the
// bytes out, so corrupt bytes never reach a deserializer.
//
// Atomicity: `commit` writes a snapshot's new blobs and its manifest and
// moves a ref, all in one transaction (one durable LMDB commit per
// checkpoint); a crash at any instant leaves the previous head valid. Blobs
// may also be written before, with `put_blobs` (orphans are harmless and
// collected by gc).
//
// Thread-safety: every method may be called from any thread concurrently.
// Each call runs in its own transaction, opened and closed inside the call.
// Ownership: callers own the returned strings; nothing refers into the store.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "amber/storage/digest.hpp"
#include "amber/storage/status.hpp"

namespace amber {

/// What `put_blobs` did.
struct put_stats {
  std::vector<digest> ids; ///< One per input blob, in input order.
  uint64_t written = 0;    ///< Blobs that were new.
  uint64_t bytes_written = 0;
};

/// A blob to write, hashed by the caller (e.g. with `sha256_all`, off the
/// thread that writes). REQUIRES: id == sha256(bytes); the store does not
/// hash again, and a wrong id shows up as corruption when the blob is read.
struct blob_put {
  digest id;
  std::string bytes;
};

/// Hashes `blobs` with `sha256_all` and moves each into a blob_put, in order.
std::vector<blob_put> make_blob_puts(std::vector<std::string> blobs);

/// One snapshot to make visible.
struct snapshot_commit {
  std::string manifest;           ///< Encoded manifest bytes.
  /// Blobs the manifest needs; each must exist once `blobs` are written.
  std::vector<digest> references;
  std::string ref;                ///< Ref to move to the new manifest; empty: none.
  /// The value `ref` must have now for the move to happen (compare-and-swap);
  /// nullopt means "must not exist yet". Ignored when `ref` is empty.
  std::optional<digest> expected_head;
  bool check_expected_head = true; ///< False: move the ref unconditionally.
  /// Blobs to write in the commit's transaction. One already present is
  /// skipped, not rewritten, so unchanged state is never written twice. On
  /// any error none of them is written.
  std::vector<blob_put> blobs;
};

/// What `commit` did.
struct commit_stats {
  digest id;                  ///< The snapshot id: the manifest's sha256.
  uint64_t written = 0;       ///< Blobs of `snapshot_commit::blobs` that were new.
  uint64_t bytes_written = 0; ///< Their bytes.
  uint64_t present = 0;       ///< Blobs skipped: stored already (or twice in `blobs`).
};

/// The manifests and refs a removal was planned against.
struct removal_guard {
  std::vector<digest> manifests;                    ///< Every manifest id; any order.
  std::vector<std::pair<std::string, digest>> refs; ///< Every ref and its target; any order.
};

/// What a `remove` call should delete, in one transaction.
struct removal {
  std::vector<digest> manifests;
  std::vector<digest> blobs;
  std::vector<std::string> refs;
  /// When set, `remove` deletes only if the store's manifests and refs are,
  /// inside its own transaction, exactly these. A planner (gc) that decided
  /// which blobs nothing needs thereby knows that no snapshot committed, and
  /// no ref moved, since it looked: deciding and deleting are atomic.
  std::optional<removal_guard> expected;
};

/// Object counts and sizes.
struct store_stats {
  uint64_t blobs = 0;
  uint64_t blob_bytes = 0;
  uint64_t manifests = 0;
  uint64_t refs = 0;
};

class store {
public:
  virtual ~store() = default;

  /// Writes each blob that is not yet present, all in one transaction.
  /// @return the ids of all blobs and how many were new, or
  ///         io_error when the transaction fails (nothing is written).
  virtual result<put_stats> put_blobs(const std::vector<std::string_view>& blobs) = 0;

  /// Reads a blob into `*out` after checking its digest.
  /// @return ok; not_found when absent; corruption when its bytes no
  ///         longer hash to `id`; io_error.
  virtual status get_blob(const digest& id, std::string* out) = 0;

  /// @return ok when present, not_found when absent, io_error.
  virtual status has_blob(const digest& id) = 0;

  /// The stored size of a blob without reading it out.
  virtual result<uint64_t> blob_size(const digest& id) = 0;

  /// Writes `c.blobs` that are not yet present, stores the manifest and
  /// moves `c.ref` to it, in one transaction. References are checked after
  /// the blobs are written, so a reference may name one of `c.blobs`.
  /// @return the snapshot id and what was written; not_found naming the
  ///         first missing referenced blob; conflict when the ref is not at
  ///         `c.expected_head`; io_error. On any error nothing is written.
  virtual result<commit_stats> commit(const snapshot_commit& c) = 0;

  /// `commit`, for callers that need only the snapshot id.
  result<digest> commit_snapshot(const snapshot_commit& c);

  /// Reads a manifest into `*out` after checking its digest.
  /// @return ok; not_found; corruption; io_error.
  virtual status get_manifest(const digest& id, std::string* out) = 0;

  /// @return the manifest a ref points at; not_found when the ref does not
  ///         exist; corruption when its value is not a digest.
  virtual result<digest> get_ref(std::string_view name) = 0;

  /// Points `name` at `id` unconditionally; `id` must be a stored manifest.
  virtual status set_ref(std::string_view name, const digest& id) = 0;

  /// All refs, sorted by name.
  virtual result<std::vector<std::pair<std::string, digest>>> list_refs() = 0;

  /// All manifest ids, sorted.
  virtual result<std::vector<digest>> list_manifests() = 0;

  /// All blob ids, sorted.
  virtual result<std::vector<digest>> list_blobs() = 0;

  /// Deletes the named objects in one transaction; absent ones are skipped.
  /// @return ok; conflict, naming a manifest or ref that differs, when
  ///         `what.expected` is set and the store no longer holds exactly
  ///         those manifests and refs (nothing is deleted); io_error.
  virtual status remove(const removal& what) = 0;

  virtual result<store_stats> stats() = 0;

  /// A human description for messages, e.g. "lmdb store at ./amber-data".
  virtual std::string describe() const = 0;
};

} // namespace amber
