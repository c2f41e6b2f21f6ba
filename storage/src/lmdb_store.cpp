#include "amber/storage/lmdb_store.hpp"

#include <lmdb.h>

#include <cctype>
#include <filesystem>
#include <utility>

#include "lmdb_env.hpp"
#include "lmdb_guard.hpp"
#include "removal_check.hpp"

namespace amber {

namespace fs = std::filesystem;

namespace {

// Files of ours (besides LMDB's lock.mdb) that may precede data.mdb.
bool is_store_file(const fs::path& name) {
  return name == "lock.mdb" || name == "write.lock" || name == "last-commit" || name == "leases";
}

// A lease file name: the name with every byte outside [A-Za-z0-9._-] as %XX.
std::string lease_file_name(std::string_view name) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : name) {
    if (std::isalnum(c) || c == '.' || c == '_' || c == '-') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out + ".lock";
}

} // namespace

result<std::shared_ptr<lmdb_store>> lmdb_store::open(const std::string& dir,
                                                     const lmdb_options& opts) {
  std::error_code ec;
  const bool create = opts.create_if_missing && !opts.read_only;
  if (!fs::exists(dir, ec)) {
    if (!create)
      return status(errc::not_a_store, "no store at " + dir + ": the directory does not exist");
    fs::create_directories(dir, ec);
    if (ec)
      return status::io_error("cannot create " + dir + ": " + ec.message());
  }
  if (!fs::is_directory(dir, ec))
    return status(errc::not_a_store, dir + " is not a directory");
  bool has_data = fs::exists(fs::path(dir) / "data.mdb", ec);
  if (!has_data) {
    if (!create)
      return status(errc::not_a_store, dir + " is not an amber store (no data.mdb)");
    for (auto& entry : fs::directory_iterator(dir, ec)) {
      if (!is_store_file(entry.path().filename()))
        return status(errc::not_a_store, "will not create a store in " + dir
                                           + ": the directory is not empty");
    }
  }
  auto canonical = fs::canonical(dir, ec).string();
  if (ec)
    return status::io_error("cannot resolve " + dir + ": " + ec.message());
  if (!mark_open(canonical))
    return status(errc::busy, "the store at " + dir + " is already open in this process");
  auto p = std::make_unique<impl>();
  p->canonical_dir = canonical;
  p->dir = dir;
  p->opts = opts;
  AMBER_RETURN_IF_ERROR(open_env(*p, has_data, create));
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
  status st = impl_->write([&](MDB_txn* t) {
    out.written = 0;
    out.bytes_written = 0;
    for (size_t i = 0; i < blobs.size(); ++i) {
      status st = impl_->put(t, impl_->blobs, out.ids[i].raw(), blobs[i], MDB_NOOVERWRITE,
                             "cannot write blob " + out.ids[i].to_hex());
      if (st.code() == errc::conflict)
        continue; // Already stored: content addressing makes it the same bytes.
      if (!st)
        return st;
      ++out.written;
      out.bytes_written += blobs[i].size();
    }
    return status::ok();
  });
  if (!st)
    return st;
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
  lmdb_txn t(*impl_);
  AMBER_RETURN_IF_ERROR(t.begin(true));
  MDB_val k = to_val(id.raw());
  MDB_val v;
  MDB_txn* p = t.get();
  MDB_dbi dbi = impl_->blobs;
  int rc = detail::guarded([&] { return mdb_get(p, dbi, &k, &v); });
  if (rc != MDB_SUCCESS)
    return impl_->check(rc, "blob " + id.to_hex() + " does not exist");
  AMBER_RETURN_IF_ERROR(impl_->check_inside(v, "blob " + id.to_hex()));
  return uint64_t{v.mv_size};
}

namespace {

// The digest a ref holds inside `t`, nullopt when it does not exist.
result<std::optional<digest>> ref_in(lmdb_store::impl& s, MDB_txn* t, const std::string& ref) {
  std::string raw;
  status st = s.get(t, s.refs, ref, &raw, "cannot read ref " + ref);
  if (st.is_not_found())
    return std::optional<digest>{};
  AMBER_RETURN_IF_ERROR(st);
  auto d = digest::from_raw(raw);
  if (!d)
    return d.error().with_context("ref " + ref);
  return std::optional<digest>(*d);
}

} // namespace

result<commit_stats> lmdb_store::commit(const snapshot_commit& c) {
  commit_stats out;
  out.id = sha256(c.manifest);
  status done = impl_->write([&](MDB_txn* t) {
    out.written = out.bytes_written = out.present = 0;
    // The head first: a conflict should cost no blob writes (they would be
    // rolled back anyway).
    if (!c.ref.empty() && c.check_expected_head) {
      auto current = ref_in(*impl_, t, c.ref);
      if (!current)
        return current.error();
      if (*current != c.expected_head)
        return status(errc::conflict, "ref " + c.ref + " moved to "
                                        + (*current ? (*current)->to_hex() : std::string("nothing"))
                                        + " while this snapshot was taken");
    }
    for (auto& b : c.blobs) {
      status st = impl_->put(t, impl_->blobs, b.id.raw(), b.bytes, MDB_NOOVERWRITE,
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
      status st = impl_->get(t, impl_->blobs, ref.raw(), nullptr,
                             "blob " + ref.to_hex() + " referenced by the manifest is missing");
      if (!st)
        return st;
    }
    status st = impl_->put(t, impl_->manifests, out.id.raw(), c.manifest, MDB_NOOVERWRITE,
                           "cannot write manifest " + out.id.to_hex());
    if (!st && st.code() != errc::conflict)
      return st;
    if (!c.ref.empty())
      return impl_->put(t, impl_->refs, c.ref, out.id.raw(), 0, "cannot move ref " + c.ref);
    return status::ok();
  });
  if (!done)
    return done;
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
  return impl_->write([&](MDB_txn* t) {
    AMBER_RETURN_IF_ERROR(impl_->get(t, impl_->manifests, id.raw(), nullptr,
                                     "snapshot " + id.to_hex() + " does not exist"));
    return impl_->put(t, impl_->refs, name, id.raw(), 0, "cannot set ref " + std::string(name));
  });
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

// Every key of `dbi` as a digest, in `t` or in a transaction of its own.
result<std::vector<digest>> list_keys(lmdb_store::impl& s, MDB_dbi dbi, MDB_txn* t = nullptr) {
  std::vector<digest> out;
  auto visit = [&](std::string_view key, const MDB_val&) {
    auto d = digest::from_raw(key);
    if (!d)
      return d.error().with_context("a key of " + s.name());
    out.push_back(*d);
    return status::ok();
  };
  AMBER_RETURN_IF_ERROR(t ? s.scan(t, dbi, visit) : s.scan(dbi, visit));
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
  return impl_->write([&](MDB_txn* t) {
    if (what.expected) {
      // Inside the write transaction: no commit can land between this look
      // and the deletes below.
      auto manifests = list_keys(*impl_, impl_->manifests, t);
      if (!manifests)
        return manifests.error();
      std::vector<std::pair<std::string, digest>> refs;
      AMBER_RETURN_IF_ERROR(
        impl_->scan(t, impl_->refs, [&](std::string_view key, const MDB_val& v) {
          auto d = digest::from_raw(from_val(v));
          if (!d)
            return d.error().with_context("ref " + std::string(key));
          refs.emplace_back(std::string(key), *d);
          return status::ok();
        }));
      AMBER_RETURN_IF_ERROR(
        detail::check_removal_guard(*what.expected, std::move(*manifests), std::move(refs)));
    }
    for (auto& r : what.refs)
      if (!r.empty()) // LMDB rejects empty keys; no such ref can exist.
        AMBER_RETURN_IF_ERROR(impl_->del(t, impl_->refs, r));
    for (auto& m : what.manifests)
      AMBER_RETURN_IF_ERROR(impl_->del(t, impl_->manifests, m.raw()));
    for (auto& b : what.blobs)
      AMBER_RETURN_IF_ERROR(impl_->del(t, impl_->blobs, b.raw()));
    return status::ok();
  });
}

result<store_stats> lmdb_store::stats() {
  store_stats out;
  // One read transaction for all three tables, so the counts agree.
  lmdb_txn t(*impl_);
  AMBER_RETURN_IF_ERROR(t.begin(true));
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

result<std::unique_ptr<file_lock>> lmdb_store::lease(std::string_view name) {
  if (name.empty())
    return status::invalid_argument("a lease name must not be empty");
  std::error_code ec;
  fs::create_directories(fs::path(dir_) / "leases", ec);
  if (ec)
    return status::io_error("cannot create " + dir_ + "/leases: " + ec.message());
  auto lock = file_lock::open(dir_ + "/leases/" + lease_file_name(name));
  if (!lock)
    return lock.error();
  status st = (*lock)->lock(std::chrono::milliseconds(0));
  if (st.code() == errc::busy)
    return status(errc::busy, "'" + std::string(name) + "' in the store at " + dir_
                                + " is held by " + (*lock)->holder());
  AMBER_RETURN_IF_ERROR(st);
  return std::move(*lock);
}

bool lmdb_store::read_only() const {
  return impl_->opts.read_only;
}

status lmdb_store::test_overwrite_blob(const digest& id, std::string_view bytes) {
  return impl_->write([&](MDB_txn* t) {
    return impl_->put(t, impl_->blobs, id.raw(), bytes, 0, "test write");
  });
}

status lmdb_store::test_overwrite_manifest(const digest& id, std::string_view bytes) {
  return impl_->write([&](MDB_txn* t) {
    return impl_->put(t, impl_->manifests, id.raw(), bytes, 0, "test write");
  });
}

uint64_t lmdb_store::test_last_txn_id() const {
  MDB_envinfo info;
  if (mdb_env_info(impl_->env, &info) != MDB_SUCCESS)
    return 0;
  return info.me_last_txnid;
}

} // namespace amber
