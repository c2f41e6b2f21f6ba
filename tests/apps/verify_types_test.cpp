// `verify --types` run from a service's own binaries: release 1 and 2 of
// evolve.kv (tests/apps/evolve_cli.cpp), on stores holding a snapshot of
// either release, and the stock `amber` that knows neither.

#include <cstdio>
#include <string>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "amber/actors/checkpointer.hpp"
#include "amber/storage/lmdb_store.hpp"
#include "support/evolving_components.hpp"
#include "support/temp_dir.hpp"

using namespace amber;

namespace {

struct outcome {
  int code = -1;
  std::string out;
};

// Runs `binary args` (bounded by timeout(1)), capturing stdout.
outcome run(const std::string& binary, const std::string& args) {
  std::string cmd = "timeout 60 " + binary + " " + args + " 2>/dev/null";
  outcome o;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0)
    o.out.append(buf, n);
  int st = ::pclose(p);
  o.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return o;
}

// A store with one snapshot of node "kv" (kv0, kv1) made by `binary`.
struct store_of {
  test::temp_dir dir{"amber-verify-types"};
  digest id;

  explicit store_of(std::shared_ptr<registry> binary) {
    lmdb_options opts;
    opts.create_if_missing = true;
    opts.no_sync = true;
    auto db = lmdb_store::open(dir.str(), opts).value();
    node_options nopts;
    nopts.name = "kv";
    node n(std::move(binary), nopts);
    REQUIRE(n.install(evolve::kv_graph()).is_ok());
    id = checkpointer(n, db).checkpoint().value();
  }
  std::string store() const { return "--store " + dir.str(); }
};

} // namespace

TEST_CASE("release 2 finds a release 1 snapshot restorable through its migration") {
  store_of s(evolve::binary_v1());
  auto r = run(EVOLVE_V2, "verify --types " + s.store());
  CHECK_MESSAGE(r.code == 0, r.out);
  CHECK(r.out.find("2 components, 2 to migrate: ok") != std::string::npos);
  CHECK(r.out.find("all restorable") != std::string::npos);
  // Release 1 reads its own snapshot with nothing to migrate.
  auto same = run(EVOLVE_V1, "verify --types " + s.store() + " kv");
  CHECK_MESSAGE(same.code == 0, same.out);
  CHECK(same.out.find("0 to migrate: ok") != std::string::npos);
}

TEST_CASE("release 1 reports every component of a release 2 snapshot, naming both versions") {
  store_of s(evolve::binary_v2());
  auto r = run(EVOLVE_V1, "verify --types " + s.store() + " " + s.id.to_hex());
  CHECK(r.code == 1);
  for (auto* part : {"kv0 (evolve.kv): version_mismatch", "kv1 (evolve.kv): version_mismatch",
                     "evolve@1.1.0", "evolve@1.0.0", "3 problems found"})
    CHECK_MESSAGE(r.out.find(part) != std::string::npos, part << " in:\n" << r.out);
  auto j = nlohmann::json::parse(run(EVOLVE_V1, "verify --types --json " + s.store()).out);
  CHECK(j.at("ok") == false);
  REQUIRE(j.at("snapshots").size() == 1);
  auto& snap = j.at("snapshots")[0];
  CHECK(snap.at("node") == "kv");
  CHECK(snap.at("components") == 2);
  REQUIRE(snap.at("problems").size() == 3);
  CHECK(snap.at("problems")[1].at("component") == "kv0");
  CHECK(snap.at("problems")[1].at("code") == "version_mismatch");
}

TEST_CASE("the stock binary, which knows neither release, reports unknown types") {
  store_of s(evolve::binary_v1());
  auto r = run(AMBER_BINARY, "verify --types " + s.store());
  CHECK(r.code == 1);
  CHECK(r.out.find("kv0 (evolve.kv): unknown_type") != std::string::npos);
}

TEST_CASE("verify takes an ID only with --cluster or --types") {
  store_of s(evolve::binary_v1());
  CHECK(run(EVOLVE_V1, "verify " + s.store() + " kv").code == 2);
  CHECK(run(EVOLVE_V1, "verify " + s.store()).code == 0); // the digest check, as before
}
