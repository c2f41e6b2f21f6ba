#pragma once

// The control protocol between `amber run`/`restore` (control_server.hpp)
// and `amber checkpoint`: amber's own, not CAF's, so that what a caller can
// make the node read and allocate is bounded before anything is read.
//
// Transport: a Unix domain socket (`unix:PATH`, created 0600, callers of
// another uid refused by SO_PEERCRED), or TCP (`HOST:PORT`) where every
// request carries a shared token (--control-token-file), over mutual TLS
// (--tls-*) when the address is not loopback.
//
// Framing: each frame is a 4-byte big-endian length, then that many bytes;
// a length above max_frame is refused from the header alone. A request is
// the text "VERB" or "VERB TOKEN" (verbs: checkpoint, status, stop); a
// reply is a JSON object, {"ok": true, ...} or {"ok": false, "error":
// {"code", "message"}}. One request at a time per connection.
//
// Threads: plain functions and values; call_control blocks its caller.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "amber/checkpoint/cluster_spec.hpp"
#include "amber/storage/status.hpp"
#include "cli_common.hpp"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace amber::cli {

/// The largest frame either side reads: a bigger length is refused unread.
constexpr uint32_t control_max_frame = 64 * 1024;
/// The shortest token accepted (bytes), so that it cannot be guessed.
constexpr size_t control_min_token = 16;

/// Where a control endpoint listens: `unix:PATH` or `HOST:PORT`.
struct control_address {
  std::string unix_path; ///< Non-empty: a Unix domain socket.
  endpoint tcp;          ///< Otherwise.
  bool is_unix() const { return !unix_path.empty(); }
  std::string to_string() const { return is_unix() ? "unix:" + unix_path : tcp.to_string(); }
};

/// Parses `unix:PATH` (PATH shorter than a sockaddr_un holds) or HOST:PORT.
result<control_address> parse_control_address(std::string_view text);

/// What proves a caller: the token (TCP) and the TLS files (TCP, optional
/// on loopback).
struct control_credentials {
  std::string token;
  tls_settings tls;
};

/// Reads a token file: its first line, at least control_min_token bytes.
/// @return errc::not_found, errc::io_error, or errc::invalid_argument for
///         a short token; each naming the file.
result<std::string> read_token_file(const std::string& path);

/// `length` as the 4-byte big-endian header, then `payload`.
std::string control_frame(std::string_view payload);

/// A TLS context (OpenSSL) for mutual TLS with the three files of
/// `tls`: peers must present a certificate signed by its CA.
class control_tls {
public:
  /// REQUIRES: check_tls(tls) passed.
  static result<std::shared_ptr<control_tls>> make(const tls_settings& tls, bool server);
  ~control_tls();
  /// A new session on connected socket `fd` (owned by the caller).
  SSL* session(int fd) const;

private:
  explicit control_tls(SSL_CTX* ctx) : ctx_(ctx) {}
  SSL_CTX* ctx_;
};

/// Sends one request to the endpoint at `to` and returns its JSON reply,
/// waiting at most `timeout` for each step (connect, handshake, reply).
/// @return errc::io_error when nothing listens or the connection breaks;
///         errc::timeout when the node does not answer in time; the
///         node's own error (its code and message) for {"ok": false}.
result<nlohmann::json> call_control(const control_address& to, const control_credentials& cred,
                                    std::string_view verb, std::chrono::milliseconds timeout);

} // namespace amber::cli
