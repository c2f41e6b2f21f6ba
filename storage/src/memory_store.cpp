#include "amber/storage/memory_store.hpp"

#include <set>

#include "removal_check.hpp"

namespace amber {

namespace {

status read_verified(const std::map<digest, std::string>& table, const digest& id,
                     std::string* out, const char* kind) {
  auto i = table.find(id);
  std::string what = std::string(kind) + " " + id.to_hex();
  if (i == table.end())
    return status::not_found(what + " does not exist");
  if (sha256(i->second) != id)
    return status::corruption(what + " is corrupt: its bytes do not match its digest");
  if (out)
    *out = i->second;
  return status::ok();
}

} // namespace

result<put_stats> memory_store::put_blobs(const std::vector<std::string_view>& blobs) {
  put_stats out;
  out.ids = sha256_all(blobs);
  std::lock_guard<std::mutex> guard(mutex_);
  for (size_t i = 0; i < blobs.size(); ++i) {
    if (blobs_.emplace(out.ids[i], std::string(blobs[i])).second) {
      ++out.written;
      out.bytes_written += blobs[i].size();
    }
  }
  return out;
}

status memory_store::get_blob(const digest& id, std::string* out) {
  std::lock_guard<std::mutex> guard(mutex_);
  return read_verified(blobs_, id, out, "blob");
}

status memory_store::has_blob(const digest& id) {
  std::lock_guard<std::mutex> guard(mutex_);
  if (blobs_.count(id) == 0)
    return status::not_found("blob " + id.to_hex() + " does not exist");
  return status::ok();
}

result<uint64_t> memory_store::blob_size(const digest& id) {
  std::lock_guard<std::mutex> guard(mutex_);
  auto i = blobs_.find(id);
  if (i == blobs_.end())
    return status::not_found("blob " + id.to_hex() + " does not exist");
  return uint64_t{i->second.size()};
}

result<commit_stats> memory_store::commit(const snapshot_commit& c) {
  commit_stats out;
  out.id = sha256(c.manifest);
  std::lock_guard<std::mutex> guard(mutex_);
  if (!c.ref.empty() && c.check_expected_head) {
    auto i = refs_.find(c.ref);
    std::optional<digest> current;
    if (i != refs_.end())
      current = i->second;
    if (current != c.expected_head)
      return status(errc::conflict, "ref " + c.ref + " moved while this snapshot was taken");
  }
  // Check everything before writing anything: on an error nothing changes.
  std::set<digest> incoming;
  for (auto& b : c.blobs)
    incoming.insert(b.id);
  for (auto& ref : c.references)
    if (blobs_.count(ref) == 0 && incoming.count(ref) == 0)
      return status::not_found("blob " + ref.to_hex() + " referenced by the manifest is missing");
  for (auto& b : c.blobs) {
    if (blobs_.emplace(b.id, b.bytes).second) {
      ++out.written;
      out.bytes_written += b.bytes.size();
    } else {
      ++out.present;
    }
  }
  manifests_.emplace(out.id, c.manifest);
  if (!c.ref.empty())
    refs_[c.ref] = out.id;
  return out;
}

status memory_store::get_manifest(const digest& id, std::string* out) {
  std::lock_guard<std::mutex> guard(mutex_);
  return read_verified(manifests_, id, out, "snapshot");
}

result<digest> memory_store::get_ref(std::string_view name) {
  std::lock_guard<std::mutex> guard(mutex_);
  auto i = refs_.find(std::string(name));
  if (i == refs_.end())
    return status::not_found("ref " + std::string(name) + " does not exist");
  return i->second;
}

status memory_store::set_ref(std::string_view name, const digest& id) {
  if (name.empty())
    return status::invalid_argument("a ref name must not be empty");
  std::lock_guard<std::mutex> guard(mutex_);
  if (manifests_.count(id) == 0)
    return status::not_found("snapshot " + id.to_hex() + " does not exist");
  refs_[std::string(name)] = id;
  return status::ok();
}

result<std::vector<std::pair<std::string, digest>>> memory_store::list_refs() {
  std::lock_guard<std::mutex> guard(mutex_);
  return std::vector<std::pair<std::string, digest>>(refs_.begin(), refs_.end());
}

result<std::vector<digest>> memory_store::list_manifests() {
  std::lock_guard<std::mutex> guard(mutex_);
  std::vector<digest> out;
  for (auto& kv : manifests_)
    out.push_back(kv.first);
  return out;
}

result<std::vector<digest>> memory_store::list_blobs() {
  std::lock_guard<std::mutex> guard(mutex_);
  std::vector<digest> out;
  for (auto& kv : blobs_)
    out.push_back(kv.first);
  return out;
}

status memory_store::remove(const removal& what) {
  std::lock_guard<std::mutex> guard(mutex_);
  if (what.expected) {
    std::vector<digest> manifests;
    for (auto& kv : manifests_)
      manifests.push_back(kv.first);
    AMBER_RETURN_IF_ERROR(detail::check_removal_guard(
      *what.expected, std::move(manifests), {refs_.begin(), refs_.end()}));
  }
  for (auto& r : what.refs)
    refs_.erase(r);
  for (auto& m : what.manifests)
    manifests_.erase(m);
  for (auto& b : what.blobs)
    blobs_.erase(b);
  return status::ok();
}

result<store_stats> memory_store::stats() {
  std::lock_guard<std::mutex> guard(mutex_);
  store_stats out;
  out.blobs = blobs_.size();
  for (auto& kv : blobs_)
    out.blob_bytes += kv.second.size();
  out.manifests = manifests_.size();
  out.refs = refs_.size();
  return out;
}

void memory_store::test_overwrite_blob(const digest& id, std::string bytes) {
  std::lock_guard<std::mutex> guard(mutex_);
  blobs_[id] = std::move(bytes);
}

} // namespace amber
