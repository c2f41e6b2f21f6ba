#pragma once

// What `amber ui` answers, apart from HTTP itself (ui_server.cpp): the page
// (ui/index.html, app.js, style.css, compiled in) and its JSON API, built by
// the same functions as the --json output of the commands (json_views.hpp):
//
//   GET /api/log                     log: {"snapshots": [...], "unreadable": [...]}
//   GET /api/snapshot/SPEC           show SPEC
//   GET /api/graph/SPEC              graph SPEC
//   GET /api/state/SPEC/COMPONENT    cat SPEC COMPONENT
//   GET /api/diff/A/B                diff A B
//
// SPEC is what the command line takes (a full or short id, a node name, a
// ref, `cluster:NAME`, each with an optional `~N`); each path segment is
// percent-decoded on its own, so a ref with a slash is sent as `%2F`.
// A malformed target, segment, snapshot name or component name is 400;
// a snapshot or component that does not exist is 404; a failure to read
// the store is 500. Every error body is {"error": {"code", "message"}}.
//
// Thread-safety: answer_ui_request may run on several threads at once; it
// only reads `s`, which must be thread-safe (lmdb_store is), and `types`,
// which must not change meanwhile.

#include <string>
#include <string_view>

#include "amber/runtime/registry.hpp"
#include "amber/storage/store.hpp"

namespace amber::cli {

struct ui_response {
  int status = 200;
  std::string content_type;
  std::string body;
};

/// Answers a GET of `target`, the request target as sent (path and query,
/// percent-encoded). `types` (may be null) describes states as JSON.
ui_response answer_ui_request(store& s, const registry* types, std::string_view target);

/// Decodes one percent-encoded path segment.
/// @return the bytes; invalid_argument for a `%` not followed by two hex digits.
result<std::string> percent_decode(std::string_view segment);

/// Checks a snapshot name or component name taken from a request: 1 to
/// `max_bytes` bytes of valid UTF-8 without control characters.
/// @return ok, or invalid_argument naming `what` and the problem.
status check_request_name(std::string_view name, const char* what, size_t max_bytes);

} // namespace amber::cli
