#pragma once

// @private What cluster members say to each other over caf::io.
//
// Data: a link carries envelopes from the components of one member to those
// of another, in batches, numbered by a per-link sequence (link_seq) that
// the receiver acknowledges; the sender keeps what is unacknowledged and
// sends it again after a reconnect, and the receiver drops a sequence number
// it has seen. A marker is an envelope too, so it keeps its place in the
// stream: marker E follows every envelope stamped before epoch E.
//
// Control: the members' agents exchange hellos, the two phases of a cluster
// checkpoint and the steps of a rollback as plain messages, each naming the
// member it comes from. Losing one is harmless: every step has a timeout or
// is repeated.
//
// Every type here is registered with the actor system (register_wire_types)
// on both ends; all of them are plain values, but for the endpoint handle
// in a hello (valid while that connection lives; never persisted: a
// process's node id changes when it restarts).

#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>

namespace amber::cluster {

struct wire_envelope {
  enum kind_t : uint8_t { message = 0, marker = 1 };
  uint64_t link_seq = 0;
  uint64_t epoch = 0;       ///< The sender's epoch (message) or the cut's (marker).
  uint32_t sender = 0;      ///< The sending component's instance id.
  uint32_t sender_seq = 0;  ///< Per (sender, receiver) channel.
  uint8_t kind = message;
  std::string receiver;     ///< The receiving component's name on the peer.
  std::string payload;      ///< encode_message bytes.
  /// Marker: envelopes stamped before `epoch` sent on this link in this
  /// incarnation (the receiver checks it against what it delivered).
  uint64_t count = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, wire_envelope& x) {
  return f(caf::meta::type_name("amber.wire_envelope"), x.link_seq, x.epoch, x.sender,
           x.sender_seq, x.kind, x.receiver, x.payload, x.count);
}

using wire_batch = std::vector<wire_envelope>;

// -- data plane (link actor <-> endpoint) -------------------------------------------

/// (link_hello, from, incarnation, session, endpoint) -> (link_welcome, from, incarnation, delivered_seq)
using link_hello_atom = caf::atom_constant<caf::atom("l_hello")>;
using link_welcome_atom = caf::atom_constant<caf::atom("l_welcome")>;
/// (link_data, from, incarnation, wire_batch) -> (link_ack, from, incarnation, delivered_seq)
using link_data_atom = caf::atom_constant<caf::atom("l_data")>;
using link_ack_atom = caf::atom_constant<caf::atom("l_ack")>;
/// (link_ping, from, incarnation) -> (link_ack, ...): a heartbeat.
using link_ping_atom = caf::atom_constant<caf::atom("l_ping")>;

// -- control plane (agent <-> agent, through the links) ------------------------------

/// (ctl, from, kind, incarnation, epoch, text, blob): one shape for every
/// control message keeps the wire simple; `kind` says which.
using control_atom = caf::atom_constant<caf::atom("c_ctl")>;

enum class control_kind : uint8_t {
  hello = 0,      ///< text: phase ("running" / "held"); blob: the cluster head manifest.
  prepare = 1,    ///< Open and take cut `epoch`, commit it as prepared.
  prepared = 2,   ///< text: the member snapshot id (hex); blob: its incarnation (decimal).
  declined = 3,   ///< text: why.
  commit = 4,     ///< blob: the cluster manifest.
  abort = 5,      ///< Epoch `epoch` is aborted.
  rollback = 6,   ///< blob: the cluster manifest to roll back to; incarnation: the new one.
  release = 7,    ///< Run: every member is restored at `incarnation`.
  ask = 8,        ///< To the leader: take a cluster checkpoint; epoch: request id.
  answer = 9,     ///< From the leader: text: id (hex) or error; blob: "ok" / "error".
};

// -- inside one member ------------------------------------------------------------

/// Link -> agent: (peer_lost, member, why) / (peer_up, member).
using peer_lost_atom = caf::atom_constant<caf::atom("p_lost")>;
using peer_up_atom = caf::atom_constant<caf::atom("p_up")>;
/// Agent -> link: (marker, epoch): every envelope before epoch is queued.
using marker_atom = caf::atom_constant<caf::atom("p_marker")>;
/// Endpoint -> the link to a member that does not dial: (peer_endpoint, its endpoint).
using peer_endpoint_atom = caf::atom_constant<caf::atom("p_peerep")>;
/// Link -> itself.
using flush_atom = caf::atom_constant<caf::atom("p_flush")>;
using dial_atom = caf::atom_constant<caf::atom("p_dial")>;
using beat_atom = caf::atom_constant<caf::atom("p_beat")>;
/// Endpoint or agent -> coordinator: (open_epoch, e): open cluster cut e.
using open_epoch_atom = caf::atom_constant<caf::atom("p_open")>;
/// Agent -> coordinator: (cluster_setup, agent, peers) / (cluster_abort, e).
using cluster_setup_atom = caf::atom_constant<caf::atom("p_setup")>;
using cluster_abort_atom = caf::atom_constant<caf::atom("p_cabort")>;
/// Coordinator -> agent: (round_done, e, ok, snapshot id hex or why).
using round_done_atom = caf::atom_constant<caf::atom("p_rdone")>;
/// Ask an endpoint how many envelopes it fenced off (tests).
using fenced_atom = caf::atom_constant<caf::atom("p_fenced")>;

void register_wire_types(caf::actor_system_config& cfg);

} // namespace amber::cluster
