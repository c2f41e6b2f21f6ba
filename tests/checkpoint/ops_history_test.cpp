// history.hpp: reading the snapshot history, its order, prefixes and the
// drawn DAG.

#include "amber/checkpoint/history.hpp"

#include <doctest/doctest.h>

#include "amber/storage/memory_store.hpp"
#include "ops_fixture.hpp"

using namespace amber;
using namespace amber::ops_test;

namespace {

std::vector<std::string> lanes_of(const std::vector<snapshot_summary>& snaps,
                                  std::map<digest, std::string> names) {
  std::vector<std::string> out;
  for (auto& line : draw_history(snaps)) {
    std::string text = line.lanes;
    if (line.snapshot)
      text += " " + names[snaps[*line.snapshot].id];
    out.push_back(text);
  }
  return out;
}

} // namespace

TEST_CASE("an empty store has an empty history") {
  memory_store s;
  auto h = read_history(s);
  REQUIRE(h);
  CHECK(h->snapshots.empty());
  CHECK(h->unreadable.empty());
  CHECK(draw_history(h->snapshots).empty());
}

TEST_CASE("history lists snapshots newest first with node, incarnation, size and refs") {
  memory_store s;
  auto chain = make_chain(s, "bank", 3);
  auto h = read_history(s);
  REQUIRE(h);
  REQUIRE(h->snapshots.size() == 3);
  CHECK(h->snapshots[0].id == chain[2].id);
  CHECK(h->snapshots[2].id == chain[0].id);
  CHECK(h->snapshots[0].node == "bank");
  CHECK(h->snapshots[0].incarnation == 2);
  CHECK(h->snapshots[0].parents == std::vector<digest>{chain[1].id});
  CHECK(h->snapshots[0].refs == std::vector<std::string>{"nodes/bank/head"});
  CHECK(h->snapshots[1].refs.empty());
  uint64_t bytes = 0;
  for (auto& l : chain[2].meta.layers)
    bytes += l.bytes;
  CHECK(h->snapshots[0].bytes == bytes);
}

TEST_CASE("children come before parents even when clocks disagree") {
  memory_store s;
  spec root;
  root.created_at_ms = 5000;
  root.states = {{"a", "1"}};
  auto r = make_snapshot(s, root);
  spec child;
  child.created_at_ms = 1000; // an earlier clock
  child.parents = {r.id};
  child.states = {{"a", "2"}};
  auto c = make_snapshot(s, child);
  auto h = read_history(s);
  REQUIRE(h);
  REQUIRE(h->snapshots.size() == 2);
  CHECK(h->snapshots[0].id == c.id);
  CHECK(h->snapshots[1].id == r.id);
}

TEST_CASE("a damaged manifest is reported apart and the rest still listed") {
  memory_store s;
  auto chain = make_chain(s, "n", 2);
  // A manifest of garbage, stored under its own (correct) digest.
  snapshot_commit c;
  c.manifest = "{not json";
  auto junk = s.commit_snapshot(c);
  REQUIRE(junk);
  auto h = read_history(s);
  REQUIRE(h);
  CHECK(h->snapshots.size() == 2);
  REQUIRE(h->unreadable.size() == 1);
  CHECK(h->unreadable[0].first == *junk);
  CHECK(h->unreadable[0].second.code() == errc::corruption);
}

TEST_CASE("find_by_prefix matches hex prefixes in either case") {
  memory_store s;
  auto chain = make_chain(s, "n", 3);
  auto hex = chain[1].id.to_hex();
  auto one = find_by_prefix(s, hex.substr(0, 10));
  REQUIRE(one);
  CHECK(*one == std::vector<digest>{chain[1].id});
  std::string upper;
  for (char ch : hex.substr(0, 8))
    upper += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  auto up = find_by_prefix(s, upper);
  REQUIRE(up);
  CHECK(up->size() == 1);
  auto all = find_by_prefix(s, "");
  REQUIRE(!all); // "" is not a hex prefix
  auto none = find_by_prefix(s, "zz");
  CHECK(!none);
  CHECK(none.error().code() == errc::invalid_argument);
}

TEST_CASE("a linear chain draws as one lane") {
  memory_store s;
  auto chain = make_chain(s, "n", 3);
  auto h = read_history(s);
  REQUIRE(h);
  auto lines = lanes_of(h->snapshots, {{chain[0].id, "c0"}, {chain[1].id, "c1"}, {chain[2].id, "c2"}});
  CHECK(lines == std::vector<std::string>{"* c2", "* c1", "* c0"});
}

TEST_CASE("a fork draws as two lanes that join at the common parent") {
  memory_store s;
  auto base = make_chain(s, "n", 1);
  spec a;
  a.created_at_ms = base[0].meta.created_at_ms + 2000;
  a.parents = {base[0].id};
  a.states = {{"a", "fork-a"}};
  auto fa = make_snapshot(s, a);
  spec b = a;
  b.created_at_ms = base[0].meta.created_at_ms + 1000;
  b.states = {{"a", "fork-b"}};
  auto fb = make_snapshot(s, b);
  auto h = read_history(s);
  REQUIRE(h);
  auto lines = lanes_of(h->snapshots, {{base[0].id, "base"}, {fa.id, "A"}, {fb.id, "B"}});
  CHECK(lines == std::vector<std::string>{"* A", "| * B", "|/", "* base"});
}

TEST_CASE("independent nodes draw side by side and a finished lane lets others move over") {
  memory_store s;
  auto x = make_chain(s, "x", 2, 10'000);
  auto y = make_chain(s, "y", 2, 10'500);
  auto h = read_history(s);
  REQUIRE(h);
  // Newest first: y1 (11500), x1 (11000), y0 (10500), x0 (10000).
  auto lines = lanes_of(h->snapshots, {{x[0].id, "x0"}, {x[1].id, "x1"}, {y[0].id, "y0"}, {y[1].id, "y1"}});
  CHECK(lines == std::vector<std::string>{"* y1", "| * x1", "* | y0", " /", "* x0"});
}

TEST_CASE("a merge forks a lane for its second parent") {
  memory_store s;
  auto x = make_chain(s, "x", 1, 10'000);
  auto y = make_chain(s, "y", 1, 11'000);
  spec m;
  m.node = "x";
  m.created_at_ms = 20'000;
  m.parents = {x[0].id, y[0].id};
  m.states = {{"a", "merged"}};
  auto merged = make_snapshot(s, m);
  auto h = read_history(s);
  REQUIRE(h);
  auto lines = lanes_of(h->snapshots, {{x[0].id, "x0"}, {y[0].id, "y0"}, {merged.id, "m"}});
  CHECK(lines == std::vector<std::string>{"* m", "|\\", "| * y0", "* x0"});
}

TEST_CASE("a lane joins across a lane that passes between") {
  memory_store s;
  spec sp;
  sp.node = "o";
  sp.created_at_ms = 10'000;
  sp.states = {{"a", "o0"}};
  auto o0 = make_snapshot(s, sp);
  sp = spec{};
  sp.created_at_ms = 15'000;
  sp.states = {{"a", "base"}};
  auto base = make_snapshot(s, sp);
  sp = spec{};
  sp.node = "o";
  sp.created_at_ms = 25'000;
  sp.parents = {o0.id};
  sp.states = {{"a", "o1"}};
  auto o1 = make_snapshot(s, sp);
  std::vector<built> tips;
  for (int64_t at : {30'000, 20'000}) {
    sp = spec{};
    sp.created_at_ms = at;
    sp.parents = {base.id};
    sp.states = {{"a", "tip" + std::to_string(at)}};
    tips.push_back(make_snapshot(s, sp));
  }
  auto h = read_history(s);
  REQUIRE(h);
  auto lines = lanes_of(h->snapshots, {{base.id, "base"}, {tips[0].id, "t0"}, {tips[1].id, "t1"},
                                       {o0.id, "o0"}, {o1.id, "o1"}});
  CHECK(lines == std::vector<std::string>{"* t0", "| * o1", "| | * t1", "|_|/", "* | base", " /",
                                          "* o0"});
}
