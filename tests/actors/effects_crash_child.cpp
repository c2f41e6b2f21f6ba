// The effects crash test's victim: a teller issues transfers, a recorder
// turns each into one line in a file sink and one row in a two-phase
// PostgreSQL sink, and the node checkpoints in a loop until it is killed.
// Usage: effects_crash_child STORE_DIR FILE CONNINFO TOTAL [finish]
// Restores the store's head when there is one, so every life continues the
// last. With "finish" it stops once all TOTAL transfers are checkpointed
// and performed (exit 0); without, it only ever stops by a signal.

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include <caf/scoped_actor.hpp>

#include "amber/actors/checkpointer.hpp"
#include "amber/actors/restore.hpp"
#include "amber/checkpoint/snapshot.hpp"
#include "amber/runtime/file_sink.hpp"
#include "amber/runtime/pg_txn_sink.hpp"
#include "amber/storage/lmdb_store.hpp"
#include "support/effect_components.hpp"

namespace {

int fail(const std::string& what) {
  std::fprintf(stderr, "effects_crash_child: %s\n", what.c_str());
  return 1;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 5 && argc != 6)
    return fail("usage: effects_crash_child STORE_DIR FILE CONNINFO TOTAL [finish]");
  const std::string total = argv[4];
  const bool finish = argc == 6;
  amber::lmdb_options opts;
  opts.create_if_missing = true;
  auto db = amber::lmdb_store::open(argv[1], opts);
  if (!db)
    return fail(db.error().to_string());
  auto file = amber::file_sink::open("file", argv[2]);
  if (!file)
    return fail(file.error().to_string());
  auto pg = amber::pg_txn_sink::open("pg", argv[3], "transfers");
  if (!pg)
    return fail(pg.error().to_string());
  std::unique_ptr<amber::node> n;
  if ((*db)->get_ref(amber::head_ref("fxbank")).ok()) {
    amber::restore_options ropts;
    ropts.sinks = {*file, *pg};
    auto restored = amber::restore_node(**db, "fxbank", fx::make_types(), ropts);
    if (!restored)
      return fail(restored.error().to_string());
    n = std::move(*restored);
  } else {
    amber::node_options nopts;
    nopts.name = "fxbank";
    n = std::make_unique<amber::node>(fx::make_types(), nopts);
    for (auto sink : {std::shared_ptr<amber::effect_sink>(*file), std::shared_ptr<amber::effect_sink>(*pg)})
      if (auto st = n->add_sink(sink); !st)
        return fail(st.to_string());
    amber::graph_def g;
    g.name = "fxbank";
    g.instances.push_back({"teller", "fx.teller", {{"total", total}}});
    g.instances.push_back({"recorder", "fx.recorder", {}});
    if (auto st = n->install(g); !st)
      return fail(st.to_string());
  }
  amber::checkpointer cp(*n, *db);
  caf::scoped_actor self{n->system()};
  auto teller = n->find("teller")->handle;
  for (;;) {
    self->send(teller, fx::run_atom::value, int64_t{20});
    int64_t issued = -1;
    self->request(teller, std::chrono::seconds(30), fx::count_atom::value)
      .receive([&](int64_t k) { issued = k; }, [](caf::error&) {});
    if (issued < 0)
      return fail("the teller did not answer");
    if (!n->wait_quiet(std::chrono::seconds(30)))
      return fail("the node did not become quiet");
    auto id = cp.checkpoint();
    if (!id)
      return fail(id.error().to_string());
    if (finish && issued == std::stoll(total)) {
      if (auto st = n->deliver_effects(); !st)
        return fail(st.to_string());
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}
