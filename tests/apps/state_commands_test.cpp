// cat, show --component and the field-level diff on the demo's bank store,
// run as a user would; and the library functions behind them
// (amber/cli/state_view.hpp) with registries that know more or fewer types.

#include <doctest/doctest.h>

#include <regex>

#include "amber/checkpoint/serial.hpp"
#include "amber/cli/state_view.hpp"
#include "amber/storage/lmdb_store.hpp"
#include "bank/bank.hpp"
#include "fixtures.hpp"

using namespace amber::apps_test;

namespace {

std::shared_ptr<amber::lmdb_store> open_read_only(const std::string& dir) {
  amber::lmdb_options o;
  o.read_only = true;
  auto db = amber::lmdb_store::open(dir, o);
  REQUIRE(db);
  return *db;
}

} // namespace

TEST_CASE("cat prints a component's state as its type describes it") {
  const auto& store = history_store();
  auto r = run_amber({"cat", "bank", "acct-7", "--store", store});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  auto state = json::parse(r.out);
  for (auto key : {"owner", "balance", "sent", "received", "rejected"})
    CHECK_MESSAGE(state.contains(key), key);
  auto env = amber_json({"cat", "bank", "acct-7", "--store", store});
  CHECK(env.at("described") == true);
  CHECK(env.at("type") == "bank.account");
  CHECK(env.at("state") == state);
  CHECK(env.at("snapshot") == log_ids(store)[0]);
  // Its digest is the one show lists for the component.
  CHECK(env.at("state_digest") == states_of(store, "bank").at("acct-7"));
  // show --component is the same, and takes ancestry like every command.
  auto shown = amber_json({"show", "bank~1", "--component", "acct-7", "--store", store});
  auto older = amber_json({"cat", "bank~1", "acct-7", "--store", store});
  CHECK(shown == older);
  CHECK(older.at("snapshot") == log_ids(store)[1]);
  auto clearing = amber_json({"cat", "bank", "clearing-0", "--store", store});
  CHECK(clearing.at("state").at("volume").is_object());
}

TEST_CASE("cat names a missing component and refuses a malformed ancestry") {
  const auto& store = history_store();
  auto r = run_amber({"cat", "bank", "acct-99999", "--store", store});
  CHECK(r.code == 3);
  CHECK(contains(r.err, "no component 'acct-99999'"));
  CHECK(run_amber({"cat", "bank~x", "acct-1", "--store", store}).code == 2);
  CHECK(run_amber({"cat", "bank~9", "acct-1", "--store", store}).code == 3);
}

TEST_CASE("diff prints field-level changes that agree with cat of both sides") {
  const auto& store = history_store();
  auto r = run_amber({"diff", "bank~1", "bank", "--store", store});
  REQUIRE(r.code == 0);
  // Under a changed account: its balance, old -> new.
  CHECK(std::regex_search(r.out, std::regex(R"(changed  acct-\d+ .*\n  (balance|received|sent) -?\d+ -> -?\d+\n)")));
  auto j = amber_json({"diff", "bank~1", "bank", "--store", store});
  REQUIRE(j.at("changed").size() > 0);
  size_t checked = 0;
  for (auto& c : j.at("changed")) {
    if (c.at("type") != "bank.account" || checked == 3)
      continue;
    auto name = c.at("name").get<std::string>();
    auto before = amber_json({"cat", "bank~1", name, "--store", store}).at("state");
    auto after = amber_json({"cat", "bank", name, "--store", store}).at("state");
    REQUIRE(c.at("state_diff").is_object());
    auto& changes = c.at("state_diff").at("changes");
    REQUIRE(changes.size() > 0);
    for (auto& change : changes) {
      auto field = change.at("path").get<std::string>();
      CHECK(change.at("op") == "changed");
      CHECK(change.at("before") == before.at(field));
      CHECK(change.at("after") == after.at(field));
    }
    // Every field that differs is reported.
    size_t differing = 0;
    for (auto& [field, value] : after.items())
      differing += before.at(field) != value ? 1 : 0;
    CHECK(differing == changes.size());
    ++checked;
  }
  CHECK(checked == 3);
}

TEST_CASE("the library diff takes NAME~N and falls back to sizes for types it lacks") {
  const auto& store = history_store();
  auto db = open_read_only(store);
  auto types = std::make_shared<amber::registry>();
  REQUIRE(bank::register_types(*types));
  auto full = amber::cli::diff_snapshot_states(*db, types.get(), "bank~1", "bank");
  REQUIRE(full);
  auto cli = amber_json({"diff", "bank~1", "bank", "--store", store});
  REQUIRE(full->states.size() == cli.at("changed").size());
  for (size_t i = 0; i < full->states.size(); ++i) {
    REQUIRE(full->states[i].diff);
    CHECK(amber::cli::to_json(*full->states[i].diff) == cli.at("changed")[i].at("state_diff"));
  }
  // No types: every changed component by size, saying why.
  auto bare = amber::cli::diff_snapshot_states(*db, nullptr, "bank~1", "bank");
  REQUIRE(bare);
  REQUIRE(!bare->states.empty());
  CHECK_FALSE(bare->states[0].diff);
  CHECK(contains(bare->states[0].why_not, "is not registered"));
  auto st = amber::cli::read_component_state(*db, nullptr, "bank~1", "acct-3");
  REQUIRE(st);
  CHECK_FALSE(st->value);
  CHECK(st->value_or_summary().at("state_bytes") == st->state_bytes);
  CHECK(st->value_or_summary().at("state_digest") == st->state.to_hex());
  auto missing = amber::cli::read_component_state(*db, types.get(), "bank", "nobody");
  CHECK(missing.error().is_not_found());
}

namespace {

struct plain_state {
  int64_t n = 0;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & n;
  }
};

class plain : public amber::component<plain_state> {
public:
  static constexpr const char* type_name = "test.plain";
  static amber::package_ref package() { return {"test", "1.0.0"}; }
  using component::component;
  caf::behavior make_behavior() override { return {}; }
};

struct adl_state {
  int64_t n = 0;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & n;
  }
};

void to_json(json& j, const adl_state& s) {
  j = {{"n", s.n}};
}

class adl : public amber::component<adl_state> {
public:
  static constexpr const char* type_name = "test.adl";
  static amber::package_ref package() { return {"test", "1.0.0"}; }
  using component::component;
  caf::behavior make_behavior() override { return {}; }
};

} // namespace

TEST_CASE("the registry picks up a static to_json or nlohmann's ADL to_json, else none") {
  amber::registry reg;
  REQUIRE(reg.add<plain>());
  REQUIRE(reg.add<adl>());
  REQUIRE(reg.add<bank::account>());
  CHECK_FALSE(reg.find("test.plain")->state_json);
  REQUIRE(reg.find("test.adl")->state_json);
  REQUIRE(reg.find("bank.account")->state_json);
  auto j = reg.find("test.adl")->state_json(amber::encode(adl_state{42}));
  REQUIRE(j);
  CHECK(*j == json({{"n", 42}}));
  bank::account_state acct;
  acct.owner = "ann";
  acct.balance = -5;
  auto aj = reg.find("bank.account")->state_json(amber::encode(acct));
  REQUIRE(aj);
  CHECK(aj->at("owner") == "ann");
  CHECK(aj->at("balance") == -5);
  // Bytes that do not decode are an error naming the type, not a crash.
  auto bad = reg.find("bank.account")->state_json("\x01\x02");
  REQUIRE_FALSE(bad);
  CHECK(contains(bad.error().message(), "bank.account"));
}
