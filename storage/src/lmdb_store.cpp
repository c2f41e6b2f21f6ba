#include "amber/storage/lmdb_store.hpp"

#include <lmdb.h>

#include <filesystem>
#include <mutex>
#include <set>
#include <utility>

#include "removal_check.hpp"

namespace amber {

namespace fs = std::filesystem;

namespace {

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
      return status::corruption(text);
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
      return status(errc::not_a_store, text);
    case MDB_MAP_FULL:
      return status::io_error(text + " (the store reached its map size)");
    case MDB_BAD_VALSIZE: // e.g. a ref name longer than LMDB's key limit
      return status::invalid_argument(text);
    default:
      return status::io_error(text);
  }
}

MDB_val to_val(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}

std::string_view from_val(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

// Directories this process has open: LMDB forbids opening one twice.
std::mutex open_dirs_mutex;
std::set<std::string> open_dirs;

// Aborts on scope exit unless committed.
class txn {
public:
  txn() = default;
  txn(const txn&) = delete;
  txn& operator=(const txn&) = delete;
  ~txn() {
    if (ptr_)
      mdb_txn_abort(ptr_);
  }
  status begin(MDB_env* env, bool read_only) {
    int rc = mdb_txn_begin(env, nullptr, read_only ? MDB_RDONLY : 0, &ptr_);
    if (rc != MDB_SUCCESS) {
      ptr_ = nullptr;
      return from_mdb(rc, "cannot begin a transaction");
    }
    return status::ok();
  }
  status commit() {
    int rc = mdb_txn_commit(ptr_);
    ptr_ = nullptr;
    return from_mdb(rc, "cannot commit a transaction");
  }
  MDB_txn* get() const { return ptr_; }

private:
  MDB_txn* ptr_ = nullptr;
};

} // namespace

struct lmdb_store::impl {
  MDB_env* env = nullptr;
  MDB_dbi meta = 0;
  MDB_dbi blobs = 0;
  MDB_dbi manifests = 0;
  MDB_dbi refs = 0;
  std::string canonical_dir;

  ~impl() {
    if (env)
      mdb_env_close(env);
    if (!canonical_dir.empty()) {
      std::lock_guard<std::mutex> guard(open_dirs_mutex);
      open_dirs.erase(canonical_dir);
    }
  }

  // Reads `key` of `dbi` into `*out` (copied before the transaction ends).
  status get(MDB_dbi dbi, std::string_view key, std::string* out, const std::string& what) {
    txn t;
    AMBER_RETURN_IF_ERROR(t.begin(env, true));
    MDB_val k = to_val(key);
    MDB_val v;
    int rc = mdb_get(t.get(), dbi, &k, &v);
    if (rc != MDB_SUCCESS)
      return from_mdb(rc, what);
    if (out)
      out->assign(static_cast<const char*>(v.mv_data), v.mv_size);
    return status::ok();
  }

  // Reads a content-addressed object and checks that its bytes hash to `id`.
  status get_verified(MDB_dbi dbi, const digest& id, std::string* out, const char* kind) {
    std::string what = std::string(kind) + " " + id.to_hex();
    status st = get(dbi, id.raw(), out, what + " does not exist");
    if (!st)
      return st;
    if (sha256(*out) != id) {
      out->clear();
      return status::corruption(what + " is corrupt: its bytes do not match its digest");
    }
    return status::ok();
  }

  template <class F>
  status scan(MDB_dbi dbi, F&& visit) {
    txn t;
    AMBER_RETURN_IF_ERROR(t.begin(env, true));
    return scan(t.get(), dbi, std::forward<F>(visit));
  }

  // Visits every entry of `dbi` inside the caller's transaction `t`.
  template <class F>
  status scan(MDB_txn* t, MDB_dbi dbi, F&& visit) {
    MDB_cursor* cursor = nullptr;
    int rc = mdb_cursor_open(t, dbi, &cursor);
    if (rc != MDB_SUCCESS)
      return from_mdb(rc, "cannot open a cursor");
    MDB_val k, v;
    status st;
    for (rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST); rc == MDB_SUCCESS && st.is_ok();
         rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT))
      st = visit(from_val(k), v);
    mdb_cursor_close(cursor);
    if (!st)
      return st;
    if (rc != MDB_NOTFOUND && rc != MDB_SUCCESS)
      return from_mdb(rc, "cannot scan the store");
    return status::ok();
  }

  status put(MDB_txn* t, MDB_dbi dbi, std::string_view key, std::string_view value,
             unsigned flags, const std::string& what) {
    MDB_val k = to_val(key);
    MDB_val v = to_val(value);
    int rc = mdb_put(t, dbi, &k, &v, flags);
    if (rc == MDB_KEYEXIST && (flags & MDB_NOOVERWRITE))
      return status(errc::conflict, what + " exists");
    return from_mdb(rc, what);
  }
};

namespace {

status open_dbis(lmdb_store::impl& s, bool create, const std::string& dir) {
  txn t;
  AMBER_RETURN_IF_ERROR(t.begin(s.env, !create));
  unsigned flags = create ? MDB_CREATE : 0;
  int rc = mdb_dbi_open(t.get(), "meta", flags, &s.meta);
  if (rc == MDB_NOTFOUND)
    return status(errc::not_a_store, dir + " is not an amber store (no metadata)");
  if (rc != MDB_SUCCESS)
    return from_mdb(rc, "cannot open the metadata of " + dir);
  if (create) {
    AMBER_RETURN_IF_ERROR(s.put(t.get(), s.meta, "format", lmdb_store::format_version, 0,
                                "cannot write the store format"));
  } else {
    MDB_val k = to_val("format");
    MDB_val v;
    rc = mdb_get(t.get(), s.meta, &k, &v);
    if (rc == MDB_NOTFOUND)
      return status(errc::not_a_store, dir + " is not an amber store (no format version)");
    if (rc != MDB_SUCCESS)
      return from_mdb(rc, "cannot read the format of " + dir);
    if (from_val(v) != lmdb_store::format_version)
      return status(errc::format_mismatch, "the store at " + dir + " has format '"
                                             + std::string(from_val(v)) + "', this build reads '"
                                             + lmdb_store::format_version + "'");
  }
  const std::pair<const char*, MDB_dbi*> tables[] = {
    {"blobs", &s.blobs}, {"manifests", &s.manifests}, {"refs", &s.refs}};
  for (auto [name, dbi] : tables) {
    rc = mdb_dbi_open(t.get(), name, flags, dbi);
    if (rc == MDB_NOTFOUND)
      return status(errc::not_a_store,
                    dir + " is not an amber store (no '" + std::string(name) + "' table)");
    if (rc != MDB_SUCCESS)
      return from_mdb(rc, "cannot open table '" + std::string(name) + "' of " + dir);
  }
  return t.commit();
}

// True when the environment's main database holds no named database yet,
// as after a crash between creating data.mdb and writing the metadata.
bool env_is_empty(MDB_env* env) {
  MDB_stat st;
  if (mdb_env_stat(env, &st) != MDB_SUCCESS)
    return false;
  return st.ms_entries == 0;
}

} // namespace

result<std::shared_ptr<lmdb_store>> lmdb_store::open(const std::string& dir,
                                                     const lmdb_options& opts) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    if (!opts.create_if_missing)
      return status(errc::not_a_store, "no store at " + dir + ": the directory does not exist");
    fs::create_directories(dir, ec);
    if (ec)
      return status::io_error("cannot create " + dir + ": " + ec.message());
  }
  if (!fs::is_directory(dir, ec))
    return status(errc::not_a_store, dir + " is not a directory");
  bool has_data = fs::exists(fs::path(dir) / "data.mdb", ec);
  if (!has_data) {
    if (!opts.create_if_missing)
      return status(errc::not_a_store, dir + " is not an amber store (no data.mdb)");
    for (auto& entry : fs::directory_iterator(dir, ec)) {
      if (entry.path().filename() != "lock.mdb")
        return status(errc::not_a_store, "will not create a store in " + dir
                                           + ": the directory is not empty");
    }
  }
  auto canonical = fs::canonical(dir, ec).string();
  if (ec)
    return status::io_error("cannot resolve " + dir + ": " + ec.message());
  {
    std::lock_guard<std::mutex> guard(open_dirs_mutex);
    if (!open_dirs.insert(canonical).second)
      return status(errc::busy, "the store at " + dir + " is already open in this process");
  }
  auto p = std::make_unique<impl>();
  p->canonical_dir = canonical;
  int rc = mdb_env_create(&p->env);
  if (rc != MDB_SUCCESS) {
    p->env = nullptr;
    return from_mdb(rc, "cannot create an LMDB environment");
  }
  mdb_env_set_maxdbs(p->env, 4);
  mdb_env_set_mapsize(p->env, opts.map_size);
  unsigned flags = MDB_NOTLS | (opts.no_sync ? MDB_NOSYNC : 0);
  rc = mdb_env_open(p->env, dir.c_str(), flags, 0644);
  if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH)
    return status(errc::not_a_store, dir + " is not an amber store (" + mdb_strerror(rc) + ")");
  if (rc != MDB_SUCCESS)
    return from_mdb(rc, "cannot open the store at " + dir);
  bool create = !has_data || (opts.create_if_missing && env_is_empty(p->env));
  AMBER_RETURN_IF_ERROR(open_dbis(*p, create, dir));
  return std::shared_ptr<lmdb_store>(new lmdb_store(std::move(p), dir));
}

lmdb_store::lmdb_store(std::unique_ptr<impl> p, std::string dir)
  : impl_(std::move(p)), dir_(std::move(dir)) {}

lmdb_store::~lmdb_store() = default;

std::string lmdb_store::describe() const {
  return "lmdb store at " + dir_;
}

result<put_stats> lmdb_store::put_blobs(const std::vector<std::string_view>& blobs) {
  put_stats out;
  // Hash outside the write transaction: the writer lock is held only for puts.
  out.ids = sha256_all(blobs);
  txn t;
  AMBER_RETURN_IF_ERROR(t.begin(impl_->env, false));
  for (size_t i = 0; i < blobs.size(); ++i) {
    status st = impl_->put(t.get(), impl_->blobs, out.ids[i].raw(), blobs[i], MDB_NOOVERWRITE,
                           "cannot write blob " + out.ids[i].to_hex());
    if (st.code() == errc::conflict)
      continue; // Already stored: content addressing makes it the same bytes.
    if (!st)
      return st;
    ++out.written;
    out.bytes_written += blobs[i].size();
  }
  AMBER_RETURN_IF_ERROR(t.commit());
  return out;
}

status lmdb_store::get_blob(const digest& id, std::string* out) {
  std::string tmp;
  return impl_->get_verified(impl_->blobs, id, out ? out : &tmp, "blob");
}

status lmdb_store::has_blob(const digest& id) {
  return impl_->get(impl_->blobs, id.raw(), nullptr, "blob " + id.to_hex() + " does not exist");
}

result<uint64_t> lmdb_store::blob_size(const digest& id) {
  txn t;
  AMBER_RETURN_IF_ERROR(t.begin(impl_->env, true));
  MDB_val k = to_val(id.raw());
  MDB_val v;
  int rc = mdb_get(t.get(), impl_->blobs, &k, &v);
  if (rc != MDB_SUCCESS)
    return from_mdb(rc, "blob " + id.to_hex() + " does not exist");
  return uint64_t{v.mv_size};
}

result<commit_stats> lmdb_store::commit(const snapshot_commit& c) {
  commit_stats out;
  out.id = sha256(c.manifest);
  txn t;
  AMBER_RETURN_IF_ERROR(t.begin(impl_->env, false));
  // The head first: a conflict should cost no blob writes (they would be
  // rolled back anyway).
  if (!c.ref.empty() && c.check_expected_head) {
    MDB_val k = to_val(c.ref);
    MDB_val v;
    int rc = mdb_get(t.get(), impl_->refs, &k, &v);
    std::optional<digest> current;
    if (rc == MDB_SUCCESS) {
      auto d = digest::from_raw(from_val(v));
      if (!d)
        return d.error().with_context("ref " + c.ref);
      current = *d;
    } else if (rc != MDB_NOTFOUND) {
      return from_mdb(rc, "cannot read ref " + c.ref);
    }
    if (current != c.expected_head)
      return status(errc::conflict, "ref " + c.ref + " moved to "
                                      + (current ? current->to_hex() : std::string("nothing"))
                                      + " while this snapshot was taken");
  }
  for (auto& b : c.blobs) {
    status st = impl_->put(t.get(), impl_->blobs, b.id.raw(), b.bytes, MDB_NOOVERWRITE,
                           "cannot write blob " + b.id.to_hex());
    if (st.code() == errc::conflict) {
      ++out.present; // Content addressing: the same bytes are stored already.
      continue;
    }
    if (!st)
      return st;
    ++out.written;
    out.bytes_written += b.bytes.size();
  }
  // Sees the blobs written above: they are part of this transaction.
  for (auto& ref : c.references) {
    MDB_val k = to_val(ref.raw());
    MDB_val v;
    int rc = mdb_get(t.get(), impl_->blobs, &k, &v);
    if (rc == MDB_NOTFOUND)
      return status::not_found("blob " + ref.to_hex() + " referenced by the manifest is missing");
    if (rc != MDB_SUCCESS)
      return from_mdb(rc, "cannot look up blob " + ref.to_hex());
  }
  status st = impl_->put(t.get(), impl_->manifests, out.id.raw(), c.manifest, MDB_NOOVERWRITE,
                         "cannot write manifest " + out.id.to_hex());
  if (!st && st.code() != errc::conflict)
    return st;
  if (!c.ref.empty())
    AMBER_RETURN_IF_ERROR(
      impl_->put(t.get(), impl_->refs, c.ref, out.id.raw(), 0, "cannot move ref " + c.ref));
  AMBER_RETURN_IF_ERROR(t.commit());
  return out;
}

status lmdb_store::get_manifest(const digest& id, std::string* out) {
  std::string tmp;
  return impl_->get_verified(impl_->manifests, id, out ? out : &tmp, "snapshot");
}

result<digest> lmdb_store::get_ref(std::string_view name) {
  if (name.empty()) // LMDB rejects empty keys; no ref has an empty name.
    return status::not_found("ref  does not exist");
  std::string raw;
  AMBER_RETURN_IF_ERROR(
    impl_->get(impl_->refs, name, &raw, "ref " + std::string(name) + " does not exist"));
  auto d = digest::from_raw(raw);
  if (!d)
    return d.error().with_context("ref " + std::string(name));
  return *d;
}

status lmdb_store::set_ref(std::string_view name, const digest& id) {
  if (name.empty())
    return status::invalid_argument("a ref name must not be empty");
  txn t;
  AMBER_RETURN_IF_ERROR(t.begin(impl_->env, false));
  MDB_val k = to_val(id.raw());
  MDB_val v;
  int rc = mdb_get(t.get(), impl_->manifests, &k, &v);
  if (rc != MDB_SUCCESS)
    return from_mdb(rc, "snapshot " + id.to_hex() + " does not exist");
  AMBER_RETURN_IF_ERROR(impl_->put(t.get(), impl_->refs, name, id.raw(), 0,
                                   "cannot set ref " + std::string(name)));
  return t.commit();
}

result<std::vector<std::pair<std::string, digest>>> lmdb_store::list_refs() {
  std::vector<std::pair<std::string, digest>> out;
  AMBER_RETURN_IF_ERROR(impl_->scan(impl_->refs, [&](std::string_view key, const MDB_val& v) {
    auto d = digest::from_raw(from_val(v));
    if (!d)
      return d.error().with_context("ref " + std::string(key));
    out.emplace_back(std::string(key), *d);
    return status::ok();
  }));
  return out;
}

namespace {

result<std::vector<digest>> list_keys(lmdb_store::impl& s, MDB_dbi dbi) {
  std::vector<digest> out;
  AMBER_RETURN_IF_ERROR(s.scan(dbi, [&](std::string_view key, const MDB_val&) {
    auto d = digest::from_raw(key);
    if (!d)
      return d.error();
    out.push_back(*d);
    return status::ok();
  }));
  return out;
}

} // namespace

result<std::vector<digest>> lmdb_store::list_manifests() {
  return list_keys(*impl_, impl_->manifests);
}

result<std::vector<digest>> lmdb_store::list_blobs() {
  return list_keys(*impl_, impl_->blobs);
}

status lmdb_store::remove(const removal& what) {
  txn t;
  AMBER_RETURN_IF_ERROR(t.begin(impl_->env, false));
  if (what.expected) {
    // Inside the write transaction: no commit can land between this look
    // and the deletes below.
    std::vector<digest> manifests;
    AMBER_RETURN_IF_ERROR(impl_->scan(t.get(), impl_->manifests,
                                      [&](std::string_view key, const MDB_val&) {
                                        auto d = digest::from_raw(key);
                                        if (!d)
                                          return d.error().with_context("a manifest key");
                                        manifests.push_back(*d);
                                        return status::ok();
                                      }));
    std::vector<std::pair<std::string, digest>> refs;
    AMBER_RETURN_IF_ERROR(
      impl_->scan(t.get(), impl_->refs, [&](std::string_view key, const MDB_val& v) {
        auto d = digest::from_raw(from_val(v));
        if (!d)
          return d.error().with_context("ref " + std::string(key));
        refs.emplace_back(std::string(key), *d);
        return status::ok();
      }));
    AMBER_RETURN_IF_ERROR(
      detail::check_removal_guard(*what.expected, std::move(manifests), std::move(refs)));
  }
  auto del = [&](MDB_dbi dbi, std::string_view key) {
    MDB_val k = to_val(key);
    int rc = mdb_del(t.get(), dbi, &k, nullptr);
    if (rc == MDB_NOTFOUND)
      return status::ok();
    return from_mdb(rc, "cannot delete an object");
  };
  for (auto& r : what.refs)
    if (!r.empty()) // LMDB rejects empty keys; no such ref can exist.
      AMBER_RETURN_IF_ERROR(del(impl_->refs, r));
  for (auto& m : what.manifests)
    AMBER_RETURN_IF_ERROR(del(impl_->manifests, m.raw()));
  for (auto& b : what.blobs)
    AMBER_RETURN_IF_ERROR(del(impl_->blobs, b.raw()));
  return t.commit();
}

result<store_stats> lmdb_store::stats() {
  store_stats out;
  // One read transaction for all three tables, so the counts agree.
  txn t;
  AMBER_RETURN_IF_ERROR(t.begin(impl_->env, true));
  auto count = [&](MDB_dbi dbi, uint64_t& n, uint64_t* bytes) {
    return impl_->scan(t.get(), dbi, [&](std::string_view, const MDB_val& v) {
      ++n;
      if (bytes)
        *bytes += v.mv_size;
      return status::ok();
    });
  };
  AMBER_RETURN_IF_ERROR(count(impl_->blobs, out.blobs, &out.blob_bytes));
  AMBER_RETURN_IF_ERROR(count(impl_->manifests, out.manifests, nullptr));
  AMBER_RETURN_IF_ERROR(count(impl_->refs, out.refs, nullptr));
  return out;
}

status lmdb_store::test_overwrite_blob(const digest& id, std::string_view bytes) {
  txn t;
  AMBER_RETURN_IF_ERROR(t.begin(impl_->env, false));
  AMBER_RETURN_IF_ERROR(impl_->put(t.get(), impl_->blobs, id.raw(), bytes, 0, "test write"));
  return t.commit();
}

status lmdb_store::test_overwrite_manifest(const digest& id, std::string_view bytes) {
  txn t;
  AMBER_RETURN_IF_ERROR(t.begin(impl_->env, false));
  AMBER_RETURN_IF_ERROR(
    impl_->put(t.get(), impl_->manifests, id.raw(), bytes, 0, "test write"));
  return t.commit();
}

uint64_t lmdb_store::test_last_txn_id() const {
  MDB_envinfo info;
  if (mdb_env_info(impl_->env, &info) != MDB_SUCCESS)
    return 0;
  return info.me_last_txnid;
}

} // namespace amber
