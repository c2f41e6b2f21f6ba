#include "amber/runtime/node.hpp"

#include <set>
#include <shared_mutex>
#include <thread>

#include <caf/send.hpp>

#include "amber/runtime/envelope.hpp"
#include "amber/runtime/atoms.hpp"
#include "amber/runtime/error.hpp"
#include "component_host.hpp"

#ifndef AMBER_RUNTIME_VERSION
#define AMBER_RUNTIME_VERSION "0.0.0"
#endif

namespace amber {

const char* runtime_version() noexcept {
  return AMBER_RUNTIME_VERSION;
}

namespace {

component_ref to_ref(const entry_ptr& e) {
  component_ref ref;
  auto& info = *e->info;
  ref.id = info.id;
  ref.name = info.name;
  ref.type_name = info.type_name;
  ref.package = info.package;
  ref.graph = info.graph;
  ref.params = info.params;
  ref.handle = e->handle;
  return ref;
}

std::optional<component_ref> to_optional_ref(const entry_ptr& e) {
  if (!e)
    return std::nullopt;
  return to_ref(e);
}

} // namespace

node::node(std::shared_ptr<const registry> types, node_options opts)
  : types_(std::move(types)),
    opts_(std::move(opts)),
    cfg_(std::make_unique<caf::actor_system_config>()),
    core_(std::make_shared<node_core>()) {
  cfg_->add_message_type<envelope>("amber.envelope");
  cfg_->add_message_type<component_down>("amber.component_down");
  add_error_category(*cfg_);
  if (opts_.worker_threads > 0)
    cfg_->set("scheduler.max-threads", opts_.worker_threads);
  // The seed's per-cycle operation budget is CAF's per-resume throughput.
  if (opts_.config.cycle_op_budget)
    cfg_->set("scheduler.max-throughput", *opts_.config.cycle_op_budget);
  types_->configure(*cfg_);
  if (opts_.configure)
    opts_.configure(*cfg_);
  // A component type whose declared message types CAF does not know fails
  // at spawn, not at the checkpoint that finds such a message in flight.
  for (auto& rec : types_->records())
    if (auto st = registry::check_messages(*types_->find(rec.type_name), *cfg_); !st)
      unspawnable_.emplace(rec.type_name, st);
  system_ = std::make_unique<caf::actor_system>(*cfg_);
  core_->effects().set_identity(opts_.name, opts_.incarnation); // Names its transactions.
  core_->set_spawner([this](spawn_request req) {
    spawn_args args;
    args.type_name = std::move(req.type_name);
    args.name = std::move(req.name);
    args.params = std::move(req.params);
    args.parent_epoch = req.parent_epoch;
    return spawn_entry(std::move(args));
  });
}

node::~node() {
  stop();
  system_.reset();
}

result<component_ref> node::spawn(const std::string& type_name, const std::string& name,
                                  std::map<std::string, std::string> params) {
  spawn_args args;
  args.type_name = type_name;
  args.name = name;
  args.params = std::move(params);
  auto e = spawn_entry(std::move(args));
  if (!e)
    return e.error();
  return to_ref(*e);
}

result<entry_ptr> node::spawn_entry(spawn_args args) {
  // A cut starting now sees this spawn entirely or not at all.
  std::shared_lock<std::shared_mutex> cut_guard(core_->cut_mutex());
  return spawn_locked(std::move(args));
}

result<entry_ptr> node::spawn_locked(spawn_args args) {
  auto type = types_->find(args.type_name);
  if (!type)
    return status(errc::unknown_type,
                  "component type '" + args.type_name + "' is not registered");
  if (auto i = unspawnable_.find(args.type_name); i != unspawnable_.end())
    return i->second;
  if (args.name.empty())
    return status::invalid_argument("a component of type '" + args.type_name
                                    + "' needs a name");
  if (core_->find(args.name))
    return status::invalid_argument("component name '" + args.name + "' is taken");
  {
    std::lock_guard<std::mutex> guard(mutex_);
    // stop() sets stopped_ under the exclusive cut lock: a spawn that gets
    // past this check finishes before stop() lists the components to kill.
    if (stopped_)
      return status(errc::aborted, "node '" + opts_.name + "' is stopped");
    if (args.id == 0)
      args.id = next_id_++; // Taken now, so that concurrent spawns never share one.
  }
  if (core_->find(args.id))
    return status::invalid_argument("instance id " + std::to_string(args.id) + " is taken");
  auto info = std::make_shared<component_info>();
  info->id = args.id;
  info->name = args.name;
  info->type_name = args.type_name;
  info->package = type->package;
  info->state_version = type->state_version;
  info->state_class_version = type->state_class_version;
  info->graph = args.graph;
  info->params = std::move(args.params);
  auto current = core_->current_epoch();
  // From outside, a component starts in the current epoch: it is not part of
  // a cut that is open. A component's child starts in its parent's epoch,
  // and joins the open cut when its parent has not cut yet.
  auto epoch = args.parent_epoch ? *args.parent_epoch : current;
  auto e = std::make_shared<directory_entry>();
  e->info = std::move(info);
  e->born_in = epoch + 1;
  e->joiner = e->born_in <= current;
  component_init init{core_, e, std::move(args.state), std::move(args.runtime), args.held,
                      epoch};
  // Spawned lazily: it runs nothing (not make_behavior, not a stop()) until
  // it is in the directory, so its first sends are counted and its exit
  // finds it there. A held component (restore) waits for its release; any
  // other is woken now.
  bool held = args.held;
  e->handle = system_->spawn<component_host, caf::lazy_init>(std::move(init), type->make);
  if (!core_->add(e)) {
    // Another spawn took the name (or id) meanwhile: this one never runs.
    e->alive.store(false, std::memory_order_release);
    caf::anon_send_exit(e->handle, caf::exit_reason::user_shutdown);
    return status::invalid_argument("component name '" + e->info->name + "' is taken");
  }
  if (!held)
    caf::anon_send(e->handle, start_atom::value);
  return e;
}

status node::install(const graph_def& graph) {
  if (graph.name.empty())
    return status::invalid_argument("a graph needs a name");
  // The whole graph, wires and all, is in a cut or not at all.
  std::shared_lock<std::shared_mutex> cut_guard(core_->cut_mutex());
  if (core_->has_graph(graph.name))
    return status::invalid_argument("graph '" + graph.name + "' is already installed");
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
    if (auto i = unspawnable_.find(inst.type_name); i != unspawnable_.end())
      return i->second.with_context("graph '" + graph.name + "': instance '" + inst.name + "'");
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
  core_->add_graph(graph);
  for (auto& inst : graph.instances) {
    spawn_args args;
    args.type_name = inst.type_name;
    args.name = inst.name;
    args.graph = graph.name;
    args.params = inst.params;
    auto e = spawn_locked(std::move(args));
    if (!e)
      return e.error().with_context("graph '" + graph.name + "'");
  }
  return status::ok();
}

std::optional<component_ref> node::find(const std::string& name) const {
  return to_optional_ref(core_->find(name));
}

std::optional<component_ref> node::find(uint32_t id) const {
  return to_optional_ref(core_->find(id));
}

std::vector<component_ref> node::components() const {
  std::vector<component_ref> out;
  auto entries = core_->entries();
  out.reserve(entries.size());
  for (auto& e : entries)
    out.push_back(to_ref(e));
  return out;
}

std::vector<graph_def> node::graphs() const {
  return core_->graphs();
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

node::head_claim node::expected_head() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return expected_head_;
}

void node::set_expected_head(std::optional<digest> head) {
  std::lock_guard<std::mutex> guard(mutex_);
  expected_head_ = {true, std::move(head)};
}

bool node::wait_quiet(std::chrono::milliseconds timeout, std::chrono::milliseconds settle) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto balanced = [](const node_core::totals& t) { return t.sent == t.received + t.lost; };
  auto same = [](const node_core::totals& a, const node_core::totals& b) {
    return a.sent == b.sent && a.received == b.received && a.lost == b.lost
           && a.handled == b.handled;
  };
  while (std::chrono::steady_clock::now() < deadline) {
    auto before = core_->sum_counters();
    if (balanced(before)) {
      std::this_thread::sleep_for(settle);
      if (same(before, core_->sum_counters()))
        return true;
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
  return false;
}

status node::add_sink(std::shared_ptr<effect_sink> sink) {
  return core_->effects().add_sink(std::move(sink));
}

status node::deliver_effects(std::chrono::milliseconds timeout) {
  return core_->effects().deliver(timeout);
}

effect_ledger::stats_t node::effect_stats() const {
  return core_->effects().stats();
}

node::stats_t node::stats() const {
  stats_t out;
  auto t = core_->sum_counters();
  out.components = core_->size();
  out.sent = t.sent;
  out.received = t.received;
  out.lost = t.lost;
  out.handled = t.handled;
  out.undeliverable = core_->undeliverable();
  out.redelivered = t.injected;
  auto& p = core_->pauses;
  out.cuts = p.cuts.load(std::memory_order_relaxed);
  out.max_pause = std::chrono::nanoseconds(p.max_pause_ns.load(std::memory_order_relaxed));
  out.max_pause_serialize
    = std::chrono::nanoseconds(p.max_pause_serialize_ns.load(std::memory_order_relaxed));
  if (out.cuts > 0) {
    out.mean_pause = std::chrono::nanoseconds(
      p.total_pause_ns.load(std::memory_order_relaxed) / out.cuts);
    out.mean_serialize = std::chrono::nanoseconds(
      p.total_serialize_ns.load(std::memory_order_relaxed) / out.cuts);
  }
  return out;
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
  core_->set_sinks({}); // The capture actors must not outlive the system.
  // Nor the effect ledger's callbacks to them; sinks stop calling.
  core_->effects().shutdown();
  // No cut can run any more (the checkpointer went first): components exit
  // without the bookkeeping that keeps later cuts balanced.
  core_->begin_shutdown();
  for (auto& e : core_->entries())
    caf::anon_send_exit(e->handle, caf::exit_reason::user_shutdown);
  system_->await_all_actors_done();
  core_->clear();
}

result<component_ref> node::respawn(const component_record& rec, std::shared_ptr<void> state,
                                    const std::map<std::string, std::string>& params,
                                    std::string runtime) {
  spawn_args args;
  args.id = rec.instance_id;
  args.type_name = rec.type_name;
  args.name = rec.name;
  args.graph = rec.graph;
  args.params = params;
  args.state = std::move(state);
  args.runtime = std::move(runtime);
  args.held = true;
  auto e = spawn_entry(std::move(args));
  if (!e)
    return e.error();
  {
    std::lock_guard<std::mutex> guard(mutex_);
    next_id_ = std::max(next_id_, rec.instance_id + 1);
  }
  return to_ref(*e);
}

void node::adopt_graph(const graph_def& graph) {
  std::shared_lock<std::shared_mutex> cut_guard(core_->cut_mutex());
  for (auto& e : graph.edges)
    core_->wire(e.from, e.port, e.to);
  core_->add_graph(graph);
}

void node::set_next_instance_id(uint32_t id) {
  std::lock_guard<std::mutex> guard(mutex_);
  next_id_ = std::max(next_id_, id);
  // Ids below were given out by an earlier incarnation: gone, not unknown.
  if (id > 1)
    core_->note_issued(id - 1);
}

} // namespace amber
