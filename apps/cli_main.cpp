// amber::cli::main: the command line of `amber` and of a service's own
// binary. Each subcommand lives in store_commands.cpp, graph_command.cpp or
// node_commands.cpp; docs/CLI.md describes them all.

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <filesystem>

#include "amber/checkpoint/archive.hpp"
#include "amber/cli/main.hpp"
#include "amber/runtime/node.hpp"
#include "amber/runtime/restore_decoder.hpp"
#include "amber/storage/lmdb_store.hpp"
#include "commands.hpp"
#include "node_host.hpp"

namespace amber::cli {

namespace {

constexpr const char* exit_codes_help =
  "Exit codes: 0 ok; 1 failed or found damage; 2 bad command line; 3 not found;\n"
  "4 ambiguous short id; 5 bad graph file; 6 control endpoint unreachable or silent;\n"
  "128+N stopped by a second signal N. See docs/CLI.md.";

// A whole number in [lo, hi], checked as text: CLI11 would otherwise turn
// "-1" into a huge unsigned value and let an out-of-range number through.
CLI::Validator whole_number(uint64_t lo, uint64_t hi) {
  auto range = "a whole number from " + std::to_string(lo) + " to " + std::to_string(hi);
  return CLI::Validator(
    [lo, hi, range](std::string& text) -> std::string {
      if (text.empty() || text.size() > 19
          || text.find_first_not_of("0123456789") != std::string::npos)
        return "'" + text + "' is not " + range;
      auto value = std::stoull(text);
      if (value < lo || value > hi)
        return "'" + text + "' is not " + range;
      return std::string();
    },
    "INT in [" + std::to_string(lo) + " - " + std::to_string(hi) + "]");
}

// "amber 0.1.0 (store format 1, export format 1)"; a service's binary:
// "kv (amber 0.1.0, store format 1, export format 1)".
std::string version_text(const std::string& name) {
  auto formats = fmt::format("store format {}, export format {}",
                             amber::lmdb_store::format_version, amber::archive_format_version);
  if (name == "amber")
    return fmt::format("amber {} ({})", amber::runtime_version(), formats);
  return fmt::format("{} (amber {}, {})", name, amber::runtime_version(), formats);
}

// The options every command has: --json, --version, and --store where it
// reads or writes a store.
void common(CLI::App* sub, context& ctx, bool store) {
  sub->add_flag("--json", ctx.json, "Machine-readable output: JSON on stdout");
  sub->set_version_flag("--version", version_text(ctx.program));
  if (store)
    sub->add_option("--store", ctx.store_dir,
                    "Store directory (default: $AMBER_STORE, else ./amber-data)");
}

// Mutual TLS for the control endpoint (docs/TLS.md): all three or none.
void tls_options(CLI::App* sub, amber::tls_settings& tls) {
  sub->add_option("--tls-ca", tls.ca_file, "Control endpoint over mutual TLS: the CA (PEM)");
  sub->add_option("--tls-cert", tls.cert_file, "... this process's certificate, signed by the CA");
  sub->add_option("--tls-key", tls.key_file, "... and its unencrypted private key");
}

void host_options(CLI::App* sub, host_cli_options& opts) {
  sub->add_option("--checkpoint-every", opts.checkpoint_every,
                  "Checkpoint periodically, e.g. 500ms, 10s, 5m (needs a store)");
  sub->add_option("--control", opts.control,
                  "Serve a control endpoint on unix:PATH (a 0600 socket), or on HOST:PORT "
                  "with --control-token-file (port 0: any free port; loopback only "
                  "without --tls-*)");
  sub->add_option("--control-token-file", opts.control_token_file,
                  "The secret a TCP control caller must send (one line, 16+ characters)");
  sub->add_option("--threads", opts.threads, "Scheduler threads (default: one per core)")
    ->check(whole_number(1, 1024));
  tls_options(sub, opts.tls);
}

std::string name_of(const program& prog, int argc, char** argv) {
  if (!prog.name.empty())
    return prog.name;
  if (argc > 0 && argv[0] && *argv[0])
    return std::filesystem::path(argv[0]).filename().string();
  return "amber";
}

} // namespace

int main(int argc, char** argv, std::shared_ptr<const registry> types,
         std::function<void(caf::actor_system_config&)> configure) {
  program prog;
  prog.types = std::move(types);
  prog.configure = std::move(configure);
  return main(argc, argv, prog);
}

int main(int argc, char** argv, const program& prog) {
  context ctx;
  ctx.program = name_of(prog, argc, argv);
  set_program_name(ctx.program);
  ctx.types = prog.types ? prog.types : std::make_shared<const registry>();
  ctx.configure = prog.configure;
  for (auto& rec : ctx.types->records())
    ctx.known_types.insert(rec.type_name);

  CLI::App app{ctx.program + ": " + prog.description};
  app.name(ctx.program);
  app.set_version_flag("--version", version_text(ctx.program));
  app.require_subcommand(1);
  app.footer(exit_codes_help);

  std::vector<std::pair<CLI::App*, const extra_command*>> extras;

  std::string graph_path;
  host_cli_options host;
  cluster_cli_options cluster_opts;
  auto run = app.add_subcommand("run", "Run a node from a graph file until SIGINT/SIGTERM");
  auto run_graph =
    run->add_option("GRAPH", graph_path, "Graph file (TOML, see docs/GRAPH_FORMAT.md)");
  auto run_cluster = run->add_option("--cluster", cluster_opts.file,
                                     "Run one member of the cluster in this file (docs/CLUSTER.md)");
  auto run_member = run->add_option("--member", cluster_opts.member, "The member to run");
  run_cluster->needs(run_member);
  run_member->needs(run_cluster);
  run_graph->excludes(run_cluster);
  common(run, ctx, true);
  host_options(run, host);
  run->add_flag("--no-store", host.no_store, "Run without a store: nothing is checkpointed")
    ->excludes("--store");

  std::string spec;
  auto restore = app.add_subcommand("restore", "Start a node from a snapshot and keep it running");
  auto restore_id = restore->add_option("ID", spec, "Snapshot id, short id, ref or node name");
  auto restore_cluster = restore->add_option(
    "--cluster", cluster_opts.file,
    "Bring a member of this cluster back from its store: the whole cluster rolls back");
  auto restore_member = restore->add_option("--member", cluster_opts.member, "The member");
  restore_cluster->needs(restore_member);
  restore_member->needs(restore_cluster);
  restore_id->excludes(restore_cluster);
  common(restore, ctx, true);
  host_options(restore, host);

  checkpoint_cli_options rollback_opts;
  std::string rollback_id;
  auto rollback = app.add_subcommand(
    "rollback", "Roll a whole cluster back to a cluster snapshot (the newest by default)");
  rollback->add_option("--control", rollback_opts.control, "Any member's control endpoint, HOST:PORT")
    ->required();
  rollback->add_option("ID", rollback_id, "The cluster snapshot id (64 hex digits)");
  rollback->add_option("--timeout", rollback_opts.timeout, "How long to wait for the answer")
    ->capture_default_str();
  common(rollback, ctx, false);

  checkpoint_cli_options ckpt;
  auto checkpoint = app.add_subcommand("checkpoint", "Ask a running node for a checkpoint");
  checkpoint->add_option("--control", ckpt.control,
                         "The node's control endpoint: unix:PATH, or HOST:PORT (with "
                         "--control-token-file; without it, a cluster member's endpoint)")
    ->required();
  checkpoint->add_option("--control-token-file", ckpt.control_token_file,
                         "The node's control token (TCP)");
  checkpoint->add_option("--timeout", ckpt.timeout, "How long to wait for the answer")
    ->capture_default_str();
  tls_options(checkpoint, ckpt.tls);
  common(checkpoint, ctx, false);

  log_options log_opts;
  auto log = app.add_subcommand("log", "The snapshot history, newest first");
  log->add_flag("--graph", log_opts.graph, "Draw the parent DAG");
  log->add_option("--node", log_opts.node, "Only this node's snapshots");
  log->add_option("--cluster", log_opts.cluster,
                  "The cluster snapshots of cluster NAME (from clusters/NAME/head), newest first")
    ->excludes("--node")->excludes("--graph");
  log->add_option("-n,--max-count", log_opts.max, "At most this many snapshots")
    ->check(whole_number(0, uint64_t{1} << 40));
  common(log, ctx, true);

  show_options show_opts;
  auto show = app.add_subcommand("show", "A snapshot's manifest in full, its layers and components");
  show->add_option("ID", show_opts.spec,
                   "Snapshot id, short id, ref, node name, or cluster:NAME[~N]")->required();
  show->add_flag("--components", show_opts.components, "List every component");
  show->add_option("--component", show_opts.component,
                   "Print this component's state as JSON instead (as `cat`)");
  common(show, ctx, true);

  std::string cat_spec, cat_component;
  auto cat = app.add_subcommand("cat", "One component's state as JSON");
  cat->add_option("ID", cat_spec, "Snapshot id, short id, ref or node name[~N]")->required();
  cat->add_option("COMPONENT", cat_component, "The component's name")->required();
  common(cat, ctx, true);

  std::string diff_a, diff_b;
  auto diff = app.add_subcommand(
    "diff", "Components changed, added and removed from A to B, with their state changes");
  diff->add_option("A", diff_a, "The older snapshot")->required();
  diff->add_option("B", diff_b, "The newer snapshot")->required();
  common(diff, ctx, true);

  verify_cli_options verify_opts;
  auto verify = app.add_subcommand("verify", "Recompute every digest and check every reference");
  verify->add_option("--cluster", verify_opts.cluster_file,
                     "A cluster file: verify a cluster snapshot and every member snapshot it "
                     "names, each in its member's store");
  auto verify_types = verify->add_flag(
    "--types", verify_opts.types,
    "Instead: check every component of snapshot ID (default: every node's head) against "
    "this binary's types — type known, package version compatible, state decodes after "
    "its migrations — and report each problem");
  verify_types->excludes("--cluster");
  auto verify_id = verify->add_option(
    "ID", verify_opts.spec,
    "With --cluster: the cluster snapshot (default: the newest head); with --types: the "
    "snapshot (default: every node's head)");
  common(verify, ctx, true);

  gc_cli_options gc_opts;
  auto gc = app.add_subcommand("gc", "Remove old snapshots and blobs no kept snapshot reaches");
  gc->add_option("--keep", gc_opts.keep, "Keep each node's N newest snapshots (default: all)")
    ->check(whole_number(1, uint64_t{1} << 40));
  gc->add_flag("--dry-run", gc_opts.dry_run, "Only say what would be removed");
  gc->add_option("--lock-timeout", gc_opts.lock_timeout,
                 "How long to wait for the store's write lock when another process (a node's "
                 "checkpoint) holds it, e.g. 500ms, 30s (default: 30s)");
  common(gc, ctx, true);

  std::string export_file;
  bool export_force = false;
  auto exp = app.add_subcommand("export", "Write one snapshot and all its blobs to a file");
  exp->add_option("ID", spec, "Snapshot id, short id, ref or node name")->required();
  exp->add_option("FILE", export_file, "The file to write")->required();
  exp->add_flag("--force", export_force, "Replace FILE if it exists");
  std::string export_cluster;
  exp->add_option("--cluster", export_cluster,
                  "A cluster file: export cluster snapshot ID with every member's snapshot");
  common(exp, ctx, true);

  import_cli_options import_opts;
  auto imp = app.add_subcommand("import", "Read a snapshot file into a store, verified first");
  imp->add_option("FILE", import_opts.file, "A file written by `amber export`")->required();
  imp->add_flag("--set-head", import_opts.set_head,
                "Point the node's head at the snapshot even when it has one");
  imp->add_option("--cluster", import_opts.cluster_file,
                  "A cluster file: import a cluster export, each member's part into its store");
  common(imp, ctx, true);

  ui_cli_options ui_opts;
  auto ui = app.add_subcommand(
    "ui", "Browse the store in a web browser: history, components, graphs, states, diffs");
  ui->add_option("--port", ui_opts.port,
                 "Port on 127.0.0.1 (0: any free one); the URL is printed on stdout")
    ->capture_default_str()
    ->check(whole_number(0, 65535));
  common(ui, ctx, true);

  for (auto& cmd : prog.commands) {
    auto sub = app.add_subcommand(cmd.name, cmd.description);
    sub->prefix_command();      // everything after the name is the command's
    sub->set_help_flag();       // its own --help too
    extras.emplace_back(sub, &cmd);
  }

  graph_options graph_opts;
  auto graph = app.add_subcommand(
    "graph", "The component topology of a graph file or snapshot, or the snapshot DAG");
  graph->add_option("TARGET", graph_opts.target,
                    "A graph file or a snapshot; none: the store's snapshot DAG");
  graph->add_flag("--dot", graph_opts.dot, "Graphviz DOT");
  graph->add_option("--cluster", graph_opts.cluster_file,
                    "A cluster file: every member's components and the wires between them")
    ->excludes("TARGET");
  common(graph, ctx, true);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? exit_ok : exit_usage;
  }

  for (auto& [sub, cmd] : extras)
    if (sub->parsed())
      return cmd->run(sub->remaining());

  ctx.finish_setup();
  // verify decodes states and messages as a restore by this program would.
  ctx.make_decoder = [&ctx] { return amber::make_restore_decoder(ctx.types, ctx.configure); };

  if (run->parsed()) {
    if (!cluster_opts.file.empty())
      return cmd_run_member(ctx, cluster_opts, host, false);
    if (graph_path.empty())
      return fail(ctx, amber::status::invalid_argument("run needs a GRAPH file or --cluster"),
                  exit_usage);
    return cmd_run(ctx, graph_path, host);
  }
  if (restore->parsed()) {
    if (!cluster_opts.file.empty())
      return cmd_run_member(ctx, cluster_opts, host, true);
    if (spec.empty())
      return fail(ctx, amber::status::invalid_argument("restore needs an ID or --cluster"),
                  exit_usage);
    return cmd_restore(ctx, spec, host);
  }
  if (rollback->parsed())
    return cmd_rollback(ctx, rollback_opts, rollback_id);
  if (checkpoint->parsed())
    return cmd_checkpoint(ctx, ckpt);
  if (log->parsed())
    return cmd_log(ctx, log_opts);
  if (show->parsed())
    return cmd_show(ctx, show_opts);
  if (cat->parsed())
    return cmd_cat(ctx, cat_spec, cat_component);
  if (diff->parsed())
    return cmd_diff(ctx, diff_a, diff_b);
  if (verify->parsed()) {
    if (verify_id->count() > 0 && verify_opts.cluster_file.empty() && !verify_opts.types)
      return fail(ctx, amber::status::invalid_argument("verify takes an ID only with --cluster "
                                                       "or --types"),
                  exit_usage);
    return cmd_verify(ctx, verify_opts);
  }
  if (gc->parsed())
    return cmd_gc(ctx, gc_opts);
  if (exp->parsed())
    return cmd_export(ctx, spec, export_file, export_force, export_cluster);
  if (imp->parsed())
    return cmd_import(ctx, import_opts);
  if (graph->parsed())
    return cmd_graph(ctx, graph_opts);
  if (ui->parsed())
    return cmd_ui(ctx, ui_opts);
  return exit_usage;
}

} // namespace amber::cli
