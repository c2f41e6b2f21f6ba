#pragma once

// The largest single allocation through operator new since the last reset,
// for tests that hostile bytes never make amber allocate for a length they
// claim. Link alloc_probe.cpp into the suite (it replaces the global
// operator new, so only into a suite of its own).

#include <cstddef>

namespace test {

/// Forgets the largest allocation seen so far.
void reset_largest_allocation();
/// The largest size passed to operator new since the last reset.
std::size_t largest_allocation();

} // namespace test
