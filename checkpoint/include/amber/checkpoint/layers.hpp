#pragma once

// The content of the cache, world, effects and trace layers. Each layer is
// stored as one index blob (these structs, Boost-encoded); the cache layer
// also references one state blob per component.
//
// Evolving a record: add the field at the END of the struct (aggregate
// initializations elsewhere list the old fields in order), give it a default
// member initializer (`{}` for class types, so an initialization that stops
// before it compiles without -Wmissing-field-initializers), bump the struct's
// BOOST_CLASS_VERSION at the bottom of this file, and read the field only
// `if (version >= N)`, resetting it otherwise: snapshots written before keep
// decoding (tests/checkpoint/layers_test.cpp holds bytes of old versions).

#include <algorithm>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/serialization/map.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/utility.hpp>
#include <boost/serialization/vector.hpp>
#include <boost/serialization/version.hpp>

#include "amber/checkpoint/model.hpp"
#include "amber/checkpoint/node_config.hpp"
#include "amber/storage/digest.hpp"

namespace amber {

/// One component instance and where its state lives.
/// Version 1 added `params` and `runtime`.
struct component_record {
  uint32_t instance_id = 0; ///< Per-node id, stable across restores.
  std::string name;
  std::string type_name;
  package_ref package;
  std::string graph; ///< The graph that installed it; empty when spawned directly.
  digest state;      ///< Blob with the component's Boost-encoded state.
  uint64_t state_size = 0;
  /// The parameters it was spawned with, so a restore can spawn it again the
  /// same way (a graph's instances also keep theirs in the model layer; a
  /// component spawned directly has only these). Empty in version 0.
  std::map<std::string, std::string> params{};
  /// Opaque bytes the runtime keeps per component (behaviour mode, pending
  /// timers, requests and monitors); empty for most components and in
  /// version 0. The checkpoint library never looks inside.
  std::string runtime{};
  /// The version of the type's state format `state` is written in (the
  /// registry's `state_version` of the type when it was captured); 1 before
  /// version 2 of this record. A restore migrates older states up.
  uint32_t state_version = 1;
  /// The BOOST_CLASS_VERSION of the state struct `state` was written with
  /// (0 without one, and before version 2 of this record): Boost itself
  /// reads a newer class version silently, so a restore compares it.
  uint32_t state_class_version = 0;

  template <class Archive>
  void serialize(Archive& ar, unsigned version) {
    ar& instance_id& name& type_name& package& graph& state& state_size;
    if (version >= 1) {
      ar& params& runtime;
    } else if constexpr (Archive::is_loading::value) {
      params.clear();
      runtime.clear();
    }
    if (version >= 2) {
      ar& state_version& state_class_version;
    } else if constexpr (Archive::is_loading::value) {
      state_version = 1;
      state_class_version = 0;
    }
  }
};

struct cache_layer {
  std::vector<component_record> components; ///< Sorted by instance id.

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& components;
  }
};

/// A node this node knows (for cluster checkpoints).
struct peer_info {
  std::string node_name;
  std::string peer_id;
  std::string address;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& node_name& peer_id& address;
  }
};

struct world_layer {
  std::string node_name;
  node_config config;
  uint64_t incarnation = 0;
  uint32_t next_instance_id = 0; ///< So a restored node never reuses an id.
  std::vector<peer_info> peers;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& node_name& config& incarnation& next_instance_id& peers;
  }
};

/// One external side effect in a snapshot's ledger, so that a restore
/// finishes the ones not yet performed and never repeats a committed one.
/// Version 1 added `txn` and the prepared state.
struct effect_record {
  /// pending: issued before the cut, not known to be performed (a restore
  /// performs it again; its idempotent sink drops the key if it had it).
  /// prepared: in transaction `txn` of a transactional sink, prepared
  /// before the snapshot committed (a restore commits `txn`). committed:
  /// performed since the previous snapshot (listed once, then forgotten).
  /// aborted: never written (kept so old readers' values stay valid).
  enum state_t : uint8_t { pending = 0, committed = 1, aborted = 2, prepared = 3 };
  uint64_t id = 0;          ///< Ledger order within one incarnation.
  uint32_t component = 0;   ///< Instance id of the component that issued it.
  std::string sink;         ///< The sink's name (the field was `kind` before; same bytes).
  std::string key;          ///< Idempotency key: "<component>/<cause>/<ordinal>".
  uint8_t state = pending;
  std::string payload;      ///< Sink-specific bytes.
  std::string txn;          ///< The transaction, when prepared.

  template <class Archive>
  void serialize(Archive& ar, unsigned version) {
    ar& id& component& sink& key& state& payload;
    if (version >= 1)
      ar& txn;
    if constexpr (Archive::is_loading::value)
      if (state > prepared || (state == prepared && txn.empty()))
        throw std::runtime_error("effect state is " + std::to_string(state)
                                 + (state == prepared ? " without a transaction"
                                                      : ", not 0, 1, 2 or 3"));
  }
};

/// A run of effects first listed by one cut, stored once as a blob of its
/// own and referenced by every later effects layer until all of its effects
/// are settled: a busy node's checkpoint writes only the effects issued
/// since the previous one, not all that are still pending.
struct effect_segment {
  std::vector<effect_record> entries; ///< pending or prepared, by id.

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& entries;
  }
};

/// The effects issued up to the cut that are not known to be performed,
/// and those performed since the previous snapshot (committed), in issue
/// order. Version 1 added segments: the layer index then names segment
/// blobs and the ids in them that are settled (performed, or handed to a
/// newer entry); `load_snapshot` reads the segments into `entries`, with
/// settled ones as committed, so readers see one list either way.
struct effects_layer {
  std::vector<effect_record> entries;
  std::vector<digest> segments;                         ///< effect_segment blobs.
  std::vector<std::pair<uint64_t, uint64_t>> settled;   ///< Id ranges [first, last].

  bool is_settled(uint64_t id) const {
    auto i = std::upper_bound(settled.begin(), settled.end(), id,
                              [](uint64_t v, const std::pair<uint64_t, uint64_t>& r) {
                                return v < r.first;
                              });
    return i != settled.begin() && std::prev(i)->second >= id;
  }

  template <class Archive>
  void serialize(Archive& ar, unsigned version) {
    ar& entries;
    if (version >= 1)
      ar& segments& settled;
  }
};

/// A message that was in flight at the cut: sent before it, received after.
/// Version 1 added `kind` and `ref`.
struct in_flight_message {
  /// What the payload is, so a restore re-delivers a request as a request
  /// (its response goes back to the sender) and a response to the request
  /// it answers.
  enum kind_t : uint8_t { message = 0, request = 1, response = 2, failure = 3 };

  std::string sender_node; ///< Empty for a sender on the same node.
  uint32_t sender = 0;     ///< Sender's instance id.
  uint32_t receiver = 0;   ///< Receiver's instance id.
  uint64_t seq = 0;        ///< Per (sender, receiver) order.
  uint64_t epoch = 0;      ///< The sender's epoch when it sent the message.
  std::string payload;     ///< The caf::message, through CAF's binary serializer.
  uint8_t kind = message;  ///< A kind_t; message in version 0.
  uint64_t ref = 0;        ///< The request id, for a request, response or failure; else 0.

  template <class Archive>
  void serialize(Archive& ar, unsigned version) {
    ar& sender_node& sender& receiver& seq& epoch& payload;
    if (version >= 1) {
      ar& kind& ref;
      // Read as uint8_t and checked here, so no later code sees a kind
      // that is none of kind_t's (a decode turns this into corruption).
      if constexpr (Archive::is_loading::value)
        if (kind > failure)
          throw std::runtime_error("in-flight message kind is " + std::to_string(kind)
                                   + ", not 0, 1 or 2");
    } else if constexpr (Archive::is_loading::value) {
      kind = message;
      ref = 0;
    }
  }
};

// The cut's epoch number is deliberately not stored: epochs restart with each
// incarnation, and leaving it out keeps an unchanged node's trace blob equal
// from one checkpoint to the next.
struct trace_layer {
  uint64_t pre_cut_sent = 0;     ///< Messages sent before the cut (node-wide).
  uint64_t pre_cut_received = 0; ///< Of those, processed before the cut.
  std::vector<in_flight_message> messages; ///< The difference, recorded.

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& pre_cut_sent& pre_cut_received& messages;
  }
};

} // namespace amber

BOOST_CLASS_VERSION(amber::component_record, 2)
BOOST_CLASS_VERSION(amber::in_flight_message, 1)
BOOST_CLASS_VERSION(amber::effect_record, 1)
BOOST_CLASS_VERSION(amber::effects_layer, 1)
