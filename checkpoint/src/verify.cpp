#include "amber/checkpoint/verify.hpp"

#include <set>
#include <unordered_map>

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
  verifier(store& s, const progress_fn& progress) : s_(s), progress_(progress) {}

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
    out_->snapshots = ids->size();
    return check_refs();
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
    auto m = decode_manifest(bytes);
    if (!m) {
      problem(kind::snapshot, hex, m.error().with_context("snapshot " + hex));
      return;
    }
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

  status check_refs() {
    auto refs = s_.list_refs();
    if (!refs) {
      // A ref whose value is not a digest makes listing fail: that is damage.
      problem(kind::ref, "(refs)", refs.error());
      return status::ok();
    }
    for (auto& [name, target] : *refs)
      if (manifests_.count(target) == 0)
        problem(kind::ref, name,
                status::not_found("ref " + name + " points at snapshot " + target.to_hex()
                                  + ", which is not stored"));
    out_->refs = refs->size();
    return status::ok();
  }

  store& s_;
  const progress_fn& progress_;
  verify_report* out_ = nullptr;
  std::unordered_map<digest, blob_check> blobs_;
  std::set<digest> manifests_;
};

} // namespace

result<verify_report> verify_store(store& s, const progress_fn& progress) {
  verify_report out;
  verifier v(s, progress);
  AMBER_RETURN_IF_ERROR(v.run(&out));
  return out;
}

} // namespace amber
