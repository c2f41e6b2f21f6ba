// run, restore, checkpoint: commands that host a node or talk to one.

#include <signal.h>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <fmt/core.h>

#include <cstdlib>

#include "amber/actors/cluster_member.hpp"
#include "amber/actors/restore.hpp"
#include "amber/actors/transport.hpp"
#include "amber/checkpoint/snapshot.hpp"
#include "amber/runtime/atoms.hpp"
#include "amber/runtime/error.hpp"
#include "commands.hpp"
#include "cluster_file.hpp"
#include "graph_file.hpp"
#include "control_protocol.hpp"
#include "node_host.hpp"

namespace amber::cli {

using json = nlohmann::json;

namespace {

// The parsed options shared by run and restore.
struct host_plan {
  host_settings settings;
  size_t threads = 0;
};

// A cluster member's control endpoint's transport (CAF): CAF's defaults (no
// heartbeats; a request is short-lived), over mutual TLS when `tls` is set.
transport_settings control_transport(const tls_settings& tls) {
  transport_settings ts;
  ts.tls = tls;
  ts.heartbeat = std::chrono::milliseconds(0);
  ts.connection_timeout = std::chrono::milliseconds(0);
  return ts;
}

// --tls-*: all three or none, each checked (exit 2 with the reason).
int check_tls_options(const context& ctx, const tls_settings& tls) {
  if (status st = check_tls(tls); !st)
    return fail(ctx, st.with_context("--tls-ca/--tls-cert/--tls-key"), exit_usage);
  return 0;
}

// The lease on node `name`'s head in `db` (lmdb_store::lease): a second
// run or restore of the same node on the same store is refused here, at
// start, instead of both running and moving the head over each other.
result<std::unique_ptr<file_lock>> lease_node(lmdb_store& db, const std::string& name) {
  auto lease = db.lease("nodes/" + name);
  if (!lease && lease.error().code() == errc::busy)
    return status(errc::busy, "node '" + name + "' already runs on the store at "
                                + db.directory() + ": its lease " + lease.error().message()
                                + "; stop that process first, or run this node on another "
                                  "store");
  return lease;
}

int plan_host(const context& ctx, const host_cli_options& opts, host_plan* out) {
  if (!opts.checkpoint_every.empty()) {
    auto every = parse_duration(opts.checkpoint_every);
    if (!every)
      return fail(ctx, every.error().with_context("--checkpoint-every"), exit_usage);
    out->settings.every = *every;
    if (every->count() > 0 && opts.no_store)
      return fail(ctx, status::invalid_argument("--checkpoint-every needs a store: it cannot go "
                                                "with --no-store"),
                  exit_usage);
  }
  if (int rc = check_tls_options(ctx, opts.tls))
    return rc;
  if ((opts.tls.enabled() || !opts.control_token_file.empty()) && opts.control.empty())
    return fail(ctx, status::invalid_argument("--tls-ca/--tls-cert/--tls-key and "
                                              "--control-token-file secure the control "
                                              "endpoint: they need --control"),
                exit_usage);
  if (!opts.control.empty()) {
    auto addr = parse_control_address(opts.control);
    if (!addr)
      return fail(ctx, addr.error().with_context("--control"), exit_usage);
    if (addr->is_unix() && opts.tls.enabled())
      return fail(ctx, status::invalid_argument("--control " + addr->to_string()
                                                + ": TLS is for TCP; a Unix socket is "
                                                  "protected by its 0600 permissions"),
                  exit_usage);
    if (!addr->is_unix() && opts.control_token_file.empty())
      return fail(ctx,
                  status::invalid_argument(
                    "--control " + addr->to_string()
                    + ": a TCP control endpoint needs --control-token-file (callers prove "
                      "themselves with it); or use --control unix:PATH"),
                  exit_usage);
    if (!addr->is_unix() && !opts.tls.enabled() && !is_loopback(addr->tcp.host))
      return fail(ctx,
                  status::invalid_argument(
                    "--control " + addr->to_string()
                    + ": without --tls-ca/--tls-cert/--tls-key the control endpoint only "
                      "listens on a loopback address (127.0.0.0/8, ::1, localhost)"),
                  exit_usage);
    if (!opts.control_token_file.empty()) {
      auto token = read_token_file(opts.control_token_file);
      if (!token)
        return fail(ctx, token.error().with_context("--control-token-file"), exit_usage);
      out->settings.control_auth.token = *token;
    }
    out->settings.control = *addr;
    out->settings.control_auth.tls = opts.tls;
  }
  if (opts.threads)
    out->threads = *opts.threads;
  return 0;
}

} // namespace

int keep_head_branch(const context& ctx, store& s, const std::string& node_name,
                     const digest& id) {
  auto head = s.get_ref(head_ref(node_name));
  if (!head) {
    if (head.error().is_not_found())
      return 0;
    return fail(ctx, head.error().with_context("reading the head of node '" + node_name + "'"));
  }
  if (*head == id)
    return 0;
  // The restored node's checkpoints move the head off the current head's
  // branch; a ref keeps that branch from `gc --keep` (gc keeps every ref).
  auto kept = kept_branch_ref(node_name, *head);
  if (status st = s.set_ref(kept, *head); !st)
    return fail(ctx, st.with_context("keeping the head's branch as " + kept));
  warn("restoring " + id.short_hex() + ", which is not the head of node '" + node_name + "' ("
       + head->short_hex() + "): this node's checkpoints will move the head to a new branch; "
       "the old head stays reachable as ref " + kept + " (gc keeps every ref)");
  return 0;
}

int cmd_run(const context& ctx, const std::string& graph_path, const host_cli_options& opts) {
  block_stop_signals();
  host_plan plan;
  if (int rc = plan_host(ctx, opts, &plan))
    return rc;
  auto file = load_graph_file(graph_path, ctx.known_types);
  if (!file)
    return fail(ctx, file.error(), file.error().is_not_found() ? exit_not_found : exit_bad_graph);
  std::shared_ptr<lmdb_store> db;
  result<std::unique_ptr<file_lock>> lease = std::unique_ptr<file_lock>();
  if (!opts.no_store) {
    auto opened = open_store(ctx, store_access::create);
    if (!opened)
      return fail(ctx, opened.error());
    db = *opened;
    lease = lease_node(*db, file->node_name);
    if (!lease)
      return fail(ctx, lease.error());
    auto head = db->get_ref(head_ref(file->node_name));
    if (head)
      warn("the store already has a head for node '" + file->node_name + "' ("
           + head->short_hex() + "); this run starts afresh and its checkpoints will move the "
           "head (continue from it with `amber restore " + file->node_name + "`)");
  }
  node_options nopts;
  nopts.name = file->node_name;
  nopts.config = file->config;
  nopts.worker_threads = opts.threads ? plan.threads : file->threads;
  nopts.configure = ctx.configure;
  node n(ctx.types, nopts);
  for (auto& g : file->graphs)
    if (status st = n.install(g); !st)
      return fail(ctx, st.with_context(graph_path), exit_bad_graph);
  return host_node(ctx, n, db, plan.settings);
}

int cmd_restore(const context& ctx, const std::string& spec, const host_cli_options& opts) {
  block_stop_signals();
  host_plan plan;
  if (int rc = plan_host(ctx, opts, &plan))
    return rc;
  auto db = open_store(ctx, store_access::write);
  if (!db)
    return fail(ctx, db.error());
  digest id;
  if (int rc = resolve(ctx, **db, spec, &id))
    return rc;
  // The node runs with the config the snapshot records.
  auto snap = load_snapshot(**db, id);
  if (!snap)
    return fail(ctx, snap.error().with_context("restoring " + id.short_hex()));
  auto lease = lease_node(**db, snap->meta.node.name);
  if (!lease)
    return fail(ctx, lease.error());
  if (int rc = keep_head_branch(ctx, **db, snap->meta.node.name, id))
    return rc;
  restore_options ropts;
  ropts.config = snap->world.config;
  ropts.worker_threads = plan.threads;
  ropts.configure = ctx.configure;
  auto n = restore_node(**db, id.to_hex(), ctx.types, ropts);
  if (!n)
    return fail(ctx, n.error());
  plan.settings.restored_from = id;
  return host_node(ctx, **n, *db, plan.settings);
}

int cmd_run_member(const context& ctx, const cluster_cli_options& cluster,
                   const host_cli_options& opts, bool from_store) {
  block_stop_signals();
  auto spec = load_cluster_file(cluster.file);
  if (!spec)
    return fail(ctx, spec.error(), spec.error().is_not_found() ? exit_not_found : exit_bad_graph);
  auto* me = spec->find(cluster.member);
  if (!me)
    return fail(ctx, status::invalid_argument("cluster '" + spec->name + "' (" + cluster.file
                                              + ") has no member '" + cluster.member + "'"),
                exit_usage);
  auto remote = other_members(*spec, cluster.member);
  auto file = load_graph_file(me->graph_file, ctx.known_types, &remote);
  if (!file)
    return fail(ctx, file.error(), file.error().is_not_found() ? exit_not_found : exit_bad_graph);
  lmdb_options lo;
  lo.create_if_missing = !from_store;
  auto db = lmdb_store::open(me->store_dir, lo);
  if (!db)
    return fail(ctx, db.error().with_context("member '" + me->name + "'"));
  cluster_member_options mo;
  mo.from_store = from_store;
  mo.graphs = file->graphs;
  mo.config = file->config;
  mo.worker_threads = opts.threads ? *opts.threads : file->threads;
  mo.configure = ctx.configure;
  auto m = cluster_member::start(*spec, cluster.member, ctx.types, *db, std::move(mo));
  if (!m)
    return fail(ctx, m.error());
  auto say = [&](const json& j, const std::string& text) {
    if (ctx.json)
      print_json(j);
    else
      fmt::print("{}\n", text);
    std::fflush(stdout);
  };
  say({{"event", "started"},
       {"cluster", spec->name},
       {"member", me->name},
       {"incarnation", (*m)->incarnation()},
       {"address", me->host + ":" + std::to_string(me->port)},
       {"control", me->control.empty() ? json(nullptr) : json(me->control)},
       {"store", me->store_dir},
       {"restored", from_store},
       {"pid", ::getpid()}},
      fmt::format("member '{}' of cluster '{}' running at {}:{}, incarnation {}{}", me->name,
                  spec->name, me->host, me->port, (*m)->incarnation(),
                  from_store ? " (restored: the cluster rolls back)" : ""));
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  bool ready = false;
  uint64_t incarnation = (*m)->incarnation();
  for (;;) {
    timespec ts{0, 50'000'000};
    int sig = ::sigtimedwait(&set, nullptr, &ts);
    if (sig == SIGINT || sig == SIGTERM)
      break;
    bool now = (*m)->ready();
    auto inc = (*m)->incarnation();
    if (now != ready || inc != incarnation) {
      ready = now;
      incarnation = inc;
      say({{"event", now ? "ready" : "waiting"}, {"member", me->name}, {"incarnation", inc}},
          fmt::format("member '{}' {} (incarnation {})", me->name,
                      now ? "ready: linked to every member" : "waiting for the other members",
                      inc));
    }
  }
  (*m)->stop();
  say({{"event", "stopped"}, {"member", me->name}}, "stopped");
  return exit_ok;
}

namespace {

// Asks a control endpoint: `msg` must be answered with a string.
result<std::string> ask_control(const endpoint& ep, const tls_settings& tls,
                                std::chrono::milliseconds timeout, caf::message msg) {
  caf::actor_system_config cfg;
  AMBER_RETURN_IF_ERROR(configure_transport(cfg, control_transport(tls)));
  add_error_category(cfg);
  cfg.set("scheduler.max-threads", 2);
  caf::actor_system sys{cfg};
  auto remote = connect_actor(sys, ep.host, ep.port, tls.enabled());
  if (!remote)
    return status(errc::io_error, "cannot reach the control endpoint at " + ep.to_string() + ": "
                                    + remote.error().message());
  caf::scoped_actor self{sys};
  result<std::string> out = status(errc::internal, "no answer");
  self->request(*remote, timeout, std::move(msg))
    .receive([&](std::string& text) { out = std::move(text); },
             [&](caf::error& err) { out = from_caf_error(sys, err); });
  return out;
}

} // namespace

int cmd_rollback(const context& ctx, const checkpoint_cli_options& opts, const std::string& id) {
  auto ep = parse_endpoint(opts.control);
  if (!ep)
    return fail(ctx, ep.error().with_context("--control"), exit_usage);
  auto timeout = parse_duration(opts.timeout);
  if (!timeout || timeout->count() == 0)
    return fail(ctx, status::invalid_argument("--timeout: '" + opts.timeout
                                              + "' is not a positive duration"),
                exit_usage);
  if (int rc = check_tls_options(ctx, opts.tls))
    return rc;
  auto r = ask_control(*ep, opts.tls, *timeout, caf::make_message(rollback_atom::value, id));
  if (!r) {
    if (r.error().code() == errc::io_error)
      return fail(ctx, r.error(), exit_unreachable);
    return fail(ctx, r.error().with_context("rollback through " + ep->to_string()));
  }
  if (ctx.json)
    print_json({{"rollback", "started"}, {"control", ep->to_string()}});
  else
    fmt::print("rollback started: every member restores its part and runs at a new incarnation\n");
  return exit_ok;
}

namespace {

// `amber checkpoint` of a cluster member: its control endpoint is a CAF
// actor under the cluster's transport (docs/CLUSTER.md).
result<digest> checkpoint_member(const endpoint& ep, const tls_settings& tls,
                                 std::chrono::milliseconds timeout) {
  auto hex = ask_control(ep, tls, timeout, caf::make_message(checkpoint_atom::value));
  if (!hex)
    return hex.error();
  auto id = digest::from_hex(*hex);
  if (!id)
    return status::corruption("the node answered '" + *hex + "', which is not a snapshot id");
  return *id;
}

// `amber checkpoint` of a node run with --control (control_protocol.hpp).
result<digest> checkpoint_node(const control_address& to, const control_credentials& cred,
                               std::chrono::milliseconds timeout) {
  auto reply = call_control(to, cred, "checkpoint", timeout);
  if (!reply)
    return reply.error();
  auto hex = reply->value("id", std::string());
  auto id = digest::from_hex(hex);
  if (!id)
    return status::corruption("the node answered '" + hex + "', which is not a snapshot id");
  return *id;
}

} // namespace

int cmd_checkpoint(const context& ctx, const checkpoint_cli_options& opts) {
  auto to = parse_control_address(opts.control);
  if (!to)
    return fail(ctx, to.error().with_context("--control"), exit_usage);
  if (int rc = check_tls_options(ctx, opts.tls))
    return rc;
  auto timeout = parse_duration(opts.timeout);
  if (!timeout || timeout->count() == 0)
    return fail(ctx, status::invalid_argument("--timeout: '" + opts.timeout
                                              + "' is not a positive duration"),
                exit_usage);
  if (to->is_unix() && opts.tls.enabled())
    return fail(ctx, status::invalid_argument("--tls-ca/--tls-cert/--tls-key are for TCP; a "
                                              "Unix socket needs none"),
                exit_usage);
  control_credentials cred;
  cred.tls = opts.tls;
  if (!opts.control_token_file.empty()) {
    auto token = read_token_file(opts.control_token_file);
    if (!token)
      return fail(ctx, token.error().with_context("--control-token-file"), exit_usage);
    cred.token = *token;
  }
  // A node that drops the connection must not kill this process mid-write.
  ::signal(SIGPIPE, SIG_IGN);
  const bool amber_protocol = to->is_unix() || !cred.token.empty();
  auto out = amber_protocol ? checkpoint_node(*to, cred, *timeout)
                            : checkpoint_member(to->tcp, opts.tls, *timeout);
  if (!out) {
    auto code = out.error().code();
    if (code == errc::io_error)
      return fail(ctx, out.error(), exit_unreachable);
    if (code == errc::timeout)
      return fail(ctx,
                  status(errc::timeout, "the node at " + to->to_string() + " did not answer within "
                                          + opts.timeout),
                  exit_unreachable);
    return fail(ctx, out.error().with_context("checkpoint of the node at " + to->to_string()));
  }
  if (ctx.json)
    print_json({{"id", out->to_hex()}, {"control", to->to_string()}});
  else
    fmt::print("{}\n", out->to_hex());
  return exit_ok;
}

} // namespace amber::cli
