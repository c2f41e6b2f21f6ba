// lmdb_store specifics: opening, refusing non-stores, persistence, the
// one-open-per-process rule and on-disk corruption. The behaviour shared with
// memory_store is in store_contract_test.cpp.

#include "amber/storage/lmdb_store.hpp"

#include <doctest/doctest.h>

#include "lmdb_test_options.hpp"
#include "support/temp_dir.hpp"
#include <lmdb.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>
#include <set>
#include <string>
#include <unistd.h>
#include <vector>

using amber::digest;
using amber::errc;
using amber::lmdb_options;
using amber::lmdb_store;
using amber::sha256;
using amber::snapshot_commit;
using amber::status;

namespace fs = std::filesystem;

namespace {

using test::temp_dir;

using test::create_opts;
using test::existing_opts;

std::shared_ptr<lmdb_store> open_ok(const std::string& dir, const lmdb_options& o) {
  auto r = lmdb_store::open(dir, o);
  REQUIRE_MESSAGE(r.ok(), r.error().to_string());
  REQUIRE(*r != nullptr);
  return *r;
}

// Creates an empty store in `dir` and closes it again.
void make_store(const std::string& dir) {
  open_ok(dir, create_opts()).reset();
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::set<std::string> entries(const fs::path& dir) {
  std::set<std::string> out;
  for (auto& e : fs::directory_iterator(dir))
    out.insert(e.path().filename().string());
  return out;
}

// Runs `body` inside a write transaction on the raw LMDB environment in `dir`
// (which no lmdb_store may have open) and commits it. Like amber's writer, it
// records the transaction's id in "meta" (when that table exists): the raw
// writes stand for damage inside the tree, not for another program writing
// the store (which the open check reports; see the corruption tests).
void with_raw_env(const std::string& dir, const std::function<void(MDB_env*, MDB_txn*)>& body) {
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == MDB_SUCCESS);
  REQUIRE(mdb_env_set_maxdbs(env, 8) == MDB_SUCCESS);
  REQUIRE(mdb_env_set_mapsize(env, size_t{1} << 28) == MDB_SUCCESS);
  int rc = mdb_env_open(env, dir.c_str(), 0, 0644);
  if (rc != MDB_SUCCESS) {
    mdb_env_close(env);
    FAIL("cannot open the raw LMDB environment: " << mdb_strerror(rc));
  }
  MDB_txn* txn = nullptr;
  REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == MDB_SUCCESS);
  body(env, txn);
  MDB_dbi meta;
  if (mdb_dbi_open(txn, "meta", 0, &meta) == MDB_SUCCESS) {
    uint64_t id = mdb_txn_id(txn);
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; ++i)
      bytes[i] = static_cast<char>((id >> (8 * i)) & 0xff);
    MDB_val k{3, const_cast<char*>("txn")};
    MDB_val v{8, bytes.data()};
    REQUIRE(mdb_put(txn, meta, &k, &v, 0) == MDB_SUCCESS);
  }
  CHECK(mdb_txn_commit(txn) == MDB_SUCCESS);
  mdb_env_close(env);
}

void raw_put(MDB_txn* txn, const char* db, const std::string& key, const std::string& value) {
  MDB_dbi dbi;
  REQUIRE(mdb_dbi_open(txn, db, MDB_CREATE, &dbi) == MDB_SUCCESS);
  MDB_val k{key.size(), const_cast<char*>(key.data())};
  MDB_val v{value.size(), const_cast<char*>(value.data())};
  REQUIRE(mdb_put(txn, dbi, &k, &v, 0) == MDB_SUCCESS);
}

void raw_del(MDB_txn* txn, const char* db, const std::string& key) {
  MDB_dbi dbi;
  REQUIRE(mdb_dbi_open(txn, db, 0, &dbi) == MDB_SUCCESS);
  MDB_val k{key.size(), const_cast<char*>(key.data())};
  REQUIRE(mdb_del(txn, dbi, &k, nullptr) == MDB_SUCCESS);
}

} // namespace

TEST_CASE("opening a missing directory without create_if_missing is not_a_store and "
          "creates nothing") {
  temp_dir dir;
  auto r = lmdb_store::open(dir.str(), existing_opts());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == errc::not_a_store);
  CHECK(r.error().message().find(dir.str()) != std::string::npos);
  CHECK_FALSE(fs::exists(dir.path()));
}

TEST_CASE("the default options do not create a store") {
  temp_dir dir;
  auto r = lmdb_store::open(dir.str());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == errc::not_a_store);
  CHECK_FALSE(fs::exists(dir.path()));
}

TEST_CASE("opening an empty directory without create_if_missing is not_a_store and "
          "leaves it empty") {
  temp_dir dir;
  fs::create_directories(dir.path());
  auto r = lmdb_store::open(dir.str(), existing_opts());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == errc::not_a_store);
  CHECK(entries(dir.path()).empty());
}

TEST_CASE("a store is not created in a directory holding unrelated files") {
  temp_dir dir;
  fs::create_directories(dir.path());
  write_file(dir.path() / "notes.txt", "my thesis");
  auto r = lmdb_store::open(dir.str(), create_opts());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == errc::not_a_store);
  CHECK(entries(dir.path()) == std::set<std::string>{"notes.txt"});
  CHECK(read_file(dir.path() / "notes.txt") == "my thesis");
}

TEST_CASE("a store is not created in a directory holding only a subdirectory") {
  temp_dir dir;
  fs::create_directories(dir.path() / "sub");
  auto r = lmdb_store::open(dir.str(), create_opts());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == errc::not_a_store);
  CHECK_FALSE(fs::exists(dir.path() / "data.mdb"));
}

TEST_CASE("a regular file is not a store, with or without create_if_missing") {
  temp_dir dir;
  fs::create_directories(dir.path());
  fs::path file = dir.path() / "file";
  write_file(file, "plain file");
  for (const auto& o : {existing_opts(), create_opts()}) {
    auto r = lmdb_store::open(file.string(), o);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code() == errc::not_a_store);
  }
  CHECK(read_file(file) == "plain file");
}

TEST_CASE("create_if_missing creates the directory and its missing parents") {
  temp_dir dir;
  fs::path nested = dir.path() / "a" / "b" / "store";
  auto s = open_ok(nested.string(), create_opts());
  CHECK(fs::is_directory(nested));
  CHECK(fs::exists(nested / "data.mdb"));
  CHECK(s->directory() == nested.string());
  CHECK(s->describe().find(nested.string()) != std::string::npos);
}

TEST_CASE("create_if_missing creates a store in an existing empty directory") {
  temp_dir dir;
  fs::create_directories(dir.path());
  auto s = open_ok(dir.str(), create_opts());
  CHECK(fs::exists(dir.path() / "data.mdb"));
  CHECK(s->stats()->blobs == 0);
}

TEST_CASE("a data.mdb full of garbage is not_a_store and is left untouched") {
  temp_dir dir;
  fs::create_directories(dir.path());
  std::string garbage(64 * 1024, '\0');
  std::mt19937 gen(42);
  for (auto& c : garbage)
    c = static_cast<char>(gen());
  write_file(dir.path() / "data.mdb", garbage);
  for (const auto& o : {existing_opts(), create_opts()}) {
    auto r = lmdb_store::open(dir.str(), o);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code() == errc::not_a_store);
  }
  CHECK(read_file(dir.path() / "data.mdb") == garbage);
}

TEST_CASE("a short data.mdb of text is not_a_store") {
  temp_dir dir;
  fs::create_directories(dir.path());
  write_file(dir.path() / "data.mdb", "this is not an LMDB file\n");
  auto r = lmdb_store::open(dir.str(), existing_opts());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == errc::not_a_store);
}

TEST_CASE("an empty data.mdb left by a crash is completed by create_if_missing") {
  temp_dir dir;
  fs::create_directories(dir.path());
  write_file(dir.path() / "data.mdb", "");
  auto refused = lmdb_store::open(dir.str(), existing_opts());
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code() == errc::not_a_store);

  auto s = open_ok(dir.str(), create_opts());
  auto put = s->put_blobs({"recovered"});
  REQUIRE(put.ok());
  s.reset();
  s = open_ok(dir.str(), existing_opts());
  CHECK(s->has_blob(put->ids[0]).ok());
}

TEST_CASE("an LMDB environment of another program is not_a_store") {
  temp_dir dir;
  fs::create_directories(dir.path());
  with_raw_env(dir.str(), [](MDB_env*, MDB_txn* txn) { raw_put(txn, "users", "bob", "1"); });
  for (const auto& o : {existing_opts(), create_opts()}) {
    auto r = lmdb_store::open(dir.str(), o);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code() == errc::not_a_store);
  }
  // Nothing of ours was added to it.
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == MDB_SUCCESS);
  mdb_env_set_maxdbs(env, 8);
  REQUIRE(mdb_env_open(env, dir.str().c_str(), MDB_RDONLY, 0644) == MDB_SUCCESS);
  MDB_stat st;
  REQUIRE(mdb_env_stat(env, &st) == MDB_SUCCESS);
  CHECK(st.ms_entries == 1);
  mdb_env_close(env);
}

TEST_CASE("a store without a format version is not_a_store") {
  temp_dir dir;
  make_store(dir.str());
  with_raw_env(dir.str(), [](MDB_env*, MDB_txn* txn) { raw_del(txn, "meta", "format"); });
  auto r = lmdb_store::open(dir.str(), existing_opts());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == errc::not_a_store);
}

TEST_CASE("a store of another format version is format_mismatch") {
  temp_dir dir;
  {
    auto s = open_ok(dir.str(), create_opts());
    REQUIRE(s->put_blobs({"kept"}).ok());
  }
  with_raw_env(dir.str(),
               [](MDB_env*, MDB_txn* txn) { raw_put(txn, "meta", "format", "amber-store/999"); });
  for (const auto& o : {existing_opts(), create_opts()}) {
    auto r = lmdb_store::open(dir.str(), o);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code() == errc::format_mismatch);
    CHECK(r.error().message().find("amber-store/999") != std::string::npos);
    CHECK(r.error().message().find(lmdb_store::format_version) != std::string::npos);
  }
  // A format that merely starts with ours is not ours either.
  with_raw_env(dir.str(), [](MDB_env*, MDB_txn* txn) {
    raw_put(txn, "meta", "format", std::string(lmdb_store::format_version) + "x");
  });
  auto r = lmdb_store::open(dir.str(), existing_opts());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == errc::format_mismatch);

  // Putting the right format back makes it a store again, contents intact.
  with_raw_env(dir.str(), [](MDB_env*, MDB_txn* txn) {
    raw_put(txn, "meta", "format", lmdb_store::format_version);
  });
  auto s = open_ok(dir.str(), existing_opts());
  CHECK(s->has_blob(sha256("kept")).ok());
}

TEST_CASE("a store missing one of its tables is not_a_store") {
  temp_dir dir;
  make_store(dir.str());
  with_raw_env(dir.str(), [](MDB_env*, MDB_txn* txn) {
    MDB_dbi dbi;
    REQUIRE(mdb_dbi_open(txn, "refs", 0, &dbi) == MDB_SUCCESS);
    REQUIRE(mdb_drop(txn, dbi, 1) == MDB_SUCCESS);
  });
  auto r = lmdb_store::open(dir.str(), existing_opts());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == errc::not_a_store);
  CHECK(r.error().message().find("refs") != std::string::npos);
}

TEST_CASE("a store reopened after close keeps its objects") {
  temp_dir dir;
  digest blob_a, blob_b, head;
  {
    lmdb_options o = create_opts();
    o.no_sync = false; // the durable path
    auto s = open_ok(dir.str(), o);
    auto put = s->put_blobs({"state a", "state b"});
    REQUIRE(put.ok());
    blob_a = put->ids[0];
    blob_b = put->ids[1];
    snapshot_commit c;
    c.manifest = "the manifest";
    c.references = put->ids;
    c.ref = "nodes/bank/head";
    auto id = s->commit_snapshot(c);
    REQUIRE(id.ok());
    head = *id;
  }
  auto s = open_ok(dir.str(), existing_opts());
  std::string out;
  REQUIRE(s->get_blob(blob_a, &out).ok());
  CHECK(out == "state a");
  REQUIRE(s->get_blob(blob_b, &out).ok());
  CHECK(out == "state b");
  REQUIRE(s->get_manifest(head, &out).ok());
  CHECK(out == "the manifest");
  auto ref = s->get_ref("nodes/bank/head");
  REQUIRE(ref.ok());
  CHECK(*ref == head);
  auto st = s->stats();
  REQUIRE(st.ok());
  CHECK(st->blobs == 2);
  CHECK(st->blob_bytes == 14);
  CHECK(st->manifests == 1);
  CHECK(st->refs == 1);
  // Still writable, and still deduplicating against what was stored before.
  auto again = s->put_blobs({"state a", "state c"});
  REQUIRE(again.ok());
  CHECK(again->written == 1);
}

TEST_CASE("reopening with create_if_missing keeps an existing store's objects") {
  temp_dir dir;
  digest id;
  {
    auto s = open_ok(dir.str(), create_opts());
    auto put = s->put_blobs({"precious"});
    REQUIRE(put.ok());
    id = put->ids[0];
  }
  auto s = open_ok(dir.str(), create_opts());
  CHECK(s->has_blob(id).ok());
  CHECK(s->stats()->blobs == 1);
}

TEST_CASE("a second open in the same process is busy while the first lives") {
  temp_dir dir;
  auto first = open_ok(dir.str(), create_opts());
  REQUIRE(first->put_blobs({"x"}).ok());

  auto second = lmdb_store::open(dir.str(), existing_opts());
  REQUIRE_FALSE(second.ok());
  CHECK(second.error().code() == errc::busy);
  auto with_create = lmdb_store::open(dir.str(), create_opts());
  REQUIRE_FALSE(with_create.ok());
  CHECK(with_create.error().code() == errc::busy);
  // Other spellings of the same directory are the same store.
  for (const std::string& alias : {dir.str() + "/", dir.str() + "/.",
                                   (dir.path() / ".." / dir.path().filename()).string()}) {
    CAPTURE(alias);
    auto r = lmdb_store::open(alias, existing_opts());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code() == errc::busy);
  }

  // The refused opens did not disturb the first instance.
  CHECK(first->has_blob(sha256("x")).ok());
  REQUIRE(first->put_blobs({"y"}).ok());

  first.reset();
  auto third = open_ok(dir.str(), existing_opts());
  CHECK(third->has_blob(sha256("y")).ok());
}

TEST_CASE("two different stores may be open at once") {
  temp_dir a, b;
  auto sa = open_ok(a.str(), create_opts());
  auto sb = open_ok(b.str(), create_opts());
  REQUIRE(sa->put_blobs({"only in a"}).ok());
  CHECK(sb->has_blob(sha256("only in a")).code() == errc::not_found);
}

TEST_CASE("a failed open does not leave the directory marked as open") {
  temp_dir dir;
  make_store(dir.str());
  with_raw_env(dir.str(),
               [](MDB_env*, MDB_txn* txn) { raw_put(txn, "meta", "format", "amber-store/0"); });
  for (int i = 0; i < 2; ++i) {
    auto r = lmdb_store::open(dir.str(), existing_opts());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code() == errc::format_mismatch); // not busy
  }
  with_raw_env(dir.str(), [](MDB_env*, MDB_txn* txn) {
    raw_put(txn, "meta", "format", lmdb_store::format_version);
  });
  open_ok(dir.str(), existing_opts());

  temp_dir garbage;
  fs::create_directories(garbage.path());
  write_file(garbage.path() / "data.mdb", std::string(8192, 'g'));
  for (int i = 0; i < 2; ++i)
    CHECK(lmdb_store::open(garbage.str(), existing_opts()).error().code() == errc::not_a_store);
}

TEST_CASE("a manifest whose bytes changed on disk reads as corruption") {
  temp_dir dir;
  auto s = open_ok(dir.str(), create_opts());
  snapshot_commit c;
  c.manifest = "good manifest";
  c.ref = "main";
  auto id = s->commit_snapshot(c);
  REQUIRE(id.ok());
  REQUIRE(s->test_overwrite_manifest(*id, "evil manifest").ok());
  std::string out = "sentinel";
  status st = s->get_manifest(*id, &out);
  CHECK(st.code() == errc::corruption);
  CHECK(st.message().find(id->to_hex()) != std::string::npos);
  CHECK(out != "evil manifest");
  CHECK(s->get_manifest(*id, nullptr).code() == errc::corruption);
  // The ref and the listing still see it: only its bytes are bad.
  CHECK(*s->get_ref("main") == *id);
  CHECK(s->list_manifests()->size() == 1);
}

TEST_CASE("corruption on disk survives a reopen and is still detected") {
  temp_dir dir;
  digest id;
  {
    auto s = open_ok(dir.str(), create_opts());
    auto put = s->put_blobs({"component state"});
    REQUIRE(put.ok());
    id = put->ids[0];
    REQUIRE(s->test_overwrite_blob(id, "component stat3").ok());
  }
  auto s = open_ok(dir.str(), existing_opts());
  CHECK(s->get_blob(id, nullptr).code() == errc::corruption);
  // Putting the right bytes again does not repair it: the key is present.
  auto again = s->put_blobs({"component state"});
  REQUIRE(again.ok());
  CHECK(again->written == 0);
}

TEST_CASE("a ref whose stored value is not a digest reads as corruption") {
  temp_dir dir;
  {
    auto s = open_ok(dir.str(), create_opts());
    snapshot_commit c;
    c.manifest = "m";
    c.ref = "good";
    REQUIRE(s->commit_snapshot(c).ok());
  }
  with_raw_env(dir.str(), [](MDB_env*, MDB_txn* txn) { raw_put(txn, "refs", "bad", "short"); });
  auto s = open_ok(dir.str(), existing_opts());
  auto bad = s->get_ref("bad");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code() == errc::corruption);
  CHECK(bad.error().message().find("bad") != std::string::npos);
  CHECK(s->get_ref("good").ok());
  auto listed = s->list_refs();
  REQUIRE_FALSE(listed.ok());
  CHECK(listed.error().code() == errc::corruption);

  // A commit that checks the bad ref as its expected head refuses to go on.
  snapshot_commit c;
  c.manifest = "n";
  c.ref = "bad";
  auto r = s->commit_snapshot(c);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == errc::corruption);
  CHECK(s->get_manifest(sha256("n"), nullptr).code() == errc::not_found);
}

TEST_CASE("a batch that overflows the map size grows the map and is written whole") {
  temp_dir dir;
  lmdb_options o = create_opts();
  o.map_size = uint64_t{1} << 20; // 1 MiB
  std::string small = "fits";
  std::string huge(4 << 20, 'h');
  {
    auto s = open_ok(dir.str(), o);
    auto r = s->put_blobs({small, huge});
    REQUIRE_MESSAGE(r.ok(), r.error().to_string());
    CHECK(r->written == 2);
    CHECK(s->stats()->blobs == 2);
  }
  // Reopened with the small map size: LMDB maps at least what the file holds.
  auto s = open_ok(dir.str(), existing_opts());
  std::string back;
  REQUIRE(s->get_blob(sha256(huge), &back).ok());
  CHECK(back == huge);
}

TEST_CASE("the store writes its format version into the meta table") {
  temp_dir dir;
  make_store(dir.str());
  std::string format;
  with_raw_env(dir.str(), [&](MDB_env*, MDB_txn* txn) {
    MDB_dbi dbi;
    REQUIRE(mdb_dbi_open(txn, "meta", 0, &dbi) == MDB_SUCCESS);
    MDB_val k{6, const_cast<char*>("format")};
    MDB_val v;
    REQUIRE(mdb_get(txn, dbi, &k, &v) == MDB_SUCCESS);
    format.assign(static_cast<const char*>(v.mv_data), v.mv_size);
  });
  CHECK(format == lmdb_store::format_version);
}

TEST_CASE("objects are keyed by their raw 32-byte digest on disk") {
  temp_dir dir;
  {
    auto s = open_ok(dir.str(), create_opts());
    REQUIRE(s->put_blobs({"abc"}).ok());
  }
  std::string stored;
  with_raw_env(dir.str(), [&](MDB_env*, MDB_txn* txn) {
    MDB_dbi dbi;
    REQUIRE(mdb_dbi_open(txn, "blobs", 0, &dbi) == MDB_SUCCESS);
    std::string key(sha256("abc").raw());
    MDB_val k{key.size(), key.data()};
    MDB_val v;
    REQUIRE(mdb_get(txn, dbi, &k, &v) == MDB_SUCCESS);
    stored.assign(static_cast<const char*>(v.mv_data), v.mv_size);
  });
  CHECK(stored == "abc");
}

TEST_CASE("a ref name longer than LMDB's key limit is invalid_argument and writes nothing") {
  temp_dir dir;
  auto s = open_ok(dir.str(), create_opts());
  snapshot_commit first;
  first.manifest = "m";
  first.ref = "main";
  auto id = s->commit_snapshot(first);
  REQUIRE(id.ok());
  std::string long_name(600, 'r');

  CHECK(s->set_ref(long_name, *id).code() == errc::invalid_argument);

  snapshot_commit c;
  c.manifest = "n";
  c.ref = long_name;
  auto r = s->commit_snapshot(c);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == errc::invalid_argument);
  CHECK(s->get_manifest(sha256("n"), nullptr).code() == errc::not_found);

  // Such a ref cannot exist, so reading or removing it is an ordinary miss.
  CHECK(s->get_ref(long_name).error().code() == errc::not_found);
  amber::removal what;
  what.refs = {long_name};
  CHECK(s->remove(what).ok());
  auto st = s->stats();
  REQUIRE(st.ok());
  CHECK(st->manifests == 1);
  CHECK(st->refs == 1);
}
