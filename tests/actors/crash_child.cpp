// The crash test's victim: runs the bank on a store and checkpoints in a
// loop until it is killed. Usage: crash_child STORE_DIR
// Restores the store's head when there is one, so every life continues the
// last; the bank is fixed (seed 7), so the parent knows its total.

#include <cstdio>

#include "amber/actors/checkpointer.hpp"
#include "amber/actors/restore.hpp"
#include "amber/checkpoint/snapshot.hpp"
#include "amber/storage/lmdb_store.hpp"
#include "bank/bank.hpp"
#include "crash_params.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: crash_child STORE_DIR\n");
    return 2;
  }
  auto types = std::make_shared<amber::registry>();
  bank::register_types(*types);
  amber::lmdb_options opts;
  opts.create_if_missing = true;
  auto db = amber::lmdb_store::open(argv[1], opts);
  if (!db) {
    std::fprintf(stderr, "crash_child: %s\n", db.error().to_string().c_str());
    return 1;
  }
  std::unique_ptr<amber::node> n;
  if ((*db)->get_ref(amber::head_ref("bank")).ok()) {
    auto restored = amber::restore_node(**db, "bank", types, {});
    if (!restored) {
      std::fprintf(stderr, "crash_child: %s\n", restored.error().to_string().c_str());
      return 1;
    }
    n = std::move(*restored);
  } else {
    amber::node_options nopts;
    nopts.name = "bank";
    n = std::make_unique<amber::node>(types, nopts);
    if (auto st = n->install(bank::make_graph(test::crash_bank())); !st) {
      std::fprintf(stderr, "crash_child: %s\n", st.to_string().c_str());
      return 1;
    }
  }
  amber::checkpointer cp(*n, *db);
  for (;;) {
    if (auto st = bank::run_drivers(*n, 500); !st)
      return 1;
    if (!n->wait_quiet(std::chrono::seconds(30)))
      return 1;
    auto id = cp.checkpoint();
    if (!id) {
      std::fprintf(stderr, "crash_child: %s\n", id.error().to_string().c_str());
      return 1;
    }
  }
}
