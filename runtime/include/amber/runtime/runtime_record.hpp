#pragma once

// @private The runtime's part of a component's checkpoint: what a restored
// component needs besides its state. Boost-encoded into
// component_record::runtime; empty when everything in it is empty.

#include <cstdint>
#include <string>
#include <vector>

#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>
#include <boost/serialization/version.hpp>

namespace amber {

struct runtime_record {
  struct timer {
    uint64_t id = 0;
    int64_t remaining_ms = 0;
    std::string payload; ///< The caf::message, CAF-serialized.
    template <class Archive>
    void serialize(Archive& ar, unsigned) {
      ar& id& remaining_ms& payload;
    }
  };
  struct request {
    uint64_t id = 0;
    uint32_t target = 0;
    std::string reply_key;
    std::string error_key;
    std::string failed; ///< Failed before it was sent, not yet told: why.
    template <class Archive>
    void serialize(Archive& ar, unsigned) {
      ar& id& target& reply_key& error_key& failed;
    }
  };
  struct watch {
    uint32_t id = 0;
    std::string name;
    template <class Archive>
    void serialize(Archive& ar, unsigned) {
      ar& id& name;
    }
  };
  /// Stamped messages received from one sender (components that issue
  /// effects only): effect keys name their cause by it.
  struct channel {
    uint32_t sender = 0;
    uint64_t received = 0;
    template <class Archive>
    void serialize(Archive& ar, unsigned) {
      ar& sender& received;
    }
  };
  std::string mode;
  uint64_t next_ref = 1; ///< Request and timer ids continue from here.
  std::vector<timer> timers;
  std::vector<request> requests;
  std::vector<watch> monitors;
  /// Version 1: per-sender counts and the count of other causes (see
  /// component_base::effect); empty and 0 in version 0.
  std::vector<channel> inbound{};
  uint64_t other_causes = 0;

  bool empty() const {
    return mode.empty() && timers.empty() && requests.empty() && monitors.empty()
           && inbound.empty() && other_causes == 0;
  }

  template <class Archive>
  void serialize(Archive& ar, unsigned version) {
    ar& mode& next_ref& timers& requests& monitors;
    if (version >= 1) {
      ar& inbound& other_causes;
    } else if constexpr (Archive::is_loading::value) {
      inbound.clear();
      other_causes = 0;
    }
  }
};

} // namespace amber

BOOST_CLASS_VERSION(amber::runtime_record, 1)
