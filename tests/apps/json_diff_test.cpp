// diff_json and describe: the field- and key-level changes `amber diff`
// prints for states their types describe as JSON.

#include "amber/cli/json_diff.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>

using amber::cli::describe;
using amber::cli::diff_json;
using amber::cli::json_change;
using json = nlohmann::json;

namespace {

bool has_line(const std::vector<std::string>& lines, const std::string& line) {
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}

json keys(int from, int to) {
  json out = json::object();
  for (int i = from; i < to; ++i)
    out["k" + std::to_string(i)] = "v" + std::to_string(i);
  return out;
}

} // namespace

TEST_CASE("equal values have no difference") {
  json a = {{"stats", {{"total_puts", 1}}}, {"data", keys(0, 5)}};
  CHECK(diff_json(a, a).empty());
  CHECK(describe(diff_json(a, a)).empty());
}

TEST_CASE("a changed field is named by its path with both values") {
  json a = {{"stats", {{"total_puts", 88929}, {"shard", "s0"}}}};
  json b = {{"stats", {{"total_puts", 89204}, {"shard", "s0"}}}};
  auto d = diff_json(a, b);
  REQUIRE(d.changes.size() == 1);
  CHECK(d.changes[0].what == json_change::kind::changed);
  CHECK(d.changes[0].path == "stats.total_puts");
  CHECK(d.changes[0].container == "stats");
  CHECK(d.changes[0].before == 88929);
  CHECK(d.changes[0].after == 89204);
  CHECK(has_line(describe(d), "stats.total_puts 88929 -> 89204"));
}

TEST_CASE("keys added to and removed from a map are counted, and listed when few") {
  json a = {{"data", keys(0, 100)}, {"puts", 100}};
  json b = {{"data", keys(3, 375)}, {"puts", 372}};
  auto d = diff_json(a, b);
  auto data = std::find_if(d.containers.begin(), d.containers.end(),
                           [](auto& c) { return c.path == "data"; });
  REQUIRE(data != d.containers.end());
  CHECK(data->added == 275);
  CHECK(data->removed == 3);
  CHECK(data->changed == 0);
  CHECK_FALSE(data->array);
  auto lines = describe(d);
  CHECK(has_line(lines, "data: +275 keys, -3 keys"));
  CHECK(has_line(lines, "puts 100 -> 372"));
  CHECK(has_line(lines, "- data.k0 \"v0\""));
  // 278 key changes: 8 listed, the rest counted.
  CHECK(has_line(lines, "... 270 more in data"));
  auto few = describe(diff_json({{"m", keys(0, 2)}}, {{"m", keys(0, 3)}}));
  CHECK(has_line(few, "m: +1 key"));
  CHECK(has_line(few, "+ m.k2 \"v2\""));
}

TEST_CASE("keys that are not identifiers are quoted; arrays compare by index") {
  json a = {{"data", {{"user 7", 1}}}, {"accounts", {1, 2, 3}}};
  json b = {{"data", {{"user 7", 2}}}, {"accounts", {1, 5, 3, 4, 6}}};
  auto lines = describe(diff_json(a, b));
  CHECK(has_line(lines, "data[\"user 7\"] 1 -> 2"));
  CHECK(has_line(lines, "accounts[1] 2 -> 5"));
  CHECK(has_line(lines, "accounts: +2 elements, 1 changed"));
  CHECK(has_line(lines, "+ accounts[3] 4"));
}

TEST_CASE("a value whose kind changes is one change, not a descent") {
  auto d = diff_json({{"x", {{"a", 1}}}}, {{"x", json::array({1})}});
  REQUIRE(d.changes.size() == 1);
  CHECK(d.changes[0].path == "x");
  auto top = diff_json(json(1), json("one"));
  REQUIRE(top.changes.size() == 1);
  CHECK(describe(top) == std::vector<std::string>{"(state) 1 -> \"one\""});
}

TEST_CASE("nested changes are reported at their innermost path") {
  json a = {{"volume", {{"3", 10}, {"4", 20}}}, {"forwarded", 2}};
  json b = {{"volume", {{"3", 15}, {"4", 20}}}, {"forwarded", 3}};
  auto d = diff_json(a, b);
  REQUIRE(d.changes.size() == 2);
  CHECK(d.changes[0].path == "forwarded");
  CHECK(d.changes[1].path == "volume[\"3\"]");
  // The top (forwarded, volume) and volume itself changed.
  REQUIRE(d.containers.size() == 2);
  CHECK(d.containers[0].path.empty());
  CHECK(d.containers[0].changed == 2);
  CHECK(d.containers[1].path == "volume");
  CHECK(d.containers[1].changed == 1);
}

TEST_CASE("the JSON form lists every change with its operation") {
  auto d = diff_json({{"a", 1}, {"b", 2}}, {{"a", 3}, {"c", 4}});
  auto j = amber::cli::to_json(d);
  REQUIRE(j.at("changes").size() == 3);
  CHECK(j.at("changes")[0] == json({{"op", "changed"}, {"path", "a"}, {"before", 1}, {"after", 3}}));
  CHECK(j.at("changes")[1].at("op") == "removed");
  CHECK(j.at("changes")[2].at("op") == "added");
  CHECK(j.at("containers")[0].at("added") == 1);
}

TEST_CASE("compact cuts long values and survives invalid UTF-8") {
  CHECK(amber::cli::compact(json(std::string(200, 'x')), 20).size() == 20);
  CHECK_NOTHROW(amber::cli::compact(json(std::string("\xff\xfe"))));
}
