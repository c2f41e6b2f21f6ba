#include "amber/runtime/compatibility.hpp"

#include <charconv>

namespace amber {

namespace {

// One decimal number at `text`'s front, consumed.
std::optional<uint64_t> take_number(std::string_view& text) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end == text.data())
    return std::nullopt;
  text.remove_prefix(static_cast<size_t>(end - text.data()));
  return value;
}

bool take_dot(std::string_view& text) {
  if (text.empty() || text.front() != '.')
    return false;
  text.remove_prefix(1);
  return true;
}

} // namespace

std::optional<semantic_version> parse_semantic_version(std::string_view text) {
  semantic_version v;
  auto major = take_number(text);
  if (!major || !take_dot(text))
    return std::nullopt;
  auto minor = take_number(text);
  if (!minor || !take_dot(text))
    return std::nullopt;
  auto patch = take_number(text);
  if (!patch || (!text.empty() && text.front() != '-' && text.front() != '+'))
    return std::nullopt;
  return semantic_version{*major, *minor, *patch};
}

status check_package_compatible(std::string_view type_name, const package_ref& recorded,
                                const package_ref& binary) {
  auto refuse = [&](const std::string& why) {
    return status(errc::version_mismatch,
                  "component type '" + std::string(type_name) + "' was recorded from package "
                    + recorded.to_string() + ", this binary has " + binary.to_string() + ": "
                    + why);
  };
  if (recorded.name != binary.name)
    return refuse("another package provides it");
  if (recorded.version == binary.version)
    return status::ok();
  auto r = parse_semantic_version(recorded.version);
  auto b = parse_semantic_version(binary.version);
  if (!r || !b)
    return refuse("versions that are not MAJOR.MINOR.PATCH must match exactly");
  if (r->major != b->major)
    return refuse("another major version (a major release may change anything)");
  if (r->minor > b->minor)
    return refuse("the snapshot is from a newer minor release than this binary");
  return status::ok();
}

} // namespace amber
