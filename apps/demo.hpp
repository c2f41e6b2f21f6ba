#pragma once

// `amber demo`: the bank, checkpointed into a store and restored from it.

#include <string>

namespace amber::app {

/// Runs the demo on the store in `store_dir` (created when missing).
/// @return the process exit code: 0 when the whole run succeeded.
int run_demo(const std::string& store_dir);

} // namespace amber::app
