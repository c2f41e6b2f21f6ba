// The bank under load: checkpoints taken while transfers run at full speed,
// each one checked for conserved money from the store alone.

#include <random>
#include <thread>

#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <doctest/doctest.h>

#include "amber/actors/checkpointer.hpp"
#include "amber/actors/restore.hpp"
#include "amber/checkpoint/snapshot.hpp"
#include "amber/storage/memory_store.hpp"
#include "bank/bank.hpp"
#include "support/test_components.hpp"

using namespace amber;
using namespace std::chrono_literals;

namespace {

std::shared_ptr<registry> bank_registry() {
  auto reg = std::make_shared<registry>();
  REQUIRE(bank::register_types(*reg).is_ok());
  REQUIRE(reg->add<test::counter>().is_ok());
  REQUIRE(reg->add<test::fragile>().is_ok());
  return reg;
}

std::unique_ptr<node> make_bank(std::shared_ptr<registry> reg, bank::bank_params p) {
  node_options opts;
  opts.name = "bank";
  auto n = std::make_unique<node>(reg, opts);
  REQUIRE(n->install(bank::make_graph(p)).is_ok());
  return n;
}

// Halts the drivers, waits for the transfers to land, and sums the balances.
int64_t settle(node& n) {
  bank::halt_drivers(n);
  REQUIRE(n.wait_quiet(60s));
  auto total = bank::total_balance(n);
  REQUIRE(total.ok());
  return *total;
}

} // namespace

TEST_CASE("200 checkpoints under full-speed transfers each conserve the money") {
  auto reg = bank_registry();
  auto db = std::make_shared<memory_store>();
  bank::bank_params params; // 1,000 accounts, 4 clearing houses, 4 drivers
  params.seed = 42;
  auto n = make_bank(reg, params);
  auto initial = bank::total_balance(*n);
  REQUIRE(initial.ok());

  std::vector<digest> ids;
  {
    checkpointer cp(*n, db);
    bank::start_drivers(*n);
    std::this_thread::sleep_for(50ms);
    for (int i = 0; i < 200; ++i) {
      auto r = cp.checkpoint_with_report();
      REQUIRE_MESSAGE(r.ok(), "checkpoint " << i << ": " << r.error().to_string());
      ids.push_back(r->id);
    }
    CHECK(settle(*n) == *initial);
  }

  uint64_t with_flight = 0;
  for (auto& id : ids) {
    auto m = bank::money_in_snapshot(*db, id, n->system());
    REQUIRE_MESSAGE(m.ok(), m.error().to_string());
    CHECK(m->total() == *initial);
    if (m->messages_in_flight > 0)
      ++with_flight;
  }
  MESSAGE(with_flight << " of 200 cuts had messages in flight");
  // Transfers ran at every cut: nearly every one caught some in flight.
  CHECK(with_flight >= 180);

  SUBCASE("restores of 20 of them each run on under load and conserve the money") {
    std::mt19937 rng(7);
    n.reset();
    for (int k = 0; k < 20; ++k) {
      auto& id = ids[rng() % ids.size()];
      INFO("restoring " << id.short_hex());
      auto restored = restore_node(*db, id.to_hex(), reg, {});
      REQUIRE_MESSAGE(restored.ok(), restored.error().to_string());
      auto& m = **restored;
      CHECK(m.incarnation() == 1);
      // The drivers' ticks were in flight at the cut: they drive on by themselves.
      std::this_thread::sleep_for(30ms);
      {
        checkpointer cp(m, db);
        auto again = cp.checkpoint();
        REQUIRE(again.ok());
        auto money = bank::money_in_snapshot(*db, *again, m.system());
        REQUIRE(money.ok());
        CHECK(money->total() == *initial);
        CHECK(settle(m) == *initial);
      }
      CHECK(m.stats().received > 0);
    }
  }
}

TEST_CASE("a component that dies mid-cut is retired at once and the cut completes without it") {
  auto reg = bank_registry();
  auto db = std::make_shared<memory_store>();
  bank::bank_params params;
  params.accounts = 200;
  auto n = make_bank(reg, params);
  auto initial = bank::total_balance(*n);
  REQUIRE(initial.ok());
  auto victim = n->spawn("test.fragile", "victim");
  REQUIRE(victim.ok());
  checkpoint_options opts;
  opts.timeout = 30s; // The default: a stall would take this long.
  checkpointer cp(*n, db, opts);
  bank::start_drivers(*n);
  std::this_thread::sleep_for(20ms);

  // Armed, the victim crashes as it serializes its state for the cut: it
  // dies mid-cut, and its part never arrives. Its exit retires it from the
  // cut at once instead of stalling the checkpoint until the timeout.
  caf::anon_send(victim->handle, test::arm_atom::value);
  {
    // Armed before the cut opens (a request behind the arm proves it);
    // otherwise the victim could take its part at the start of the arm.
    caf::scoped_actor self{n->system()};
    self->request(victim->handle, 5s, test::get_atom::value)
      .receive([](int64_t) {}, [](caf::error&) { FAIL("the victim did not answer"); });
  }
  auto started = std::chrono::steady_clock::now();
  auto id = cp.checkpoint();
  auto took = std::chrono::steady_clock::now() - started;
  REQUIRE_MESSAGE(id.ok(), id.error().to_string());
  CHECK(took < 5s);
  auto snap = load_snapshot(*db, *id);
  REQUIRE(snap.ok());
  for (auto& c : snap->cache.components)
    CHECK(c.name != "victim");
  auto money = bank::money_in_snapshot(*db, *id, n->system());
  REQUIRE(money.ok());
  CHECK(money->total() == *initial);
  CHECK_FALSE(n->find("victim"));
  auto next = cp.checkpoint();
  REQUIRE_MESSAGE(next.ok(), next.error().to_string());
  CHECK(settle(*n) == *initial);
}

TEST_CASE("periodic checkpoints run on their own and a stop takes a final one") {
  auto reg = bank_registry();
  auto db = std::make_shared<memory_store>();
  bank::bank_params params;
  params.accounts = 100;
  auto n = make_bank(reg, params);
  std::atomic<int> taken{0};
  checkpoint_options opts;
  opts.interval = 20ms;
  opts.on_checkpoint = [&](const result<checkpoint_report>& r) {
    if (r)
      ++taken;
  };
  checkpointer cp(*n, db, opts);
  bank::start_drivers(*n);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (taken.load() < 5 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  CHECK(taken.load() >= 5);
  auto before = db->stats().value().manifests;
  auto last = cp.stop();
  REQUIRE(last.ok());
  CHECK(db->stats().value().manifests > before);
  CHECK(db->get_ref(head_ref("bank")).value() == *last);
  settle(*n);
}

TEST_CASE("a second checkpointer on the same running node continues its epochs") {
  auto reg = bank_registry();
  auto db = std::make_shared<memory_store>();
  bank::bank_params params;
  params.accounts = 100;
  auto n = make_bank(reg, params);
  bank::start_drivers(*n);
  for (int round = 0; round < 3; ++round) {
    checkpointer cp(*n, db);
    for (int i = 0; i < 3; ++i) {
      auto id = cp.checkpoint();
      REQUIRE_MESSAGE(id.ok(), "round " << round << ": " << id.error().to_string());
    }
  }
  CHECK(n->core().current_epoch() == 9);
  settle(*n);
}

TEST_CASE("a clean component reuses its blob without serializing again") {
  auto reg = bank_registry();
  auto db = std::make_shared<memory_store>();
  bank::bank_params params;
  params.accounts = 300;
  auto n = make_bank(reg, params);
  checkpointer cp(*n, db);
  auto first = cp.checkpoint_with_report();
  REQUIRE(first.ok());
  CHECK(first->reused == 0);
  auto second = cp.checkpoint_with_report();
  REQUIRE(second.ok());
  CHECK(second->reused == second->components);
  REQUIRE(bank::run_drivers(*n, 10).is_ok());
  REQUIRE(n->wait_quiet(10s));
  auto third = cp.checkpoint_with_report();
  REQUIRE(third.ok());
  // Four drivers, ten transfers each: at most 80 accounts, 4 clearing
  // houses and 4 drivers changed; everything else was reused.
  CHECK(third->reused >= third->components - 88);
  CHECK(third->reused < third->components);
}
