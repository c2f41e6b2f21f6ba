#include "amber/storage/status.hpp"

namespace amber {

const char* to_string(errc code) noexcept {
  switch (code) {
    case errc::ok: return "ok";
    case errc::not_found: return "not_found";
    case errc::corruption: return "corruption";
    case errc::io_error: return "io_error";
    case errc::invalid_argument: return "invalid_argument";
    case errc::not_a_store: return "not_a_store";
    case errc::format_mismatch: return "format_mismatch";
    case errc::unknown_type: return "unknown_type";
    case errc::version_mismatch: return "version_mismatch";
    case errc::config_mismatch: return "config_mismatch";
    case errc::not_quiescent: return "not_quiescent";
    case errc::conflict: return "conflict";
    case errc::busy: return "busy";
    case errc::timeout: return "timeout";
    case errc::aborted: return "aborted";
    case errc::internal: return "internal";
    case errc::no_space: return "no_space";
  }
  return "unknown_error";
}

std::string status::to_string() const {
  if (is_ok())
    return "ok";
  std::string out = amber::to_string(code_);
  if (!message_.empty()) {
    out += ": ";
    out += message_;
  }
  return out;
}

status status::with_context(const std::string& context) const {
  if (is_ok())
    return *this;
  return status(code_, context + ": " + message_);
}

} // namespace amber
