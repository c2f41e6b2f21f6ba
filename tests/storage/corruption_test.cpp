// Damaged stores, in the spirit of LevelDB's corruption_test: build a real
// lmdb_store, damage copies of its data file in each way a disk or a user
// can (truncation, zeroed pages, flipped bits, a flipped meta page), then read
// everything back through the public API. Each copy must either read back
// exactly what was written or fail with a typed status naming the damage —
// never kill the process (SIGBUS, SIGSEGV, LMDB's assertion abort) and never
// serve an older commit as the newest.

#include "amber/storage/lmdb_store.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "lmdb_guard.hpp"
#include "support/temp_dir.hpp"

using amber::digest;
using amber::errc;
using amber::lmdb_options;
using amber::lmdb_store;
using amber::sha256;
using amber::status;

namespace fs = std::filesystem;

namespace {

using test::temp_dir;

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_all(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

// Everything a store holds, read through the public API.
struct contents {
  std::map<std::string, digest> refs;
  std::map<digest, std::string> manifests;
  std::map<digest, std::string> blobs;
  bool operator==(const contents& o) const {
    return refs == o.refs && manifests == o.manifests && blobs == o.blobs;
  }
};

// Reads every object; the first failure is returned.
amber::result<contents> read_everything(lmdb_store& s) {
  contents c;
  auto refs = s.list_refs();
  if (!refs)
    return refs.error();
  for (auto& [name, id] : *refs) {
    auto again = s.get_ref(name);
    if (!again)
      return again.error();
    c.refs[name] = *again;
  }
  auto manifests = s.list_manifests();
  if (!manifests)
    return manifests.error();
  for (auto& id : *manifests) {
    std::string bytes;
    AMBER_RETURN_IF_ERROR(s.get_manifest(id, &bytes));
    c.manifests[id] = bytes;
  }
  auto blobs = s.list_blobs();
  if (!blobs)
    return blobs.error();
  for (auto& id : *blobs) {
    std::string bytes;
    AMBER_RETURN_IF_ERROR(s.get_blob(id, &bytes));
    auto size = s.blob_size(id);
    if (!size)
      return size.error();
    c.blobs[id] = bytes;
  }
  auto st = s.stats();
  if (!st)
    return st.error();
  return c;
}

// A store of 12 commits: ~300 blobs from 50 bytes to 20 KiB (many on LMDB
// overflow pages), a manifest and a moved ref per commit, and a removal in
// the middle so that the file holds free pages too.
struct pristine {
  temp_dir dir{"amber-corruption"};
  std::string data;        // data.mdb
  std::string last_commit; // the commit record
  contents want;

  pristine() {
    lmdb_options o;
    o.create_if_missing = true;
    o.map_size = uint64_t{1} << 28;
    auto s = lmdb_store::open(dir.str(), o);
    REQUIRE_MESSAGE(s.ok(), s.error().to_string());
    std::mt19937 gen(7);
    std::optional<digest> head;
    for (int commit = 0; commit < 12; ++commit) {
      amber::snapshot_commit c;
      for (int i = 0; i < 25; ++i) {
        std::string blob(50 + gen() % 20000, '\0');
        for (auto& ch : blob)
          ch = static_cast<char>('a' + gen() % 26);
        c.references.push_back(sha256(blob));
        c.blobs.push_back({sha256(blob), std::move(blob)});
      }
      c.manifest = "manifest " + std::to_string(commit);
      c.ref = commit % 2 ? "nodes/odd/head" : "nodes/even/head";
      c.check_expected_head = false;
      auto r = (*s)->commit(c);
      REQUIRE_MESSAGE(r.ok(), r.error().to_string());
      if (commit == 6) {
        amber::removal gone;
        gone.blobs.assign(c.references.begin(), c.references.begin() + 10);
        REQUIRE((*s)->remove(gone).ok());
      }
    }
    // Small commits last, each moving a ref: their pages (and the free-page
    // records they leave) end the file, behind the newest roots.
    for (int i = 0; i < 30; ++i) {
      auto id = sha256("manifest " + std::to_string(i % 12));
      REQUIRE((*s)->set_ref("nodes/moved/head", id).ok());
    }
    auto all = read_everything(**s);
    REQUIRE(all.ok());
    want = *all;
    s->reset();
    data = read_all(dir.path() / "data.mdb");
    last_commit = read_all(dir.path() / "last-commit");
    REQUIRE(data.size() > 100 * 4096);
    REQUIRE(last_commit.size() == 64);
  }
};

const pristine& original() {
  static pristine p;
  return p;
}

enum class outcome { intact, reported, wrong };

// Opens a damaged copy (read-only, as `verify` does, and read-write) and
// reads everything. `reported` means a typed status named the damage.
struct verdict {
  outcome kind = outcome::intact;
  status why;
};

bool is_damage_code(errc c) {
  // not_a_store and format_mismatch: damage to the store's own metadata
  // (its format string or table names); the message says which.
  return c == errc::corruption || c == errc::not_a_store || c == errc::format_mismatch;
}

verdict judge(const std::string& data, bool with_record, bool read_only) {
  temp_dir dir{"amber-damaged"};
  fs::create_directories(dir.path());
  write_all(dir.path() / "data.mdb", data);
  if (with_record)
    write_all(dir.path() / "last-commit", original().last_commit);
  lmdb_options o;
  o.read_only = read_only;
  o.no_sync = true;
  auto s = lmdb_store::open(dir.str(), o);
  verdict v;
  if (!s) {
    v.why = s.error();
  } else {
    auto got = read_everything(**s);
    if (got && *got == original().want)
      return v;
    v.why = got ? status(errc::internal, "different contents") : got.error();
  }
  v.kind = is_damage_code(v.why.code()) && !v.why.message().empty() ? outcome::reported
                                                                     : outcome::wrong;
  return v;
}

constexpr size_t page = 4096;

} // namespace

TEST_CASE("the guard turns a SIGBUS from a mapping past the end of its file into mdb_fault") {
  temp_dir dir;
  fs::create_directories(dir.path());
  std::string path = (dir.path() / "short").string();
  write_all(path, std::string(page, 'x'));
  int fd = ::open(path.c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  void* map = ::mmap(nullptr, 4 * page, PROT_READ, MAP_SHARED, fd, 0);
  REQUIRE(map != MAP_FAILED);
  const volatile char* bytes = static_cast<const char*>(map);
  amber::detail::install_fault_handlers(nullptr); // as every store open does
  int rc = amber::detail::guarded([&] { return int{bytes[2 * page]}; });
  CHECK(rc == amber::detail::mdb_fault);
  CHECK(amber::detail::last_fault().signal == SIGBUS);
  CHECK(amber::detail::last_fault().address == static_cast<const void*>(static_cast<const char*>(map) + 2 * page));
  // Inside the file the same guard reads normally, and nothing stays armed.
  CHECK(amber::detail::guarded([&] { return int{bytes[10]}; }) == 'x');
  CHECK(amber::detail::current_recovery_point() == nullptr);
  ::munmap(map, 4 * page);
  ::close(fd);
}

TEST_CASE("an intact copy of the store reads back everything") {
  for (bool ro : {true, false}) {
    auto v = judge(original().data, true, ro);
    CHECK_MESSAGE(v.kind == outcome::intact, v.why.to_string());
  }
}

TEST_CASE("a data.mdb truncated anywhere is reported as corruption, never a SIGBUS") {
  const std::string& data = original().data;
  std::mt19937 gen(11);
  std::vector<size_t> cuts = {page, 2 * page - 1, 2 * page, 3 * page, data.size() - page,
                              data.size() - 1};
  for (int i = 0; i < 14; ++i)
    cuts.push_back(gen() % data.size());
  for (size_t cut : cuts) {
    CAPTURE(cut);
    auto v = judge(data.substr(0, cut), true, true);
    // A cut can only fall into free pages at the very end; everything else is lost data.
    CHECK_MESSAGE(v.kind != outcome::wrong, v.why.to_string());
    if (cut < data.size() - 64 * page) {
      CHECK(v.kind == outcome::reported);
      CHECK(v.why.code() == errc::corruption);
    }
  }
}

TEST_CASE("a data.mdb cut behind its roots is reported as truncated when a read faults") {
  // A cut of the last pages leaves the newest roots whole, so the meta pages
  // pass their check: the lost pages are found only when a read touches
  // them, which faults (SIGBUS) inside LMDB. Deeper cuts lose the roots and
  // are caught before the file is mapped.
  const std::string& data = original().data;
  size_t pages = data.size() / page;
  int faulted = 0;
  for (size_t keep : {pages - 1, pages - 2, pages - 3, pages - 8, pages / 2}) {
    CAPTURE(keep);
    auto v = judge(data.substr(0, keep * page), true, true);
    CHECK_MESSAGE(v.kind == outcome::reported, v.why.to_string());
    CHECK(v.why.message().find("truncated") != std::string::npos);
    if (v.why.message().find("faulted (SIGBUS)") != std::string::npos)
      ++faulted;
  }
  CHECK(faulted > 0);
}

TEST_CASE("zeroed pages are reported or harmless, never an LMDB assertion abort") {
  const std::string& data = original().data;
  size_t pages = data.size() / page;
  int reported = 0;
  for (size_t p = 2; p < pages; p += std::max<size_t>(1, pages / 40)) {
    CAPTURE(p);
    std::string copy = data;
    std::memset(copy.data() + p * page, 0, page);
    auto v = judge(copy, true, true);
    CHECK_MESSAGE(v.kind != outcome::wrong, v.why.to_string());
    reported += v.kind == outcome::reported;
  }
  CHECK(reported > 0); // Most pages hold data; zeroing them must show.
}

TEST_CASE("random bit flips are reported or harmless, never a crash") {
  const std::string& data = original().data;
  std::mt19937 gen(2024);
  int counts[3] = {0, 0, 0};
  for (int copy_no = 0; copy_no < 40; ++copy_no) {
    std::string copy = data;
    int flips = 1 + static_cast<int>(gen() % 8);
    for (int f = 0; f < flips; ++f) {
      size_t at = 2 * page + gen() % (copy.size() - 2 * page);
      copy[at] = static_cast<char>(copy[at] ^ (1 << (gen() % 8)));
    }
    auto v = judge(copy, true, true);
    ++counts[static_cast<int>(v.kind)];
    // LMDB pages carry no checksum: a flip in a ref's name or in free space
    // cannot be told from data. Every blob and manifest handed out was
    // re-hashed, so "wrong" here can only be such a flip in a key of refs.
    if (v.kind == outcome::wrong)
      MESSAGE("undetectable flip (no page checksums in LMDB): " << v.why.to_string());
  }
  MESSAGE("intact " << counts[0] << ", reported " << counts[1] << ", wrong " << counts[2]);
  CHECK(counts[1] > 0);
  CHECK(counts[2] <= 2);
}

TEST_CASE("a damaged meta page is reported, and a flipped transaction id never rolls back") {
  const std::string& data = original().data;
  uint64_t t0, t1;
  std::memcpy(&t0, data.data() + 144, 8);
  std::memcpy(&t1, data.data() + page + 144, 8);
  size_t newer = t1 > t0 ? page : 0, older = t1 > t0 ? 0 : page;
  for (size_t meta : {newer, older}) {
    for (int bit = 0; bit < 64; bit += (bit < 8 ? 1 : 7)) {
      CAPTURE(meta);
      CAPTURE(bit);
      std::string copy = data;
      copy[meta + 144 + bit / 8] = static_cast<char>(copy[meta + 144 + bit / 8] ^ (1 << (bit % 8)));
      auto v = judge(copy, true, true);
      CHECK(v.kind == outcome::reported);
      CHECK(v.why.code() == errc::corruption);
    }
  }
  // The magic, the flags and the roots of the newer page.
  for (size_t off : {size_t{10}, size_t{16}, size_t{80}, size_t{128}, size_t{136}}) {
    CAPTURE(off);
    std::string copy = data;
    copy[newer + off + 6] = static_cast<char>(copy[newer + off + 6] ^ 0x40);
    auto v = judge(copy, true, true);
    CHECK_MESSAGE(v.kind != outcome::wrong, v.why.to_string());
  }
}

TEST_CASE("a rollback to the previous commit is named, and the older state can be accepted") {
  const std::string& data = original().data;
  uint64_t t0, t1;
  std::memcpy(&t0, data.data() + 144, 8);
  std::memcpy(&t1, data.data() + page + 144, 8);
  size_t newer = t1 > t0 ? page : 0;
  // The newer page's id T becomes T - 2 (one flipped bit when T has bit 1
  // set): the pair still looks sound, so LMDB opens commit T - 1.
  uint64_t lowered = std::max(t0, t1) - 2;
  std::string copy = data;
  std::memcpy(copy.data() + newer + 144, &lowered, 8);
  auto v = judge(copy, true, true);
  REQUIRE(v.kind == outcome::reported);
  CHECK(v.why.code() == errc::corruption);
  CHECK(v.why.message().find("rolled back") != std::string::npos);
  CHECK(v.why.message().find("last-commit") != std::string::npos);
  // Without the record (the user removed it to accept the older state) the
  // older commit opens; its contents differ from the newest.
  auto accepted = judge(copy, false, true);
  CHECK(accepted.kind == outcome::wrong);
  CHECK(accepted.why.code() == errc::internal); // "different contents": it opened
}
