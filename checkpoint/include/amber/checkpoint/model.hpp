#pragma once

// The model layer: what a node runs, independent of the state it holds.
// Graphs are named topologies of component instances and their wiring;
// component types are named with the package (name, version) that provides them.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <boost/serialization/map.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>
#include <boost/serialization/version.hpp>

namespace amber {

/// Which package provides a component type, and in which version.
struct package_ref {
  std::string name;
  std::string version;

  std::string to_string() const { return name + "@" + version; }

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& name& version;
  }
  friend bool operator==(const package_ref& a, const package_ref& b) {
    return a.name == b.name && a.version == b.version;
  }
};

/// One component instance in a graph.
struct instance_def {
  std::string name;                          ///< Unique within the node.
  std::string type_name;                     ///< A registered component type.
  std::map<std::string, std::string> params; ///< Initial parameters for a fresh start.

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& name& type_name& params;
  }
  friend bool operator==(const instance_def& a, const instance_def& b) {
    return a.name == b.name && a.type_name == b.type_name && a.params == b.params;
  }
};

/// A wire: `from`'s output `port` delivers to `to`.
struct edge_def {
  std::string from;
  std::string port;
  std::string to;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& from& port& to;
  }
  friend bool operator==(const edge_def& a, const edge_def& b) {
    return a.from == b.from && a.port == b.port && a.to == b.to;
  }
};

/// A named topology of component instances and their wiring.
struct graph_def {
  std::string name;
  std::vector<instance_def> instances;
  std::vector<edge_def> edges;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& name& instances& edges;
  }
  friend bool operator==(const graph_def& a, const graph_def& b) {
    return a.name == b.name && a.instances == b.instances && a.edges == b.edges;
  }
};

/// A component type as a snapshot used it: its package, and the version of
/// its state format the snapshot's states were written in (1 in snapshots
/// from before state versions were recorded).
struct component_type_record {
  std::string type_name;
  package_ref package;
  uint32_t state_version = 1;

  template <class Archive>
  void serialize(Archive& ar, unsigned version) {
    ar& type_name& package;
    if (version >= 1)
      ar& state_version;
    else if constexpr (Archive::is_loading::value)
      state_version = 1;
  }
};

struct model_layer {
  std::vector<graph_def> graphs;
  std::vector<component_type_record> types; ///< Every type an instance uses, sorted.

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& graphs& types;
  }
};

} // namespace amber

BOOST_CLASS_VERSION(amber::component_type_record, 1)
