#pragma once

// The lmdb_options of the storage tests: a small map, no fsync.

#include "amber/storage/lmdb_store.hpp"

namespace test {

inline amber::lmdb_options create_opts() {
  amber::lmdb_options o;
  o.create_if_missing = true;
  o.map_size = uint64_t{1} << 28;
  o.no_sync = true;
  return o;
}

inline amber::lmdb_options existing_opts() {
  amber::lmdb_options o = create_opts();
  o.create_if_missing = false;
  return o;
}

} // namespace test
