#include "demo.hpp"

#include <chrono>
#include <cstdio>
#include <random>
#include <thread>

#include <fmt/core.h>

#include "amber/actors/checkpointer.hpp"
#include "amber/actors/restore.hpp"
#include "amber/checkpoint/snapshot.hpp"
#include "amber/storage/lmdb_store.hpp"
#include "bank/bank.hpp"

namespace amber::app {

namespace {

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto load_time = 300ms; // Transfers run this long before each checkpoint.
constexpr auto quiet_timeout = std::chrono::seconds(60);

double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

// Everything the demo prints as a failure ends here.
int fail(const std::string& what, const status& st) {
  fmt::print(stderr, "demo failed: {}: {}\n", what, st.to_string());
  return 1;
}

struct demo_run {
  std::shared_ptr<lmdb_store> db;
  std::shared_ptr<registry> types = std::make_shared<registry>();
  node_config config;
};

// Lets transfers run, then checkpoints without stopping them, and checks the
// snapshot from the store alone: balances + money in flight = the total.
result<digest> checkpoint_under_load(node& n, demo_run& run, int64_t expected_total) {
  std::this_thread::sleep_for(load_time);
  auto delivered = n.stats().received;
  checkpointer cp(n, run.db);
  auto rep = cp.checkpoint_with_report();
  if (!rep)
    return rep.error();
  auto stats = n.stats();
  fmt::print("checkpoint {} of node '{}' (incarnation {}) under load: {} components "
             "({} clean ones reused their blob), {} messages in flight, {:.1f} ms; longest component "
             "pause {:.1f} us ({:.1f} us of it serializing)\n",
             rep->id.short_hex(), n.name(), n.incarnation(), rep->components, rep->reused,
             rep->in_flight, rep->duration.count() / 1000.0, stats.max_pause.count() / 1000.0,
             stats.max_pause_serialize.count() / 1000.0);
  auto money = bank::money_in_snapshot(*run.db, rep->id, n.system());
  if (!money)
    return money.error();
  fmt::print("  from the store: balances {} + in flight {} = {} ({} messages delivered "
             "while it ran)\n",
             money->balances, money->in_flight, money->total(),
             n.stats().received - delivered);
  if (money->total() != expected_total)
    return status(errc::internal, fmt::format("snapshot {} does not conserve money: {} != {}",
                                              rep->id.short_hex(), money->total(),
                                              expected_total));
  return rep->id;
}


result<std::unique_ptr<node>> restore(demo_run& run, const std::string& spec) {
  auto start = clock_type::now();
  auto n = restore_node(*run.db, spec, run.types, [&] {
    restore_options o;
    o.config = run.config;
    return o;
  }());
  if (!n)
    return n.error();
  fmt::print("restored {} in {:.1f} ms: incarnation {}, {} components, {} messages "
             "re-delivered; transfers resume\n",
             (*n)->last_snapshot()->short_hex(), ms_since(start), (*n)->incarnation(),
             (*n)->components().size(), (*n)->stats().redelivered);
  return n;
}

} // namespace

int run_demo(const std::string& store_dir) {
  demo_run run;
  if (auto st = bank::register_types(*run.types); !st)
    return fail("registering the bank", st);
  lmdb_options opts;
  opts.create_if_missing = true;
  auto db = lmdb_store::open(store_dir, opts);
  if (!db)
    return fail("opening the store", db.error());
  run.db = *db;
  fmt::print("amber demo: store {}\n", store_dir);

  // First life: the store's head if it has one, else a fresh bank.
  std::unique_ptr<node> n;
  int64_t expected_total = 0;
  auto head = run.db->get_ref(head_ref("bank"));
  if (head) {
    auto restored = restore(run, head_ref("bank"));
    if (!restored)
      return fail("restoring the head", restored.error());
    n = std::move(*restored);
    auto money = bank::money_in_snapshot(*run.db, *head, n->system());
    if (!money)
      return fail("reading the head's money", money.error());
    expected_total = money->total();
  } else if (head.error().is_not_found()) {
    node_options nopts;
    nopts.name = "bank";
    nopts.config = run.config;
    n = std::make_unique<node>(run.types, nopts);
    bank::bank_params params;
    params.seed = std::random_device{}();
    if (auto st = n->install(bank::make_graph(params)); !st)
      return fail("installing the bank", st);
    auto total = bank::total_balance(*n);
    if (!total)
      return fail("summing balances", total.error());
    expected_total = *total;
    fmt::print("fresh node 'bank': {} accounts, {} clearing houses, {} drivers\n",
               params.accounts, params.clearing_houses, params.drivers);
  } else {
    return fail("reading the head", head.error());
  }
  fmt::print("total money: {}\n", expected_total);
  bank::start_drivers(*n);

  auto first = checkpoint_under_load(*n, run, expected_total);
  if (!first)
    return fail("first checkpoint", first.error());
  auto issued = n->stats().sent;
  n.reset(); // Stopped mid-stream: whatever was in flight lives on in the snapshot.
  fmt::print("stopped node 'bank' with transfers running ({} messages sent in this life)\n",
             issued);

  // Second life: a fresh node from the snapshot just taken.
  auto restored = restore(run, first->to_hex());
  if (!restored)
    return fail("restoring", restored.error());
  n = std::move(*restored);
  auto second = checkpoint_under_load(*n, run, expected_total);
  if (!second)
    return fail("second checkpoint", second.error());

  bank::halt_drivers(*n);
  if (!n->wait_quiet(quiet_timeout))
    return fail("settling", status(errc::timeout, "transfers did not settle"));
  auto total = bank::total_balance(*n);
  if (!total)
    return fail("summing balances", total.error());
  fmt::print("halted the drivers; the accounts hold {}\n", *total);
  if (*total != expected_total)
    return fail("checking the total", status(errc::internal, "money was not conserved"));
  bank::start_drivers(*n); // The head keeps them running for the next demo.
  fmt::print("demo ok: incarnation={} snapshot={} total={}\n", n->incarnation(),
             second->to_hex(), expected_total);
  return 0;
}

} // namespace amber::app
