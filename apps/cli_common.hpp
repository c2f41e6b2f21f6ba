#pragma once

// What every `amber` command shares: exit codes, error and JSON output, the
// store location, snapshot names, progress lines, and formatting.
//
// Output convention: results go to stdout, diagnostics to stderr. With
// --json, stdout carries JSON only (one object, or one per line for `log`
// and for the events of `run`/`restore`), and a failure also prints
// {"error": {...}} there.
//
// Threads: called from the main thread only.

#include <signal.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "amber/checkpoint/content_decoder.hpp"
#include "amber/checkpoint/progress.hpp"
#include "amber/storage/lmdb_store.hpp"

namespace caf {
class actor_system_config;
} // namespace caf

namespace amber {
class registry;
} // namespace amber

namespace amber::cli {

/// The exit codes of every command (docs/CLI.md has the table).
enum exit_code : int {
  exit_ok = 0,
  exit_failure = 1,     ///< The command failed, or found damage (verify).
  exit_usage = 2,       ///< Bad command line: unknown command or option, malformed value.
  exit_not_found = 3,   ///< No such snapshot, ref, file or store.
  exit_ambiguous = 4,   ///< A short id that matches several snapshots.
  exit_bad_graph = 5,   ///< A graph file that does not parse or check.
  exit_unreachable = 6, ///< A control endpoint that cannot be reached or did not answer.
};

/// Options every command has, and what the program brings (main.hpp).
struct context {
  std::string program = "amber"; ///< The binary's name, for messages.
  std::shared_ptr<const registry> types; ///< The component and message types it runs.
  std::function<void(caf::actor_system_config&)> configure; ///< For every node it runs.
  bool json = false;
  std::string store_dir; ///< --store, else $AMBER_STORE, else ./amber-data.
  bool store_given = false; ///< --store or $AMBER_STORE was set.
  bool progress = false; ///< Draw progress lines (stdout is a terminal, no --json).
  std::set<std::string> known_types; ///< Registered component types, for graph files.
  /// Makes the decoder `verify` checks states and messages with (the
  /// runtime's restore_decoder over `types`, set by main); unset: none.
  std::function<std::unique_ptr<content_decoder>()> make_decoder;

  /// Fills `store_dir`, `store_given` and `progress` from the environment.
  void finish_setup();
};

/// SIGINT and SIGTERM: the signals that stop a command running in the
/// foreground (`run`, `restore`, `ui`).
sigset_t stop_signals();

/// Blocks the stop signals in the calling thread (and so in every thread it
/// starts afterwards, which leaves them to the caller's sigwait), and
/// ignores SIGPIPE.
void block_stop_signals();

/// The name diagnostics start with ("amber: error: ..."); main sets it.
void set_program_name(std::string name);
const std::string& program_name();

/// For an unknown_type error: which types this binary knows, and how a
/// service gets its own ("this binary (amber) knows types: ...").
std::string types_hint(const context& ctx);

/// The exit code for an error: not_found/not_a_store -> 3, timeout -> 6, else 1.
int exit_code_for(const status& st);

/// Prints `amber: error: <what>` to stderr (and the JSON error to stdout
/// with --json) and returns `code`. An unknown_type error gets the
/// types_hint.
int fail(const context& ctx, const status& st, int code);
/// As above with the code from `exit_code_for`.
int fail(const context& ctx, const status& st);

/// Prints `amber: warning: <text>` to stderr.
void warn(const std::string& text);

/// Prints one JSON value on its own line to stdout and flushes.
void print_json(const nlohmann::json& value);

/// What a command does with its store.
enum class store_access {
  read,   ///< Read only (MDB_RDONLY): works on a store the user may only read.
  write,  ///< Read and write an existing store.
  create, ///< As write, creating the store when missing.
};

/// Opens the store of `ctx` for `access`. A writer that must wait for the
/// write lock of another process says so on stderr, naming the holder.
result<std::shared_ptr<lmdb_store>> open_store(const context& ctx, store_access access,
                                               std::chrono::milliseconds lock_timeout
                                               = std::chrono::seconds(60));

/// Turns what a user typed into a snapshot id: a ref, a node name,
/// `cluster:NAME`, a full or short (4+ digits) hex id, each optionally
/// followed by `~N` (the Nth first parent, like git; for a cluster
/// snapshot, the Nth previous cluster snapshot). Prints the error (listing the candidates of an
/// ambiguous short id) and returns its exit code, or returns 0.
int resolve(const context& ctx, store& s, std::string_view spec, digest* out);

/// As `resolve`, printing nothing: the id, or the status (invalid_argument
/// for a malformed `~N` or an ambiguous short id, not_found, ...). Specs
/// also name cluster snapshots: `cluster:NAME`, `clusters/NAME/head`, ids.
result<digest> resolve_spec(store& s, std::string_view spec);

/// A progress line on stdout, redrawn in place at most ten times a second;
/// silent unless ctx.progress. `done()` erases it.
class progress_line {
public:
  explicit progress_line(const context& ctx) : enabled_(ctx.progress) {}
  ~progress_line() { done(); }
  progress_line(const progress_line&) = delete;
  progress_line& operator=(const progress_line&) = delete;

  void update(const progress_event& e);
  void done();
  /// A callback for the checkpoint/ operations.
  progress_fn fn() {
    return [this](const progress_event& e) { update(e); };
  }

private:
  bool enabled_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point last_{};
};

/// "512 B", "1.5 KiB", "12.0 MiB".
std::string human_bytes(uint64_t n);
/// Local time "2025-01-31 14:05:09 +0100".
std::string local_time(int64_t unix_ms);
/// UTC ISO 8601 with milliseconds: "2025-01-31T13:05:09.123Z".
std::string iso_utc(int64_t unix_ms);

/// Parses "250ms", "10s", "5m", "1h" or a plain number of seconds.
result<std::chrono::milliseconds> parse_duration(std::string_view text);

struct endpoint {
  std::string host;
  uint16_t port = 0;
  std::string to_string() const { return host + ":" + std::to_string(port); }
};

/// Parses "HOST:PORT", "[v6]:PORT" or "PORT" (host 127.0.0.1).
result<endpoint> parse_endpoint(std::string_view text);

/// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback(std::string_view host);

/// The JSON of a status: {"code": "not_found", "message": "..."}.
nlohmann::json to_json(const status& st);

} // namespace amber::cli
