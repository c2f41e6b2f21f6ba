// node_config.hpp: a snapshot restores only into a node with the same config,
// and a mismatch names the field and both values.

#include "amber/checkpoint/node_config.hpp"

#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

using amber::check_config_matches;
using amber::errc;
using amber::node_config;

namespace {

node_config sample_config() {
  node_config c;
  c.peer_id = std::string("\x00\x01\xab", 3);
  c.cycle_op_budget = 100;
  c.max_pending_async = 8;
  c.max_outbound_queue = 1000;
  c.bus_capacity = 2048;
  return c;
}

struct field_change {
  const char* field;
  std::function<void(node_config&)> change;
  const char* recorded_text; // How the snapshot's value is shown.
  const char* actual_text;   // How the changed value is shown.
};

} // namespace

TEST_CASE("equal configs match") {
  CHECK(check_config_matches(sample_config(), sample_config()).is_ok());
  CHECK(check_config_matches(node_config{}, node_config{}).is_ok());
}

TEST_CASE("a config differing in one field is a config_mismatch naming that field and both values") {
  std::vector<field_change> changes = {
    {"peer_id", [](node_config& c) { c.peer_id = std::string("\x00\x01\xac", 3); }, "'0001ab'",
     "'0001ac'"},
    {"cycle_op_budget", [](node_config& c) { c.cycle_op_budget = 101; }, "100", "101"},
    {"cycle_op_budget", [](node_config& c) { c.cycle_op_budget.reset(); }, "100", "unset"},
    {"max_pending_async", [](node_config& c) { c.max_pending_async = 0; }, "8", "0"},
    {"max_pending_async", [](node_config& c) { c.max_pending_async.reset(); }, "8", "unset"},
    {"max_outbound_queue", [](node_config& c) { c.max_outbound_queue = 999; }, "1000", "999"},
    {"max_outbound_queue", [](node_config& c) { c.max_outbound_queue.reset(); }, "1000", "unset"},
    {"bus_capacity", [](node_config& c) { c.bus_capacity = 1024; }, "2048", "1024"},
  };
  for (auto& fc : changes) {
    CAPTURE(fc.field);
    CAPTURE(fc.actual_text);
    auto recorded = sample_config();
    auto actual = sample_config();
    fc.change(actual);
    REQUIRE(recorded != actual);
    auto st = check_config_matches(recorded, actual);
    REQUIRE(st.code() == errc::config_mismatch);
    CHECK(st.message().find(std::string("'") + fc.field + "'") != std::string::npos);
    // The snapshot's value is named first, this node's second.
    auto recorded_at = st.message().find(fc.recorded_text);
    auto actual_at = st.message().find(fc.actual_text, recorded_at + 1);
    CHECK(recorded_at != std::string::npos);
    CHECK(actual_at != std::string::npos);
  }
}

TEST_CASE("a config that is set where the snapshot's is unset does not match") {
  node_config recorded;
  node_config actual;
  actual.max_outbound_queue = 0;
  auto st = check_config_matches(recorded, actual);
  CHECK(st.code() == errc::config_mismatch);
  CHECK(st.message().find("max_outbound_queue") != std::string::npos);
  CHECK(st.message().find("unset") != std::string::npos);
}

TEST_CASE("the first differing field is the one reported") {
  auto recorded = sample_config();
  auto actual = sample_config();
  actual.max_pending_async = 1;
  actual.bus_capacity = 1;
  auto st = check_config_matches(recorded, actual);
  CHECK(st.message().find("max_pending_async") != std::string::npos);
  CHECK(st.message().find("bus_capacity") == std::string::npos);
}
