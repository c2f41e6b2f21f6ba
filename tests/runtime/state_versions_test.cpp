// The registry's side of state evolution: the package version policy,
// registering migrations, running a chain of them, and Boost class versions.

#include <string>

#include <boost/serialization/string.hpp>
#include <boost/serialization/version.hpp>
#include <doctest/doctest.h>

#include "amber/runtime/compatibility.hpp"
#include "amber/runtime/registry.hpp"

using namespace amber;

namespace {

// Three state versions of one type: a name, then a name and a count, then
// a name, a count and a flag.
struct state_1 {
  std::string name;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& name;
  }
};
struct state_2 {
  std::string name;
  int64_t count = 0;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& name& count;
  }
};
struct state_3 {
  std::string name;
  int64_t count = 0;
  bool big = false;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& name& count& big;
  }
};

template <class State, uint32_t Version>
class thing : public component<State> {
public:
  static constexpr const char* type_name = "test.thing";
  static constexpr uint32_t state_version = Version;
  static package_ref package() { return {"testpkg", "1.0.0"}; }
  using component<State>::component;
  caf::behavior make_behavior() override { return {}; }
};

using thing_1 = thing<state_1, 1>;
using thing_2 = thing<state_2, 2>;
using thing_3 = thing<state_3, 3>;

// The Boost way: one struct, its class version raised from 0 to 1 when
// `count` was added; version 0 bytes read with count = 0.
struct boosted_0 {
  std::string name;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& name;
  }
};
struct boosted_1 {
  std::string name;
  int64_t count = -1;
  template <class Archive>
  void serialize(Archive& ar, unsigned version) {
    ar& name;
    if (version >= 1)
      ar& count;
    else if constexpr (Archive::is_loading::value)
      count = 0;
  }
};

template <class State>
class boosted : public component<State> {
public:
  static constexpr const char* type_name = "test.boosted";
  static package_ref package() { return {"testpkg", "1.0.0"}; }
  using component<State>::component;
  caf::behavior make_behavior() override { return {}; }
};

template <class State>
State as(const std::shared_ptr<void>& p) {
  return *static_cast<State*>(p.get());
}

} // namespace

BOOST_CLASS_VERSION(boosted_1, 1)

TEST_CASE("package versions parse as MAJOR.MINOR.PATCH with an optional suffix") {
  auto v = parse_semantic_version("1.22.333-rc1");
  REQUIRE(v);
  CHECK(v->major == 1);
  CHECK(v->minor == 22);
  CHECK(v->patch == 333);
  CHECK(parse_semantic_version("2.0.1+build7"));
  CHECK_FALSE(parse_semantic_version("1.2"));
  CHECK_FALSE(parse_semantic_version("1.2.x"));
  CHECK_FALSE(parse_semantic_version("v1.2.3"));
  CHECK_FALSE(parse_semantic_version("1.2.3.4"));
}

TEST_CASE("the package policy: same major, and the binary's minor at least the snapshot's") {
  auto ok = [](const char* recorded, const char* binary) {
    return check_package_compatible("t", {"p", recorded}, {"p", binary}).is_ok();
  };
  CHECK(ok("1.0.0", "1.0.0"));
  CHECK(ok("1.0.0", "1.1.0"));  // a newer minor restores an older snapshot
  CHECK(ok("1.0.0", "1.0.9"));  // patches both ways
  CHECK(ok("1.0.9", "1.0.0"));
  CHECK(ok("1.2.3", "1.4.0"));
  CHECK_FALSE(ok("1.1.0", "1.0.0")); // a snapshot of a newer minor
  CHECK_FALSE(ok("1.0.0", "2.0.0")); // another major, either way
  CHECK_FALSE(ok("2.0.0", "1.9.9"));
  CHECK(ok("nightly", "nightly"));
  CHECK_FALSE(ok("nightly", "1.0.0"));
  auto st = check_package_compatible("kv.shard", {"kv", "1.0.0"}, {"other", "1.0.0"});
  CHECK(st.code() == errc::version_mismatch);
  CHECK(st.message().find("kv.shard") != std::string::npos);
  CHECK(st.message().find("kv@1.0.0") != std::string::npos);
  CHECK(st.message().find("other@1.0.0") != std::string::npos);
}

TEST_CASE("a chain of migrations brings a version 1 state to version 3") {
  registry reg;
  REQUIRE(reg.add<thing_3>().is_ok());
  REQUIRE(reg.add_migration<thing_3>(1, [](const state_1& s) { return state_2{s.name, 1}; }).is_ok());
  REQUIRE(reg.add_migration<thing_3>(2, [](state_2 s) -> result<state_3> {
                return state_3{s.name, s.count + 1, s.count > 100};
              }).is_ok());
  CHECK(reg.find("test.thing")->state_version == 3);
  auto from_1 = reg.decode_state("test.thing", 1, encode(state_1{"a"}));
  REQUIRE(from_1.ok());
  CHECK(as<state_3>(*from_1).name == "a");
  CHECK(as<state_3>(*from_1).count == 2);
  auto from_2 = reg.decode_state("test.thing", 2, encode(state_2{"b", 500}));
  REQUIRE(from_2.ok());
  CHECK(as<state_3>(*from_2).count == 501);
  CHECK(as<state_3>(*from_2).big);
  auto current = reg.decode_state("test.thing", 3, encode(state_3{"c", 7, false}));
  REQUIRE(current.ok());
  CHECK(as<state_3>(*current).count == 7);
  auto newer = reg.decode_state("test.thing", 4, encode(state_3{}));
  CHECK(newer.error().code() == errc::version_mismatch);
  CHECK(reg.check("test.thing", {"testpkg", "1.0.0"}, 1).is_ok());
  CHECK(reg.check("test.thing", {"testpkg", "1.0.0"}, 4).code() == errc::version_mismatch);
  CHECK(reg.records().at(0).state_version == 3);
}

TEST_CASE("a migration that fails aborts the decode, naming the step") {
  registry reg;
  REQUIRE(reg.add<thing_2>().is_ok());
  REQUIRE(reg.add_migration<thing_2>(1, [](const state_1& s) -> result<state_2> {
                if (s.name.empty())
                  return status::invalid_argument("a thing needs a name");
                return state_2{s.name, 0};
              }).is_ok());
  auto r = reg.decode_state("test.thing", 1, encode(state_1{}));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == errc::aborted);
  CHECK(r.error().message().find("from version 1 to 2") != std::string::npos);
  CHECK(r.error().message().find("a thing needs a name") != std::string::npos);
}

TEST_CASE("add_migration refuses what cannot be a step") {
  registry reg;
  auto up = [](const state_1& s) { return state_2{s.name, 0}; };
  CHECK(reg.add_migration<thing_2>(1, up).code() == errc::invalid_argument); // not registered
  REQUIRE(reg.add<thing_2>().is_ok());
  CHECK(reg.add_migration<thing_2>(0, up).code() == errc::invalid_argument);
  CHECK(reg.add_migration<thing_2>(2, up).code() == errc::invalid_argument);
  // The last step must produce the current state type.
  CHECK(reg.add_migration<thing_2>(1, [](const state_1&) { return state_3{}; }).code()
        == errc::invalid_argument);
  CHECK(reg.add_migration<thing_2>(1, up).is_ok());
  CHECK(reg.add_migration<thing_2>(1, up).code() == errc::invalid_argument); // twice
}

TEST_CASE("a type's state version is part of the fingerprint, version 1 leaves it as it was") {
  registry a, b, c;
  REQUIRE(a.add<thing_1>().is_ok());
  REQUIRE(b.add<thing_2>().is_ok());
  REQUIRE(c.add<thing_1>().is_ok());
  CHECK(a.fingerprint() != b.fingerprint());
  CHECK(a.fingerprint() == c.fingerprint());
  CHECK(a.fingerprint() == sha256("test.thing\ttestpkg\t1.0.0\n"));
}

TEST_CASE("Boost class versions: old bytes read with the default, newer bytes are version_mismatch") {
  registry old_binary, new_binary;
  REQUIRE(old_binary.add<boosted<boosted_0>>().is_ok());
  REQUIRE(new_binary.add<boosted<boosted_1>>().is_ok());
  auto up = new_binary.decode_state("test.boosted", 1, encode(boosted_0{"x"}));
  REQUIRE(up.ok());
  CHECK(as<boosted_1>(*up).name == "x");
  CHECK(as<boosted_1>(*up).count == 0);
  auto same = new_binary.decode_state("test.boosted", 1, encode(boosted_1{"y", 5}));
  REQUIRE(same.ok());
  CHECK(as<boosted_1>(*same).count == 5);
  CHECK(new_binary.find("test.boosted")->state_class_version == 1);
  CHECK(old_binary.find("test.boosted")->state_class_version == 0);
  // Boost alone would read these bytes as version 0: the recorded class
  // version is what refuses them.
  auto down = old_binary.decode_state("test.boosted", 1, encode(boosted_1{"z", 5}),
                                      /*class_version=*/1);
  REQUIRE_FALSE(down.ok());
  CHECK(down.error().code() == errc::version_mismatch);
  CHECK(down.error().message().find("test.boosted") != std::string::npos);
  CHECK(down.error().message().find("BOOST_CLASS_VERSION 1") != std::string::npos);
}

TEST_CASE("a state that changed without a new version is corruption with a hint") {
  registry reg;
  REQUIRE(reg.add<thing_2>().is_ok());
  auto r = reg.decode_state("test.thing", 2, encode(state_1{"short"}));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == errc::corruption);
  CHECK(r.error().message().find("Changing a state type") != std::string::npos);
}
