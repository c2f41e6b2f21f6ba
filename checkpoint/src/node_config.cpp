#include "amber/checkpoint/node_config.hpp"

#include "amber/storage/hex.hpp"

namespace amber {

namespace {

std::string show(const std::optional<uint64_t>& x) {
  return x ? std::to_string(*x) : std::string("unset");
}

status mismatch(const char* field, const std::string& recorded, const std::string& actual) {
  return status(errc::config_mismatch, std::string("config field '") + field
                                         + "' differs: the snapshot has " + recorded
                                         + ", this node has " + actual);
}

} // namespace

status check_config_matches(const node_config& recorded, const node_config& actual) {
  if (recorded.peer_id != actual.peer_id)
    return mismatch("peer_id", "'" + to_hex(recorded.peer_id) + "'",
                    "'" + to_hex(actual.peer_id) + "'");
  if (recorded.cycle_op_budget != actual.cycle_op_budget)
    return mismatch("cycle_op_budget", show(recorded.cycle_op_budget),
                    show(actual.cycle_op_budget));
  if (recorded.max_pending_async != actual.max_pending_async)
    return mismatch("max_pending_async", show(recorded.max_pending_async),
                    show(actual.max_pending_async));
  if (recorded.max_outbound_queue != actual.max_outbound_queue)
    return mismatch("max_outbound_queue", show(recorded.max_outbound_queue),
                    show(actual.max_outbound_queue));
  if (recorded.bus_capacity != actual.bus_capacity)
    return mismatch("bus_capacity", std::to_string(recorded.bus_capacity),
                    std::to_string(actual.bus_capacity));
  return status::ok();
}

} // namespace amber
