// lmdb_store in a hostile environment: a store the user may only read, a
// write lock held by another process, two holders of one lease, a full disk.
// Tests that need root (another user, a small tmpfs) skip, saying so, when
// not run as root; CI runs them as root.

#include "amber/storage/lmdb_store.hpp"

#include <doctest/doctest.h>

#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "lmdb_test_options.hpp"
#include "support/temp_dir.hpp"

using amber::errc;
using amber::file_lock;
using amber::lmdb_options;
using amber::lmdb_store;
using amber::sha256;

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

using test::create_opts;
using test::temp_dir;

lmdb_options read_only_opts() {
  lmdb_options o;
  o.read_only = true;
  return o;
}

// Runs `body` in a forked child and returns its exit code (128+N for a signal).
template <class F>
int in_child(F&& body) {
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0)
    std::_Exit(body());
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

// A child process that holds something the test needs: it runs `take`
// (keeping what it returns alive), reports whether that worked, and waits
// to be killed. SIGKILL it to see the kernel release what it held.
class holder_process {
public:
  template <class F>
  explicit holder_process(F&& take) {
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      auto held = take();
      char c = held ? 'y' : 'n';
      if (::write(ready[1], &c, 1) != 1)
        std::_Exit(2);
      ::pause();
      std::_Exit(0);
    }
    char c = 0;
    REQUIRE(::read(ready[0], &c, 1) == 1);
    ::close(ready[0]);
    ::close(ready[1]);
    held_ = c == 'y';
  }
  ~holder_process() { kill(); }
  holder_process(const holder_process&) = delete;
  holder_process& operator=(const holder_process&) = delete;

  bool held() const { return held_; }
  pid_t pid() const { return pid_; }
  void kill() {
    if (pid_ <= 0)
      return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

private:
  pid_t pid_ = -1;
  bool held_ = false;
};

void chmod_tree(const fs::path& dir, fs::perms file_perms, fs::perms dir_perms) {
  for (auto& e : fs::directory_iterator(dir))
    fs::permissions(e.path(), file_perms);
  fs::permissions(dir, dir_perms);
}

} // namespace

TEST_CASE("a read-only open reads the store and refuses every write") {
  temp_dir dir;
  {
    auto s = lmdb_store::open(dir.str(), create_opts());
    REQUIRE(s.ok());
    REQUIRE((*s)->put_blobs({"kept"}).ok());
  }
  auto s = lmdb_store::open(dir.str(), read_only_opts());
  REQUIRE_MESSAGE(s.ok(), s.error().to_string());
  CHECK((*s)->read_only());
  std::string back;
  CHECK((*s)->get_blob(sha256("kept"), &back).ok());
  CHECK(back == "kept");
  auto w = (*s)->put_blobs({"new"});
  REQUIRE_FALSE(w.ok());
  CHECK(w.error().code() == errc::invalid_argument);
  CHECK(w.error().message().find("read-only") != std::string::npos);
  // read_only never creates.
  temp_dir none;
  lmdb_options o = read_only_opts();
  o.create_if_missing = true;
  auto created = lmdb_store::open(none.str(), o);
  REQUIRE_FALSE(created.ok());
  CHECK(created.error().code() == errc::not_a_store);
}

TEST_CASE("a user who may only read a store (no lock file, read-only files) reads it") {
  if (::geteuid() != 0) {
    MESSAGE("skipped: needs root to switch to an unprivileged user");
    return;
  }
  temp_dir dir;
  {
    auto s = lmdb_store::open(dir.str(), create_opts());
    REQUIRE(s.ok());
    REQUIRE((*s)->put_blobs({"kept"}).ok());
  }
  fs::remove(dir.path() / "lock.mdb"); // it may not be created either
  chmod_tree(dir.path(), fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read,
             fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read
               | fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec);
  int rc = in_child([&] {
    // nobody: 65534 on Debian.
    if (::setgid(65534) != 0 || ::setuid(65534) != 0)
      return 90;
    auto writer = lmdb_store::open(dir.str(), lmdb_options{});
    if (writer.ok())
      return 91; // it could not write anything: a writable open must fail
    auto s = lmdb_store::open(dir.str(), read_only_opts());
    if (!s.ok())
      return 92;
    std::string back;
    if (!(*s)->get_blob(sha256("kept"), &back).ok() || back != "kept")
      return 93;
    return 0;
  });
  fs::permissions(dir.path(), fs::perms::owner_all);
  CHECK(rc == 0);
  CHECK_FALSE(fs::exists(dir.path() / "lock.mdb"));
}

TEST_CASE("a write waits for another process's write lock, names it, and gives up in time") {
  temp_dir dir;
  auto s = lmdb_store::open(dir.str(), create_opts());
  REQUIRE(s.ok());
  s->reset();
  // A child holds the lock as a writer stopped inside its commit would.
  holder_process holder([&] {
    auto lock = file_lock::open(dir.str() + "/write.lock");
    if (lock && !(*lock)->lock(0ms).ok())
      lock = amber::status(errc::busy, "taken");
    return lock;
  });
  REQUIRE(holder.held());
  lmdb_options o = create_opts();
  o.lock_timeout = 300ms;
  std::vector<std::string> heard;
  o.on_lock_wait = [&](const std::string& who) { heard.push_back(who); };
  s = lmdb_store::open(dir.str(), o);
  REQUIRE(s.ok());
  auto start = std::chrono::steady_clock::now();
  auto w = (*s)->put_blobs({"blocked"});
  auto waited = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(w.ok());
  CHECK(w.error().code() == errc::busy);
  CHECK(w.error().message().find("pid " + std::to_string(holder.pid())) != std::string::npos);
  CHECK(waited >= 300ms);
  CHECK(waited < 5s);
  REQUIRE(heard.size() == 1);
  CHECK(heard[0].find("pid " + std::to_string(holder.pid())) != std::string::npos);
  // The holder dies: the kernel releases its lock and the write goes through.
  holder.kill();
  CHECK((*s)->put_blobs({"free again"}).ok());
}

TEST_CASE("a lease has one holder at a time and is released when its holder dies") {
  temp_dir dir;
  auto s = lmdb_store::open(dir.str(), create_opts());
  REQUIRE(s.ok());
  auto first = (*s)->lease("nodes/bank");
  REQUIRE_MESSAGE(first.ok(), first.error().to_string());
  auto second = (*s)->lease("nodes/bank");
  REQUIRE_FALSE(second.ok());
  CHECK(second.error().code() == errc::busy);
  CHECK(second.error().message().find("pid " + std::to_string(::getpid())) != std::string::npos);
  CHECK((*s)->lease("nodes/other").ok()); // another name is another lease
  first->reset();
  CHECK((*s)->lease("nodes/bank").ok());

  // Another process holds it; SIGKILL frees it.
  s->reset();
  holder_process holder([&] {
    auto child_store = lmdb_store::open(dir.str(), create_opts());
    if (!child_store)
      return amber::result<std::unique_ptr<file_lock>>(child_store.error());
    return (*child_store)->lease("nodes/bank");
  });
  REQUIRE(holder.held());
  s = lmdb_store::open(dir.str(), create_opts());
  REQUIRE(s.ok());
  auto taken = (*s)->lease("nodes/bank");
  REQUIRE_FALSE(taken.ok());
  CHECK(taken.error().message().find("pid " + std::to_string(holder.pid())) != std::string::npos);
  holder.kill();
  CHECK((*s)->lease("nodes/bank").ok());
}

TEST_CASE("a full disk is no_space, 'no space left on device', and the store stays readable") {
  if (::geteuid() != 0) {
    MESSAGE("skipped: needs root to mount a small tmpfs");
    return;
  }
  temp_dir dir;
  fs::create_directories(dir.path());
  if (::mount("tmpfs", dir.str().c_str(), "tmpfs", 0, "size=1m") != 0) {
    MESSAGE("skipped: cannot mount a tmpfs here: " << std::strerror(errno));
    return;
  }
  struct unmount {
    std::string at;
    ~unmount() { ::umount2(at.c_str(), MNT_DETACH); }
  } on_exit{dir.str()};
  std::string store_dir = dir.str() + "/store";
  auto s = lmdb_store::open(store_dir, create_opts());
  REQUIRE(s.ok());
  std::vector<std::string> written;
  amber::status full;
  for (int i = 0; i < 40 && full.is_ok(); ++i) {
    std::string blob(100 * 1024, static_cast<char>('a' + i % 26));
    blob += std::to_string(i);
    auto r = (*s)->put_blobs({blob});
    if (r.ok())
      written.push_back(blob);
    else
      full = r.error();
  }
  REQUIRE_FALSE(full.is_ok());
  CHECK(full.code() == errc::no_space);
  CHECK(full.message().find("no space left on device") != std::string::npos);
  REQUIRE_FALSE(written.empty());
  // What committed before stays readable, in this process and after a reopen.
  for (auto& b : written)
    CHECK((*s)->has_blob(sha256(b)).ok());
  s->reset();
  auto again = lmdb_store::open(store_dir, read_only_opts());
  REQUIRE_MESSAGE(again.ok(), again.error().to_string());
  std::string back;
  CHECK((*again)->get_blob(sha256(written.back()), &back).ok());
}

TEST_CASE("opening a store while another process commits never reports damage") {
  // The meta pages and last-commit change under the opener: its checks must
  // not take a commit in flight for a damaged or rolled-back store.
  temp_dir dir;
  {
    auto s = lmdb_store::open(dir.str(), create_opts());
    REQUIRE(s.ok());
    REQUIRE((*s)->put_blobs({"first"}).ok());
  }
  pid_t writer = ::fork();
  REQUIRE(writer >= 0);
  if (writer == 0) {
    lmdb_options o = create_opts();
    o.no_sync = false; // last-commit written with fdatasync, as in production
    auto s = lmdb_store::open(dir.str(), o);
    if (!s)
      std::_Exit(1);
    for (int i = 0; i < 400; ++i)
      if (!(*s)->put_blobs({"blob " + std::to_string(i)}).ok())
        std::_Exit(2);
    std::_Exit(0);
  }
  int opens = 0;
  std::string failure;
  for (;;) {
    int st = 0;
    bool done = ::waitpid(writer, &st, WNOHANG) == writer;
    auto s = lmdb_store::open(dir.str(), read_only_opts());
    ++opens;
    if (!s) {
      failure = s.error().to_string();
      break;
    }
    if (auto refs = (*s)->list_blobs(); !refs) {
      failure = refs.error().to_string();
      break;
    }
    if (done) {
      CHECK(WIFEXITED(st));
      CHECK(WEXITSTATUS(st) == 0);
      writer = -1;
      break;
    }
  }
  if (writer > 0) {
    ::kill(writer, SIGKILL);
    ::waitpid(writer, nullptr, 0);
  }
  CHECK_MESSAGE(failure.empty(), failure);
  CHECK(opens > 1);
}
