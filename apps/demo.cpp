#include "demo.hpp"

#include <chrono>
#include <cstdio>
#include <random>

#include <fmt/core.h>

#include "amber/actors/checkpointer.hpp"
#include "amber/actors/restore.hpp"
#include "amber/checkpoint/snapshot.hpp"
#include "amber/storage/lmdb_store.hpp"
#include "bank/bank.hpp"

namespace amber::app {

namespace {

using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

constexpr uint32_t transfers_per_driver = 5000;
constexpr auto quiet_timeout = std::chrono::seconds(60);

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

// Lets the drivers issue transfers, waits for every one to land, checks the
// total, and checkpoints.
result<digest> transfer_and_checkpoint(node& n, demo_run& run, int64_t expected_total) {
  auto start = clock_type::now();
  AMBER_RETURN_IF_ERROR(bank::run_drivers(n, transfers_per_driver));
  if (!n.wait_quiet(quiet_timeout))
    return status(errc::timeout, "transfers did not settle");
  auto total = bank::total_balance(n);
  if (!total)
    return total.error();
  fmt::print("ran {} transfers in {:.1f} ms; total {}\n",
             transfers_per_driver * 4, ms_since(start), *total);
  if (*total != expected_total)
    return status(errc::internal, fmt::format("money was not conserved: total {} != {}", *total,
                                              expected_total));
  auto before = run.db->stats();
  checkpointer cp(n, run.db);
  start = clock_type::now();
  auto id = cp.checkpoint();
  if (!id)
    return id.error();
  auto elapsed = ms_since(start);
  auto after = run.db->stats();
  fmt::print("checkpoint {} of node '{}' (incarnation {}): {} components, {} new blobs, "
             "{:.1f} ms\n",
             id->short_hex(), n.name(), n.incarnation(), n.components().size(),
             before && after ? after->blobs - before->blobs : 0, elapsed);
  return id;
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

  // First life: restore the store's head if it has one, else a fresh bank.
  std::unique_ptr<node> n;
  auto head = run.db->get_ref(head_ref("bank"));
  if (head) {
    auto start = clock_type::now();
    auto restored = restore_node(*run.db, head_ref("bank"), run.types, restore_options{run.config, 0, {}});
    if (!restored)
      return fail("restoring the head", restored.error());
    n = std::move(*restored);
    fmt::print("restored node 'bank' from head {} in {:.1f} ms: incarnation {}, {} components\n",
               head->short_hex(), ms_since(start), n->incarnation(), n->components().size());
  } else if (head.error().is_not_found()) {
    node_options nopts;
    nopts.name = "bank";
    nopts.config = run.config;
    n = std::make_unique<node>(run.types, nopts);
    bank::bank_params params;
    params.seed = std::random_device{}();
    if (auto st = n->install(bank::make_graph(params)); !st)
      return fail("installing the bank", st);
    fmt::print("fresh node 'bank': {} accounts, {} clearing houses, {} drivers\n",
               params.accounts, params.clearing_houses, params.drivers);
  } else {
    return fail("reading the head", head.error());
  }
  auto total = bank::total_balance(*n);
  if (!total)
    return fail("summing balances", total.error());
  const int64_t expected_total = *total;
  fmt::print("total money: {}\n", expected_total);

  auto first = transfer_and_checkpoint(*n, run, expected_total);
  if (!first)
    return fail("first checkpoint", first.error());
  auto stopped_incarnation = n->incarnation();
  n.reset();
  fmt::print("stopped node 'bank' (incarnation {})\n", stopped_incarnation);

  // Second life: a fresh node from the head we just wrote.
  auto start = clock_type::now();
  auto restored = restore_node(*run.db, first->to_hex(), run.types, restore_options{run.config, 0, {}});
  if (!restored)
    return fail("restoring", restored.error());
  n = std::move(*restored);
  fmt::print("restored {} in {:.1f} ms: incarnation {}, {} components\n", first->short_hex(),
             ms_since(start), n->incarnation(), n->components().size());
  auto second = transfer_and_checkpoint(*n, run, expected_total);
  if (!second)
    return fail("second checkpoint", second.error());
  fmt::print("demo ok: incarnation={} snapshot={} total={}\n", n->incarnation(),
             second->to_hex(), expected_total);
  return 0;
}

} // namespace amber::app
