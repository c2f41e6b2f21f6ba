#include "lmdb_guard.hpp"

#include <signal.h>

#include <cstring>
#include <mutex>

namespace amber::detail {

namespace {

// initial-exec: reading these from a signal handler must not allocate.
__attribute__((tls_model("initial-exec"))) thread_local sigjmp_buf* recovery_point = nullptr;
__attribute__((tls_model("initial-exec"))) thread_local fault_info fault;

struct sigaction previous_bus;
struct sigaction previous_segv;

void pass_on(int sig, siginfo_t* info, void* ctx, const struct sigaction& prev) {
  if ((prev.sa_flags & SA_SIGINFO) && prev.sa_sigaction) {
    prev.sa_sigaction(sig, info, ctx);
    return;
  }
  if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN && prev.sa_handler) {
    prev.sa_handler(sig);
    return;
  }
  // Not ours to contain: the default action, as if we had never been here
  // (returning re-runs the faulting instruction).
  signal(sig, SIG_DFL);
}

void on_fault(int sig, siginfo_t* info, void* ctx) {
  if (sigjmp_buf* to = recovery_point) {
    fault.signal = sig;
    fault.address = info ? info->si_addr : nullptr;
    fault.assertion[0] = '\0';
    siglongjmp(*to, 1);
  }
  pass_on(sig, info, ctx, sig == SIGBUS ? previous_bus : previous_segv);
}

void on_assert(MDB_env*, const char* msg) {
  if (sigjmp_buf* to = recovery_point) {
    fault.signal = 0;
    fault.address = nullptr;
    std::strncpy(fault.assertion, msg, sizeof fault.assertion - 1);
    fault.assertion[sizeof fault.assertion - 1] = '\0';
    siglongjmp(*to, 1);
  }
  // No recovery point: LMDB prints the message and aborts, as it always did.
}

} // namespace

void install_fault_handlers(MDB_env* env) {
  // Checked at every store open, not once: a test framework (or anyone)
  // may have put its own handler in place since; ours then passes on to it.
  static std::mutex mutex;
  std::lock_guard<std::mutex> guard(mutex);
  for (int sig : {SIGBUS, SIGSEGV}) {
    struct sigaction now;
    if (sigaction(sig, nullptr, &now) == 0 && (now.sa_flags & SA_SIGINFO)
        && now.sa_sigaction == on_fault)
      continue;
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, sig == SIGBUS ? &previous_bus : &previous_segv);
  }
  if (env)
    mdb_env_set_assert(env, on_assert);
}

const fault_info& last_fault() {
  return fault;
}

sigjmp_buf*& current_recovery_point() {
  return recovery_point;
}

} // namespace amber::detail
