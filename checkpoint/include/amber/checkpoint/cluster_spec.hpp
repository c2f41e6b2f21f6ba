#pragma once

// A cluster: named members, each a node in its own process, that are
// checkpointed together (docs/CLUSTER.md). This is the parsed cluster file;
// `amber run --cluster FILE --member NAME` and users' own binaries start a
// member from it.
//
// Plain data, CAF-free.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "amber/storage/status.hpp"

namespace amber {

/// Mutual TLS for links and control endpoints: all three files, or none.
struct tls_settings {
  std::string ca_file;   ///< PEM: the cluster's CA; a peer must present a certificate it signed.
  std::string cert_file; ///< PEM: this process's certificate, signed by that CA.
  std::string key_file;  ///< PEM: its private key.

  /// Any of the three is set (a half-set one is an error, see check_tls).
  bool enabled() const { return !ca_file.empty() || !cert_file.empty() || !key_file.empty(); }
};

struct cluster_member_spec {
  std::string name;       ///< Unique in the cluster; no '/'.
  std::string host;       ///< Where its link endpoint listens, e.g. 127.0.0.1.
  uint16_t port = 0;      ///< Must be set (peers dial it).
  std::string graph_file; ///< Resolved against the cluster file's directory.
  std::string store_dir;  ///< Likewise; each member has its own store.
  /// Control endpoint (HOST:PORT) for `amber checkpoint --control`; empty: none.
  std::string control;
};

struct cluster_spec {
  std::string path; ///< The file it came from (for messages).
  std::string name; ///< Names the cluster's head ref: `clusters/<name>/head`.
  std::vector<cluster_member_spec> members; ///< In file order.
  tls_settings tls;
  /// A cluster checkpoint every interval (0: only on request).
  std::chrono::milliseconds checkpoint_every{0};
  /// A cluster checkpoint not committed within this is aborted.
  std::chrono::milliseconds checkpoint_timeout{10000};
  /// Link heartbeats; a member silent for `member_timeout` is lost.
  std::chrono::milliseconds heartbeat{200};
  std::chrono::milliseconds member_timeout{2000};

  const cluster_member_spec* find(std::string_view member) const {
    for (auto& m : members)
      if (m.name == member)
        return &m;
    return nullptr;
  }
};

} // namespace amber
