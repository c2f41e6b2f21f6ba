#pragma once

// The amber command line inside a service's own executable.
//
// A service registers its component and message types and hands them to
// `amber::cli::main`; its binary then has every command of the stock `amber`
// binary (run, restore, checkpoint, rollback, log, show, cat, diff, verify, gc,
// export, import, graph, ui) with its own types:
//
//   int main(int argc, char** argv) {
//     auto types = std::make_shared<amber::registry>();
//     types->add<kv::shard>();
//     types->add_message_type<kv::put>("kv.put");
//     return amber::cli::main(argc, argv, types);
//   }
//
// Commands that only read or write a store (log, show, cat, diff, verify, gc,
// export, import, graph, ui) work on any store, whatever types made it; those
// that run components (run, restore) need the types, and an unknown one is
// reported with the types this binary knows. docs/CLI.md describes the
// commands, examples/downstream/ is a complete service.
//
// Threads: call from the process's main thread, once. `run`, `restore` and `ui`
// block SIGINT and SIGTERM in every thread (see docs/CLI.md, "Stopping").

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "amber/runtime/registry.hpp"

namespace caf {
class actor_system_config;
} // namespace caf

namespace amber::cli {

/// A command a program adds to the stock ones (the `amber` binary's `demo`).
struct extra_command {
  std::string name;        ///< As typed: `prog NAME ARGS...`.
  std::string description; ///< One line for `--help`.
  /// Runs the command with the arguments after its name (its own options
  /// included; `--help` among them is the command's to answer).
  /// @return the process exit code.
  std::function<int(const std::vector<std::string>& args)> run;
};

/// What a program brings to the command line.
struct program {
  /// Its name in `--help`, `--version` and messages ("kv: error: ...");
  /// empty: the file name of argv[0].
  std::string name;
  /// One line under the usage in `--help`.
  std::string description = "actors with consistent checkpoints";
  /// The component and message types its nodes run (see registry.hpp).
  std::shared_ptr<const registry> types;
  /// Applied to the actor system of every node it runs (after the message
  /// types of `types` are registered): `add_message_type` of types not in
  /// the registry, CAF options.
  std::function<void(caf::actor_system_config&)> configure;
  /// More commands, listed after the stock ones.
  std::vector<extra_command> commands;
};

/// Parses the command line, runs the command and returns the process exit
/// code (docs/CLI.md has the table). Never throws for a bad command line.
int main(int argc, char** argv, const program& prog);

/// As above, for the common case: the types and an optional configure.
int main(int argc, char** argv, std::shared_ptr<const registry> types,
         std::function<void(caf::actor_system_config&)> configure = {});

} // namespace amber::cli
