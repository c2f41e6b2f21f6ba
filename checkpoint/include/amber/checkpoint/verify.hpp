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
// A parent that is no longer stored is not damage: gc removes old snapshots
// on purpose. It is counted in `missing_parents`.
//
// Thread-safety: reads `s` only; other processes may write concurrently (a
// snapshot committed during the run may or may not be checked).

#include <cstdint>
#include <string>
#include <vector>

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
  uint64_t snapshots = 0;
  uint64_t refs = 0;
  uint64_t missing_parents = 0; ///< Snapshots whose parent was collected (not damage).
  std::vector<verify_problem> problems;

  bool ok() const noexcept { return problems.empty(); }
};

/// Verifies everything in `s`, reporting progress to `progress`.
/// @return the report (check `ok()`); an error only when the store cannot
///         be listed at all.
result<verify_report> verify_store(store& s, const progress_fn& progress = {});

} // namespace amber
