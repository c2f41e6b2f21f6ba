#pragma once

// Containment of what LMDB cannot survive on a damaged data file.
//
// LMDB trusts its pages: a page number past the end of a truncated file
// faults with SIGBUS when it is touched through the map, a damaged pointer
// can fault with SIGSEGV, and a zeroed page trips LMDB's own assertions,
// which abort the process. `guarded` runs one LMDB call (or one copy out of
// the map) with a recovery point: a fault or an assertion inside it jumps
// back and the call returns `mdb_fault`, with `last_fault()` saying what
// happened. Outside a guarded call a signal goes on to the handler that was
// in place before (or takes its default action).
//
// Rules for the callable (it is jumped over, so it must own nothing): call
// C functions only (mdb_*, memcpy); construct no object with a destructor.
// After a fault the transaction it ran in must only be aborted.
//
// Thread-safety: the recovery point is per thread; any thread may use
// `guarded` at any time. `install_fault_handlers` is idempotent.
//
// Limit: a program that installs its own SIGBUS/SIGSEGV handler after a
// store was opened takes these signals away until the next open.

#include <lmdb.h>
#include <setjmp.h>

#include <cstdint>
#include <string>

namespace amber::detail {

/// The return code of a guarded call that faulted. It is neither an LMDB
/// code (-30799 .. -30780) nor an errno value.
constexpr int mdb_fault = -31000;

/// What stopped the last faulted call of this thread.
struct fault_info {
  int signal = 0;             ///< SIGBUS or SIGSEGV; 0 for an LMDB assertion.
  const void* address = nullptr; ///< The faulting address (signals only).
  char assertion[400] = {};   ///< LMDB's assertion text.
};

/// Installs the SIGBUS and SIGSEGV handlers (again if someone replaced
/// them) and makes `env` (unless null) report assertions to the current
/// recovery point instead of aborting.
void install_fault_handlers(MDB_env* env);

/// The description of this thread's last fault.
const fault_info& last_fault();

/// The recovery point of the calling thread (nullptr: none).
sigjmp_buf*& current_recovery_point();

/// Runs `f` (returning an int) under a recovery point; see the top of the file.
template <class F>
int guarded(F&& f) {
  sigjmp_buf here;
  sigjmp_buf* const outer = current_recovery_point();
  if (sigsetjmp(here, 1) != 0) {
    current_recovery_point() = outer;
    return mdb_fault;
  }
  current_recovery_point() = &here;
  int rc = f();
  current_recovery_point() = outer;
  return rc;
}

} // namespace amber::detail
