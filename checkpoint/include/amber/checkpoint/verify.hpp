#pragma once

// `amber verify`: recompute every digest and check every reference.
//
// Checks, in this order: every blob hashes to its id; every manifest hashes
// to its id and decodes; every snapshot's layer indexes and component states
// exist, are sound, decode, and have the recorded sizes; every blob
// `load_snapshot` says a snapshot references exists; every ref points at a
// stored snapshot. Each damaged object is reported once under its own name,
// and each snapshot it breaks is reported too, naming the object.
//
// Cluster manifests in the store are decoded and counted apart
// (`cluster_snapshots`); a member snapshot one names that this store holds
// must be a node snapshot; a `clusters/NAME/head` ref must point at a
// cluster snapshot of cluster NAME, and no other ref at a cluster snapshot.
// Member snapshots held in other stores are checked by
// `verify_cluster_snapshot`, which opens them all.
//
// With a `content_decoder` (the runtime's), every component state, runtime
// record and recorded message is also decoded as a restore decodes it: a
// snapshot whose blobs hash right but do not decode is damaged. A component
// or message of a type the decoder does not know is not damage: it is
// counted in `undecoded`. Without a decoder only the checkpoint library's
// own records (manifest and layers) are decoded.
//
// A parent that is no longer stored is not damage: gc removes old snapshots
// on purpose. It is counted in `missing_parents`.
//
// Thread-safety: reads `s` only; other processes may write concurrently (a
// snapshot committed during the run may or may not be checked).

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "amber/checkpoint/cluster_manifest.hpp"
#include "amber/checkpoint/content_decoder.hpp"
#include "amber/checkpoint/progress.hpp"
#include "amber/storage/store.hpp"

namespace amber {

struct verify_problem {
  enum class object_kind { blob, snapshot, ref };
  object_kind kind = object_kind::blob;
  std::string object; ///< 64 hex digits, or the ref's name.
  status problem;     ///< What is wrong, naming the object and anything it needs.
};

const char* to_string(verify_problem::object_kind kind) noexcept;

struct verify_report {
  uint64_t blobs = 0;
  uint64_t blob_bytes = 0;
  uint64_t snapshots = 0;         ///< Node snapshots.
  uint64_t cluster_snapshots = 0; ///< Cluster manifests.
  uint64_t refs = 0;
  uint64_t missing_parents = 0; ///< Snapshots whose parent was collected (not damage).
  /// Components (state and runtime record) and recorded messages not
  /// decoded: no decoder was given, or it does not know their types.
  uint64_t undecoded = 0;
  std::vector<verify_problem> problems;

  bool ok() const noexcept { return problems.empty(); }
};

/// Verifies everything in `s`, reporting progress to `progress`; decodes
/// component states, runtime records and messages with `decoder` when given.
/// @return the report (check `ok()`); an error only when the store cannot
///         be listed at all.
result<verify_report> verify_store(store& s, const progress_fn& progress = {},
                                   content_decoder* decoder = nullptr);

/// Verifies one node snapshot of `s` as `verify_store` does (its manifest,
/// layer indexes, states, every blob it references), reading only the blobs
/// it needs; `blobs` counts those.
/// @return the report; not_found when `s` does not hold `id`; store errors.
result<verify_report> verify_snapshot(store& s, const digest& id,
                                      content_decoder* decoder = nullptr);

/// One member's part of `verify_cluster_snapshot`.
struct cluster_member_check {
  std::string member;
  digest snapshot;
  bool holds_cluster_manifest = false; ///< Its store has the cluster manifest too.
  verify_report report;                ///< Of its snapshot, in its store.
  status problem;                      ///< Ok, or what is wrong, naming the member.

  bool ok() const noexcept { return problem.is_ok(); }
};

struct cluster_verify_report {
  digest id;
  cluster_manifest meta;
  std::vector<cluster_member_check> members; ///< In manifest order.
  std::vector<std::string> unlisted; ///< Stores given for members the manifest does not name.

  bool ok() const noexcept;
};

/// Verifies cluster snapshot `id`: reads its manifest from the first store
/// of `stores` (member name -> that member's store) that holds it, then
/// verifies each member snapshot it names in that member's store
/// (`verify_snapshot`). A member missing from `stores`, a member snapshot
/// missing from its store or damaged there is a problem naming the member.
/// @return the report (check `ok()`); not_found when no store holds `id`;
///         the manifest's decode error when no store holds it intact.
result<cluster_verify_report> verify_cluster_snapshot(const std::map<std::string, store*>& stores,
                                                      const digest& id,
                                                      const progress_fn& progress = {},
                                                      content_decoder* decoder = nullptr);

} // namespace amber
