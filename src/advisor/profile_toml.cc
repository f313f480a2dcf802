// TOML -> the JSON shape of profile.h, then the one validator.
#include "advisor/profile_toml.h"

#include <fmt/format.h>

namespace mosaic::advisor {
namespace {

using Json = nlohmann::json;

// The JSON value of a TOML node; nullopt for dates and times, which profiles never take.
std::optional<Json> ToJson(const toml::node& node) {
  if (const auto* t = node.as_table()) {
    Json out = Json::object();
    for (const auto& [key, value] : *t) {
      auto v = ToJson(value);
      if (!v) return std::nullopt;
      out[std::string(key.str())] = std::move(*v);
    }
    return out;
  }
  if (const auto* a = node.as_array()) {
    Json out = Json::array();
    for (const auto& item : *a) {
      auto v = ToJson(item);
      if (!v) return std::nullopt;
      out.push_back(std::move(*v));
    }
    return out;
  }
  if (auto s = node.value_exact<std::string>()) return Json(*s);
  if (auto i = node.value_exact<int64_t>()) return Json(*i);
  if (auto d = node.value_exact<double>()) return Json(*d);
  if (auto b = node.value_exact<bool>()) return Json(*b);
  return std::nullopt;
}

}  // namespace

Result<ProfileSet> ReadProfilesToml(const toml::table& root) {
  Json body = Json::object();
  for (const char* key : {"profiles", "tenant_profiles"}) {
    const toml::node* node = root.get(key);
    if (node == nullptr) continue;
    auto v = ToJson(*node);
    if (!v) {
      return Status(sqlstate::kConfigFileError,
                    fmt::format("{}: dates and times are not profile values; write times as "
                                "strings (\"01:00-05:00\")", key));
    }
    body[key] = std::move(*v);
  }
  auto set = ParseProfilesJson(body);
  if (!set.ok()) return Status(sqlstate::kConfigFileError, set.status().message());
  return set;
}

}  // namespace mosaic::advisor
