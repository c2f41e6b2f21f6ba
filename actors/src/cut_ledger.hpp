#pragma once

// @private The bookkeeping of one cut, without CAF: who takes part, who has
// reported, and (for the trace) how many messages each receiver still
// awaits. Every event costs O(its own size): no rescans, so a cut of N
// components costs O(N) in all.
//
// Membership: the components listed when the cut began; plus every
// component that reports for the cut (only members cut at an epoch: one
// spawned from outside during the cut starts after it); plus the joiners a
// reporting component names (they will report themselves); minus members
// that exit before they report.
//
// Balance (Mattern's counters): for each member receiver r,
//   deficit(r) = sent to r before the cut (by reporting members, exited
//                components and a restore's re-delivery)
//              - received by r before its snapshot - recorded in flight to r.
// Each term only grows towards equality: a receiver cannot get more
// pre-cut messages than were sent to it. So once every member has reported,
// the sum of deficits is zero exactly when every deficit is.

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "amber/runtime/node_core.hpp"

namespace amber {

class cut_ledger {
public:
  /// The cut began with `members`; `retired_to` and `injected` are the
  /// messages sent to each receiver by no current member.
  void start(const std::vector<entry_ptr>& members,
             const std::unordered_map<uint32_t, uint64_t>& retired_to,
             const std::unordered_map<uint32_t, uint64_t>& injected);
  bool started() const { return started_; }

  /// Component `id` took part: it had processed `received` stamped messages
  /// before its snapshot and sent `sent`; it spawned `joiners` into the cut.
  /// @return false when it had reported already (ignored).
  bool on_report(uint32_t id, const component_info_ptr& info, const sent_counts& sent,
                 uint64_t received, const std::vector<component_info_ptr>& joiners);

  /// Component `id` exited before reporting (its `sent` were all before the
  /// cut). @return false when it had reported already (ignored then).
  bool on_exit(uint32_t id, const sent_counts& sent,
               const std::vector<component_info_ptr>& joiners);

  /// A cluster cut: messages another member's link delivered to each
  /// receiver before the cut (the link's marker arrived).
  void on_remote(const sent_counts& delivered) { add_sent(delivered); }

  /// A message stamped before the cut that `receiver` processed (or lost)
  /// after its snapshot. @return false when `receiver` is not a reporting
  /// member (not recorded then).
  bool on_flight(uint32_t receiver);

  /// Every member has reported.
  bool all_reported() const { return started_ && outstanding_ == 0; }
  /// Every member has reported and every receiver has what was sent to it.
  bool balanced() const { return all_reported() && missing_ == 0; }

  bool reported(uint32_t id) const;
  /// The reporting members, sorted by id (identity from the directory or
  /// from the joiner announcement).
  std::vector<component_info_ptr> members() const;
  size_t member_count() const { return reported_count_; }

  /// Why the cut is not complete, naming at most `max` components of each
  /// kind: those that have not cut, and those still waiting for messages
  /// sent to them before the cut ("acct-3 (2 messages)"). Empty when
  /// balanced.
  std::string stalled(size_t max = 10) const;

private:
  struct member {
    component_info_ptr info;
    bool reported = false;
    bool dropped = false;
    int64_t deficit = 0;
  };
  member& admit(uint32_t id, const component_info_ptr& info);
  void add_sent(const sent_counts& sent);
  void adjust(member& m, int64_t delta);

  bool started_ = false;
  std::unordered_map<uint32_t, member> members_;
  /// Sends to receivers not (yet) known to be members.
  std::unordered_map<uint32_t, int64_t> unknown_sent_;
  size_t outstanding_ = 0; ///< Known members that have not reported.
  size_t reported_count_ = 0;
  int64_t missing_ = 0;    ///< Sum of deficits of members not dropped.
};

} // namespace amber
