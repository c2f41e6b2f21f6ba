#include "lmdb_env.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstdio>
#include <chrono>
#include <cstring>
#include <set>
#include <thread>

#include "lmdb_file_check.hpp"
#include "lmdb_guard.hpp"

namespace amber {

using detail::guarded;

// The one place LMDB's int codes become statuses.
status from_mdb(int rc, const std::string& what) {
  std::string text = what + ": " + mdb_strerror(rc);
  switch (rc) {
    case MDB_SUCCESS:
      return status::ok();
    case MDB_NOTFOUND:
      return status::not_found(what);
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_BAD_TXN:
    case MDB_CURSOR_FULL: // a tree deeper than LMDB ever builds: a page points back up
      return status::corruption(text);
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
      return status(errc::not_a_store, text);
    case MDB_MAP_FULL:
      return status(errc::no_space, text + " (the store reached its map size)");
    case ENOSPC:
    case EDQUOT:
      return status(errc::no_space, what + ": no space left on device (" + mdb_strerror(rc) + ")");
    case MDB_BAD_VALSIZE: // e.g. a ref name longer than LMDB's key limit
      return status::invalid_argument(text);
    default:
      return status::io_error(text);
  }
}

namespace {

constexpr std::string_view txn_key = "txn";

bool is_map_full(const status& st) {
  return st.code() == errc::no_space
         && st.message().find("the store reached its map size") != std::string::npos;
}

std::string u64_bytes(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i)
    out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}

uint64_t bytes_u64(std::string_view s) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < s.size(); ++i)
    v |= uint64_t{static_cast<unsigned char>(s[i])} << (8 * i);
  return v;
}

// Directories this process has open: LMDB forbids opening one twice.
std::mutex open_dirs_mutex;
std::set<std::string> open_dirs;

uint64_t fs_file_size(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

} // namespace

bool mark_open(const std::string& canonical) {
  std::lock_guard<std::mutex> guard(open_dirs_mutex);
  return open_dirs.insert(canonical).second;
}

lmdb_store::impl::~impl() {
  if (env)
    mdb_env_close(env);
  if (!canonical_dir.empty()) {
    std::lock_guard<std::mutex> guard(open_dirs_mutex);
    open_dirs.erase(canonical_dir);
  }
}

status lmdb_txn::begin(bool read_only) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    lock_ = std::shared_lock<std::shared_mutex>(s_.remap);
    MDB_env* env = s_.env;
    MDB_txn** out = &ptr_;
    unsigned flags = read_only ? MDB_RDONLY : 0;
    int rc = guarded([&] { return mdb_txn_begin(env, nullptr, flags, out); });
    if (rc == MDB_SUCCESS)
      return status::ok();
    ptr_ = nullptr;
    lock_.unlock();
    if (rc != MDB_MAP_RESIZED)
      return s_.check(rc, "cannot begin a transaction on " + s_.name());
    // Another process grew the map: adopt its size (no transaction of ours runs).
    std::unique_lock<std::shared_mutex> all(s_.remap);
    mdb_env_set_mapsize(s_.env, 0);
    s_.find_map();
  }
  return status::io_error("cannot begin a transaction on " + s_.name()
                          + ": its map keeps being resized");
}

uint64_t lmdb_store::impl::data_file_size() {
  int fd = -1;
  struct stat st;
  if (mdb_env_get_fd(env, &fd) != MDB_SUCCESS || ::fstat(fd, &st) != 0)
    return 0;
  return static_cast<uint64_t>(st.st_size);
}

std::string lmdb_store::impl::describe_fault() {
  const auto& f = detail::last_fault();
  if (f.signal == 0)
    return std::string("LMDB failed an assertion on a damaged page (") + f.assertion + ")";
  std::string what = f.signal == SIGBUS ? "SIGBUS" : "SIGSEGV";
  MDB_envinfo info;
  uint64_t size = data_file_size();
  unsigned psize = 4096;
  MDB_stat st;
  if (mdb_env_stat(env, &st) == MDB_SUCCESS)
    psize = st.ms_psize;
  if (mdb_env_info(env, &info) == MDB_SUCCESS && map_length > 0) {
    auto at = reinterpret_cast<uintptr_t>(f.address);
    if (at >= map_base && at - map_base < map_length) {
      uint64_t page = (at - map_base) / psize;
      uint64_t pages = size / psize;
      std::string out = "reading page " + std::to_string(page) + " of data.mdb faulted (" + what
                        + ")";
      if (page >= pages)
        out += ": the file ends at page " + std::to_string(pages) + " (" + std::to_string(size)
               + " bytes) but its tree points past it, so data.mdb is truncated; its meta page"
                 " says it holds "
               + std::to_string(info.me_last_pgno + 1) + " pages";
      return out;
    }
  }
  return "a read of data.mdb faulted (" + what + " at a damaged pointer)";
}

status lmdb_store::impl::check(int rc, const std::string& what) {
  if (rc != detail::mdb_fault)
    return from_mdb(rc, what);
  status st = status::corruption(what + ": " + name() + " is damaged: " + describe_fault());
  if (writer_thread.load() == std::this_thread::get_id()) {
    // LMDB's in-memory write state may be half-updated: no more writes here.
    std::lock_guard<std::mutex> guard(broken_mutex);
    if (!broken)
      broken = status::corruption(name() + " is damaged (a write faulted earlier in this "
                                  "process): " + describe_fault());
  }
  return st;
}

void lmdb_store::impl::find_map() {
  // LMDB does not say where it mapped data.mdb (mdb_env_info's me_mapaddr is
  // the fixed-address field of the meta page, null here): find the mapping
  // of the file's inode in /proc/self/maps.
  map_base = 0;
  map_length = 0;
  int fd = -1;
  struct stat st;
  if (mdb_env_get_fd(env, &fd) != MDB_SUCCESS || ::fstat(fd, &st) != 0)
    return;
  std::FILE* maps = std::fopen("/proc/self/maps", "r");
  if (!maps)
    return;
  char line[1024];
  while (std::fgets(line, sizeof line, maps)) {
    unsigned long start = 0, end = 0, offset = 0, inode = 0;
    unsigned dev_major = 0, dev_minor = 0;
    char perms[8];
    if (std::sscanf(line, "%lx-%lx %7s %lx %x:%x %lu", &start, &end, perms, &offset, &dev_major,
                    &dev_minor, &inode) != 7)
      continue;
    if (inode == st.st_ino && offset == 0 && makedev(dev_major, dev_minor) == st.st_dev) {
      map_base = start;
      map_length = end - start;
      break;
    }
  }
  std::fclose(maps);
}

status lmdb_store::impl::check_inside(const MDB_val& v, const std::string& what) {
  auto at = reinterpret_cast<uintptr_t>(v.mv_data);
  bool in_map = at >= map_base && at - map_base < map_length;
  // A write transaction also hands out its dirty pages, which live on the heap.
  if (!in_map && writer_thread.load() == std::this_thread::get_id())
    return status::ok();
  uint64_t size = data_file_size();
  if (!in_map || v.mv_size > size || at - map_base > size - v.mv_size)
    return status::corruption(what + ": " + name() + " is damaged: LMDB gave a value of "
                              + std::to_string(v.mv_size) + " bytes "
                              + (in_map ? "at offset " + std::to_string(at - map_base)
                                        : std::string("outside its map"))
                              + ", outside data.mdb (" + std::to_string(size) + " bytes)");
  return status::ok();
}

status lmdb_store::impl::copy_out(const MDB_val& v, std::string* out, const std::string& what) {
  AMBER_RETURN_IF_ERROR(check_inside(v, what));
  out->resize(v.mv_size);
  char* to = out->data();
  const void* from = v.mv_data;
  size_t n = v.mv_size;
  int rc = guarded([&] {
    std::memcpy(to, from, n);
    return 0;
  });
  if (rc != 0) {
    out->clear();
    return check(rc, what);
  }
  return status::ok();
}

status lmdb_store::impl::get(MDB_txn* t, MDB_dbi dbi, std::string_view key, std::string* out,
                             const std::string& what) {
  MDB_val k = to_val(key);
  MDB_val v;
  int rc = guarded([&] { return mdb_get(t, dbi, &k, &v); });
  if (rc != MDB_SUCCESS)
    return check(rc, what);
  if (!out)
    return check_inside(v, what);
  return copy_out(v, out, what);
}

status lmdb_store::impl::get(MDB_dbi dbi, std::string_view key, std::string* out,
                             const std::string& what) {
  lmdb_txn t(*this);
  AMBER_RETURN_IF_ERROR(t.begin(true));
  return get(t.get(), dbi, key, out, what);
}

status lmdb_store::impl::get_verified(MDB_dbi dbi, const digest& id, std::string* out,
                                      const char* kind) {
  std::string what = std::string(kind) + " " + id.to_hex();
  status st = get(dbi, id.raw(), out, what + " does not exist");
  if (!st)
    return st.is_not_found() ? st : st.with_context("cannot read " + what);
  if (sha256(*out) != id) {
    out->clear();
    return status::corruption(what + " is corrupt: its bytes do not match its digest");
  }
  return status::ok();
}

status lmdb_store::impl::scan(MDB_dbi dbi,
                              const std::function<status(std::string_view, const MDB_val&)>& visit) {
  lmdb_txn t(*this);
  AMBER_RETURN_IF_ERROR(t.begin(true));
  return scan(t.get(), dbi, visit);
}

status lmdb_store::impl::scan(MDB_txn* t, MDB_dbi dbi,
                              const std::function<status(std::string_view, const MDB_val&)>& visit) {
  MDB_cursor* cursor = nullptr;
  int rc = guarded([&] { return mdb_cursor_open(t, dbi, &cursor); });
  if (rc != MDB_SUCCESS)
    return check(rc, "cannot open a cursor on " + name());
  MDB_val k, v;
  status st;
  MDB_cursor_op op = MDB_FIRST;
  for (;;) {
    rc = guarded([&] { return mdb_cursor_get(cursor, &k, &v, op); });
    if (rc != MDB_SUCCESS)
      break;
    op = MDB_NEXT;
    st = check_inside(k, "a key of " + name());
    if (st)
      st = check_inside(v, "a value of " + name());
    if (st)
      st = visit(from_val(k), v);
    if (!st)
      break;
  }
  mdb_cursor_close(cursor); // Frees memory only.
  if (!st)
    return st;
  if (rc != MDB_NOTFOUND)
    return check(rc, "cannot scan " + name());
  return status::ok();
}

status lmdb_store::impl::put(MDB_txn* t, MDB_dbi dbi, std::string_view key,
                             std::string_view value, unsigned flags, const std::string& what) {
  MDB_val k = to_val(key);
  MDB_val v = to_val(value);
  int rc = guarded([&] { return mdb_put(t, dbi, &k, &v, flags); });
  if (rc == MDB_KEYEXIST && (flags & MDB_NOOVERWRITE))
    return status(errc::conflict, what + " exists");
  return check(rc, what);
}

status lmdb_store::impl::del(MDB_txn* t, MDB_dbi dbi, std::string_view key) {
  MDB_val k = to_val(key);
  int rc = guarded([&] { return mdb_del(t, dbi, &k, nullptr); });
  if (rc == MDB_NOTFOUND)
    return status::ok();
  return check(rc, "cannot delete an object of " + name());
}

status lmdb_store::impl::classify_commit_error(int rc, const std::string& what) {
  // LMDB turns a short write (the disk filled up part way) into EIO: ask
  // the file system whether it is full.
  if (rc == EIO) {
    struct statvfs vfs;
    if (::statvfs(dir.c_str(), &vfs) == 0) {
      uint64_t free_bytes = uint64_t{vfs.f_bavail} * vfs.f_frsize;
      if (free_bytes < (uint64_t{1} << 20))
        return status(errc::no_space, what + ": no space left on device (" + std::to_string(free_bytes)
                                        + " bytes free on the file system of " + dir
                                        + "; LMDB reported " + mdb_strerror(rc) + ")");
    }
  }
  return check(rc, what);
}

status lmdb_store::impl::commit(lmdb_txn& t) {
  MDB_txn* p = t.get();
  uint64_t id = mdb_txn_id(p);
  // The id inside the tree: a meta page that names another transaction
  // than the tree it points at is damaged (checked on open).
  AMBER_RETURN_IF_ERROR(put(p, meta, txn_key, u64_bytes(id), 0,
                            "cannot record the transaction in " + name()));
  t.release();
  int rc = guarded([&] { return mdb_txn_commit(p); });
  if (rc != MDB_SUCCESS)
    return classify_commit_error(rc, "cannot commit to " + name());
  // After LMDB's commit returned: the record never runs ahead of the data.
  // A failed record write only makes it lag, which the open check allows.
  if (record)
    (void)record->write(id);
  return status::ok();
}

status lmdb_store::impl::grow_map(uint64_t at_least) {
  std::unique_lock<std::shared_mutex> all(remap); // no transaction of ours runs now
  MDB_envinfo info;
  int rc = mdb_env_info(env, &info);
  if (rc != MDB_SUCCESS)
    return from_mdb(rc, "cannot read the map size of " + name());
  uint64_t next = std::max<uint64_t>(uint64_t{info.me_mapsize} * 2, at_least);
  rc = mdb_env_set_mapsize(env, next);
  if (rc != MDB_SUCCESS)
    return status(errc::no_space,
                  name() + " reached its map size of " + std::to_string(info.me_mapsize)
                    + " bytes and cannot map " + std::to_string(next) + " (" + mdb_strerror(rc)
                    + "): raise the process's address-space limit (ulimit -v) or open the "
                      "store with a larger lmdb_options::map_size");
  find_map();
  return status::ok();
}

status lmdb_store::impl::write(const std::function<status(MDB_txn*)>& body) {
  if (opts.read_only)
    return status::invalid_argument(name() + " is open read-only");
  {
    std::lock_guard<std::mutex> guard(broken_mutex);
    if (broken)
      return *broken;
  }
  std::lock_guard<std::mutex> one_writer(writer);
  AMBER_RETURN_IF_ERROR(
    write_lock->lock(opts.lock_timeout, opts.on_lock_wait)
      .with_context("cannot write to " + name() + ": gave up after "
                    + std::to_string(opts.lock_timeout.count()) + " ms waiting for its write lock"));
  struct release {
    lmdb_store::impl& s;
    ~release() {
      s.writer_thread.store(std::thread::id());
      s.write_lock->unlock();
    }
  } on_exit{*this};
  writer_thread.store(std::this_thread::get_id());
  // Each failed attempt doubles the map; 24 doublings of even 1 MiB pass any disk.
  for (int attempt = 0;; ++attempt) {
    status st;
    {
      lmdb_txn t(*this);
      st = t.begin(false);
      if (st)
        st = body(t.get());
      if (st)
        st = commit(t);
    }
    if (!is_map_full(st) || attempt == 24)
      return st;
    AMBER_RETURN_IF_ERROR(grow_map(0));
  }
}

namespace {

status open_tables(lmdb_store::impl& s, MDB_txn* t, bool create) {
  const std::string& dir = s.dir;
  unsigned flags = create ? MDB_CREATE : 0;
  int rc = guarded([&] { return mdb_dbi_open(t, "meta", flags, &s.meta); });
  if (rc == MDB_NOTFOUND)
    return status(errc::not_a_store, dir + " is not an amber store (no metadata)");
  if (rc != MDB_SUCCESS)
    return s.check(rc, "cannot open the metadata of " + dir);
  if (create) {
    AMBER_RETURN_IF_ERROR(s.put(t, s.meta, "format", lmdb_store::format_version, 0,
                                "cannot write the store format"));
  } else {
    std::string format;
    status st = s.get(t, s.meta, "format", &format, "the format of " + dir);
    if (st.is_not_found())
      return status(errc::not_a_store, dir + " is not an amber store (no format version)");
    AMBER_RETURN_IF_ERROR(st);
    if (format != lmdb_store::format_version)
      return status(errc::format_mismatch, "the store at " + dir + " has format '" + format
                                             + "', this build reads '"
                                             + lmdb_store::format_version + "'");
  }
  const std::pair<const char*, MDB_dbi*> tables[] = {
    {"blobs", &s.blobs}, {"manifests", &s.manifests}, {"refs", &s.refs}};
  for (auto entry : tables) {
    // Named copies: a lambda cannot capture a structured binding before C++20.
    const char* table = entry.first;
    MDB_dbi* dbi = entry.second;
    rc = guarded([&] { return mdb_dbi_open(t, table, flags, dbi); });
    if (rc == MDB_NOTFOUND)
      return status(errc::not_a_store,
                    dir + " is not an amber store (no '" + std::string(table) + "' table)");
    if (rc != MDB_SUCCESS)
      return s.check(rc, "cannot open table '" + std::string(table) + "' of " + dir);
  }
  return status::ok();
}

// True when the environment's main database holds no named database yet,
// as after a crash between creating data.mdb and writing the metadata.
bool env_is_empty(MDB_env* env) {
  MDB_stat st;
  if (mdb_env_stat(env, &st) != MDB_SUCCESS)
    return false;
  return st.ms_entries == 0;
}

// The meta pages as read before mapping; a writer of another process may
// be rewriting one of them, so a doubtful answer is asked again.
result<detail::lmdb_file_facts> check_data_file(const std::string& path) {
  for (int attempt = 0;; ++attempt) {
    auto facts = detail::check_lmdb_file(path);
    if (facts || facts.error().code() != errc::corruption || attempt == 2)
      return facts;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// Compares the transaction LMDB opened with the ids amber recorded: inside
// the tree (written by the same transaction) and in last-commit (outside
// data.mdb). See commit_record.hpp.
status check_rollback(lmdb_store::impl& s, const detail::lmdb_file_facts& facts) {
  // The record first: it is written after each commit, so it never names a
  // transaction newer than the one a read transaction begun later sees,
  // however a writer of another process races with this open.
  auto recorded = detail::commit_record::read(s.dir);
  if (!recorded)
    return recorded.error();
  lmdb_txn t(s);
  AMBER_RETURN_IF_ERROR(t.begin(true));
  uint64_t opened = mdb_txn_id(t.get());
  std::string raw;
  status st = s.get(t.get(), s.meta, txn_key, &raw, "the transaction record of " + s.dir);
  if (!st && !st.is_not_found())
    return st;
  if (st && bytes_u64(raw) != opened)
    return status::corruption(
      s.name() + " is damaged: meta page " + std::to_string(facts.newest) + " of data.mdb "
      "names transaction " + std::to_string(opened) + ", but the tree it points at was written "
      "by transaction " + std::to_string(bytes_u64(raw)) + " (a damaged meta page)");
  if (*recorded && **recorded > opened)
    return status::corruption(
      s.name() + " was rolled back: it committed transaction " + std::to_string(**recorded)
      + " (recorded in " + s.dir + "/" + detail::commit_record::file_name + "), but data.mdb "
      "opens at transaction " + std::to_string(opened) + ": its newest meta page is damaged and "
      "LMDB fell back to an older commit. Restore the store from a copy or an export; to accept "
      "the older state, remove " + detail::commit_record::file_name);
  return status::ok();
}

} // namespace

status open_env(lmdb_store::impl& s, bool has_data, bool create) {
  const std::string data = s.dir + "/data.mdb";
  detail::lmdb_file_facts facts;
  if (has_data) {
    auto checked = check_data_file(data);
    if (!checked) {
      const status& e = checked.error();
      bool empty_ok = e.code() == errc::not_a_store && create && fs_file_size(data) == 0;
      if (!empty_ok) {
        if (e.code() == errc::not_a_store)
          return status(errc::not_a_store, s.dir + " is not an amber store (" + e.message() + ")");
        if (e.code() == errc::corruption)
          return status::corruption(s.name() + " is damaged: " + e.message());
        return e;
      }
    } else {
      facts = *checked;
    }
  }
  const bool read_only = s.opts.read_only;
  for (int attempt = 0; attempt < 2; ++attempt) {
    int rc = mdb_env_create(&s.env);
    if (rc != MDB_SUCCESS) {
      s.env = nullptr;
      return from_mdb(rc, "cannot create an LMDB environment");
    }
    detail::install_fault_handlers(s.env);
    mdb_env_set_maxdbs(s.env, 4);
    mdb_env_set_mapsize(s.env, s.opts.map_size);
    unsigned flags = MDB_NOTLS | (s.opts.no_sync ? MDB_NOSYNC : 0);
    if (read_only)
      flags |= MDB_RDONLY | (s.no_lock ? MDB_NOLOCK : 0);
    MDB_env* env = s.env;
    const char* path = s.dir.c_str();
    rc = guarded([&] { return mdb_env_open(env, path, flags, 0644); });
    if (rc == MDB_SUCCESS)
      break;
    mdb_env_close(s.env);
    s.env = nullptr;
    // A reader who may not write lock.mdb reads without LMDB's reader table.
    if (read_only && !s.no_lock && (rc == EACCES || rc == EROFS || rc == EPERM)) {
      s.no_lock = true;
      continue;
    }
    if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH)
      return status(errc::not_a_store, s.dir + " is not an amber store (" + mdb_strerror(rc) + ")");
    if (rc == EACCES && !read_only)
      return status::io_error("cannot open the store at " + s.dir + " for writing: "
                              + mdb_strerror(rc) + " (commands that only read it open it "
                                                   "read-only)");
    return s.check(rc, "cannot open the store at " + s.dir);
  }
  s.find_map();
  if (!read_only) {
    auto lock = file_lock::open(s.dir + "/write.lock");
    if (!lock)
      return lock.error();
    s.write_lock = std::move(*lock);
    auto rec = detail::commit_record::open(s.dir);
    if (!rec)
      return rec.error();
    s.record.emplace(std::move(*rec));
  }
  bool fresh = !has_data || (create && env_is_empty(s.env));
  if (fresh && read_only)
    return status(errc::not_a_store, s.dir + " is not an amber store (no metadata)");
  if (fresh)
    return s.write([&](MDB_txn* t) { return open_tables(s, t, true); });
  {
    lmdb_txn t(s);
    AMBER_RETURN_IF_ERROR(t.begin(true));
    AMBER_RETURN_IF_ERROR(open_tables(s, t.get(), false));
    // Committing (not aborting) keeps the tables' handles open.
    MDB_txn* p = t.release();
    int rc = guarded([&] { return mdb_txn_commit(p); });
    if (rc != MDB_SUCCESS)
      return s.check(rc, "cannot open the tables of " + s.dir);
  }
  return check_rollback(s, facts);
}

} // namespace amber
