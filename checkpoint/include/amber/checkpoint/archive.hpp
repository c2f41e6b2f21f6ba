#pragma once

// `amber export` / `amber import`: one snapshot and every blob it references
// in a single file, to move it to another store or machine.
//
// File format (all integers little-endian):
//
//   header  "AMBERSNP" (8 bytes), u32 format version, u32 flags
//   record  u8 tag, 32-byte SHA-256 digest, u64 length, `length` bytes
//     'C'   a cluster manifest (format 2 with the cluster flag only): exactly
//           one, first; its digest is the cluster snapshot id
//     'M'   a snapshot manifest; its digest is the snapshot id
//     'B'   a blob the preceding 'M' references; each once per snapshot,
//           sorted by digest
//     'E'   the end; digest all zero, length 16: u64 number of 'C', 'M' and
//           'B' records, u64 sum of their lengths; nothing may follow
//
// Format 1 (flags 0): one snapshot, M B* E. Node exports are still written
// in format 1, so older builds read them.
// Format 2, flag 1 (`archive_flag_cluster`): a cluster snapshot,
// C (M B*)+ E, one M per member in the cluster manifest's order. A blob two
// members share appears in both members' parts.
// This build reads both formats.
//
// Export reads through `load_snapshot` (everything verified), writes to
// "<file>.tmp-<pid>", fsyncs, renames over <file> and fsyncs the directory,
// so a reader never sees half a file.
//
// Import reads the file twice. The first pass checks the framing, hashes
// every record against its digest, and loads the snapshot from the file
// with `load_snapshot` (so it decodes and references exactly the blobs the
// file holds) — all before anything is written to the store. The second pass
// writes the blobs in batches, checks that they still hash to what the first
// pass saw, and commits the manifest (and, by default, the node's head when
// the store has none) in one transaction. A failure in the second pass
// leaves at most unreferenced blobs, which gc removes.
//
// Thread-safety: free functions; the store is thread-safe, the file is not
// locked (do not write it while it is imported).

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "amber/checkpoint/progress.hpp"
#include "amber/storage/store.hpp"

namespace amber {

/// The first 8 bytes of every export file.
constexpr const char* archive_magic = "AMBERSNP";
/// The newest export format this build reads and writes.
constexpr uint32_t archive_format_version = 2;
/// Header flag of format 2: the file holds a cluster snapshot.
constexpr uint32_t archive_flag_cluster = 1;

struct export_options {
  bool overwrite = false; ///< Replace an existing file.
};

struct export_report {
  digest id;
  uint64_t blobs = 0;      ///< Blob records written.
  uint64_t file_bytes = 0; ///< Size of the file.
};

/// Writes snapshot `id` of `s` to `path`.
/// @return what was written; not_found, corruption from reading the
///         snapshot; conflict when `path` exists and !overwrite; io_error.
result<export_report> export_snapshot(store& s, const digest& id, const std::string& path,
                                      const export_options& opts = {},
                                      const progress_fn& progress = {});

struct import_options {
  /// Point the node's head ref at the snapshot when the store has no head
  /// for that node yet.
  bool set_head_if_missing = true;
  /// Point the node's head ref at the snapshot even when it has one.
  bool force_head = false;
};

struct import_report {
  digest id;
  std::string node;
  uint64_t blobs = 0;         ///< Blob records in the file.
  uint64_t new_blobs = 0;     ///< Of those, not yet in the store.
  uint64_t bytes_written = 0; ///< Bytes of new blobs.
  bool already_present = false; ///< The store had the snapshot before.
  std::string head_ref;       ///< The node's head ref name.
  bool head_moved = false;    ///< The import moved (or created) the head ref.
};

/// What `export_cluster_snapshot` wrote for one member.
struct cluster_export_member {
  std::string member;
  digest snapshot;
  uint64_t blobs = 0;
};

struct cluster_export_report {
  digest id;
  std::string cluster;
  std::vector<cluster_export_member> members; ///< In manifest order.
  uint64_t file_bytes = 0;
};

/// Writes cluster snapshot `id` and every member snapshot it names to
/// `path` (format 2). `stores` maps each member's name to its store; the
/// cluster manifest is read from the first store that holds it, and each
/// member's snapshot (verified by `load_snapshot`) from that member's store.
/// @return what was written; not_found when no store holds `id` or a member
///         (or its snapshot) is missing, naming it; corruption; conflict
///         when `path` exists and !overwrite; io_error.
result<cluster_export_report> export_cluster_snapshot(const std::map<std::string, store*>& stores,
                                                      const digest& id, const std::string& path,
                                                      const export_options& opts = {},
                                                      const progress_fn& progress = {});

/// Imports the snapshot in the file at `path` into `s`.
/// @return what was imported; not_found when the file does not exist;
///         corruption naming the file, the offset and what is wrong (bad
///         magic, truncation, a digest mismatch, a manifest or layer that
///         does not decode, a missing or extra blob) — nothing written then;
///         format_mismatch for a newer file format; invalid_argument for a
///         cluster export; io_error; store errors.
result<import_report> import_snapshot(store& s, const std::string& path,
                                      const import_options& opts = {},
                                      const progress_fn& progress = {});

struct cluster_import_member {
  std::string member;
  import_report snapshot;  ///< Its node snapshot, written into its store.
  bool cluster_head_moved = false; ///< `clusters/<name>/head` moved in its store.
};

struct cluster_import_report {
  digest id;
  std::string cluster;
  std::vector<cluster_import_member> members; ///< In manifest order.
};

/// Imports a cluster export: checks the whole file first (framing, digests,
/// one sound snapshot per member, every member in `stores`), then writes
/// each member's snapshot into its store (as `import_snapshot`, with
/// `opts` for the node heads) and adopts the cluster manifest there
/// (`adopt_cluster_manifest`: the cluster head moves only forward).
/// @return what was imported; not_found for a missing file or a member
///         `stores` lacks; corruption naming the file and what is wrong;
///         invalid_argument for a node export; format_mismatch; store
///         errors naming the member (members before it are imported then).
result<cluster_import_report> import_cluster_snapshot(const std::map<std::string, store*>& stores,
                                                      const std::string& path,
                                                      const import_options& opts = {},
                                                      const progress_fn& progress = {});

} // namespace amber
