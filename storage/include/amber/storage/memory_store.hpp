#pragma once

// An in-memory `store` for unit tests and throwaway nodes (LevelDB's memenv).
// Same contract as lmdb_store, minus durability.
//
// Thread-safety: all methods lock one mutex.

#include <map>
#include <memory>
#include <mutex>

#include "amber/storage/store.hpp"

namespace amber {

class memory_store final : public store {
public:
  result<put_stats> put_blobs(const std::vector<std::string_view>& blobs) override;
  status get_blob(const digest& id, std::string* out) override;
  status has_blob(const digest& id) override;
  result<uint64_t> blob_size(const digest& id) override;
  result<commit_stats> commit(const snapshot_commit& c) override;
  status get_manifest(const digest& id, std::string* out) override;
  result<digest> get_ref(std::string_view name) override;
  status set_ref(std::string_view name, const digest& id) override;
  result<std::vector<std::pair<std::string, digest>>> list_refs() override;
  result<std::vector<digest>> list_manifests() override;
  result<std::vector<digest>> list_blobs() override;
  status remove(const removal& what) override;
  result<store_stats> stats() override;
  std::string describe() const override { return "memory store"; }

  /// Test hook: replaces a blob's bytes without hashing them.
  void test_overwrite_blob(const digest& id, std::string bytes);

private:
  std::mutex mutex_;
  std::map<digest, std::string> blobs_;     // guarded by mutex_
  std::map<digest, std::string> manifests_; // guarded by mutex_
  std::map<std::string, digest> refs_;      // guarded by mutex_
};

} // namespace amber
