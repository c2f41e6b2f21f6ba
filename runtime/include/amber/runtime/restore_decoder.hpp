#pragma once

// Decoding a snapshot's components and messages exactly as a restore does,
// without restoring: `restore_node` and `amber verify` share these, so a
// snapshot `verify` reports sound is one a restore decodes.
//
// Thread-safety: `decode_component` is safe from any thread (the registry
// is read-only, CAF's type lookup too). A restore_decoder is used by one
// thread at a time.

#include <functional>
#include <memory>
#include <string_view>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "amber/checkpoint/content_decoder.hpp"
#include "amber/runtime/registry.hpp"

namespace amber {

/// Decodes component `rec` as a restore does: its type, package and state
/// version against `types`, its state from `state` (the bytes of its
/// digest-checked blob; migrated when older than the type's version),
/// its runtime record and the messages of its pending timers (with `sys`,
/// which must register the message types a node does).
/// @return the decoded state, type-erased, for node::respawn; unknown_type
///         or version_mismatch; corruption naming what does not decode;
///         aborted when a migration fails.
result<std::shared_ptr<void>> decode_component(const registry& types, caf::actor_system& sys,
                                               const component_record& rec,
                                               std::string_view state);

/// A content_decoder over `types` with an actor system of its own,
/// configured as every node's (plus `configure`), for tools that check
/// snapshots without running a node. Starting it starts that actor system.
std::unique_ptr<content_decoder>
make_restore_decoder(std::shared_ptr<const registry> types,
                     std::function<void(caf::actor_system_config&)> configure = {});

} // namespace amber
