#include "amber/checkpoint/gc.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_set>

#include "amber/checkpoint/history.hpp"
#include "amber/checkpoint/snapshot.hpp"

namespace amber {

namespace {

struct plan {
  removal remove; // Its `expected` holds the manifests and refs planned against.
  gc_report report;
};

status make_plan(store& s, const gc_options& opts, const progress_fn& progress, plan* out) {
  auto hist = read_history(s);
  if (!hist)
    return hist.error();
  if (!hist->unreadable.empty()) {
    auto& [id, why] = hist->unreadable.front();
    return status(why.code(), "gc removes nothing while snapshot " + id.to_hex()
                                + " cannot be read (" + why.to_string()
                                + "); run `amber verify`");
  }
  auto refs = s.list_refs();
  if (!refs)
    return refs.error();
  removal_guard seen;
  seen.refs = *refs;
  // Cluster snapshots first: what they keep, node snapshots must keep too.
  std::set<digest> cluster_ids;
  for (auto& c : hist->clusters)
    cluster_ids.insert(c.id);
  std::set<digest> retained_clusters;
  for (auto& r : *refs)
    if (cluster_ids.count(r.second) > 0)
      retained_clusters.insert(r.second);
  std::map<std::string, std::vector<const cluster_snapshot_entry*>> by_cluster;
  for (auto& c : hist->clusters)
    by_cluster[c.meta.cluster].push_back(&c);
  for (auto& [cluster, snaps] : by_cluster) {
    std::sort(snaps.begin(), snaps.end(), [](auto* a, auto* b) {
      if (a->meta.incarnation != b->meta.incarnation)
        return a->meta.incarnation > b->meta.incarnation;
      if (a->meta.epoch != b->meta.epoch)
        return a->meta.epoch > b->meta.epoch;
      if (a->meta.created_at_ms != b->meta.created_at_ms)
        return a->meta.created_at_ms > b->meta.created_at_ms;
      return a->id < b->id;
    });
    uint64_t keep = opts.keep ? *opts.keep : snaps.size();
    for (uint64_t i = 0; i < snaps.size() && i < keep; ++i)
      retained_clusters.insert(snaps[i]->id);
  }
  std::set<digest> retained;
  for (auto& r : *refs)
    if (cluster_ids.count(r.second) == 0)
      retained.insert(r.second);
  // A member keeps what the last committed cluster snapshot needs until a
  // newer one commits: the member snapshot a kept cluster snapshot names is
  // kept when this store holds it, whatever `keep` says.
  std::set<digest> node_ids;
  for (auto& snap : hist->snapshots)
    node_ids.insert(snap.id);
  for (auto& c : hist->clusters)
    if (retained_clusters.count(c.id) > 0)
      for (auto& m : c.meta.members)
        if (node_ids.count(m.snapshot) > 0)
          retained.insert(m.snapshot);
  // History is newest first within each node's chain, but a restore of an
  // old snapshot makes creation time the honest order: sort by it.
  std::map<std::string, std::vector<const snapshot_summary*>> by_node;
  for (auto& snap : hist->snapshots)
    by_node[snap.node].push_back(&snap);
  for (auto& [node, snaps] : by_node) {
    std::sort(snaps.begin(), snaps.end(), [](auto* a, auto* b) {
      if (a->created_at_ms != b->created_at_ms)
        return a->created_at_ms > b->created_at_ms;
      return a->id < b->id;
    });
    uint64_t keep = opts.keep ? *opts.keep : snaps.size();
    for (uint64_t i = 0; i < snaps.size() && i < keep; ++i)
      retained.insert(snaps[i]->id);
  }
  std::unordered_set<digest> reachable;
  uint64_t done = 0;
  for (auto& id : retained) {
    auto snap = load_snapshot(s, id);
    if (!snap)
      return status(snap.error().code(),
                    "gc removes nothing while retained snapshot " + id.to_hex()
                      + " cannot be read (" + snap.error().to_string() + "); run `amber verify`");
    for (auto& ref : snap->references())
      reachable.insert(ref);
    report(progress, "reading retained snapshots", ++done, retained.size());
  }
  for (auto& snap : hist->snapshots) {
    seen.manifests.push_back(snap.id);
    if (retained.count(snap.id) == 0)
      out->remove.manifests.push_back(snap.id);
  }
  for (auto& c : hist->clusters) {
    seen.manifests.push_back(c.id);
    if (retained_clusters.count(c.id) == 0)
      out->remove.manifests.push_back(c.id);
  }
  std::sort(out->remove.manifests.begin(), out->remove.manifests.end());
  out->remove.expected = std::move(seen);
  std::string bytes;
  for (auto& id : out->remove.manifests) {
    AMBER_RETURN_IF_ERROR(s.get_manifest(id, &bytes));
    out->report.freed_bytes += bytes.size();
  }
  auto blobs = s.list_blobs();
  if (!blobs)
    return blobs.error();
  done = 0;
  for (auto& id : *blobs) {
    auto size = s.blob_size(id);
    if (!size && !size.error().is_not_found())
      return size.error();
    uint64_t n = size ? *size : 0;
    if (reachable.count(id) > 0) {
      ++out->report.kept_blobs;
      out->report.kept_bytes += n;
    } else {
      out->remove.blobs.push_back(id);
      out->report.freed_bytes += n;
    }
    report(progress, "scanning blobs", ++done, blobs->size());
  }
  out->report.removed_snapshots = out->remove.manifests;
  out->report.removed_blobs = out->remove.blobs.size();
  out->report.kept_snapshots = retained.size();
  out->report.kept_cluster_snapshots = retained_clusters.size();
  return status::ok();
}

} // namespace

result<gc_report> collect_garbage(store& s, const gc_options& opts, const progress_fn& progress) {
  if (opts.keep && *opts.keep == 0)
    return status::invalid_argument("--keep must be at least 1 (heads are always kept)");
  constexpr int attempts = 8;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    plan p;
    AMBER_RETURN_IF_ERROR(make_plan(s, opts, progress, &p));
    p.report.dry_run = opts.dry_run;
    if (opts.dry_run)
      return p.report;
    if (p.remove.manifests.empty() && p.remove.blobs.empty())
      return p.report;
    // The store refuses (conflict, nothing removed) when a snapshot was
    // committed or a ref moved since make_plan looked: plan again.
    status st = s.remove(p.remove);
    if (st.code() == errc::conflict)
      continue;
    AMBER_RETURN_IF_ERROR(st);
    return p.report;
  }
  return status(errc::busy, "snapshots kept arriving while gc planned; nothing was removed, "
                            "try again when the store is quieter");
}

} // namespace amber
