#include "amber/storage/store.hpp"

namespace amber {

std::vector<blob_put> make_blob_puts(std::vector<std::string> blobs) {
  std::vector<std::string_view> views(blobs.begin(), blobs.end());
  auto ids = sha256_all(views);
  std::vector<blob_put> out;
  out.reserve(blobs.size());
  for (size_t i = 0; i < blobs.size(); ++i)
    out.push_back({ids[i], std::move(blobs[i])});
  return out;
}

result<digest> store::commit_snapshot(const snapshot_commit& c) {
  auto r = commit(c);
  if (!r)
    return r.error();
  return r->id;
}

} // namespace amber
