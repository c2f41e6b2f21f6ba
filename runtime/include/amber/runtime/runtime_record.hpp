#pragma once

// @private The runtime's part of a component's checkpoint: what a restored
// component needs besides its state. Boost-encoded into
// component_record::runtime; empty when everything in it is empty.

#include <cstdint>
#include <string>
#include <vector>

#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>

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
  std::string mode;
  uint64_t next_ref = 1; ///< Request and timer ids continue from here.
  std::vector<timer> timers;
  std::vector<request> requests;
  std::vector<watch> monitors;

  bool empty() const {
    return mode.empty() && timers.empty() && requests.empty() && monitors.empty();
  }

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& mode& next_ref& timers& requests& monitors;
  }
};

} // namespace amber
