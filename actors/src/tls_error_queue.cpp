// OpenSSL's error queue, emptied before every TLS read, write and handshake
// step of the process — CAF 0.17.6's caf::openssl never empties it.
//
// The bug this works around (seen as TLS cluster links that all drop at
// once, and then flap): OpenSSL keeps one error queue per thread, and
// SSL_get_error() reads that queue before it looks at the call's result, so
// "the current thread's error queue must be empty before the TLS/SSL I/O
// operation is attempted" (SSL_get_error(3)). caf::openssl::session calls
// SSL_read / SSL_write / SSL_connect / SSL_accept on the middleman's one
// multiplexer thread for every connection, and takes errors off the queue
// only inside CAF_LOG_INFO — compiled out in Debian's build
// (CAF_LOG_LEVEL_QUIET). So once one connection fails on that thread — a
// peer that closes without close_notify, which is every CAF peer (CAF never
// calls SSL_shutdown; OpenSSL 3 queues "unexpected eof while reading"), a
// plain or foreign-CA client refused in its handshake, a connection reset —
// the error stays queued, and the next SSL_read on any *other* connection
// that merely has no more data (SSL_ERROR_WANT_READ) is reported as
// SSL_ERROR_SSL: CAF calls it an I/O failure and closes that healthy
// connection, whose peer then sees an unexpected EOF and does the same to
// its own connections. One `amber checkpoint` over TLS (its connection to
// the leader's control endpoint ends) or one refused `openssl s_client`
// dropped every link of a three-member cluster; the reconnects (a new
// handshake clears the queue) were cut again by the next error.
//
// The fix is OpenSSL's own rule, applied from outside CAF: these definitions
// interpose the four functions for the whole process (the executable's
// definitions come first in the dynamic linker's lookup, and the linker
// exports them because libcaf_openssl.so refers to them). Each empties the
// calling thread's queue and calls the real function (RTLD_NEXT: libssl).
// configure_transport checks that the interposition took (tls_guard_status)
// before it loads caf::openssl.

#include <dlfcn.h>

#include <atomic>
#include <cstdint>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tls_error_queue.hpp"

namespace amber::detail {

namespace {

using read_fn = int (*)(SSL*, void*, int);
using write_fn = int (*)(SSL*, const void*, int);
using step_fn = int (*)(SSL*);

struct real_functions {
  read_fn read = reinterpret_cast<read_fn>(dlsym(RTLD_NEXT, "SSL_read"));
  write_fn write = reinterpret_cast<write_fn>(dlsym(RTLD_NEXT, "SSL_write"));
  step_fn connect = reinterpret_cast<step_fn>(dlsym(RTLD_NEXT, "SSL_connect"));
  step_fn accept = reinterpret_cast<step_fn>(dlsym(RTLD_NEXT, "SSL_accept"));
};

const real_functions& real() {
  static const real_functions fns;
  return fns;
}

std::atomic<uint64_t> guarded_calls{0};

void before_call() {
  ERR_clear_error();
  guarded_calls.fetch_add(1, std::memory_order_relaxed);
}

} // namespace

uint64_t tls_guarded_calls() {
  return guarded_calls.load(std::memory_order_relaxed);
}

const char* tls_guard_problem() {
  auto& fns = real();
  if (!fns.read || !fns.write || !fns.connect || !fns.accept)
    return "libssl's SSL_read/SSL_write/SSL_connect/SSL_accept were not found (RTLD_NEXT)";
  // What libcaf_openssl.so's calls resolve to: ours only if the executable
  // (or a library loaded before libssl) exports these definitions.
  if (dlsym(RTLD_DEFAULT, "SSL_read") != reinterpret_cast<void*>(&::SSL_read)
      || dlsym(RTLD_DEFAULT, "SSL_write") != reinterpret_cast<void*>(&::SSL_write)
      || dlsym(RTLD_DEFAULT, "SSL_connect") != reinterpret_cast<void*>(&::SSL_connect)
      || dlsym(RTLD_DEFAULT, "SSL_accept") != reinterpret_cast<void*>(&::SSL_accept))
    return "the process resolves SSL_read & co. to libssl, not to amber's guard (amber "
           "linked as a shared library loaded after libssl?)";
  return nullptr;
}

} // namespace amber::detail

extern "C" {

__attribute__((visibility("default"))) int SSL_read(SSL* ssl, void* buf, int num) {
  amber::detail::before_call();
  return amber::detail::real().read(ssl, buf, num);
}

__attribute__((visibility("default"))) int SSL_write(SSL* ssl, const void* buf, int num) {
  amber::detail::before_call();
  return amber::detail::real().write(ssl, buf, num);
}

__attribute__((visibility("default"))) int SSL_connect(SSL* ssl) {
  amber::detail::before_call();
  return amber::detail::real().connect(ssl);
}

__attribute__((visibility("default"))) int SSL_accept(SSL* ssl) {
  amber::detail::before_call();
  return amber::detail::real().accept(ssl);
}

} // extern "C"
