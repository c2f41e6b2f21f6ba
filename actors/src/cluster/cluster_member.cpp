#include "amber/actors/cluster_member.hpp"

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include <caf/io/middleman.hpp>
#include <caf/logger.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "amber/actors/checkpointer.hpp"
#include "amber/actors/restore.hpp"
#include "amber/actors/transport.hpp"
#include "amber/checkpoint/cluster_manifest.hpp"
#include "amber/runtime/atoms.hpp"
#include "amber/runtime/error.hpp"
#include "amber/storage/digest.hpp"
#include "agent.hpp"
#include "link_endpoint.hpp"
#include "outbound_link.hpp"
#include "publish.hpp"
#include "wire.hpp"

namespace amber {

using namespace cluster;

namespace {

// What one incarnation of the member runs.
struct member_runtime {
  std::unique_ptr<node> n;
  std::unique_ptr<checkpointer> cp;
  caf::actor agent;
  caf::actor endpoint;
  caf::actor control;
  std::map<std::string, caf::actor> links;
};

// The control endpoint: checkpoint and rollback requests go to the agent.
caf::behavior control_endpoint(caf::event_based_actor* self, caf::actor agent) {
  self->set_default_handler(caf::drop);
  return {
    [self, agent](checkpoint_atom a) { return self->delegate(agent, a); },
    [self, agent](rollback_req_atom a, std::string& spec) {
      return self->delegate(agent, a, std::move(spec));
    },
  };
}

// CAF 0.17 keeps, per thread, a strong reference to the logger of the
// last actor system that thread spawned into (scoped actors included), and
// an actor system's destructor waits until its logger is gone. A rollback
// destroys a node's system on another thread than the one that made it:
// every thread that touched a system lets go of it when done.
struct forget_system_on_exit {
  ~forget_system_on_exit() { caf::logger::set_current_actor_system(nullptr); }
};

// CAF's own heartbeats and connection timeout for the links. Over
// caf::openssl they cut connections whose TLS handshake is still running at
// the next heartbeat tick (docs/TLS.md), so links flap under load: there the
// links' own pings alone detect a lost member.
transport_settings link_transport(const cluster_spec& spec) {
  transport_settings ts;
  ts.tls = spec.tls;
  if (spec.tls.enabled()) {
    ts.heartbeat = spec.heartbeat;
    ts.connection_timeout = std::chrono::milliseconds(0);
  } else {
    ts.heartbeat = spec.heartbeat;
    ts.connection_timeout = spec.member_timeout;
  }
  return ts;
}

} // namespace

struct cluster_member::impl {
  cluster_spec spec;
  std::string self;
  const cluster_member_spec* me = nullptr;
  std::shared_ptr<const registry> types;
  std::shared_ptr<store> db;
  cluster_member_options opts;

  mutable std::shared_mutex runtime_mutex; // Held shared while using rt, unique to replace it.
  std::unique_ptr<member_runtime> rt;

  mutable std::mutex mutex; // Guards what follows.
  mutable std::condition_variable cv;
  uint64_t incarnation = 0;
  bool is_ready = false;
  std::deque<rollback_order> orders;
  bool stopping = false;
  std::thread supervisor;

  std::function<void(caf::actor_system_config&)> configure_fn() {
    auto user = opts.configure;
    auto ts = link_transport(spec);
    return [user, ts](caf::actor_system_config& cfg) {
      // Checked by start() first: an error here cannot happen.
      (void) configure_transport(cfg, ts);
      register_wire_types(cfg);
      if (user)
        user(cfg);
    };
  }

  /// Wires a node (components held or not yet installed) into the cluster.
  result<std::unique_ptr<member_runtime>> build(std::unique_ptr<node> n, bool held,
                                                bool lead_rollback, bool start_rollback,
                                                std::string rollback_manifest = {},
                                                std::string restored_from = {}) {
    auto out = std::make_unique<member_runtime>();
    auto& sys = n->system();
    {
      // Before the agent exists: it may report ready at once.
      std::lock_guard<std::mutex> guard(mutex);
      incarnation = n->incarnation();
      is_ready = false;
    }
    checkpoint_options copts;
    copts.timeout = spec.checkpoint_timeout;
    copts.checkpoint_on_stop = false;
    out->cp = std::make_unique<checkpointer>(*n, db, copts);
    agent_config ac;
    ac.spec = &spec;
    ac.self = self;
    ac.n = n.get();
    ac.db = db;
    ac.coordinator = out->cp->coordinator();
    ac.incarnation = n->incarnation();
    ac.held = held;
    ac.lead_rollback = lead_rollback;
    ac.start_rollback = start_rollback;
    ac.rollback_manifest = std::move(rollback_manifest);
    ac.restored_from = std::move(restored_from);
    ac.on_rollback = [this](rollback_order o) {
      std::lock_guard<std::mutex> guard(mutex);
      orders.push_back(std::move(o));
      cv.notify_all();
    };
    ac.on_ready = [this](bool r) {
      std::lock_guard<std::mutex> guard(mutex);
      is_ready = r;
      cv.notify_all();
    };
    out->agent = spawn_agent(sys, ac);
    endpoint_config ec;
    ec.core = n->core_ptr();
    ec.self = self;
    ec.incarnation = n->incarnation();
    ec.agent = out->agent;
    ec.coordinator = out->cp->coordinator();
    out->endpoint = spawn_endpoint(sys, ec);
    std::vector<std::string> names;
    std::vector<std::string> peers;
    std::vector<std::pair<std::string, caf::actor>> link_list;
    for (auto& m : spec.members) {
      names.push_back(m.name);
      if (m.name == self)
        continue;
      peers.push_back(m.name);
      link_config lc;
      lc.core = n->core_ptr();
      lc.self = self;
      lc.peer = m.name;
      lc.host = m.host;
      lc.port = m.port;
      lc.tls = spec.tls.enabled();
      lc.incarnation = n->incarnation();
      lc.heartbeat = spec.heartbeat;
      lc.member_timeout = spec.member_timeout;
      lc.agent = out->agent;
      lc.endpoint = out->endpoint;
      lc.dialer = self < m.name;
      auto link = spawn_outbound_link(sys, lc);
      out->links.emplace(m.name, link);
      link_list.emplace_back(m.name, link);
    }
    n->core().set_cluster(self, names, link_list);
    caf::anon_send(out->cp->coordinator(), cluster_setup_atom::value, out->agent, peers);
    caf::anon_send(out->agent, links_atom::value, out->links);
    caf::anon_send(out->endpoint, links_atom::value, out->links);
    n->attach(out->agent);
    n->attach(out->endpoint);
    for (auto& [name, link] : out->links)
      n->attach(link);
    auto port = publish_endpoint(sys, out->endpoint, me->host, me->port, spec.tls.enabled());
    if (!port)
      return port.error().with_context("member '" + self + "' of cluster '" + spec.name + "'");
    if (!me->control.empty()) {
      auto colon = me->control.rfind(':');
      auto host = me->control.substr(0, colon);
      auto cport = static_cast<uint16_t>(std::stoi(me->control.substr(colon + 1)));
      out->control = sys.spawn(control_endpoint, out->agent);
      n->attach(out->control);
      auto p = publish_endpoint(sys, out->control, host, cport, spec.tls.enabled());
      if (!p)
        return p.error().with_context("the control endpoint of member '" + self + "'");
    }
    if (opts.on_node)
      opts.on_node(*n);
    out->n = std::move(n);
    return out;
  }

  restore_options restore_opts(uint64_t inc) {
    restore_options ro;
    ro.config = opts.config;
    ro.worker_threads = opts.worker_threads;
    ro.configure = configure_fn();
    ro.incarnation = inc;
    ro.hold = true;
    ro.name = self;
    ro.sinks = opts.sinks;
    return ro;
  }

  /// Restores our part of `manifest_bytes` at `inc`, held.
  result<std::unique_ptr<member_runtime>> restore_part(const std::string& manifest_bytes,
                                                       uint64_t inc, bool lead, bool start) {
    auto m = decode_cluster_manifest(manifest_bytes);
    if (!m)
      return m.error();
    auto part = m->find(self);
    if (!part)
      return status::not_found("cluster snapshot has no part for member '" + self + "'");
    auto n = restore_node(*db, part->snapshot.to_hex(), types, restore_opts(inc));
    if (!n)
      return n.error().with_context("member '" + self + "' restoring its part of cluster '"
                                    + spec.name + "'");
    return build(std::move(*n), /*held=*/true, lead, start, lead ? manifest_bytes : std::string(),
                 sha256(manifest_bytes).to_hex());
  }

  void teardown() {
    if (!rt)
      return;
    rt->cp.reset();
    rt->n->stop();
    rt.reset();
  }

  void supervise() {
    for (;;) {
      rollback_order o;
      {
        std::unique_lock<std::mutex> guard(mutex);
        cv.wait(guard, [this] { return stopping || !orders.empty(); });
        if (stopping)
          return;
        // The order with the highest incarnation wins; older ones are moot.
        auto best = std::max_element(orders.begin(), orders.end(),
                                     [](const rollback_order& a, const rollback_order& b) {
                                       return a.incarnation < b.incarnation;
                                     });
        o = std::move(*best);
        orders.clear();
      }
      if (o.incarnation <= incarnation)
        continue;
      forget_system_on_exit forget;
      std::unique_lock<std::shared_mutex> guard(runtime_mutex);
      if (std::getenv("AMBER_CLUSTER_DEBUG"))
        fprintf(stderr, "[%s] rolling back to incarnation %llu%s\n", self.c_str(),
                (unsigned long long) o.incarnation, o.lead ? " (leading)" : "");
      teardown();
      if (std::getenv("AMBER_CLUSTER_DEBUG"))
        fprintf(stderr, "[%s] torn down\n", self.c_str());
      (void) adopt_cluster_manifest(*db, o.manifest);
      auto next = restore_part(o.manifest, o.incarnation, o.lead, false);
      if (!next) {
        // Without a node this member can neither run nor answer: the others
        // would wait for it for ever. Exit; restart it with `amber restore`.
        fprintf(stderr, "amber: member '%s' could not roll back, exiting: %s\n", self.c_str(),
                next.error().to_string().c_str());
        std::fflush(stderr);
        std::_Exit(1);
      }
      rt = std::move(*next);
    }
  }
};

cluster_member::cluster_member(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

cluster_member::~cluster_member() {
  stop();
}

result<std::unique_ptr<cluster_member>>
cluster_member::start(const cluster_spec& spec, const std::string& member,
                      std::shared_ptr<const registry> types, std::shared_ptr<store> s,
                      cluster_member_options opts) {
  forget_system_on_exit forget;
  auto p = std::make_unique<impl>();
  p->spec = spec;
  p->self = member;
  p->me = p->spec.find(member);
  if (!p->me)
    return status::invalid_argument("cluster '" + spec.name + "' has no member '" + member + "'");
  {
    // Refused here with a clear message, never by CAF aborting the process.
    caf::actor_system_config probe;
    auto ts = link_transport(spec);
    AMBER_RETURN_IF_ERROR(
      configure_transport(probe, ts).with_context("cluster '" + spec.name + "'"));
  }
  p->types = std::move(types);
  p->db = std::move(s);
  p->opts = std::move(opts);
  if (p->opts.from_store) {
    auto head = p->db->get_ref(cluster_head_ref(spec.name));
    if (!head)
      return status::not_found("member '" + member + "': its store has no committed snapshot "
                               "of cluster '" + spec.name + "' to restore");
    std::string bytes;
    AMBER_RETURN_IF_ERROR(p->db->get_manifest(*head, &bytes));
    auto m = decode_cluster_manifest(bytes);
    if (!m)
      return m.error();
    // Provisional (incarnation 0: it fences off every running member, and
    // counts for nothing): the rollback this member starts as soon as it is
    // linked gives everyone max + 1 and restores this member again.
    auto rt = p->restore_part(bytes, 0, false, /*start_rollback=*/true);
    if (!rt)
      return rt.error();
    p->rt = std::move(*rt);
  } else {
    node_options no;
    no.name = member;
    // Incarnation 0 is reserved for a member back from its store that has
    // not rolled back yet: every running member fences it off.
    no.incarnation = 1;
    no.config = p->opts.config;
    no.worker_threads = p->opts.worker_threads;
    no.configure = p->configure_fn();
    auto n = std::make_unique<node>(p->types, std::move(no));
    for (auto& sink : p->opts.sinks)
      AMBER_RETURN_IF_ERROR(n->add_sink(sink).with_context("member '" + member + "'"));
    auto rt = p->build(std::move(n), false, false, false);
    if (!rt)
      return rt.error();
    p->rt = std::move(*rt);
    for (auto& g : p->opts.graphs)
      AMBER_RETURN_IF_ERROR(p->rt->n->install(g).with_context("member '" + member + "'"));
  }
  auto* raw = p.get();
  p->supervisor = std::thread([raw] { raw->supervise(); });
  return std::unique_ptr<cluster_member>(new cluster_member(std::move(p)));
}

const std::string& cluster_member::name() const {
  return impl_->self;
}

const cluster_spec& cluster_member::spec() const {
  return impl_->spec;
}

uint64_t cluster_member::incarnation() const {
  std::lock_guard<std::mutex> guard(impl_->mutex);
  return impl_->incarnation;
}

bool cluster_member::ready() const {
  std::lock_guard<std::mutex> guard(impl_->mutex);
  return impl_->is_ready;
}

bool cluster_member::wait_ready(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> guard(impl_->mutex);
  return impl_->cv.wait_for(guard, timeout, [this] { return impl_->is_ready; });
}

namespace {

template <class... Ts>
result<std::string> ask_agent(node& n, const caf::actor& agent, std::chrono::milliseconds timeout,
                              Ts&&... xs) {
  forget_system_on_exit forget;
  result<std::string> out = status(errc::timeout, "no answer");
  caf::scoped_actor self{n.system()};
  self->request(agent, timeout, std::forward<Ts>(xs)...)
    .receive([&](std::string& s) { out = std::move(s); },
             [&](caf::error& err) { out = from_caf_error(n.system(), err); });
  return out;
}

} // namespace

result<digest> cluster_member::checkpoint(std::chrono::milliseconds timeout) {
  std::shared_lock<std::shared_mutex> guard(impl_->runtime_mutex);
  if (!impl_->rt)
    return status(errc::aborted, "member '" + impl_->self + "' is stopped");
  auto r = ask_agent(*impl_->rt->n, impl_->rt->agent, timeout, checkpoint_atom::value);
  if (!r)
    return r.error();
  auto id = digest::from_hex(*r);
  if (!id)
    return status(errc::internal, "the cluster answered '" + *r + "', not a snapshot id");
  return *id;
}

status cluster_member::rollback(std::optional<digest> id, std::chrono::milliseconds timeout) {
  uint64_t before = incarnation();
  {
    std::shared_lock<std::shared_mutex> guard(impl_->runtime_mutex);
    if (!impl_->rt)
      return status(errc::aborted, "member '" + impl_->self + "' is stopped");
    auto r = ask_agent(*impl_->rt->n, impl_->rt->agent, timeout, rollback_req_atom::value,
                       id ? id->to_hex() : std::string());
    if (!r)
      return r.error();
  }
  std::unique_lock<std::mutex> guard(impl_->mutex);
  if (!impl_->cv.wait_for(guard, timeout,
                          [&] { return impl_->incarnation > before && impl_->is_ready; }))
    return status(errc::timeout, "cluster '" + impl_->spec.name + "' did not finish rolling back within "
                                   + std::to_string(timeout.count()) + " ms");
  return status::ok();
}

void cluster_member::with_node(const std::function<void(node&)>& f) {
  forget_system_on_exit forget;
  std::shared_lock<std::shared_mutex> guard(impl_->runtime_mutex);
  if (impl_->rt)
    f(*impl_->rt->n);
}

caf::actor cluster_member::checkpoint_actor() const {
  std::shared_lock<std::shared_mutex> guard(impl_->runtime_mutex);
  return impl_->rt ? impl_->rt->agent : caf::actor{};
}

void cluster_member::stop() {
  if (!impl_)
    return;
  {
    std::lock_guard<std::mutex> guard(impl_->mutex);
    impl_->stopping = true;
    impl_->cv.notify_all();
  }
  if (impl_->supervisor.joinable())
    impl_->supervisor.join();
  std::unique_lock<std::shared_mutex> guard(impl_->runtime_mutex);
  impl_->teardown();
}

} // namespace amber
