#pragma once

// The control endpoint of `amber run`/`restore`: amber's control protocol
// (control_protocol.hpp) served by one thread with a poll loop, checkpoints
// taken on a second thread.
//
// What a hostile caller can do is bounded: a frame longer than
// control_max_frame is refused from its 4-byte header, before anything is
// allocated; a connection holds at most one frame and one request at a
// time; at most max_connections are open (more are refused at once); a
// connection that does not complete a request within idle_timeout is
// closed; checkpoint requests that arrive while one runs share the next
// checkpoint, so a flood takes one checkpoint at a time. A caller that is
// not the node's user (Unix socket, SO_PEERCRED) or lacks the token (TCP),
// or that fails the TLS handshake, is refused.
//
// Ownership and threads: the handlers are called on the server's threads
// (checkpoint on its checkpoint thread, status and stop on its loop
// thread) and must outlive the server; the destructor stops both threads,
// waiting for a checkpoint under way, and removes the socket file.

#include <functional>
#include <memory>
#include <thread>

#include "amber/storage/digest.hpp"
#include "control_protocol.hpp"

namespace amber::cli {

struct control_server_options {
  control_address address;  ///< Port 0: any free port.
  std::string token;        ///< Required on TCP; checked on every request.
  tls_settings tls;         ///< TCP only: mutual TLS when enabled.
  size_t max_connections = 16;
  std::chrono::milliseconds idle_timeout{5000};
};

struct control_handlers {
  std::function<result<digest>()> checkpoint; ///< May block; one call at a time.
  std::function<nlohmann::json()> status;     ///< Quick: the loop waits for it.
  std::function<void()> stop;                 ///< Asks the node to stop.
};

class control_server {
public:
  /// Binds and starts serving. A Unix socket is created 0600; a stale
  /// socket file (nothing listening) is replaced, a live one is refused.
  /// @return errc::io_error naming the address (in use, no permission...),
  ///         errc::invalid_argument for TCP without a token.
  static result<std::unique_ptr<control_server>> start(control_server_options opts,
                                                       control_handlers handlers);
  ~control_server();

  /// Where it listens, with the bound port.
  const control_address& address() const;

  class impl;

private:
  explicit control_server(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace amber::cli
