#pragma once

// amber's one error type, from the storage layer up.
//
// A `status` is either ok or carries an `errc` and a message that names the
// thing that is wrong. `result<T>` holds a value or a non-ok status. Like
// leveldb::Status, "not found" is its own code and callers treat it as an
// answer, not a failure. At the actor boundary, runtime/error.hpp converts a
// status to a caf::error of category "amber" and back, keeping code and text.
//
// Thread-safety: plain values; safe to copy between threads.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace amber {

/// Every error amber reports. Values are stable: they cross process borders
/// inside caf::error and appear as exit reasons.
enum class errc : uint8_t {
  ok = 0,
  not_found,        ///< An id, ref, blob or name that does not exist.
  corruption,       ///< Bytes that fail their digest or do not decode.
  io_error,         ///< The operating system or LMDB failed.
  invalid_argument, ///< A caller passed something malformed.
  not_a_store,      ///< A directory that is missing or holds no amber store.
  format_mismatch,  ///< A store or manifest of a format this build cannot read.
  unknown_type,     ///< A component type the registry does not know.
  version_mismatch, ///< A package version other than the registered one.
  config_mismatch,  ///< A node config that differs from the snapshot's.
  not_quiescent,    ///< Messages were in flight where a quiet node was needed.
  conflict,         ///< A ref moved under us (compare-and-swap failed).
  busy,             ///< A resource is held by someone else.
  timeout,          ///< Something did not answer in time.
  aborted,          ///< An operation was cancelled; nothing was committed.
  internal,         ///< A bug in amber: please report it.
  no_space,         ///< The disk (or the store's map) is full; nothing was committed.
};

/// The short name of a code, e.g. "not_found".
const char* to_string(errc code) noexcept;

class status {
public:
  /// An ok status.
  status() = default;
  status(errc code, std::string message) : code_(code), message_(std::move(message)) {}

  static status ok() { return {}; }
  static status not_found(std::string msg) { return {errc::not_found, std::move(msg)}; }
  static status corruption(std::string msg) { return {errc::corruption, std::move(msg)}; }
  static status io_error(std::string msg) { return {errc::io_error, std::move(msg)}; }
  static status invalid_argument(std::string msg) {
    return {errc::invalid_argument, std::move(msg)};
  }

  bool is_ok() const noexcept { return code_ == errc::ok; }
  bool is_not_found() const noexcept { return code_ == errc::not_found; }
  explicit operator bool() const noexcept { return is_ok(); }

  errc code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }

  /// "ok", or "<code>: <message>".
  std::string to_string() const;

  /// Returns a copy whose message starts with `context + ": "`.
  status with_context(const std::string& context) const;

  friend bool operator==(const status& a, const status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

private:
  errc code_ = errc::ok;
  std::string message_;
};

/// A value or the status that explains why there is none.
template <class T>
class result {
public:
  result(T value) : value_(std::move(value)) {}
  /// REQUIRES: !st.is_ok() — an ok result must carry a value.
  result(status st) : status_(std::move(st)) {
    if (status_.is_ok())
      status_ = status(errc::internal, "result built from an ok status without a value");
  }

  bool ok() const noexcept { return value_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  const amber::status& error() const noexcept { return status_; }

  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

private:
  std::optional<T> value_;
  amber::status status_;
};

} // namespace amber

/// Returns early from the calling function with the status of `expr` unless it is ok.
#define AMBER_RETURN_IF_ERROR(expr)                                                     \
  do {                                                                                  \
    ::amber::status amber_status_tmp_ = (expr);                                         \
    if (!amber_status_tmp_.is_ok())                                                     \
      return amber_status_tmp_;                                                         \
  } while (false)
