#pragma once

// @private Reads typed fields out of a parsed JSON manifest (a node's or a
// cluster's), keeping the first problem: after one, every getter returns a
// default, so a decoder checks state() once per group of fields. Messages
// name the document and the field: "cluster manifest field 'members[2].name'
// is missing".

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "amber/storage/digest.hpp"
#include "amber/storage/status.hpp"

namespace amber::detail {

class json_fields {
public:
  using json = nlohmann::json;

  /// `what` names the document in messages, e.g. "manifest".
  explicit json_fields(std::string what) : what_(std::move(what)) {}

  const json* find(const json& obj, const char* key, bool (json::*is_type)() const noexcept,
                   const std::string& where) {
    if (!st_.is_ok())
      return nullptr;
    auto i = obj.find(key);
    if (i == obj.end() || !((*i).*is_type)()) {
      st_ = status::corruption(what_ + " field '" + where + key
                               + (i == obj.end() ? "' is missing" : "' has the wrong type"));
      return nullptr;
    }
    return &*i;
  }
  std::string str(const json& obj, const char* key, const std::string& where) {
    auto v = find(obj, key, &json::is_string, where);
    return v ? v->get<std::string>() : std::string();
  }
  uint64_t u64(const json& obj, const char* key, const std::string& where) {
    auto v = find(obj, key, &json::is_number_unsigned, where);
    return v ? v->get<uint64_t>() : 0;
  }
  int64_t i64(const json& obj, const char* key, const std::string& where) {
    auto v = find(obj, key, &json::is_number_integer, where);
    if (!v)
      return 0;
    // Non-negative numbers parse as unsigned; above INT64_MAX they would wrap.
    if (v->is_number_unsigned() && v->get<uint64_t>() > uint64_t{INT64_MAX}) {
      fail(status::corruption(what_ + " field '" + where + key + "' is out of range"));
      return 0;
    }
    return v->get<int64_t>();
  }
  digest hex_digest(const json& obj, const char* key, const std::string& where) {
    auto text = str(obj, key, where);
    if (!st_.is_ok())
      return {};
    auto d = digest::from_hex(text);
    if (!d) {
      fail(status::corruption(what_ + " field '" + where + key + "' is not a digest"));
      return {};
    }
    return *d;
  }
  /// Parses `bytes` as a JSON object; corruption names `what` otherwise.
  static result<json> parse_object(std::string_view bytes, const std::string& what) {
    json doc = json::parse(bytes.begin(), bytes.end(), nullptr, false);
    if (doc.is_discarded())
      return status::corruption(what + " is not valid JSON (truncated or garbage, "
                                + std::to_string(bytes.size()) + " bytes)");
    if (!doc.is_object())
      return status::corruption(what + " is not a JSON object");
    return doc;
  }

  void fail(status st) {
    if (st_.is_ok())
      st_ = std::move(st);
  }
  const status& state() const { return st_; }

private:
  std::string what_;
  status st_;
};

} // namespace amber::detail
