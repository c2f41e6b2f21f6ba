#pragma once

// Progress reports from long store operations (verify, gc, export, import).
//
// An operation calls the callback from the calling thread, as it goes, with
// the phase it is in and how far along it is. The callback must be cheap (it
// may be called once per blob); the CLI throttles what it prints. An empty
// std::function means "nobody listens".

#include <cstdint>
#include <functional>
#include <string_view>

namespace amber {

struct progress_event {
  std::string_view phase; ///< E.g. "checking blobs"; valid during the call only.
  uint64_t done = 0;
  uint64_t total = 0; ///< 0 when unknown.
};

using progress_fn = std::function<void(const progress_event&)>;

/// Calls `fn` when it is set.
inline void report(const progress_fn& fn, std::string_view phase, uint64_t done, uint64_t total) {
  if (fn)
    fn(progress_event{phase, done, total});
}

} // namespace amber
