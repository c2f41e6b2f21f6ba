// The `amber` commands on damaged and hostile stores (issue 10, section 2),
// run as a user would: copies of a real store truncated, with zeroed pages,
// with flipped bits, rolled back by a flipped meta page; a store the user
// may only read; a disk that fills up; a write lock held by another process;
// a second process of a node that already runs.
//
// The rule for damage: `verify`, `log`, `show` and `restore` either answer
// exactly as on the intact store, or exit 1 naming what is wrong. They never
// die from a signal and never answer from an older commit.

#include <doctest/doctest.h>

#include <lmdb.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cstring>
#include <random>

#include "amber/storage/file_lock.hpp"
#include "fixtures.hpp"

using namespace amber::apps_test;

namespace {

constexpr size_t page = 4096;

// A copy of `from` (data.mdb and the commit record) with data.mdb replaced by `data`.
std::string damaged_copy(const scratch& dir, const std::string& name, const std::string& data) {
  std::string to = dir / name;
  fs::create_directories(to);
  write_text(to + "/data.mdb", data);
  fs::path record = fs::path(history_store()) / "last-commit";
  if (fs::exists(record))
    fs::copy_file(record, fs::path(to) / "last-commit");
  return to;
}

struct answers {
  outcome verify, log, show;
};

answers ask(const std::string& store) {
  return {run_amber({"verify", "--store", store}, 30s), run_amber({"log", "--store", store}, 30s),
          run_amber({"show", "bank", "--store", store}, 30s)};
}

const answers& intact_answers() {
  static answers a = ask(history_store());
  return a;
}

// Same answer as the intact store, or exit 1 naming the damage.
void check_sound(const outcome& got, const outcome& intact, const std::string& what) {
  CAPTURE(what);
  INFO("stderr: " << got.err);
  REQUIRE(got.code >= 0);   // not killed by the deadline
  REQUIRE(got.code < 128);  // not killed by a signal
  if (got.code == 0) {
    CHECK(got.out == intact.out);
    return;
  }
  CHECK(got.code == 1);
  // verify lists its findings on stdout; log warns per unreadable snapshot;
  // the others print an error. Each names the damage by its status code.
  CHECK((contains(got.err, "corruption") || contains(got.err, "not_a_store")
         || contains(got.err, "format_mismatch")
         || (what == "verify" && contains(got.out, "problem"))));
}

void check_all(const std::string& store) {
  auto a = ask(store);
  check_sound(a.verify, intact_answers().verify, "verify");
  check_sound(a.log, intact_answers().log, "log");
  check_sound(a.show, intact_answers().show, "show");
}

// `restore` either starts (from a snapshot whose digests all held) or exits 1
// naming the damage; it never dies from a signal.
void check_restore(const std::string& store) {
  child node({"restore", "bank", "--store", store, "--threads", "2", "--json"});
  auto started = node.wait_for_line([](auto& l) { return contains(l, "\"started\""); }, 30s);
  if (started) {
    node.signal(SIGKILL);
    node.wait();
    return;
  }
  int code = node.wait(30s);
  INFO("stderr: " << node.err);
  CHECK(code == 1);
  CHECK(contains(node.err, "amber: error:"));
}

uint64_t meta_txn(const std::string& data, size_t meta_page) {
  uint64_t t;
  std::memcpy(&t, data.data() + meta_page * page + 144, 8);
  return t;
}

} // namespace

TEST_CASE("a truncated data.mdb makes every command exit 1 naming it, never SIGBUS") {
  const std::string data = read_text(history_store() + "/data.mdb");
  size_t pages = data.size() / page;
  scratch dir;
  int n = 0;
  for (size_t keep : {size_t{1}, pages / 10, pages / 3, pages / 2, pages - 8, pages - 2, pages - 1}) {
    CAPTURE(keep);
    auto store = damaged_copy(dir, "t" + std::to_string(n++), data.substr(0, keep * page));
    auto a = ask(store);
    for (auto* o : {&a.verify, &a.log, &a.show}) {
      INFO("stderr: " << o->err);
      CHECK(o->code == 1);
      CHECK(contains(o->err, "corruption"));
      CHECK((contains(o->err, "truncated") || contains(o->err, "damaged")));
    }
  }
  check_restore(damaged_copy(dir, "restore", data.substr(0, (pages / 2) * page)));
}

TEST_CASE("zeroed pages are reported or harmless, never an LMDB assertion abort") {
  const std::string data = read_text(history_store() + "/data.mdb");
  size_t pages = data.size() / page;
  scratch dir;
  for (int i = 1; i <= 12; ++i) {
    size_t p = 2 + (pages - 2) * i / 13;
    CAPTURE(p);
    std::string copy = data;
    std::memset(copy.data() + p * page, 0, page);
    check_all(damaged_copy(dir, "z" + std::to_string(i), copy));
    if (i % 4 == 0)
      check_restore(dir / ("z" + std::to_string(i)));
  }
}

TEST_CASE("random bit flips are reported or harmless, never a crash") {
  const std::string data = read_text(history_store() + "/data.mdb");
  scratch dir;
  std::mt19937 gen(99);
  for (int i = 0; i < 20; ++i) {
    std::string copy = data;
    for (int f = 0; f < 4; ++f) {
      size_t at = 2 * page + gen() % (copy.size() - 2 * page);
      copy[at] = static_cast<char>(copy[at] ^ (1 << (gen() % 8)));
    }
    check_all(damaged_copy(dir, "f" + std::to_string(i), copy));
    if (i % 5 == 0)
      check_restore(dir / ("f" + std::to_string(i)));
  }
}

TEST_CASE("a flipped meta page that would roll the store back one commit is named") {
  const std::string data = read_text(history_store() + "/data.mdb");
  size_t newer = meta_txn(data, 1) > meta_txn(data, 0) ? 1 : 0;
  uint64_t lowered = meta_txn(data, newer) - 2; // one bit when bit 1 is set: LMDB opens T - 1
  std::string copy = data;
  std::memcpy(copy.data() + newer * page + 144, &lowered, 8);
  scratch dir;
  auto store = damaged_copy(dir, "rolled", copy);
  auto a = ask(store);
  for (auto* o : {&a.verify, &a.log, &a.show}) {
    INFO("stderr: " << o->err);
    CHECK(o->code == 1);
    CHECK(contains(o->err, "rolled back"));
  }
  child node({"restore", "bank", "--store", store, "--json"});
  CHECK(node.wait(30s) == 1);
  CHECK(contains(node.err, "rolled back"));
  // Every single-bit flip of the newer or the older transaction id.
  for (size_t meta : {size_t{0}, size_t{1}}) {
    for (int bit : {0, 1, 2, 5, 20, 63}) {
      CAPTURE(meta);
      CAPTURE(bit);
      std::string flipped = data;
      flipped[meta * page + 144 + bit / 8] ^= static_cast<char>(1 << (bit % 8));
      auto v = run_amber({"log", "--store", damaged_copy(dir, "m", flipped)}, 30s);
      fs::remove_all(dir / "m");
      CHECK(v.code == 1);
      CHECK(contains(v.err, "corruption"));
    }
  }
}

TEST_CASE("log, show, verify and export work on a store the user can only read") {
  if (!can_run_as_nobody())
    return;
  scratch dir;
  auto [store, bin] = make_read_only_copy(dir);
  std::string out_file = dir / "bank.amber";
  for (std::vector<std::string> args :
       {std::vector<std::string>{"log"}, {"show", "bank"}, {"verify"},
        {"export", "bank", out_file}}) {
    std::string cmd = "/usr/bin/setpriv --reuid=nobody --regid=nogroup --clear-groups " + bin;
    for (auto& a : args)
      cmd += " '" + a + "'";
    cmd += " --store '" + store + "' >/dev/null 2>" + dir / "err.txt";
    int rc = std::system(cmd.c_str());
    CAPTURE(cmd);
    INFO("stderr: " << read_text(dir / "err.txt"));
    CHECK(WIFEXITED(rc));
    CHECK(WEXITSTATUS(rc) == 0);
  }
  CHECK(fs::exists(out_file));
  CHECK_FALSE(fs::exists(fs::path(store) / "lock.mdb"));
  fs::permissions(store, fs::perms::owner_all);
}

TEST_CASE("a full disk is reported as 'no space left on device'") {
  if (::geteuid() != 0) {
    MESSAGE("skipped: needs root to mount a small tmpfs");
    return;
  }
  scratch dir;
  std::string file = dir / "bank.amber";
  auto e = run_amber({"export", "bank", file, "--store", history_store()});
  REQUIRE_MESSAGE(e.code == 0, e.err);
  std::string small = dir / "small";
  fs::create_directories(small);
  if (::mount("tmpfs", small.c_str(), "tmpfs", 0, "size=256k") != 0) {
    MESSAGE("skipped: cannot mount a tmpfs: " << std::strerror(errno));
    return;
  }
  auto i = run_amber({"import", file, "--store", small + "/s"});
  ::umount2(small.c_str(), MNT_DETACH);
  INFO("stderr: " << i.err);
  CHECK(i.code == 1);
  CHECK(contains(i.err, "no_space"));
  CHECK(contains(i.err, "no space left on device"));
  CHECK_FALSE(contains(i.err, "Input/output error:"));
}

TEST_CASE("gc says whose write it waits for and gives up after --lock-timeout") {
  scratch dir;
  std::string store = dir / "s";
  copy_store(history_store(), store);
  // Stand in for a node stopped inside its commit: hold both LMDB's writer
  // mutex (an open write transaction) and amber's write lock.
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == MDB_SUCCESS);
  mdb_env_set_maxdbs(env, 8);
  mdb_env_set_mapsize(env, size_t{1} << 30);
  REQUIRE(mdb_env_open(env, store.c_str(), 0, 0644) == MDB_SUCCESS);
  MDB_txn* txn = nullptr;
  REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == MDB_SUCCESS);
  auto lock = amber::file_lock::open(store + "/write.lock");
  REQUIRE(lock);
  REQUIRE((*lock)->lock(0ms).ok());

  auto start = std::chrono::steady_clock::now();
  auto r = run_amber({"gc", "--keep", "1", "--lock-timeout", "1s", "--store", store}, 20s);
  auto took = std::chrono::steady_clock::now() - start;
  mdb_txn_abort(txn);
  mdb_env_close(env);
  INFO("stderr: " << r.err);
  CHECK(r.code == 1);
  CHECK(took < 15s);
  CHECK(contains(r.err, "waiting up to 1000 ms for the write lock"));
  CHECK(contains(r.err, "pid " + std::to_string(::getpid())));
  CHECK(contains(r.err, "busy"));
  // Nothing was removed; with the lock free, gc goes through.
  lock->reset();
  CHECK(log_ids(store).size() == log_ids(history_store()).size());
  auto again = run_amber({"gc", "--keep", "1", "--lock-timeout", "1s", "--store", store}, 60s);
  CHECK_MESSAGE(again.code == 0, again.err);
  CHECK(log_ids(store).size() == 1);
}

TEST_CASE("a second run or restore of a running node on the same store is refused at start") {
  scratch dir;
  std::string store = dir / "s";
  copy_store(history_store(), store);
  child first({"restore", "bank", "--store", store, "--threads", "2", "--json"});
  REQUIRE(first.wait_for_line([](auto& l) { return contains(l, "\"started\""); }, 30s));
  for (std::vector<std::string> args :
       {std::vector<std::string>{"restore", "bank"}, {"run", example("bank.toml")}}) {
    args.insert(args.end(), {"--store", store, "--threads", "2"});
    auto second = run_amber(args, 20s);
    INFO("stderr: " << second.err);
    CHECK(second.code == 1);
    CHECK(contains(second.err, "node 'bank' already runs on the store"));
    CHECK(contains(second.err, "pid " + std::to_string(first.pid())));
  }
  // The first node is untouched and stops with its final checkpoint.
  first.signal(SIGINT);
  CHECK(first.wait(30s) == 0);
  CHECK(contains(first.out, "\"reason\":\"final\""));
  // Its death released the lease: a restore starts now.
  child third({"restore", "bank", "--store", store, "--threads", "2", "--json"});
  CHECK(third.wait_for_line([](auto& l) { return contains(l, "\"started\""); }, 30s));
  third.signal(SIGKILL);
  third.wait();
}
