#pragma once

// The network transport between amber processes: CAF's middleman (caf::io),
// optionally wrapped in mutual TLS (caf::openssl), with heartbeats and a
// connection timeout switched on (docs/TLS.md).
//
// CAF 0.17 has traps this file keeps callers out of: a side configured with a
// CA file but no certificate aborts the whole process from inside CAF; a side
// with no credentials silently runs anonymous (unauthenticated) TLS; and
// heartbeats and connection timeouts are off by default, so a frozen peer is
// never noticed. check_tls rejects a half configuration with a message, and
// configure_transport never lets CAF see one.
//
// Ownership and threads: plain functions. configure_transport runs before the
// actor system is built; publish_actor and connect_actor may be called from
// any thread that is not one of the system's scheduler threads (they block
// until the middleman answers; connect_actor for at most its timeout). The
// system must outlive what they return.

#include <chrono>
#include <cstdint>
#include <string>

#include <caf/fwd.hpp>

#include "amber/checkpoint/cluster_spec.hpp"
#include "amber/storage/status.hpp"

namespace amber {

/// Checks a TLS configuration without starting anything. Ok when all three
/// files are empty (TLS off) or when all three are set and: each is a
/// readable regular file in PEM form; the CA file holds at least one
/// certificate; the key matches the certificate; the certificate is signed
/// by (one of) the CA's certificates and is currently valid.
/// @return errc::invalid_argument for a half configuration or a mismatch,
///         errc::not_found for a missing file, errc::io_error for an
///         unreadable one, errc::corruption for a file that is not the PEM it
///         should be. The message names the field (ca, cert, key) and file.
status check_tls(const tls_settings& tls);

/// How a process talks to its peers.
struct transport_settings {
  tls_settings tls; ///< Empty: plain TCP (loopback or trusted networks only).
  /// middleman.heartbeat-interval: a heartbeat on every connection this often
  /// (0: off).
  std::chrono::milliseconds heartbeat{200};
  /// middleman.connection-timeout: a connection silent for this long is closed
  /// and its proxies see remote_link_unreachable (0: off; needs heartbeats).
  std::chrono::milliseconds connection_timeout{2000};
};

/// Prepares `cfg` before its actor system is built: loads caf::io::middleman,
/// sets the heartbeat and connection timeout, and when TLS is on loads
/// caf::openssl::manager with openssl.certificate, openssl.key and
/// openssl.cafile. Runs check_tls first and returns its error, leaving `cfg`
/// untouched, so CAF never aborts on a half configuration.
/// @return check_tls's errors; errc::invalid_argument for a negative
///         duration or a connection timeout without heartbeats.
status configure_transport(caf::actor_system_config& cfg, const transport_settings& ts);

/// Publishes `a` on host:port (port 0: any free port) over TLS when `tls`,
/// else over plain TCP; `reuse_address` sets SO_REUSEADDR (a restarted member
/// rebinding its fixed port). REQUIRES: `sys` was configured with
/// configure_transport (and TLS on, when `tls`).
/// @return the bound port; errc::io_error naming host:port and CAF's reason
///         (e.g. the address is in use); errc::invalid_argument when `tls`
///         is asked of a system without the OpenSSL module.
result<uint16_t> publish_actor(caf::actor_system& sys, const caf::actor& a,
                               const std::string& host, uint16_t port, bool tls,
                               bool reuse_address = false);

/// Connects to the actor published at host:port, blocking for at most
/// `timeout` (CAF's own remote_actor waits forever on a peer that accepts
/// the connection but never answers the handshake). A TLS server refuses a
/// plain client, a client without a certificate signed by its CA, and vice
/// versa. REQUIRES: as publish_actor; not called from one of `sys`'s
/// scheduler threads.
/// @return a proxy of the remote actor; errc::io_error naming host:port and
///         CAF's reason (connection refused, handshake refused, ...);
///         errc::timeout when no handshake completed in time (CAF keeps that
///         socket until the peer closes it); errc::invalid_argument as
///         publish_actor, or for a typed actor.
result<caf::actor> connect_actor(caf::actor_system& sys, const std::string& host,
                                 uint16_t port, bool tls,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(10));

namespace detail {

/// How many SSL_read/SSL_write/SSL_connect/SSL_accept calls of this process
/// went through amber's guard, which empties OpenSSL's per-thread error
/// queue before each (CAF 0.17.6 leaves it full: one failed TLS connection
/// then made the middleman close its other, healthy ones; see
/// actors/src/tls_error_queue.cpp). For tests.
uint64_t tls_guarded_calls();

} // namespace detail

} // namespace amber
