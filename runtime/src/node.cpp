#include "amber/runtime/node.hpp"

#include <set>
#include <shared_mutex>
#include <thread>

#include <caf/send.hpp>

#include "amber/runtime/envelope.hpp"
#include "amber/runtime/error.hpp"

#ifndef AMBER_RUNTIME_VERSION
#define AMBER_RUNTIME_VERSION "0.0.0"
#endif

namespace amber {

const char* runtime_version() noexcept {
  return AMBER_RUNTIME_VERSION;
}

node::node(std::shared_ptr<const registry> types, node_options opts)
  : types_(std::move(types)),
    opts_(std::move(opts)),
    cfg_(std::make_unique<caf::actor_system_config>()),
    core_(std::make_shared<node_core>()) {
  cfg_->add_message_type<envelope>("amber.envelope");
  add_error_category(*cfg_);
  if (opts_.worker_threads > 0)
    cfg_->set("scheduler.max-threads", opts_.worker_threads);
  // The seed's per-cycle operation budget is CAF's per-resume throughput.
  if (opts_.config.cycle_op_budget)
    cfg_->set("scheduler.max-throughput", *opts_.config.cycle_op_budget);
  if (opts_.configure)
    opts_.configure(*cfg_);
  system_ = std::make_unique<caf::actor_system>(*cfg_);
}

node::~node() {
  stop();
  system_.reset();
}

result<component_ref> node::spawn(const std::string& type_name, const std::string& name,
                                  std::map<std::string, std::string> params) {
  uint32_t id;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    id = next_id_++; // Taken now, so that concurrent spawns never share one.
  }
  return spawn_with_id(id, type_name, name, "", std::move(params), nullptr);
}

result<component_ref> node::spawn_with_id(uint32_t id, const std::string& type_name,
                                          const std::string& name, const std::string& graph,
                                          std::map<std::string, std::string> params,
                                          std::shared_ptr<void> state, bool held) {
  auto type = types_->find(type_name);
  if (!type)
    return status(errc::unknown_type,
                  "component type '" + type_name + "' is not registered");
  if (name.empty())
    return status::invalid_argument("a component of type '" + type_name + "' needs a name");
  if (core_->find(name))
    return status::invalid_argument("component name '" + name + "' is taken");
  if (core_->find(id))
    return status::invalid_argument("instance id " + std::to_string(id) + " is taken");
  // stop() sets stopped_ under the exclusive cut lock: a spawn that gets
  // past this check finishes before stop() lists the components to kill.
  std::shared_lock<std::shared_mutex> cut_guard(core_->cut_mutex());
  {
    std::lock_guard<std::mutex> guard(mutex_);
    if (stopped_)
      return status(errc::aborted, "node '" + opts_.name + "' is stopped");
  }
  component_init init{core_, id, name, std::move(params), std::move(state), held};
  component_ref ref;
  ref.id = id;
  ref.name = name;
  ref.type_name = type_name;
  ref.package = type->package;
  ref.graph = graph;
  ref.handle = type->spawn(*system_, std::move(init));
  if (!core_->add(ref)) {
    // Another spawn took the name (or id) meanwhile.
    caf::anon_send_exit(ref.handle, caf::exit_reason::user_shutdown);
    return status::invalid_argument("component name '" + name + "' is taken");
  }
  return ref;
}

status node::install(const graph_def& graph) {
  if (graph.name.empty())
    return status::invalid_argument("a graph needs a name");
  {
    std::lock_guard<std::mutex> guard(mutex_);
    for (auto& g : graphs_)
      if (g.name == graph.name)
        return status::invalid_argument("graph '" + graph.name + "' is already installed");
  }
  std::set<std::string> names;
  for (auto& inst : graph.instances) {
    if (inst.name.empty())
      return status::invalid_argument("graph '" + graph.name + "' has an unnamed instance");
    if (!names.insert(inst.name).second || core_->find(inst.name))
      return status::invalid_argument("graph '" + graph.name + "': instance name '" + inst.name
                                      + "' is taken");
    if (!types_->find(inst.type_name))
      return status(errc::unknown_type, "graph '" + graph.name + "': instance '" + inst.name
                                          + "' has unregistered type '" + inst.type_name + "'");
  }
  for (auto& e : graph.edges) {
    for (auto* end : {&e.from, &e.to})
      if (names.count(*end) == 0 && !core_->find(*end))
        return status::invalid_argument("graph '" + graph.name + "': wire " + e.from + "."
                                        + e.port + " -> " + e.to + " names unknown instance '"
                                        + *end + "'");
  }
  for (auto& e : graph.edges)
    core_->wire(e.from, e.port, e.to);
  {
    std::lock_guard<std::mutex> guard(mutex_);
    graphs_.push_back(graph);
  }
  for (auto& inst : graph.instances) {
    uint32_t id;
    {
      std::lock_guard<std::mutex> guard(mutex_);
      id = next_id_++;
    }
    auto ref = spawn_with_id(id, inst.type_name, inst.name, graph.name, inst.params, nullptr);
    if (!ref)
      return ref.error().with_context("graph '" + graph.name + "'");
  }
  return status::ok();
}

std::optional<component_ref> node::find(const std::string& name) const {
  return core_->find(name);
}

std::optional<component_ref> node::find(uint32_t id) const {
  return core_->find(id);
}

std::vector<component_ref> node::components() const {
  return core_->components();
}

std::vector<graph_def> node::graphs() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return graphs_;
}

uint32_t node::next_instance_id() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return next_id_;
}

std::optional<digest> node::last_snapshot() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return last_snapshot_;
}

void node::set_last_snapshot(const digest& id) {
  std::lock_guard<std::mutex> guard(mutex_);
  last_snapshot_ = id;
}

bool node::wait_quiet(std::chrono::milliseconds timeout, std::chrono::milliseconds settle) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto& c = core_->counters;
  while (std::chrono::steady_clock::now() < deadline) {
    auto handled = c.handled.load(std::memory_order_acquire);
    auto delivered = c.delivered.load(std::memory_order_acquire);
    if (c.sent.load(std::memory_order_acquire) == delivered) {
      std::this_thread::sleep_for(settle);
      if (c.handled.load(std::memory_order_acquire) == handled
          && c.delivered.load(std::memory_order_acquire) == delivered
          && c.sent.load(std::memory_order_acquire) == delivered)
        return true;
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
  return false;
}

void node::attach(caf::actor actor) {
  std::lock_guard<std::mutex> guard(mutex_);
  attached_.push_back(std::move(actor));
}

void node::stop() {
  std::vector<caf::actor> attached;
  {
    std::unique_lock<std::shared_mutex> cut_guard(core_->cut_mutex());
    std::lock_guard<std::mutex> guard(mutex_);
    if (stopped_)
      return;
    stopped_ = true;
    attached.swap(attached_);
  }
  for (auto& a : attached)
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  for (auto& c : core_->components()) {
    caf::anon_send_exit(c.handle, caf::exit_reason::user_shutdown);
    core_->remove(c.id);
  }
  system_->await_all_actors_done();
}

result<component_ref> node::respawn(const component_record& rec, std::shared_ptr<void> state,
                                    const std::map<std::string, std::string>& params) {
  auto ref = spawn_with_id(rec.instance_id, rec.type_name, rec.name, rec.graph, params,
                           std::move(state), /*held=*/true);
  if (ref) {
    std::lock_guard<std::mutex> guard(mutex_);
    next_id_ = std::max(next_id_, rec.instance_id + 1);
  }
  return ref;
}

void node::adopt_graph(const graph_def& graph) {
  for (auto& e : graph.edges)
    core_->wire(e.from, e.port, e.to);
  std::lock_guard<std::mutex> guard(mutex_);
  graphs_.push_back(graph);
}

void node::set_next_instance_id(uint32_t id) {
  std::lock_guard<std::mutex> guard(mutex_);
  next_id_ = std::max(next_id_, id);
}

} // namespace amber
