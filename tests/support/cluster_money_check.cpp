// cluster_money_check CLUSTER_FILE TOTAL: for every cluster snapshot in the
// chain of the cluster's first member's store, reads each member's part from
// that member's own store and checks that balances + local in flight +
// cross-member in flight == TOTAL, that no deposit was lost (gaps) or
// delivered twice (duplicates), and that every store's cluster head agrees.
// Prints one line per snapshot; exit 0 when all hold, 1 otherwise, 2 on usage.
//
// Used by scripts/cluster-netns-test.sh (the members run in other network
// namespaces; their stores are plain directories here).

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "amber/checkpoint/cluster_manifest.hpp"
#include "amber/storage/lmdb_store.hpp"
#include "bank/xbank.hpp"
#include "cluster_file.hpp"

using namespace amber;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: cluster_money_check CLUSTER_FILE TOTAL\n");
    return 2;
  }
  auto spec = cli::load_cluster_file(argv[1]);
  if (!spec) {
    std::fprintf(stderr, "%s\n", spec.error().to_string().c_str());
    return 2;
  }
  const int64_t total = std::strtoll(argv[2], nullptr, 10);
  std::map<std::string, std::shared_ptr<lmdb_store>> stores;
  for (auto& m : spec->members) {
    auto db = lmdb_store::open(m.store_dir);
    if (!db) {
      std::fprintf(stderr, "member %s: %s\n", m.name.c_str(), db.error().to_string().c_str());
      return 1;
    }
    stores[m.name] = *db;
  }
  auto& first = *stores[spec->members.front().name];
  auto chain = cluster_chain(first, spec->name);
  if (!chain || chain->empty()) {
    std::fprintf(stderr, "no cluster snapshot of '%s' in %s's store\n", spec->name.c_str(),
                 spec->members.front().name.c_str());
    return 1;
  }
  int bad = 0;
  for (auto& [name, db] : stores) {
    auto h = db->get_ref(cluster_head_ref(spec->name));
    if (!h || *h != chain->front().id) {
      std::printf("member %s: head %s, the leader's is %s\n", name.c_str(),
                  h ? h->short_hex().c_str() : "(none)", chain->front().id.short_hex().c_str());
      ++bad;
    }
  }
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", 1);
  caf::actor_system sys{cfg};
  for (auto& e : *chain) {
    bank::xmoney sum;
    std::string problem;
    for (auto& part : e.meta.members) {
      auto i = stores.find(part.member);
      if (i == stores.end()) {
        problem += " no store for member " + part.member + ";";
        continue;
      }
      auto m = bank::xmoney_in_snapshot(*i->second, part.snapshot, sys);
      if (!m) {
        problem += " " + part.member + ": " + m.error().to_string() + ";";
        continue;
      }
      sum.balances += m->balances;
      sum.local_in_flight += m->local_in_flight;
      sum.remote_in_flight += m->remote_in_flight;
      sum.gaps += m->gaps;
      sum.duplicates += m->duplicates;
      sum.deposits += m->deposits;
    }
    bool ok = problem.empty() && sum.total() == total && sum.gaps == 0 && sum.duplicates == 0;
    std::printf("%s inc %llu epoch %llu: total %lld (in flight %lld local, %lld remote), "
                "deposits %llu, gaps %llu, duplicates %llu: %s%s\n",
                e.id.short_hex().c_str(), (unsigned long long) e.meta.incarnation,
                (unsigned long long) e.meta.epoch, (long long) sum.total(),
                (long long) sum.local_in_flight, (long long) sum.remote_in_flight,
                (unsigned long long) sum.deposits, (unsigned long long) sum.gaps,
                (unsigned long long) sum.duplicates, ok ? "ok" : "BAD", problem.c_str());
    bad += ok ? 0 : 1;
  }
  std::printf("%zu cluster snapshots checked, %d bad\n", chain->size(), bad);
  return bad == 0 ? 0 : 1;
}
