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
// Control endpoint: a control actor published with CAF's middleman on a
// loopback address, or on any address over mutual TLS (--tls-*, docs/TLS.md).
// It answers `checkpoint_atom` with the snapshot id (64 hex digits) or an
// amber caf::error; while another checkpoint runs, or the node is not quiet
// enough, it retries for up to a minute.

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "amber/runtime/node.hpp"
#include "amber/runtime/registry.hpp"
#include "amber/storage/lmdb_store.hpp"
#include "cli_common.hpp"

namespace amber::cli {

/// Blocks SIGINT and SIGTERM in the calling thread (and so in every thread
/// it starts afterwards), and ignores SIGPIPE.
void block_stop_signals();

struct host_settings {
  std::chrono::milliseconds every{0};  ///< Periodic checkpoints; 0: none.
  std::optional<endpoint> control;     ///< Publish a control endpoint here.
  bool control_tls = false;            ///< Over mutual TLS (docs/TLS.md).
  std::optional<digest> restored_from; ///< For the start-up message.
};

/// Runs `n` until a stop signal: see the top of this file.
/// REQUIRES: block_stop_signals() was called before `n` was built; when
/// `hs.control` is set, `n`'s config went through configure_transport (with
/// TLS settings when `hs.control_tls`).
/// @return the process exit code.
int host_node(const context& ctx, node& n, std::shared_ptr<lmdb_store> db,
              const host_settings& hs);

} // namespace amber::cli
