// Crash safety: a child process checkpoints the bank in a loop and is killed
// with SIGKILL at random moments. After every kill the store must open, its
// head must resolve to a snapshot whose manifest and blobs verify, and that
// snapshot must restore with the bank's money intact.

#include <random>
#include <thread>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include "amber/actors/restore.hpp"
#include "amber/checkpoint/snapshot.hpp"
#include "amber/storage/lmdb_store.hpp"
#include "crash_params.hpp"
#include "support/temp_dir.hpp"

using namespace amber;

namespace {

pid_t start_child(const std::string& store_dir) {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::execl(AMBER_CRASH_CHILD, AMBER_CRASH_CHILD, store_dir.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

} // namespace

TEST_CASE("a store survives twenty SIGKILLs of a process that checkpoints in a loop") {
  constexpr int kills = 20;
  test::temp_dir dir{"amber-crash"};
  auto types = std::make_shared<registry>();
  REQUIRE(bank::register_types(*types).is_ok());
  const int64_t expected_total = test::crash_bank_total();
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> delay_ms(50, 600);
  int lives_with_head = 0;
  uint64_t last_incarnation = 0;
  for (int life = 0; life < kills; ++life) {
    pid_t pid = start_child(dir.str());
    REQUIRE(pid > 0);
    // The first life gets time to commit a first snapshot.
    std::this_thread::sleep_for(std::chrono::milliseconds(life == 0 ? 1500 : delay_ms(rng)));
    ::kill(pid, SIGKILL);
    int wstatus = 0;
    REQUIRE(::waitpid(pid, &wstatus, 0) == pid);
    INFO("life " << life);
    // A child that exited on its own failed: it only ever stops by SIGKILL.
    REQUIRE_MESSAGE(WIFSIGNALED(wstatus), "the child exited with " << WEXITSTATUS(wstatus));

    auto db = lmdb_store::open(dir.str());
    REQUIRE_MESSAGE(db.ok(), db.error().to_string());
    auto head = (*db)->get_ref(head_ref("bank"));
    if (!head.ok()) {
      REQUIRE(head.error().is_not_found());
      REQUIRE(lives_with_head == 0); // Once there is a head, it never goes away.
      continue;
    }
    ++lives_with_head;
    auto snap = load_snapshot(**db, *head);
    REQUIRE_MESSAGE(snap.ok(), snap.error().to_string());
    for (auto& ref : snap->references())
      REQUIRE((*db)->get_blob(ref, nullptr).is_ok());
    CHECK(snap->meta.node.incarnation >= last_incarnation);
    last_incarnation = snap->meta.node.incarnation;
    auto restored = restore_node(**db, "bank", types, {});
    REQUIRE_MESSAGE(restored.ok(), restored.error().to_string());
    auto total = bank::total_balance(**restored);
    REQUIRE(total.ok());
    CHECK(*total == expected_total);
  }
  MESSAGE("lives with a head: " << lives_with_head << ", last incarnation: " << last_incarnation);
  CHECK(lives_with_head >= kills - 1);
  CHECK(last_incarnation >= 5); // Many lives restored and checkpointed again.
}
