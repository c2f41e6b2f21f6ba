#pragma once

// What a restore decodes beyond the checkpoint library's own records: each
// component's state (its type's Boost `serialize`), the runtime's record of
// the component (mode, timers and their messages, requests) and the
// messages in flight of the trace layer. The checkpoint library cannot
// decode them (it knows neither component types nor CAF); the runtime
// implements this interface (amber/runtime/restore_decoder.hpp) and
// `verify` takes one, so a snapshot it reports sound is one a restore
// decodes (digests alone can be forged).
//
// Thread-safety: an implementation may be called from one thread at a time.

#include <string_view>

#include "amber/checkpoint/layers.hpp"
#include "amber/storage/status.hpp"

namespace amber {

class content_decoder {
public:
  virtual ~content_decoder() = default;

  /// Decodes component `rec` as a restore would, with `state` the bytes of
  /// its (digest-checked) state blob.
  /// @return ok; corruption naming the component and what does not decode;
  ///         unknown_type or version_mismatch when this decoder does not know
  ///         the component's type (not damage: a program with that type may).
  virtual status check_component(const component_record& rec, std::string_view state) = 0;

  /// Decodes message `m` of the trace layer as a restore would.
  /// @return ok; corruption naming what does not decode; unknown_type for an
  ///         element type this decoder does not know.
  virtual status check_message(const in_flight_message& m) = 0;
};

} // namespace amber
