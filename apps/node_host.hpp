#pragma once

// Hosting a node in the foreground for `amber run` and `amber restore`:
// periodic checkpoints, a control endpoint, and the signal protocol.
//
// Signals: SIGINT and SIGTERM are blocked in every thread (block them with
// `block_stop_signals` before the node's actor system starts, so that its
// threads inherit the mask) and taken synchronously by the main thread with
// sigtimedwait. The first one takes a final checkpoint (when there is a
// store) and returns 0, or 1 when that checkpoint fails; a second one exits
// the process at once with 128 + the signal number, committing nothing more
// (the store stays consistent: a commit is one LMDB transaction).
//
// Control endpoint: amber's control protocol (control_server.hpp) on a Unix
// socket or, with a token, on TCP (over mutual TLS off loopback). No CAF
// endpoint is published. A checkpoint request waits while another
// checkpoint runs, or the node is not quiet enough, for up to a minute;
// `stop` acts as SIGTERM.

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "amber/runtime/node.hpp"
#include "amber/runtime/registry.hpp"
#include "amber/storage/lmdb_store.hpp"
#include "cli_common.hpp"
#include "control_protocol.hpp"

namespace amber::cli {

/// Blocks SIGINT and SIGTERM in the calling thread (and so in every thread
/// it starts afterwards), and ignores SIGPIPE.
void block_stop_signals();

struct host_settings {
  std::chrono::milliseconds every{0};  ///< Periodic checkpoints; 0: none.
  std::optional<control_address> control; ///< Serve a control endpoint here.
  control_credentials control_auth;       ///< Its token and TLS files.
  std::optional<digest> restored_from; ///< For the start-up message.
};

/// Runs `n` until a stop signal: see the top of this file.
/// REQUIRES: block_stop_signals() was called before `n` was built.
/// @return the process exit code.
int host_node(const context& ctx, node& n, std::shared_ptr<lmdb_store> db,
              const host_settings& hs);

} // namespace amber::cli
