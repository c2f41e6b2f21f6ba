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
  std::set<digest> retained;
  for (auto& r : *refs)
    retained.insert(r.second);
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
