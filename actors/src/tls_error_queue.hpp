#pragma once

// See tls_error_queue.cpp: amber's definitions of SSL_read, SSL_write,
// SSL_connect and SSL_accept empty OpenSSL's error queue first, which CAF
// 0.17.6's caf::openssl does not.

#include <cstdint>

namespace amber::detail {

/// Why the guard is not in effect in this process, or nullptr when it is.
const char* tls_guard_problem();

/// How many TLS calls went through the guard (declared in transport.hpp too).
uint64_t tls_guarded_calls();

} // namespace amber::detail
