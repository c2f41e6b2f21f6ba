#include "amber/actors/restore.hpp"

#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <caf/send.hpp>

#include "amber/checkpoint/snapshot.hpp"
#include "amber/runtime/atoms.hpp"
#include "amber/runtime/envelope.hpp"
#include "amber/runtime/message_codec.hpp"
#include "amber/runtime/type_check.hpp"

namespace amber {

namespace {

struct prepared_component {
  const component_record* record;
  std::shared_ptr<void> state;
  std::map<std::string, std::string> params;
};

// Reads, verifies and decodes components [begin, end) as `verify` does
// (decode_component): state, runtime record, timer messages.
status prepare_range(store& s, caf::actor_system& sys, const std::vector<component_record>& records,
                     size_t begin, size_t end, const registry& types,
                     const std::unordered_map<std::string, const instance_def*>& instances,
                     std::vector<prepared_component>& out) {
  std::string bytes;
  for (size_t i = begin; i < end; ++i) {
    auto& rec = records[i];
    auto state = load_component_state(s, sys, rec, types, &bytes);
    if (!state)
      return state.error();
    prepared_component p{&rec, std::move(*state), rec.params};
    // Snapshots from before parameters were recorded: take the graph's.
    if (p.params.empty())
      if (auto k = instances.find(rec.name); k != instances.end())
        p.params = k->second->params;
    out[i] = std::move(p);
  }
  return status::ok();
}

// Everything that can fail about the components, checked before a single
// one is spawned (`sys` decodes their timers' messages).
status prepare(store& s, caf::actor_system& sys, const loaded_snapshot& snap,
               const registry& types, std::vector<prepared_component>* out) {
  std::unordered_map<std::string, const instance_def*> instances;
  for (auto& g : snap.model.graphs)
    for (auto& inst : g.instances)
      instances.emplace(inst.name, &inst);
  auto& records = snap.cache.components;
  {
    // Names and ids must be unique, or a respawn would fail half-way.
    std::unordered_set<std::string_view> names;
    std::unordered_set<uint32_t> ids;
    names.reserve(records.size());
    ids.reserve(records.size());
    for (auto& rec : records)
      if (!names.insert(rec.name).second || !ids.insert(rec.instance_id).second)
        return status::corruption("the cache layer lists component '" + rec.name + "' (id "
                                  + std::to_string(rec.instance_id) + ") twice");
  }
  out->resize(records.size());
  // Reading, hashing and decoding states is independent per component: use
  // the cores (the store and the decoders are safe from any thread).
  size_t threads = std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()),
                                    records.size() / 2048 + 1);
  std::vector<status> results(threads);
  std::vector<std::thread> pool;
  auto chunk = (records.size() + threads - 1) / threads;
  for (size_t t = 0; t < threads; ++t) {
    auto begin = std::min(records.size(), t * chunk);
    auto end = std::min(records.size(), begin + chunk);
    auto work = [&, t, begin, end] {
      results[t] = prepare_range(s, sys, records, begin, end, types, instances, *out);
    };
    if (t + 1 == threads)
      work();
    else
      pool.emplace_back(work);
  }
  for (auto& th : pool)
    th.join();
  for (auto& r : results)
    AMBER_RETURN_IF_ERROR(r);
  return status::ok();
}

} // namespace

result<std::unique_ptr<node>> restore_node(store& s, std::string_view spec,
                                           std::shared_ptr<const registry> types,
                                           const restore_options& opts) {
  auto id = resolve_snapshot(s, spec);
  if (!id)
    return id.error();
  auto snap = load_snapshot(s, *id);
  if (!snap)
    return snap.error();
  AMBER_RETURN_IF_ERROR(check_config_matches(snap->world.config, opts.config)
                          .with_context("restoring " + id->short_hex()));
  for (auto& t : snap->model.types)
    AMBER_RETURN_IF_ERROR(types->check(t.type_name, t.package, t.state_version)
                            .with_context("restoring " + id->short_hex()));
  node_options nopts;
  nopts.name = opts.name.empty() ? snap->world.node_name : opts.name;
  nopts.config = opts.config;
  nopts.incarnation = opts.incarnation ? *opts.incarnation : snap->world.incarnation + 1;
  nopts.worker_threads = opts.worker_threads;
  nopts.configure = opts.configure;
  auto n = std::make_unique<node>(types, std::move(nopts));
  // Decoded with the new node's actor system (timer messages need its
  // types), before anything spawns.
  std::vector<prepared_component> prepared;
  AMBER_RETURN_IF_ERROR(prepare(s, n->system(), *snap, *types, &prepared)
                          .with_context("restoring " + id->short_hex()));
  // The messages that were in flight: decoded with the new node's actor
  // system (their types must be registered there) before anything spawns.
  std::vector<std::pair<const in_flight_message*, caf::message>> replay;
  for (auto& m : snap->trace.messages) {
    auto msg = decode_message(n->system(), m.payload);
    if (!msg)
      return msg.error().with_context("restoring " + id->short_hex() + ": message "
                                      + std::to_string(m.seq) + " from component "
                                      + std::to_string(m.sender));
    replay.emplace_back(&m, std::move(*msg));
  }
  for (auto& g : snap->model.graphs)
    n->adopt_graph(g);
  n->set_next_instance_id(snap->world.next_instance_id);
  for (auto& p : prepared) {
    auto ref = n->respawn(*p.record, std::move(p.state), p.params, p.record->runtime);
    if (!ref)
      return ref.error().with_context("restoring " + id->short_hex());
  }
  // The snapshot's effects not known to be performed: pending ones are
  // performed again (an idempotent sink drops those it has), its prepared
  // transactions committed, and transactions of a discarded future aborted
  // before anything runs; its committed ones are never repeated.
  for (auto& sink : opts.sinks)
    AMBER_RETURN_IF_ERROR(n->add_sink(sink).with_context("restoring " + id->short_hex()));
  AMBER_RETURN_IF_ERROR(n->core()
                          .effects()
                          .restore(snap->effects, opts.sink_timeout)
                          .with_context("restoring " + id->short_hex()));
  // Re-deliver them while every component is held: each receiver's mailbox
  // has them, in the order it first got them, ahead of anything a released
  // component sends.
  auto& core = n->core();
  for (auto& [rec, msg] : replay) {
    auto receiver = n->find(rec->receiver);
    if (!receiver)
      return status::corruption("restoring " + id->short_hex()
                                + ": a message in flight is addressed to unknown component "
                                + std::to_string(rec->receiver));
    core.add_injected(rec->receiver, 1);
    stamp st;
    st.epoch = 0;
    st.ref = rec->ref;
    st.sender = rec->sender;
    st.receiver = rec->receiver;
    st.kind = rec->kind <= static_cast<uint8_t>(stamp_kind::failure)
                ? static_cast<stamp_kind>(rec->kind)
                : stamp_kind::message;
    auto* dest = caf::actor_cast<caf::abstract_actor*>(receiver->handle);
    // The receiver's own host as sender: a lost element finds the node
    // through it (see stamped_element.hpp).
    dest->enqueue(caf::mailbox_element_ptr{new detail::stamped_message_element(
                    caf::actor_cast<caf::strong_actor_ptr>(receiver->handle), st,
                    std::move(msg))},
                  nullptr);
  }
  if (!opts.hold)
    for (auto& e : core.entries())
      caf::anon_send(e->handle, release_atom::value);
  n->set_last_snapshot(*id);
  // The restored node claims the head where it is now (which may be past
  // the restored snapshot): a second restore of the same node racing this
  // one gets `conflict` at its first checkpoint instead of moving the head
  // back and forth.
  auto head = s.get_ref(head_ref(n->name()));
  if (head)
    n->set_expected_head(*head);
  else if (head.error().is_not_found())
    n->set_expected_head(std::nullopt);
  else
    return head.error().with_context("reading the head of node '" + n->name() + "'");
  return n;
}

} // namespace amber
