#include "amber/checkpoint/archive.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "amber/checkpoint/manifest.hpp"
#include "amber/checkpoint/snapshot.hpp"

namespace amber {

namespace fs = std::filesystem;

namespace {

constexpr size_t magic_size = 8;
constexpr size_t header_size = magic_size + 4 + 4;
constexpr size_t record_head_size = 1 + digest::size + 8;
constexpr char tag_manifest = 'M';
constexpr char tag_blob = 'B';
constexpr char tag_end = 'E';
// Blobs written per store transaction on import.
constexpr uint64_t batch_bytes = uint64_t{32} << 20;
constexpr size_t batch_blobs = 4096;

std::string errno_text() {
  return std::strerror(errno);
}

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t get_le(const char* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i)
    v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

std::string record_head(char tag, const digest& id, uint64_t length) {
  std::string out(1, tag);
  out.append(id.raw());
  put_u64(out, length);
  return out;
}

// Closes on scope exit.
struct file_closer {
  FILE* f = nullptr;
  ~file_closer() {
    if (f)
      std::fclose(f);
  }
};

status fsync_directory(const fs::path& file) {
  auto dir = file.parent_path();
  if (dir.empty())
    dir = ".";
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0)
    return status::io_error("cannot open directory " + dir.string() + ": " + errno_text());
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0)
    return status::io_error("cannot sync directory " + dir.string() + ": " + errno_text());
  return status::ok();
}

// Writes the export to a temporary file next to `path`; `commit` makes it
// appear under `path` atomically. Removes the temporary file unless committed.
class staged_file {
public:
  explicit staged_file(std::string path)
    : path_(std::move(path)), tmp_(path_ + ".tmp-" + std::to_string(::getpid())) {}
  ~staged_file() {
    if (f_)
      std::fclose(f_);
    if (!committed_)
      std::remove(tmp_.c_str());
  }

  status open() {
    f_ = std::fopen(tmp_.c_str(), "wb");
    if (!f_)
      return status::io_error("cannot create " + tmp_ + ": " + errno_text());
    return status::ok();
  }

  status write(std::string_view bytes) {
    if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f_) != bytes.size())
      return status::io_error("cannot write " + tmp_ + ": " + errno_text());
    written_ += bytes.size();
    return status::ok();
  }

  status commit() {
    if (std::fflush(f_) != 0 || ::fsync(::fileno(f_)) != 0)
      return status::io_error("cannot sync " + tmp_ + ": " + errno_text());
    int rc = std::fclose(f_);
    f_ = nullptr;
    if (rc != 0)
      return status::io_error("cannot close " + tmp_ + ": " + errno_text());
    if (std::rename(tmp_.c_str(), path_.c_str()) != 0)
      return status::io_error("cannot rename " + tmp_ + " to " + path_ + ": " + errno_text());
    committed_ = true;
    return fsync_directory(path_);
  }

  uint64_t written() const { return written_; }

private:
  std::string path_;
  std::string tmp_;
  FILE* f_ = nullptr;
  bool committed_ = false;
  uint64_t written_ = 0;
};

std::vector<digest> sorted_unique(std::vector<digest> ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

} // namespace

result<export_report> export_snapshot(store& s, const digest& id, const std::string& path,
                                      const export_options& opts, const progress_fn& progress) {
  std::error_code ec;
  if (!opts.overwrite && fs::exists(path, ec))
    return status(errc::conflict, path + " exists (use --force to replace it)");
  auto snap = load_snapshot(s, id);
  if (!snap)
    return snap.error().with_context("exporting snapshot " + id.short_hex());
  std::string manifest_bytes;
  AMBER_RETURN_IF_ERROR(s.get_manifest(id, &manifest_bytes));
  auto refs = sorted_unique(snap->references());

  staged_file out(path);
  AMBER_RETURN_IF_ERROR(out.open());
  std::string head(archive_magic, magic_size);
  put_u32(head, archive_format_version);
  put_u32(head, 0);
  AMBER_RETURN_IF_ERROR(out.write(head));
  AMBER_RETURN_IF_ERROR(out.write(record_head(tag_manifest, id, manifest_bytes.size())));
  AMBER_RETURN_IF_ERROR(out.write(manifest_bytes));
  uint64_t payload = manifest_bytes.size();
  std::string bytes;
  uint64_t done = 0;
  for (auto& ref : refs) {
    status st = s.get_blob(ref, &bytes);
    if (!st)
      return st.with_context("exporting snapshot " + id.short_hex());
    AMBER_RETURN_IF_ERROR(out.write(record_head(tag_blob, ref, bytes.size())));
    AMBER_RETURN_IF_ERROR(out.write(bytes));
    payload += bytes.size();
    report(progress, "exporting blobs", ++done, refs.size());
  }
  std::string end_payload;
  put_u64(end_payload, refs.size() + 1);
  put_u64(end_payload, payload);
  AMBER_RETURN_IF_ERROR(out.write(record_head(tag_end, digest{}, end_payload.size())));
  AMBER_RETURN_IF_ERROR(out.write(end_payload));
  AMBER_RETURN_IF_ERROR(out.commit());
  export_report r;
  r.id = id;
  r.blobs = refs.size();
  r.file_bytes = out.written();
  return r;
}

namespace {

// An export file opened for import: the framing checked and every record
// hashed (pass 1), then blobs read back on demand.
class archive_file {
public:
  struct entry {
    uint64_t offset = 0; // of the payload
    uint64_t length = 0;
  };

  explicit archive_file(std::string path) : path_(std::move(path)) {}

  status open() {
    std::error_code ec;
    if (!fs::exists(path_, ec))
      return status::not_found("no export file at " + path_);
    if (fs::is_directory(path_, ec))
      return status::invalid_argument(path_ + " is a directory, not an export file");
    file_.f = std::fopen(path_.c_str(), "rb");
    if (!file_.f)
      return status::io_error("cannot open " + path_ + ": " + errno_text());
    if (::fseeko(file_.f, 0, SEEK_END) != 0)
      return status::io_error("cannot seek in " + path_ + ": " + errno_text());
    auto size = ::ftello(file_.f);
    if (size < 0)
      return status::io_error("cannot size " + path_ + ": " + errno_text());
    size_ = static_cast<uint64_t>(size);
    return seek(0);
  }

  // Pass 1: framing, digests, and the manifest.
  status scan(const progress_fn& progress) {
    std::string head;
    AMBER_RETURN_IF_ERROR(read_at_most(header_size, &head, "the header"));
    if (head.size() < header_size || head.compare(0, magic_size, archive_magic) != 0)
      return bad(0, "is not an amber export file (no AMBERSNP header)");
    auto version = static_cast<uint32_t>(get_le(head.data() + magic_size, 4));
    if (version != archive_format_version)
      return status(errc::format_mismatch,
                    path_ + " has export format " + std::to_string(version)
                      + ", this build reads format " + std::to_string(archive_format_version));
    uint64_t pos = header_size;
    uint64_t records = 0;
    uint64_t payload_total = 0;
    std::string rec;
    std::string payload;
    for (;;) {
      if (pos == size_)
        return bad(pos, "is truncated: it ends without an end record");
      AMBER_RETURN_IF_ERROR(read_at_most(record_head_size, &rec, "a record header"));
      if (rec.size() < record_head_size)
        return bad(pos, "is truncated inside a record header");
      char tag = rec[0];
      auto id = digest::from_raw(std::string_view(rec).substr(1, digest::size));
      if (!id)
        return id.error();
      uint64_t length = get_le(rec.data() + 1 + digest::size, 8);
      uint64_t body = pos + record_head_size;
      if (length > size_ - body)
        return bad(pos, "is truncated: a record claims " + std::to_string(length)
                          + " bytes, but only " + std::to_string(size_ - body) + " remain");
      if (tag == tag_end) {
        AMBER_RETURN_IF_ERROR(read_at_most(length, &payload, "the end record"));
        if (length != 16 || !id->is_zero())
          return bad(pos, "has a malformed end record");
        if (get_le(payload.data(), 8) != records || get_le(payload.data() + 8, 8) != payload_total)
          return bad(pos, "has an end record that does not match its content ("
                            + std::to_string(records) + " records read)");
        if (body + length != size_)
          return bad(body + length, "has bytes after its end record");
        break;
      }
      if (tag != tag_manifest && tag != tag_blob)
        return bad(pos, "has a record with unknown tag " + std::to_string(static_cast<unsigned char>(tag)));
      if ((tag == tag_manifest) != (records == 0))
        return bad(pos, tag == tag_manifest ? "has a second manifest"
                                            : "does not start with a manifest");
      AMBER_RETURN_IF_ERROR(read_at_most(length, &payload, "a record"));
      if (sha256(payload) != *id)
        return bad(pos, std::string(tag == tag_manifest ? "manifest " : "blob ") + id->to_hex()
                          + " is corrupt: its bytes do not match its digest");
      if (tag == tag_manifest) {
        id_ = *id;
        manifest_ = payload;
      } else if (!blobs_.emplace(*id, entry{body, length}).second) {
        return bad(pos, "holds blob " + id->to_hex() + " twice");
      }
      ++records;
      payload_total += length;
      pos = body + length;
      report(progress, "verifying " + path_, pos, size_);
    }
    return status::ok();
  }

  // Reads a blob back and checks it still hashes to its id.
  status read_blob(const digest& id, std::string* out) {
    auto i = blobs_.find(id);
    if (i == blobs_.end())
      return status::not_found("blob " + id.to_hex() + " is not in " + path_);
    AMBER_RETURN_IF_ERROR(seek(i->second.offset));
    AMBER_RETURN_IF_ERROR(read_at_most(i->second.length, out, "blob " + id.to_hex()));
    if (out->size() != i->second.length || sha256(*out) != id)
      return status::corruption(path_ + " changed while it was read: blob " + id.to_hex()
                                + " no longer matches its digest");
    return status::ok();
  }

  const std::string& path() const { return path_; }
  const digest& id() const { return id_; }
  const std::string& manifest_bytes() const { return manifest_; }
  const std::map<digest, entry>& blobs() const { return blobs_; }

private:
  status bad(uint64_t offset, const std::string& what) const {
    return status::corruption(path_ + " (offset " + std::to_string(offset) + ") " + what);
  }

  status seek(uint64_t offset) {
    if (::fseeko(file_.f, static_cast<off_t>(offset), SEEK_SET) != 0)
      return status::io_error("cannot seek in " + path_ + ": " + errno_text());
    return status::ok();
  }

  // Reads up to `n` bytes (the caller has checked `n` against the file size).
  status read_at_most(uint64_t n, std::string* out, const std::string& what) {
    out->resize(n);
    size_t got = n == 0 ? 0 : std::fread(out->data(), 1, n, file_.f);
    if (got < n && std::ferror(file_.f))
      return status::io_error("cannot read " + what + " of " + path_ + ": " + errno_text());
    out->resize(got);
    return status::ok();
  }

  std::string path_;
  file_closer file_;
  uint64_t size_ = 0;
  digest id_;
  std::string manifest_;
  std::map<digest, entry> blobs_;
};

// The export file as a read-only store, so `load_snapshot` can check it.
class archive_view final : public store {
public:
  explicit archive_view(archive_file& file) : file_(file) {}

  result<put_stats> put_blobs(const std::vector<std::string_view>&) override { return read_only(); }
  status get_blob(const digest& id, std::string* out) override {
    std::string tmp;
    return file_.read_blob(id, out ? out : &tmp);
  }
  status has_blob(const digest& id) override {
    if (file_.blobs().count(id) == 0)
      return status::not_found("blob " + id.to_hex() + " is not in " + file_.path());
    return status::ok();
  }
  result<uint64_t> blob_size(const digest& id) override {
    auto i = file_.blobs().find(id);
    if (i == file_.blobs().end())
      return status::not_found("blob " + id.to_hex() + " is not in " + file_.path());
    return i->second.length;
  }
  result<commit_stats> commit(const snapshot_commit&) override { return read_only(); }
  status get_manifest(const digest& id, std::string* out) override {
    if (id != file_.id())
      return status::not_found("snapshot " + id.to_hex() + " is not in " + file_.path());
    if (out)
      *out = file_.manifest_bytes();
    return status::ok();
  }
  result<digest> get_ref(std::string_view name) override {
    return status::not_found("ref " + std::string(name) + " does not exist");
  }
  status set_ref(std::string_view, const digest&) override { return read_only(); }
  result<std::vector<std::pair<std::string, digest>>> list_refs() override {
    return std::vector<std::pair<std::string, digest>>{};
  }
  result<std::vector<digest>> list_manifests() override {
    return std::vector<digest>{file_.id()};
  }
  result<std::vector<digest>> list_blobs() override {
    std::vector<digest> out;
    for (auto& kv : file_.blobs())
      out.push_back(kv.first);
    return out;
  }
  status remove(const removal&) override { return read_only(); }
  result<store_stats> stats() override { return read_only(); }
  std::string describe() const override { return "export file " + file_.path(); }

private:
  status read_only() const {
    return status(errc::internal, "export file " + file_.path() + " is read-only");
  }
  archive_file& file_;
};

} // namespace

result<import_report> import_snapshot(store& s, const std::string& path,
                                      const import_options& opts, const progress_fn& progress) {
  archive_file file(path);
  AMBER_RETURN_IF_ERROR(file.open());
  AMBER_RETURN_IF_ERROR(file.scan(progress));

  // Everything the snapshot needs must be in the file, and nothing else.
  archive_view view(file);
  auto snap = load_snapshot(view, file.id());
  if (!snap)
    return snap.error().with_context(path);
  auto refs = sorted_unique(snap->references());
  for (auto& ref : refs)
    if (file.blobs().count(ref) == 0)
      return status::corruption(path + " lacks blob " + ref.to_hex() + " that snapshot "
                                + file.id().short_hex() + " references");
  if (refs.size() != file.blobs().size()) {
    std::set<digest> needed(refs.begin(), refs.end());
    for (auto& kv : file.blobs())
      if (needed.count(kv.first) == 0)
        return status::corruption(path + " holds blob " + kv.first.to_hex()
                                  + " that snapshot " + file.id().short_hex()
                                  + " does not reference");
  }

  import_report r;
  r.id = file.id();
  r.node = snap->meta.node.name;
  r.blobs = refs.size();
  r.head_ref = head_ref(r.node);
  status present = s.get_manifest(r.id, nullptr);
  if (!present && !present.is_not_found())
    return present;
  r.already_present = present.is_ok();

  // Pass 2: blobs in batches, each batch one transaction.
  std::vector<std::string> batch;
  std::vector<digest> batch_ids;
  uint64_t batch_size = 0;
  uint64_t done = 0;
  auto flush = [&]() -> status {
    if (batch.empty())
      return status::ok();
    std::vector<std::string_view> views(batch.begin(), batch.end());
    auto put = s.put_blobs(views);
    if (!put)
      return put.error().with_context("importing " + path);
    if (put->ids != batch_ids)
      return status::corruption(path + " changed while it was imported");
    r.new_blobs += put->written;
    r.bytes_written += put->bytes_written;
    done += batch.size();
    report(progress, "writing blobs", done, refs.size());
    batch.clear();
    batch_ids.clear();
    batch_size = 0;
    return status::ok();
  };
  for (auto& ref : refs) {
    std::string bytes;
    AMBER_RETURN_IF_ERROR(file.read_blob(ref, &bytes));
    batch_size += bytes.size();
    batch.push_back(std::move(bytes));
    batch_ids.push_back(ref);
    if (batch_size >= batch_bytes || batch.size() >= batch_blobs)
      AMBER_RETURN_IF_ERROR(flush());
  }
  AMBER_RETURN_IF_ERROR(flush());

  snapshot_commit c;
  c.manifest = file.manifest_bytes();
  c.references = refs;
  auto head = s.get_ref(r.head_ref);
  if (!head && !head.error().is_not_found())
    return head.error();
  if (opts.force_head && !(head && *head == r.id)) {
    c.ref = r.head_ref;
    c.check_expected_head = false;
  } else if (opts.set_head_if_missing && !head) {
    c.ref = r.head_ref;
    c.expected_head = std::nullopt;
  }
  auto committed = s.commit_snapshot(c);
  if (!committed && committed.error().code() == errc::conflict) {
    // A head appeared meanwhile: leave it, commit the snapshot alone.
    c.ref.clear();
    committed = s.commit_snapshot(c);
  }
  if (!committed)
    return committed.error().with_context("importing " + path);
  if (*committed != r.id)
    return status(errc::internal, "imported manifest got id " + committed->to_hex()
                                    + " instead of " + r.id.to_hex());
  r.head_moved = !c.ref.empty();
  return r;
}

} // namespace amber
