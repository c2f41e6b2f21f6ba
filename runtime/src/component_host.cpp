#include "component_host.hpp"

#include <algorithm>
#include <cstdio>

#include <caf/actor_system.hpp>
#include <caf/detail/invoke_result_visitor.hpp>
#include <caf/send.hpp>

#include "amber/runtime/atoms.hpp"
#include "amber/runtime/message_codec.hpp"

namespace amber {

namespace {

using clock_type = std::chrono::steady_clock;

void raise_to(std::atomic<uint64_t>& target, uint64_t value) {
  auto current = target.load(std::memory_order_relaxed);
  while (value > current
         && !target.compare_exchange_weak(current, value, std::memory_order_relaxed)) {
  }
}

// How many unexpected messages one component reports before it goes quiet.
constexpr uint64_t unexpected_reports = 10;

} // namespace

caf::result<caf::message> component_host::on_unexpected(caf::message_view& x) {
  // CAF's default handler prints to stdout, which belongs to the program's
  // output (amber run --json); report on stderr, and answer a request with
  // CAF's unexpected_message error as its drop would.
  if (++unexpected_ <= unexpected_reports) {
    auto& info = *entry_->info;
    std::fprintf(stderr,
                 "amber: warning: component '%s' (%s) has no handler for %s; dropped%s\n",
                 info.name.c_str(), info.type_name.c_str(),
                 caf::to_string(x.content()).c_str(),
                 unexpected_ == unexpected_reports ? " (further ones are not reported)" : "");
  }
  return caf::sec::unexpected_message;
}

component_host::component_host(caf::actor_config& cfg, component_init init,
                               make_component_fn make)
  : caf::event_based_actor(cfg),
    core_(init.core),
    entry_(init.entry),
    restored_record_(std::move(init.runtime)),
    held_(init.held),
    epoch_(init.epoch) {
  impl_ = make(init);
  impl_->host_ = this;
  effects_on_ = impl_->issues_effects();
}

component_host::~component_host() = default;

caf::scheduled_actor::default_handler component_host::unexpected_handler() {
  return [this](caf::scheduled_actor*, caf::message_view& x) { return on_unexpected(x); };
}

const char* component_host::name() const {
  return "amber.component";
}

void component_host::initialize() {
  caf::event_based_actor::initialize();
  if (!entry_->alive.load(std::memory_order_acquire)) {
    // Lost a race for its name: never part of the node.
    quit(caf::exit_reason::user_shutdown);
    return;
  }
  set_down_handler([this](caf::down_msg& dm) { on_down(dm); });
  // Unexpected messages are dropped (requests get an error) and reported on
  // stderr, never printed on stdout.
  set_default_handler(unexpected_handler());
  if (held_) {
    // Restore: run nothing of the component (not even make_behavior, whose
    // sends could overtake re-delivered messages) until released; skipped
    // messages stay in the mailbox, in order.
    set_default_handler(caf::skip);
    become(caf::behavior{[this](release_atom) {
      held_ = false;
      set_default_handler(unexpected_handler());
      start_user_code();
    }});
    return;
  }
  start_user_code();
}

void component_host::start_user_code() {
  started_ = true;
  begin_cause(cause_kind::other);
  initial_behavior_ = impl_->make_behavior();
  if (!restored_record_.empty())
    restore_record();
  if (!record_.mode.empty())
    become(impl_->mode_behavior(record_.mode));
  else
    become(initial_behavior_);
  apply_pending_mode();
  // A child spawned into an open cut joins it with its initial state.
  auto current = core_->current_epoch();
  if (entry_->joiner && current > epoch_)
    take_cut(current);
}

void component_host::restore_record() {
  runtime_record rec;
  if (!decode(restored_record_, &rec, "runtime record of " + entry_->info->name)) {
    // Checked by restore before anything spawned; nothing to resume.
    restored_record_.clear();
    return;
  }
  restored_record_.clear();
  record_.mode = rec.mode;
  record_.next_ref = rec.next_ref;
  auto now = clock_type::now();
  for (auto& t : rec.timers) {
    auto msg = decode_message(system(), t.payload);
    if (!msg)
      continue; // Checked by restore as well.
    auto due = now + std::chrono::milliseconds(std::max<int64_t>(0, t.remaining_ms));
    timers_[t.id] = {due, std::move(*msg)};
  }
  arm_timers();
  for (auto& r : rec.requests) {
    if (!r.failed.empty()) {
      // It had failed before it was sent; the failure was not delivered yet.
      requests_[r.id] = {r.target, r.reply_key, r.error_key, r.failed};
      deliver_failure_later(r.id, r.failed);
      continue;
    }
    requests_[r.id] = {r.target, r.reply_key, r.error_key, std::string()};
    if (!core_->find(r.target)) {
      requests_.erase(r.id);
      fail_later(r.error_key, "component " + std::to_string(r.target)
                                + " is not part of the restored node");
    }
  }
  for (auto& w : rec.monitors)
    watch(w.name);
  for (auto& c : rec.inbound)
    inbound_[c.sender] = c.received;
  // make_behavior ran first; it issues effects only on a fresh start.
  other_causes_ = std::max(other_causes_, rec.other_causes);
}

// -- receiving ------------------------------------------------------------------

caf::invoke_message_result component_host::consume(caf::mailbox_element& x) {
  if (held_)
    return caf::event_based_actor::consume(x);
  // A cut is taken between two handlers, never inside one: once a cut has
  // opened, the next message of any kind finds this component's state as it
  // was before it (a legal Lai-Yang snapshot point: before any message from
  // after the cut is processed).
  auto current = core_->current_epoch();
  if (current > epoch_)
    take_cut(current);
  if (effects_on_)
    begin_cause(cause_kind::other); // on_stamped and on_timer name theirs.
  if (detail::is_stamped(x)) {
    on_stamped(static_cast<detail::stamped_element_base&>(x));
    return caf::invoke_message_result::consumed;
  }
  if (on_control(x))
    return caf::invoke_message_result::consumed;
  // Input from outside the node (a client, a tool) may change the state.
  touch();
  entry_->counters.handled.store(++handled_, std::memory_order_relaxed);
  auto result = caf::event_based_actor::consume(x);
  apply_pending_mode();
  return result;
}

bool component_host::on_control(caf::mailbox_element& x) {
  auto& xs = x.content();
  if (xs.size() == 1 && xs.match_elements<start_atom>())
    return true; // The wake-up after spawning: initialize() did the work.
  if (xs.size() == 1 && xs.match_elements<snapshot_atom>()) {
    // A tool asks for the encoded state (tests compare live and restored).
    if (x.sender && x.mid.is_request())
      x.sender->enqueue(caf::make_mailbox_element(ctrl(), x.mid.response_id(), {},
                                                  impl_->save_state()),
                        context());
    return true;
  }
  if (xs.size() < 2 || xs.size() > 3)
    return false;
  if (xs.size() == 2 && xs.match_elements<cut_atom, uint64_t>()) {
    take_cut(xs.get_as<uint64_t>(1));
    return true;
  }
  if (xs.size() == 2 && xs.match_elements<timer_atom, uint64_t>()) {
    on_timer(xs.get_as<uint64_t>(1));
    return true;
  }
  if (xs.size() == 3 && xs.match_elements<fail_atom, uint64_t, std::string>()) {
    on_failure(xs.get_as<uint64_t>(1), xs.get_as<std::string>(2));
    apply_pending_mode();
    return true;
  }
  return false;
}

void component_host::on_stamped(detail::stamped_element_base& x) {
  x.st.consumed = true;
  auto& st = x.st;
  if (st.epoch > epoch_) {
    // The first message from after a cut we have not taken part in yet:
    // snapshot first, so the state excludes everything after the cut.
    take_cut(st.epoch);
  } else if (st.epoch < epoch_) {
    // Sent before our latest cut, received after it: it was in flight.
    if (auto trace = core_->sinks().trace) {
      auto rec = std::make_shared<flight_report>();
      rec->epoch = epoch_;
      rec->receiver = entry_->info->id;
      rec->st = st;
      rec->payload = x.copy_content_to_message();
      send(trace, flight_atom::value, flight_report_ptr{std::move(rec)});
    }
  }
  touch();
  if (effects_on_)
    begin_cause(cause_kind::message, st.sender, ++inbound_[st.sender]);
  switch (st.kind) {
    case stamp_kind::message:
      dispatch(x.content());
      break;
    case stamp_kind::request:
      answer(st, x.content());
      break;
    case stamp_kind::response:
      on_response(st, x.content());
      break;
    case stamp_kind::failure: {
      auto& xs = x.content();
      on_failure(st.ref, xs.match_elements<std::string>() ? xs.get_as<std::string>(0)
                                                           : std::string("request failed"));
      break;
    }
  }
  // Counted once its handler ran, sends included: a chain of messages never
  // shows sent == received to node::wait_quiet while a link is being handled.
  // (The cut's count was taken above, before this message.)
  entry_->counters.received.store(++received_, std::memory_order_release);
  apply_pending_mode();
}

namespace {

// A plain message's handler result goes nowhere: no message is built for it.
class discard_result final : public caf::detail::invoke_result_visitor {
public:
  void operator()() override {}
  void operator()(caf::error&) override {}
  void operator()(caf::message&) override {}
  void operator()(const caf::none_t&) override {}
};

} // namespace

void component_host::dispatch(caf::type_erased_tuple& xs) {
  if (!has_behavior())
    return;
  // No copy of the behavior: a become() inside the handler is deferred
  // until it returns (apply_pending_mode), so this one stays alive.
  discard_result ignore;
  bhvr_stack().back()(ignore, xs);
}

void component_host::answer(const stamp& st, caf::type_erased_tuple& xs) {
  caf::optional<caf::message> res;
  if (has_behavior())
    res = bhvr_stack().back()(xs);
  if (!res) {
    reply(st.sender, stamp_kind::failure, st.ref,
          caf::make_message("component '" + entry_->info->name
                            + "' has no handler for the request"));
    return;
  }
  if (res->match_elements<caf::error>()) {
    reply(st.sender, stamp_kind::failure, st.ref,
          caf::make_message("component '" + entry_->info->name + "' answered with an error: "
                            + system().render(res->get_as<caf::error>(0))));
    return;
  }
  reply(st.sender, stamp_kind::response, st.ref, std::move(*res));
}

void component_host::reply(uint32_t to, stamp_kind kind, uint64_t ref, caf::message msg) {
  detail::send_ticket t;
  if (!prepare_send(to, kind, ref, t))
    return; // The requester is gone; prepare_send counted it.
  detail::enqueue(t, caf::mailbox_element_ptr{new detail::stamped_message_element(
                       std::move(t.self), t.st, std::move(msg))});
}

void component_host::on_response(const stamp& st, caf::type_erased_tuple& xs) {
  auto i = requests_.find(st.ref);
  if (i == requests_.end())
    return; // Answered twice, or after a restore that failed it: nothing waits.
  auto req = std::move(i->second);
  requests_.erase(i);
  auto error = detail::find_error(req.error_key);
  auto f = detail::find_reply(req.reply_key);
  if (!f) {
    if (error)
      error(*impl_, status(errc::unknown_type, "no continuation '" + req.reply_key
                                                 + "' in this program"));
    return;
  }
  if (!f(*impl_, xs) && error)
    error(*impl_, status::invalid_argument("the response to request " + std::to_string(st.ref)
                                           + " does not match " + req.reply_key));
}

void component_host::on_failure(uint64_t ref, const std::string& why) {
  auto i = requests_.find(ref);
  if (i == requests_.end())
    return;
  auto key = std::move(i->second.error_key);
  requests_.erase(i);
  if (auto g = detail::find_error(key))
    g(*impl_, status(errc::not_found, why));
}

// -- sending --------------------------------------------------------------------

send_result component_host::unknown_receiver() {
  core_->count_undeliverable();
  return {send_result::unknown};
}

std::optional<uint32_t> component_host::id_of(const std::string& name) {
  auto i = names_.find(name);
  if (i != names_.end() && i->second->alive.load(std::memory_order_acquire))
    return i->second->info->id;
  auto e = core_->find(name);
  if (!e) {
    if (i != names_.end())
      names_.erase(i);
    return std::nullopt;
  }
  auto id = e->info->id;
  names_[name] = std::move(e);
  return id;
}

const std::vector<uint32_t>& component_host::wired(const std::string& port) {
  auto version = core_->wiring_version();
  if (version != wiring_version_) {
    ports_.clear();
    wiring_version_ = version;
  }
  auto i = ports_.find(port);
  if (i != ports_.end()) {
    bool all_alive = true;
    for (auto& e : i->second.entries)
      all_alive = all_alive && e->alive.load(std::memory_order_acquire);
    if (all_alive)
      return i->second.ids;
    // A target exited: its name may belong to a new component now.
    ports_.erase(i);
  }
  port_cache cache;
  auto targets = core_->targets(entry_->info->name, port);
  for (auto& name : targets) {
    if (auto id = id_of(name)) {
      cache.ids.push_back(*id);
      cache.entries.push_back(names_.at(name));
    }
  }
  if (cache.ids.size() == targets.size())
    return ports_.emplace(port, std::move(cache)).first->second.ids;
  // A target is missing (exited, not yet spawned again): look again next
  // time instead of caching its absence.
  unresolved_ = std::move(cache.ids);
  return unresolved_;
}

send_result component_host::prepare_send(uint32_t to, stamp_kind kind, uint64_t ref,
                                         detail::send_ticket& t) {
  auto i = peers_.find(to);
  if (i == peers_.end()) {
    auto e = core_->find(to);
    if (!e) {
      if (!core_->was_issued(to))
        return unknown_receiver();
      core_->count_undeliverable();
      return {send_result::gone}; // Ids are never reused: it has exited.
    }
    i = peers_.emplace(to, peer{std::move(e), 0}).first;
  }
  return prepare_send_to(i->second, kind, ref, t);
}

send_result component_host::prepare_send_named(const std::string& name, detail::send_ticket& t) {
  // One lookup by name on the hot path: the name's peer, while it lives.
  auto i = named_.find(name);
  if (i == named_.end() || !i->second->entry->alive.load(std::memory_order_acquire)) {
    auto id = id_of(name);
    if (!id)
      return unknown_receiver();
    auto p = peers_.find(*id);
    if (p == peers_.end())
      p = peers_.emplace(*id, peer{names_.at(name), 0}).first;
    i = named_.insert_or_assign(name, &p->second).first;
  }
  return prepare_send_to(*i->second, stamp_kind::message, 0, t);
}

send_result component_host::prepare_send_to(peer& p, stamp_kind kind, uint64_t ref,
                                            detail::send_ticket& t) {
  if (!p.entry->alive.load(std::memory_order_acquire)) {
    // Keep the count: the receiver's exit already retired what it got.
    core_->count_undeliverable();
    return {send_result::gone};
  }
  // A message stamped before a cut must go to a member of that cut. Handlers
  // start in the current epoch (consume), so this only happens when a cut
  // opened while this handler ran and the receiver was born after that: the
  // cut cannot be taken in the middle of a handler, so that cut is spoiled
  // (the coordinator aborts it; the next one succeeds).
  if (p.entry->born_in > epoch_ + 1)
    core_->spoil(p.entry->born_in - 1); // Every cut from ours to its birth.
  auto seq = static_cast<uint32_t>(++p.sent);
  entry_->counters.sent.store(++sent_, std::memory_order_relaxed);
  t.receiver = caf::actor_cast<caf::abstract_actor*>(p.entry->handle);
  t.self = ctrl();
  t.context = context();
  t.st = {epoch_, ref, entry_->info->id, p.entry->info->id, seq, kind, false};
  return {send_result::sent};
}

send_result component_host::prepare_request(uint32_t to, const std::string& reply_key,
                                            const std::string& error_key,
                                            detail::send_ticket& t) {
  auto ref = record_.next_ref++;
  auto r = prepare_send(to, stamp_kind::request, ref, t);
  if (!r) {
    fail_later(error_key, "component " + std::to_string(to)
                            + (r.code == send_result::gone ? " has exited" : " is unknown"));
    return r;
  }
  requests_[ref] = {to, reply_key, error_key, std::string()};
  touch();
  return r;
}

void component_host::fail_later(const std::string& error_key, std::string why) {
  if (error_key.empty())
    return;
  // Through the mailbox, so the continuation never runs inside the handler
  // that sent the request. Not stamped: it crosses no channel between
  // components, so no cut counts it.
  auto ref = record_.next_ref++;
  // Kept in the runtime record until delivered: a cut in between must not
  // lose the failure (a restore delivers it again).
  requests_[ref] = {entry_->info->id, std::string(), error_key, why};
  deliver_failure_later(ref, std::move(why));
}

void component_host::deliver_failure_later(uint64_t ref, std::string why) {
  enqueue(caf::make_mailbox_element(nullptr, caf::make_message_id(), {}, fail_atom::value, ref,
                                    std::move(why)),
          context());
}

// -- timers ---------------------------------------------------------------------

uint64_t component_host::start_timer(std::chrono::milliseconds delay, caf::message msg) {
  auto id = record_.next_ref++;
  auto due = clock_type::now() + delay;
  timers_[id] = {due, std::move(msg)};
  arm_timers();
  touch();
  return id;
}

void component_host::arm_timers() {
  // One entry in CAF's clock at a time, for the earliest timer: an entry
  // cannot be taken back, and holds this actor until it is due, so a timer
  // cancelled and started again on every message must not add one each time.
  if (timers_.empty())
    return;
  auto earliest = timers_.begin()->second.due;
  for (auto& kv : timers_)
    earliest = std::min(earliest, kv.second.due);
  if (armed_ && *armed_ <= earliest)
    return; // The entry in flight fires in time; it re-arms then.
  armed_ = earliest;
  // The entry carries its own time: when it fires, that time has come by
  // the clock's reckoning (a test clock fires entries without moving now()).
  auto at = static_cast<uint64_t>(earliest.time_since_epoch().count());
  system().clock().schedule_message(earliest, ctrl(),
                                    caf::make_mailbox_element(nullptr, caf::make_message_id(),
                                                              {}, timer_atom::value, at));
}

// -- effects --------------------------------------------------------------------

status component_host::issue_effect(const std::string& sink, std::string payload) {
  auto& name = entry_->info->name;
  if (!effects_on_)
    return status::invalid_argument("component '" + name
                                    + "' issued an effect but its type does not declare "
                                      "issues_effects()");
  auto& ledger = core_->effects();
  if (!ledger.has_sink(sink))
    return status::invalid_argument("component '" + name + "' issued an effect to sink '" + sink
                                    + "', which the node does not have");
  if (cause_.kind == cause_kind::other && ordinal_ == 0)
    cause_.a = ++other_causes_;
  std::string key = name;
  switch (cause_.kind) {
    case cause_kind::message:
      key += "/m" + std::to_string(cause_.a) + "." + std::to_string(cause_.b);
      break;
    case cause_kind::timer:
      key += "/t" + std::to_string(cause_.a);
      break;
    case cause_kind::other:
      key += "/x" + std::to_string(cause_.a);
      break;
  }
  key += "/" + std::to_string(ordinal_++);
  // Issued in our epoch: part of the snapshot of the next cut we take.
  ledger.issue(epoch_, effect{sink, std::move(key), entry_->info->id, std::move(payload)});
  touch();
  return status::ok();
}

bool component_host::cancel_timer(uint64_t id) {
  touch();
  return timers_.erase(id) > 0;
}

void component_host::on_timer(uint64_t at) {
  auto fired_for = clock_type::time_point(clock_type::duration(at));
  if (armed_ && *armed_ == fired_for)
    armed_.reset();
  auto now = std::max(clock_type::now(), fired_for);
  // Every timer due by now, earliest first (ties: in the order started).
  std::vector<std::pair<clock_type::time_point, uint64_t>> due;
  for (auto& [id, t] : timers_)
    if (t.due <= now)
      due.emplace_back(t.due, id);
  std::sort(due.begin(), due.end());
  for (auto& d : due) {
    auto i = timers_.find(d.second);
    if (i == timers_.end())
      continue; // Cancelled by an earlier one's handler.
    auto payload = std::move(i->second.payload);
    timers_.erase(i);
    touch();
    if (effects_on_)
      begin_cause(cause_kind::timer, d.second);
    if (has_behavior())
      bhvr_stack().back()(payload);
    apply_pending_mode();
  }
  arm_timers();
}

// -- children, stopping, monitors, modes ------------------------------------------

result<uint32_t> component_host::spawn_child(const std::string& type_name,
                                             const std::string& name,
                                             std::map<std::string, std::string> params) {
  auto e = core_->spawn({type_name, name, std::move(params), epoch_});
  if (!e)
    return e.error();
  touch();
  if ((*e)->joiner)
    joiners_.push_back((*e)->info);
  return (*e)->info->id;
}

void component_host::stop_component() {
  quit(caf::exit_reason::user_shutdown);
}

bool component_host::watch(const std::string& name) {
  touch();
  auto e = core_->find(name);
  if (e && e->info->id >= node_core::remote_id_base)
    e = nullptr; // Monitors are local: another member's components come and go with rollbacks.
  if (!e) {
    // Gone already: tell the component as if it had just exited, through
    // the mailbox (like fail_later): never inside the handler that called
    // monitor(), and never before the component's handlers are in place (a
    // restored monitor is renewed from the release handler, and
    // make_behavior may call monitor() before it returns its handlers).
    enqueue(caf::make_mailbox_element(nullptr, caf::make_message_id(), {},
                                      component_down{0, name}),
            context());
    return false;
  }
  auto addr = e->handle.address();
  monitors_[e->info->id] = {name, addr};
  monitor(e->handle);
  return true;
}

void component_host::unwatch(uint32_t id) {
  auto i = monitors_.find(id);
  if (i == monitors_.end())
    return;
  demonitor(i->second.addr);
  monitors_.erase(i);
  touch();
}

void component_host::on_down(const caf::down_msg& dm) {
  for (auto i = monitors_.begin(); i != monitors_.end(); ++i) {
    if (i->second.addr != dm.source)
      continue;
    auto msg = caf::make_message(component_down{i->first, i->second.name});
    monitors_.erase(i);
    touch();
    if (has_behavior())
      bhvr_stack().back()(msg);
    apply_pending_mode();
    return;
  }
}

void component_host::switch_mode(const std::string& mode) {
  pending_mode_ = mode;
  touch();
}

void component_host::apply_pending_mode() {
  if (!pending_mode_)
    return;
  record_.mode = std::move(*pending_mode_);
  pending_mode_.reset();
  if (record_.mode.empty())
    become(initial_behavior_);
  else
    become(impl_->mode_behavior(record_.mode));
}

// -- cuts -----------------------------------------------------------------------

void component_host::take_cut(uint64_t epoch) {
  if (epoch <= epoch_ || !started_)
    return;
  auto start = clock_type::now();
  auto sinks = core_->sinks();
  if (!sinks.cache) {
    epoch_ = epoch;
    joiners_.clear();
    return; // No checkpointer: nothing collects this cut.
  }
  auto generation = core_->generation();
  auto rep = std::make_shared<cut_report>();
  rep->epoch = epoch;
  rep->id = entry_->info->id;
  rep->info = entry_->info;
  rep->changed = dirty_ || generation != generation_;
  if (rep->changed) {
    rep->state = impl_->save_state();
    rep->runtime = encode_record();
    blob_epoch_ = epoch;
  }
  auto serialized = clock_type::now();
  // Only now: a component that dies serializing (an exception) exits in
  // its old epoch, and the cut drops it at once.
  epoch_ = epoch;
  dirty_ = false;
  generation_ = generation;
  rep->blob_epoch = blob_epoch_;
  rep->sent = counts();
  prune_peers();
  rep->received = received_;
  rep->joiners = std::move(joiners_);
  joiners_.clear();
  cut_report_ptr ptr{std::move(rep)};
  // Hashing and storing happen in the capture actors, not here.
  send(sinks.cache, state_atom::value, ptr);
  send(sinks.trace, count_atom::value, std::move(ptr));
  auto done = clock_type::now();
  auto& c = core_->pauses;
  c.cuts.fetch_add(1, std::memory_order_relaxed);
  using ns = std::chrono::nanoseconds;
  auto pause = static_cast<uint64_t>(std::chrono::duration_cast<ns>(done - start).count());
  auto serialize = static_cast<uint64_t>(
    std::chrono::duration_cast<ns>(serialized - start).count());
  c.total_pause_ns.fetch_add(pause, std::memory_order_relaxed);
  c.total_serialize_ns.fetch_add(serialize, std::memory_order_relaxed);
  if (pause > c.max_pause_ns.load(std::memory_order_relaxed)) {
    raise_to(c.max_pause_ns, pause);
    raise_to(c.max_pause_serialize_ns, serialize);
  }
}

std::string component_host::encode_record() {
  if (record_.mode.empty() && timers_.empty() && requests_.empty() && monitors_.empty()
      && inbound_.empty() && other_causes_ == 0)
    return {};
  runtime_record rec;
  rec.mode = record_.mode;
  rec.next_ref = record_.next_ref;
  auto now = clock_type::now();
  for (auto& [id, t] : timers_) {
    auto bytes = encode_message(system(), t.payload);
    // An unregistered payload type cannot be restored: keep the timer out
    // rather than fail the component (the type check at spawn catches most).
    if (!bytes)
      continue;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(t.due - now).count();
    rec.timers.push_back({id, left, std::move(*bytes)});
  }
  for (auto& [id, r] : requests_)
    rec.requests.push_back({id, r.target, r.reply_key, r.error_key, r.failed});
  for (auto& [id, w] : monitors_)
    rec.monitors.push_back({id, w.name});
  rec.inbound.reserve(inbound_.size());
  for (auto& [sender, n] : inbound_)
    rec.inbound.push_back({sender, n});
  std::sort(rec.inbound.begin(), rec.inbound.end(),
            [](const runtime_record::channel& x, const runtime_record::channel& y) {
              return x.sender < y.sender;
            });
  rec.other_causes = other_causes_;
  return encode(rec);
}

void component_host::prune_peers() {
  // A peer that was gone already at our previous cut exited before the cut
  // now open began: no open or later cut needs our count for it, and its
  // entry holds its actor's memory. (One gone only since is still counted:
  // a cut it reported to may need it.)
  std::vector<const peer*> pruned;
  for (auto i = peers_.begin(); i != peers_.end();) {
    auto& p = i->second;
    if (!p.entry->alive.load(std::memory_order_acquire)) {
      if (p.dead_at_last_cut) {
        pruned.push_back(&p);
        i = peers_.erase(i);
        continue;
      }
      p.dead_at_last_cut = true;
    }
    ++i;
  }
  if (pruned.empty())
    return;
  for (auto i = named_.begin(); i != named_.end();)
    i = std::find(pruned.begin(), pruned.end(), i->second) != pruned.end() ? named_.erase(i)
                                                                           : std::next(i);
  for (auto i = names_.begin(); i != names_.end();)
    i = i->second->alive.load(std::memory_order_acquire) ? std::next(i) : names_.erase(i);
  ports_.clear(); // Rebuilt on the next emit, from the names that live.
}

sent_counts component_host::counts() const {
  sent_counts out;
  out.reserve(peers_.size());
  for (auto& kv : peers_)
    if (kv.second.sent > 0)
      out.emplace_back(kv.first, kv.second.sent);
  return out;
}

void component_host::on_exit() {
  // Messages this component sent before it died are still counted by their
  // receivers: hand our counts to the node so later cuts balance, and tell
  // a running cut at once that we will not report.
  if (!started_ && !entry_->alive.load(std::memory_order_acquire)) {
    // Never joined the directory (lost a race for its name): nothing to retire.
  } else if (core_->stopping()) {
    // The node is going down: no later cut needs our counts.
    entry_->alive.store(false, std::memory_order_release);
  } else {
    retire();
  }
  // CAF does not destroy a class-based actor's members when it exits: drop
  // our handles to other components now, or the cycles between them keep
  // every actor and the node alive.
  named_.clear();
  peers_.clear();
  names_.clear();
  ports_.clear();
  monitors_.clear();
  timers_.clear();
  initial_behavior_ = caf::behavior{};
  // Our directory entry holds our handle: keeping the entry would keep us
  // alive for ever. Others (the directory until it forgets us, senders'
  // caches) still hold it; nothing of ours touches it after this.
  entry_.reset();
  caf::event_based_actor::on_exit();
}

void component_host::retire() {
  auto sent = counts();
  uint64_t seq;
  {
    std::shared_lock<std::shared_mutex> guard(core_->cut_mutex());
    seq = core_->remove(entry_->info->id, sent);
  }
  auto sinks = core_->sinks();
  if (sinks.cache) {
    auto rep = std::make_shared<exit_report>();
    rep->id = entry_->info->id;
    rep->epoch = epoch_;
    rep->removal_seq = seq;
    rep->sent = std::move(sent);
    rep->joiners = std::move(joiners_);
    exit_report_ptr ptr{std::move(rep)};
    caf::anon_send(sinks.cache, stop_atom::value, ptr);
    caf::anon_send(sinks.trace, stop_atom::value, std::move(ptr));
  }
}

} // namespace amber
