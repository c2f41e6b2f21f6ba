#pragma once

// Checks LMDB's data file against its own meta pages before it is mapped.
//
// LMDB reads the two meta pages of data.mdb (pages 0 and 1) and trusts the
// newer one; it has no checksums. This reads them with pread, so that a file
// that is not LMDB's, a damaged meta page, a meta pair LMDB itself never
// writes, or a tree root past the end of a truncated file is reported as
// such instead of faulting later inside the map.
//
// Layout (lmdb.h 0.9.x, mdb.c: MDB_page, MDB_meta, MDB_db, 64-bit builds):
// a 16-byte page header (pgno, pad, flags) is followed by the meta: magic
// 0xBEEFC0DE, data version 1, the fixed address, the map size, two MDB_db
// records (free pages, main tree; 48 bytes each; the first holds the page
// size in its pad field), the last page number and the transaction id. A
// commit of transaction T writes meta page T % 2, so a sound pair holds T
// and T - 1 on pages of their parity, or transaction 0 on both (no commit).
//
// Thread-safety: a pure function of the file.

#include <cstdint>
#include <string>

#include "amber/storage/status.hpp"

namespace amber::detail {

/// What one meta page says.
struct lmdb_meta {
  uint32_t page_size = 0;
  uint64_t map_size = 0;
  uint64_t free_root = 0;
  uint64_t main_root = 0;
  uint64_t last_page = 0;
  uint64_t txn_id = 0;
};

/// What the data file's meta pages say, checked.
struct lmdb_file_facts {
  uint64_t file_size = 0;
  lmdb_meta meta[2];
  int newest = 0; ///< The meta page LMDB will use.

  uint64_t page_size() const { return meta[0].page_size; }
  uint64_t file_pages() const { return file_size / page_size(); }
  /// The pages the newest meta says the data file holds.
  uint64_t pages_in_use() const { return meta[newest].last_page + 1; }
};

/// Reads and checks the meta pages of the LMDB data file at `path`.
/// @return the facts; not_a_store for an empty file or one whose meta pages
///         both lack LMDB's magic; corruption naming the damaged meta page,
///         the truncation or the root past the end; io_error when the file
///         cannot be read.
result<lmdb_file_facts> check_lmdb_file(const std::string& path);

} // namespace amber::detail
