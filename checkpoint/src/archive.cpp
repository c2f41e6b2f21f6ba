#include "amber/checkpoint/archive.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include "amber/checkpoint/cluster_manifest.hpp"
#include "amber/checkpoint/manifest.hpp"
#include "amber/checkpoint/snapshot.hpp"

namespace amber {

namespace fs = std::filesystem;

namespace {

constexpr size_t magic_size = 8;
constexpr size_t header_size = magic_size + 4 + 4;
constexpr size_t record_head_size = 1 + digest::size + 8;
constexpr char tag_manifest = 'M';
constexpr char tag_cluster = 'C';
constexpr char tag_blob = 'B';
constexpr char tag_end = 'E';
// Blobs written per store transaction on import.
constexpr uint64_t batch_bytes = uint64_t{32} << 20;
constexpr size_t batch_blobs = 4096;
// A cluster export holds one snapshot per member.
constexpr size_t max_archive_sections = max_cluster_members;

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

namespace {

// One snapshot's part of an export: its manifest and the blobs it references.
struct export_section {
  store* source = nullptr;
  digest id;
  std::string manifest;
  std::vector<digest> refs; // sorted, unique
};

status prepare_section(store& s, const digest& id, export_section* out) {
  auto snap = load_snapshot(s, id);
  if (!snap)
    return snap.error().with_context("exporting snapshot " + id.short_hex());
  out->source = &s;
  out->id = id;
  AMBER_RETURN_IF_ERROR(s.get_manifest(id, &out->manifest));
  out->refs = sorted_unique(snap->references());
  return status::ok();
}

// Writes header, an optional cluster manifest record, each section ('M'
// then its 'B's) and the end record, then commits the staged file.
result<uint64_t> write_archive(const std::string& path, uint32_t version,
                               const std::optional<std::pair<digest, std::string>>& cluster,
                               const std::vector<export_section>& sections,
                               const progress_fn& progress) {
  staged_file out(path);
  AMBER_RETURN_IF_ERROR(out.open());
  std::string head(archive_magic, magic_size);
  put_u32(head, version);
  put_u32(head, cluster ? archive_flag_cluster : 0);
  AMBER_RETURN_IF_ERROR(out.write(head));
  uint64_t records = 0;
  uint64_t payload = 0;
  if (cluster) {
    AMBER_RETURN_IF_ERROR(
      out.write(record_head(tag_cluster, cluster->first, cluster->second.size())));
    AMBER_RETURN_IF_ERROR(out.write(cluster->second));
    ++records;
    payload += cluster->second.size();
  }
  uint64_t total = 0;
  for (auto& sec : sections)
    total += sec.refs.size();
  std::string bytes;
  uint64_t done = 0;
  for (auto& sec : sections) {
    AMBER_RETURN_IF_ERROR(out.write(record_head(tag_manifest, sec.id, sec.manifest.size())));
    AMBER_RETURN_IF_ERROR(out.write(sec.manifest));
    ++records;
    payload += sec.manifest.size();
    for (auto& ref : sec.refs) {
      status st = sec.source->get_blob(ref, &bytes);
      if (!st)
        return st.with_context("exporting snapshot " + sec.id.short_hex());
      AMBER_RETURN_IF_ERROR(out.write(record_head(tag_blob, ref, bytes.size())));
      AMBER_RETURN_IF_ERROR(out.write(bytes));
      ++records;
      payload += bytes.size();
      report(progress, "exporting blobs", ++done, total);
    }
  }
  std::string end_payload;
  put_u64(end_payload, records);
  put_u64(end_payload, payload);
  AMBER_RETURN_IF_ERROR(out.write(record_head(tag_end, digest{}, end_payload.size())));
  AMBER_RETURN_IF_ERROR(out.write(end_payload));
  AMBER_RETURN_IF_ERROR(out.commit());
  return out.written();
}

} // namespace

result<export_report> export_snapshot(store& s, const digest& id, const std::string& path,
                                      const export_options& opts, const progress_fn& progress) {
  std::error_code ec;
  if (!opts.overwrite && fs::exists(path, ec))
    return status(errc::conflict, path + " exists (use --force to replace it)");
  std::vector<export_section> sections(1);
  AMBER_RETURN_IF_ERROR(prepare_section(s, id, &sections[0]));
  // A node export is still written in format 1: older builds read it.
  auto written = write_archive(path, 1, std::nullopt, sections, progress);
  if (!written)
    return written.error();
  export_report r;
  r.id = id;
  r.blobs = sections[0].refs.size();
  r.file_bytes = *written;
  return r;
}

result<cluster_export_report> export_cluster_snapshot(const std::map<std::string, store*>& stores,
                                                      const digest& id, const std::string& path,
                                                      const export_options& opts,
                                                      const progress_fn& progress) {
  std::error_code ec;
  if (!opts.overwrite && fs::exists(path, ec))
    return status(errc::conflict, path + " exists (use --force to replace it)");
  std::optional<std::pair<digest, std::string>> cluster;
  status last = status::not_found("no member store holds cluster snapshot " + id.to_hex());
  cluster_manifest meta;
  for (auto& [name, s] : stores) {
    auto m = read_cluster_manifest(*s, id);
    if (!m) {
      if (!m.error().is_not_found() || last.is_not_found())
        last = m.error().with_context("member '" + name + "'");
      continue;
    }
    std::string bytes;
    AMBER_RETURN_IF_ERROR(s->get_manifest(id, &bytes));
    cluster.emplace(id, std::move(bytes));
    meta = std::move(*m);
    break;
  }
  if (!cluster)
    return last;
  cluster_export_report r;
  r.id = id;
  r.cluster = meta.cluster;
  std::vector<export_section> sections(meta.members.size());
  for (size_t i = 0; i < meta.members.size(); ++i) {
    auto& x = meta.members[i];
    auto st = stores.find(x.member);
    if (st == stores.end())
      return status::not_found("cluster snapshot " + id.short_hex() + " names member '"
                               + x.member + "', which the cluster file does not list");
    status prepared = prepare_section(*st->second, x.snapshot, &sections[i]);
    if (!prepared)
      return prepared.with_context("member '" + x.member + "'");
    r.members.push_back({x.member, x.snapshot, sections[i].refs.size()});
  }
  auto written = write_archive(path, archive_format_version, cluster, sections, progress);
  if (!written)
    return written.error();
  r.file_bytes = *written;
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

  // Pass 1: framing, digests, the manifests.
  status scan(const progress_fn& progress) {
    std::string head;
    AMBER_RETURN_IF_ERROR(read_at_most(header_size, &head, "the header"));
    if (head.size() < header_size || head.compare(0, magic_size, archive_magic) != 0)
      return bad(0, "is not an amber export file (no AMBERSNP header)");
    auto version = static_cast<uint32_t>(get_le(head.data() + magic_size, 4));
    if (version < 1 || version > archive_format_version)
      return status(errc::format_mismatch,
                    path_ + " has export format " + std::to_string(version)
                      + ", this build reads formats 1 to "
                      + std::to_string(archive_format_version));
    auto flags = static_cast<uint32_t>(get_le(head.data() + magic_size + 4, 4));
    // Format 1 never set a flag; format 2 knows one.
    if ((version == 1 && flags != 0) || (flags & ~archive_flag_cluster) != 0)
      return bad(magic_size + 4, "has unknown flags " + std::to_string(flags));
    const bool cluster = (flags & archive_flag_cluster) != 0;
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
        if (sections_.empty())
          return bad(pos, "holds no snapshot manifest");
        break;
      }
      if (tag != tag_manifest && tag != tag_blob && !(cluster && tag == tag_cluster))
        return bad(pos, "has a record with unknown tag " + std::to_string(static_cast<unsigned char>(tag)));
      // Order: a node export is M B*; a cluster export C (M B*)+.
      if (cluster && (tag == tag_cluster) != (records == 0))
        return bad(pos, tag == tag_cluster ? "has a second cluster manifest"
                                           : "does not start with a cluster manifest");
      if (!cluster && tag == tag_manifest && records != 0)
        return bad(pos, "has a second manifest");
      if (tag == tag_blob && sections_.empty())
        return bad(pos, "does not start with a manifest");
      if (sections_.size() > max_archive_sections)
        return bad(pos, "has more than " + std::to_string(max_archive_sections) + " snapshots");
      if (tag == tag_cluster && length > max_cluster_manifest_bytes)
        return bad(pos, "has a cluster manifest of " + std::to_string(length) + " bytes");
      AMBER_RETURN_IF_ERROR(read_at_most(length, &payload, "a record"));
      const char* what = tag == tag_manifest ? "manifest " : tag == tag_blob ? "blob " : "cluster manifest ";
      if (sha256(payload) != *id)
        return bad(pos, what + id->to_hex() + " is corrupt: its bytes do not match its digest");
      if (tag == tag_cluster) {
        cluster_id_ = *id;
        cluster_manifest_ = payload;
      } else if (tag == tag_manifest) {
        sections_.push_back({*id, payload, {}});
      } else if (!sections_.back().blobs.emplace(*id, entry{body, length}).second) {
        return bad(pos, "holds blob " + id->to_hex() + " twice for one snapshot");
      }
      ++records;
      payload_total += length;
      pos = body + length;
      report(progress, "verifying " + path_, pos, size_);
    }
    is_cluster_ = cluster;
    return status::ok();
  }

  // Reads a blob of section `sec` back and checks it still hashes to its id.
  status read_blob(size_t sec, const digest& id, std::string* out) {
    auto& blobs = sections_.at(sec).blobs;
    auto i = blobs.find(id);
    if (i == blobs.end())
      return status::not_found("blob " + id.to_hex() + " is not in " + path_);
    AMBER_RETURN_IF_ERROR(seek(i->second.offset));
    AMBER_RETURN_IF_ERROR(read_at_most(i->second.length, out, "blob " + id.to_hex()));
    if (out->size() != i->second.length || sha256(*out) != id)
      return status::corruption(path_ + " changed while it was read: blob " + id.to_hex()
                                + " no longer matches its digest");
    return status::ok();
  }

  struct section {
    digest id;
    std::string manifest;
    std::map<digest, entry> blobs;
  };

  const std::string& path() const { return path_; }
  bool is_cluster() const { return is_cluster_; }
  const digest& cluster_id() const { return cluster_id_; }
  const std::string& cluster_manifest_bytes() const { return cluster_manifest_; }
  const std::vector<section>& sections() const { return sections_; }

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
  bool is_cluster_ = false;
  digest cluster_id_;
  std::string cluster_manifest_;
  std::vector<section> sections_;
};

// One snapshot of an export file as a read-only store, so `load_snapshot`
// can check it.
class archive_view final : public store {
public:
  archive_view(archive_file& file, size_t sec) : file_(file), sec_(sec) {}

  result<put_stats> put_blobs(const std::vector<std::string_view>&) override { return read_only(); }
  status get_blob(const digest& id, std::string* out) override {
    std::string tmp;
    return file_.read_blob(sec_, id, out ? out : &tmp);
  }
  status has_blob(const digest& id) override {
    if (blobs().count(id) == 0)
      return status::not_found("blob " + id.to_hex() + " is not in " + file_.path());
    return status::ok();
  }
  result<uint64_t> blob_size(const digest& id) override {
    auto i = blobs().find(id);
    if (i == blobs().end())
      return status::not_found("blob " + id.to_hex() + " is not in " + file_.path());
    return i->second.length;
  }
  result<commit_stats> commit(const snapshot_commit&) override { return read_only(); }
  status get_manifest(const digest& id, std::string* out) override {
    if (id != section().id)
      return status::not_found("snapshot " + id.to_hex() + " is not in " + file_.path());
    if (out)
      *out = section().manifest;
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
    return std::vector<digest>{section().id};
  }
  result<std::vector<digest>> list_blobs() override {
    std::vector<digest> out;
    for (auto& kv : blobs())
      out.push_back(kv.first);
    return out;
  }
  status remove(const removal&) override { return read_only(); }
  result<store_stats> stats() override { return read_only(); }
  std::string describe() const override { return "export file " + file_.path(); }

private:
  const archive_file::section& section() const { return file_.sections()[sec_]; }
  const std::map<digest, archive_file::entry>& blobs() const { return section().blobs; }
  status read_only() const {
    return status(errc::internal, "export file " + file_.path() + " is read-only");
  }
  archive_file& file_;
  size_t sec_;
};

// Loads section `sec` from the file: everything its snapshot needs must be
// there, and nothing else. Writes nothing. Returns the sorted references.
result<std::vector<digest>> check_section(archive_file& file, size_t sec, std::string* node) {
  const auto& path = file.path();
  const auto& section = file.sections()[sec];
  archive_view view(file, sec);
  auto snap = load_snapshot(view, section.id);
  if (!snap)
    return snap.error().with_context(path);
  auto refs = sorted_unique(snap->references());
  for (auto& ref : refs)
    if (section.blobs.count(ref) == 0)
      return status::corruption(path + " lacks blob " + ref.to_hex() + " that snapshot "
                                + section.id.short_hex() + " references");
  if (refs.size() != section.blobs.size()) {
    std::set<digest> needed(refs.begin(), refs.end());
    for (auto& kv : section.blobs)
      if (needed.count(kv.first) == 0)
        return status::corruption(path + " holds blob " + kv.first.to_hex()
                                  + " that snapshot " + section.id.short_hex()
                                  + " does not reference");
  }
  *node = snap->meta.node.name;
  return refs;
}

// Pass 2 for one section: blobs in batches, each batch one transaction,
// then the manifest (and maybe the node's head) in one commit.
result<import_report> write_section(store& s, archive_file& file, size_t sec,
                                    const std::vector<digest>& refs, const std::string& node,
                                    const import_options& opts, const progress_fn& progress) {
  const auto& path = file.path();
  const auto& section = file.sections()[sec];
  import_report r;
  r.id = section.id;
  r.node = node;
  r.blobs = refs.size();
  r.head_ref = head_ref(r.node);
  status present = s.get_manifest(r.id, nullptr);
  if (!present && !present.is_not_found())
    return present;
  r.already_present = present.is_ok();

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
    AMBER_RETURN_IF_ERROR(file.read_blob(sec, ref, &bytes));
    batch_size += bytes.size();
    batch.push_back(std::move(bytes));
    batch_ids.push_back(ref);
    if (batch_size >= batch_bytes || batch.size() >= batch_blobs)
      AMBER_RETURN_IF_ERROR(flush());
  }
  AMBER_RETURN_IF_ERROR(flush());

  snapshot_commit c;
  c.manifest = section.manifest;
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

} // namespace

result<import_report> import_snapshot(store& s, const std::string& path,
                                      const import_options& opts, const progress_fn& progress) {
  archive_file file(path);
  AMBER_RETURN_IF_ERROR(file.open());
  AMBER_RETURN_IF_ERROR(file.scan(progress));
  if (file.is_cluster())
    return status::invalid_argument(path + " is a cluster export (cluster snapshot "
                                    + file.cluster_id().short_hex()
                                    + "); import it with `amber import --cluster FILE`");
  std::string node;
  auto refs = check_section(file, 0, &node);
  if (!refs)
    return refs.error();
  return write_section(s, file, 0, *refs, node, opts, progress);
}

result<cluster_import_report> import_cluster_snapshot(const std::map<std::string, store*>& stores,
                                                      const std::string& path,
                                                      const import_options& opts,
                                                      const progress_fn& progress) {
  archive_file file(path);
  AMBER_RETURN_IF_ERROR(file.open());
  AMBER_RETURN_IF_ERROR(file.scan(progress));
  if (!file.is_cluster())
    return status::invalid_argument(path + " is the export of one node snapshot, not of a "
                                           "cluster snapshot; import it without --cluster");
  auto meta = decode_cluster_manifest(file.cluster_manifest_bytes());
  if (!meta)
    return meta.error().with_context(path);
  // Everything is checked before anything is written: one section per
  // member, in manifest order, each a sound snapshot; every member known.
  auto& sections = file.sections();
  if (sections.size() != meta->members.size())
    return status::corruption(path + " holds " + std::to_string(sections.size())
                              + " member snapshots; its cluster manifest names "
                              + std::to_string(meta->members.size()));
  std::vector<std::vector<digest>> refs(sections.size());
  std::vector<std::string> nodes(sections.size());
  for (size_t i = 0; i < sections.size(); ++i) {
    auto& x = meta->members[i];
    if (sections[i].id != x.snapshot)
      return status::corruption(path + " holds snapshot " + sections[i].id.short_hex()
                                + " where its cluster manifest names member '" + x.member
                                + "''s snapshot " + x.snapshot.short_hex());
    if (stores.count(x.member) == 0)
      return status::not_found("cluster snapshot " + file.cluster_id().short_hex()
                               + " names member '" + x.member
                               + "', which the cluster file does not list");
    auto r = check_section(file, i, &nodes[i]);
    if (!r)
      return r.error().with_context("member '" + x.member + "'");
    refs[i] = std::move(*r);
  }
  cluster_import_report out;
  out.id = file.cluster_id();
  out.cluster = meta->cluster;
  for (size_t i = 0; i < sections.size(); ++i) {
    auto& x = meta->members[i];
    store& s = *stores.at(x.member);
    auto r = write_section(s, file, i, refs[i], nodes[i], opts, progress);
    if (!r)
      return r.error().with_context("member '" + x.member + "'");
    // The member's snapshot is committed before the cluster manifest that
    // names it, as in a cluster checkpoint.
    auto adopted = adopt_cluster_manifest(s, file.cluster_manifest_bytes());
    if (!adopted)
      return adopted.error().with_context("member '" + x.member + "'");
    out.members.push_back({x.member, std::move(*r), adopted->second});
  }
  return out;
}

} // namespace amber
