// The `store` contract, checked against every implementation: each test case
// below runs once against a memory_store and once against an lmdb_store.

#include "amber/storage/lmdb_store.hpp"
#include "amber/storage/memory_store.hpp"

#include <doctest/doctest.h>

#include "support/temp_dir.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

using amber::digest;
using amber::errc;
using amber::removal;
using amber::sha256;
using amber::snapshot_commit;
using amber::status;

namespace fs = std::filesystem;

namespace {

using test::temp_dir;

struct memory_fixture {
  amber::memory_store instance;
  amber::store& store() { return instance; }
  void overwrite_blob(const digest& id, const std::string& bytes) {
    instance.test_overwrite_blob(id, bytes);
  }
};

struct lmdb_fixture {
  temp_dir dir; // Declared first: destroyed after the store is closed.
  std::shared_ptr<amber::lmdb_store> instance;
  lmdb_fixture() {
    amber::lmdb_options opts;
    opts.create_if_missing = true;
    opts.map_size = uint64_t{1} << 30;
    opts.no_sync = true;
    auto r = amber::lmdb_store::open(dir.str(), opts);
    REQUIRE_MESSAGE(r.ok(), r.error().to_string());
    instance = *r;
  }
  amber::store& store() { return *instance; }
  void overwrite_blob(const digest& id, const std::string& bytes) {
    REQUIRE(instance->test_overwrite_blob(id, bytes).ok());
  }
};

std::vector<std::string_view> views(const std::vector<std::string>& v) {
  return {v.begin(), v.end()};
}

amber::store_stats stats_of(amber::store& s) {
  auto r = s.stats();
  REQUIRE_MESSAGE(r.ok(), r.error().to_string());
  return *r;
}

digest put_one(amber::store& s, const std::string& bytes) {
  auto r = s.put_blobs({bytes});
  REQUIRE_MESSAGE(r.ok(), r.error().to_string());
  REQUIRE(r->ids.size() == 1);
  return r->ids[0];
}

// Commits `manifest` to `ref` (none when empty) unconditionally.
digest commit(amber::store& s, const std::string& manifest, const std::string& ref = "",
              std::vector<digest> refs = {}) {
  snapshot_commit c;
  c.manifest = manifest;
  c.ref = ref;
  c.references = std::move(refs);
  c.check_expected_head = false;
  auto r = s.commit_snapshot(c);
  REQUIRE_MESSAGE(r.ok(), r.error().to_string());
  return *r;
}

std::string read_blob(amber::store& s, const digest& id) {
  std::string out;
  status st = s.get_blob(id, &out);
  REQUIRE_MESSAGE(st.ok(), st.to_string());
  return out;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

#define STORE_TEST(name) TEST_CASE_TEMPLATE(name, F, memory_fixture, lmdb_fixture)

STORE_TEST("a new store is empty") {
  F f;
  auto st = stats_of(f.store());
  CHECK(st.blobs == 0);
  CHECK(st.blob_bytes == 0);
  CHECK(st.manifests == 0);
  CHECK(st.refs == 0);
  CHECK(f.store().list_blobs()->empty());
  CHECK(f.store().list_manifests()->empty());
  CHECK(f.store().list_refs()->empty());
  CHECK_FALSE(f.store().describe().empty());
}

STORE_TEST("blobs read back byte for byte under their sha256") {
  F f;
  std::string binary("\0\x01\xff\x7f zero\0bytes", 16);
  std::string big(3 << 20, '\0');
  std::mt19937 gen(7);
  for (auto& c : big)
    c = static_cast<char>(gen());
  std::vector<std::string> blobs = {"hello", "", binary, big, "world"};

  auto put = f.store().put_blobs(views(blobs));
  REQUIRE(put.ok());
  REQUIRE(put->ids.size() == blobs.size());
  CHECK(put->written == blobs.size());
  CHECK(put->bytes_written == 5 + 0 + binary.size() + big.size() + 5);
  for (size_t i = 0; i < blobs.size(); ++i) {
    CAPTURE(i);
    CHECK(put->ids[i] == sha256(blobs[i]));
    CHECK(read_blob(f.store(), put->ids[i]) == blobs[i]);
    auto size = f.store().blob_size(put->ids[i]);
    REQUIRE(size.ok());
    CHECK(*size == blobs[i].size());
    CHECK(f.store().has_blob(put->ids[i]).ok());
  }
  auto st = stats_of(f.store());
  CHECK(st.blobs == blobs.size());
  CHECK(st.blob_bytes == put->bytes_written);
}

STORE_TEST("get_blob replaces whatever the output string held") {
  F f;
  digest id = put_one(f.store(), "abc");
  std::string out = "previous contents that are longer";
  REQUIRE(f.store().get_blob(id, &out).ok());
  CHECK(out == "abc");
}

STORE_TEST("get_blob without an output string still checks the blob") {
  F f;
  digest id = put_one(f.store(), "abc");
  CHECK(f.store().get_blob(id, nullptr).ok());
  CHECK(f.store().get_blob(sha256("other"), nullptr).code() == errc::not_found);
  f.overwrite_blob(id, "abd");
  CHECK(f.store().get_blob(id, nullptr).code() == errc::corruption);
}

STORE_TEST("a blob already present is not written again") {
  F f;
  auto first = f.store().put_blobs({"alpha", "beta"});
  REQUIRE(first.ok());
  CHECK(first->written == 2);
  auto before = stats_of(f.store());

  auto second = f.store().put_blobs({"beta", "alpha"});
  REQUIRE(second.ok());
  CHECK(second->written == 0);
  CHECK(second->bytes_written == 0);
  REQUIRE(second->ids.size() == 2);
  CHECK(second->ids[0] == first->ids[1]);
  CHECK(second->ids[1] == first->ids[0]);

  auto after = stats_of(f.store());
  CHECK(after.blobs == before.blobs);
  CHECK(after.blob_bytes == before.blob_bytes);
}

STORE_TEST("only the new blobs of a mixed batch count as written") {
  F f;
  put_one(f.store(), "old");
  auto r = f.store().put_blobs({"old", "newer", "old"});
  REQUIRE(r.ok());
  CHECK(r->written == 1);
  CHECK(r->bytes_written == 5);
  CHECK(r->ids.size() == 3);
  CHECK(r->ids[0] == r->ids[2]);
  CHECK(stats_of(f.store()).blobs == 2);
}

STORE_TEST("the same bytes twice in one batch are written once") {
  F f;
  auto r = f.store().put_blobs({"twin", "twin"});
  REQUIRE(r.ok());
  CHECK(r->written == 1);
  CHECK(r->bytes_written == 4);
  REQUIRE(r->ids.size() == 2);
  CHECK(r->ids[0] == r->ids[1]);
  auto st = stats_of(f.store());
  CHECK(st.blobs == 1);
  CHECK(st.blob_bytes == 4);
}

STORE_TEST("an empty batch writes nothing and succeeds") {
  F f;
  auto r = f.store().put_blobs({});
  REQUIRE(r.ok());
  CHECK(r->ids.empty());
  CHECK(r->written == 0);
  CHECK(stats_of(f.store()).blobs == 0);
}

STORE_TEST("a missing blob is not_found for get, has and size, naming its id") {
  F f;
  put_one(f.store(), "present");
  digest missing = sha256("absent");
  std::string out;
  status st = f.store().get_blob(missing, &out);
  CHECK(st.code() == errc::not_found);
  CHECK(st.is_not_found());
  CHECK(contains(st.message(), missing.to_hex()));

  st = f.store().has_blob(missing);
  CHECK(st.code() == errc::not_found);
  CHECK(contains(st.message(), missing.to_hex()));

  auto size = f.store().blob_size(missing);
  CHECK_FALSE(size.ok());
  CHECK(size.error().code() == errc::not_found);
}

STORE_TEST("a blob whose bytes changed on disk reads as corruption") {
  F f;
  digest id = put_one(f.store(), "original state");
  f.overwrite_blob(id, "tampered state");
  std::string out = "sentinel";
  status st = f.store().get_blob(id, &out);
  CHECK(st.code() == errc::corruption);
  CHECK(contains(st.message(), id.to_hex()));
  CHECK(out != "tampered state"); // corrupt bytes never reach the caller
  // The blob is still there: only reading its bytes fails.
  CHECK(f.store().has_blob(id).ok());
  // Other blobs are unaffected.
  digest other = put_one(f.store(), "fine");
  CHECK(read_blob(f.store(), other) == "fine");
}

STORE_TEST("a blob truncated to nothing reads as corruption") {
  F f;
  digest id = put_one(f.store(), "some bytes");
  f.overwrite_blob(id, "");
  CHECK(f.store().get_blob(id, nullptr).code() == errc::corruption);
  auto size = f.store().blob_size(id);
  REQUIRE(size.ok());
  CHECK(*size == 0);
}

STORE_TEST("commit_snapshot writes the manifest and moves the ref") {
  F f;
  auto blobs = f.store().put_blobs({"state-a", "state-b"});
  REQUIRE(blobs.ok());
  snapshot_commit c;
  c.manifest = "manifest one";
  c.references = blobs->ids;
  c.ref = "nodes/bank/head";
  c.expected_head = std::nullopt;
  auto id = f.store().commit_snapshot(c);
  REQUIRE_MESSAGE(id.ok(), id.error().to_string());
  CHECK(*id == sha256("manifest one"));

  std::string out;
  REQUIRE(f.store().get_manifest(*id, &out).ok());
  CHECK(out == "manifest one");
  auto head = f.store().get_ref("nodes/bank/head");
  REQUIRE(head.ok());
  CHECK(*head == *id);
  auto st = stats_of(f.store());
  CHECK(st.manifests == 1);
  CHECK(st.refs == 1);

  // The next snapshot names the current head and moves the ref on.
  snapshot_commit next;
  next.manifest = "manifest two";
  next.references = {blobs->ids[0]};
  next.ref = "nodes/bank/head";
  next.expected_head = *id;
  auto id2 = f.store().commit_snapshot(next);
  REQUIRE_MESSAGE(id2.ok(), id2.error().to_string());
  CHECK(*id2 == sha256("manifest two"));
  CHECK(*f.store().get_ref("nodes/bank/head") == *id2);
  // The old manifest stays.
  REQUIRE(f.store().get_manifest(*id, &out).ok());
  CHECK(out == "manifest one");
  CHECK(stats_of(f.store()).manifests == 2);
  CHECK(stats_of(f.store()).refs == 1);
}

STORE_TEST("a commit without a ref stores the manifest and touches no ref") {
  F f;
  snapshot_commit c;
  c.manifest = "detached";
  c.expected_head = sha256("ignored because there is no ref");
  auto id = f.store().commit_snapshot(c);
  REQUIRE(id.ok());
  CHECK(f.store().get_manifest(*id, nullptr).ok());
  auto st = stats_of(f.store());
  CHECK(st.manifests == 1);
  CHECK(st.refs == 0);
}

STORE_TEST("a commit with no references and an empty manifest succeeds") {
  F f;
  digest id = commit(f.store(), "", "empty");
  CHECK(id == sha256(""));
  std::string out = "x";
  REQUIRE(f.store().get_manifest(id, &out).ok());
  CHECK(out.empty());
}

STORE_TEST("committing the same manifest twice keeps one copy and still moves the ref") {
  F f;
  digest a = commit(f.store(), "same", "one");
  digest b = commit(f.store(), "same", "two");
  CHECK(a == b);
  CHECK(stats_of(f.store()).manifests == 1);
  CHECK(*f.store().get_ref("one") == a);
  CHECK(*f.store().get_ref("two") == a);
}

STORE_TEST("a commit naming a missing blob fails with not_found and writes nothing") {
  F f;
  digest present = put_one(f.store(), "present");
  digest old_head = commit(f.store(), "old head", "main", {present});
  auto before = stats_of(f.store());

  digest missing = sha256("never stored");
  snapshot_commit c;
  c.manifest = "new head";
  c.references = {present, missing};
  c.ref = "main";
  c.expected_head = old_head;
  auto r = f.store().commit_snapshot(c);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == errc::not_found);
  CHECK(contains(r.error().message(), missing.to_hex()));
  CHECK_FALSE(contains(r.error().message(), present.to_hex()));

  auto after = stats_of(f.store());
  CHECK(after.manifests == before.manifests);
  CHECK(after.refs == before.refs);
  CHECK(after.blobs == before.blobs);
  CHECK(*f.store().get_ref("main") == old_head);
  CHECK(f.store().get_manifest(sha256("new head"), nullptr).code() == errc::not_found);
}

STORE_TEST("a commit names the first of several missing blobs") {
  F f;
  digest first = sha256("missing one");
  digest second = sha256("missing two");
  snapshot_commit c;
  c.manifest = "m";
  c.references = {first, second};
  auto r = f.store().commit_snapshot(c);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == errc::not_found);
  CHECK(contains(r.error().message(), first.to_hex()));
  CHECK_FALSE(contains(r.error().message(), second.to_hex()));
  CHECK(stats_of(f.store()).manifests == 0);
}

STORE_TEST("a commit whose expected head differs is a conflict and writes nothing") {
  F f;
  digest a = commit(f.store(), "a", "main");
  digest b = commit(f.store(), "b");
  auto before = stats_of(f.store());

  snapshot_commit c;
  c.manifest = "c";
  c.ref = "main";
  c.expected_head = b; // main is at a
  auto r = f.store().commit_snapshot(c);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == errc::conflict);
  CHECK(contains(r.error().message(), "main"));

  auto after = stats_of(f.store());
  CHECK(after.manifests == before.manifests);
  CHECK(after.refs == before.refs);
  CHECK(*f.store().get_ref("main") == a);
  CHECK(f.store().get_manifest(sha256("c"), nullptr).code() == errc::not_found);
}

STORE_TEST("expecting no head conflicts when the ref already exists") {
  F f;
  digest a = commit(f.store(), "a", "main");
  snapshot_commit c;
  c.manifest = "c";
  c.ref = "main";
  c.expected_head = std::nullopt;
  auto r = f.store().commit_snapshot(c);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == errc::conflict);
  CHECK(*f.store().get_ref("main") == a);
  CHECK(stats_of(f.store()).manifests == 1);
}

STORE_TEST("expecting a head conflicts when the ref does not exist yet") {
  F f;
  digest a = commit(f.store(), "a");
  snapshot_commit c;
  c.manifest = "c";
  c.ref = "main";
  c.expected_head = a;
  auto r = f.store().commit_snapshot(c);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == errc::conflict);
  CHECK(f.store().get_ref("main").error().code() == errc::not_found);
  CHECK(stats_of(f.store()).manifests == 1);
}

STORE_TEST("the expected head is checked against the named ref only") {
  F f;
  digest a = commit(f.store(), "a", "other");
  snapshot_commit c;
  c.manifest = "c";
  c.ref = "main";
  c.expected_head = std::nullopt; // main does not exist, though "other" does
  auto r = f.store().commit_snapshot(c);
  REQUIRE(r.ok());
  CHECK(*f.store().get_ref("main") == *r);
  CHECK(*f.store().get_ref("other") == a);
}

STORE_TEST("a commit that does not check the head moves the ref unconditionally") {
  F f;
  commit(f.store(), "a", "main");
  snapshot_commit c;
  c.manifest = "c";
  c.ref = "main";
  c.expected_head = sha256("wrong");
  c.check_expected_head = false;
  auto r = f.store().commit_snapshot(c);
  REQUIRE(r.ok());
  CHECK(*f.store().get_ref("main") == sha256("c"));
}

std::vector<amber::blob_put> puts_of(std::vector<std::string> blobs) {
  return amber::make_blob_puts(std::move(blobs));
}

STORE_TEST("a commit writes its new blobs with the manifest, and references may name them") {
  F f;
  digest old = put_one(f.store(), "stored before");
  auto before = stats_of(f.store());
  snapshot_commit c;
  c.manifest = "with blobs";
  c.blobs = puts_of({"state one", "index", "stored before"});
  c.references = {c.blobs[0].id, c.blobs[1].id, old};
  c.ref = "nodes/n/head";
  c.expected_head = std::nullopt;
  auto r = f.store().commit(c);
  REQUIRE_MESSAGE(r.ok(), r.error().to_string());
  CHECK(r->id == sha256("with blobs"));
  CHECK(r->written == 2);
  CHECK(r->bytes_written == std::string("state one").size() + std::string("index").size());
  CHECK(r->present == 1);
  CHECK(read_blob(f.store(), c.blobs[0].id) == "state one");
  CHECK(read_blob(f.store(), c.blobs[1].id) == "index");
  CHECK(*f.store().get_ref("nodes/n/head") == r->id);
  auto after = stats_of(f.store());
  CHECK(after.blobs == before.blobs + 2);
  CHECK(after.manifests == before.manifests + 1);
  // commit_snapshot is the same operation, answering the id only.
  snapshot_commit next = c;
  next.manifest = "with blobs, again";
  next.expected_head = r->id;
  auto id = f.store().commit_snapshot(next);
  REQUIRE_MESSAGE(id.ok(), id.error().to_string());
  CHECK(*id == sha256("with blobs, again"));
  CHECK(stats_of(f.store()).blobs == after.blobs);
}

STORE_TEST("blobs a commit finds present are skipped, not rewritten") {
  F f;
  digest id = put_one(f.store(), "unchanged state");
  // Tamper with the stored copy: a rewrite would repair it, a skip leaves it.
  f.overwrite_blob(id, "tampered");
  snapshot_commit c;
  c.manifest = "m";
  c.blobs = puts_of({"unchanged state", "new state", "new state"});
  c.references = {id};
  auto r = f.store().commit(c);
  REQUIRE_MESSAGE(r.ok(), r.error().to_string());
  CHECK(r->written == 1);
  CHECK(r->bytes_written == std::string("new state").size());
  CHECK(r->present == 2); // Stored before, and the second copy of "new state".
  CHECK(f.store().get_blob(id, nullptr).code() == errc::corruption);
  CHECK(stats_of(f.store()).blobs == 2);
}

STORE_TEST("a commit that fails writes none of its blobs") {
  F f;
  digest head = commit(f.store(), "head", "main");
  auto before = stats_of(f.store());
  auto attempt = [&](snapshot_commit c, errc expected) {
    c.manifest = "refused";
    c.blobs = puts_of({"new a", "new b"});
    auto r = f.store().commit(c);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code() == expected);
    auto after = stats_of(f.store());
    CHECK(after.blobs == before.blobs);
    CHECK(after.manifests == before.manifests);
    CHECK(f.store().has_blob(sha256("new a")).code() == errc::not_found);
    CHECK(f.store().has_blob(sha256("new b")).code() == errc::not_found);
    CHECK(*f.store().get_ref("main") == head);
  };
  SUBCASE("the head moved") {
    snapshot_commit c;
    c.ref = "main";
    c.expected_head = sha256("not the head");
    c.references = {sha256("new a")};
    attempt(c, errc::conflict);
  }
  SUBCASE("a reference is neither stored nor among the blobs") {
    snapshot_commit c;
    c.ref = "main";
    c.expected_head = head;
    c.references = {sha256("new a"), sha256("nowhere")};
    attempt(c, errc::not_found);
  }
}

STORE_TEST("make_blob_puts hashes each blob and keeps the input order") {
  auto puts = amber::make_blob_puts({"b", "a", "", "b"});
  REQUIRE(puts.size() == 4);
  CHECK(puts[0].id == sha256("b"));
  CHECK(puts[0].bytes == "b");
  CHECK(puts[1].id == sha256("a"));
  CHECK(puts[2].id == sha256(""));
  CHECK(puts[3].id == puts[0].id);
}

STORE_TEST("a missing manifest is not_found and a missing ref is not_found") {
  F f;
  commit(f.store(), "exists", "exists");
  std::string out;
  status st = f.store().get_manifest(sha256("nope"), &out);
  CHECK(st.code() == errc::not_found);
  CHECK(contains(st.message(), sha256("nope").to_hex()));
  auto ref = f.store().get_ref("no/such/ref");
  REQUIRE_FALSE(ref.ok());
  CHECK(ref.error().code() == errc::not_found);
  CHECK(contains(ref.error().message(), "no/such/ref"));
  // A prefix of an existing ref name is a different ref.
  CHECK(f.store().get_ref("exist").error().code() == errc::not_found);
  CHECK(f.store().get_ref("exists/").error().code() == errc::not_found);
}

STORE_TEST("an empty ref name never exists") {
  F f;
  commit(f.store(), "a", "main");
  auto r = f.store().get_ref("");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == errc::not_found);
}

STORE_TEST("set_ref points a ref at a stored manifest") {
  F f;
  digest a = commit(f.store(), "a", "main");
  digest b = commit(f.store(), "b");
  REQUIRE(f.store().set_ref("main", b).ok());
  CHECK(*f.store().get_ref("main") == b);
  REQUIRE(f.store().set_ref("tags/v1", a).ok());
  CHECK(*f.store().get_ref("tags/v1") == a);
  CHECK(stats_of(f.store()).refs == 2);
}

STORE_TEST("set_ref to an unknown manifest is not_found and leaves the ref alone") {
  F f;
  digest a = commit(f.store(), "a", "main");
  digest blob = put_one(f.store(), "a blob is not a manifest");
  for (const digest& target : {sha256("unknown"), blob}) {
    status st = f.store().set_ref("main", target);
    CHECK(st.code() == errc::not_found);
    CHECK(contains(st.message(), target.to_hex()));
    st = f.store().set_ref("fresh", target);
    CHECK(st.code() == errc::not_found);
  }
  CHECK(*f.store().get_ref("main") == a);
  CHECK(f.store().get_ref("fresh").error().code() == errc::not_found);
  CHECK(stats_of(f.store()).refs == 1);
}

STORE_TEST("set_ref refuses an empty name") {
  F f;
  digest a = commit(f.store(), "a");
  CHECK(f.store().set_ref("", a).code() == errc::invalid_argument);
  CHECK(stats_of(f.store()).refs == 0);
}

STORE_TEST("list_refs returns every ref sorted by name") {
  F f;
  digest a = commit(f.store(), "a");
  digest b = commit(f.store(), "b");
  const std::vector<std::string> names = {"zeta", "nodes/bank/head", "alpha", "nodes/b",
                                          "Upper", "nodes/bank", "a"};
  for (size_t i = 0; i < names.size(); ++i)
    REQUIRE(f.store().set_ref(names[i], i % 2 ? a : b).ok());
  auto refs = f.store().list_refs();
  REQUIRE(refs.ok());
  REQUIRE(refs->size() == names.size());
  std::vector<std::string> sorted = names;
  std::sort(sorted.begin(), sorted.end());
  std::map<std::string, digest> expected;
  for (size_t i = 0; i < names.size(); ++i)
    expected[names[i]] = i % 2 ? a : b;
  for (size_t i = 0; i < sorted.size(); ++i) {
    CAPTURE(i);
    CHECK((*refs)[i].first == sorted[i]);
    CHECK((*refs)[i].second == expected[sorted[i]]);
  }
}

STORE_TEST("list_manifests and list_blobs return every id sorted") {
  F f;
  std::vector<std::string> contents;
  for (int i = 0; i < 50; ++i)
    contents.push_back("object " + std::to_string(i));
  auto put = f.store().put_blobs(views(contents));
  REQUIRE(put.ok());
  std::vector<digest> manifests;
  for (int i = 0; i < 20; ++i)
    manifests.push_back(commit(f.store(), "manifest " + std::to_string(i)));

  std::vector<digest> expected_blobs = put->ids;
  std::sort(expected_blobs.begin(), expected_blobs.end());
  std::sort(manifests.begin(), manifests.end());

  auto blobs = f.store().list_blobs();
  REQUIRE(blobs.ok());
  CHECK(*blobs == expected_blobs);
  CHECK(std::is_sorted(blobs->begin(), blobs->end()));
  auto listed = f.store().list_manifests();
  REQUIRE(listed.ok());
  CHECK(*listed == manifests);
  // Blobs and manifests live apart.
  CHECK(std::find(blobs->begin(), blobs->end(), manifests[0]) == blobs->end());
}

STORE_TEST("remove deletes the named objects and nothing else") {
  F f;
  auto put = f.store().put_blobs({"b1", "b2", "b3"});
  REQUIRE(put.ok());
  digest m1 = commit(f.store(), "m1", "r1");
  digest m2 = commit(f.store(), "m2", "r2");
  commit(f.store(), "m3", "r3");

  removal what;
  what.blobs = {put->ids[0], put->ids[2]};
  what.manifests = {m1};
  what.refs = {"r1", "r3"};
  REQUIRE(f.store().remove(what).ok());

  CHECK(f.store().has_blob(put->ids[0]).code() == errc::not_found);
  CHECK(f.store().get_blob(put->ids[0], nullptr).code() == errc::not_found);
  CHECK(f.store().has_blob(put->ids[1]).ok());
  CHECK(f.store().has_blob(put->ids[2]).code() == errc::not_found);
  CHECK(f.store().get_manifest(m1, nullptr).code() == errc::not_found);
  CHECK(f.store().get_manifest(m2, nullptr).ok());
  CHECK(f.store().get_ref("r1").error().code() == errc::not_found);
  CHECK(*f.store().get_ref("r2") == m2);
  CHECK(f.store().get_ref("r3").error().code() == errc::not_found);

  auto st = stats_of(f.store());
  CHECK(st.blobs == 1);
  CHECK(st.blob_bytes == 2);
  CHECK(st.manifests == 2);
  CHECK(st.refs == 1);
  CHECK(f.store().list_blobs()->size() == 1);
}

STORE_TEST("remove skips objects that are absent") {
  F f;
  digest kept = put_one(f.store(), "kept");
  digest gone = put_one(f.store(), "gone");
  removal what;
  what.blobs = {sha256("never"), gone, gone};
  what.manifests = {sha256("no manifest")};
  what.refs = {"no ref"};
  REQUIRE(f.store().remove(what).ok());
  CHECK(f.store().has_blob(kept).ok());
  CHECK(f.store().has_blob(gone).code() == errc::not_found);
  CHECK(f.store().remove(removal{}).ok());
  CHECK(stats_of(f.store()).blobs == 1);
}

STORE_TEST("remove skips an empty ref name and still removes the rest") {
  F f;
  digest id = put_one(f.store(), "doomed");
  commit(f.store(), "m", "main");
  removal what;
  what.refs = {"", "main"};
  what.blobs = {id};
  status st = f.store().remove(what);
  REQUIRE_MESSAGE(st.ok(), st.to_string());
  CHECK(f.store().has_blob(id).code() == errc::not_found);
  CHECK(f.store().get_ref("main").error().code() == errc::not_found);
}

// What `f.store()` holds now, as a removal guard.
amber::removal_guard guard_of(amber::store& s) {
  amber::removal_guard g;
  auto manifests = s.list_manifests();
  REQUIRE(manifests.ok());
  g.manifests = *manifests;
  auto refs = s.list_refs();
  REQUIRE(refs.ok());
  g.refs = *refs;
  return g;
}

STORE_TEST("a guarded remove deletes when the store is as it was planned against") {
  F f;
  digest blob = put_one(f.store(), "garbage");
  digest old = commit(f.store(), "old");
  commit(f.store(), "head", "main");
  removal what;
  what.blobs = {blob};
  what.manifests = {old};
  what.expected = guard_of(f.store());
  // Order does not matter.
  std::reverse(what.expected->manifests.begin(), what.expected->manifests.end());
  status st = f.store().remove(what);
  REQUIRE_MESSAGE(st.ok(), st.to_string());
  CHECK(f.store().has_blob(blob).code() == errc::not_found);
  CHECK(f.store().get_manifest(old, nullptr).code() == errc::not_found);
}

STORE_TEST("a guarded remove refuses, deleting nothing, once the store changed") {
  F f;
  digest blob = put_one(f.store(), "planned garbage");
  digest old = commit(f.store(), "old", "tags/old");
  digest head = commit(f.store(), "head", "main");
  const auto planned = guard_of(f.store());
  auto attempt = [&] {
    removal what;
    what.blobs = {blob};
    what.manifests = {old};
    what.refs = {"tags/old"};
    what.expected = planned;
    status st = f.store().remove(what);
    CHECK(st.code() == errc::conflict);
    CHECK(contains(st.message(), "nothing was removed"));
    CHECK(f.store().has_blob(blob).ok());
    CHECK(f.store().get_manifest(old, nullptr).ok());
    CHECK(*f.store().get_ref("tags/old") == old);
    return st.message();
  };
  SUBCASE("a snapshot was committed") {
    digest added = commit(f.store(), "reuses the garbage", "", {blob});
    CHECK(contains(attempt(), added.to_hex()));
  }
  SUBCASE("the same manifest was committed again, moving a ref") {
    REQUIRE(f.store().set_ref("main", old).ok());
    auto message = attempt();
    CHECK(contains(message, "main"));
    CHECK(contains(message, old.to_hex()));
  }
  SUBCASE("a ref was created") {
    REQUIRE(f.store().set_ref("tags/new", old).ok());
    CHECK(contains(attempt(), "tags/new"));
  }
  SUBCASE("a ref was deleted") {
    removal drop;
    drop.refs = {"main"};
    REQUIRE(f.store().remove(drop).ok());
    CHECK(contains(attempt(), "main"));
  }
  SUBCASE("a snapshot was removed") {
    removal drop;
    drop.manifests = {head};
    drop.refs = {"main"};
    REQUIRE(f.store().remove(drop).ok());
    CHECK(contains(attempt(), head.to_hex()));
  }
}

STORE_TEST("a removed blob can be stored again and counts as written") {
  F f;
  digest id = put_one(f.store(), "again");
  removal what;
  what.blobs = {id};
  REQUIRE(f.store().remove(what).ok());
  auto r = f.store().put_blobs({"again"});
  REQUIRE(r.ok());
  CHECK(r->written == 1);
  CHECK(read_blob(f.store(), id) == "again");
}

STORE_TEST("a commit can reference a blob only while it exists") {
  F f;
  digest id = put_one(f.store(), "state");
  commit(f.store(), "uses state", "main", {id});
  removal what;
  what.blobs = {id};
  REQUIRE(f.store().remove(what).ok());
  snapshot_commit c;
  c.manifest = "uses state again";
  c.references = {id};
  c.ref = "main";
  c.check_expected_head = false;
  auto r = f.store().commit_snapshot(c);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == errc::not_found);
  CHECK(*f.store().get_ref("main") == sha256("uses state"));
}

STORE_TEST("concurrent writers of overlapping blobs store each blob once") {
  F f;
  constexpr int threads = 4;
  constexpr int per_thread = 100;
  std::atomic<uint64_t> written{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        // Half of the blobs are shared by all threads, half are private.
        std::string shared = "shared " + std::to_string(i);
        std::string own = "thread " + std::to_string(t) + " blob " + std::to_string(i);
        auto r = f.store().put_blobs({shared, own});
        if (!r.ok()) {
          ++failures;
          continue;
        }
        written += r->written;
        std::string back;
        if (!f.store().get_blob(r->ids[1], &back).ok() || back != own)
          ++failures;
      }
    });
  }
  for (auto& th : pool)
    th.join();
  CHECK(failures == 0);
  CHECK(written == per_thread + threads * per_thread);
  CHECK(stats_of(f.store()).blobs == per_thread + threads * per_thread);
}

STORE_TEST("concurrent compare-and-swap commits never lose an update") {
  F f;
  constexpr int threads = 4;
  constexpr int per_thread = 25;
  std::atomic<int> failures{0};
  std::atomic<int> conflicts{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        for (;;) {
          auto head = f.store().get_ref("main");
          std::optional<digest> expected;
          if (head.ok())
            expected = *head;
          else if (head.error().code() != errc::not_found) {
            ++failures;
            return;
          }
          snapshot_commit c;
          // Each manifest names its parent, so the ref history forms a chain.
          c.manifest = "parent=" + (expected ? expected->to_hex() : std::string("none"))
                       + " writer=" + std::to_string(t) + " n=" + std::to_string(i);
          c.ref = "main";
          c.expected_head = expected;
          auto r = f.store().commit_snapshot(c);
          if (r.ok())
            break;
          if (r.error().code() != errc::conflict) {
            ++failures;
            return;
          }
          ++conflicts;
        }
      }
    });
  }
  for (auto& th : pool)
    th.join();
  REQUIRE(failures == 0);
  CHECK(stats_of(f.store()).manifests == threads * per_thread);

  // Walk the chain from the head: every commit must be on it.
  auto head = f.store().get_ref("main");
  REQUIRE(head.ok());
  std::optional<digest> cursor = *head;
  int length = 0;
  while (cursor) {
    std::string manifest;
    REQUIRE(f.store().get_manifest(*cursor, &manifest).ok());
    ++length;
    REQUIRE(length <= threads * per_thread);
    std::string parent = manifest.substr(7, manifest.find(' ') - 7);
    if (parent == "none") {
      cursor.reset();
    } else {
      auto d = digest::from_hex(parent);
      REQUIRE(d.ok());
      cursor = *d;
    }
  }
  CHECK(length == threads * per_thread);
}

STORE_TEST("stats reads one consistent state while objects are removed") {
  F f;
  constexpr int n = 400;
  std::vector<digest> blobs, manifests;
  for (int i = 0; i < n; ++i) {
    blobs.push_back(put_one(f.store(), "blob " + std::to_string(i)));
    manifests.push_back(commit(f.store(), "manifest " + std::to_string(i)));
  }
  std::atomic<bool> done{false};
  std::thread remover([&] {
    // Each removal takes one blob and one manifest in one transaction, so
    // every committed state has as many blobs as manifests.
    for (int i = 0; i < n; ++i) {
      removal what;
      what.blobs = {blobs[i]};
      what.manifests = {manifests[i]};
      if (!f.store().remove(what).ok())
        break;
    }
    done = true;
  });
  int mismatches = 0;
  int errors = 0;
  int samples = 0;
  while (!done || samples == 0) {
    auto st = f.store().stats();
    ++samples;
    if (!st.ok())
      ++errors;
    else if (st->blobs != st->manifests)
      ++mismatches;
  }
  remover.join();
  CHECK(errors == 0);
  CHECK(mismatches == 0);
  auto final_stats = stats_of(f.store());
  CHECK(final_stats.blobs == 0);
  CHECK(final_stats.manifests == 0);
}
