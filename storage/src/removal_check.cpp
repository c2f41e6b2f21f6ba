#include "removal_check.hpp"

#include <algorithm>
#include <map>

namespace amber::detail {

namespace {

status changed(const std::string& what) {
  return status(errc::conflict, what + " since this removal was planned; nothing was removed");
}

} // namespace

status check_removal_guard(const removal_guard& expected, std::vector<digest> manifests,
                           std::vector<std::pair<std::string, digest>> refs) {
  auto planned = expected.manifests;
  std::sort(planned.begin(), planned.end());
  std::sort(manifests.begin(), manifests.end());
  if (planned != manifests) {
    std::vector<digest> added, gone;
    std::set_difference(manifests.begin(), manifests.end(), planned.begin(), planned.end(),
                        std::back_inserter(added));
    if (!added.empty())
      return changed("snapshot " + added.front().to_hex() + " was committed");
    std::set_difference(planned.begin(), planned.end(), manifests.begin(), manifests.end(),
                        std::back_inserter(gone));
    if (!gone.empty())
      return changed("snapshot " + gone.front().to_hex() + " was removed");
    return changed("the list of snapshots changed"); // Duplicates in `expected`.
  }
  std::map<std::string, digest> then(expected.refs.begin(), expected.refs.end());
  std::map<std::string, digest> now(refs.begin(), refs.end());
  for (auto& [name, id] : now) {
    auto i = then.find(name);
    if (i == then.end())
      return changed("ref " + name + " was created");
    if (i->second != id)
      return changed("ref " + name + " moved from " + i->second.to_hex() + " to " + id.to_hex());
  }
  for (auto& [name, id] : then)
    if (now.count(name) == 0)
      return changed("ref " + name + " was deleted");
  return status::ok();
}

} // namespace amber::detail
