#include "amber/checkpoint/verify.hpp"

#include <map>
#include <set>
#include <unordered_map>

#include "amber/checkpoint/cluster_manifest.hpp"
#include "amber/checkpoint/layers.hpp"
#include "amber/checkpoint/manifest.hpp"
#include "amber/checkpoint/serial.hpp"
#include "amber/checkpoint/snapshot.hpp"

namespace amber {

const char* to_string(verify_problem::object_kind kind) noexcept {
  switch (kind) {
    case verify_problem::object_kind::blob: return "blob";
    case verify_problem::object_kind::snapshot: return "snapshot";
    case verify_problem::object_kind::ref: return "ref";
  }
  return "object";
}

namespace {

using kind = verify_problem::object_kind;

struct blob_check {
  status st;          // ok, or why the blob is unusable
  uint64_t size = 0;
};

class verifier {
public:
  verifier(store& s, const progress_fn& progress, content_decoder* decoder)
    : s_(s), progress_(progress), decoder_(decoder) {}

  status run(verify_report* out) {
    out_ = out;
    AMBER_RETURN_IF_ERROR(check_blobs());
    auto ids = s_.list_manifests();
    if (!ids)
      return ids.error();
    manifests_.insert(ids->begin(), ids->end());
    uint64_t done = 0;
    for (auto& id : *ids) {
      check_snapshot(id);
      report(progress_, "checking snapshots", ++done, ids->size());
    }
    out_->snapshots = ids->size() - out_->cluster_snapshots;
    for (auto& [id, m] : clusters_)
      check_cluster_members(id, m);
    return check_refs();
  }

  // One node snapshot, reading only the blobs it needs.
  status run_one(const digest& id, verify_report* out) {
    out_ = out;
    auto ids = s_.list_manifests();
    if (!ids)
      return ids.error();
    manifests_.insert(ids->begin(), ids->end());
    if (manifests_.count(id) == 0)
      return status::not_found("snapshot " + id.to_hex() + " is not stored in " + s_.describe());
    check_snapshot(id);
    if (clusters_.count(id) > 0)
      problem(kind::snapshot, id.to_hex(),
              status::invalid_argument("snapshot " + id.to_hex()
                                       + " is a cluster snapshot, not a node snapshot"));
    out_->snapshots = 1 - out_->cluster_snapshots;
    for (auto& b : blobs_)
      if (b.second.st) {
        ++out_->blobs;
        out_->blob_bytes += b.second.size;
      }
    return status::ok();
  }

private:
  void problem(kind k, std::string object, status st) {
    out_->problems.push_back({k, std::move(object), std::move(st)});
  }

  status check_blobs() {
    auto ids = s_.list_blobs();
    if (!ids)
      return ids.error();
    std::string bytes;
    uint64_t done = 0;
    for (auto& id : *ids) {
      blob_check c;
      c.st = s_.get_blob(id, &bytes);
      if (c.st) {
        c.size = bytes.size();
        out_->blob_bytes += bytes.size();
      } else {
        problem(kind::blob, id.to_hex(), c.st);
      }
      blobs_.emplace(id, std::move(c));
      report(progress_, "checking blobs", ++done, ids->size());
    }
    out_->blobs = ids->size();
    return status::ok();
  }

  // The blob's recorded check, or not_found. `need` says who needs it.
  status need_blob(const digest& id, const std::string& need) {
    auto i = blobs_.find(id);
    if (i == blobs_.end()) {
      // Not listed: missing, or written after the listing by a checkpoint
      // that runs concurrently. Look again before calling it missing.
      blob_check c;
      std::string bytes;
      c.st = s_.get_blob(id, &bytes);
      if (c.st.is_not_found())
        return status::not_found(need + ": blob " + id.to_hex() + " is missing");
      if (!c.st)
        problem(kind::blob, id.to_hex(), c.st);
      c.size = bytes.size();
      i = blobs_.emplace(id, std::move(c)).first;
    }
    if (!i->second.st)
      return status(i->second.st.code(),
                    need + ": blob " + id.to_hex() + " is damaged (" + to_string(i->second.st.code())
                      + ")");
    return status::ok();
  }

  void check_snapshot(const digest& id) {
    const std::string hex = id.to_hex();
    std::string bytes;
    status st = s_.get_manifest(id, &bytes);
    if (!st) {
      problem(kind::snapshot, hex, st);
      return;
    }
    if (is_cluster_manifest(bytes)) {
      ++out_->cluster_snapshots;
      auto c = decode_cluster_manifest(bytes);
      if (!c) {
        problem(kind::snapshot, hex, c.error().with_context("cluster snapshot " + hex));
        return;
      }
      for (auto& p : c->parents)
        if (manifests_.count(p) == 0) {
          ++out_->missing_parents;
          break;
        }
      clusters_.emplace(id, std::move(*c));
      return;
    }
    auto m = decode_manifest(bytes);
    if (!m) {
      problem(kind::snapshot, hex, m.error().with_context("snapshot " + hex));
      return;
    }
    node_manifests_.insert(id);
    for (auto& p : m->parents)
      if (manifests_.count(p) == 0) {
        ++out_->missing_parents;
        break;
      }
    size_t before = out_->problems.size();
    for (auto& layer : m->layers) {
      std::string what = "snapshot " + hex + ", " + to_string(layer.kind) + " layer index";
      if (status need = need_blob(layer.index, what); !need)
        problem(kind::snapshot, hex, need);
    }
    if (out_->problems.size() != before)
      return; // Layers that cannot be read cannot be checked further.
    check_states(hex, m->layer(layer_kind::cache));
    if (out_->problems.size() != before)
      return;
    // The canonical reader: every layer decodes and every reference it
    // knows of (including any a newer layer format adds) is present.
    auto snap = load_snapshot(s_, id);
    if (!snap) {
      problem(kind::snapshot, hex, snap.error().with_context("snapshot " + hex));
      return;
    }
    for (auto& ref : snap->references())
      if (status need = need_blob(ref, "snapshot " + hex); !need)
        problem(kind::snapshot, hex, need);
    if (out_->problems.size() == before)
      decode_content(hex, *snap);
  }

  // What a restore decodes beyond the layers (content_decoder.hpp).
  void decode_content(const std::string& hex, const loaded_snapshot& snap) {
    if (!decoder_) {
      out_->undecoded += snap.cache.components.size() + snap.trace.messages.size();
      return;
    }
    std::string bytes;
    for (auto& c : snap.cache.components) {
      std::string what = "snapshot " + hex + ", component '" + c.name + "'";
      if (status st = s_.get_blob(c.state, &bytes); !st) {
        problem(kind::snapshot, hex, st.with_context(what));
        continue;
      }
      if (status st = decoder_->check_component(c, bytes); unknown(st))
        ++out_->undecoded;
      else if (!st)
        problem(kind::snapshot, hex, st.with_context(what));
    }
    for (auto& m : snap.trace.messages) {
      if (status st = decoder_->check_message(m); unknown(st))
        ++out_->undecoded;
      else if (!st)
        problem(kind::snapshot, hex,
                st.with_context("snapshot " + hex + ", trace layer, message "
                                + std::to_string(m.seq) + " from component "
                                + std::to_string(m.sender) + " to "
                                + std::to_string(m.receiver)));
    }
  }

  // A type the decoder does not know: another program may; not damage.
  static bool unknown(const status& st) {
    return st.code() == errc::unknown_type || st.code() == errc::version_mismatch;
  }

  void check_states(const std::string& hex, const layer_descriptor& cache_desc) {
    std::string bytes;
    if (status st = s_.get_blob(cache_desc.index, &bytes); !st) {
      problem(kind::snapshot, hex, st.with_context("snapshot " + hex + ", cache layer"));
      return;
    }
    cache_layer cache;
    if (status st = decode(bytes, &cache, "cache layer index " + cache_desc.index.to_hex()); !st) {
      problem(kind::snapshot, hex, st.with_context("snapshot " + hex));
      return;
    }
    for (auto& c : cache.components) {
      std::string what = "snapshot " + hex + ", state of component '" + c.name + "'";
      if (status need = need_blob(c.state, what); !need) {
        problem(kind::snapshot, hex, need);
        continue;
      }
      auto size = blobs_.at(c.state).size;
      if (size != c.state_size)
        problem(kind::snapshot, hex,
                status::corruption(what + ": blob " + c.state.to_hex() + " has "
                                   + std::to_string(size) + " bytes, the cache layer records "
                                   + std::to_string(c.state_size)));
    }
  }

  // A member snapshot a cluster snapshot names and this store holds must be
  // a node snapshot. (Each member's store holds its own part only: members
  // not stored here are checked by `verify_cluster_snapshot`.)
  void check_cluster_members(const digest& id, const cluster_manifest& m) {
    for (auto& x : m.members)
      if (clusters_.count(x.snapshot) > 0)
        problem(kind::snapshot, id.to_hex(),
                status::corruption("cluster snapshot " + id.to_hex() + ": member '" + x.member
                                   + "' names " + x.snapshot.to_hex()
                                   + ", which is a cluster snapshot, not a node snapshot"));
  }

  status check_refs() {
    auto refs = s_.list_refs();
    if (!refs) {
      // A ref whose value is not a digest makes listing fail: that is damage.
      problem(kind::ref, "(refs)", refs.error());
      return status::ok();
    }
    for (auto& [name, target] : *refs) {
      if (manifests_.count(target) == 0) {
        problem(kind::ref, name,
                status::not_found("ref " + name + " points at snapshot " + target.to_hex()
                                  + ", which is not stored"));
        continue;
      }
      // A cluster head must point at a cluster snapshot of that cluster, a
      // node head at a node snapshot (damaged targets are reported above).
      bool cluster_ref = name.rfind("clusters/", 0) == 0;
      if (cluster_ref && node_manifests_.count(target) > 0)
        problem(kind::ref, name,
                status::corruption("ref " + name + " points at node snapshot " + target.to_hex()
                                   + "; a cluster head must point at a cluster snapshot"));
      if (auto c = clusters_.find(target); c != clusters_.end()) {
        if (!cluster_ref)
          problem(kind::ref, name,
                  status::corruption("ref " + name + " points at cluster snapshot "
                                     + target.to_hex() + "; only clusters/NAME/head may"));
        else if (name != cluster_head_ref(c->second.cluster))
          problem(kind::ref, name,
                  status::corruption("ref " + name + " points at a snapshot of cluster '"
                                     + c->second.cluster + "'"));
      }
    }
    out_->refs = refs->size();
    return status::ok();
  }

  store& s_;
  const progress_fn& progress_;
  content_decoder* decoder_; // May be null: states are then not decoded.
  verify_report* out_ = nullptr;
  std::unordered_map<digest, blob_check> blobs_;
  std::set<digest> manifests_;
  std::set<digest> node_manifests_;          // Decoded as node manifests.
  std::map<digest, cluster_manifest> clusters_; // Decoded cluster manifests.
};

} // namespace

result<verify_report> verify_store(store& s, const progress_fn& progress,
                                   content_decoder* decoder) {
  verify_report out;
  verifier v(s, progress, decoder);
  AMBER_RETURN_IF_ERROR(v.run(&out));
  return out;
}

result<verify_report> verify_snapshot(store& s, const digest& id, content_decoder* decoder) {
  verify_report out;
  progress_fn none;
  verifier v(s, none, decoder);
  AMBER_RETURN_IF_ERROR(v.run_one(id, &out));
  return out;
}

bool cluster_verify_report::ok() const noexcept {
  for (auto& m : members)
    if (!m.ok())
      return false;
  return true;
}

result<cluster_verify_report> verify_cluster_snapshot(const std::map<std::string, store*>& stores,
                                                      const digest& id,
                                                      const progress_fn& progress,
                                                      content_decoder* decoder) {
  cluster_verify_report out;
  out.id = id;
  // The cluster manifest from the first member store that holds it.
  status last = status::not_found("no member store holds cluster snapshot " + id.to_hex());
  bool found = false;
  for (auto& [name, s] : stores) {
    auto m = read_cluster_manifest(*s, id);
    if (m) {
      out.meta = std::move(*m);
      found = true;
      break;
    }
    if (!m.error().is_not_found() || last.is_not_found())
      last = m.error().with_context("member '" + name + "'");
  }
  if (!found)
    return last;
  uint64_t done = 0;
  for (auto& x : out.meta.members) {
    cluster_member_check c;
    c.member = x.member;
    c.snapshot = x.snapshot;
    auto i = stores.find(x.member);
    if (i == stores.end()) {
      c.problem = status::not_found("cluster snapshot " + id.short_hex() + " names member '"
                                    + x.member + "', which the cluster file does not list");
    } else {
      store& s = *i->second;
      status has = s.get_manifest(id, nullptr);
      c.holds_cluster_manifest = has.is_ok();
      auto r = verify_snapshot(s, x.snapshot, decoder);
      if (!has && !has.is_not_found()) {
        c.problem = has.with_context("member '" + x.member + "': its copy of cluster snapshot "
                                     + id.short_hex());
      } else if (!r) {
        c.problem = r.error().with_context("member '" + x.member + "'");
      } else {
        c.report = std::move(*r);
        if (!c.report.ok())
          c.problem = status(c.report.problems.front().problem.code(),
                             "member '" + x.member + "': snapshot " + x.snapshot.short_hex()
                               + " is damaged: " + c.report.problems.front().problem.message());
      }
    }
    out.members.push_back(std::move(c));
    report(progress, "verifying members", ++done, out.meta.members.size());
  }
  for (auto& [name, s] : stores)
    if (!out.meta.find(name))
      out.unlisted.push_back(name);
  return out;
}

} // namespace amber
