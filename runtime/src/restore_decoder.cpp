#include "amber/runtime/restore_decoder.hpp"

#include "amber/runtime/message_codec.hpp"
#include "amber/runtime/node.hpp"
#include "amber/runtime/runtime_record.hpp"

namespace amber {

namespace {

status check_runtime_record(caf::actor_system& sys, const component_record& rec) {
  if (rec.runtime.empty())
    return status::ok();
  runtime_record r;
  AMBER_RETURN_IF_ERROR(decode(rec.runtime, &r, "its runtime record"));
  for (auto& t : r.timers) {
    auto msg = decode_message(sys, t.payload);
    if (!msg)
      return msg.error().with_context("the message of its timer " + std::to_string(t.id));
  }
  return status::ok();
}

// Owns a node only for its actor system: the message types every node
// registers, and those `configure` adds.
class node_decoder final : public content_decoder {
public:
  node_decoder(std::shared_ptr<const registry> types,
               std::function<void(caf::actor_system_config&)> configure)
    : types_(types), node_(std::move(types), [&] {
        node_options o;
        o.name = "decoder";
        o.worker_threads = 1;
        o.configure = std::move(configure);
        return o;
      }()) {}

  status check_component(const component_record& rec, std::string_view state) override {
    auto r = decode_component(*types_, node_.system(), rec, state);
    return r ? status::ok() : r.error();
  }

  status check_message(const in_flight_message& m) override {
    auto r = decode_message(node_.system(), m.payload);
    return r ? status::ok() : r.error();
  }

private:
  std::shared_ptr<const registry> types_;
  node node_;
};

} // namespace

result<std::shared_ptr<void>> decode_component(const registry& types, caf::actor_system& sys,
                                               const component_record& rec,
                                               std::string_view state) {
  std::string who = "component '" + rec.name + "'";
  AMBER_RETURN_IF_ERROR(
    types.check(rec.type_name, rec.package, rec.state_version).with_context(who));
  // Older state versions are migrated up here, before anything spawns.
  auto decoded = types.decode_state(rec.type_name, rec.state_version, state,
                                    rec.state_class_version);
  if (!decoded)
    return decoded.error().with_context(who);
  AMBER_RETURN_IF_ERROR(check_runtime_record(sys, rec).with_context(who));
  return decoded;
}

std::unique_ptr<content_decoder>
make_restore_decoder(std::shared_ptr<const registry> types,
                     std::function<void(caf::actor_system_config&)> configure) {
  return std::make_unique<node_decoder>(std::move(types), std::move(configure));
}

} // namespace amber
